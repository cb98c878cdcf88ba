//! The runner's error type and panic-payload helpers.

use std::any::Any;
use std::fmt;

/// Why a check (or a step of one) failed. A plain message: the runner turns it into a
/// `line:col: message` failure entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    message: String,
}

impl SpecError {
    /// Creates an error with the given message.
    pub fn new(message: impl Into<String>) -> Self {
        SpecError {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SpecError {}

/// Shorthand for `Err(SpecError::new(format!(...)))`.
macro_rules! fail {
    ($($arg:tt)*) => {
        Err($crate::error::SpecError::new(format!($($arg)*)))
    };
}
pub(crate) use fail;

/// Formats a Kiln error with its kind, for failure messages: `Trap error: <message>`.
pub(crate) fn describe_kiln_error(err: &kiln::Error) -> String {
    // `ErrorKind` is non-exhaustive and some variants carry data: keep only the variant name.
    let kind = format!("{:?}", err.kind());
    let name_len = kind
        .find(|c: char| !c.is_alphanumeric() && c != '_')
        .unwrap_or(kind.len());
    format!("{} error: {err}", &kind[..name_len])
}

/// Squeezes a possibly multi-line message onto one line.
pub(crate) fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Extracts the message of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_string()
    }
}

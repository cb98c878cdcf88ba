//! The frontend's one error type: a boxed kind plus the byte offset it refers to.

use std::fmt;

/// An error found while parsing or validating a module. One word wide.
#[derive(Debug)]
pub struct Error(Box<Inner>);

#[derive(Debug)]
struct Inner {
    kind: ErrorKind,
    offset: usize,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The bytes are not a well-formed, valid Wasm module (wasmparser's message).
    Invalid(String),
    /// The module is valid only with a proposal Kiln does not implement.
    Unsupported {
        /// Human-readable name of the proposal, e.g. "tail calls".
        proposal: &'static str,
    },
    /// The module declares more than an implementation limit allows ([`crate::Limits`]).
    Limit(String),
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, offset: usize) -> Self {
        Error(Box::new(Inner { kind, offset }))
    }

    /// An `Invalid` error, e.g. for text that does not parse as a module.
    pub fn invalid(message: impl Into<String>, offset: usize) -> Self {
        Error::new(ErrorKind::Invalid(message.into()), offset)
    }

    /// The kind of error.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// Byte offset in the module the error refers to.
    pub fn offset(&self) -> usize {
        self.0.offset
    }
}

impl From<wasmparser::BinaryReaderError> for Error {
    fn from(e: wasmparser::BinaryReaderError) -> Self {
        Error::new(
            ErrorKind::Invalid(e.message().to_string()),
            e.offset() as usize,
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.kind {
            ErrorKind::Invalid(msg) => write!(f, "{msg} (at offset {:#x})", self.0.offset),
            ErrorKind::Limit(msg) => write!(f, "implementation limit exceeded: {msg}"),
            ErrorKind::Unsupported { proposal } => write!(
                f,
                "unsupported proposal: the module uses {proposal}, which Kiln does not implement \
                 (at offset {:#x})",
                self.0.offset
            ),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    #[test]
    fn error_is_one_word() {
        assert_eq!(
            std::mem::size_of::<super::Error>(),
            std::mem::size_of::<usize>()
        );
    }
}

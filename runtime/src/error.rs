//! Kiln's one error type.

use crate::trap::{Trap, TrapCode};
use std::fmt;

/// Any error the runtime reports. One word wide.
pub struct Error(Box<ErrorKind>);

/// What went wrong.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The module is malformed or invalid.
    Module(kiln_frontend::Error),
    /// A feature Kiln does not implement (yet).
    Unsupported(String),
    /// The jit could not compile the module.
    Compile(kiln_jit::Error),
    /// An import could not be satisfied.
    Link(String),
    /// Instantiation failed for a reason other than a trap (e.g. a resource).
    Instantiation(String),
    /// Wasm trapped.
    Trap(Trap),
    /// A value or handle of the wrong type, arity or store.
    Type(String),
    /// An error returned by a host function.
    Host(Box<dyn std::error::Error + Send + Sync>),
    /// Reading input failed (the CLI's files).
    Io(std::io::Error),
    /// The engine's configuration does not allow the request (e.g. fuel not enabled).
    Config(String),
    /// A resource limit refused a request (at instantiation or creation).
    ResourceExhausted(crate::LimitHit),
    /// A compiled artifact was refused (another build, settings or key; changed or
    /// cut off); nothing of it ran.
    IncompatibleArtifact(crate::ArtifactError),
    /// A saved profile was refused (malformed, or of another module).
    Profile(String),
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Error(Box::new(kind))
    }

    /// An error with a message, for host functions to return.
    pub fn msg(message: impl fmt::Display) -> Self {
        #[derive(Debug)]
        struct Message(String);
        impl fmt::Display for Message {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl std::error::Error for Message {}
        Error::new(ErrorKind::Host(Box::new(Message(message.to_string()))))
    }

    /// Wraps any error as a host error.
    pub fn host(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::new(ErrorKind::Host(Box::new(e)))
    }

    pub(crate) fn link(m: impl Into<String>) -> Self {
        Error::new(ErrorKind::Link(m.into()))
    }

    pub(crate) fn ty(m: impl Into<String>) -> Self {
        Error::new(ErrorKind::Type(m.into()))
    }

    pub(crate) fn resource(hit: crate::LimitHit) -> Self {
        Error::new(ErrorKind::ResourceExhausted(hit))
    }

    pub(crate) fn config(m: impl Into<String>) -> Self {
        Error::new(ErrorKind::Config(m.into()))
    }

    pub(crate) fn instantiation(m: impl Into<String>) -> Self {
        Error::new(ErrorKind::Instantiation(m.into()))
    }

    /// The kind of error.
    pub fn kind(&self) -> &ErrorKind {
        &self.0
    }

    /// The error of type `E` this error is or wraps, if any: a host error (e.g. WASI's
    /// exit status), or for a trap the [`Trap`] itself or its [`TrapCode`], as in
    /// Wasmtime (`err.downcast_ref::<Trap>()`).
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        match &*self.0 {
            ErrorKind::Host(e) => e.downcast_ref::<E>(),
            ErrorKind::Trap(t) => (t as &dyn std::error::Error)
                .downcast_ref::<E>()
                .or_else(|| (t.code_ref() as &dyn std::error::Error).downcast_ref::<E>()),
            _ => None,
        }
    }

    /// The trap, if this error is one.
    pub fn as_trap(&self) -> Option<&Trap> {
        match &*self.0 {
            ErrorKind::Trap(t) => Some(t),
            _ => None,
        }
    }
}

impl From<Trap> for Error {
    fn from(t: Trap) -> Self {
        Error::new(ErrorKind::Trap(t))
    }
}

impl From<kiln_frontend::Error> for Error {
    fn from(e: kiln_frontend::Error) -> Self {
        match e.kind() {
            kiln_frontend::ErrorKind::Unsupported { .. } => {
                Error::new(ErrorKind::Unsupported(e.to_string()))
            }
            _ => Error::new(ErrorKind::Module(e)),
        }
    }
}

impl From<kiln_jit::Error> for Error {
    fn from(e: kiln_jit::Error) -> Self {
        match e.kind() {
            // A compile deadline is the same time limit as a running guest's.
            kiln_jit::ErrorKind::Cancelled => TrapCode::Interrupted.into(),
            kiln_jit::ErrorKind::Unsupported { .. } => {
                Error::new(ErrorKind::Unsupported(e.to_string()))
            }
            _ => Error::new(ErrorKind::Compile(e)),
        }
    }
}

impl From<TrapCode> for Error {
    /// A trap with this code and no backtrace: what a host function returns to make the
    /// guest trap (`Err(TrapCode::Interrupted.into())`).
    fn from(code: TrapCode) -> Self {
        Trap::new(code, Vec::new(), false).into()
    }
}

/// Host functions and embedders written for Wasmtime return `anyhow::Result`: its
/// errors convert, and one that wraps a Kiln error (a trap a nested call returned, say)
/// is that error again.
impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Self {
        match e.downcast::<Error>() {
            Ok(kiln) => kiln,
            Err(other) => Error::new(ErrorKind::Host(other.into())),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::new(ErrorKind::Io(e))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.0 {
            ErrorKind::Module(e) => write!(f, "invalid module: {e}"),
            ErrorKind::Unsupported(m) => write!(f, "{m}"),
            ErrorKind::Compile(e) => write!(f, "compilation failed: {e}"),
            ErrorKind::Link(m) => write!(f, "link error: {m}"),
            ErrorKind::Instantiation(m) => write!(f, "instantiation failed: {m}"),
            ErrorKind::Trap(t) => write!(f, "{t}"),
            ErrorKind::Type(m) => write!(f, "type error: {m}"),
            ErrorKind::Host(e) => write!(f, "{e}"),
            ErrorKind::Io(e) => write!(f, "{e}"),
            ErrorKind::Config(m) => write!(f, "configuration: {m}"),
            ErrorKind::ResourceExhausted(hit) => write!(f, "resource limit: {hit}"),
            ErrorKind::IncompatibleArtifact(e) => write!(f, "artifact refused: {e}"),
            ErrorKind::Profile(m) => write!(f, "profile refused: {m}"),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &*self.0 {
            ErrorKind::Module(e) => Some(e),
            ErrorKind::Compile(e) => Some(e),
            ErrorKind::Host(e) => Some(&**e),
            ErrorKind::Io(e) => Some(e),
            ErrorKind::IncompatibleArtifact(e) => Some(e),
            _ => None,
        }
    }
}

/// `Result` with Kiln's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

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

//! The jit's one error type.

use std::fmt;

/// Why a module could not be compiled. One word wide.
#[derive(Debug)]
pub struct Error(Box<ErrorKind>);

/// What went wrong.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The module uses something the jit does not lower yet.
    Unsupported {
        /// What is missing.
        what: String,
        /// Byte offset in the module.
        offset: usize,
    },
    /// The function body could not be read (it was validated, so this is a bug upstream).
    Read(String),
    /// Cranelift rejected the generated IR or failed to emit code.
    Codegen(String),
    /// The compiler could not be configured for this host.
    Config(String),
    /// Compiling would exceed a limit of the compile budget.
    Limit(String),
    /// Compilation was given a deadline, and it passed.
    Cancelled,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Error(Box::new(kind))
    }

    pub(crate) fn unsupported(what: impl Into<String>, offset: usize) -> Self {
        Error::new(ErrorKind::Unsupported {
            what: what.into(),
            offset,
        })
    }

    /// The kind of error.
    pub fn kind(&self) -> &ErrorKind {
        &self.0
    }
}

impl From<kiln_frontend::wasmparser::BinaryReaderError> for Error {
    fn from(e: kiln_frontend::wasmparser::BinaryReaderError) -> Self {
        Error::new(ErrorKind::Read(format!(
            "{} (at offset {:#x})",
            e.message(),
            e.offset()
        )))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.0 {
            ErrorKind::Unsupported { what, offset } => {
                write!(f, "unsupported: {what} (at offset {offset:#x})")
            }
            ErrorKind::Read(m) => write!(f, "cannot read function body: {m}"),
            ErrorKind::Codegen(m) => write!(f, "code generation failed: {m}"),
            ErrorKind::Config(m) => write!(f, "cannot configure the compiler: {m}"),
            ErrorKind::Limit(m) => write!(f, "compile budget exceeded: {m}"),
            ErrorKind::Cancelled => f.write_str("compilation stopped: its deadline passed"),
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

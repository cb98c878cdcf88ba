//! The sandbox's one error type, shared by every backend.

use std::fmt;

/// A limit a sandbox enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResourceKind {
    /// Fuel units (`.fuel(n)`), given afresh to every call.
    Fuel,
    /// Bytes of linear memory, all memories of the sandbox together (`.memory_limit`).
    Memory,
    /// Wall-clock milliseconds of one call, or of one `build()` (compilation and
    /// instantiation together) (`.timeout`).
    Time,
    /// Elements of one table (`.max_table_elements`).
    TableElements,
    /// Bytes of native stack wasm may use (`.max_wasm_stack`).
    Stack,
    /// Instances in the sandbox's store.
    Instances,
    /// Memories in the sandbox's store.
    Memories,
    /// Tables in the sandbox's store.
    Tables,
}

impl ResourceKind {
    /// The unit `limit` and `used` are counted in.
    pub fn unit(self) -> &'static str {
        match self {
            ResourceKind::Fuel => "fuel units",
            ResourceKind::Memory | ResourceKind::Stack => "bytes",
            ResourceKind::Time => "ms",
            ResourceKind::TableElements => "elements",
            ResourceKind::Instances | ResourceKind::Memories | ResourceKind::Tables => "",
        }
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResourceKind::Fuel => "fuel",
            ResourceKind::Memory => "memory",
            ResourceKind::Time => "time",
            ResourceKind::TableElements => "table elements",
            ResourceKind::Stack => "wasm stack",
            ResourceKind::Instances => "instances",
            ResourceKind::Memories => "memories",
            ResourceKind::Tables => "tables",
        })
    }
}

/// Why wasm trapped (traps that are limits are [`Error::ResourceExhausted`] instead:
/// running out of fuel, time or stack).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TrapCode {
    /// `unreachable` executed.
    Unreachable,
    /// Integer division or remainder by zero.
    IntegerDivisionByZero,
    /// Integer overflow (signed division, float-to-int truncation out of range).
    IntegerOverflow,
    /// NaN converted to an integer.
    BadConversionToInteger,
    /// `call_indirect` through a null element.
    IndirectCallToNull,
    /// `call_indirect` with the wrong signature.
    BadSignature,
    /// Table access out of bounds.
    TableOutOfBounds,
    /// Linear memory access out of bounds.
    MemoryOutOfBounds,
    /// A null reference was used (`call_ref`, `ref.as_non_null`).
    NullReference,
    /// A trap the sandbox has no name for (a backend's later-proposal traps).
    Other,
}

impl fmt::Display for TrapCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrapCode::Unreachable => "unreachable",
            TrapCode::IntegerDivisionByZero => "integer divide by zero",
            TrapCode::IntegerOverflow => "integer overflow",
            TrapCode::BadConversionToInteger => "invalid conversion to integer",
            TrapCode::IndirectCallToNull => "uninitialized element",
            TrapCode::BadSignature => "indirect call type mismatch",
            TrapCode::TableOutOfBounds => "out of bounds table access",
            TrapCode::MemoryOutOfBounds => "out of bounds memory access",
            TrapCode::NullReference => "null reference",
            TrapCode::Other => "trap",
        })
    }
}

/// Everything a sandbox reports, whichever backend runs it.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A limit stopped the guest. `limit` is the limit in force and `used` what the
    /// guest consumed or asked for, in [`ResourceKind::unit`]s:
    /// - `Fuel`: `limit` = `used` = the fuel given to the call;
    /// - `Memory`: `limit` = the memory limit, `used` = the total the refused growth
    ///   asked for (reported when the call fails after a refused `memory.grow`, or when
    ///   instantiation is refused);
    /// - `Time`: `limit` = the timeout, `used` = the call's (or the build's) elapsed
    ///   time (ms);
    /// - `Stack`: `limit` = `used` = `max_wasm_stack` (the guest needed more);
    /// - `TableElements`: like `Memory`, in elements.
    ResourceExhausted {
        /// Which limit.
        kind: ResourceKind,
        /// The limit in force.
        limit: u64,
        /// What was used or requested.
        used: u64,
    },
    /// Wasm trapped for a reason other than a limit.
    Trap {
        /// Why.
        code: TrapCode,
        /// The wasm frames, innermost first (`module!function`).
        backtrace: Vec<String>,
    },
    /// The guest called WASI `proc_exit` during [`crate::Sandbox::call`]
    /// ([`crate::Sandbox::run`] returns the code instead).
    Exit(i32),
    /// The module is malformed, invalid, or uses a proposal the backend lacks.
    Module(String),
    /// An import was refused (nothing provides it, or its type does not match).
    Link(String),
    /// The module has no exported function of that name.
    Export(String),
    /// Arguments or results do not match the function's signature.
    Type(String),
    /// A flag or feature this build of the sandbox does not implement. Named flags are
    /// refused, never ignored.
    Unsupported(String),
    /// The builder's settings are incomplete or contradict each other.
    Config(String),
    /// The module's file (or a pre-opened directory) cannot be read.
    Io(std::io::Error),
    /// Any other failure of the backend (e.g. it could not reserve memory).
    Runtime(String),
    /// A host function (`SandboxBuilder::host_function`) returned an error: its message
    /// and causes, `outer: inner`.
    Host(String),
    /// The call was cancelled: its future was dropped (the async API), and the guest
    /// was interrupted. The sandbox stays usable.
    Cancelled,
    /// [`crate::Sandbox::run`] (or a call of `_start`) a second time: a WASI command's
    /// `_start` runs at most once per sandbox (build another sandbox to run it again).
    AlreadyRan,
    /// A memory access (`read_memory`, `write_memory`, or the buffers of `call_bytes`)
    /// outside the guest's linear memory. Nothing was read or written.
    OutOfBounds {
        /// The first byte asked for.
        offset: u64,
        /// How many bytes.
        len: u64,
        /// The memory's size in bytes.
        memory_size: u64,
    },
    /// The guest broke the calling convention of `call_bytes` (e.g. its allocator
    /// returned a null pointer), or returned text that is not UTF-8 to `call_string`.
    Abi(String),
}

impl Error {
    /// The resource kind, if this error is a limit.
    pub fn resource_kind(&self) -> Option<ResourceKind> {
        match self {
            Error::ResourceExhausted { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// The trap code, if this error is a (non-limit) trap.
    pub fn trap_code(&self) -> Option<TrapCode> {
        match self {
            Error::Trap { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ResourceExhausted { kind, limit, used } => {
                let unit = kind.unit();
                let sep = if unit.is_empty() { "" } else { " " };
                write!(
                    f,
                    "resource exhausted: {kind} limit of {limit}{sep}{unit} reached ({used}{sep}{unit} used)"
                )
            }
            Error::Trap { code, backtrace } => {
                write!(f, "wasm trap: {code}")?;
                if !backtrace.is_empty() {
                    f.write_str("\nwasm backtrace:")?;
                    for (i, frame) in backtrace.iter().enumerate() {
                        write!(f, "\n  {i:>3}: {frame}")?;
                    }
                }
                Ok(())
            }
            Error::Exit(code) => write!(f, "guest exited with status {code}"),
            Error::Module(m) => write!(f, "invalid module: {m}"),
            Error::Link(m) => write!(f, "link error: {m}"),
            Error::Export(m) => write!(f, "export: {m}"),
            Error::Type(m) => write!(f, "type mismatch: {m}"),
            Error::Unsupported(m) => write!(f, "unsupported: {m}"),
            Error::Config(m) => write!(f, "configuration: {m}"),
            Error::Io(e) => write!(f, "{e}"),
            Error::Runtime(m) => write!(f, "runtime error: {m}"),
            Error::Host(m) => write!(f, "host function failed: {m}"),
            Error::Cancelled => f.write_str("the call was cancelled (its future was dropped)"),
            Error::AlreadyRan => {
                f.write_str("the WASI command already ran: `_start` runs at most once per sandbox")
            }
            Error::OutOfBounds {
                offset,
                len,
                memory_size,
            } => write!(
                f,
                "memory access out of bounds: {len} bytes at offset {offset} in a memory of \
                 {memory_size} bytes"
            ),
            Error::Abi(m) => write!(f, "calling convention broken: {m}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_limit_and_use() {
        let e = Error::ResourceExhausted {
            kind: ResourceKind::Fuel,
            limit: 10,
            used: 10,
        };
        assert_eq!(
            e.to_string(),
            "resource exhausted: fuel limit of 10 fuel units reached (10 fuel units used)"
        );
        let t = Error::Trap {
            code: TrapCode::Unreachable,
            backtrace: vec!["m!f".into()],
        };
        assert_eq!(
            t.to_string(),
            "wasm trap: unreachable\nwasm backtrace:\n    0: m!f"
        );
        let o = Error::OutOfBounds {
            offset: 65530,
            len: 10,
            memory_size: 65536,
        };
        assert_eq!(
            o.to_string(),
            "memory access out of bounds: 10 bytes at offset 65530 in a memory of 65536 bytes"
        );
    }
}

//! Traps, with Wasm backtraces.

use kiln_jit::TrapKind;
use std::fmt;

/// Why wasm trapped.
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
    /// Table access out of bounds (including `call_indirect`'s).
    TableOutOfBounds,
    /// Linear memory access out of bounds.
    MemoryOutOfBounds,
    /// The wasm stack limit was reached.
    StackOverflow,
    /// The store ran out of fuel.
    OutOfFuel,
    /// The store's epoch deadline (e.g. its timeout) passed.
    Interrupted,
    /// `call_ref`, `return_call_ref` or `ref.as_non_null` on a null reference.
    NullReference,
}

impl TrapCode {
    pub(crate) fn from_kind(k: TrapKind) -> Option<TrapCode> {
        Some(match k {
            TrapKind::StackOverflow => TrapCode::StackOverflow,
            TrapKind::MemoryOutOfBounds => TrapCode::MemoryOutOfBounds,
            TrapKind::IntegerOverflow => TrapCode::IntegerOverflow,
            TrapKind::IntegerDivisionByZero => TrapCode::IntegerDivisionByZero,
            TrapKind::BadConversionToInteger => TrapCode::BadConversionToInteger,
            TrapKind::Unreachable => TrapCode::Unreachable,
            TrapKind::TableOutOfBounds => TrapCode::TableOutOfBounds,
            TrapKind::IndirectCallToNull => TrapCode::IndirectCallToNull,
            TrapKind::BadSignature => TrapCode::BadSignature,
            TrapKind::OutOfFuel => TrapCode::OutOfFuel,
            TrapKind::Interrupted => TrapCode::Interrupted,
            TrapKind::NullReference => TrapCode::NullReference,
            _ => return None,
        })
    }

    /// The message the spec test suite uses for this trap.
    pub fn message(self) -> &'static str {
        match self {
            TrapCode::Unreachable => "unreachable",
            TrapCode::IntegerDivisionByZero => "integer divide by zero",
            TrapCode::IntegerOverflow => "integer overflow",
            TrapCode::BadConversionToInteger => "invalid conversion to integer",
            TrapCode::IndirectCallToNull => "uninitialized element",
            TrapCode::BadSignature => "indirect call type mismatch",
            TrapCode::TableOutOfBounds => "out of bounds table access",
            TrapCode::MemoryOutOfBounds => "out of bounds memory access",
            TrapCode::StackOverflow => "call stack exhausted",
            TrapCode::OutOfFuel => "all fuel consumed",
            TrapCode::Interrupted => "interrupted: deadline reached",
            TrapCode::NullReference => "null reference",
        }
    }
}

impl fmt::Display for TrapCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for TrapCode {}

/// A frame of a Wasm backtrace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameInfo {
    /// The function's index in its module.
    pub func_index: u32,
    /// The function's name, from the name section.
    pub func_name: Option<String>,
    /// The module's name, from the name section.
    pub module_name: Option<String>,
    /// Where in the function's machine code the frame was: the trapping instruction for
    /// the innermost frame, the call for the others (for `disas` and `perf`).
    pub code_offset: usize,
}

impl fmt::Display for FrameInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let module = self.module_name.as_deref().unwrap_or("<module>");
        match &self.func_name {
            Some(n) => write!(f, "{module}!{n}")?,
            None => write!(f, "{module}!<wasm function {}>", self.func_index)?,
        }
        write!(f, "+{:#x}", self.code_offset)
    }
}

/// Where an out-of-bounds memory access faulted, when the signal said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryFault {
    /// The byte address in the linear memory the access reached (its first faulting
    /// byte: an access that straddles the end reports the first byte past it).
    pub address: u64,
    /// The memory's size in bytes at the time.
    pub memory_size: u64,
}

/// A Wasm trap and where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trap {
    code: TrapCode,
    backtrace: Vec<FrameInfo>,
    /// Frames beyond those recorded.
    truncated: bool,
    /// For an out-of-bounds access caught by a guard page: where it faulted.
    fault: Option<MemoryFault>,
}

impl Trap {
    pub(crate) fn new(code: TrapCode, backtrace: Vec<FrameInfo>, truncated: bool) -> Self {
        Trap {
            code,
            backtrace,
            truncated,
            fault: None,
        }
    }

    pub(crate) fn with_fault(mut self, fault: Option<MemoryFault>) -> Self {
        self.fault = fault;
        self
    }

    /// For `MemoryOutOfBounds` caught by a guard page, the linear-memory address it
    /// faulted at. (An access caught by an explicit bounds check, or by its Spectre
    /// guard, has no address to report.)
    pub fn memory_fault(&self) -> Option<MemoryFault> {
        self.fault
    }

    /// Why.
    pub fn code(&self) -> TrapCode {
        self.code
    }

    pub(crate) fn code_ref(&self) -> &TrapCode {
        &self.code
    }

    /// The wasm frames, innermost first.
    pub fn backtrace(&self) -> &[FrameInfo] {
        &self.backtrace
    }
}

/// Frames printed by `Display`; `{:#}` prints all.
const SHOWN_FRAMES: usize = 20;

impl fmt::Display for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "wasm trap: {}", self.code)?;
        if let Some(m) = self.fault {
            write!(
                f,
                " at address {:#x} (memory size {:#x})",
                m.address, m.memory_size
            )?;
        }
        if self.backtrace.is_empty() {
            return Ok(());
        }
        f.write_str("\nwasm backtrace:")?;
        let shown = if f.alternate() {
            self.backtrace.len()
        } else {
            SHOWN_FRAMES.min(self.backtrace.len())
        };
        for (i, frame) in self.backtrace[..shown].iter().enumerate() {
            write!(f, "\n  {i:>3}: {frame}")?;
        }
        if shown < self.backtrace.len() || self.truncated {
            write!(f, "\n  ... more frames")?;
        }
        Ok(())
    }
}

impl std::error::Error for Trap {}

//! Why generated code traps, and how each reason is encoded as a Cranelift trap code.

use cranelift_codegen::ir::TrapCode;

macro_rules! trap_kinds {
    ($($(#[$doc:meta])* $name:ident = $code:expr;)*) => {
        /// A reason for a trap raised by generated code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum TrapKind {
            $($(#[$doc])* $name,)*
        }

        impl TrapKind {
            /// Every kind, for exhaustive tests.
            pub const ALL: &'static [TrapKind] = &[$(TrapKind::$name,)*];

            /// The Cranelift trap code generated code uses for this kind.
            pub fn code(self) -> TrapCode {
                match self {
                    $(TrapKind::$name => $code,)*
                }
            }

            /// The kind a Cranelift trap code stands for.
            pub fn from_code(code: TrapCode) -> Option<TrapKind> {
                $(if code == $code { return Some(TrapKind::$name); })*
                None
            }
        }
    };
}

trap_kinds! {
    /// The wasm stack limit was reached.
    StackOverflow = TrapCode::STACK_OVERFLOW;
    /// Out-of-bounds linear memory access (explicit check or guard-page fault).
    MemoryOutOfBounds = TrapCode::HEAP_OUT_OF_BOUNDS;
    /// Signed division overflow, or float-to-int truncation out of range.
    IntegerOverflow = TrapCode::INTEGER_OVERFLOW;
    /// Integer division or remainder by zero.
    IntegerDivisionByZero = TrapCode::INTEGER_DIVISION_BY_ZERO;
    /// Truncation of NaN to an integer.
    BadConversionToInteger = TrapCode::BAD_CONVERSION_TO_INTEGER;
    /// `unreachable` was executed.
    Unreachable = TrapCode::unwrap_user(1);
    /// A table index out of bounds (including `call_indirect`'s).
    TableOutOfBounds = TrapCode::unwrap_user(2);
    /// `call_indirect` through a null element.
    IndirectCallToNull = TrapCode::unwrap_user(3);
    /// `call_indirect` to a function of the wrong signature.
    BadSignature = TrapCode::unwrap_user(4);
    /// A host function (or a builtin) returned an error, which the runtime holds.
    HostError = TrapCode::unwrap_user(5);
    /// The store's fuel ran out.
    OutOfFuel = TrapCode::unwrap_user(6);
    /// The store's epoch deadline passed.
    Interrupted = TrapCode::unwrap_user(7);
    /// `call_ref`, `return_call_ref` or `ref.as_non_null` on a null reference.
    NullReference = TrapCode::unwrap_user(8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_distinct() {
        for &k in TrapKind::ALL {
            assert_eq!(TrapKind::from_code(k.code()), Some(k));
        }
        let mut codes: Vec<_> = TrapKind::ALL.iter().map(|k| k.code()).collect();
        codes.sort_by_key(|c| c.as_raw());
        codes.dedup();
        assert_eq!(codes.len(), TrapKind::ALL.len());
    }
}

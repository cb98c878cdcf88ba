//! Values and traps in a form both engines map to, and how they are compared.

use arbitrary::Unstructured;
use kiln::TrapCode;
use std::fmt;

/// A wasm value as the oracle compares it. References are compared by null-ness only
/// (the two engines' function handles cannot be related).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// `i32`
    I32(i32),
    /// `i64`
    I64(i64),
    /// `f32`, as bits.
    F32(u32),
    /// `f64`, as bits.
    F64(u64),
    /// `v128`
    V128(u128),
    /// `funcref`: whether it is null.
    FuncRef {
        /// Null?
        null: bool,
    },
    /// `externref`: whether it is null.
    ExternRef {
        /// Null?
        null: bool,
    },
    /// A value of a type Kiln does not have (only Wasmtime can produce one).
    Other,
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Value::I32(v) => write!(f, "i32:{v}"),
            Value::I64(v) => write!(f, "i64:{v}"),
            Value::F32(b) => write!(f, "f32:{:?}({b:#010x})", f32::from_bits(b)),
            Value::F64(b) => write!(f, "f64:{:?}({b:#018x})", f64::from_bits(b)),
            Value::V128(v) => write!(f, "v128:{v:#034x}"),
            Value::FuncRef { null } => write!(f, "funcref:{}", if null { "null" } else { "func" }),
            Value::ExternRef { null } => {
                write!(f, "externref:{}", if null { "null" } else { "ref" })
            }
            Value::Other => f.write_str("<other>"),
        }
    }
}

fn f32_nan(bits: u32) -> bool {
    f32::from_bits(bits).is_nan()
}

fn f64_nan(bits: u64) -> bool {
    f64::from_bits(bits).is_nan()
}

/// Whether `a` and `b` are lane-wise equal, with any NaN lane equal to any NaN lane.
fn lanes_equal_up_to_nan(a: u128, b: u128, lane_bits: u32) -> bool {
    let lanes = 128 / lane_bits;
    let mask = if lane_bits == 64 {
        u64::MAX as u128
    } else {
        u32::MAX as u128
    };
    (0..lanes).all(|i| {
        let (x, y) = ((a >> (i * lane_bits)) & mask, (b >> (i * lane_bits)) & mask);
        x == y
            || if lane_bits == 64 {
                f64_nan(x as u64) && f64_nan(y as u64)
            } else {
                f32_nan(x as u32) && f32_nan(y as u32)
            }
    })
}

impl Value {
    /// Whether the two engines' values agree. NaN payloads and signs are nondeterministic
    /// in Wasm, so any `f32` NaN equals any `f32` NaN (likewise `f64`). A `v128` does not
    /// say how it is laned: it agrees if its bytes are equal, or if they are equal read as
    /// `f32x4` or as `f64x2` with NaN lanes equal to any NaN lane. (wasm-smith
    /// canonicalizes NaNs in the differential modules, so this rarely matters.)
    pub fn same(&self, other: &Value) -> bool {
        match (*self, *other) {
            (Value::F32(a), Value::F32(b)) => a == b || (f32_nan(a) && f32_nan(b)),
            (Value::F64(a), Value::F64(b)) => a == b || (f64_nan(a) && f64_nan(b)),
            (Value::V128(a), Value::V128(b)) => {
                a == b || lanes_equal_up_to_nan(a, b, 32) || lanes_equal_up_to_nan(a, b, 64)
            }
            (Value::Other, _) | (_, Value::Other) => false,
            (a, b) => a == b,
        }
    }

    /// An argument of type `ty` drawn from `u`: often an edge value (zero, ±1, extremes,
    /// infinities, NaNs with odd payloads, -0.0), otherwise arbitrary bits. References are
    /// always null (there are no host references to pass).
    pub(crate) fn arbitrary_of(ty: &kiln::ValType, u: &mut Unstructured<'_>) -> Value {
        let edge = u.ratio(1, 2).unwrap_or(true);
        let pick = |u: &mut Unstructured<'_>, n: usize| u.choose_index(n).unwrap_or(0);
        match ty {
            kiln::ValType::I32 => Value::I32(if edge {
                [0, 1, -1, i32::MIN, i32::MAX, 0x8000, 65536, 31, 32][pick(u, 9)]
            } else {
                u.arbitrary().unwrap_or(0)
            }),
            kiln::ValType::I64 => Value::I64(if edge {
                [0, 1, -1, i64::MIN, i64::MAX, 1 << 32, 63, 64][pick(u, 8)]
            } else {
                u.arbitrary().unwrap_or(0)
            }),
            kiln::ValType::F32 => Value::F32(if edge {
                [
                    0,
                    0x8000_0000,
                    0x3f80_0000,
                    0x7f80_0000,
                    0xff80_0000,
                    0x7fc0_0000,
                    0xffc0_0000,
                    0x7fa0_0001,
                    0x4f00_0000,
                    0x0000_0001,
                ][pick(u, 10)]
            } else {
                u.arbitrary().unwrap_or(0)
            }),
            kiln::ValType::F64 => Value::F64(if edge {
                [
                    0,
                    0x8000_0000_0000_0000,
                    0x3ff0_0000_0000_0000,
                    0x7ff0_0000_0000_0000,
                    0xfff0_0000_0000_0000,
                    0x7ff8_0000_0000_0000,
                    0xfff8_0000_0000_0000,
                    0x7ff4_0000_0000_0001,
                    0x43e0_0000_0000_0000,
                    0x0000_0000_0000_0001,
                ][pick(u, 10)]
            } else {
                u.arbitrary().unwrap_or(0)
            }),
            kiln::ValType::V128 => Value::V128(if edge {
                [0, u128::MAX, 1, 0x7fc0_0000_7fc0_0000_7fc0_0000_7fc0_0000][pick(u, 4)]
            } else {
                u.arbitrary().unwrap_or(0)
            }),
            kiln::ValType::Ref(r) if r.is_func() => Value::FuncRef { null: true },
            kiln::ValType::Ref(_) => Value::ExternRef { null: true },
        }
    }

    /// The value for Kiln (references are null).
    pub(crate) fn to_kiln(self) -> kiln::Val {
        match self {
            Value::I32(v) => kiln::Val::I32(v),
            Value::I64(v) => kiln::Val::I64(v),
            Value::F32(v) => kiln::Val::F32(v),
            Value::F64(v) => kiln::Val::F64(v),
            Value::V128(v) => kiln::Val::V128(v),
            Value::FuncRef { .. } | Value::Other => kiln::Val::FuncRef(None),
            Value::ExternRef { .. } => kiln::Val::ExternRef(None),
        }
    }

    /// The value for Wasmtime (references are null).
    pub(crate) fn to_wasmtime(self) -> wasmtime::Val {
        match self {
            Value::I32(v) => wasmtime::Val::I32(v),
            Value::I64(v) => wasmtime::Val::I64(v),
            Value::F32(v) => wasmtime::Val::F32(v),
            Value::F64(v) => wasmtime::Val::F64(v),
            Value::V128(v) => wasmtime::Val::V128(v.into()),
            Value::FuncRef { .. } | Value::Other => wasmtime::Val::FuncRef(None),
            Value::ExternRef { .. } => wasmtime::Val::ExternRef(None),
        }
    }

    /// Kiln's value.
    pub(crate) fn from_kiln(v: &kiln::Val) -> Value {
        match *v {
            kiln::Val::I32(v) => Value::I32(v),
            kiln::Val::I64(v) => Value::I64(v),
            kiln::Val::F32(v) => Value::F32(v),
            kiln::Val::F64(v) => Value::F64(v),
            kiln::Val::V128(v) => Value::V128(v),
            kiln::Val::FuncRef(f) => Value::FuncRef { null: f.is_none() },
            kiln::Val::ExternRef(r) => Value::ExternRef { null: r.is_none() },
        }
    }

    /// Wasmtime's value.
    pub(crate) fn from_wasmtime(v: &wasmtime::Val) -> Value {
        match v {
            wasmtime::Val::I32(v) => Value::I32(*v),
            wasmtime::Val::I64(v) => Value::I64(*v),
            wasmtime::Val::F32(v) => Value::F32(*v),
            wasmtime::Val::F64(v) => Value::F64(*v),
            wasmtime::Val::V128(v) => Value::V128(v.as_u128()),
            wasmtime::Val::FuncRef(f) => Value::FuncRef { null: f.is_none() },
            wasmtime::Val::ExternRef(r) => Value::ExternRef { null: r.is_none() },
            _ => Value::Other,
        }
    }
}

/// Why wasm stopped. Kiln's trap codes are the shared vocabulary; Wasmtime's codes map
/// onto them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrapKind {
    /// A code both engines have, named by Kiln's enum.
    Known(TrapCode),
    /// A trap code with no counterpart (its engine and name).
    Other(String),
}

impl TrapKind {
    /// Kiln's trap code.
    pub(crate) fn from_kiln(code: TrapCode) -> TrapKind {
        TrapKind::Known(code)
    }

    /// Wasmtime's trap code.
    pub(crate) fn from_wasmtime(trap: wasmtime::Trap) -> TrapKind {
        use wasmtime::Trap as T;
        TrapKind::Known(match trap {
            T::UnreachableCodeReached => TrapCode::Unreachable,
            T::IntegerDivisionByZero => TrapCode::IntegerDivisionByZero,
            T::IntegerOverflow => TrapCode::IntegerOverflow,
            T::BadConversionToInteger => TrapCode::BadConversionToInteger,
            T::IndirectCallToNull => TrapCode::IndirectCallToNull,
            T::BadSignature => TrapCode::BadSignature,
            T::TableOutOfBounds => TrapCode::TableOutOfBounds,
            T::MemoryOutOfBounds => TrapCode::MemoryOutOfBounds,
            T::StackOverflow => TrapCode::StackOverflow,
            T::OutOfFuel => TrapCode::OutOfFuel,
            T::Interrupt => TrapCode::Interrupted,
            T::NullReference => TrapCode::NullReference,
            other => return TrapKind::Other(format!("wasmtime {other:?}")),
        })
    }

    /// Traps that end the comparison of a module instead of being compared: the engines'
    /// fuel costs differ, and so do their frame sizes (the spec leaves the depth at which
    /// the stack is exhausted to the implementation).
    pub(crate) fn inconclusive(&self) -> bool {
        matches!(
            self,
            TrapKind::Known(TrapCode::OutOfFuel | TrapCode::StackOverflow)
        )
    }
}

/// 64-bit FNV-1a, to name memory contents in messages.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nans_agree_with_any_nan_of_their_type_only() {
        assert!(Value::F32(0x7fc0_0000).same(&Value::F32(0xffc0_0001)));
        assert!(Value::F64(0x7ff8_0000_0000_0000).same(&Value::F64(0xfff0_0000_0000_0001)));
        assert!(
            !Value::F32(0x7fc0_0000).same(&Value::F32(0x7f80_0000)),
            "NaN vs inf"
        );
        assert!(!Value::F32(0).same(&Value::F32(0x8000_0000)), "+0 vs -0");
        assert!(!Value::F32(0x7fc0_0000).same(&Value::I32(0x7fc0_0000)));
    }

    #[test]
    fn v128_lanes_agree_up_to_nan_as_f32x4_or_f64x2() {
        let a = 0x7fc0_0000_0000_0001_3f80_0000_0000_0002u128;
        let b = 0xffc0_0001_0000_0001_3f80_0000_0000_0002u128;
        assert!(Value::V128(a).same(&Value::V128(b)), "f32x4 NaN lane");
        let c = 0x7ff8_0000_0000_0000_0000_0000_0000_0005u128;
        let d = 0xfff8_0000_0000_0001_0000_0000_0000_0005u128;
        assert!(Value::V128(c).same(&Value::V128(d)), "f64x2 NaN lane");
        assert!(!Value::V128(1).same(&Value::V128(2)));
        assert!(
            !Value::V128(a).same(&Value::V128(a ^ 1)),
            "a non-NaN lane differs"
        );
    }

    #[test]
    fn references_compare_by_null_ness() {
        assert!(Value::FuncRef { null: true }.same(&Value::FuncRef { null: true }));
        assert!(!Value::FuncRef { null: true }.same(&Value::FuncRef { null: false }));
        assert!(!Value::FuncRef { null: true }.same(&Value::ExternRef { null: true }));
        assert!(!Value::Other.same(&Value::Other));
    }
}

//! Conversions between `wast` values and Kiln [`Val`]s, and result matching.

use kiln::{ExternRef, Store, Val, ValType};
use wast::core::{AbstractHeapType, HeapType, NanPattern, V128Pattern, WastArgCore, WastRetCore};
use wast::token::{F32, F64};
use wast::{WastArg, WastRet};

use crate::error::{fail, SpecError};

const F32_SIGN: u32 = 0x8000_0000;
const F32_CANONICAL_NAN: u32 = 0x7fc0_0000;
const F64_SIGN: u64 = 0x8000_0000_0000_0000;
const F64_CANONICAL_NAN: u64 = 0x7ff8_0000_0000_0000;

/// Converts an `invoke` argument to a Kiln value. `ref.extern N` becomes an externref whose
/// payload is the `u32` N.
pub(crate) fn to_val(arg: &WastArg<'_>, store: &mut Store<()>) -> Result<Val, SpecError> {
    let WastArg::Core(core) = arg else {
        return fail!("unsupported (component) argument");
    };
    Ok(match core {
        WastArgCore::I32(v) => Val::I32(*v),
        WastArgCore::I64(v) => Val::I64(*v),
        WastArgCore::F32(v) => Val::F32(v.bits),
        WastArgCore::F64(v) => Val::F64(v.bits),
        WastArgCore::V128(v) => Val::V128(u128::from_le_bytes(v.to_le_bytes())),
        WastArgCore::RefNull(heap) => match null_ref_kind(heap) {
            Some(RefKind::Func) => Val::FuncRef(None),
            Some(RefKind::Extern) => Val::ExternRef(None),
            None => return fail!("unsupported argument: ref.null {heap:?}"),
        },
        WastArgCore::RefExtern(n) => Val::ExternRef(Some(ExternRef::new(&mut *store, *n))),
        WastArgCore::RefHost(n) => return fail!("unsupported argument: ref.host {n}"),
    })
}

/// A placeholder value of type `ty`, used to size a results buffer.
pub(crate) fn default_val(ty: &ValType) -> Val {
    match ty {
        ValType::I32 => Val::I32(0),
        ValType::I64 => Val::I64(0),
        ValType::F32 => Val::F32(0),
        ValType::F64 => Val::F64(0),
        ValType::V128 => Val::V128(0),
        ValType::Ref(r) => Val::null(*r),
    }
}

/// Checks `actual` results against the expected ones of an `assert_return`.
pub(crate) fn check_results(
    expected: &[WastRet<'_>],
    actual: &[Val],
    store: &Store<()>,
) -> Result<(), SpecError> {
    if expected.len() != actual.len() {
        return fail!(
            "expected {} results, got {}: [{}]",
            expected.len(),
            actual.len(),
            fmt_vals(actual, store)
        );
    }
    for (i, (exp, act)) in expected.iter().zip(actual).enumerate() {
        let WastRet::Core(exp) = exp else {
            return fail!("unsupported (component) expected result");
        };
        if !matches(exp, act, store) {
            let all = if actual.len() > 1 {
                format!(" (all results: [{}])", fmt_vals(actual, store))
            } else {
                String::new()
            };
            return fail!(
                "result {i}: expected {}, got {}{all}",
                fmt_ret(exp),
                fmt_val(act, store)
            );
        }
    }
    Ok(())
}

/// Whether `actual` matches the pattern `expected`.
pub(crate) fn matches(expected: &WastRetCore<'_>, actual: &Val, store: &Store<()>) -> bool {
    match (expected, actual) {
        (WastRetCore::I32(e), Val::I32(a)) => e == a,
        (WastRetCore::I64(e), Val::I64(a)) => e == a,
        (WastRetCore::F32(e), Val::F32(a)) => f32_matches(e, *a),
        (WastRetCore::F64(e), Val::F64(a)) => f64_matches(e, *a),
        (WastRetCore::V128(e), Val::V128(a)) => v128_matches(e, *a),
        (WastRetCore::RefNull(heap), Val::FuncRef(a)) => {
            a.is_none()
                && heap
                    .as_ref()
                    .is_none_or(|h| null_ref_kind(h) == Some(RefKind::Func))
        }
        (WastRetCore::RefNull(heap), Val::ExternRef(a)) => {
            a.is_none()
                && heap
                    .as_ref()
                    .is_none_or(|h| null_ref_kind(h) == Some(RefKind::Extern))
        }
        (WastRetCore::RefExtern(e), Val::ExternRef(Some(a))) => match e {
            None => true,
            Some(n) => a.data(store).downcast_ref::<u32>() == Some(n),
        },
        // The spec scripts can only name the function by index in the defining module; any
        // non-null funcref is accepted.
        (WastRetCore::RefFunc(_), Val::FuncRef(a)) => a.is_some(),
        (WastRetCore::Either(options), a) => options.iter().any(|e| matches(e, a, store)),
        _ => false,
    }
}

fn f32_matches(expected: &NanPattern<F32>, actual: u32) -> bool {
    match expected {
        NanPattern::Value(e) => e.bits == actual,
        NanPattern::CanonicalNan => actual & !F32_SIGN == F32_CANONICAL_NAN,
        NanPattern::ArithmeticNan => actual & F32_CANONICAL_NAN == F32_CANONICAL_NAN,
    }
}

fn f64_matches(expected: &NanPattern<F64>, actual: u64) -> bool {
    match expected {
        NanPattern::Value(e) => e.bits == actual,
        NanPattern::CanonicalNan => actual & !F64_SIGN == F64_CANONICAL_NAN,
        NanPattern::ArithmeticNan => actual & F64_CANONICAL_NAN == F64_CANONICAL_NAN,
    }
}

fn v128_matches(expected: &V128Pattern, actual: u128) -> bool {
    let bytes = actual.to_le_bytes();
    let lanes = |n: usize| bytes.chunks_exact(n);
    match expected {
        V128Pattern::I8x16(e) => e.iter().zip(bytes).all(|(e, a)| *e as u8 == a),
        V128Pattern::I16x8(e) => {
            let e: Vec<u8> = e.iter().flat_map(|v| v.to_le_bytes()).collect();
            e == bytes
        }
        V128Pattern::I32x4(e) => {
            let e: Vec<u8> = e.iter().flat_map(|v| v.to_le_bytes()).collect();
            e == bytes
        }
        V128Pattern::I64x2(e) => {
            let e: Vec<u8> = e.iter().flat_map(|v| v.to_le_bytes()).collect();
            e == bytes
        }
        V128Pattern::F32x4(e) => e.iter().zip(lanes(4)).all(|(e, a)| {
            let mut lane = [0u8; 4];
            lane.copy_from_slice(a);
            f32_matches(e, u32::from_le_bytes(lane))
        }),
        V128Pattern::F64x2(e) => e.iter().zip(lanes(8)).all(|(e, a)| {
            let mut lane = [0u8; 8];
            lane.copy_from_slice(a);
            f64_matches(e, u64::from_le_bytes(lane))
        }),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefKind {
    Func,
    Extern,
}

/// The reference kind of a `ref.null` heap type, if Kiln has it.
fn null_ref_kind(heap: &HeapType<'_>) -> Option<RefKind> {
    match heap {
        HeapType::Abstract {
            shared: false,
            ty: AbstractHeapType::Func | AbstractHeapType::NoFunc,
        } => Some(RefKind::Func),
        HeapType::Abstract {
            shared: false,
            ty: AbstractHeapType::Extern | AbstractHeapType::NoExtern,
        } => Some(RefKind::Extern),
        _ => None,
    }
}

fn fmt_vals(vals: &[Val], store: &Store<()>) -> String {
    vals.iter()
        .map(|v| fmt_val(v, store))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Formats a Kiln value for a failure message.
pub(crate) fn fmt_val(val: &Val, store: &Store<()>) -> String {
    match val {
        Val::I32(v) => format!("i32 {v}"),
        Val::I64(v) => format!("i64 {v}"),
        Val::F32(bits) => format!("f32 {} (0x{bits:08x})", f32::from_bits(*bits)),
        Val::F64(bits) => format!("f64 {} (0x{bits:016x})", f64::from_bits(*bits)),
        Val::V128(bits) => format!("v128 0x{bits:032x}"),
        Val::FuncRef(None) => "ref.null func".to_string(),
        Val::FuncRef(Some(_)) => "ref.func".to_string(),
        Val::ExternRef(None) => "ref.null extern".to_string(),
        Val::ExternRef(Some(r)) => match r.data(store).downcast_ref::<u32>() {
            Some(n) => format!("ref.extern {n}"),
            None => "ref.extern <non-u32 payload>".to_string(),
        },
    }
}

/// Formats an expected-result pattern for a failure message.
pub(crate) fn fmt_ret(ret: &WastRetCore<'_>) -> String {
    match ret {
        WastRetCore::I32(v) => format!("i32 {v}"),
        WastRetCore::I64(v) => format!("i64 {v}"),
        WastRetCore::F32(p) => format!("f32 {}", fmt_nan_pattern(p, |f| fmt_f32(f.bits))),
        WastRetCore::F64(p) => format!("f64 {}", fmt_nan_pattern(p, |f| fmt_f64(f.bits))),
        WastRetCore::V128(p) => format!("v128 {p:?}"),
        WastRetCore::RefNull(None) => "ref.null".to_string(),
        WastRetCore::RefNull(Some(h)) => match null_ref_kind(h) {
            Some(RefKind::Func) => "ref.null func".to_string(),
            Some(RefKind::Extern) => "ref.null extern".to_string(),
            None => format!("ref.null {h:?} (unsupported by Kiln)"),
        },
        WastRetCore::RefExtern(None) => "ref.extern".to_string(),
        WastRetCore::RefExtern(Some(n)) => format!("ref.extern {n}"),
        WastRetCore::RefFunc(_) => "ref.func".to_string(),
        WastRetCore::Either(options) => {
            let options: Vec<String> = options.iter().map(fmt_ret).collect();
            format!("either({})", options.join(" | "))
        }
        other => format!("{other:?} (unsupported by Kiln)"),
    }
}

fn fmt_nan_pattern<T>(p: &NanPattern<T>, value: impl Fn(&T) -> String) -> String {
    match p {
        NanPattern::CanonicalNan => "nan:canonical".to_string(),
        NanPattern::ArithmeticNan => "nan:arithmetic".to_string(),
        NanPattern::Value(v) => value(v),
    }
}

fn fmt_f32(bits: u32) -> String {
    format!("{} (0x{bits:08x})", f32::from_bits(bits))
}

fn fmt_f64(bits: u64) -> String {
    format!("{} (0x{bits:016x})", f64::from_bits(bits))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_patterns() {
        assert!(f32_matches(&NanPattern::CanonicalNan, 0x7fc0_0000));
        assert!(f32_matches(&NanPattern::CanonicalNan, 0xffc0_0000));
        assert!(!f32_matches(&NanPattern::CanonicalNan, 0x7fc0_0001));
        assert!(f32_matches(&NanPattern::ArithmeticNan, 0x7fc0_0001));
        assert!(f32_matches(&NanPattern::ArithmeticNan, 0xffff_ffff));
        assert!(!f32_matches(&NanPattern::ArithmeticNan, 0x7fa0_0000));
        assert!(f64_matches(
            &NanPattern::CanonicalNan,
            0xfff8_0000_0000_0000
        ));
        assert!(!f64_matches(
            &NanPattern::CanonicalNan,
            0x7ff8_0000_0000_0001
        ));
        assert!(f64_matches(
            &NanPattern::ArithmeticNan,
            0x7ff8_0000_0000_0001
        ));
        assert!(!f64_matches(
            &NanPattern::ArithmeticNan,
            0x7ff4_0000_0000_0000
        ));
        assert!(!f64_matches(
            &NanPattern::ArithmeticNan,
            0x7ff0_0000_0000_0000
        ));
    }

    #[test]
    fn exact_float_bits() {
        let neg_zero = NanPattern::Value(F32 { bits: 0x8000_0000 });
        assert!(f32_matches(&neg_zero, 0x8000_0000));
        assert!(!f32_matches(&neg_zero, 0));
    }

    #[test]
    fn v128_lanes() {
        let v = u128::from_le_bytes([1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        assert!(v128_matches(&V128Pattern::I32x4([1, 2, 3, -1]), v));
        assert!(!v128_matches(&V128Pattern::I32x4([1, 2, 3, 4]), v));
        let nan = u128::from(F32_CANONICAL_NAN) << 96;
        let pat = V128Pattern::F32x4([
            NanPattern::Value(F32 { bits: 0 }),
            NanPattern::Value(F32 { bits: 0 }),
            NanPattern::Value(F32 { bits: 0 }),
            NanPattern::CanonicalNan,
        ]);
        assert!(v128_matches(&pat, nan));
    }
}

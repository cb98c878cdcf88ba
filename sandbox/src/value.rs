//! Values crossing the sandbox boundary: `Val` for dynamic calls, and the typed
//! parameter/result lists of `Sandbox::call` (Kiln's `WasmParams`, plus a conversion
//! to `Val`s for backends without Kiln's typed calls).

use crate::error::Error;
use std::fmt;

/// A wasm value type, as the sandbox reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValType {
    /// `i32`
    I32,
    /// `i64`
    I64,
    /// `f32`
    F32,
    /// `f64`
    F64,
    /// `v128`
    V128,
    /// `funcref` (not passable through the sandbox API)
    FuncRef,
    /// `externref` (not passable through the sandbox API)
    ExternRef,
}

impl fmt::Display for ValType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValType::I32 => "i32",
            ValType::I64 => "i64",
            ValType::F32 => "f32",
            ValType::F64 => "f64",
            ValType::V128 => "v128",
            ValType::FuncRef => "funcref",
            ValType::ExternRef => "externref",
        })
    }
}

/// A wasm value passed to or returned from [`crate::Sandbox::call_dynamic`]. References
/// never cross the sandbox boundary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Val {
    /// `i32`
    I32(i32),
    /// `i64`
    I64(i64),
    /// `f32`
    F32(f32),
    /// `f64`
    F64(f64),
    /// `v128`
    V128(u128),
}

impl Val {
    /// Its type.
    pub fn ty(&self) -> ValType {
        match self {
            Val::I32(_) => ValType::I32,
            Val::I64(_) => ValType::I64,
            Val::F32(_) => ValType::F32,
            Val::F64(_) => ValType::F64,
            Val::V128(_) => ValType::V128,
        }
    }

    /// The `i32`, if it is one.
    pub fn i32(&self) -> Option<i32> {
        match self {
            Val::I32(v) => Some(*v),
            _ => None,
        }
    }

    /// The `i64`, if it is one.
    pub fn i64(&self) -> Option<i64> {
        match self {
            Val::I64(v) => Some(*v),
            _ => None,
        }
    }

    /// The `f32`, if it is one.
    pub fn f32(&self) -> Option<f32> {
        match self {
            Val::F32(v) => Some(*v),
            _ => None,
        }
    }

    /// The `f64`, if it is one.
    pub fn f64(&self) -> Option<f64> {
        match self {
            Val::F64(v) => Some(*v),
            _ => None,
        }
    }
}

/// Types as text, `i32, i64`, for error messages.
pub(crate) fn type_list(ts: &[ValType]) -> String {
    ts.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A signature as text, `(i32, i32) -> (i32)`, for error messages.
pub(crate) fn signature(params: &[ValType], results: &[ValType]) -> String {
    format!("({}) -> ({})", type_list(params), type_list(results))
}

mod sealed {
    pub trait Sealed {}
}

/// A Rust type that is a wasm value: `i32`, `u32`, `i64`, `u64`, `f32`, `f64`, `u128`
/// (`v128`).
pub trait WasmType: kiln::WasmTy + sealed::Sealed {
    /// Its wasm type.
    const VAL_TYPE: ValType;
    /// As a `Val`.
    fn into_val(self) -> Val;
    /// From a `Val` of type `VAL_TYPE`.
    fn from_val(v: Val) -> Option<Self>;
}

macro_rules! wasm_type {
    ($($t:ty => $vt:ident, |$v:ident| $to:expr, $from:pat => $back:expr;)*) => {$(
        impl sealed::Sealed for $t {}
        impl WasmType for $t {
            const VAL_TYPE: ValType = ValType::$vt;
            fn into_val(self) -> Val {
                let $v = self;
                $to
            }
            fn from_val(v: Val) -> Option<Self> {
                match v {
                    $from => Some($back),
                    _ => None,
                }
            }
        }
    )*};
}

wasm_type! {
    i32 => I32, |v| Val::I32(v), Val::I32(x) => x;
    u32 => I32, |v| Val::I32(v as i32), Val::I32(x) => x as u32;
    i64 => I64, |v| Val::I64(v), Val::I64(x) => x;
    u64 => I64, |v| Val::I64(v as i64), Val::I64(x) => x as u64;
    f32 => F32, |v| Val::F32(v), Val::F32(x) => x;
    f64 => F64, |v| Val::F64(v), Val::F64(x) => x;
    u128 => V128, |v| Val::V128(v), Val::V128(x) => x;
}

/// The parameters or results of a typed call: `()`, a [`WasmType`], or a tuple of up
/// to ten of them. Kiln calls them through its `TypedFunc` (these are Kiln's
/// `WasmParams`); other backends through `Val`s.
pub trait WasmValues: kiln::WasmParams + kiln::WasmResults + sealed::Sealed + Sized {
    /// The wasm types, in order.
    fn val_types() -> Vec<ValType>;
    /// As `Val`s.
    fn into_vals(self) -> Vec<Val>;
    /// From `Val`s of `val_types()`.
    fn from_vals(vals: &[Val]) -> Option<Self>;
}

impl<A: WasmType> WasmValues for A {
    fn val_types() -> Vec<ValType> {
        vec![A::VAL_TYPE]
    }
    fn into_vals(self) -> Vec<Val> {
        vec![self.into_val()]
    }
    fn from_vals(vals: &[Val]) -> Option<Self> {
        match vals {
            [v] => A::from_val(*v),
            _ => None,
        }
    }
}

macro_rules! tuples {
    ($(($($n:ident $i:tt),*);)*) => {$(
        impl<$($n: WasmType),*> sealed::Sealed for ($($n,)*) {}
        impl<$($n: WasmType),*> WasmValues for ($($n,)*) {
            fn val_types() -> Vec<ValType> {
                vec![$($n::VAL_TYPE),*]
            }
            #[allow(unused_variables, reason = "the empty tuple has no values")]
            fn into_vals(self) -> Vec<Val> {
                vec![$(self.$i.into_val()),*]
            }
            #[allow(clippy::unused_unit, reason = "the empty tuple has no values")]
            fn from_vals(vals: &[Val]) -> Option<Self> {
                if vals.len() != Self::val_types().len() {
                    return None;
                }
                Some(($($n::from_val(vals[$i])?,)*))
            }
        }
    )*};
}

tuples! {
    ();
    (A 0);
    (A 0, B 1);
    (A 0, B 1, C 2);
    (A 0, B 1, C 2, D 3);
    (A 0, B 1, C 2, D 3, E 4);
    (A 0, B 1, C 2, D 3, E 4, F 5);
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6);
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
}

/// Checks `vals` against `types` (a dynamic call's arguments).
pub(crate) fn check_args(name: &str, vals: &[Val], types: &[ValType]) -> Result<(), Error> {
    let given: Vec<ValType> = vals.iter().map(Val::ty).collect();
    if given == types {
        Ok(())
    } else {
        Err(Error::Type(format!(
            "`{name}` takes ({}), called with ({})",
            type_list(types),
            type_list(&given)
        )))
    }
}

/// Refuses a signature with reference types (they never cross the boundary).
pub(crate) fn check_no_refs(
    name: &str,
    params: &[ValType],
    results: &[ValType],
) -> Result<(), Error> {
    let is_ref = |t: &ValType| matches!(t, ValType::FuncRef | ValType::ExternRef);
    if params.iter().chain(results).any(is_ref) {
        return Err(Error::Type(format!(
            "`{name}` is {}: reference types cannot cross the sandbox boundary",
            signature(params, results)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuples_round_trip() {
        let vals = (1i32, 2u64, 1.5f32).into_vals();
        assert_eq!(vals, vec![Val::I32(1), Val::I64(2), Val::F32(1.5)]);
        assert_eq!(<(i32, u64, f32)>::from_vals(&vals), Some((1, 2, 1.5)));
        assert_eq!(<(i32, i32)>::from_vals(&vals), None);
        assert_eq!(<()>::from_vals(&[]), Some(()));
        assert_eq!(<(i32, i64)>::val_types(), vec![ValType::I32, ValType::I64]);
    }

    #[test]
    fn arg_check_names_both_signatures() {
        let e = check_args("f", &[Val::I64(1)], &[ValType::I32]).map_err(|e| e.to_string());
        assert_eq!(
            e,
            Err("type mismatch: `f` takes (i32), called with (i64)".to_string())
        );
    }
}

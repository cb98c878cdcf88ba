//! Statically typed calls: `TypedFunc` and `Func::wrap`, without `Val` marshalling.

use crate::error::{Error, Result};
use crate::func::{Caller, Func, HostCallable, HostExtras, TypedCallable};
use crate::store::{AsContextMut, StoreInner};
use crate::types::{FuncType, ValType};
use crate::vm::{self, NoReg, ValRaw};
use std::marker::PhantomData;

/// A Rust type that is a wasm value type.
pub trait WasmTy: Copy + Send + Sync + 'static {
    /// Its wasm type.
    const TYPE: ValType;
    /// Into a raw slot.
    fn to_raw(self) -> ValRaw;
    /// Out of a raw slot.
    fn from_raw(raw: ValRaw) -> Self;
    /// How a typed host function's direct entry takes or returns it: in a register
    /// (`i32`, `i64`, `f32`, `f64`), or not at all (`NoReg`: a function with such a
    /// value has no direct entry).
    #[doc(hidden)]
    type Reg: vm::RegValue;
    /// Into its register.
    #[doc(hidden)]
    fn to_reg(self) -> Self::Reg;
    /// Out of its register.
    #[doc(hidden)]
    fn from_reg(reg: Self::Reg) -> Self;
}

macro_rules! wasm_ty {
    ($($t:ty => $vt:ident, |$v:ident| $to:expr, |$r:ident| $from:expr,
        $reg:ty, |$rv:ident| $to_reg:expr, |$rr:ident| $from_reg:expr;)*) => {$(
        impl WasmTy for $t {
            const TYPE: ValType = ValType::$vt;
            type Reg = $reg;
            fn to_raw(self) -> ValRaw {
                let $v = self;
                $to
            }
            fn from_raw($r: ValRaw) -> Self {
                $from
            }
            #[allow(clippy::unnecessary_cast, reason = "the same expression serves every type")]
            fn to_reg(self) -> $reg {
                let $rv = self;
                $to_reg
            }
            #[allow(clippy::unnecessary_cast, reason = "the same expression serves every type")]
            fn from_reg($rr: $reg) -> Self {
                $from_reg
            }
        }
    )*};
}

wasm_ty! {
    i32 => I32, |v| ValRaw::i32(v), |r| r.get_i32(), i32, |v| v, |r| r;
    u32 => I32, |v| ValRaw::i32(v as i32), |r| r.get_u32(), i32, |v| v as i32, |r| r as u32;
    i64 => I64, |v| ValRaw::i64(v), |r| r.get_i64(), i64, |v| v, |r| r;
    u64 => I64, |v| ValRaw::i64(v as i64), |r| r.get_u64(), i64, |v| v as i64, |r| r as u64;
    f32 => F32, |v| ValRaw::bits(v.to_bits().into()), |r| f32::from_bits(r.get_u32()),
        f32, |v| v, |r| r;
    f64 => F64, |v| ValRaw::bits(v.to_bits()), |r| f64::from_bits(r.get_u64()),
        f64, |v| v, |r| r;
    // No direct entry takes a v128 (`NoReg`), so these two are never called.
    u128 => V128, |v| ValRaw(v), |r| r.0, NoReg, |_v| NoReg, |_r| 0;
}

/// Parameters of a typed call: a `WasmTy` or a tuple of them.
pub trait WasmParams: Send + Sync + 'static {
    /// How many values.
    const COUNT: usize;
    /// The wasm types.
    fn types() -> Vec<ValType>;
    /// Writes the values into the first slots.
    fn store(self, values: &mut [ValRaw]);
    /// Reads the values from the first slots.
    fn load(values: &[ValRaw]) -> Self;
    /// As the result of a typed host function's direct entry: `()`, one value in a
    /// register, or `NoReg` (no direct entry) for anything else.
    #[doc(hidden)]
    type RegResult: vm::RegValue;
    /// Into that result.
    #[doc(hidden)]
    fn to_reg_result(self) -> Self::RegResult;
}

/// Results of a typed call: `()`, a `WasmTy` or a tuple of them.
pub trait WasmResults: WasmParams {}
impl<T: WasmParams> WasmResults for T {}

impl<A: WasmTy> WasmParams for A {
    const COUNT: usize = 1;
    fn types() -> Vec<ValType> {
        vec![A::TYPE]
    }
    fn store(self, values: &mut [ValRaw]) {
        values[0] = self.to_raw();
    }
    fn load(values: &[ValRaw]) -> Self {
        A::from_raw(values[0])
    }
    type RegResult = A::Reg;
    fn to_reg_result(self) -> A::Reg {
        self.to_reg()
    }
}

macro_rules! tuples {
    ($(($($n:ident $i:tt),*) => $reg:ty, |$rs:ident| $to_reg:expr;)*) => {$(
        impl<$($n: WasmTy),*> WasmParams for ($($n,)*) {
            const COUNT: usize = <[&str]>::len(&[$(stringify!($n)),*]);
            fn types() -> Vec<ValType> {
                vec![$($n::TYPE),*]
            }
            #[allow(unused_variables, reason = "the empty tuple has no values")]
            fn store(self, values: &mut [ValRaw]) {
                $(values[$i] = self.$i.to_raw();)*
            }
            #[allow(unused_variables, clippy::unused_unit, reason = "the empty tuple has no values")]
            fn load(values: &[ValRaw]) -> Self {
                ($($n::from_raw(values[$i]),)*)
            }
            type RegResult = $reg;
            #[allow(clippy::unused_unit, reason = "the empty tuple's result is `()`")]
            fn to_reg_result(self) -> $reg {
                let $rs = self;
                $to_reg
            }
        }
    )*};
}

// Only `()` and one value come back in a register.
tuples! {
    () => (), |_r| ();
    (A 0) => A::Reg, |r| r.0.to_reg();
    (A 0, B 1) => NoReg, |_r| NoReg;
    (A 0, B 1, C 2) => NoReg, |_r| NoReg;
    (A 0, B 1, C 2, D 3) => NoReg, |_r| NoReg;
    (A 0, B 1, C 2, D 3, E 4) => NoReg, |_r| NoReg;
    (A 0, B 1, C 2, D 3, E 4, F 5) => NoReg, |_r| NoReg;
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6) => NoReg, |_r| NoReg;
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7) => NoReg, |_r| NoReg;
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8) => NoReg, |_r| NoReg;
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9) => NoReg, |_r| NoReg;
}

/// A function whose signature was checked against `P -> R`.
#[derive(Debug)]
pub struct TypedFunc<P, R> {
    func: Func,
    _marker: PhantomData<fn(P) -> R>,
}

impl<P, R> Clone for TypedFunc<P, R> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<P, R> Copy for TypedFunc<P, R> {}

impl<P: WasmParams, R: WasmResults> TypedFunc<P, R> {
    pub(crate) fn new(func: Func) -> Self {
        TypedFunc {
            func,
            _marker: PhantomData,
        }
    }

    /// The untyped function.
    pub fn func(&self) -> &Func {
        &self.func
    }

    /// Calls the function.
    pub fn call(&self, mut store: impl AsContextMut, params: P) -> Result<R> {
        let store = store.as_context_mut();
        store.opaque.check(self.func.store)?;
        let n = P::COUNT.max(R::COUNT);
        let mut buf = [ValRaw::default(); 8];
        let mut heap;
        let values: &mut [ValRaw] = if n <= buf.len() {
            &mut buf[..n]
        } else {
            heap = vec![ValRaw::default(); n];
            &mut heap
        };
        params.store(values);
        self.func.call_raw(store, values)?;
        Ok(R::load(values))
    }
}

/// What a typed host closure returns: results, or a `Result` of them.
pub trait WasmRet: Send + 'static {
    /// The result values.
    type Results: WasmResults;
    /// Separates success and failure.
    fn into_result(self) -> Result<Self::Results>;
}

impl<R: WasmResults> WasmRet for R {
    type Results = R;
    fn into_result(self) -> Result<R> {
        Ok(self)
    }
}

/// `Result<R, E>` for any error that converts into Kiln's: Kiln's own, `anyhow::Error`
/// (as Wasmtime host code returns), a `TrapCode`.
impl<R: WasmResults, E: Into<Error> + Send + 'static> WasmRet for std::result::Result<R, E> {
    type Results = R;
    fn into_result(self) -> Result<R> {
        self.map_err(Into::into)
    }
}

/// A closure usable as a typed host function. `Params` is a marker: `(Caller, A, B)`
/// for closures taking a `Caller` first, `(A, B)` otherwise.
pub trait IntoFunc<T, Params, Results>: Send + Sync + 'static {
    /// Registers the closure in `store`.
    fn into_func(self, store: &mut StoreInner<T>) -> Func
    where
        Self: Sized,
    {
        self.into_func_with(store, HostExtras::default())
    }

    /// Registers the closure in `store` with `extras`.
    #[doc(hidden)]
    fn into_func_with(self, store: &mut StoreInner<T>, extras: HostExtras) -> Func;

    /// The function's type.
    #[doc(hidden)]
    fn func_type(&self) -> FuncType;
}

/// A typed host closure and its signature marker.
struct Typed<F, M>(F, PhantomData<fn() -> M>);

macro_rules! into_func {
    ($(($($a:ident $i:tt),*);)*) => {$(
        impl<T: 'static, F, R, $($a: WasmTy),*> HostCallable<T> for Typed<F, (Caller<'static, T>, $($a,)*)>
        where
            F: Fn(Caller<'_, T>, $($a),*) -> R + Send + Sync + 'static,
            R: WasmRet,
        {
            fn call(&self, caller: Caller<'_, T>, values: &mut [ValRaw]) -> Result<()> {
                let r = (self.0)(caller, $($a::from_raw(values[$i])),*).into_result()?;
                r.store(values);
                Ok(())
            }
        }

        impl<T: 'static, F, R, $($a: WasmTy),*> TypedCallable<T, ($($a::Reg,)*)> for Typed<F, (Caller<'static, T>, $($a,)*)>
        where
            F: Fn(Caller<'_, T>, $($a),*) -> R + Send + Sync + 'static,
            R: WasmRet,
        {
            type Ret = <R::Results as WasmParams>::RegResult;
            #[allow(unused_variables, reason = "nullary functions take no registers")]
            fn call_typed(&self, caller: Caller<'_, T>, params: ($($a::Reg,)*)) -> Result<Self::Ret> {
                let r = (self.0)(caller, $($a::from_reg(params.$i)),*).into_result()?;
                Ok(r.to_reg_result())
            }
        }

        impl<T: 'static, F, R, $($a: WasmTy),*> IntoFunc<T, (Caller<'static, T>, $($a,)*), R> for F
        where
            F: Fn(Caller<'_, T>, $($a),*) -> R + Send + Sync + 'static,
            R: WasmRet,
        {
            fn into_func_with(self, store: &mut StoreInner<T>, extras: HostExtras) -> Func {
                let ty = <Self as IntoFunc<T, (Caller<'static, T>, $($a,)*), R>>::func_type(&self);
                Func::new_typed_host::<T, ($($a::Reg,)*), _>(store, &ty, Typed::<F, (Caller<'static, T>, $($a,)*)>(self, PhantomData), extras)
            }

            fn func_type(&self) -> FuncType {
                FuncType::new(vec![$($a::TYPE),*], R::Results::types())
            }
        }

        impl<T: 'static, F, R, $($a: WasmTy),*> HostCallable<T> for Typed<F, ($($a,)*)>
        where
            F: Fn($($a),*) -> R + Send + Sync + 'static,
            R: WasmRet,
        {
            #[allow(unused_variables, reason = "nullary functions read no slots")]
            fn call(&self, caller: Caller<'_, T>, values: &mut [ValRaw]) -> Result<()> {
                let r = (self.0)($($a::from_raw(values[$i])),*).into_result()?;
                r.store(values);
                Ok(())
            }
        }

        impl<T: 'static, F, R, $($a: WasmTy),*> TypedCallable<T, ($($a::Reg,)*)> for Typed<F, ($($a,)*)>
        where
            F: Fn($($a),*) -> R + Send + Sync + 'static,
            R: WasmRet,
        {
            type Ret = <R::Results as WasmParams>::RegResult;
            #[allow(unused_variables, reason = "nullary functions take no registers")]
            fn call_typed(&self, caller: Caller<'_, T>, params: ($($a::Reg,)*)) -> Result<Self::Ret> {
                let r = (self.0)($($a::from_reg(params.$i)),*).into_result()?;
                Ok(r.to_reg_result())
            }
        }

        impl<T: 'static, F, R, $($a: WasmTy),*> IntoFunc<T, ($($a,)*), R> for F
        where
            F: Fn($($a),*) -> R + Send + Sync + 'static,
            R: WasmRet,
        {
            fn into_func_with(self, store: &mut StoreInner<T>, extras: HostExtras) -> Func {
                let ty = <Self as IntoFunc<T, ($($a,)*), R>>::func_type(&self);
                Func::new_typed_host::<T, ($($a::Reg,)*), _>(store, &ty, Typed::<F, ($($a,)*)>(self, PhantomData), extras)
            }

            fn func_type(&self) -> FuncType {
                FuncType::new(vec![$($a::TYPE),*], R::Results::types())
            }
        }
    )*};
}

into_func! {
    ();
    (A 0);
    (A 0, B 1);
    (A 0, B 1, C 2);
    (A 0, B 1, C 2, D 3);
    (A 0, B 1, C 2, D 3, E 4);
    (A 0, B 1, C 2, D 3, E 4, F2 5);
    (A 0, B 1, C 2, D 3, E 4, F2 5, G 6);
    (A 0, B 1, C 2, D 3, E 4, F2 5, G 6, H 7);
    (A 0, B 1, C 2, D 3, E 4, F2 5, G 6, H 7, I 8);
    (A 0, B 1, C 2, D 3, E 4, F2 5, G 6, H 7, I 8, J 9);
}

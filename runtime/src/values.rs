//! `Val`, `ExternRef`, and conversion to and from raw slots.

use crate::error::{Error, Result};
use crate::func::Func;
use crate::store::{AsContext, AsContextMut, StoreId, StoreOpaque};
use crate::types::{HeapType, RefType, ValType};
use crate::vm::ValRaw;
use std::any::Any;

/// A reference to a host value, usable as `externref`. Lives as long as its store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExternRef {
    pub(crate) store: StoreId,
    pub(crate) index: usize,
}

impl ExternRef {
    /// Wraps `value` for wasm.
    pub fn new(mut store: impl AsContextMut, value: impl Any + Send + Sync) -> ExternRef {
        let s = &mut store.as_context_mut().opaque;
        s.externrefs.push(Box::new(value));
        ExternRef {
            store: s.id,
            index: s.externrefs.len() - 1,
        }
    }

    /// The host value (use `downcast_ref`). Panics if `store` is not the owning store.
    pub fn data<'a, S: AsContext>(&self, store: &'a S) -> &'a (dyn Any + Send + Sync) {
        let s = &store.as_context().opaque;
        assert_eq!(s.id, self.store, "externref used with another store");
        &*s.externrefs[self.index]
    }
}

/// A wasm value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Val {
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
    /// `funcref`
    FuncRef(Option<Func>),
    /// `externref`
    ExternRef(Option<ExternRef>),
}

impl Val {
    /// The value's type.
    pub fn ty(&self) -> ValType {
        match self {
            Val::I32(_) => ValType::I32,
            Val::I64(_) => ValType::I64,
            Val::F32(_) => ValType::F32,
            Val::F64(_) => ValType::F64,
            Val::V128(_) => ValType::V128,
            Val::FuncRef(_) => ValType::FUNCREF,
            Val::ExternRef(_) => ValType::EXTERNREF,
        }
    }

    /// The null reference of `ty`'s kind (a function or a host reference).
    pub fn null(ty: RefType) -> Val {
        if ty.is_func() {
            Val::FuncRef(None)
        } else {
            Val::ExternRef(None)
        }
    }

    /// The zero value of `ty` (null for references).
    pub fn default_for(ty: ValType) -> Val {
        match ty {
            ValType::I32 => Val::I32(0),
            ValType::I64 => Val::I64(0),
            ValType::F32 => Val::F32(0),
            ValType::F64 => Val::F64(0),
            ValType::V128 => Val::V128(0),
            ValType::Ref(r) => Val::null(r),
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
            Val::F32(v) => Some(f32::from_bits(*v)),
            _ => None,
        }
    }

    /// The `f64`, if it is one.
    pub fn f64(&self) -> Option<f64> {
        match self {
            Val::F64(v) => Some(f64::from_bits(*v)),
            _ => None,
        }
    }

    /// The raw slot for this value, checking it belongs to `store`.
    pub(crate) fn to_raw(self, store: &StoreOpaque) -> Result<ValRaw> {
        Ok(match self {
            Val::I32(v) => ValRaw::i32(v),
            Val::I64(v) => ValRaw::i64(v),
            Val::F32(v) => ValRaw::bits(v.into()),
            Val::F64(v) => ValRaw::bits(v),
            Val::V128(v) => ValRaw(v),
            Val::FuncRef(None) | Val::ExternRef(None) => ValRaw::bits(0),
            Val::FuncRef(Some(f)) => {
                store.check(f.store)?;
                ValRaw::bits(store.funcs[f.index].func_ref as u64)
            }
            Val::ExternRef(Some(e)) => {
                store.check(e.store)?;
                ValRaw::bits(e.index as u64 + 1)
            }
        })
    }

    /// The value of type `ty` in `raw`.
    pub(crate) fn from_raw(store: &StoreOpaque, raw: ValRaw, ty: ValType) -> Val {
        match ty {
            ValType::I32 => Val::I32(raw.get_i32()),
            ValType::I64 => Val::I64(raw.get_i64()),
            ValType::F32 => Val::F32(raw.get_u32()),
            ValType::F64 => Val::F64(raw.get_u64()),
            ValType::V128 => Val::V128(raw.0),
            ValType::Ref(r) if r.is_func() => {
                Val::FuncRef(func_from_raw(store, raw.get_u64() as usize))
            }
            ValType::Ref(_) => Val::ExternRef(match raw.get_u64() {
                0 => None,
                n => Some(ExternRef {
                    store: store.id,
                    index: n as usize - 1,
                }),
            }),
        }
    }
}

/// The `Func` behind a raw funcref (0 = null).
pub(crate) fn func_from_raw(store: &StoreOpaque, raw: usize) -> Option<Func> {
    if raw == 0 {
        return None;
    }
    let index = *store
        .func_by_ref
        .get(&raw)
        .expect("every funcref in a store names one of its functions");
    Some(Func {
        store: store.id,
        index,
    })
}

/// Checks `v` is a value of `ty` (whose signatures are engine-wide ids): a null only
/// for a nullable type, a function of signature `$t` for `(ref $t)`. Generated code
/// relies on it: `call_ref` does not check signatures.
pub(crate) fn check_type(store: &StoreOpaque, v: &Val, ty: ValType, what: &str) -> Result<()> {
    let fits = match (v, ty) {
        (Val::FuncRef(f), ValType::Ref(r)) if r.is_func() => match (f, r.heap) {
            (None, _) => r.nullable,
            (Some(f), HeapType::Concrete(id)) => {
                store.check(f.store)?;
                store.funcs[f.index].type_id == id
            }
            (Some(_), _) => true,
        },
        (Val::ExternRef(e), ValType::Ref(r)) if r.heap == HeapType::Extern => {
            e.is_some() || r.nullable
        }
        (v, ty) => v.ty() == ty,
    };
    if fits {
        return Ok(());
    }
    let got = match v {
        Val::FuncRef(None) | Val::ExternRef(None) => format!("a null {}", v.ty()),
        Val::FuncRef(Some(f)) if store.id == f.store => format!(
            "a function of type {}",
            store.engine.func_type(store.funcs[f.index].type_id)
        ),
        v => v.ty().to_string(),
    };
    Err(Error::ty(format!("{what}: expected {ty}, got {got}")))
}

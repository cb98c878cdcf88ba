//! Inlinable host functions: [`InlineBuilder`] describes a host function's body with
//! safe, typed operations; [`Linker::func_inline`](crate::Linker::func_inline) defines
//! it, and a module compiled by that linker ([`Linker::module`](crate::Linker::module))
//! has the body lowered in place of every `call` of the import, with no call at all.
//!
//! The body is a fast path of an ordinary typed host function given beside it, which
//! runs whenever the body is not inlined (calls through tables, from the host, from a
//! module compiled without the linker) and whenever the body says so
//! ([`InlineBuilder::fallback_if`]): the two must agree. What the builder offers:
//! constants, integer and float arithmetic, comparisons and selects; loads and stores
//! of the calling instance's memory 0, bounds-checked like wasm's own, and a bounds
//! test; the store's [`StoreCell`]s, which host code reads and writes too; and calls of
//! plain `extern "C"` functions ([`ExternFn`]). No raw pointer reaches the embedder,
//! and every operation is type-checked as it is added.

use crate::error::{Error, Result};
use crate::inlined::InlineImport;
use crate::store::{AsContext, AsContextMut, StoreId};
use crate::types::{FuncType, ValType};
use kiln_jit::{BinaryOp, CompareOp, ConvertOp, ExternSignature, InlineBody, InlineOp, InlineType};
use std::marker::PhantomData;
use std::sync::Arc;

/// A value a [`StoreCell`] holds, or an inline body computes: `i32`, `u32`, `i64`,
/// `u64`, `f32` or `f64`.
pub trait InlineTy: Copy + Send + Sync + 'static {
    /// Its type in a body.
    #[doc(hidden)]
    const INLINE: InlineType;
    /// Into a cell's 8 bytes.
    #[doc(hidden)]
    fn to_bits(self) -> u64;
    /// Out of a cell's 8 bytes.
    #[doc(hidden)]
    fn from_bits(bits: u64) -> Self;
}

macro_rules! inline_ty {
    ($($t:ty => $k:ident, $to:expr, $from:expr;)*) => {$(
        impl InlineTy for $t {
            const INLINE: InlineType = InlineType::$k;
            fn to_bits(self) -> u64 {
                let f: fn($t) -> u64 = $to;
                f(self)
            }
            fn from_bits(bits: u64) -> Self {
                let f: fn(u64) -> $t = $from;
                f(bits)
            }
        }
    )*};
}

inline_ty! {
    i32 => I32, |v| u64::from(v as u32), |b| b as u32 as i32;
    u32 => I32, u64::from, |b| b as u32;
    i64 => I64, |v| v as u64, |b| b as i64;
    u64 => I64, |v| v, |b| b;
    f32 => F32, |v| u64::from(v.to_bits()), |b| f32::from_bits(b as u32);
    f64 => F64, f64::to_bits, f64::from_bits;
}

/// A value a store holds for inlined host functions and host code alike: an 8-byte
/// slot of the store (at most [`kiln_jit::MAX_CELLS`] per store).
#[derive(Debug)]
pub struct StoreCell<T> {
    pub(crate) store: StoreId,
    pub(crate) index: u32,
    _ty: PhantomData<fn() -> T>,
}

impl<T> Clone for StoreCell<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for StoreCell<T> {}

impl<T: InlineTy> StoreCell<T> {
    /// A new cell of `store` holding `value`, which inlined host functions
    /// ([`InlineBuilder::cell_get`], [`InlineBuilder::cell_set`]) and host code
    /// ([`StoreCell::get`], [`StoreCell::set`]) share. A store has at most
    /// [`kiln_jit::MAX_CELLS`].
    pub fn new(mut store: impl AsContextMut, value: T) -> Result<Self> {
        let store = &mut store.as_context_mut().opaque;
        let index = store.new_cell(value.to_bits())?;
        Ok(StoreCell {
            store: store.id,
            index,
            _ty: PhantomData,
        })
    }

    /// The cell's value in `store`. Panics if the cell belongs to another store.
    pub fn get(&self, store: impl AsContext) -> T {
        T::from_bits(store.as_context().opaque.cell(self.store, self.index))
    }

    /// Sets the cell's value in `store`. Panics if the cell belongs to another store.
    pub fn set(&self, mut store: impl AsContextMut, value: T) {
        store
            .as_context_mut()
            .opaque
            .set_cell(self.store, self.index, value.to_bits());
    }
}

/// A plain `extern "C"` function an inline body may call: parameters and result of
/// [`InlineTy`] types (at most one result, `()` for none), at most six parameters.
/// Implemented for the function pointer types, which are safe to call: Kiln calls it
/// with exactly its signature.
pub trait ExternFn: Copy + Send + Sync + 'static {
    /// Its signature.
    #[doc(hidden)]
    fn signature() -> ExternSignature;
    /// Its address.
    #[doc(hidden)]
    fn address(self) -> usize;
}

/// A result type of an [`ExternFn`].
pub trait ExternResult: 'static {
    /// Its type, if any.
    #[doc(hidden)]
    const RESULT: Option<InlineType>;
}

impl ExternResult for () {
    const RESULT: Option<InlineType> = None;
}

impl<T: InlineTy> ExternResult for T {
    const RESULT: Option<InlineType> = Some(T::INLINE);
}

macro_rules! extern_fn {
    ($(($($a:ident),*);)*) => {$(
        impl<R: ExternResult, $($a: InlineTy),*> ExternFn for extern "C" fn($($a),*) -> R {
            fn signature() -> ExternSignature {
                ExternSignature {
                    params: vec![$($a::INLINE),*],
                    result: R::RESULT,
                }
            }
            fn address(self) -> usize {
                self as usize
            }
        }
    )*};
}

extern_fn! {
    ();
    (A);
    (A, B);
    (A, B, C);
    (A, B, C, D);
    (A, B, C, D, E);
    (A, B, C, D, E, F);
}

/// A value of a body under construction: the parameters, and each operation's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InlineVal {
    index: u32,
    builder: u64,
}

static NEXT_BUILDER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Describes an inlinable host function's body. Each method checks its operands'
/// types (and that they come from this builder) and refuses a mismatch with a
/// `Type` error naming it.
#[derive(Debug)]
pub struct InlineBuilder {
    id: u64,
    ty: FuncType,
    body: InlineBody,
    externs: Vec<usize>,
    cells: Option<StoreId>,
    memory_export: Option<String>,
}

/// A finished body: what [`Linker::func_inline`](crate::Linker::func_inline) takes.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct InlineFunc(pub(crate) Arc<InlineDef>);

#[derive(Debug)]
pub(crate) struct InlineDef {
    pub(crate) ty: FuncType,
    pub(crate) body: Arc<InlineBody>,
    /// A BLAKE3 hash of the body's canonical encoding.
    pub(crate) digest: [u8; 32],
    /// The extern functions' addresses, by number.
    pub(crate) externs: Box<[usize]>,
    /// The store whose cells the body uses, if any.
    pub(crate) cells: Option<StoreId>,
    /// Inline only where memory 0 is exported under this name.
    pub(crate) memory_export: Option<String>,
}

impl InlineFunc {
    /// The function's type.
    pub fn ty(&self) -> &FuncType {
        &self.0.ty
    }

    /// The body's fuel cost per call.
    pub fn fuel_cost(&self) -> u32 {
        self.0.body.fuel_cost()
    }
}

fn inline_type(t: ValType) -> Result<InlineType> {
    Ok(match t {
        ValType::I32 => InlineType::I32,
        ValType::I64 => InlineType::I64,
        ValType::F32 => InlineType::F32,
        ValType::F64 => InlineType::F64,
        other => {
            return Err(Error::ty(format!(
                "an inline host function takes and returns i32, i64, f32 and f64 only, not {other}"
            )))
        }
    })
}

fn refused(e: kiln_jit::InlineError) -> Error {
    Error::ty(format!("inline body: {e}"))
}

impl InlineBuilder {
    /// A builder for a function of type `ty` (`i32`, `i64`, `f32` and `f64`
    /// parameters and results only).
    pub fn new(ty: &FuncType) -> Result<Self> {
        let params = ty
            .params()
            .iter()
            .map(|&t| inline_type(t))
            .collect::<Result<Vec<_>>>()?;
        let results = ty
            .results()
            .iter()
            .map(|&t| inline_type(t))
            .collect::<Result<Vec<_>>>()?;
        Ok(InlineBuilder {
            id: NEXT_BUILDER.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            ty: ty.clone(),
            body: InlineBody::new(&params, &results),
            externs: Vec::new(),
            cells: None,
            memory_export: None,
        })
    }

    /// Inline the body only into modules that export their memory 0 as `name` (as a
    /// host function that finds the caller's memory by that export expects); other
    /// modules call the host function.
    pub fn memory_export(&mut self, name: &str) -> &mut Self {
        self.memory_export = Some(name.to_string());
        self
    }

    fn val(&self, index: u32) -> InlineVal {
        InlineVal {
            index,
            builder: self.id,
        }
    }

    fn ours(&self, v: InlineVal) -> Result<u32> {
        if v.builder != self.id {
            return Err(Error::ty(
                "inline body: a value of another builder was used",
            ));
        }
        Ok(v.index)
    }

    fn op(&mut self, op: InlineOp) -> Result<Option<InlineVal>> {
        let v = self.body.push(op).map_err(refused)?;
        Ok(v.map(|i| self.val(i)))
    }

    fn value(&mut self, op: InlineOp) -> Result<InlineVal> {
        Ok(self.op(op)?.expect("operations with results give a value"))
    }

    /// Parameter `i`.
    pub fn param(&self, i: u32) -> Result<InlineVal> {
        if i as usize >= self.body.params().len() {
            return Err(Error::ty(format!(
                "inline body: the function has {} parameters, not {}",
                self.body.params().len(),
                i + 1
            )));
        }
        Ok(self.val(i))
    }

    /// The type of `v`.
    pub fn type_of(&self, v: InlineVal) -> Result<ValType> {
        let t = self.body.type_of(self.ours(v)?).map_err(refused)?;
        Ok(match t {
            InlineType::I32 => ValType::I32,
            InlineType::I64 => ValType::I64,
            InlineType::F32 => ValType::F32,
            InlineType::F64 => ValType::F64,
        })
    }

    /// A constant.
    pub fn constant<T: InlineTy>(&mut self, value: T) -> Result<InlineVal> {
        self.value(InlineOp::Const {
            ty: T::INLINE,
            bits: value.to_bits(),
        })
    }

    fn binary(&mut self, op: BinaryOp, a: InlineVal, b: InlineVal) -> Result<InlineVal> {
        let (a, b) = (self.ours(a)?, self.ours(b)?);
        self.value(InlineOp::Binary { op, a, b })
    }

    /// `a + b` (wrapping for integers).
    pub fn add(&mut self, a: InlineVal, b: InlineVal) -> Result<InlineVal> {
        self.binary(BinaryOp::Add, a, b)
    }

    /// `a - b` (wrapping for integers).
    pub fn sub(&mut self, a: InlineVal, b: InlineVal) -> Result<InlineVal> {
        self.binary(BinaryOp::Sub, a, b)
    }

    /// `a * b` (wrapping for integers).
    pub fn mul(&mut self, a: InlineVal, b: InlineVal) -> Result<InlineVal> {
        self.binary(BinaryOp::Mul, a, b)
    }

    /// `a / b`, floats only (integer division can trap: call an extern function).
    pub fn div(&mut self, a: InlineVal, b: InlineVal) -> Result<InlineVal> {
        self.binary(BinaryOp::Div, a, b)
    }

    /// `a & b`.
    pub fn and(&mut self, a: InlineVal, b: InlineVal) -> Result<InlineVal> {
        self.binary(BinaryOp::And, a, b)
    }

    /// `a | b`.
    pub fn or(&mut self, a: InlineVal, b: InlineVal) -> Result<InlineVal> {
        self.binary(BinaryOp::Or, a, b)
    }

    /// `a ^ b`.
    pub fn xor(&mut self, a: InlineVal, b: InlineVal) -> Result<InlineVal> {
        self.binary(BinaryOp::Xor, a, b)
    }

    /// `a << b` (the amount modulo the width, as wasm's `shl`).
    pub fn shl(&mut self, a: InlineVal, b: InlineVal) -> Result<InlineVal> {
        self.binary(BinaryOp::Shl, a, b)
    }

    /// `a >> b`, arithmetic.
    pub fn shr_s(&mut self, a: InlineVal, b: InlineVal) -> Result<InlineVal> {
        self.binary(BinaryOp::ShrS, a, b)
    }

    /// `a >> b`, logical.
    pub fn shr_u(&mut self, a: InlineVal, b: InlineVal) -> Result<InlineVal> {
        self.binary(BinaryOp::ShrU, a, b)
    }

    /// The smaller float, as wasm's `min`.
    pub fn min(&mut self, a: InlineVal, b: InlineVal) -> Result<InlineVal> {
        self.binary(BinaryOp::Min, a, b)
    }

    /// The larger float, as wasm's `max`.
    pub fn max(&mut self, a: InlineVal, b: InlineVal) -> Result<InlineVal> {
        self.binary(BinaryOp::Max, a, b)
    }

    /// `a op b` as an `i32` 0 or 1.
    pub fn compare(&mut self, op: CompareOp, a: InlineVal, b: InlineVal) -> Result<InlineVal> {
        let (a, b) = (self.ours(a)?, self.ours(b)?);
        self.value(InlineOp::Compare { op, a, b })
    }

    /// A conversion.
    pub fn convert(&mut self, op: ConvertOp, a: InlineVal) -> Result<InlineVal> {
        let a = self.ours(a)?;
        self.value(InlineOp::Convert { op, a })
    }

    /// `if cond != 0 { a } else { b }`.
    pub fn select(&mut self, cond: InlineVal, a: InlineVal, b: InlineVal) -> Result<InlineVal> {
        let (cond, a, b) = (self.ours(cond)?, self.ours(a)?, self.ours(b)?);
        self.value(InlineOp::Select { cond, a, b })
    }

    /// Loads a `T` from the calling instance's memory 0 at `address + offset` (an
    /// `i32` address), trapping out of bounds as wasm does.
    pub fn load<T: InlineTy>(&mut self, address: InlineVal, offset: u32) -> Result<InlineVal> {
        let address = self.ours(address)?;
        self.value(InlineOp::Load {
            ty: T::INLINE,
            address,
            offset,
        })
    }

    /// Stores `value` to memory 0 at `address + offset`, trapping out of bounds.
    pub fn store(&mut self, address: InlineVal, offset: u32, value: InlineVal) -> Result<()> {
        let (address, value) = (self.ours(address)?, self.ours(value)?);
        self.op(InlineOp::Store {
            address,
            offset,
            value,
        })?;
        Ok(())
    }

    /// `i32` 1 when `address + offset .. + len` lies in memory 0, else 0.
    pub fn in_bounds(&mut self, address: InlineVal, offset: u32, len: u32) -> Result<InlineVal> {
        let address = self.ours(address)?;
        self.value(InlineOp::InBounds {
            address,
            offset,
            len,
        })
    }

    fn cell_store(&mut self, store: StoreId) -> Result<()> {
        match self.cells {
            Some(s) if s != store => Err(Error::ty(
                "inline body: its cells must all belong to one store",
            )),
            _ => {
                self.cells = Some(store);
                Ok(())
            }
        }
    }

    /// Reads `cell`.
    pub fn cell_get<T: InlineTy>(&mut self, cell: &StoreCell<T>) -> Result<InlineVal> {
        self.cell_store(cell.store)?;
        self.value(InlineOp::CellGet {
            ty: T::INLINE,
            cell: cell.index,
        })
    }

    /// Writes `value` (of the cell's type) to `cell`.
    pub fn cell_set<T: InlineTy>(&mut self, cell: &StoreCell<T>, value: InlineVal) -> Result<()> {
        self.cell_store(cell.store)?;
        let v = self.ours(value)?;
        let got = self.body.type_of(v).map_err(refused)?;
        if got != T::INLINE {
            return Err(Error::ty(format!(
                "inline body: a {} cell cannot hold a {got}",
                T::INLINE
            )));
        }
        self.op(InlineOp::CellSet {
            cell: cell.index,
            value: v,
        })?;
        Ok(())
    }

    /// Calls `f` with `args`; returns its result, if it has one.
    pub fn call_extern<F: ExternFn>(
        &mut self,
        f: F,
        args: &[InlineVal],
    ) -> Result<Option<InlineVal>> {
        let args = args
            .iter()
            .map(|&a| self.ours(a))
            .collect::<Result<Vec<_>>>()?;
        let func = self.body.declare_extern(F::signature());
        self.externs.push(f.address());
        self.op(InlineOp::CallExtern { func, args })
    }

    /// When `cond` (an `i32`) is non-zero, the host function given with the body runs
    /// instead, with the call's arguments, and its results are the call's: the body is
    /// a fast path, and what it does not handle goes the generic way.
    pub fn fallback_if(&mut self, cond: InlineVal) -> Result<()> {
        let cond = self.ours(cond)?;
        self.op(InlineOp::FallbackIf { cond })?;
        Ok(())
    }

    /// Charges `cost` fuel units per call (beyond the `call` itself), inlined or not.
    pub fn fuel_cost(&mut self, cost: u32) -> &mut Self {
        self.body.set_fuel_cost(cost);
        self
    }

    /// Ends the body, returning `results`.
    pub fn finish(mut self, results: &[InlineVal]) -> Result<InlineFunc> {
        let results = results
            .iter()
            .map(|&r| self.ours(r))
            .collect::<Result<Vec<_>>>()?;
        self.body.finish(&results).map_err(refused)?;
        let digest = *blake3::hash(&self.body.canonical_bytes()).as_bytes();
        Ok(InlineFunc(Arc::new(InlineDef {
            ty: self.ty,
            body: Arc::new(self.body),
            digest,
            externs: self.externs.into_boxed_slice(),
            cells: self.cells,
            memory_export: self.memory_export,
        })))
    }
}

impl InlineFunc {
    /// What a module compiled with this body needs of it.
    pub(crate) fn import(&self) -> InlineImport {
        InlineImport {
            ty: self.0.ty.clone(),
            body: self.0.body.clone(),
            digest: self.0.digest,
            memory_export: self.0.memory_export.clone(),
        }
    }
}

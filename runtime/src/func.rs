//! `Func`, host functions and `Caller`.

use crate::deadline::Deadline;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::externals::Extern;
use crate::instance::Instance;
use crate::store::{AsContext, AsContextMut, FuncData, FuncKind, StoreId, StoreInner};
use crate::typed::{TypedFunc, WasmParams, WasmResults};
use crate::types::FuncType;
use crate::values::{check_type, Val};
use crate::vm::{self, HostFuncCtx, ValRaw};
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A function of a store: defined by wasm or by the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Func {
    pub(crate) store: StoreId,
    pub(crate) index: usize,
}

/// A host function's body, called with the raw argument/result slots.
pub trait HostCallable<T>: Send + Sync + 'static {
    /// Reads arguments from `values` and writes results over them.
    fn call(&self, caller: Caller<'_, T>, values: &mut [ValRaw]) -> Result<()>;
}

/// A host function's body that can also be called with its parameters `P` in registers
/// (a tuple of `vm::RegValue`s; see `vm::TypedEntry`).
pub trait TypedCallable<T, P>: HostCallable<T> {
    /// The result, as it goes in a register.
    type Ret: vm::RegValue;
    /// Runs the body.
    fn call_typed(&self, caller: Caller<'_, T>, params: P) -> Result<Self::Ret>;
}

/// The store and calling instance, as seen by a host function.
pub struct Caller<'a, T> {
    pub(crate) store: &'a mut StoreInner<T>,
    instance: Option<usize>,
}

impl<'a, T> Caller<'a, T> {
    pub(crate) fn new(store: &'a mut StoreInner<T>, instance: Option<usize>) -> Self {
        Caller { store, instance }
    }

    /// The store's host data.
    pub fn data(&self) -> &T {
        &self.store.data
    }

    /// The store's host data, mutably.
    pub fn data_mut(&mut self) -> &mut T {
        &mut self.store.data
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.store.opaque.engine
    }

    /// Fuel left, exact at this call (see `Store::get_fuel`).
    pub fn get_fuel(&self) -> Result<u64> {
        self.store.opaque.get_fuel()
    }

    /// Replaces the fuel left; the calling wasm continues with it (see
    /// `Store::set_fuel`).
    pub fn set_fuel(&mut self, fuel: u64) -> Result<()> {
        self.store.opaque.set_fuel(fuel)
    }

    /// Moves the store's epoch deadline; the calling wasm continues with it (see
    /// `Store::set_epoch_deadline`).
    pub fn set_epoch_deadline(&mut self, ticks: u64) -> Result<()> {
        self.store.opaque.set_epoch_deadline(ticks)
    }

    /// The store's deadline as it stands at this call. A host function that waits
    /// (for input, a clock, a lock) or works for long should stop when it passes and
    /// return [`Deadline::interrupted`]: the runtime interrupts wasm, not host code.
    pub fn deadline(&self) -> Deadline {
        let s = &self.store.opaque;
        Deadline::new(&s.engine, s.vm.epoch_deadline(), &s.interrupted)
    }

    /// An export of the calling instance (`None` when called from the host).
    pub fn get_export(&mut self, name: &str) -> Option<Extern> {
        let index = self.instance?;
        let instance = Instance {
            store: self.store.opaque.id,
            index,
        };
        instance.get_export(&mut *self, name)
    }
}

impl<T> AsContext for Caller<'_, T> {
    type Data = T;
    fn as_context(&self) -> &StoreInner<T> {
        self.store
    }
}

impl<T> AsContextMut for Caller<'_, T> {
    fn as_context_mut(&mut self) -> &mut StoreInner<T> {
        self.store
    }
}

/// What a host function has beyond its body: for an inlinable one, the fuel each
/// call costs and the extern functions its inline body calls.
#[doc(hidden)]
#[derive(Default)]
pub struct HostExtras {
    pub(crate) fuel: u32,
    pub(crate) externs: Box<[usize]>,
    pub(crate) inline: Option<[u8; 32]>,
}

/// A host function bound to its store type: what `vm` calls.
struct HostFn<T, H> {
    callable: H,
    /// Fuel charged per call before the body runs (an inlinable function's declared
    /// cost, which its inlined body charges too).
    fuel: u32,
    /// The extern functions of its inline body (the context points at them).
    _externs: Box<[usize]>,
    _store: PhantomData<fn(T)>,
}

impl<T, H> HostFn<T, H> {
    /// Charges the declared fuel cost; `Err` (the `OutOfFuel` trap) if it is not left.
    fn charge(&self, store: &mut StoreInner<T>) -> Result<()> {
        if self.fuel == 0 || store.opaque.engine.config().fuel.is_none() {
            return Ok(());
        }
        let left = store.opaque.vm.fuel_left();
        if left < u64::from(self.fuel) {
            store.opaque.vm.set_fuel_left(0);
            return Err(crate::TrapCode::OutOfFuel.into());
        }
        store.opaque.vm.set_fuel_left(left - u64::from(self.fuel));
        Ok(())
    }
}

impl<T: 'static, H: HostCallable<T>> vm::HostCall for HostFn<T, H> {
    type Store = StoreInner<T>;

    /// Runs the callable, parking its error or panic in the store.
    fn call(&self, store: &mut StoreInner<T>, caller: Option<usize>, values: &mut [ValRaw]) -> u32 {
        let result = catch_unwind(AssertUnwindSafe(|| {
            self.charge(store)?;
            self.callable.call(Caller::new(store, caller), values)
        }));
        u32::from(parked(store, result).is_none())
    }
}

impl<T: 'static, P, H: TypedCallable<T, P>> vm::TypedHostCall<P> for HostFn<T, H> {
    type Ret = H::Ret;

    /// Runs the callable, parking its error or panic in the store.
    fn call_typed(
        &self,
        store: &mut StoreInner<T>,
        caller: Option<usize>,
        params: P,
    ) -> Option<H::Ret> {
        let result = catch_unwind(AssertUnwindSafe(|| {
            self.charge(store)?;
            self.callable.call_typed(Caller::new(store, caller), params)
        }));
        parked(store, result)
    }
}

/// A host function's outcome: its value, or `None` with its error or panic parked in
/// the store (to be reported once wasm has been unwound).
fn parked<T, R>(store: &mut StoreInner<T>, result: std::thread::Result<Result<R>>) -> Option<R> {
    match result {
        Ok(Ok(r)) => Some(r),
        Ok(Err(e)) => {
            store.opaque.set_pending_error(e);
            None
        }
        Err(panic) => {
            store.opaque.set_pending_panic(panic);
            None
        }
    }
}

/// A host function taking and returning `Val`s.
struct DynamicFunc<F> {
    ty: FuncType,
    f: F,
}

impl<T: 'static, F> HostCallable<T> for DynamicFunc<F>
where
    F: Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<()> + Send + Sync + 'static,
{
    fn call(&self, caller: Caller<'_, T>, values: &mut [ValRaw]) -> Result<()> {
        let params: Vec<Val> = self
            .ty
            .params()
            .iter()
            .zip(values.iter())
            .map(|(&t, &raw)| Val::from_raw(&caller.store.opaque, raw, t))
            .collect();
        let mut results: Vec<Val> = self
            .ty
            .results()
            .iter()
            .map(|&t| Val::default_for(t))
            .collect();
        let store = caller.store;
        (self.f)(Caller::new(store, caller.instance), &params, &mut results)?;
        for (i, (r, &t)) in results.iter().zip(self.ty.results()).enumerate() {
            check_type(&store.opaque, r, t, "host function result")?;
            values[i] = r.to_raw(&store.opaque)?;
        }
        Ok(())
    }
}

impl Func {
    /// A host function of type `ty` that takes and returns `Val`s.
    pub fn new<T: 'static>(
        mut store: impl AsContextMut<Data = T>,
        ty: FuncType,
        f: impl Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<()> + Send + Sync + 'static,
    ) -> Func {
        let ty2 = ty.clone();
        Func::new_host(store.as_context_mut(), &ty, DynamicFunc { ty: ty2, f })
    }

    /// A host function from a closure with typed parameters and results, optionally
    /// taking a `Caller` first. Arguments are read straight from the call's slots.
    pub fn wrap<T: 'static, Params, Results>(
        mut store: impl AsContextMut<Data = T>,
        f: impl crate::typed::IntoFunc<T, Params, Results>,
    ) -> Func {
        f.into_func(store.as_context_mut())
    }

    /// An inlinable host function in `store`: `f` with `body` as its inline body (see
    /// [`Linker::func_inline`](crate::Linker::func_inline), which is how a module comes
    /// to inline it). Refused if the types differ or the body's cells belong to another
    /// store.
    pub fn inline<T: 'static, Params, Results>(
        mut store: impl AsContextMut<Data = T>,
        body: &crate::InlineFunc,
        f: impl crate::typed::IntoFunc<T, Params, Results>,
    ) -> Result<Func> {
        let def = &body.0;
        let ty = f.func_type();
        if ty != def.ty {
            return Err(Error::ty(format!(
                "the inline body is a {} but the host function a {ty}",
                def.ty
            )));
        }
        let store = store.as_context_mut();
        if let Some(owner) = def.cells {
            store
                .opaque
                .check(owner)
                .map_err(|_| Error::ty("the inline body's cells belong to another store"))?;
        }
        let extras = HostExtras {
            fuel: def.body.fuel_cost(),
            externs: def.externs.clone(),
            inline: Some(def.digest),
        };
        Ok(f.into_func_with(store, extras))
    }

    pub(crate) fn new_host<T: 'static, H: HostCallable<T>>(
        store: &mut StoreInner<T>,
        ty: &FuncType,
        h: H,
    ) -> Func {
        Func::new_host_with(store, ty, h, std::ptr::null(), HostExtras::default())
    }

    /// A typed host function: with a direct entry taking its parameters in registers
    /// when they and its result fit (`vm::TypedEntry`).
    pub(crate) fn new_typed_host<T: 'static, P: vm::TypedEntry, H: TypedCallable<T, P>>(
        store: &mut StoreInner<T>,
        ty: &FuncType,
        h: H,
        extras: HostExtras,
    ) -> Func {
        let entry = P::entry::<HostFn<T, H>>();
        Func::new_host_with(store, ty, h, entry, extras)
    }

    fn new_host_with<T: 'static, H: HostCallable<T>>(
        store: &mut StoreInner<T>,
        ty: &FuncType,
        h: H,
        typed_entry: *const u8,
        extras: HostExtras,
    ) -> Func {
        let store_ptr: *mut StoreInner<T> = store;
        let s = &mut store.opaque;
        // A trampoline is a dozen instructions of fixed shape: failing to compile one
        // is a bug in Kiln, not a property of any input.
        let (code, index, type_id) = s
            .engine
            .host_trampoline(ty)
            .unwrap_or_else(|e| panic!("compiling the host trampoline for {ty} failed: {e}"));
        let externs = if extras.externs.is_empty() {
            std::ptr::null()
        } else {
            extras.externs.as_ptr()
        };
        let callable = HostFn {
            callable: h,
            fuel: extras.fuel,
            _externs: extras.externs,
            _store: PhantomData,
        };
        let store_context: *const vm::VMStoreContext = &*s.vm;
        // Wasm calls a typed entry directly where it can (see
        // `Compiler::wasm_calls_typed_host_entry`), else through the trampoline.
        let wasm_call =
            if !typed_entry.is_null() && s.engine.compiler().wasm_calls_typed_host_entry(ty) {
                typed_entry
            } else {
                code.function_address(index)
            };
        let ctx = HostFuncCtx::new(
            callable,
            wasm_call,
            type_id,
            store_ptr,
            store_context,
            typed_entry,
            externs,
        );
        let entry = ctx.entry();
        let func_ref = ctx.func_ref() as usize;
        let vmctx = (&*ctx as *const HostFuncCtx<HostFn<T, H>>) as usize;
        s.funcs.push(FuncData {
            func_ref,
            type_id,
            inline: extras.inline,
            kind: FuncKind::Host {
                vmctx,
                entry,
                _ctx: ctx,
                _trampoline: code,
            },
        });
        let index = s.funcs.len() - 1;
        s.func_by_ref.insert(func_ref, index);
        Func { store: s.id, index }
    }

    /// The function's signature.
    pub fn ty(&self, store: impl AsContext) -> FuncType {
        let s = &store.as_context().opaque;
        s.engine.func_type(s.funcs[self.index].type_id)
    }

    /// Calls the function with `params`, writing `results`.
    pub fn call(
        &self,
        mut store: impl AsContextMut,
        params: &[Val],
        results: &mut [Val],
    ) -> Result<()> {
        let store = store.as_context_mut();
        store.opaque.check(self.store)?;
        let ty = self.ty(&*store);
        if params.len() != ty.params().len() || results.len() != ty.results().len() {
            return Err(Error::ty(format!(
                "function {ty} called with {} arguments and {} result slots",
                params.len(),
                results.len()
            )));
        }
        let mut values = vec![ValRaw::default(); params.len().max(results.len())];
        for (i, (p, &t)) in params.iter().zip(ty.params()).enumerate() {
            check_type(&store.opaque, p, t, "argument")?;
            values[i] = p.to_raw(&store.opaque)?;
        }
        self.call_raw(store, &mut values)?;
        for (i, &t) in ty.results().iter().enumerate() {
            results[i] = Val::from_raw(&store.opaque, values[i], t);
        }
        Ok(())
    }

    /// Calls with raw slots sized and typed for the signature.
    #[allow(
        unsafe_code,
        reason = "calls a host entry; the store establishes its contract"
    )]
    pub(crate) fn call_raw<T>(
        &self,
        store: &mut StoreInner<T>,
        values: &mut [ValRaw],
    ) -> Result<()> {
        let f = &store.opaque.funcs[self.index];
        match f.kind {
            FuncKind::Wasm {
                array_call, lazy, ..
            } => {
                let func_ref = f.func_ref;
                // A lazily compiled function gets its code before the trampoline
                // calls through its slot.
                if lazy {
                    store.opaque.code_of_func(self.index)?;
                }
                store.opaque.invoke_wasm(array_call, func_ref, values)
            }
            FuncKind::Host { vmctx, entry, .. } => {
                // SAFETY: `vmctx` is this function's live `HostFuncCtx`, created for this
                // store's `T` with this `entry`; `values` holds the signature's slots;
                // we do not use `store` until the call returns.
                let status = unsafe {
                    entry(
                        vmctx as *mut u8,
                        std::ptr::null_mut(),
                        values.as_mut_ptr(),
                        values.len() as u32,
                    )
                };
                if status == 0 {
                    Ok(())
                } else {
                    Err(store.opaque.take_pending())
                }
            }
        }
    }

    /// A typed view of the function, checking its signature once.
    pub fn typed<P: WasmParams, R: WasmResults>(
        &self,
        store: impl AsContext,
    ) -> Result<TypedFunc<P, R>> {
        let ty = self.ty(&store);
        if ty.params() != P::types().as_slice() || ty.results() != R::types().as_slice() {
            return Err(Error::ty(format!(
                "function is {ty}, not {}",
                FuncType::new(P::types(), R::types())
            )));
        }
        Ok(TypedFunc::new(*self))
    }
}

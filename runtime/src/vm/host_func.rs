//! The context of a host function: its funcref, the entry its trampoline calls, and the
//! Rust callable itself.

use super::vmcontext::{HostEntry, VMFuncRef, VMHostFuncHeader, ValRaw};
use super::vmctx;
use crate::func::{Caller, HostCallable};
use crate::store::{StoreInner, StoreOpaque};

use std::panic::{catch_unwind, AssertUnwindSafe};

/// A host function's vmctx. `#[repr(C)]` with the header first, as generated
/// trampolines expect.
#[repr(C)]
pub struct HostFuncCtx<F> {
    header: VMHostFuncHeader,
    /// The owning `StoreInner<T>`, which outlives the context (it owns it).
    store: *mut u8,
    func: F,
}

// SAFETY: the header's raw pointers refer to this very allocation and to engine-owned
// code; `F` itself is `Send`.
unsafe impl<F: Send> Send for HostFuncCtx<F> {}
// SAFETY: shared access reads the header and calls `F: Sync` through `&F`.
unsafe impl<F: Sync> Sync for HostFuncCtx<F> {}

impl<F> HostFuncCtx<F> {
    /// Boxes `func` with a funcref pointing at its own context.
    pub fn new(
        func: F,
        entry: HostEntry,
        wasm_call: *const u8,
        type_id: u32,
        store: *mut u8,
    ) -> Box<Self> {
        let mut b = Box::new(HostFuncCtx {
            header: VMHostFuncHeader {
                func_ref: VMFuncRef {
                    wasm_call,
                    vmctx: std::ptr::null_mut(),
                    type_id,
                },
                entry,
            },
            store,
            func,
        });
        b.header.func_ref.vmctx = (&raw mut *b).cast::<u8>();
        b
    }

    /// The function's funcref.
    pub fn func_ref(&self) -> *const VMFuncRef {
        &self.header.func_ref
    }
}

/// The host entry of a function whose context is a `HostFuncCtx<F>` of a `Store<T>`.
/// Returns 0 on success; otherwise leaves the error (or panic) in the store for the
/// runtime to report once wasm has been unwound.
///
/// # Safety
/// `callee_vmctx` must be a live `HostFuncCtx<F>` whose store is a `StoreInner<T>` not
/// otherwise borrowed during the call. `caller_vmctx` must be null (a call from the
/// host) or the vmctx of a live instance of that store. `values` must point to `len`
/// slots.
pub unsafe extern "C" fn entry<T: 'static, F: HostCallable<T>>(
    callee_vmctx: *mut u8,
    caller_vmctx: *mut u8,
    values: *mut ValRaw,
    len: u32,
) -> u32 {
    // SAFETY: per the contract.
    let ctx = unsafe { &*callee_vmctx.cast::<HostFuncCtx<F>>() };
    // SAFETY: per the contract, `values` holds `len` slots.
    let values = unsafe { std::slice::from_raw_parts_mut(values, len as usize) };
    let instance = if caller_vmctx.is_null() {
        None
    } else {
        // SAFETY: the caller is a live instance; its header names it.
        Some(unsafe { (*vmctx::header(caller_vmctx)).instance })
    };
    // SAFETY: per the contract, the store is a live, unborrowed `StoreInner<T>`.
    let store = unsafe { &mut *ctx.store.cast::<StoreInner<T>>() };
    call(store, instance, &ctx.func, values)
}

/// Runs `func`, stashing its error or panic in the store. 0 on success.
pub(crate) fn call<T: 'static, F: HostCallable<T>>(
    store: &mut StoreInner<T>,
    instance: Option<usize>,
    func: &F,
    values: &mut [ValRaw],
) -> u32 {
    let result = catch_unwind(AssertUnwindSafe(|| {
        func.call(Caller::new(store, instance), values)
    }));
    let opaque: &mut StoreOpaque = store.opaque_mut();
    match result {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => {
            opaque.set_pending_error(e);
            1
        }
        Err(panic) => {
            opaque.set_pending_panic(panic);
            1
        }
    }
}

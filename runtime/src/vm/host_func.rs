//! A host function's context: its funcref, the entry its trampoline calls, and the
//! function itself. What the function does and which store it runs on belong to the API
//! layer; `vm` only needs [`HostCall`].

use super::instance_vmctx;
use super::structs::{HostEntry, VMFuncRef, VMHostFuncHeader, VMStoreContext, ValRaw};

/// A host function as `vm` sees it: something that runs on a store of type `Store`.
pub trait HostCall: Send + Sync + 'static {
    /// The store the function runs on.
    type Store;

    /// Runs the function on `store`, called from the instance `caller` of that store
    /// (`None` when called from the host). Returns 0 on success; otherwise the failure
    /// has been parked in the store, to be reported once wasm has been unwound. Must
    /// not unwind: generated code may be on the stack.
    fn call(&self, store: &mut Self::Store, caller: Option<usize>, values: &mut [ValRaw]) -> u32;
}

/// A host function's vmctx. `#[repr(C)]` with the header first, as generated
/// trampolines expect.
#[repr(C)]
pub struct HostFuncCtx<F: HostCall> {
    header: VMHostFuncHeader,
    /// The owning store, which outlives the context (it owns it).
    store: *mut F::Store,
    func: F,
}

// SAFETY: the header's raw pointers refer to this very allocation and to engine-owned
// code, and the store pointer is only dereferenced by `entry`, whose caller holds the
// store; `F` itself is `Send`.
unsafe impl<F: HostCall> Send for HostFuncCtx<F> {}
// SAFETY: shared access reads the header and calls `F: Sync` through `&F`.
unsafe impl<F: HostCall> Sync for HostFuncCtx<F> {}

impl<F: HostCall> HostFuncCtx<F> {
    /// Boxes `func` with a funcref pointing at its own context. `wasm_call` is the
    /// wasm-to-host trampoline of the function's signature, `store` the store that will
    /// own the context, and `store_context` that store's context.
    pub fn new(
        func: F,
        wasm_call: *const u8,
        type_id: u32,
        store: *mut F::Store,
        store_context: *const VMStoreContext,
    ) -> Box<Self> {
        let mut b = Box::new(HostFuncCtx {
            header: VMHostFuncHeader {
                func_ref: VMFuncRef {
                    wasm_call,
                    vmctx: std::ptr::null_mut(),
                    type_id,
                    code_slot: std::ptr::null(),
                },
                entry: entry::<F>,
                store_context,
            },
            store,
            func,
        });
        b.header.func_ref.vmctx = (&raw mut *b).cast::<u8>();
        b.header.func_ref.code_slot = (&raw const b.header.func_ref.wasm_call).cast::<usize>();
        b
    }

    /// The function's funcref.
    pub fn func_ref(&self) -> *const VMFuncRef {
        &self.header.func_ref
    }

    /// The entry the trampoline calls, with this context as its callee vmctx.
    pub fn entry(&self) -> HostEntry {
        self.header.entry
    }
}

/// The host entry of a function whose context is a `HostFuncCtx<F>`.
/// Returns 0 on success (see [`HostCall::call`]).
///
/// # Safety
/// `callee_vmctx` must be a live `HostFuncCtx<F>` whose store is live and not otherwise
/// borrowed during the call. `caller_vmctx` must be null (a call from the host) or the
/// vmctx of a live instance of that store. `values` must point to `len` slots.
unsafe extern "C" fn entry<F: HostCall>(
    callee_vmctx: *mut u8,
    caller_vmctx: *mut u8,
    values: *mut ValRaw,
    len: u32,
) -> u32 {
    // SAFETY: per the contract.
    let ctx = unsafe { &*callee_vmctx.cast::<HostFuncCtx<F>>() };
    // SAFETY: per the contract, `values` holds `len` slots.
    let values = unsafe { std::slice::from_raw_parts_mut(values, len as usize) };
    let caller = if caller_vmctx.is_null() {
        None
    } else {
        // SAFETY: the caller is a live instance; its header names it.
        Some(unsafe { instance_vmctx::instance_of(caller_vmctx) })
    };
    // SAFETY: per the contract, the store is live and unborrowed.
    let store = unsafe { &mut *ctx.store };
    ctx.func.call(store, caller, values)
}

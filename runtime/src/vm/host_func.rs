//! A host function's context: its funcref, the entry its trampoline calls, and the
//! function itself. What the function does and which store it runs on belong to the API
//! layer; `vm` only needs [`HostCall`].

use super::structs::{HostEntry, VMFuncRef, VMHostFuncHeader, VMStoreContext, ValRaw};
use super::{instance_vmctx, traphandler};

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
    /// `typed_entry` is the function's direct entry ([`TypedEntry::entry`]) or null;
    /// `inline_externs` the extern functions of its inline body, or null (`func` must
    /// keep that array alive).
    pub fn new(
        func: F,
        wasm_call: *const u8,
        type_id: u32,
        store: *mut F::Store,
        store_context: *const VMStoreContext,
        typed_entry: *const u8,
        inline_externs: *const usize,
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
                typed_entry,
                inline_externs,
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
    // SAFETY: forwarded contract.
    let (func, store, caller) = unsafe { enter::<F>(callee_vmctx, caller_vmctx) };
    // SAFETY: per the contract, `values` holds `len` slots.
    let values = unsafe { std::slice::from_raw_parts_mut(values, len as usize) };
    func.call(store, caller, values)
}

/// What a host entry needs from its arguments: the function, its store, and the
/// calling instance (`None`: called from the host).
///
/// # Safety
/// As for [`entry`]: `callee_vmctx` is a live `HostFuncCtx<F>` whose store is live and
/// not otherwise borrowed while the results are used; `caller_vmctx` is null or the
/// vmctx of a live instance of that store.
unsafe fn enter<'a, F: HostCall>(
    callee_vmctx: *mut u8,
    caller_vmctx: *mut u8,
) -> (&'a F, &'a mut F::Store, Option<usize>) {
    // SAFETY: per the contract.
    let ctx = unsafe { &*callee_vmctx.cast::<HostFuncCtx<F>>() };
    let caller = if caller_vmctx.is_null() {
        None
    } else {
        // SAFETY: the caller is a live instance; its header names it.
        Some(unsafe { instance_vmctx::instance_of(caller_vmctx) })
    };
    // SAFETY: per the contract, the store is live and unborrowed.
    let store = unsafe { &mut *ctx.store };
    (&ctx.func, store, caller)
}

/// A wasm value a typed host entry takes or returns in a register: `i32`, `i64`, `f32`
/// or `f64` (and `()` as a result). [`NoReg`] stands for any other value: a function
/// with one has no typed entry.
pub trait RegValue: Copy + Default + Send + 'static {
    /// Whether the value goes in a register (`false` only for [`NoReg`]).
    const IN_REGISTER: bool = true;
}

impl RegValue for i32 {}
impl RegValue for i64 {}
impl RegValue for f32 {}
impl RegValue for f64 {}
impl RegValue for () {}

/// A value that does not go in a register (a `v128`, a reference, or more than one
/// result).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct NoReg;

impl RegValue for NoReg {
    const IN_REGISTER: bool = false;
}

/// A host function callable with its parameters `P` (a tuple of [`RegValue`]s) in
/// registers.
pub trait TypedHostCall<P>: HostCall {
    /// The result.
    type Ret: RegValue;

    /// Runs the function on `store`, called from the instance `caller` of that store;
    /// `None` when it failed, the failure parked in the store as for
    /// [`HostCall::call`]. Must not unwind.
    fn call_typed(
        &self,
        store: &mut Self::Store,
        caller: Option<usize>,
        params: P,
    ) -> Option<Self::Ret>;
}

/// Parameter tuples that have a typed entry.
pub trait TypedEntry: Sized {
    /// Whether every parameter goes in a register.
    const IN_REGISTERS: bool;

    /// The direct entry of the function whose context is a `HostFuncCtx<F>`, if its
    /// parameters and result go in registers; else null.
    fn entry<F: TypedHostCall<Self>>() -> *const u8;
}

macro_rules! typed_entries {
    ($($name:ident($($p:ident),*);)*) => {$(
        /// The direct entry of a function whose context is a `HostFuncCtx<F>`. It
        /// returns only on success; a failure (parked in the store) leaves generated
        /// code through [`traphandler::raise`].
        ///
        /// Wasm may call it as the function's code, without a trampoline, so it makes
        /// the trampoline's stack check itself: a call past the store's stack limit,
        /// or after an interrupt (`INTERRUPT_STACK_LIMIT`), traps without running the
        /// function.
        ///
        /// # Safety
        /// As for [`entry`], and called by generated code (wasm itself, as the
        /// function's code, or a wasm-to-host trampoline), so inside `call_catching`.
        #[allow(non_snake_case, reason = "parameters are named after their types")]
        unsafe extern "C" fn $name<F: TypedHostCall<($($p,)*)>, $($p: RegValue),*>(
            callee_vmctx: *mut u8,
            caller_vmctx: *mut u8,
            $($p: $p),*
        ) -> F::Ret {
            // SAFETY: forwarded contract: a live `HostFuncCtx<F>` whose store context
            // is live.
            let limit = unsafe {
                (*(*callee_vmctx.cast::<HostFuncCtx<F>>()).header.store_context).stack_limit()
            };
            if super::stack_pointer() < limit {
                // SAFETY: generated code called us (contract); nothing is held yet.
                unsafe { traphandler::raise(kiln_jit::TrapKind::StackOverflow) }
            }
            // SAFETY: forwarded contract.
            let (func, store, caller) = unsafe { enter::<F>(callee_vmctx, caller_vmctx) };
            match func.call_typed(store, caller, ($($p,)*)) {
                Some(r) => r,
                // SAFETY: generated code called us (contract); `func` and `store` are
                // references, so nothing here needs dropping.
                None => unsafe { traphandler::raise(kiln_jit::TrapKind::HostError) },
            }
        }

        impl<$($p: RegValue),*> TypedEntry for ($($p,)*) {
            const IN_REGISTERS: bool = true $(&& $p::IN_REGISTER)*;

            fn entry<F: TypedHostCall<Self>>() -> *const u8 {
                if Self::IN_REGISTERS && F::Ret::IN_REGISTER {
                    $name::<F, $($p),*> as *const u8
                } else {
                    std::ptr::null()
                }
            }
        }
    )*};
}

typed_entries! {
    typed_entry0();
    typed_entry1(A);
    typed_entry2(A, B);
    typed_entry3(A, B, C);
    typed_entry4(A, B, C, D);
    typed_entry5(A, B, C, D, E);
    typed_entry6(A, B, C, D, E, G);
    typed_entry7(A, B, C, D, E, G, H);
    typed_entry8(A, B, C, D, E, G, H, I);
    typed_entry9(A, B, C, D, E, G, H, I, J);
    typed_entry10(A, B, C, D, E, G, H, I, J, K);
}

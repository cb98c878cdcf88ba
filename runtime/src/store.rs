//! `Store<T>`: owns instances and every memory, table, global and function they use.
//!
//! This file is the home of `StoreOpaque` (the part of a store that does not depend on
//! `T`): its fields, and the `impl` for fuel, deadlines, limit approvals, parked host
//! errors, and entering wasm. Two other concerns implement it where they live: the
//! builtins generated code calls (`bulk.rs`) and instantiation (`instance.rs`).

use crate::deadline::InterruptHandle;
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::limits::{LimitHit, ResourceKind, ResourceLimiter};
use crate::module::Module;
use crate::trap::{FrameInfo, MemoryFault, Trap, TrapCode};
use crate::vm::{
    self, code_memory, TrapRecord, VMStoreContext, ValRaw, VmCtx, VmGlobal, VmMemory, VmTable,
};
use std::any::Any;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

static NEXT_STORE_ID: AtomicU64 = AtomicU64::new(1);

/// Identifies a store, so handles from another store are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct StoreId(u64);

/// What a function is.
pub(crate) enum FuncKind {
    /// Defined by an instance of a module.
    Wasm {
        /// Host-to-wasm trampoline of its signature. The code stays alive through the
        /// defining instance's `InstanceData::module`: a store keeps every instance
        /// until it is dropped itself.
        array_call: usize,
        /// The defining instance (index in the store) and the function's index in it.
        instance: usize,
        index: kiln_frontend::DefinedFuncIndex,
        /// Whether its module compiles lazily (so a call may need its code first).
        lazy: bool,
    },
    /// A host function; its context owns the closure.
    Host {
        /// `HostFuncCtx<F>` as `*mut u8` (owned by `_ctx`).
        vmctx: usize,
        /// Its host entry.
        entry: vm::structs::HostEntry,
        _ctx: Box<dyn Any + Send + Sync>,
        /// Keeps the wasm-to-host trampoline alive.
        _trampoline: std::sync::Arc<vm::CodeMemory>,
    },
}

/// Hashes addresses for `func_by_ref`: every instantiation inserts one per function,
/// so the default SipHash showed in instantiation profiles. Addresses are not chosen by
/// guests, so no flooding resistance is needed.
#[derive(Default)]
pub(crate) struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_usize(&mut self, address: usize) {
        self.write_u64(address as u64);
    }

    fn write_u64(&mut self, n: u64) {
        // Fibonacci hashing, folded so the table's index bits see the high bits too.
        let h = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = h ^ (h >> 29);
    }
}

/// A function of the store.
pub(crate) struct FuncData {
    /// Its `VMFuncRef` (in a vmctx or a host context).
    pub(crate) func_ref: usize,
    /// Engine-wide signature id.
    pub(crate) type_id: u32,
    pub(crate) kind: FuncKind,
    /// The digest of an inlinable host function's body (`Linker::func_inline`).
    pub(crate) inline: Option<[u8; 32]>,
}

/// An instance of the store.
pub(crate) struct InstanceData {
    pub(crate) module: Module,
    /// Owns the vmctx that generated code and the store's entities point into.
    #[allow(dead_code, reason = "owned for generated code")]
    pub(crate) vmctx: VmCtx,
    /// Store indices of the instance's functions, memories, tables and globals, in the
    /// module's index spaces (imports first).
    pub(crate) funcs: Vec<usize>,
    pub(crate) memories: Vec<usize>,
    pub(crate) tables: Vec<usize>,
    pub(crate) globals: Vec<usize>,
    /// Element segments' raw references; emptied by `elem.drop`.
    pub(crate) elems: Vec<Box<[usize]>>,
    /// Data segments dropped by `data.drop`.
    pub(crate) dropped_data: Vec<bool>,
}

/// A failure of a host function, parked while wasm is unwound.
enum Pending {
    Error(Error),
    Panic(Box<dyn Any + Send>),
}

/// The part of a store that does not depend on `T`.
pub struct StoreOpaque {
    pub(crate) id: StoreId,
    pub(crate) engine: Engine,
    pub(crate) vm: Box<VMStoreContext>,
    pub(crate) instances: Vec<InstanceData>,
    pub(crate) memories: Vec<VmMemory>,
    pub(crate) tables: Vec<VmTable>,
    pub(crate) globals: Vec<VmGlobal>,
    pub(crate) funcs: Vec<FuncData>,
    /// `VMFuncRef` address → index in `funcs`.
    pub(crate) func_by_ref: HashMap<usize, usize, BuildHasherDefault<AddressHasher>>,
    /// Host values behind externrefs; the raw reference is the index plus one.
    pub(crate) externrefs: Vec<Box<dyn Any + Send + Sync>>,
    pending: Option<Pending>,
    /// Decides growth and creation requests.
    limiter: Option<Box<dyn ResourceLimiter>>,
    /// The most recent request a limit refused.
    last_limit_hit: Option<LimitHit>,
    /// The stack limit the outermost wasm entry set (restored if an interrupt is
    /// withdrawn by moving the deadline).
    wasm_stack_limit: usize,
    /// Set by an `InterruptHandle`, cleared by a new deadline: host functions' deadlines
    /// see it.
    pub(crate) interrupted: Arc<AtomicBool>,
    /// The store's cells (`StoreCell`): `MAX_CELLS` slots from the first, never moved
    /// (`VMStoreContext::cells` points at them), and how many are in use.
    cells: Option<Box<[std::cell::Cell<u64>]>>,
    cells_used: u32,
}

impl Drop for StoreOpaque {
    fn drop(&mut self) {
        if self.engine.config().epoch_interruption {
            self.engine.interruptible().unregister(&self.vm);
        }
    }
}

/// A store and its host data. `#[repr(C)]` so that generated code's pointer to the
/// `StoreOpaque` is also a pointer to the `StoreInner<T>`.
#[repr(C)]
pub struct StoreInner<T> {
    pub(crate) opaque: StoreOpaque,
    pub(crate) data: T,
}

/// Everything instances create and use. Handles (`Func`, `Memory`, ...) refer into one
/// store and are refused by any other.
pub struct Store<T>(Box<StoreInner<T>>);

impl<T> std::fmt::Debug for Store<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("id", &self.0.opaque.id)
            .finish()
    }
}

impl<T> Store<T> {
    /// A new store of `engine` holding `data`.
    pub fn new(engine: &Engine, data: T) -> Store<T> {
        let store = Store(Box::new(StoreInner {
            opaque: StoreOpaque {
                id: StoreId(NEXT_STORE_ID.fetch_add(1, Ordering::Relaxed)),
                engine: engine.clone(),
                vm: Box::new(VMStoreContext::new()),
                instances: Vec::new(),
                memories: Vec::new(),
                tables: Vec::new(),
                globals: Vec::new(),
                funcs: Vec::new(),
                func_by_ref: HashMap::default(),
                externrefs: Vec::new(),
                pending: None,
                limiter: None,
                last_limit_hit: None,
                wasm_stack_limit: usize::MAX,
                interrupted: Arc::default(),
                cells: None,
                cells_used: 0,
            },
            data,
        }));
        if engine.config().epoch_interruption {
            // Unregistered in `StoreOpaque::drop`; the context is boxed, so it stays put.
            engine
                .interruptible()
                .register(store.0.opaque.id.0, &store.0.opaque.vm);
        }
        store
    }

    /// The host data.
    pub fn data(&self) -> &T {
        &self.0.data
    }

    /// The host data, mutably.
    pub fn data_mut(&mut self) -> &mut T {
        &mut self.0.data
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.0.opaque.engine
    }

    /// Gives the store `fuel` units to run on (replacing what was left). Requires
    /// `Config::consume_fuel`. Running out is `TrapCode::OutOfFuel`; the store can be
    /// refuelled and used again.
    pub fn set_fuel(&mut self, fuel: u64) -> Result<()> {
        self.0.opaque.set_fuel(fuel)
    }

    /// Fuel left. Requires `Config::consume_fuel`.
    pub fn get_fuel(&self) -> Result<u64> {
        self.0.opaque.get_fuel()
    }

    /// Interrupts wasm once the engine's epoch has advanced `ticks` more times.
    /// Requires `Config::epoch_interruption`. `u64::MAX` means never.
    pub fn set_epoch_deadline(&mut self, ticks: u64) -> Result<()> {
        self.0.opaque.set_epoch_deadline(ticks)
    }

    /// Interrupts wasm (`TrapCode::Interrupted`) once `timeout` has passed, measured by
    /// the process-wide ticker thread (advancing the engine's epoch every `EPOCH_TICK`).
    /// Requires `Config::epoch_interruption`.
    pub fn set_timeout(&mut self, timeout: std::time::Duration) -> Result<()> {
        let tick = crate::engine::EPOCH_TICK.as_nanos();
        // One more tick than the timeout holds: the current tick is partly over, and the
        // guest must get at least its whole timeout.
        let ticks = timeout.as_nanos().div_ceil(tick) + 1;
        self.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX))?;
        if !self.0.opaque.engine.ensure_ticker() {
            return Err(Error::config(
                "cannot start the engine's epoch ticker thread",
            ));
        }
        Ok(())
    }

    /// Lets `limiter` decide every memory and table growth and creation of this store,
    /// and bound its numbers of instances, memories and tables.
    pub fn limiter(&mut self, limiter: impl ResourceLimiter + 'static) {
        self.0.opaque.limiter = Some(Box::new(limiter));
    }

    /// A handle that interrupts this store from any thread (Wasmtime's
    /// `Engine::increment_epoch` reaches every store; this reaches one): a running call
    /// traps with `Interrupted` at its next function entry or loop header, a host
    /// function waiting through [`Caller::deadline`](crate::Caller::deadline) wakes, and
    /// calls from the host are refused until the store's deadline is set again
    /// (`set_epoch_deadline`, `set_timeout`). Requires `Config::epoch_interruption`.
    pub fn interrupt_handle(&self) -> Result<InterruptHandle> {
        let s = &self.0.opaque;
        if !s.engine.config().epoch_interruption {
            return Err(Error::config(
                "epoch interruption is not enabled (Config::epoch_interruption)",
            ));
        }
        Ok(InterruptHandle::new(
            &s.engine,
            s.id.0,
            s.interrupted.clone(),
        ))
    }

    /// The most recent request a limit refused (a `memory.grow` that returned -1, an
    /// instantiation that failed), if any.
    pub fn last_limit_hit(&self) -> Option<LimitHit> {
        self.0.opaque.last_limit_hit
    }

    /// Returns the most recent refusal and forgets it, so that the next call reports
    /// only refusals made after this one.
    pub fn take_last_limit_hit(&mut self) -> Option<LimitHit> {
        self.0.opaque.last_limit_hit.take()
    }

    /// Consumes the store, returning its data.
    pub fn into_data(self) -> T {
        let inner = *self.0;
        inner.data
    }
}

/// Shared access to a store, for APIs that only read.
pub trait AsContext {
    /// The host data type.
    type Data;
    /// The store.
    fn as_context(&self) -> &StoreInner<Self::Data>;
}

/// Exclusive access to a store.
pub trait AsContextMut: AsContext {
    /// The store.
    fn as_context_mut(&mut self) -> &mut StoreInner<Self::Data>;
}

impl<T> AsContext for Store<T> {
    type Data = T;
    fn as_context(&self) -> &StoreInner<T> {
        &self.0
    }
}

impl<T> AsContextMut for Store<T> {
    fn as_context_mut(&mut self) -> &mut StoreInner<T> {
        &mut self.0
    }
}

impl<T> AsContext for StoreInner<T> {
    type Data = T;
    fn as_context(&self) -> &StoreInner<T> {
        self
    }
}

impl<T> AsContextMut for StoreInner<T> {
    fn as_context_mut(&mut self) -> &mut StoreInner<T> {
        self
    }
}

impl<S: AsContext + ?Sized> AsContext for &S {
    type Data = S::Data;
    fn as_context(&self) -> &StoreInner<S::Data> {
        (**self).as_context()
    }
}

impl<S: AsContext + ?Sized> AsContext for &mut S {
    type Data = S::Data;
    fn as_context(&self) -> &StoreInner<S::Data> {
        (**self).as_context()
    }
}

impl<S: AsContextMut + ?Sized> AsContextMut for &mut S {
    fn as_context_mut(&mut self) -> &mut StoreInner<S::Data> {
        (**self).as_context_mut()
    }
}

impl StoreOpaque {
    /// Allocates a cell holding `bits`; returns its index.
    pub(crate) fn new_cell(&mut self, bits: u64) -> Result<u32> {
        if self.cells_used >= kiln_jit::MAX_CELLS {
            return Err(Error::config(format!(
                "a store holds at most {} cells",
                kiln_jit::MAX_CELLS
            )));
        }
        let cells = self.cells.get_or_insert_with(|| {
            (0..kiln_jit::MAX_CELLS)
                .map(|_| std::cell::Cell::new(0))
                .collect()
        });
        // The slots are `Cell`s: generated code writes them through this pointer while
        // the store only ever holds shared references to them.
        self.vm
            .cells
            .store(cells.as_ptr() as *mut u64, Ordering::Relaxed);
        let index = self.cells_used;
        cells[index as usize].set(bits);
        self.cells_used += 1;
        Ok(index)
    }

    /// Cell `index` of this store (`owner` is the cell's store).
    pub(crate) fn cell(&self, owner: StoreId, index: u32) -> u64 {
        self.cell_slot(owner, index).get()
    }

    /// Sets cell `index` of this store (`owner` is the cell's store).
    pub(crate) fn set_cell(&mut self, owner: StoreId, index: u32, bits: u64) {
        self.cell_slot(owner, index).set(bits);
    }

    fn cell_slot(&self, owner: StoreId, index: u32) -> &std::cell::Cell<u64> {
        assert!(owner == self.id, "a StoreCell was used with another store");
        let cells = self
            .cells
            .as_ref()
            .expect("a store with a StoreCell has cells");
        &cells[index as usize]
    }

    pub(crate) fn set_fuel(&self, fuel: u64) -> Result<()> {
        if self.engine.config().fuel.is_none() {
            return Err(Error::config("fuel is not enabled (Config::consume_fuel)"));
        }
        self.vm.set_fuel_left(fuel);
        Ok(())
    }

    pub(crate) fn set_epoch_deadline(&self, ticks: u64) -> Result<()> {
        if !self.engine.config().epoch_interruption {
            return Err(Error::config(
                "epoch interruption is not enabled (Config::epoch_interruption)",
            ));
        }
        let now = self.engine.current_epoch();
        self.interrupted.store(false, Ordering::Relaxed);
        self.vm.set_epoch_deadline(now.saturating_add(ticks));
        if ticks == 0 {
            // Already due (set from a host function while wasm runs): the ticker will
            // not come by before the next tick, so interrupt the running wasm now.
            self.vm.interrupt_if_running();
        } else {
            // Moved into the future: a pending interrupt no longer applies.
            self.vm.resume(self.wasm_stack_limit);
        }
        Ok(())
    }

    pub(crate) fn get_fuel(&self) -> Result<u64> {
        if self.engine.config().fuel.is_none() {
            return Err(Error::config("fuel is not enabled (Config::consume_fuel)"));
        }
        Ok(self.vm.fuel_left())
    }

    pub(crate) fn check(&self, id: StoreId) -> Result<()> {
        if id == self.id {
            Ok(())
        } else {
            Err(Error::ty(
                "a handle from another store was used with this store",
            ))
        }
    }

    fn refused(&mut self, hit: LimitHit) {
        self.last_limit_hit = Some(hit);
    }

    /// Asks the limiter whether a memory may go from `current` to `desired` bytes.
    pub(crate) fn approve_memory(
        &mut self,
        current: u64,
        desired: u64,
        maximum: Option<u64>,
    ) -> Result<(), LimitHit> {
        let r = match &mut self.limiter {
            Some(l) => l.memory_growing(current, desired, maximum),
            None => Ok(()),
        };
        r.inspect_err(|&hit| self.refused(hit))
    }

    /// Asks the limiter whether a table may go from `current` to `desired` elements.
    pub(crate) fn approve_table(
        &mut self,
        current: u64,
        desired: u64,
        maximum: Option<u64>,
    ) -> Result<(), LimitHit> {
        let r = match &mut self.limiter {
            Some(l) => l.table_growing(current, desired, maximum),
            None => Ok(()),
        };
        r.inspect_err(|&hit| self.refused(hit))
    }

    /// Checks that `adding` more instances, memories and tables fit the limiter's counts.
    pub(crate) fn approve_counts(
        &mut self,
        instances: usize,
        memories: usize,
        tables: usize,
    ) -> Result<()> {
        let Some(l) = &self.limiter else {
            return Ok(());
        };
        let checks = [
            (
                ResourceKind::Instances,
                self.instances.len() + instances,
                l.instances(),
            ),
            (
                ResourceKind::Memories,
                self.memories.len() + memories,
                l.memories(),
            ),
            (ResourceKind::Tables, self.tables.len() + tables, l.tables()),
        ];
        for (kind, requested, limit) in checks {
            if requested > limit {
                let hit = LimitHit {
                    kind,
                    limit: limit as u64,
                    requested: requested as u64,
                };
                self.refused(hit);
                return Err(Error::new(ErrorKind::ResourceExhausted(hit)));
            }
        }
        Ok(())
    }

    /// The current code of the wasm function whose `VMFuncRef` is at `func_ref`,
    /// compiled first if its module is lazy and has none for it yet.
    pub(crate) fn code_of_func_ref(&self, func_ref: usize) -> Result<usize> {
        let i = self
            .func_by_ref
            .get(&func_ref)
            .copied()
            .ok_or_else(|| Error::msg("a call to a function of no instance of this store"))?;
        self.code_of_func(i)
    }

    /// [`Self::code_of_func_ref`] for the store's function `i`, without looking its
    /// `VMFuncRef` up (a call from the host knows its function).
    pub(crate) fn code_of_func(&self, i: usize) -> Result<usize> {
        let f = &self.funcs[i];
        let FuncKind::Wasm {
            instance, index, ..
        } = f.kind
        else {
            return Err(Error::msg("a host function has no wasm code to compile"));
        };
        let module = &self.instances[instance].module.0;
        match &module.lazy {
            Some(lazy) => {
                let (code, callees) =
                    lazy.code_and_callees(self.engine.compiler(), &module.info, index)?;
                self.engine.compile_ahead(&module.compiled, callees);
                Ok(code)
            }
            None => Ok(module.func_code[index.index()]),
        }
    }

    pub(crate) fn set_pending_error(&mut self, e: Error) {
        self.pending = Some(Pending::Error(e));
    }

    pub(crate) fn set_pending_panic(&mut self, p: Box<dyn Any + Send>) {
        self.pending = Some(Pending::Panic(p));
    }

    /// The error a host function left behind; re-raises a host panic.
    pub(crate) fn take_pending(&mut self) -> Error {
        match self.pending.take() {
            Some(Pending::Error(e)) => e,
            Some(Pending::Panic(p)) => std::panic::resume_unwind(p),
            None => Error::msg("a host function failed without an error"),
        }
    }

    /// Runs the array-call trampoline `array_call` on `values`, catching traps.
    #[allow(
        unsafe_code,
        reason = "enters generated code; the store establishes its contract"
    )]
    pub(crate) fn invoke_wasm(
        &mut self,
        array_call: usize,
        func_ref: usize,
        values: &mut [ValRaw],
    ) -> Result<()> {
        // Generated code checks the deadline only where a function could run long (loop
        // headers, entries of functions that call): a call from the host past its
        // deadline is refused here, so it runs no wasm at all.
        if self.engine.config().epoch_interruption
            && self.engine.current_epoch() >= self.vm.epoch_deadline()
        {
            return Err(self.trap_error(TrapRecord {
                kind: kiln_jit::TrapKind::Interrupted,
                frames: Vec::new(),
                pinned: None,
                fault_address: None,
            }));
        }
        // The outermost entry from the host sets the limit; re-entries keep it, so all
        // nested wasm shares one budget.
        let outermost = self.vm.stack_limit() == usize::MAX;
        if outermost {
            self.wasm_stack_limit = self.wasm_stack_limit_here();
            self.vm.set_stack_limit(self.wasm_stack_limit);
        }
        // SAFETY: `array_call` is the trampoline of `func_ref`'s signature, taken from
        // its module (kept alive by the function); `values` was sized by the caller for
        // the signature; generated code reaches this store only through the raw
        // pointers in its vmctx while we do not touch `self`.
        let r = unsafe {
            vm::call_catching(
                array_call,
                func_ref as *const u8,
                std::ptr::null_mut(),
                values.as_mut_ptr(),
            )
        };
        // A stack check failed against the interrupt limit: the deadline has passed.
        let interrupted = self.vm.interrupted();
        if outermost {
            self.vm.set_stack_limit(usize::MAX);
        }
        r.map_err(|mut t| {
            if interrupted && t.kind == kiln_jit::TrapKind::StackOverflow {
                t.kind = kiln_jit::TrapKind::Interrupted;
            }
            self.trap_error(t)
        })
    }

    /// The lowest address wasm entered from here may reach: `max_wasm_stack` below the
    /// stack pointer, but never into the thread's last `host_stack_reserve` bytes. On a
    /// thread with less room than the reserve, wasm cannot run at all: its first
    /// function's stack check traps with `StackOverflow`.
    fn wasm_stack_limit_here(&self) -> usize {
        let config = self.engine.config();
        let here = vm::stack_pointer();
        let wanted = here.saturating_sub(config.max_wasm_stack);
        match vm::thread_stack::low_address() {
            Some(low) => wanted.max(low.saturating_add(config.host_stack_reserve)),
            None => wanted,
        }
    }

    /// Turns a caught trap into an `Error`, resolving its backtrace.
    pub(crate) fn trap_error(&mut self, t: TrapRecord) -> Error {
        let Some(code) = TrapCode::from_kind(t.kind) else {
            return self.take_pending();
        };
        if self.engine.config().fuel.is_some() {
            if code == TrapCode::OutOfFuel {
                // The segment that trapped cost more than was left: none is left.
                self.vm.set_fuel_left(0);
            } else if let Some(counter) = t.pinned {
                // In a wasm function the pinned register holds the counter as of its
                // last charge, and the trampoline that would have stored it back was
                // unwound. (In a trampoline it may not: there the store context is
                // already up to date.)
                let in_wasm = t
                    .frames
                    .first()
                    .is_some_and(|&pc| code_memory::lookup_frame(pc).is_some());
                if in_wasm {
                    self.vm.set_fuel_counter(counter);
                }
            }
        }
        let frames: Vec<FrameInfo> = t
            .frames
            .iter()
            .flat_map(|&pc| code_memory::lookup_frames(pc))
            .map(|s| FrameInfo {
                func_index: s.func.as_u32(),
                func_name: s.func_name,
                module_name: s.module_name,
                code_offset: s.code_offset,
            })
            .collect();
        // A guard-page fault says where: find the memory whose reservation holds it.
        let fault = match (code, t.fault_address) {
            (TrapCode::MemoryOutOfBounds, Some(addr)) => self.memories.iter().find_map(|m| {
                m.size_and_offset_of(addr)
                    .map(|(memory_size, address)| MemoryFault {
                        address,
                        memory_size,
                    })
            }),
            _ => None,
        };
        let truncated = t.frames.len() >= vm::backtrace::MAX_FRAMES;
        Error::new(ErrorKind::Trap(
            Trap::new(code, frames, truncated).with_fault(fault),
        ))
    }
}

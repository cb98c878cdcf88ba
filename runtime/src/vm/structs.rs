//! The `#[repr(C)]` structures generated code reads and writes. Their layout is dictated
//! by `kiln_jit::VmOffsets`; the tests at the bottom pin every field to it.

use kiln_jit::VMCTX_MAGIC;
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// What a funcref points to; every call goes through one (see `kiln_jit::func_ref`).
#[repr(C)]
#[derive(Debug)]
pub struct VMFuncRef {
    /// Entry point in the wasm calling convention.
    pub wasm_call: *const u8,
    /// The callee's vmctx (a `VMHostFuncContext` for host functions).
    pub vmctx: *mut u8,
    /// Engine-wide signature id.
    pub type_id: u32,
    /// Where the function's current code is published: this struct's own `wasm_call`,
    /// or a lazily compiled module's slot for the function (0 until it is compiled).
    pub code_slot: *const usize,
}

/// A linear memory as generated code sees it.
#[repr(C)]
#[derive(Debug)]
pub struct VMMemoryDefinition {
    /// Start of the reservation; never moves.
    pub base: *mut u8,
    /// Accessible bytes.
    pub current_length: u64,
}

/// A table as generated code sees it.
#[repr(C)]
#[derive(Debug)]
pub struct VMTableDefinition {
    /// Element storage (pointer-sized raw references).
    pub base: *mut usize,
    /// Number of elements.
    pub current_elements: u32,
}

/// Storage of one global: the value at offset 0, little-endian.
#[repr(C, align(16))]
#[derive(Debug, Default)]
pub struct VMGlobalDefinition {
    /// Raw bits.
    pub storage: UnsafeCell<[u8; 16]>,
}

/// The stack limit that interrupts running wasm: another thread sets it when a store's
/// epoch deadline has passed. Every prologue's stack check fails against it (it lies
/// above any user-space stack pointer, and far enough below `usize::MAX` that adding a
/// frame size cannot wrap), and loop headers test its sign bit.
pub const INTERRUPT_STACK_LIMIT: usize = 1 << 63;

/// Per-store state that generated code reads.
///
/// `stack_limit` and `epoch_deadline` are atomics because the epoch ticker (another
/// thread) reads the deadline and may set the limit to `INTERRUPT_STACK_LIMIT`
/// (`interrupt_if_running`). Generated code reads both with plain aligned 8-byte
/// loads, which are single-copy atomic on the supported targets.
#[repr(C)]
#[derive(Debug)]
pub struct VMStoreContext {
    /// Lowest address the wasm stack may reach: `usize::MAX` while no wasm runs (set
    /// on entry from the host), `INTERRUPT_STACK_LIMIT` once interrupted.
    pub stack_limit: AtomicUsize,
    /// `u64::MAX - fuel left`: generated code adds each cost and traps on carry.
    pub fuel_counter: UnsafeCell<u64>,
    /// Interrupt once the engine's epoch reaches this value (read by the runtime only).
    pub epoch_deadline: AtomicU64,
    /// The store's cells (`store_context::CELLS`): null until its first, then an array
    /// of `MAX_CELLS` 8-byte slots that does not move while the store lives.
    pub cells: std::sync::atomic::AtomicPtr<u64>,
}

impl Default for VMStoreContext {
    fn default() -> Self {
        Self::new()
    }
}

impl VMStoreContext {
    /// A context for a new store: not in wasm, no fuel, no deadline.
    pub fn new() -> Self {
        VMStoreContext {
            stack_limit: AtomicUsize::new(usize::MAX),
            fuel_counter: UnsafeCell::new(u64::MAX),
            epoch_deadline: AtomicU64::new(u64::MAX),
            cells: std::sync::atomic::AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// The stack limit (see the field).
    #[inline]
    pub fn stack_limit(&self) -> usize {
        self.stack_limit.load(Ordering::Relaxed)
    }

    /// Sets the stack limit (on the store's own thread, entering or leaving wasm).
    pub fn set_stack_limit(&self, v: usize) {
        self.stack_limit.store(v, Ordering::Relaxed);
    }

    /// Makes the next wasm function entry trap, if wasm is running (from any thread).
    /// A store not in wasm is left alone: entry from the host checks the deadline.
    pub fn interrupt_if_running(&self) {
        let mut current = self.stack_limit();
        while current != usize::MAX && current != INTERRUPT_STACK_LIMIT {
            match self.stack_limit.compare_exchange_weak(
                current,
                INTERRUPT_STACK_LIMIT,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(now) => current = now,
            }
        }
    }

    /// Whether `interrupt_if_running` interrupted the running wasm.
    pub fn interrupted(&self) -> bool {
        self.stack_limit() == INTERRUPT_STACK_LIMIT
    }

    /// Undoes `interrupt_if_running` (on the store's own thread, when its deadline
    /// moved into the future): `limit` is the limit wasm was entered with.
    pub fn resume(&self, limit: usize) {
        let _ = self.stack_limit.compare_exchange(
            INTERRUPT_STACK_LIMIT,
            limit,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// Fuel left (the counter holds its complement).
    pub fn fuel_left(&self) -> u64 {
        // SAFETY: the cell is only touched on the thread that holds the store (other
        // threads use only the atomics), and no generated code runs while `&self` is used.
        !unsafe { *self.fuel_counter.get() }
    }

    /// Sets the raw counter (`u64::MAX - fuel left`).
    pub fn set_fuel_counter(&self, counter: u64) {
        // SAFETY: as in `fuel_left`.
        unsafe { *self.fuel_counter.get() = counter }
    }

    /// Sets the fuel left.
    pub fn set_fuel_left(&self, fuel: u64) {
        // SAFETY: as in `fuel_left`.
        unsafe { *self.fuel_counter.get() = !fuel }
    }

    /// The epoch deadline.
    pub fn epoch_deadline(&self) -> u64 {
        self.epoch_deadline.load(Ordering::Relaxed)
    }

    /// Sets the epoch deadline.
    pub fn set_epoch_deadline(&self, v: u64) {
        self.epoch_deadline.store(v, Ordering::Relaxed);
    }
}

/// Signature of the host entry a wasm-to-host trampoline calls.
pub type HostEntry = unsafe extern "C" fn(
    callee_vmctx: *mut u8,
    caller_vmctx: *mut u8,
    values: *mut ValRaw,
    len: u32,
) -> u32;

/// The fixed head of a host function's context (its `vmctx`).
#[repr(C)]
pub struct VMHostFuncHeader {
    /// The function's own funcref.
    pub func_ref: VMFuncRef,
    /// Called by the trampoline.
    pub entry: HostEntry,
    /// The owning store's context (the trampoline checks its stack limit).
    pub store_context: *const VMStoreContext,
    /// A typed host function's direct entry (`kiln_jit::host_func::TYPED_ENTRY`), or
    /// null: the trampoline then uses `entry`.
    pub typed_entry: *const u8,
    /// An inlinable host function's extern functions, by number
    /// (`kiln_jit::host_func::INLINE_EXTERNS`), or null.
    pub inline_externs: *const usize,
}

/// One slot of the array-call convention.
#[repr(C, align(16))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ValRaw(pub u128);

impl ValRaw {
    /// From an `i32`.
    pub fn i32(v: i32) -> Self {
        ValRaw(u128::from(v as u32))
    }
    /// From an `i64`.
    pub fn i64(v: i64) -> Self {
        ValRaw(u128::from(v as u64))
    }
    /// From raw bits (floats, references).
    pub fn bits(v: u64) -> Self {
        ValRaw(u128::from(v))
    }
    /// As an `i32`.
    pub fn get_i32(self) -> i32 {
        self.0 as u32 as i32
    }
    /// As an `i64`.
    pub fn get_i64(self) -> i64 {
        self.0 as u64 as i64
    }
    /// As `u32` bits.
    pub fn get_u32(self) -> u32 {
        self.0 as u32
    }
    /// As `u64` bits.
    pub fn get_u64(self) -> u64 {
        self.0 as u64
    }
}

/// The magic number at the start of every vmctx.
pub const MAGIC: u32 = VMCTX_MAGIC;

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_jit::{
        func_ref, global_definition, host_func, memory_definition, store_context, table_definition,
        VAL_RAW_SIZE,
    };
    use std::mem::{offset_of, size_of};

    #[test]
    fn layouts_match_vmoffsets() {
        assert_eq!(
            offset_of!(VMFuncRef, wasm_call),
            func_ref::WASM_CALL as usize
        );
        assert_eq!(offset_of!(VMFuncRef, vmctx), func_ref::VMCTX as usize);
        assert_eq!(offset_of!(VMFuncRef, type_id), func_ref::TYPE_ID as usize);
        assert_eq!(
            offset_of!(VMFuncRef, code_slot),
            func_ref::CODE_SLOT as usize
        );
        assert_eq!(size_of::<VMFuncRef>(), func_ref::SIZE as usize);

        assert_eq!(
            offset_of!(VMMemoryDefinition, base),
            memory_definition::BASE as usize
        );
        assert_eq!(
            offset_of!(VMMemoryDefinition, current_length),
            memory_definition::CURRENT_LENGTH as usize
        );
        assert_eq!(
            size_of::<VMMemoryDefinition>(),
            memory_definition::SIZE as usize
        );

        assert_eq!(
            offset_of!(VMTableDefinition, base),
            table_definition::BASE as usize
        );
        assert_eq!(
            offset_of!(VMTableDefinition, current_elements),
            table_definition::CURRENT_ELEMENTS as usize
        );
        assert_eq!(
            size_of::<VMTableDefinition>(),
            table_definition::SIZE as usize
        );

        assert_eq!(
            size_of::<VMGlobalDefinition>(),
            global_definition::SIZE as usize
        );
        assert_eq!(
            std::mem::align_of::<VMGlobalDefinition>(),
            global_definition::SIZE as usize
        );

        assert_eq!(
            offset_of!(VMStoreContext, stack_limit),
            store_context::STACK_LIMIT as usize
        );
        assert_eq!(
            offset_of!(VMStoreContext, fuel_counter),
            store_context::FUEL_COUNTER as usize
        );
        assert_eq!(
            offset_of!(VMStoreContext, cells),
            store_context::CELLS as usize
        );
        assert_eq!(size_of::<VMStoreContext>(), store_context::SIZE as usize);

        assert_eq!(
            offset_of!(VMHostFuncHeader, func_ref),
            host_func::FUNC_REF as usize
        );
        assert_eq!(
            offset_of!(VMHostFuncHeader, entry),
            host_func::ENTRY as usize
        );
        assert_eq!(
            offset_of!(VMHostFuncHeader, store_context),
            host_func::STORE_CONTEXT as usize
        );
        assert_eq!(
            offset_of!(VMHostFuncHeader, typed_entry),
            host_func::TYPED_ENTRY as usize
        );
        assert_eq!(
            offset_of!(VMHostFuncHeader, inline_externs),
            host_func::INLINE_EXTERNS as usize
        );
        assert_eq!(size_of::<VMHostFuncHeader>(), host_func::SIZE as usize);

        assert_eq!(size_of::<ValRaw>(), VAL_RAW_SIZE as usize);
    }
}

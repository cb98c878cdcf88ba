//! An instance's vmctx: its allocation, the header in front of it, and typed access to
//! its fields.
//!
//! The allocation is a [`VMInstanceHeader`] immediately followed by the vmctx whose layout
//! `VmOffsets` gives. Generated code only sees the vmctx; builtins and host entries step
//! back to the header to find the store and the instance.

use super::builtins::BuiltinHost;
use super::structs::*;
use kiln_frontend::{
    DefinedFuncIndex, DefinedGlobalIndex, DefinedMemoryIndex, DefinedTableIndex, FuncIndex,
    GlobalIndex, MemoryIndex, TableIndex, TypeIndex,
};
use kiln_jit::VmOffsets;
use std::alloc::Layout;
use std::ptr::NonNull;

/// Runtime-only data in front of every vmctx.
#[repr(C, align(16))]
pub struct VMInstanceHeader {
    /// The owning store, as builtins see it.
    pub store: *mut dyn BuiltinHost,
    /// The instance's index in the store.
    pub instance: usize,
}

/// An owned vmctx allocation.
#[derive(Debug)]
pub struct VmCtx {
    alloc: NonNull<u8>,
    layout: Layout,
    offsets: VmOffsets,
    /// Tiered baseline code's call-site feedback, which the counters point into.
    feedback: super::call_feedback::CallFeedback,
    /// Profile-guided baseline code's branch counts, which the counters point into.
    branches: super::function_arrays::FunctionArrays<super::branch_counts::VMBranchCounts>,
}

// SAFETY: `VmCtx` owns its allocation; the contents are plain data and pointers into
// structures owned by the same store, which moves between threads as a whole.
unsafe impl Send for VmCtx {}
// SAFETY: shared access only reads addresses; mutation goes through `&mut` or through
// generated code running on the thread that holds the store.
unsafe impl Sync for VmCtx {}

const HEADER: usize = std::mem::size_of::<VMInstanceHeader>();

impl VmCtx {
    /// A zeroed vmctx with its header, magic, store context and builtins set.
    pub fn new(offsets: VmOffsets, store_context: *const VMStoreContext) -> Self {
        let layout = Layout::from_size_align(HEADER + offsets.size() as usize, 16)
            .expect("vmctx size fits in isize");
        // SAFETY: the layout has a non-zero size (the header).
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        let Some(alloc) = NonNull::new(ptr) else {
            std::alloc::handle_alloc_error(layout);
        };
        let v = VmCtx {
            alloc,
            layout,
            offsets,
            feedback: Default::default(),
            branches: Default::default(),
        };
        v.write(VmOffsets::MAGIC, MAGIC);
        v.write(VmOffsets::STORE_CONTEXT, store_context);
        v.write(VmOffsets::BUILTINS, super::builtins::table());
        v
    }

    /// The vmctx pointer generated code receives.
    pub fn as_ptr(&self) -> *mut u8 {
        // SAFETY: the header is within the allocation.
        unsafe { self.alloc.as_ptr().add(HEADER) }
    }

    /// Writes `value` at vmctx offset `off`.
    fn write<T>(&self, off: u32, value: T) {
        assert!(off as usize + std::mem::size_of::<T>() <= self.offsets.size() as usize);
        // SAFETY: in bounds (asserted), and every offset from `VmOffsets` is aligned
        // for the field stored there.
        unsafe { self.as_ptr().add(off as usize).cast::<T>().write(value) }
    }

    fn field<T>(&self, off: u32) -> *mut T {
        assert!(off as usize + std::mem::size_of::<T>() <= self.offsets.size() as usize);
        // SAFETY: in bounds (asserted).
        unsafe { self.as_ptr().add(off as usize).cast::<T>() }
    }

    /// Records the owning store and the instance's index.
    pub fn set_header(&self, store: *mut dyn BuiltinHost, instance: usize) {
        // SAFETY: the header lies at the start of our allocation.
        unsafe {
            self.alloc
                .as_ptr()
                .cast::<VMInstanceHeader>()
                .write(VMInstanceHeader { store, instance });
        }
    }

    /// Sets the engine-wide id of signature `t`.
    pub fn set_type_id(&self, t: TypeIndex, id: u32) {
        self.write(self.offsets.type_id(t), id);
    }

    /// Points imported function `f` at `func_ref`.
    pub fn set_imported_func(&self, f: FuncIndex, func_ref: *const VMFuncRef) {
        self.write(self.offsets.imported_func(f), func_ref);
    }

    /// Points imported table `t` at `def`.
    pub fn set_imported_table(&self, t: TableIndex, def: *mut VMTableDefinition) {
        self.write(self.offsets.imported_table(t), def);
    }

    /// Points imported memory `m` at `def`.
    pub fn set_imported_memory(&self, m: MemoryIndex, def: *mut VMMemoryDefinition) {
        self.write(self.offsets.imported_memory(m), def);
    }

    /// Points imported global `g` at `def`.
    pub fn set_imported_global(&self, g: GlobalIndex, def: *mut VMGlobalDefinition) {
        self.write(self.offsets.imported_global(g), def);
    }

    /// The definition of defined table `t`.
    pub fn defined_table(&self, t: DefinedTableIndex) -> *mut VMTableDefinition {
        self.field(self.offsets.defined_table(t))
    }

    /// The definition of defined memory `m`.
    pub fn defined_memory(&self, m: DefinedMemoryIndex) -> *mut VMMemoryDefinition {
        self.field(self.offsets.defined_memory(m))
    }

    /// The storage of defined global `g`.
    pub fn defined_global(&self, g: DefinedGlobalIndex) -> *mut VMGlobalDefinition {
        self.field(self.offsets.defined_global(g))
    }

    /// The funcref of defined function `f`.
    pub fn defined_func_ref(&self, f: DefinedFuncIndex) -> *mut VMFuncRef {
        self.field(self.offsets.defined_func_ref(f))
    }

    /// Fills in defined function `f`'s funcref: `wasm_call` is its code (null while a
    /// lazily compiled module has none for it), and `slot` where its current code is
    /// published (`None`: the funcref's own `wasm_call`).
    pub fn set_defined_func_ref(
        &self,
        f: DefinedFuncIndex,
        wasm_call: *const u8,
        type_id: u32,
        slot: Option<*const usize>,
    ) {
        let own = self.offsets.defined_func_ref(f) + kiln_jit::func_ref::WASM_CALL;
        let code_slot = slot.unwrap_or(self.field::<usize>(own).cast_const());
        self.write(
            self.offsets.defined_func_ref(f),
            VMFuncRef {
                wasm_call,
                vmctx: self.as_ptr(),
                type_id,
                code_slot,
            },
        );
    }

    /// Defined function `f`'s profile counters `(calls, loop iterations)`, if the
    /// layout has them. Read while no wasm of the instance runs (the store is held).
    pub fn func_counters(&self, f: DefinedFuncIndex) -> Option<(u32, u32)> {
        let base = self.offsets.func_counters(f)?;
        let calls: *mut u32 = self.field(base + kiln_jit::func_counters::CALLS);
        let loops: *mut u32 = self.field(base + kiln_jit::func_counters::LOOPS);
        // SAFETY: both fields lie in the allocation (`field` asserts it), are aligned
        // u32s of the zeroed vmctx, and only this store's thread writes them.
        Some(unsafe { (calls.read(), loops.read()) })
    }

    /// Records a call to `func_ref` at `call_indirect` site `site` of defined function
    /// `f` (whose code has `sites` sites), allocating the function's feedback first if
    /// it has none. Does nothing without counters.
    pub fn record_call_target(
        &self,
        f: DefinedFuncIndex,
        sites: usize,
        site: usize,
        func_ref: usize,
    ) {
        let Some(base) = self.offsets.func_counters(f) else {
            return;
        };
        if let Some(array) = self.feedback.record(f.index(), sites, site, func_ref) {
            self.write(base + kiln_jit::func_counters::FEEDBACK, array);
        }
    }

    /// The address of defined function `f`'s branch counts (`branches` of them),
    /// allocated now if it has none, and stored in its counters for its code to find.
    /// 0 without counters.
    pub fn branch_counters(&self, f: DefinedFuncIndex, branches: usize) -> usize {
        let Some(base) = self.offsets.func_counters(f) else {
            return 0;
        };
        let (array, _) = self.branches.array(f.index(), branches);
        self.write(base + kiln_jit::func_counters::BRANCHES, array);
        array
    }

    /// The branch counts of defined function `f`'s first `branches` branches, if it
    /// counted any.
    pub fn branch_counts(
        &self,
        f: DefinedFuncIndex,
        branches: usize,
    ) -> Option<Vec<super::branch_counts::VMBranchCounts>> {
        self.branches.read(f.index(), branches)
    }

    /// The call-site feedback of defined function `f`, if it recorded any.
    pub fn call_feedback(
        &self,
        f: DefinedFuncIndex,
    ) -> Option<Vec<super::call_feedback::SiteFeedback>> {
        self.feedback.sites(f.index())
    }

    /// The defined function whose `VMFuncRef` in this vmctx is at `func_ref`, if any.
    pub fn own_func(&self, func_ref: usize) -> Option<DefinedFuncIndex> {
        if self.offsets.num_defined_funcs() == 0 {
            return None;
        }
        let first = self.offsets.defined_func_ref(DefinedFuncIndex::from_u32(0)) as usize;
        let off = func_ref
            .checked_sub(self.as_ptr() as usize)?
            .checked_sub(first)?;
        let size = kiln_jit::func_ref::SIZE as usize;
        let i = u32::try_from(off / size).ok()?;
        (off % size == 0 && i < self.offsets.num_defined_funcs())
            .then(|| DefinedFuncIndex::from_u32(i))
    }
}

impl Drop for VmCtx {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.alloc.as_ptr(), self.layout) }
    }
}

/// The header of the instance owning `vmctx`. Debug builds check the vmctx's magic
/// number first, so a pointer that is not a vmctx fails loudly there.
///
/// # Safety
/// `vmctx` must be the pointer of a live `VmCtx` (as passed by generated code).
pub unsafe fn header(vmctx: *mut u8) -> *mut VMInstanceHeader {
    #[cfg(debug_assertions)]
    {
        // SAFETY: per the contract, `vmctx` is live, and its magic is at this offset.
        let magic = unsafe { vmctx.add(VmOffsets::MAGIC as usize).cast::<u32>().read() };
        assert_eq!(magic, MAGIC, "not a vmctx");
    }
    // SAFETY: per the contract, the header directly precedes the vmctx.
    unsafe { vmctx.sub(HEADER).cast::<VMInstanceHeader>() }
}

/// The index in its store of the instance owning `vmctx`.
///
/// # Safety
/// As for [`header`].
pub unsafe fn instance_of(vmctx: *mut u8) -> usize {
    // SAFETY: per the contract, the header is live and initialized (`set_header` runs
    // before any code can receive the vmctx).
    unsafe { (*header(vmctx)).instance }
}

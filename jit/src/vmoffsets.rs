//! The layout of the runtime structures that generated code touches.
//!
//! This file is the layout part of the contract between the jit and the runtime (the
//! crate docs list the rest): the jit computes every address it emits from these numbers,
//! and the runtime's `#[repr(C)]` structs are pinned to them with `offset_of!` tests.
//! Nothing else about the runtime's data is known here.
//!
//! ```text
//! VMContext (one per instance)
//!   +0   magic: u32 (VMCTX_MAGIC), padding
//!   +8   store_context: *mut VMStoreContext
//!   +16  builtins: *const VMBuiltins           (function pointers, see `builtins.rs`)
//!   +24  type_ids: [u32; num_types]            (engine-wide signature ids, padded to 8)
//!        imported_funcs: [*const VMFuncRef; num_imported_funcs]
//!        imported_tables: [*mut VMTableDefinition; num_imported_tables]
//!        imported_memories: [*mut VMMemoryDefinition; num_imported_memories]
//!        imported_globals: [*mut VMGlobalDefinition; num_imported_globals]
//!        tables: [VMTableDefinition; num_defined_tables]
//!        memories: [VMMemoryDefinition; num_defined_memories]
//!        globals: [VMGlobalDefinition; num_defined_globals]   (16-byte aligned)
//!        func_refs: [VMFuncRef; num_defined_funcs]
//!        counters: [VMFuncCounters; num_defined_funcs]        (tiered code only, 8-aligned)
//! ```

use kiln_frontend::{
    DefinedFuncIndex, DefinedGlobalIndex, DefinedMemoryIndex, DefinedTableIndex, FuncIndex,
    GlobalIndex, MemoryIndex, ModuleInfo, TableIndex, TypeIndex,
};

/// Written at offset 0 of every vmctx; debug builds of the runtime check it wherever
/// they step from a vmctx to its instance header (builtins and host entries).
pub const VMCTX_MAGIC: u32 = u32::from_le_bytes(*b"kiln");

/// Size of one `ValRaw` slot in the array-call convention (host ↔ wasm trampolines).
pub const VAL_RAW_SIZE: u32 = 16;

/// `VMFuncRef`: what a funcref points at, and what every call goes through.
///
/// Eagerly compiled code calls `wasm_call`. Code that can be replaced (lazy and tiered
/// strategies) calls through `code_slot` instead: a word holding the function's current
/// code, or 0 while it has none (then the caller asks the runtime to compile it).
pub mod func_ref {
    /// `wasm_call: *const u8`: entry of the function in the wasm calling convention.
    pub const WASM_CALL: u32 = 0;
    /// `vmctx: *mut VMContext`: the callee's context (a host function's own context for
    /// host functions).
    pub const VMCTX: u32 = 8;
    /// `type_id: u32`: engine-wide id of the signature, compared by `call_indirect`.
    pub const TYPE_ID: u32 = 16;
    /// `code_slot: *const usize`: where the function's current code is published. For
    /// host functions and eagerly compiled modules it points at this struct's own
    /// `wasm_call`; for lazily compiled modules at the module's slot for the function.
    pub const CODE_SLOT: u32 = 24;
    /// Size of the struct.
    pub const SIZE: u32 = 32;
}

/// `VMFuncCounters`: one defined function's profile counters in tiered baseline code
/// (per instance, zeroed at instantiation). Each is one add in generated code; the
/// tier-up check compares the new value with the policy's threshold.
pub mod func_counters {
    /// `calls: u32`: entries into the function.
    pub const CALLS: u32 = 0;
    /// `loops: u32`: loop-header passes (iterations of every loop) in the function.
    pub const LOOPS: u32 = 4;
    /// `feedback: *mut [VMCallSiteFeedback]`: the function's `call_indirect` sites'
    /// feedback, one per site in translation order, or null until the runtime allocates
    /// it (at the first call it records).
    pub const FEEDBACK: u32 = 8;
    /// `branches: *mut [VMBranchCounts]`: the function's counted branches, one per
    /// `if` and `br_if` in translation order, or null until the runtime allocates them
    /// (at the function's first entry in code that counts branches).
    pub const BRANCHES: u32 = 16;
    /// Size of the struct.
    pub const SIZE: u32 = 24;
}

/// `VMBranchCounts`: how often one `if` or `br_if` of profile-guided baseline code went
/// each way (per instance). Generated code adds one to the side the condition picks,
/// without a branch of its own: `not_taken` when the condition is zero. The counts
/// wrap, which can only mislead code layout.
pub mod branch_site {
    /// `not_taken: u32`: executions with a zero condition (`if`: the `else` side).
    pub const NOT_TAKEN: u32 = 0;
    /// `taken: u32`: executions with a non-zero condition.
    pub const TAKEN: u32 = 4;
    /// Size of the struct.
    pub const SIZE: u32 = 8;
}

/// `VMCallSiteFeedback`: what one `call_indirect` site of tiered baseline code has seen
/// (per instance). Baseline code counts a call to `targets[0]` inline; any other target
/// goes to the `record_call_target` builtin, which fills the other entries, keeps the
/// most frequent target first, and sets `megamorphic` when a fifth target arrives (after
/// which baseline code records only `targets[0]`).
pub mod call_site {
    /// `targets: [*const VMFuncRef; ENTRIES]`: the targets seen, null when unused.
    pub const TARGETS: u32 = 0;
    /// `counts: [u32; ENTRIES]`: calls to each target (saturating).
    pub const COUNTS: u32 = 32;
    /// `megamorphic: u32`: non-zero once more than `ENTRIES` targets were seen.
    pub const MEGAMORPHIC: u32 = 48;
    /// `other: u32`: calls to targets beyond the recorded ones (saturating).
    pub const OTHER: u32 = 52;
    /// Targets recorded per site.
    pub const ENTRIES: u32 = 4;
    /// Size of the struct.
    pub const SIZE: u32 = 64;
}

/// `VMMemoryDefinition`: a linear memory as generated code sees it.
pub mod memory_definition {
    /// `base: *mut u8`. Never changes for the life of the memory (static reservation).
    pub const BASE: u32 = 0;
    /// `current_length: u64`, in bytes.
    pub const CURRENT_LENGTH: u32 = 8;
    /// Size of the struct.
    pub const SIZE: u32 = 16;
}

/// `VMTableDefinition`: a table as generated code sees it. Elements are pointer-sized:
/// a funcref is `*const VMFuncRef` (null = `ref.null`), an externref a store-local id.
pub mod table_definition {
    /// `base: *mut usize`. May move when the table grows.
    pub const BASE: u32 = 0;
    /// `current_elements: u32`.
    pub const CURRENT_ELEMENTS: u32 = 8;
    /// Size of the struct.
    pub const SIZE: u32 = 16;
}

/// `VMGlobalDefinition`: 16 bytes of storage, the value at offset 0, little-endian.
pub mod global_definition {
    /// Size (and alignment) of the storage.
    pub const SIZE: u32 = 16;
}

/// `VMStoreContext`: per-store state shared by all of the store's instances.
pub mod store_context {
    /// `stack_limit: usize`: the lowest address the wasm stack may reach.
    pub const STACK_LIMIT: u32 = 0;
    /// `fuel_counter: u64`: `u64::MAX - fuel left`; an addition that carries means out
    /// of fuel. Inside wasm it lives in the pinned register; only the trampolines load
    /// it from here and store it back.
    pub const FUEL_COUNTER: u32 = 8;
    /// `cells: *mut u64`: the store's cells (`kiln::StoreCell`), 8 bytes each, which
    /// inlined host functions read and write; null until the store makes its first.
    /// The array never moves while the store lives.
    pub const CELLS: u32 = 24;
    /// Size of the struct. (Its third field, the epoch deadline, is the runtime's own:
    /// generated code learns of a passed deadline through `STACK_LIMIT`.)
    pub const SIZE: u32 = 32;
}

/// `VMHostFuncContext`: the `vmctx` of a host function. Its first field is the function's
/// own `VMFuncRef`; generated wasm-to-host trampolines load the entry point from here.
pub mod host_func {
    /// `func_ref: VMFuncRef`.
    pub const FUNC_REF: u32 = 0;
    /// `entry: extern "C" fn(callee_vmctx, caller_vmctx, values: *mut ValRaw, len: u32) -> u32`
    /// returning 0 on success and non-zero when the host function failed.
    pub const ENTRY: u32 = super::func_ref::SIZE;
    /// `store_context: *const VMStoreContext`: the owning store's context, whose stack
    /// limit the wasm-to-host trampoline checks before entering host code.
    pub const STORE_CONTEXT: u32 = ENTRY + 8;
    /// `typed_entry: extern "C" fn(callee_vmctx, caller_vmctx, params...) -> result`,
    /// or null: a typed host function's direct entry, which takes its parameters and
    /// returns its result in registers (signatures of `i32`, `i64`, `f32` and `f64`
    /// parameters and at most one such result). It returns only on success: a failure
    /// leaves generated code by a non-local jump to the host's entry into wasm.
    pub const TYPED_ENTRY: u32 = STORE_CONTEXT + 8;
    /// `inline_externs: *const usize`: for an inlinable host function, the addresses of
    /// the `extern "C"` functions its body calls, by number; null otherwise.
    pub const INLINE_EXTERNS: u32 = TYPED_ENTRY + 8;
    /// Size of the fixed part.
    pub const SIZE: u32 = INLINE_EXTERNS + 8;
}

/// Offsets into one module's `VMContext`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmOffsets {
    num_types: u32,
    num_imported_funcs: u32,
    num_imported_tables: u32,
    num_imported_memories: u32,
    num_imported_globals: u32,
    num_defined_tables: u32,
    num_defined_memories: u32,
    num_defined_globals: u32,
    num_defined_funcs: u32,

    imported_funcs: u32,
    imported_tables: u32,
    imported_memories: u32,
    imported_globals: u32,
    defined_tables: u32,
    defined_memories: u32,
    defined_globals: u32,
    defined_func_refs: u32,
    /// Start of the counters, when the layout has them.
    counters: Option<u32>,
    size: u32,
}

const PTR: u32 = 8;

fn align(x: u32, a: u32) -> u32 {
    x.div_ceil(a) * a
}

impl VmOffsets {
    /// Offset of the magic number.
    pub const MAGIC: u32 = 0;
    /// Offset of `store_context: *mut VMStoreContext`.
    pub const STORE_CONTEXT: u32 = 8;
    /// Offset of `builtins: *const VMBuiltins`.
    pub const BUILTINS: u32 = 16;
    /// Offset of the `type_ids` array.
    pub const TYPE_IDS: u32 = 24;

    /// The layout for `info`'s instances.
    pub fn new(info: &ModuleInfo) -> Self {
        Self::layout(info, false)
    }

    /// The layout for `info`'s instances with profile counters (tiered code).
    pub fn with_counters(info: &ModuleInfo) -> Self {
        Self::layout(info, true)
    }

    fn layout(info: &ModuleInfo, counting: bool) -> Self {
        let n = |x: usize| u32::try_from(x).expect("validated module counts fit in u32");
        let num_types = n(info.types.len());
        let num_imported_funcs = info.num_imported_funcs;
        let num_imported_tables = info.num_imported_tables;
        let num_imported_memories = info.num_imported_memories;
        let num_imported_globals = info.num_imported_globals;
        let num_defined_tables = n(info.tables.len()) - num_imported_tables;
        let num_defined_memories = n(info.memories.len()) - num_imported_memories;
        let num_defined_globals = n(info.globals.len()) - num_imported_globals;
        let num_defined_funcs = n(info.funcs.len()) - num_imported_funcs;

        let imported_funcs = align(Self::TYPE_IDS + 4 * num_types, PTR);
        let imported_tables = imported_funcs + PTR * num_imported_funcs;
        let imported_memories = imported_tables + PTR * num_imported_tables;
        let imported_globals = imported_memories + PTR * num_imported_memories;
        let defined_tables = imported_globals + PTR * num_imported_globals;
        let defined_memories = defined_tables + table_definition::SIZE * num_defined_tables;
        let defined_globals = align(
            defined_memories + memory_definition::SIZE * num_defined_memories,
            global_definition::SIZE,
        );
        let defined_func_refs = defined_globals + global_definition::SIZE * num_defined_globals;
        let end = defined_func_refs + func_ref::SIZE * num_defined_funcs;
        let counters = counting.then_some(end);
        let end = end
            + if counting {
                func_counters::SIZE * num_defined_funcs
            } else {
                0
            };
        let size = align(end, 16);
        VmOffsets {
            num_types,
            num_imported_funcs,
            num_imported_tables,
            num_imported_memories,
            num_imported_globals,
            num_defined_tables,
            num_defined_memories,
            num_defined_globals,
            num_defined_funcs,
            imported_funcs,
            imported_tables,
            imported_memories,
            imported_globals,
            defined_tables,
            defined_memories,
            defined_globals,
            defined_func_refs,
            counters,
            size,
        }
    }

    /// Number of defined functions.
    pub fn num_defined_funcs(&self) -> u32 {
        self.num_defined_funcs
    }

    /// Whether instances carry profile counters.
    pub fn has_counters(&self) -> bool {
        self.counters.is_some()
    }

    /// Offset of defined function `f`'s `VMFuncCounters`, if the layout has counters.
    pub fn func_counters(&self, f: DefinedFuncIndex) -> Option<u32> {
        assert!(f.as_u32() < self.num_defined_funcs);
        self.counters.map(|c| c + func_counters::SIZE * f.as_u32())
    }

    /// Total size of the vmctx in bytes (a multiple of 16).
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Offset of `type_ids[t]`.
    pub fn type_id(&self, t: TypeIndex) -> u32 {
        assert!(t.as_u32() < self.num_types);
        Self::TYPE_IDS + 4 * t.as_u32()
    }

    /// Offset of the `*const VMFuncRef` of imported function `f`.
    pub fn imported_func(&self, f: FuncIndex) -> u32 {
        assert!(f.as_u32() < self.num_imported_funcs);
        self.imported_funcs + PTR * f.as_u32()
    }

    /// Offset of the `*mut VMTableDefinition` of imported table `t`.
    pub fn imported_table(&self, t: TableIndex) -> u32 {
        assert!(t.as_u32() < self.num_imported_tables);
        self.imported_tables + PTR * t.as_u32()
    }

    /// Offset of the `*mut VMMemoryDefinition` of imported memory `m`.
    pub fn imported_memory(&self, m: MemoryIndex) -> u32 {
        assert!(m.as_u32() < self.num_imported_memories);
        self.imported_memories + PTR * m.as_u32()
    }

    /// Offset of the `*mut VMGlobalDefinition` of imported global `g`.
    pub fn imported_global(&self, g: GlobalIndex) -> u32 {
        assert!(g.as_u32() < self.num_imported_globals);
        self.imported_globals + PTR * g.as_u32()
    }

    /// Offset of defined table `t`'s `VMTableDefinition`.
    pub fn defined_table(&self, t: DefinedTableIndex) -> u32 {
        assert!(t.as_u32() < self.num_defined_tables);
        self.defined_tables + table_definition::SIZE * t.as_u32()
    }

    /// Offset of defined memory `m`'s `VMMemoryDefinition`.
    pub fn defined_memory(&self, m: DefinedMemoryIndex) -> u32 {
        assert!(m.as_u32() < self.num_defined_memories);
        self.defined_memories + memory_definition::SIZE * m.as_u32()
    }

    /// Offset of defined global `g`'s storage.
    pub fn defined_global(&self, g: DefinedGlobalIndex) -> u32 {
        assert!(g.as_u32() < self.num_defined_globals);
        self.defined_globals + global_definition::SIZE * g.as_u32()
    }

    /// Offset of defined function `f`'s `VMFuncRef`.
    pub fn defined_func_ref(&self, f: DefinedFuncIndex) -> u32 {
        assert!(f.as_u32() < self.num_defined_funcs);
        self.defined_func_refs + func_ref::SIZE * f.as_u32()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_ordered_aligned_and_disjoint() {
        let bytes = wat::parse_str(
            r#"(module
                (type (func)) (type (func (param i32)))
                (import "m" "f" (func (type 0)))
                (import "m" "t" (table 1 funcref))
                (import "m" "mem" (memory 1))
                (import "m" "g" (global i32))
                (table 2 externref)
                (global (mut i64) (i64.const 0))
                (func (type 1)) (func (type 0)))"#,
        )
        .expect("valid text");
        let info = kiln_frontend::parse(&bytes, Default::default()).expect("valid module");
        let o = VmOffsets::new(&info);
        assert_eq!(o.type_id(TypeIndex::from_u32(1)), 28);
        assert_eq!(o.imported_func(FuncIndex::from_u32(0)), 32);
        assert_eq!(o.imported_table(TableIndex::from_u32(0)), 40);
        assert_eq!(o.imported_memory(MemoryIndex::from_u32(0)), 48);
        assert_eq!(o.imported_global(GlobalIndex::from_u32(0)), 56);
        assert_eq!(o.defined_table(DefinedTableIndex::from_u32(0)), 64);
        assert_eq!(o.defined_global(DefinedGlobalIndex::from_u32(0)) % 16, 0);
        assert_eq!(o.defined_global(DefinedGlobalIndex::from_u32(0)), 80);
        assert_eq!(o.defined_func_ref(DefinedFuncIndex::from_u32(1)), 96 + 32);
        assert_eq!(o.size(), 160);
        assert_eq!(o.func_counters(DefinedFuncIndex::from_u32(0)), None);
        let c = VmOffsets::with_counters(&info);
        assert_eq!(c.func_counters(DefinedFuncIndex::from_u32(0)), Some(160));
        assert_eq!(c.func_counters(DefinedFuncIndex::from_u32(1)), Some(184));
        assert_eq!(c.size(), 208);
    }
}

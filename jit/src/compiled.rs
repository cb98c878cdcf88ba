//! What the jit hands to the runtime: position-independent machine code plus metadata.

use crate::trap::TrapKind;

/// A math routine that Cranelift may call instead of emitting an instruction (e.g. `ceil`
/// without SSE4.1). The runtime resolves it to its own implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LibCall {
    /// `f32::ceil`
    CeilF32,
    /// `f64::ceil`
    CeilF64,
    /// `f32::floor`
    FloorF32,
    /// `f64::floor`
    FloorF64,
    /// `f32::trunc`
    TruncF32,
    /// `f64::trunc`
    TruncF64,
    /// Round to nearest, ties to even (`f32`).
    NearestF32,
    /// Round to nearest, ties to even (`f64`).
    NearestF64,
    /// Fused multiply-add (`f32`).
    FmaF32,
    /// Fused multiply-add (`f64`).
    FmaF64,
    /// x86 `pshufb` (byte shuffle) for CPUs without SSSE3: `fn(a: i8x16, mask: i8x16) -> i8x16`.
    X86Pshufb,
}

impl LibCall {
    /// Every routine, in a fixed order (an artifact records a libcall by its index).
    pub const ALL: &'static [LibCall] = &[
        LibCall::CeilF32,
        LibCall::CeilF64,
        LibCall::FloorF32,
        LibCall::FloorF64,
        LibCall::TruncF32,
        LibCall::TruncF64,
        LibCall::NearestF32,
        LibCall::NearestF64,
        LibCall::FmaF32,
        LibCall::FmaF64,
        LibCall::X86Pshufb,
    ];
}

/// A reference from generated code to a routine, patched when the code is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relocation {
    /// Offset within the function's code.
    pub offset: u32,
    /// What is referenced.
    pub target: RelocTarget,
    /// Added to the address.
    pub addend: i64,
}

/// What a [`Relocation`] refers to, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelocTarget {
    /// The absolute 8-byte address of a host routine.
    LibCall(LibCall),
    /// A 4-byte displacement, relative to the relocation's own address, to a defined
    /// function of the same module (published in the same code memory): a direct call.
    Function(kiln_frontend::DefinedFuncIndex),
    /// The same, to the start of the function the relocation is in: a call to itself,
    /// which needs no other function beside it (code compiled one function at a time).
    Own,
}

/// An instruction that may trap, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrapSite {
    /// Offset of the trapping instruction within the function's code.
    pub offset: u32,
    /// The reason.
    pub kind: TrapKind,
}

/// One compiled function or trampoline.
#[derive(Debug, Clone, Default)]
pub struct CompiledFunction {
    /// Machine code; position-independent except for `relocs`.
    pub code: Vec<u8>,
    /// Required alignment of the code's start, in bytes (1 unless its constants need more).
    pub alignment: u32,
    /// Trapping instructions, sorted by offset.
    pub traps: Vec<TrapSite>,
    /// Libcall addresses to patch in.
    pub relocs: Vec<Relocation>,
    /// Where the code should start past a [`PLACEMENT_LINE`](crate::PLACEMENT_LINE)-byte
    /// boundary so that its innermost loops straddle as few fetch lines as possible
    /// (a multiple of `alignment`), or `None` when placement makes no difference.
    pub loop_placement: Option<u32>,
    /// Bytes of stack frame below the frame pointer (spill slots, stack slots and
    /// outgoing arguments); 0 for code loaded from an artifact.
    pub frame_size: u32,
    /// Code compiled one function at a time: the defined functions it calls directly,
    /// each once, in order of first call (what a runtime may compile ahead).
    pub callees: Vec<kiln_frontend::DefinedFuncIndex>,
    /// Tiered baseline code: the byte offset (in the module) of each `call_indirect`
    /// site that records feedback, by the site's ordinal (its index into the
    /// function's `VMCallSiteFeedback` array).
    pub call_sites: Vec<u32>,
    /// Profile-guided baseline code: the byte offset of each `if` and `br_if` it
    /// counts, by ordinal (its index into the function's `VMBranchCounts` array).
    pub branch_sites: Vec<u32>,
    /// Bodies inlined into this code, for backtraces (see [`InlinedFrames`]).
    pub inlined: InlinedFrames,
    /// Profile-guided code: each `call_indirect` site (byte offset in the module) made
    /// a guarded direct call, and the function it speculates on.
    pub speculated: Vec<(u32, kiln_frontend::DefinedFuncIndex)>,
    /// Profile-guided code: each branch (byte offset in the module) whose cold side was
    /// laid out after the hot code, and that side.
    pub cold_branches: Vec<(u32, crate::ColdSide)>,
}

/// Where inlined bodies lie in a function's machine code, so that a backtrace can
/// show their frames.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InlinedFrames {
    /// Each inlining: the function inlined, and the inlining it happened inside
    /// (`u32::MAX`: the function's own body).
    pub sites: Vec<(kiln_frontend::FuncIndex, u32)>,
    /// `(start, end, site)`: code offsets `[start, end)` belong to inlining `site`
    /// (innermost); sorted by `start`, disjoint.
    pub ranges: Vec<(u32, u32, u32)>,
}

impl InlinedFrames {
    /// The functions inlined at code offset `offset`, innermost first (empty when the
    /// offset is the function's own code).
    pub fn at(&self, offset: u32) -> Vec<kiln_frontend::FuncIndex> {
        let mut chain = Vec::new();
        let i = self.ranges.partition_point(|r| r.0 <= offset);
        let Some(&(_, end, mut site)) = i.checked_sub(1).and_then(|i| self.ranges.get(i)) else {
            return chain;
        };
        if offset >= end {
            return chain;
        }
        // Parents come before their children, so the walk ends.
        while let Some(&(func, parent)) = self.sites.get(site as usize) {
            chain.push(func);
            if parent >= site {
                break;
            }
            site = parent;
        }
        chain
    }

    /// Whether nothing was inlined.
    pub fn is_empty(&self) -> bool {
        self.sites.is_empty()
    }
}

/// A module's compiled code.
#[derive(Debug, Clone, Default)]
pub struct CompiledModule {
    /// Defined functions, by `DefinedFuncIndex`, in the wasm calling convention:
    /// `fn(callee_vmctx, caller_vmctx, params...) -> results`.
    pub functions: Vec<CompiledFunction>,
    /// Host-to-wasm ("array call") trampolines, one per distinct signature of the defined
    /// functions: `extern "C" fn(func_ref: *const VMFuncRef, caller_vmctx, values: *mut ValRaw)`.
    pub array_trampolines: Vec<CompiledFunction>,
    /// For each `TypeIndex`, the index into `array_trampolines` of its trampoline, if a
    /// defined function has that type.
    pub array_trampoline_of_type: Vec<Option<u32>>,
    /// Wasm-to-host trampolines, one per distinct signature of the imported functions
    /// (what [`Compiler::compile_wasm_to_host_trampoline`] makes), so that linking host
    /// functions to a loaded module compiles nothing.
    ///
    /// [`Compiler::compile_wasm_to_host_trampoline`]: crate::Compiler::compile_wasm_to_host_trampoline
    pub host_trampolines: Vec<CompiledFunction>,
    /// For each `TypeIndex`, the index into `host_trampolines` of its trampoline, if an
    /// imported function has that type.
    pub host_trampoline_of_type: Vec<Option<u32>>,
}

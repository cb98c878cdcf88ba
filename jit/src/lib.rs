//! Kiln's JIT: lowers validated Wasm ([`kiln_frontend::ModuleInfo`]) to Cranelift IR with
//! its own translator, and emits machine code with the metadata the runtime needs: trap
//! sites, relocations to math libcalls, and per-function code ranges.
//!
//! The jit never maps or runs the code it makes, and knows nothing of signals: it hands
//! bytes and tables to the runtime. Five things are the contract between the two, and
//! each is written once, here:
//! - [`VmOffsets`] and the structure offsets beside it (`vmoffsets.rs`): the layout of
//!   every runtime structure generated code touches, pinned on the runtime's side by
//!   `offset_of!` tests;
//! - the builtin list ([`for_each_builtin!`]): the runtime functions generated code may
//!   call, their order in the `VMBuiltins` table and their signatures;
//! - [`TrapKind`]: why generated code traps, as recorded in trap tables;
//! - [`CompiledFunction`] / [`CompiledModule`]: code, trap sites, relocations, alignment
//!   and preferred placement ([`CodePlacement`] is the runtime's policy for using it);
//! - the calling conventions: wasm functions take `(callee_vmctx, caller_vmctx,
//!   params...)`, array-call trampolines and host entries pass [`VAL_RAW_SIZE`]-byte
//!   slots, and with fuel on the pinned register carries the fuel counter while in
//!   wasm (`pinned.rs`).

#![forbid(unsafe_code)]

mod builtins;
mod compiled;
mod compiler;
mod error;
mod fuel;
mod guidance;
mod host_inline;
mod pinned;
mod placement;
mod shape;
mod signatures;
mod trampoline;
mod translate;
mod trap;
mod vmoffsets;

pub use builtins::Builtin;
pub use compiled::{
    CompiledFunction, CompiledModule, InlinedFrames, LibCall, RelocTarget, Relocation, TrapSite,
};
pub use compiler::{Compiler, CompilerConfig, CpuFeatures, OptLevel, Tier, Tunables};
pub use error::{Error, ErrorKind};
pub use fuel::FuelCosts;
pub use guidance::{ColdSide, Guidance, InlineBudget, ModuleGuidance};
pub use host_inline::{
    BinaryOp, CompareOp, ConvertOp, ExternSignature, HostInlines, InlineBody, InlineError,
    InlineOp, InlineType, InlineValue, MAX_CELLS, MAX_INLINE_OPS,
};
pub use placement::{CodePlacement, LINE as PLACEMENT_LINE};
pub use shape::{function_shape, CompileBudget, FunctionShape, DEFAULT_MAX_SSA_COST};
pub use translate::Counting;
pub use trap::TrapKind;
pub use vmoffsets::{
    branch_site, call_site, func_counters, func_ref, global_definition, host_func,
    memory_definition, store_context, table_definition, VmOffsets, VAL_RAW_SIZE, VMCTX_MAGIC,
};

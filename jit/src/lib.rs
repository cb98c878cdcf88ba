//! Kiln's JIT: lowers validated Wasm ([`kiln_frontend::ModuleInfo`]) to Cranelift IR with
//! its own translator, and emits machine code with the metadata the runtime needs: trap
//! sites, relocations to math libcalls, and per-function code ranges.
//!
//! The jit never maps or runs the code it makes, and knows nothing of signals: it hands
//! bytes and tables to the runtime. [`VmOffsets`] is the only contract between the two.

mod builtins;
mod compiled;
mod compiler;
mod error;
mod fuel;
mod pinned;
mod placement;
mod signatures;
mod trampoline;
mod translate;
mod trap;
mod vmoffsets;

pub use builtins::Builtin;
pub use compiled::{CompiledFunction, CompiledModule, LibCall, RelocTarget, Relocation, TrapSite};
pub use compiler::{Compiler, CompilerConfig, CpuFeatures, OptLevel, Tunables};
pub use error::{Error, ErrorKind};
pub use fuel::FuelCosts;
pub use placement::LINE as PLACEMENT_LINE;
pub use trap::TrapKind;
pub use vmoffsets::{
    func_ref, global, host_func, memory, store_context, table, VmOffsets, VAL_RAW_SIZE, VMCTX_MAGIC,
};

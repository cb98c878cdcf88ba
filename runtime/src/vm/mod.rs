//! Everything that touches raw memory, signals or generated code: the runtime's unsafe
//! floor (plus the C jump buffer in `setjmp.c`). The crate denies `unsafe` everywhere
//! else, with two named exceptions (see the crate docs).
//!
//! `vm` imports nothing from the API modules above it (`tests/layering.rs` checks): what
//! it needs from a store is a trait the store implements ([`BuiltinHost`] for builtins,
//! [`HostCall`] for host functions), and what it needs from the engine's configuration
//! comes from `kiln_jit`.

pub mod artifact_file;
pub mod backtrace;
pub mod branch_counts;
pub mod builtins;
pub mod call_feedback;
pub mod code_memory;
pub mod function_arrays;
pub mod global;
pub mod host_func;
pub mod instance_vmctx;
pub mod interrupts;
pub mod libcalls;
pub mod linear_memory;
pub mod memory;
pub mod memory_image;
pub mod mmap;
pub mod structs;
pub mod table;
pub mod thread_stack;
pub mod trap_table;
pub mod traphandler;

pub use artifact_file::ArtifactFile;
pub use builtins::BuiltinHost;
pub use code_memory::{CodeLayout, CodeMemory, CodeSource, Symbol};
pub use global::VmGlobal;
pub use host_func::{HostCall, HostFuncCtx, NoReg, RegValue, TypedEntry, TypedHostCall};
pub use instance_vmctx::VmCtx;
pub use interrupts::Interruptible;
pub use memory::VmMemory;
pub use memory_image::MemoryImage;
pub use structs::{VMStoreContext, ValRaw};
pub use table::VmTable;
pub use trap_table::TrapTable;
pub use traphandler::{call_catching, TrapRecord};

/// The current stack pointer. (The address of a local is not good enough: sanitizers
/// may move locals to a heap "fake stack", and the wasm stack limit computed from it
/// would then be meaningless.)
#[inline(always)]
pub fn stack_pointer() -> usize {
    let sp: usize;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: copies a register into a register; touches no memory and no flags.
    unsafe {
        std::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags));
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: as above.
    unsafe {
        std::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags));
    }
    sp
}

/// Lowers the calling thread's scheduling priority (nice 10), so that a background
/// compiler yields to the guests on a busy machine. Best effort: failure changes nothing.
pub fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: `gettid` has no preconditions; `setpriority` on our own thread id only
    // changes this thread's nice value, and its result is checked by nobody because
    // the priority is only a hint.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
    }
}

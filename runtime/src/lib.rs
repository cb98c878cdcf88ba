//! # Kiln
//!
//! A WebAssembly runtime with its own Cranelift JIT, built to run untrusted code.
//! The API is shaped like Wasmtime's:
//!
//! ```
//! use kiln::{Engine, Instance, Module, Store};
//!
//! let engine = Engine::default();
//! let module = Module::new(&engine, r#"(module
//!     (func (export "add") (param i32 i32) (result i32)
//!         (i32.add (local.get 0) (local.get 1))))"#)?;
//! let mut store = Store::new(&engine, ());
//! let instance = Instance::new(&mut store, &module, &[])?;
//! let add = instance.get_typed_func::<(i32, i32), i32>(&store, "add")?;
//! assert_eq!(add.call(&mut store, (1, 2))?, 3);
//! # Ok::<(), kiln::Error>(())
//! ```
//!
//! Data flows one way: bytes → `kiln-frontend` (parse, validate) → `kiln-jit` (Cranelift
//! code and metadata) → this crate (memory, traps, calls).
//!
//! ## Coming from Wasmtime
//!
//! The API follows Wasmtime's; these are the names that differ, or that only Kiln has.
//!
//! | Wasmtime | Kiln |
//! |---|---|
//! | `wasmtime::Error` (anyhow-like) | [`Error`]; host functions may return `anyhow::Result<T>`, `Result<T>` or `Result<T, E: Into<Error>>` |
//! | `err.downcast_ref::<Trap>()` gives the code | `err.downcast_ref::<Trap>()` gives the [`Trap`] (code and backtrace); `err.downcast_ref::<TrapCode>()` the code |
//! | `WasmBacktrace` (context on the error) | [`Trap::backtrace`]: [`FrameInfo`]s with names and code offsets |
//! | `Linker::instantiate_pre` / `InstancePre` | the same: [`Linker::instantiate_pre`], [`InstancePre`] |
//! | `Engine::increment_epoch` (every store) | the same, and [`Store::interrupt_handle`] for one store |
//! | `Store::set_epoch_deadline` + a thread ticking the epoch | the same, or [`Store::set_timeout`] (a process-wide ticker) |
//! | `Config::consume_fuel`, `Store::set_fuel` | the same; a host function sees exact fuel |
//! | `ResourceLimiter`, `StoreLimitsBuilder` | [`ResourceLimiter`], [`StoreLimits`] (whose total memory counts table storage too) |
//! | `Module::deserialize` (unsafe) | not yet (the code cache comes with its own issue) |
//! | — | [`Module::new_until`]: compilation stops at a deadline |
//! | — | [`Caller::deadline`] / [`Deadline`]: host code waits until the deadline only |
//!
//! Trap codes ([`TrapCode`] against `wasmtime::Trap`):
//!
//! | Wasmtime | Kiln |
//! |---|---|
//! | `StackOverflow` | [`TrapCode::StackOverflow`] |
//! | `MemoryOutOfBounds` | [`TrapCode::MemoryOutOfBounds`] (with the faulting address when a guard page caught it: [`Trap::memory_fault`]) |
//! | `TableOutOfBounds` | [`TrapCode::TableOutOfBounds`] |
//! | `IndirectCallToNull` | [`TrapCode::IndirectCallToNull`] |
//! | `BadSignature` | [`TrapCode::BadSignature`] |
//! | `IntegerOverflow` | [`TrapCode::IntegerOverflow`] |
//! | `IntegerDivisionByZero` | [`TrapCode::IntegerDivisionByZero`] |
//! | `BadConversionToInteger` | [`TrapCode::BadConversionToInteger`] |
//! | `UnreachableCodeReached` | [`TrapCode::Unreachable`] |
//! | `Interrupt` | [`TrapCode::Interrupted`] (also a deadline that passes during compilation) |
//! | `OutOfFuel` | [`TrapCode::OutOfFuel`] |
//! | `HeapMisaligned`, `AtomicWaitNonSharedMemory` | — (no threads proposal) |
//! | `NullReference` | [`TrapCode::NullReference`] |
//! | `ArrayOutOfBounds`, `AllocationTooLarge`, `CastFailure` | — (no GC proposal) |
//! | `UnhandledTag` | — (no exception handling yet) |
//!
//! ## Safety
//!
//! `unsafe` is denied outside `vm`, the floor every API module stands on (and which
//! imports nothing from them). Two functions are the exception, each allowed by name:
//! the calls through code pointers that enter wasm (`Store`'s `invoke_wasm`) and a host
//! function called from the host (`Func`'s `call_raw`), whose contracts the store
//! establishes.

#![deny(unsafe_code)]

pub mod artifact;
mod artifact_error;
mod bulk;
pub mod cache;
mod deadline;
mod engine;
mod error;
mod externals;
mod func;
mod inline;
mod inlined;
mod instance;
mod limits;
mod linker;
mod module;
mod perf_map;
mod source;
mod store;
mod tiering;
mod trap;
mod typed;
mod types;
mod values;
#[allow(unsafe_code, reason = "vm is the unsafe floor of the runtime")]
mod vm;

pub use artifact::ArtifactKey;
pub use artifact_error::{ArtifactError, ArtifactRefusal};
pub use cache::{CacheConfig, CacheStats, CacheUse};
pub use deadline::{Deadline, InterruptHandle};
pub use engine::{
    BranchLayout, CodePlacement, CompileBudget, Config, CpuFeatures, Engine, FuelCosts,
    GuidedPolicy, InlineLimits, ModuleLimits, OptLevel, Strategy, TierUpPolicy,
    DEFAULT_HOST_STACK_RESERVE, EPOCH_TICK,
};
pub use error::{Error, ErrorKind, Result};
pub use externals::{Extern, Global, Memory, Table, PAGE_SIZE};
pub use func::{Caller, Func, HostCallable};
pub use inline::{
    ExternFn, ExternResult, InlineBuilder, InlineFunc, InlineTy, InlineVal, StoreCell,
};
pub use instance::Instance;
pub use kiln_jit::{CompareOp, ConvertOp};
pub use kiln_profiler::Profile;
pub use limits::{LimitHit, ResourceKind, ResourceLimiter, StoreLimits, TABLE_ELEMENT_BYTES};
pub use linker::{InstancePre, Linker};
pub use module::{ExternType, Module};
pub use source::{read_module_file, DEFAULT_MAX_MODULE_SIZE};
pub use store::{AsContext, AsContextMut, Store, StoreInner};
pub use trap::{FrameInfo, MemoryFault, Trap, TrapCode};
pub use typed::{IntoFunc, TypedFunc, WasmParams, WasmResults, WasmRet, WasmTy};
pub use types::{
    FuncType, GlobalType, HeapType, MemoryType, Mutability, RefType, TableType, ValType,
};
pub use values::{ExternRef, Val};

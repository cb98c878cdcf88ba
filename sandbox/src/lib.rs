//! # kiln-sandbox
//!
//! The host-facing API for running untrusted WebAssembly: one [`Sandbox`] per guest,
//! with its own store and instance, and limits on memory, fuel, time, tables and
//! stack; host functions, bytes in and out, WASI commands, modules compiled once for
//! many sandboxes, and (feature `tokio`) an async API. Every flag is either applied or
//! refused (`Error::Unsupported` naming it); none is ignored.
//!
//! ```
//! use kiln_sandbox::{Error, ResourceKind, Sandbox};
//!
//! let sandbox = Sandbox::builder()
//!     .bytes(r#"(module
//!         (func (export "add") (param i32 i32) (result i32)
//!             (i32.add (local.get 0) (local.get 1)))
//!         (func (export "spin") (loop (br 0))))"#)
//!     .fuel(1_000_000)
//!     .build()?;
//! assert_eq!(sandbox.call::<(i32, i32), i32>("add", (1, 2))?, 3);
//! match sandbox.call::<(), ()>("spin", ()) {
//!     Err(Error::ResourceExhausted { kind: ResourceKind::Fuel, limit, used }) => {
//!         assert_eq!((limit, used), (1_000_000, 1_000_000));
//!     }
//!     other => panic!("{other:?}"),
//! }
//! // Still usable.
//! assert_eq!(sandbox.call::<(i32, i32), i32>("add", (2, 2))?, 4);
//! # Ok::<(), Error>(())
//! ```
//!
//! ## Host functions
//!
//! [`SandboxBuilder::host_function`]`(module, name, closure)` defines an import as a
//! typed Rust closure (`|a: i32, b: i32| a + b`, one returning `anyhow::Result<T>` or
//! `kiln::Result<T>`, or one taking a [`Caller`] first to reach the guest's memory).
//! An import of another type is refused at build ([`Error::Link`] naming both); an
//! `Err` fails the call with [`Error::Host`].
//!
//! ## Bytes and strings
//!
//! [`Sandbox::call_bytes`] and [`Sandbox::call_string`] pass a buffer through the
//! guest's allocator: the guest exports `memory`, `alloc(len) -> ptr` (or `malloc`, or
//! `cabi_realloc`) and `func(ptr, len) -> i64` answering `(out_ptr << 32) | out_len`
//! (or `(i32, i32)`), and may export `dealloc(ptr, len)` (or `free`) for the answer.
//! [`Sandbox::read_memory`] and [`Sandbox::write_memory`] reach `memory` directly.
//! A range outside the memory is [`Error::OutOfBounds`], never a trap or a panic.
//!
//! ## WASI commands
//!
//! With `.wasi(true)`, `.args`/`.arg`, `.envs`/`.env` and `.stdin(bytes or text)`
//! give the guest its arguments, environment and standard input (each refused without
//! `.wasi(true)`). [`Sandbox::run`] runs `_start` once: a second `run()` is
//! [`Error::AlreadyRan`].
//!
//! ## Compiling once
//!
//! Every `build()` compiles its module, unless given a [`SandboxModule`]:
//! `SandboxModule::new(&builder)` compiles once, for an engine configured from the
//! builder (fuel metering, interruption, stack), and `.module(&module)` builds any
//! number of sandboxes from it, each with its own instance. A sandbox needing what the
//! module's engine lacks is refused ([`Error::Config`]). A `.timeout` bounds
//! compilation too: a `build()` (or `SandboxModule::new`) past it fails with
//! `ResourceExhausted { Time }`.
//!
//! ## Code cache
//!
//! `RuntimeBackend::CustomJIT { code_cache: true, .. }` compiles on an engine shared by
//! every sandbox with the same settings, with Kiln's code cache: in memory (a module's
//! second sandbox does not compile it again) and on disk in `$XDG_CACHE_HOME/kiln`
//! (else `~/.cache/kiln`, or [`SandboxBuilder::code_cache_directory`]), shared with
//! `kiln run` and across processes. Disk entries are artifacts authenticated with the
//! key file in that directory; a damaged one is deleted and compiled again.
//! [`code_cache_usage`] reports hits and misses.
//!
//! ## Async
//!
//! With the `tokio` cargo feature, `WasmSandbox::builder()...build().await?` and
//! `sandbox.call(...).await?` (and the bytes, memory and `run` methods) run the guest
//! on tokio's blocking pool, never on the runtime's worker threads. Dropping a call's
//! future (a `tokio::time::timeout`, an aborted task) interrupts the guest; the
//! sandbox stays usable. The sync API is unchanged.
//!
//! ## Backends
//!
//! [`RuntimeBackend::CustomJIT`] is Kiln's own JIT (the default);
//! [`RuntimeBackend::Wasmtime`] runs the same API on Wasmtime 48, with the cargo
//! feature `wasmtime-backend` (off by default). Both report failures as the same
//! [`Error`] variants. Host functions and shared modules are Kiln's only: Wasmtime
//! refuses them with [`Error::Unsupported`].
//!
//! ## Host calls
//!
//! Typed host functions ([`SandboxBuilder::host_function`], and every WASI function)
//! are called through a direct entry that takes the arguments in registers. With
//! [`JitSpecialization::HostFunction`] the module is also compiled with these WASI
//! functions inlined at each call: `clock_time_get` and `clock_res_get` (realtime and
//! monotonic clocks; other clocks and bad pointers go to the generic function) and
//! `sched_yield`. Nothing else is inlined; with [`JitSpecialization::None`] nothing is.
//!
//! ## Capabilities
//!
//! A guest gets nothing it is not granted: imports nothing provides are refused at
//! build time (`Error::Link` naming them). `.wasi(true)` grants WASI preview 1 with a
//! read-only view of nothing: no pre-opened directory unless `.preopen_dir` adds one,
//! only the arguments, variables and standard input given, captured stdout/stderr,
//! and no network (`sock_*` calls fail).
//!
//! ## Audit log
//!
//! Every refusal — a limit hit, a refused import or capability, an unsupported flag —
//! is a `tracing` `WARN` event with target [`audit::TARGET`] and the sandbox's id
//! ([`Sandbox::id`], also [`SandboxBuilder::id`] before `build()`) as `sandbox_id`.

#![forbid(unsafe_code)]

pub mod audit;
mod backend;
mod builder;
mod bytes;
mod cancel;
mod config;
mod error;
mod host;
mod imports;
mod limits;
mod module;
mod outcome;
mod sandbox;
mod value;
mod wasi;
#[cfg(feature = "tokio")]
mod wasm_sandbox;

pub use builder::{Blocking, BuildMode, SandboxBuilder};
pub use config::{CompileStrategy, JitSpecialization, OptimizationLevel, RuntimeBackend};
pub use error::{Error, ResourceKind, TrapCode};
pub use host::{Caller, HostState};
/// Kiln, for host functions' types: [`kiln::Error`], [`kiln::Result`],
/// [`kiln::TrapCode`], [`kiln::Memory`].
pub use kiln;
pub use module::SandboxModule;
pub use sandbox::Sandbox;
pub use value::{Val, ValType, WasmType, WasmValues};
#[cfg(feature = "tokio")]
pub use wasm_sandbox::{Async, WasmSandbox, WasmSandboxBuilder};

/// How the code caches of sandboxes built with
/// `RuntimeBackend::CustomJIT { code_cache: true, .. }` have been used in this process:
/// modules found in memory, loaded from disk, compiled, and disk entries refused.
pub fn code_cache_usage() -> kiln::CacheUse {
    backend::kiln_code_cache_usage()
}

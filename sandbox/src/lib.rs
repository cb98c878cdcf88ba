//! # kiln-sandbox
//!
//! The host-facing API for running untrusted WebAssembly: one [`Sandbox`] per guest,
//! with its own engine, store and instance, and limits on memory, fuel, time, tables
//! and stack. Every flag is either applied or refused (`Error::Unsupported` naming
//! it); none is ignored.
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
//! ## Backends
//!
//! [`RuntimeBackend::CustomJIT`] is Kiln's own JIT (the default);
//! [`RuntimeBackend::Wasmtime`] runs the same API on Wasmtime 48, with the cargo
//! feature `wasmtime-backend` (off by default). Both report failures as the same
//! [`Error`] variants.
//!
//! ## Capabilities
//!
//! A guest gets nothing it is not granted: imports nothing provides are refused at
//! build time (`Error::Link` naming them). `.wasi(true)` grants WASI preview 1 with a
//! read-only view of nothing: no pre-opened directory unless `.preopen_dir` adds one,
//! only the arguments and variables added, captured stdout/stderr, and no network
//! (`sock_*` calls fail).
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
mod config;
mod error;
mod imports;
mod limits;
mod outcome;
mod sandbox;
mod value;
mod wasi;

pub use builder::SandboxBuilder;
pub use config::{JitSpecialization, OptimizationLevel, RuntimeBackend};
pub use error::{Error, ResourceKind, TrapCode};
pub use sandbox::Sandbox;
pub use value::{Val, ValType, WasmType, WasmValues};

//! # kiln-wasi
//!
//! WASI preview 1 (`wasi_snapshot_preview1`) for Kiln: every function of the
//! snapshot, with file access only through [cap-std](https://docs.rs/cap-std).
//!
//! ```no_run
//! use kiln::{Engine, Linker, Module, Store};
//! use kiln_wasi::{add_to_linker, DirPerms, I32Exit, Output, OutputPipe, WasiCtx, WasiCtxBuilder};
//!
//! let engine = Engine::default();
//! let module = Module::from_file(&engine, "hello.wasm")?;
//! let mut linker = Linker::<WasiCtx>::new(&engine);
//! add_to_linker(&mut linker, |ctx| ctx)?;
//! let out = OutputPipe::new();
//! let ctx = WasiCtxBuilder::new()
//!     .arg("hello.wasm")
//!     .env("LANG", "C")
//!     .preopened_dir(".", ".", DirPerms::ReadOnly)?
//!     .stdout(Output::Pipe(out.clone()))
//!     .build();
//! let mut store = Store::new(&engine, ctx);
//! let instance = linker.instantiate(&mut store, &module)?;
//! let start = instance.get_typed_func::<(), ()>(&store, "_start")?;
//! let status = match start.call(&mut store, ()) {
//!     Ok(()) => 0,
//!     Err(e) => match e.downcast_ref::<I32Exit>() {
//!         Some(exit) => exit.0,
//!         None => return Err(e), // a trap or another error
//!     },
//! };
//! println!("status {status}, stdout {:?}", out.contents());
//! # Ok::<(), kiln::Error>(())
//! ```
//!
//! ## Sandbox
//!
//! The guest reaches only its pre-opened directories. Every path is resolved by
//! cap-std relative to a directory descriptor; `..` past a pre-open, absolute paths and
//! symlinks leading out fail with `EPERM` (cap-std's "path led outside of the
//! filesystem", mapped as Wasmtime maps it). In a [`DirPerms::ReadOnly`] pre-open (and
//! everything opened through it), anything that would change the file system fails
//! with `EPERM` too. Opening a directory with write rights fails with `EISDIR`. The
//! guest sees only the arguments and environment variables the host adds.
//!
//! ## Guest input
//!
//! Every pointer and length is checked against linear memory (`EFAULT`, never a host
//! fault); iovec arrays are validated without allocating and their total must fit a
//! `u32` (`EINVAL`). A guest holds at most [`MAX_FDS`] descriptors (`EMFILE`). Unopened
//! and closed descriptors give `EBADF`.
//!
//! ## Exit
//!
//! `proc_exit(n)` ends the call with the host error [`I32Exit`]`(n)`, which
//! `err.downcast_ref::<I32Exit>()` finds; a trap is a different error.

#![forbid(unsafe_code)]

mod ctx;
mod errno;
mod fast;
mod fdtable;
mod funcs;
mod linker;
mod memory;
mod stdio;
mod types;

pub use ctx::{DirPerms, DiskLimit, Refusal, WasiCtx, WasiCtxBuilder};
pub use errno::Errno;
pub use fast::FastPaths;
pub use fdtable::MAX_FDS;
pub use funcs::proc::I32Exit;
pub use linker::{add_to_linker, add_to_linker_with, WASI_FUNCTIONS};
pub use stdio::{Output, OutputPipe, Stdin};

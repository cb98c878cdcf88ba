//! The engines a sandbox runs on, behind one interface: compile, link (with the
//! import policy), instantiate, call, and report failures as [`Failure`]s for
//! [`crate::outcome`] to judge.

mod kiln;
#[cfg(feature = "wasmtime-backend")]
mod wasmtime;

use crate::config::RuntimeBackend;
use crate::error::Error;
use crate::limits::{HitLog, Limits};
use crate::value::{Val, WasmValues};
use crate::wasi::WasiSettings;

/// Everything a backend needs to build one sandbox.
#[derive(Debug)]
pub(crate) struct Setup<'a> {
    pub id: u64,
    pub bytes: &'a [u8],
    pub limits: &'a Limits,
    pub wasi: &'a WasiSettings,
    pub log: HitLog,
}

/// One sandbox's engine, store and instance.
pub(crate) enum Backend {
    Kiln(kiln::KilnBackend),
    #[cfg(feature = "wasmtime-backend")]
    Wasmtime(Box<wasmtime::WasmtimeBackend>),
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Kiln(_) => "Backend::Kiln",
            #[cfg(feature = "wasmtime-backend")]
            Backend::Wasmtime(_) => "Backend::Wasmtime",
        })
    }
}

/// Why Wasmtime cannot be chosen in a build without it.
pub(crate) fn wasmtime_missing_message() -> String {
    "RuntimeBackend::Wasmtime: kiln-sandbox was built without the wasmtime-backend feature".into()
}

impl Backend {
    /// Compiles, links and instantiates `setup.bytes` on `choice` (whose flags the
    /// builder has already checked).
    pub fn new(choice: &RuntimeBackend, setup: Setup<'_>) -> Result<Backend, Error> {
        match choice {
            RuntimeBackend::CustomJIT {
                optimization_level, ..
            } => Ok(Backend::Kiln(kiln::KilnBackend::new(
                *optimization_level,
                setup,
            )?)),
            #[cfg(feature = "wasmtime-backend")]
            RuntimeBackend::Wasmtime => Ok(Backend::Wasmtime(Box::new(
                wasmtime::WasmtimeBackend::new(setup)?,
            ))),
            #[cfg(not(feature = "wasmtime-backend"))]
            RuntimeBackend::Wasmtime => {
                let _ = setup;
                Err(Error::Unsupported(wasmtime_missing_message()))
            }
        }
    }

    /// Calls the exported function `name` with typed parameters and results.
    pub fn call<P: WasmValues, R: WasmValues>(
        &mut self,
        name: &str,
        params: P,
    ) -> Result<R, Error> {
        match self {
            Backend::Kiln(b) => b.call(name, params),
            #[cfg(feature = "wasmtime-backend")]
            Backend::Wasmtime(b) => b.call(name, params),
        }
    }

    /// Calls the exported function `name` with `Val`s.
    pub fn call_dynamic(&mut self, name: &str, args: &[Val]) -> Result<Vec<Val>, Error> {
        match self {
            Backend::Kiln(b) => b.call_dynamic(name, args),
            #[cfg(feature = "wasmtime-backend")]
            Backend::Wasmtime(b) => b.call_dynamic(name, args),
        }
    }

    /// Whether the instance exports a function `name`.
    pub fn has_func(&mut self, name: &str) -> bool {
        match self {
            Backend::Kiln(b) => b.has_func(name),
            #[cfg(feature = "wasmtime-backend")]
            Backend::Wasmtime(b) => b.has_func(name),
        }
    }

    /// Captured standard output.
    pub fn stdout(&self) -> Vec<u8> {
        match self {
            Backend::Kiln(b) => b.stdout(),
            #[cfg(feature = "wasmtime-backend")]
            Backend::Wasmtime(b) => b.stdout(),
        }
    }

    /// Captured standard error.
    pub fn stderr(&self) -> Vec<u8> {
        match self {
            Backend::Kiln(b) => b.stderr(),
            #[cfg(feature = "wasmtime-backend")]
            Backend::Wasmtime(b) => b.stderr(),
        }
    }
}

/// Formats a backtrace frame as `module!function`, like Kiln's `FrameInfo`.
#[cfg(feature = "wasmtime-backend")]
pub(crate) fn frame_name(module: Option<&str>, func: Option<&str>, index: u32) -> String {
    let module = module.unwrap_or("<module>");
    match func {
        Some(f) => format!("{module}!{f}"),
        None => format!("{module}!<wasm function {index}>"),
    }
}

//! `SandboxModule`: a module compiled once, for any number of sandboxes.

use crate::backend::{Code, EngineSettings};
use crate::builder::{BuildMode, SandboxBuilder};
use crate::error::Error;
use crate::limits::HitLog;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

/// A module compiled once, with the engine it was compiled for: build any number of
/// sandboxes from it with [`SandboxBuilder::module`], each with its own store,
/// instance, memory and WASI state, without compiling again. Cheap to clone; `Send`
/// and `Sync`.
///
/// The engine is configured from the builder given to [`SandboxModule::new`]: its
/// backend and optimization level, its `max_wasm_stack`, fuel metering if it has a
/// `.fuel`, and interruption if it has a `.timeout` or is a `WasmSandbox::builder()`.
/// A sandbox built from the module must need nothing more (else its `build()` fails
/// with [`Error::Config`] naming the difference); the values of its limits, its WASI
/// capabilities and its host functions are its own. A module compiled with fuel or
/// interruption also serves sandboxes without them (they get unlimited fuel and no
/// deadline, at the small cost of the checks).
///
/// Only the `CustomJIT` backend shares modules: on `Wasmtime`, `SandboxModule::new`
/// fails with [`Error::Unsupported`].
///
/// ```
/// use kiln_sandbox::{Error, Sandbox, SandboxModule};
/// use std::time::Duration;
///
/// let template = Sandbox::builder()
///     .bytes(r#"(module (global $n (mut i32) (i32.const 0))
///         (func (export "next") (result i32)
///             (global.set $n (i32.add (global.get $n) (i32.const 1)))
///             (global.get $n)))"#)
///     .fuel(1_000_000)
///     .timeout(Duration::from_secs(1));
/// let module = SandboxModule::new(&template)?; // compiles once
/// let a = template.clone().module(&module).build()?;
/// let b = Sandbox::builder().module(&module).fuel(500).build()?;
/// assert_eq!(a.call::<(), i32>("next", ())?, 1);
/// assert_eq!(a.call::<(), i32>("next", ())?, 2);
/// assert_eq!(b.call::<(), i32>("next", ())?, 1); // its own instance
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone)]
pub struct SandboxModule(Arc<Code>);

impl fmt::Debug for SandboxModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxModule")
            .field("engine", self.settings())
            .finish()
    }
}

impl SandboxModule {
    /// Compiles the module of `settings` (its `.source` or `.bytes`; a `.module` is
    /// returned as is) for an engine configured as described above. The builder's
    /// `.timeout` bounds the compilation (`ResourceExhausted { Time }` past it);
    /// unsupported flags are refused as `build()` refuses them. Compilation runs on the
    /// calling thread (from async code, call it through `spawn_blocking`).
    pub fn new<M: BuildMode>(settings: &SandboxBuilder<M>) -> Result<SandboxModule, Error> {
        settings.check()?;
        let engine = settings.engine_settings();
        if engine.backend != "kiln" {
            return Err(Error::Unsupported(
                "SandboxModule on the Wasmtime backend: each Wasmtime sandbox compiles for its \
                 own engine (whose epoch its timeout advances)"
                    .into(),
            ));
        }
        let code = settings.code(&engine, Instant::now(), &HitLog::new(settings.id()))?;
        Ok(SandboxModule(Arc::new(code)))
    }

    pub(crate) fn code(&self) -> &Code {
        &self.0
    }

    pub(crate) fn settings(&self) -> &EngineSettings {
        match &*self.0 {
            Code::Kiln(m) => m.settings(),
            #[cfg(feature = "wasmtime-backend")]
            Code::Wasmtime(m) => m.settings(),
        }
    }

    /// Whether its engine meters fuel (sandboxes from it may have `.fuel`).
    pub fn meters_fuel(&self) -> bool {
        self.settings().fuel
    }

    /// Whether its engine can interrupt guests (sandboxes from it may have a
    /// `.timeout`, or be async).
    pub fn interruptible(&self) -> bool {
        self.settings().epochs
    }
}

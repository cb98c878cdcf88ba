//! `Sandbox`: one instantiated module, its limits, and its captured output.

use crate::backend::Backend;
use crate::builder::SandboxBuilder;
use crate::config::RuntimeBackend;
use crate::error::Error;
use crate::value::{Val, WasmValues};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// An instantiated module that runs under limits. It owns its engine, store and
/// instance; it can be called any number of times, and stays usable after any error
/// (a trap, an exhausted limit, a guest's `proc_exit`). Calls take `&self` and are
/// serialized: a sandbox runs one call at a time.
///
/// ```
/// use kiln_sandbox::{Sandbox, RuntimeBackend, OptimizationLevel, JitSpecialization};
/// use std::time::Duration;
///
/// let sandbox = Sandbox::builder()
///     .bytes(r#"(module (func (export "add") (param i32 i32) (result i32)
///         (i32.add (local.get 0) (local.get 1))))"#)
///     .runtime_backend(RuntimeBackend::CustomJIT {
///         optimization_level: OptimizationLevel::Speed,
///         specialization: JitSpecialization::None,
///         code_cache: false,
///         profile_guided: false,
///     })
///     .memory_limit(64 << 20)
///     .fuel(10_000_000)
///     .timeout(Duration::from_millis(500))
///     .build()?;
/// let sum: i32 = sandbox.call("add", (1i32, 2i32))?;
/// assert_eq!(sum, 3);
/// # Ok::<(), kiln_sandbox::Error>(())
/// ```
#[derive(Debug)]
pub struct Sandbox {
    id: u64,
    backend: RuntimeBackend,
    inner: Mutex<Backend>,
}

impl Sandbox {
    /// A builder (see [`SandboxBuilder`]).
    pub fn builder() -> SandboxBuilder {
        SandboxBuilder::new()
    }

    pub(crate) fn new(id: u64, backend: RuntimeBackend, inner: Backend) -> Self {
        Sandbox {
            id,
            backend,
            inner: Mutex::new(inner),
        }
    }

    /// The sandbox's id, unique in the process; every audit event about it carries it
    /// as `sandbox_id`.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The backend it runs on.
    pub fn runtime_backend(&self) -> RuntimeBackend {
        self.backend
    }

    fn lock(&self) -> MutexGuard<'_, Backend> {
        // A panic during a call (a bug, never wasm) leaves the store as consistent as
        // any trap does.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Calls the exported function `name`: `P` and `R` are `()`, a value type (`i32`,
    /// `u32`, `i64`, `u64`, `f32`, `f64`, `u128` for `v128`) or a tuple of them, and
    /// must match its signature (else [`Error::Type`]). A guest's `proc_exit(n)` is
    /// [`Error::Exit`]`(n)`.
    pub fn call<P: WasmValues, R: WasmValues>(&self, name: &str, params: P) -> Result<R, Error> {
        self.lock().call(name, params)
    }

    /// Calls the exported function `name` with `args`, returning its results. Functions
    /// with reference-typed parameters or results are refused ([`Error::Type`]).
    pub fn call_dynamic(&self, name: &str, args: &[Val]) -> Result<Vec<Val>, Error> {
        self.lock().call_dynamic(name, args)
    }

    /// Runs a WASI command's `_start`, returning its exit status: 0 when `_start`
    /// returns, `n` when the guest calls `proc_exit(n)`. Traps and limits are errors.
    pub fn run(&self) -> Result<i32, Error> {
        let mut inner = self.lock();
        if !inner.has_func("_start") {
            return Err(Error::Export(
                "no exported function `_start`: the module is not a WASI command".into(),
            ));
        }
        match inner.call::<(), ()>("_start", ()) {
            Ok(()) => Ok(0),
            Err(Error::Exit(code)) => Ok(code),
            Err(e) => Err(e),
        }
    }

    /// Everything the guest wrote to stdout so far (empty unless output is captured,
    /// the default).
    pub fn stdout(&self) -> Vec<u8> {
        self.lock().stdout()
    }

    /// Everything the guest wrote to stderr so far (empty unless output is captured,
    /// the default).
    pub fn stderr(&self) -> Vec<u8> {
        self.lock().stderr()
    }
}

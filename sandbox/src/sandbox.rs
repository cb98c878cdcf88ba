//! `Sandbox`: one instantiated module, its limits, and its captured output.

use crate::audit;
use crate::backend::Backend;
use crate::builder::SandboxBuilder;
use crate::bytes;
use crate::cancel::Cancel;
use crate::config::RuntimeBackend;
use crate::error::Error;
use crate::value::{Val, WasmValues};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The name of a WASI command's entry point, which runs at most once.
const START: &str = "_start";

/// What the sandbox's lock guards.
#[derive(Debug)]
pub(crate) struct Inner {
    pub backend: Backend,
    /// `_start` was called.
    started: bool,
}

impl Inner {
    /// Runs `f`, a call of the export `name`: a second `_start` is refused, and the
    /// first is noted unless it never reached the guest (no such export, wrong types).
    fn once<T>(
        &mut self,
        name: &str,
        f: impl FnOnce(&mut Backend) -> Result<T, Error>,
    ) -> Result<T, Error> {
        if name != START {
            return f(&mut self.backend);
        }
        if self.started {
            return Err(Error::AlreadyRan);
        }
        self.started = true;
        let r = f(&mut self.backend);
        if matches!(r, Err(Error::Export(_) | Error::Type(_))) {
            self.started = false;
        }
        r
    }

    pub fn call<P: WasmValues, R: WasmValues>(
        &mut self,
        name: &str,
        params: P,
    ) -> Result<R, Error> {
        self.once(name, |b| b.call(name, params))
    }

    pub fn call_dynamic(&mut self, name: &str, args: &[Val]) -> Result<Vec<Val>, Error> {
        self.once(name, |b| b.call_dynamic(name, args))
    }

    pub fn run(&mut self) -> Result<i32, Error> {
        if !self.backend.has_func(START) {
            return Err(Error::Export(
                "no exported function `_start`: the module is not a WASI command".into(),
            ));
        }
        match self.call::<(), ()>(START, ()) {
            Ok(()) => Ok(0),
            Err(Error::Exit(code)) => Ok(code),
            Err(e) => Err(e),
        }
    }
}

/// An instantiated module that runs under limits. It owns its store and instance (and
/// its engine, unless built from a shared [`crate::SandboxModule`]); it can be called
/// any number of times, and stays usable after any error (a trap, an exhausted limit,
/// a guest's `proc_exit`, a cancelled call). Calls take `&self` and are serialized: a
/// sandbox runs one call at a time.
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
    inner: Mutex<Inner>,
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
            inner: Mutex::new(Inner {
                backend: inner,
                started: false,
            }),
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

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic during a call (a host function's, or a bug; never wasm's) leaves the
        // store as consistent as any trap does.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the sandbox under `cancel` (the async API's): refused if the call
    /// was cancelled while it waited for the sandbox, interruptible while it runs.
    #[cfg_attr(
        not(feature = "tokio"),
        allow(dead_code, reason = "only the async API cancels calls")
    )]
    pub(crate) fn with_cancel<T>(
        &self,
        cancel: &Arc<Cancel>,
        f: impl FnOnce(&mut Inner) -> Result<T, Error>,
    ) -> Result<T, Error> {
        /// Clears the call's cancellation when it ends, even by a host function's
        /// panic.
        struct Cancellable<'a> {
            inner: MutexGuard<'a, Inner>,
            cancel: &'a Cancel,
        }
        impl Drop for Cancellable<'_> {
            fn drop(&mut self) {
                self.inner.backend.set_cancel(None);
                self.cancel.finish();
            }
        }
        let inner = self.lock();
        if cancel.is_cancelled() {
            audit::cancelled(self.id);
            return Err(Error::Cancelled);
        }
        let mut call = Cancellable { inner, cancel };
        call.inner.backend.set_cancel(Some(cancel.clone()));
        f(&mut call.inner)
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

    /// Passes `input` to the exported function `func` through the guest's memory and
    /// returns the bytes it answers. The guest exports `memory`, an allocator
    /// (`alloc(len: i32) -> i32`, or `malloc`, or `cabi_realloc`), and
    /// `func(ptr: i32, len: i32) -> i64` returning `(out_ptr << 32) | out_len` (or
    /// `-> (i32, i32)`); it may export `dealloc(ptr: i32, len: i32)` (or `free(ptr)`),
    /// which then frees the output buffer once copied. A missing export is
    /// [`Error::Export`], a wrong signature [`Error::Type`], a buffer outside the
    /// memory [`Error::OutOfBounds`], a null allocation [`Error::Abi`].
    ///
    /// ```
    /// use kiln_sandbox::Sandbox;
    ///
    /// // `upper` uppercases ASCII in place and answers the same buffer.
    /// let sandbox = Sandbox::builder()
    ///     .bytes(r#"(module (memory (export "memory") 1)
    ///         (global $top (mut i32) (i32.const 1024))
    ///         (func (export "alloc") (param $n i32) (result i32)
    ///             (global.get $top)
    ///             (global.set $top (i32.add (global.get $top) (local.get $n))))
    ///         (func (export "upper") (param $p i32) (param $n i32) (result i64)
    ///             (local $i i32) (local $c i32)
    ///             (block $done (loop $next
    ///                 (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
    ///                 (local.set $c (i32.load8_u (i32.add (local.get $p) (local.get $i))))
    ///                 (if (i32.and (i32.ge_u (local.get $c) (i32.const 97))
    ///                              (i32.le_u (local.get $c) (i32.const 122)))
    ///                     (then (i32.store8 (i32.add (local.get $p) (local.get $i))
    ///                         (i32.sub (local.get $c) (i32.const 32)))))
    ///                 (local.set $i (i32.add (local.get $i) (i32.const 1)))
    ///                 (br $next)))
    ///             (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32))
    ///                     (i64.extend_i32_u (local.get $n)))))"#)
    ///     .build()?;
    /// assert_eq!(sandbox.call_bytes("upper", b"hello")?, b"HELLO");
    /// assert_eq!(sandbox.call_string("upper", "kiln")?, "KILN");
    /// # Ok::<(), kiln_sandbox::Error>(())
    /// ```
    pub fn call_bytes(&self, func: &str, input: &[u8]) -> Result<Vec<u8>, Error> {
        bytes::call_bytes(&mut self.lock().backend, func, input)
    }

    /// [`Sandbox::call_bytes`] with UTF-8 text in and out: output that is not UTF-8 is
    /// [`Error::Abi`].
    pub fn call_string(&self, func: &str, input: &str) -> Result<String, Error> {
        bytes::call_string(&mut self.lock().backend, func, input)
    }

    /// Copies `len` bytes at `offset` out of the memory the guest exports as `memory`.
    /// A range past its end is [`Error::OutOfBounds`]; no such memory is
    /// [`Error::Export`].
    pub fn read_memory(&self, offset: u64, len: u64) -> Result<Vec<u8>, Error> {
        self.lock().backend.read_memory(offset, len)
    }

    /// Copies `bytes` to `offset` in the memory the guest exports as `memory`. A range
    /// past its end is [`Error::OutOfBounds`] (and nothing is written); no such memory
    /// is [`Error::Export`].
    pub fn write_memory(&self, offset: u64, bytes: &[u8]) -> Result<(), Error> {
        self.lock().backend.write_memory(offset, bytes)
    }

    /// The size in bytes of the memory the guest exports as `memory`.
    pub fn memory_size(&self) -> Result<u64, Error> {
        self.lock().backend.memory_size()
    }

    /// Runs a WASI command's `_start`, returning its exit status: 0 when `_start`
    /// returns, `n` when the guest calls `proc_exit(n)`. Traps and limits are errors.
    /// A command runs once: calling `run()` (or `_start`) again is
    /// [`Error::AlreadyRan`], whatever the first run's outcome.
    pub fn run(&self) -> Result<i32, Error> {
        self.lock().run()
    }

    /// Everything the guest wrote to stdout so far (empty unless output is captured,
    /// the default).
    pub fn stdout(&self) -> Vec<u8> {
        self.lock().backend.stdout()
    }

    /// Everything the guest wrote to stderr so far (empty unless output is captured,
    /// the default).
    pub fn stderr(&self) -> Vec<u8> {
        self.lock().backend.stderr()
    }
}

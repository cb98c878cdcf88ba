//! `SandboxBuilder`: the module, the backend, the limits, the capabilities and the
//! host functions; `build()` checks them all, then compiles (or takes a
//! [`SandboxModule`]), links and instantiates under the timeout.

use crate::audit;
use crate::backend::{self, Backend, Code, EngineSettings, Setup};
use crate::cancel::Cancel;
use crate::config::{CompileStrategy, RuntimeBackend};
use crate::error::Error;
use crate::host::{HostFunc, HostState};
use crate::limits::{HitLog, Limits};
use crate::module::SandboxModule;
use crate::outcome::Entry;
use crate::sandbox::Sandbox;
use crate::wasi::{Preopen, WasiSettings};
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Where the module comes from.
#[derive(Debug, Clone)]
enum Source {
    File(PathBuf),
    Bytes(Vec<u8>),
    Compiled(SandboxModule),
}

mod sealed {
    pub trait Sealed {}
}

/// What `build()` makes: [`Blocking`] (a [`Sandbox`], the default) or, with the
/// `tokio` feature, `Async` (a `WasmSandbox`, built with `.build().await`).
pub trait BuildMode: sealed::Sealed + std::fmt::Debug + Clone + Send + Sync + 'static {
    /// Whether the sandbox's calls can be cancelled (the async API): its engine then
    /// checks epochs even without a timeout.
    #[doc(hidden)]
    const INTERRUPTIBLE: bool;
}

/// The builder of a synchronous [`Sandbox`] (`build()` returns it).
#[derive(Debug, Clone, Copy, Default)]
pub struct Blocking;

impl sealed::Sealed for Blocking {}
impl BuildMode for Blocking {
    const INTERRUPTIBLE: bool = false;
}

#[cfg(feature = "tokio")]
impl sealed::Sealed for crate::wasm_sandbox::Async {}
#[cfg(feature = "tokio")]
impl BuildMode for crate::wasm_sandbox::Async {
    const INTERRUPTIBLE: bool = true;
}

/// Configures and builds a [`Sandbox`] (or, as `WasmSandbox::builder()`, a
/// `WasmSandbox`). Every setting is either applied or refused by `build()`; none is
/// ignored.
///
/// Defaults: the `CustomJIT` backend at `Speed`; no memory, fuel, time or table limit;
/// 512 KiB of wasm stack; no WASI; no host function.
#[derive(Debug, Clone)]
pub struct SandboxBuilder<M: BuildMode = Blocking> {
    id: u64,
    source: Option<Source>,
    backend: RuntimeBackend,
    limits: Limits,
    wasi: WasiSettings,
    host: Vec<HostFunc>,
    cache_directory: Option<std::path::PathBuf>,
    strategy: CompileStrategy,
    mode: PhantomData<M>,
}

impl Default for SandboxBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl SandboxBuilder {
    /// A builder with the defaults above, and a fresh sandbox id.
    pub fn new() -> Self {
        Self::with_mode()
    }

    /// Checks every setting, reads and compiles the module (or takes the
    /// [`SandboxModule`] given to `.module`), links what is granted, and instantiates it
    /// (running its start function, and `_initialize` for a WASI reactor) under the
    /// sandbox's limits. With a `.timeout`, compilation and instantiation together get
    /// that much time: past it, `build()` fails with `ResourceExhausted { Time }`.
    pub fn build(self) -> Result<Sandbox, Error> {
        self.build_with(None)
    }
}

impl<M: BuildMode> SandboxBuilder<M> {
    pub(crate) fn with_mode() -> Self {
        SandboxBuilder {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            source: None,
            backend: RuntimeBackend::default(),
            limits: Limits::default(),
            wasi: WasiSettings::default(),
            host: Vec::new(),
            cache_directory: None,
            strategy: CompileStrategy::Eager,
            mode: PhantomData,
        }
    }

    /// Where `RuntimeBackend::CustomJIT { code_cache: true, .. }` keeps compiled
    /// modules on disk. The default is `$XDG_CACHE_HOME/kiln`, else `~/.cache/kiln`
    /// (Kiln's own cache, shared with `kiln run`), or memory only when neither
    /// variable is set. Sandboxes with the same settings share one engine, whose
    /// memory tier (512 MiB) makes the second sandbox of a module skip compiling; the
    /// disk tier (4 GiB, least recently used evicted) does the same across processes.
    /// Without `code_cache: true` this has no effect.
    pub fn code_cache_directory(mut self, directory: impl Into<PathBuf>) -> Self {
        self.cache_directory = Some(directory.into());
        self
    }

    /// When Kiln compiles the module's functions (default: [`CompileStrategy::Eager`]).
    /// `Lazy` and `Tiered` start sooner on large modules whose functions are mostly
    /// not called; `code_cache: true` and the Wasmtime backend need `Eager`
    /// (`build()` refuses the others with [`crate::Error::Unsupported`]).
    pub fn compile_strategy(mut self, strategy: CompileStrategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// The id the sandbox will have (unique in the process). Audit events of a failed
    /// `build()` carry it too.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Reads the module (binary or text) from `path` at `build()`. Replaces an earlier
    /// `.source`, `.bytes` or `.module`.
    pub fn source(mut self, path: impl Into<PathBuf>) -> Self {
        self.source = Some(Source::File(path.into()));
        self
    }

    /// The module's bytes, binary or text. Replaces an earlier `.source`, `.bytes` or
    /// `.module`.
    pub fn bytes(mut self, bytes: impl AsRef<[u8]>) -> Self {
        self.source = Some(Source::Bytes(bytes.as_ref().to_vec()));
        self
    }

    /// A module compiled once by [`SandboxModule::new`]: `build()` links and
    /// instantiates it without compiling. Its engine must serve this sandbox (same
    /// backend, optimization level and `max_wasm_stack`; fuel metering if this sandbox
    /// has `.fuel`; interruption if it has a `.timeout` or is async), else `build()`
    /// fails with [`Error::Config`] naming the difference. Limits' values, WASI and
    /// host functions may differ between sandboxes of one module. Replaces an earlier
    /// `.source`, `.bytes` or `.module`.
    pub fn module(mut self, module: &SandboxModule) -> Self {
        self.source = Some(Source::Compiled(module.clone()));
        self
    }

    /// The engine (default: `CustomJIT` at `Speed`).
    pub fn runtime_backend(mut self, backend: RuntimeBackend) -> Self {
        self.backend = backend;
        self
    }

    /// Most bytes of linear memory, all of the sandbox's memories together. A
    /// `memory.grow` past it returns -1; a module whose initial memory exceeds it fails
    /// to build with `ResourceExhausted { Memory }`.
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.limits.memory = Some(bytes);
        self
    }

    /// Fuel for each call (and for instantiation): every wasm operator costs one unit,
    /// except the structural and free ones (`nop`, `drop`, `block`, `loop`,
    /// `unreachable`, `return`, `else`, `end`), as in Wasmtime.
    /// Running out is `ResourceExhausted { Fuel }`; the next call starts with `n` again.
    pub fn fuel(mut self, n: u64) -> Self {
        self.limits.fuel = Some(n);
        self
    }

    /// Wall-clock time for each call, and for `build()` (compilation and instantiation
    /// together). Passing it is `ResourceExhausted { Time }`. Checked at function
    /// entries and loop headers, and by WASI calls that wait (`poll_oneoff`, reading
    /// stdin); a guest blocked in one of your host functions is stopped when it returns
    /// to wasm, unless the function watches `Caller::deadline`. Kiln's ticker measures
    /// time in 5 ms ticks; compilation looks at the deadline before each function.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.limits.timeout = Some(timeout);
        self
    }

    /// Most elements of any one table. A `table.grow` past it returns -1.
    pub fn max_table_elements(mut self, n: u32) -> Self {
        self.limits.table_elements = Some(n);
        self
    }

    /// Bytes of native stack wasm may use per call (default 512 KiB). Must be well
    /// below the stack of the threads that call the sandbox. Passing it is
    /// `ResourceExhausted { Stack }`.
    pub fn max_wasm_stack(mut self, bytes: usize) -> Self {
        self.limits.wasm_stack = bytes;
        self
    }

    /// Grants WASI preview 1 (default: off, and WASI imports are refused). The guest
    /// still sees only what `.arg`/`.args`, `.env`/`.envs`, `.stdin` and `.preopen_dir`
    /// give it; it has no network.
    pub fn wasi(mut self, on: bool) -> Self {
        self.wasi.enabled = on;
        self
    }

    /// Appends an argument the guest sees (the first is `argv[0]`). Needs `.wasi(true)`.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.wasi.args.push(arg.into());
        self
    }

    /// Appends arguments the guest sees, in order (the first of all is `argv[0]`).
    /// Needs `.wasi(true)`.
    pub fn args(mut self, args: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.wasi.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Adds an environment variable the guest sees. Needs `.wasi(true)`.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.wasi.env.push((key.into(), value.into()));
        self
    }

    /// Adds environment variables the guest sees. Needs `.wasi(true)`.
    pub fn envs(
        mut self,
        vars: impl IntoIterator<Item = (impl Into<String>, impl Into<String>)>,
    ) -> Self {
        self.wasi
            .env
            .extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// The guest's standard input: these bytes (or this string's UTF-8), then end of
    /// file. Without it stdin is empty. Replaces an earlier `.stdin`. Needs
    /// `.wasi(true)`.
    pub fn stdin(mut self, input: impl AsRef<[u8]>) -> Self {
        self.wasi.stdin = Some(input.as_ref().to_vec());
        self
    }

    /// Lets the guest reach the host directory `host` as `guest`, read-only or not.
    /// Without any, the guest can open no file. Needs `.wasi(true)`.
    pub fn preopen_dir(
        mut self,
        host: impl Into<PathBuf>,
        guest: impl Into<String>,
        read_only: bool,
    ) -> Self {
        self.wasi.preopens.push(Preopen {
            host: host.into(),
            guest: guest.into(),
            read_only,
        });
        self
    }

    /// Whether the guest's stdout and stderr are captured in memory (the default; read
    /// them with [`Sandbox::stdout`] and [`Sandbox::stderr`]) or go to the host's.
    pub fn capture_output(mut self, on: bool) -> Self {
        self.wasi.capture_output = on;
        self
    }

    /// Defines the import `module::name` as a typed Rust closure, Wasmtime-style
    /// (`Linker::func_wrap`): parameters and results are `i32`, `u32`, `i64`, `u64`,
    /// `f32`, `f64`, `u128` (`v128`), tuples of them or `()`; it may return them
    /// bare or in a `Result` whose error converts into `kiln::Error` (`kiln::Error`,
    /// `anyhow::Error`, `kiln::TrapCode`), and may take a [`crate::Caller`] first to
    /// reach the guest's memory. An `Err` traps the guest: the call fails with
    /// [`Error::Host`] carrying its message. A panic propagates to the caller of the
    /// sandbox.
    ///
    /// The module names the import's module itself (any name but WASI's, e.g.
    /// `"host"` or `"env"`). `build()` refuses, with [`Error::Link`] naming both
    /// signatures, a module that imports it with another type; and with
    /// [`Error::Config`] a second definition of the same name (or one of WASI's when
    /// `.wasi(true)`). Only the `CustomJIT` backend runs host functions: on `Wasmtime`
    /// `build()` fails with [`Error::Unsupported`].
    ///
    /// ```
    /// use kiln_sandbox::{Error, Sandbox};
    ///
    /// let sandbox = Sandbox::builder()
    ///     .bytes(r#"(module (import "host" "add" (func $add (param i32 i32) (result i32)))
    ///         (func (export "twice") (param i32) (result i32)
    ///             (call $add (local.get 0) (local.get 0))))"#)
    ///     .host_function("host", "add", |a: i32, b: i32| a.wrapping_add(b))
    ///     .build()?;
    /// assert_eq!(sandbox.call::<i32, i32>("twice", 21)?, 42);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn host_function<Params: 'static, Results: 'static>(
        mut self,
        module: &str,
        name: &str,
        func: impl kiln::IntoFunc<HostState, Params, Results> + Clone,
    ) -> Self {
        self.host.push(HostFunc::new(module, name, func));
        self
    }

    /// Flags of the chosen backend this build does not implement, each audited.
    fn refused_flags(&self) -> Vec<String> {
        let mut refused = Vec::new();
        let mut refuse = |flag: &str, message: String| {
            audit::flag_unsupported(self.id, flag, &message);
            refused.push(message);
        };
        match self.backend {
            RuntimeBackend::CustomJIT {
                optimization_level: _,
                specialization: _,
                code_cache,
                profile_guided,
            } => {
                if code_cache && !profile_guided && self.strategy != CompileStrategy::Eager {
                    refuse(
                        "code_cache",
                        format!(
                            "RuntimeBackend::CustomJIT `code_cache: true` with \
                             CompileStrategy::{:?}: the code cache holds eagerly compiled \
                             modules (use CompileStrategy::Eager)",
                            self.strategy
                        ),
                    );
                }
                if profile_guided && self.strategy == CompileStrategy::Lazy {
                    refuse(
                        "profile_guided",
                        "RuntimeBackend::CustomJIT `profile_guided: true` with \
                         CompileStrategy::Lazy: the profile is what tiered baseline code \
                         records (use CompileStrategy::Tiered, or the default, which \
                         profile_guided makes tiered)"
                            .into(),
                    );
                }
                if profile_guided && code_cache {
                    refuse(
                        "profile_guided",
                        "RuntimeBackend::CustomJIT `profile_guided: true` with `code_cache: \
                         true`: profile-guided code is compiled from this run's profile and \
                         never cached (saved profiles are not supported yet)"
                            .into(),
                    );
                }
            }
            RuntimeBackend::Wasmtime => {
                if self.strategy != CompileStrategy::Eager {
                    refuse(
                        "compile_strategy",
                        format!(
                            "CompileStrategy::{:?} on the Wasmtime backend: Wasmtime compiles \
                             every function up front",
                            self.strategy
                        ),
                    );
                }
                if !cfg!(feature = "wasmtime-backend") {
                    refuse(
                        "RuntimeBackend::Wasmtime",
                        backend::wasmtime_missing_message(),
                    );
                }
                if !self.host.is_empty() {
                    refuse(
                        "host_function",
                        "host_function on the Wasmtime backend: only RuntimeBackend::CustomJIT \
                         runs host functions"
                            .into(),
                    );
                }
                if matches!(self.source, Some(Source::Compiled(_))) {
                    refuse(
                        "module",
                        "SandboxModule on the Wasmtime backend: each Wasmtime sandbox compiles \
                         for its own engine (whose epoch its timeout advances)"
                            .into(),
                    );
                }
            }
        }
        refused
    }

    /// What this sandbox's engine must be configured with.
    pub(crate) fn engine_settings(&self) -> EngineSettings {
        EngineSettings::new(
            &self.backend,
            &self.limits,
            M::INTERRUPTIBLE,
            self.cache_directory.as_deref(),
            self.strategy,
        )
    }

    /// Checks the settings that need no module: unsupported flags, WASI capabilities.
    pub(crate) fn check(&self) -> Result<(), Error> {
        let refused = self.refused_flags();
        if !refused.is_empty() {
            return Err(Error::Unsupported(refused.join("; ")));
        }
        self.wasi.validate(self.id)
    }

    /// Reads the module's bytes and compiles them for `settings`, under the timeout
    /// counted from `started`; or, for `.module`, checks that it serves `settings`.
    pub(crate) fn code(
        &self,
        settings: &EngineSettings,
        started: Instant,
        log: &HitLog,
    ) -> Result<Code, Error> {
        let bytes = match &self.source {
            None => {
                return Err(Error::Config(
                    "no module given: call `.source(path)`, `.bytes(bytes)` or `.module(&m)`"
                        .into(),
                ))
            }
            Some(Source::Compiled(m)) => {
                m.settings().serves(settings)?;
                return Ok(m.code().clone());
            }
            Some(Source::Bytes(b)) => std::borrow::Cow::Borrowed(b.as_slice()),
            // Only a regular file, of at most 1 GiB, is read.
            Some(Source::File(path)) => std::borrow::Cow::Owned(kiln::read_module_file(
                path,
                kiln::DEFAULT_MAX_MODULE_SIZE,
            )?),
        };
        let entry = Entry::begin(self.id, &self.limits, log, started, None);
        Code::compile(settings, &bytes, entry.deadline()).map_err(|f| entry.fail(f))
    }

    /// Builds on the calling thread; `cancel` is the async build's.
    pub(crate) fn build_with(self, cancel: Option<Arc<Cancel>>) -> Result<Sandbox, Error> {
        let started = Instant::now();
        self.check()?;
        let log = HitLog::new(self.id);
        let code = self.code(&self.engine_settings(), started, &log)?;
        let mut backend = Backend::new(
            &code,
            Setup {
                id: self.id,
                limits: &self.limits,
                wasi: &self.wasi,
                host: &self.host,
                log,
                started,
                cancel: cancel.clone(),
            },
        )?;
        backend.set_cancel(None);
        if let Some(c) = &cancel {
            c.finish();
        }
        audit::created(self.id, self.backend.name());
        Ok(Sandbox::new(self.id, self.backend, backend))
    }
}

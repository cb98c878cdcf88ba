//! `SandboxBuilder`: the module, the backend, the limits and the capabilities.

use crate::audit;
use crate::backend::{self, Backend, Setup};
use crate::config::{JitSpecialization, RuntimeBackend};
use crate::error::Error;
use crate::limits::{HitLog, Limits};
use crate::sandbox::Sandbox;
use crate::wasi::{Preopen, WasiSettings};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Where the module comes from.
#[derive(Debug, Clone)]
enum Source {
    File(PathBuf),
    Bytes(Vec<u8>),
}

/// Configures and builds a [`Sandbox`]. Every setting is either applied or refused by
/// [`SandboxBuilder::build`]; none is ignored.
///
/// Defaults: the `CustomJIT` backend at `Speed`; no memory, fuel, time or table limit;
/// 512 KiB of wasm stack; no WASI.
#[derive(Debug, Clone)]
pub struct SandboxBuilder {
    id: u64,
    source: Option<Source>,
    backend: RuntimeBackend,
    limits: Limits,
    wasi: WasiSettings,
}

impl Default for SandboxBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl SandboxBuilder {
    /// A builder with the defaults above, and a fresh sandbox id.
    pub fn new() -> Self {
        SandboxBuilder {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            source: None,
            backend: RuntimeBackend::default(),
            limits: Limits::default(),
            wasi: WasiSettings::default(),
        }
    }

    /// The id the sandbox will have (unique in the process). Audit events of a failed
    /// `build()` carry it too.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Reads the module (binary or text) from `path` at `build()`. Replaces an earlier
    /// `.source` or `.bytes`.
    pub fn source(mut self, path: impl Into<PathBuf>) -> Self {
        self.source = Some(Source::File(path.into()));
        self
    }

    /// The module's bytes, binary or text. Replaces an earlier `.source` or `.bytes`.
    pub fn bytes(mut self, bytes: impl AsRef<[u8]>) -> Self {
        self.source = Some(Source::Bytes(bytes.as_ref().to_vec()));
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

    /// Fuel for each call (and for instantiation): every wasm operator costs one unit.
    /// Running out is `ResourceExhausted { Fuel }`; the next call starts with `n` again.
    pub fn fuel(mut self, n: u64) -> Self {
        self.limits.fuel = Some(n);
        self
    }

    /// Wall-clock time for each call (and for instantiation). Passing it is
    /// `ResourceExhausted { Time }`. Checked at function entries and loop headers, so
    /// a guest blocked in a host function (e.g. WASI I/O) is stopped only when it
    /// returns to wasm. Kiln's ticker measures time in 5 ms ticks.
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
    /// still sees only what `.arg`, `.env` and `.preopen_dir` give it; it has no
    /// network.
    pub fn wasi(mut self, on: bool) -> Self {
        self.wasi.enabled = on;
        self
    }

    /// Appends an argument the guest sees (the first is `argv[0]`). Needs `.wasi(true)`.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.wasi.args.push(arg.into());
        self
    }

    /// Adds an environment variable the guest sees. Needs `.wasi(true)`.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.wasi.env.push((key.into(), value.into()));
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
                specialization,
                code_cache,
                profile_guided,
            } => {
                if code_cache {
                    refuse(
                        "code_cache",
                        "RuntimeBackend::CustomJIT `code_cache: true`: Kiln has no code cache \
                         yet (every sandbox compiles its module)"
                            .into(),
                    );
                }
                if profile_guided {
                    refuse(
                        "profile_guided",
                        "RuntimeBackend::CustomJIT `profile_guided: true`: Kiln has no \
                         profile-guided recompilation yet"
                            .into(),
                    );
                }
                if specialization != JitSpecialization::None {
                    refuse(
                        "specialization",
                        format!(
                            "RuntimeBackend::CustomJIT `specialization: \
                             JitSpecialization::{specialization:?}`: Kiln generates no \
                             specialized code yet (use JitSpecialization::None)"
                        ),
                    );
                }
            }
            RuntimeBackend::Wasmtime => {
                if !cfg!(feature = "wasmtime-backend") {
                    refuse(
                        "RuntimeBackend::Wasmtime",
                        backend::wasmtime_missing_message(),
                    );
                }
            }
        }
        refused
    }

    /// Checks every setting, reads and compiles the module, links what is granted,
    /// and instantiates it (running its start function, and `_initialize` for a WASI
    /// reactor) under the sandbox's limits.
    pub fn build(self) -> Result<Sandbox, Error> {
        let refused = self.refused_flags();
        if !refused.is_empty() {
            return Err(Error::Unsupported(refused.join("; ")));
        }
        self.wasi.validate(self.id)?;
        let bytes = match &self.source {
            None => {
                return Err(Error::Config(
                    "no module given: call `.source(path)` or `.bytes(bytes)`".into(),
                ))
            }
            Some(Source::Bytes(b)) => std::borrow::Cow::Borrowed(b.as_slice()),
            // Only a regular file, of at most 1 GiB, is read.
            Some(Source::File(path)) => std::borrow::Cow::Owned(kiln::read_module_file(
                path,
                kiln::DEFAULT_MAX_MODULE_SIZE,
            )?),
        };
        let backend = Backend::new(
            &self.backend,
            Setup {
                id: self.id,
                bytes: &bytes,
                limits: &self.limits,
                wasi: &self.wasi,
                log: HitLog::new(self.id),
            },
        )?;
        audit::created(self.id, self.backend.name());
        Ok(Sandbox::new(self.id, self.backend, backend))
    }
}

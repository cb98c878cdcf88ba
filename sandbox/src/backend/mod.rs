//! The engines a sandbox runs on, behind one interface: compile, link (with the
//! import policy), instantiate, call, read and write memory, and report failures as
//! [`Failure`]s for [`crate::outcome`] to judge.

mod kiln;
#[cfg(feature = "wasmtime-backend")]
mod wasmtime;

pub(crate) use self::kiln::KilnModule;

use crate::cancel::{Cancel, Interrupter};
use crate::config::{OptimizationLevel, RuntimeBackend};
use crate::error::Error;
use crate::host::HostFunc;
use crate::limits::{HitLog, Limits};
use crate::outcome::{Entry, Failure};
use crate::value::{Val, ValType, WasmValues};
use crate::wasi::WasiSettings;
use std::sync::Arc;
use std::time::Instant;

pub(crate) use self::kiln::code_cache_usage as kiln_code_cache_usage;

/// What a backend's engine is configured with: what its sandboxes may use. A compiled
/// module serves a sandbox whose needs its engine meets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EngineSettings {
    /// `"kiln"` or `"wasmtime"`.
    pub backend: &'static str,
    pub opt: OptimizationLevel,
    pub wasm_stack: usize,
    /// Fuel metering compiled in.
    pub fuel: bool,
    /// Epoch checks compiled in: a timeout, or interrupting a cancelled call.
    pub epochs: bool,
    /// `code_cache: true`: compile on an engine shared by every sandbox with these
    /// settings, whose code cache keeps modules in memory and, with a directory, on
    /// disk (`Some(None)`: memory only).
    pub code_cache: Option<Option<std::path::PathBuf>>,
    /// When functions are compiled.
    pub strategy: crate::CompileStrategy,
    /// `profile_guided: true`: tiered code whose optimized tier uses the profile.
    pub profile_guided: bool,
    /// `JitSpecialization::HostFunction`: the module is compiled with the WASI fast
    /// paths inlined.
    pub host_inlining: bool,
}

impl EngineSettings {
    /// What a sandbox with these settings needs.
    pub fn new(
        backend: &RuntimeBackend,
        limits: &Limits,
        interruptible: bool,
        cache_directory: Option<&std::path::Path>,
        strategy: crate::CompileStrategy,
    ) -> Self {
        let profile_guided = matches!(
            backend,
            RuntimeBackend::CustomJIT {
                profile_guided: true,
                ..
            }
        );
        let host_inlining = matches!(
            backend,
            RuntimeBackend::CustomJIT {
                specialization: crate::JitSpecialization::HostFunction,
                ..
            }
        );
        EngineSettings {
            host_inlining,
            // Profile-guided code is tiered code: its baseline tier records the profile.
            strategy: match (profile_guided, strategy) {
                (true, crate::CompileStrategy::Eager) => crate::CompileStrategy::Tiered,
                _ => strategy,
            },
            profile_guided,
            backend: backend.name(),
            opt: match backend {
                RuntimeBackend::CustomJIT {
                    optimization_level, ..
                } => *optimization_level,
                RuntimeBackend::Wasmtime => OptimizationLevel::Speed,
            },
            wasm_stack: limits.wasm_stack,
            fuel: limits.fuel.is_some(),
            epochs: limits.timeout.is_some() || interruptible,
            code_cache: match backend {
                RuntimeBackend::CustomJIT {
                    code_cache: true, ..
                } => Some(
                    cache_directory
                        .map(std::path::Path::to_path_buf)
                        .or_else(::kiln::CacheConfig::default_directory),
                ),
                _ => None,
            },
        }
    }

    /// Refuses (naming every difference) a sandbox that needs what this engine lacks:
    /// another backend or optimization level, another `max_wasm_stack`, fuel, or epochs
    /// (for a timeout or the async API). An engine with fuel or epochs also serves
    /// sandboxes that use neither.
    pub fn serves(&self, need: &EngineSettings) -> Result<(), Error> {
        let mut diffs = Vec::new();
        if self.backend != need.backend || self.opt != need.opt {
            diffs.push(format!(
                "it was compiled for the {} backend at {:?}, the sandbox asks for {} at {:?}",
                self.backend, self.opt, need.backend, need.opt
            ));
        }
        if self.host_inlining != need.host_inlining {
            diffs.push(format!(
                "it was compiled {} host function inlining (JitSpecialization::HostFunction), \
                 the sandbox asks for {}",
                if self.host_inlining {
                    "with"
                } else {
                    "without"
                },
                if need.host_inlining { "it" } else { "none" }
            ));
        }
        if self.profile_guided != need.profile_guided {
            diffs.push(format!(
                "it was compiled with `profile_guided: {}`, the sandbox asks for {}",
                self.profile_guided, need.profile_guided
            ));
        }
        if self.strategy != need.strategy {
            diffs.push(format!(
                "it was compiled with CompileStrategy::{:?}, the sandbox asks for {:?}",
                self.strategy, need.strategy
            ));
        }
        if self.wasm_stack != need.wasm_stack {
            diffs.push(format!(
                "it was compiled with `max_wasm_stack({})`, the sandbox asks for {}",
                self.wasm_stack, need.wasm_stack
            ));
        }
        if need.fuel && !self.fuel {
            diffs.push(
                "the sandbox has `.fuel`, but the module was compiled without fuel metering \
                 (give `.fuel` to the builder passed to `SandboxModule::new`)"
                    .into(),
            );
        }
        if need.epochs && !self.epochs {
            diffs.push(
                "the sandbox has a `.timeout` or is async, but the module was compiled without \
                 interruption (give `.timeout` to the builder passed to `SandboxModule::new`, \
                 or pass it a `WasmSandbox::builder()`)"
                    .into(),
            );
        }
        if diffs.is_empty() {
            Ok(())
        } else {
            Err(Error::Config(format!(
                "the SandboxModule does not fit the sandbox: {}",
                diffs.join("; ")
            )))
        }
    }
}

/// A module compiled for one backend's engine.
#[derive(Clone)]
pub(crate) enum Code {
    Kiln(KilnModule),
    #[cfg(feature = "wasmtime-backend")]
    Wasmtime(wasmtime::WasmtimeModule),
}

impl Code {
    /// Compiles `bytes` (binary or text) for an engine with `settings`, giving up with
    /// `Failure::Interrupted` once `deadline` passes.
    pub fn compile(
        settings: &EngineSettings,
        bytes: &[u8],
        deadline: Option<Instant>,
    ) -> Result<Code, Failure> {
        match settings.backend {
            #[cfg(feature = "wasmtime-backend")]
            "wasmtime" => Ok(Code::Wasmtime(wasmtime::WasmtimeModule::compile(
                settings, bytes, deadline,
            )?)),
            #[cfg(not(feature = "wasmtime-backend"))]
            "wasmtime" => Err(Error::Unsupported(wasmtime_missing_message()).into()),
            _ => Ok(Code::Kiln(KilnModule::compile(settings, bytes, deadline)?)),
        }
    }
}

/// Everything a backend needs to build one sandbox from compiled code.
#[derive(Debug)]
pub(crate) struct Setup<'a> {
    pub id: u64,
    pub limits: &'a Limits,
    pub wasi: &'a WasiSettings,
    pub host: &'a [HostFunc],
    pub log: HitLog,
    /// When `build()` started: instantiation gets what the timeout leaves.
    pub started: Instant,
    /// The async build's cancellation.
    pub cancel: Option<Arc<Cancel>>,
}

/// What every entry into one sandbox's guest shares: its limits, what its engine
/// meters, and how to interrupt it.
#[derive(Debug)]
pub(crate) struct Gate {
    pub id: u64,
    pub limits: Limits,
    pub log: HitLog,
    /// The engine meters fuel (maybe without a `.fuel` limit: then fuel is unlimited).
    pub fuel: bool,
    /// The engine checks epochs (maybe without a timeout: then the deadline is never).
    pub epochs: bool,
    pub interrupter: Option<Interrupter>,
    /// The running call's cancellation (async API).
    pub cancel: Option<Arc<Cancel>>,
}

impl Gate {
    /// Starts an entry, timed from `started` (a build's steps) or from now.
    pub fn begin(&self, started: Option<Instant>) -> Entry<'_> {
        Entry::begin(
            self.id,
            &self.limits,
            &self.log,
            started.unwrap_or_else(Instant::now),
            self.cancel.as_deref(),
        )
    }

    /// The fuel each entry starts with, if the engine meters fuel.
    pub fn fuel(&self) -> Option<u64> {
        self.fuel.then(|| self.limits.fuel.unwrap_or(u64::MAX))
    }

    /// Arms the running call's cancellation once the entry's deadline is set: `Err`
    /// if it was cancelled (do not enter).
    pub fn arm(&self) -> Result<(), Failure> {
        match &self.cancel {
            Some(c) if !c.arm(self.interrupter.as_ref()) => Err(Failure::Cancelled),
            _ => Ok(()),
        }
    }
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
    /// Links and instantiates `code` (checked by the builder against the sandbox's
    /// settings).
    pub fn new(code: &Code, setup: Setup<'_>) -> Result<Backend, Error> {
        match code {
            Code::Kiln(m) => Ok(Backend::Kiln(kiln::KilnBackend::new(m, setup)?)),
            #[cfg(feature = "wasmtime-backend")]
            Code::Wasmtime(m) => Ok(Backend::Wasmtime(Box::new(wasmtime::WasmtimeBackend::new(
                m, setup,
            )?))),
        }
    }

    /// Sets (or clears) the running call's cancellation.
    pub fn set_cancel(&mut self, cancel: Option<Arc<Cancel>>) {
        match self {
            Backend::Kiln(b) => b.gate.cancel = cancel,
            #[cfg(feature = "wasmtime-backend")]
            Backend::Wasmtime(b) => b.gate.cancel = cancel,
        }
    }

    /// The signature of the exported function `name`, if there is one.
    pub fn signature(&mut self, name: &str) -> Option<(Vec<ValType>, Vec<ValType>)> {
        match self {
            Backend::Kiln(b) => b.export_signature(name),
            #[cfg(feature = "wasmtime-backend")]
            Backend::Wasmtime(b) => b.export_signature(name),
        }
    }

    /// The size in bytes of the exported memory `memory`.
    pub fn memory_size(&mut self) -> Result<u64, Error> {
        match self {
            Backend::Kiln(b) => b.memory_size(),
            #[cfg(feature = "wasmtime-backend")]
            Backend::Wasmtime(b) => b.memory_size(),
        }
    }

    /// Copies `len` bytes at `offset` out of the exported memory.
    pub fn read_memory(&mut self, offset: u64, len: u64) -> Result<Vec<u8>, Error> {
        match self {
            Backend::Kiln(b) => b.read_memory(offset, len),
            #[cfg(feature = "wasmtime-backend")]
            Backend::Wasmtime(b) => b.read_memory(offset, len),
        }
    }

    /// Copies `bytes` to `offset` in the exported memory.
    pub fn write_memory(&mut self, offset: u64, bytes: &[u8]) -> Result<(), Error> {
        match self {
            Backend::Kiln(b) => b.write_memory(offset, bytes),
            #[cfg(feature = "wasmtime-backend")]
            Backend::Wasmtime(b) => b.write_memory(offset, bytes),
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

/// The name of the memory the sandbox's memory methods and `call_bytes` use.
pub(crate) const MEMORY: &str = "memory";

/// The range `offset..offset + len` of a memory of `size` bytes, or
/// `Error::OutOfBounds`.
pub(crate) fn memory_range(
    offset: u64,
    len: u64,
    size: u64,
) -> Result<std::ops::Range<usize>, Error> {
    let out = || Error::OutOfBounds {
        offset,
        len,
        memory_size: size,
    };
    let end = offset.checked_add(len).ok_or_else(out)?;
    if end > size {
        return Err(out());
    }
    let start = usize::try_from(offset).map_err(|_| out())?;
    let end = usize::try_from(end).map_err(|_| out())?;
    Ok(start..end)
}

/// A copy of `data[offset..offset + len]`, or `Error::OutOfBounds`.
pub(crate) fn read_range(data: &[u8], offset: u64, len: u64) -> Result<Vec<u8>, Error> {
    let range = memory_range(offset, len, data.len() as u64)?;
    Ok(data[range].to_vec())
}

/// Writes `bytes` at `data[offset..]`, or fails with `Error::OutOfBounds`.
pub(crate) fn write_range(data: &mut [u8], offset: u64, bytes: &[u8]) -> Result<(), Error> {
    let range = memory_range(offset, bytes.len() as u64, data.len() as u64)?;
    data[range].copy_from_slice(bytes);
    Ok(())
}

/// Error for a module without the exported memory `memory`.
pub(crate) fn no_memory() -> Error {
    Error::Export(format!(
        "no exported memory `{MEMORY}`: the sandbox's memory methods and `call_bytes` use \
         the memory the guest exports as `{MEMORY}`"
    ))
}

/// Formats a backtrace frame as `module!function`.
pub(crate) fn frame_name(module: Option<&str>, func: Option<&str>, index: u32) -> String {
    let module = module.unwrap_or("<module>");
    match func {
        Some(f) => format!("{module}!{f}"),
        None => format!("{module}!<wasm function {index}>"),
    }
}

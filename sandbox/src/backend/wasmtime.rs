//! The `Wasmtime` backend: Wasmtime 48 with wasmtime-wasi's preview 1.
//!
//! Limits: `.memory_limit` and `.max_table_elements` are a `wasmtime::ResourceLimiter`
//! over [`Growth`] (totalling all memories, as Kiln's `StoreLimits::total_memory`
//! does), `.fuel` is `Config::consume_fuel` plus `Store::set_fuel` before each entry,
//! `.timeout` is `Config::epoch_interruption` plus a deadline of one tick and a
//! watchdog thread per entry that ticks the (sandbox-owned) engine when the timeout
//! passes, `.max_wasm_stack` is `Config::max_wasm_stack`. A cancelled call is stopped
//! by ticking the engine too.
//!
//! Wasmtime cannot stop a compilation: with a timeout, the module is compiled on a
//! helper thread, and a build whose deadline passes first returns the time limit while
//! that thread finishes (its result is dropped).
//!
//! Host functions and `SandboxModule` are refused on this backend (by the builder).

use super::{frame_name, no_memory, read_range, write_range, EngineSettings, Gate, Setup, MEMORY};
use crate::cancel::Interrupter;
use crate::error::{Error, TrapCode};
use crate::imports::{self, Import};
use crate::limits::Growth;
use crate::outcome::Failure;
use crate::value::{check_args, check_no_refs, signature, Val, ValType, WasmValues};
use crate::wasi::WasiSettings;
use ::wasmtime as w;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

/// A module compiled for its own Wasmtime engine (one sandbox's).
#[derive(Clone)]
pub(crate) struct WasmtimeModule {
    engine: w::Engine,
    module: w::Module,
    settings: EngineSettings,
}

impl WasmtimeModule {
    /// Configures an engine for `settings` and compiles `bytes` on it; past
    /// `deadline`, gives up with `Failure::Interrupted` (the compilation finishes on
    /// its thread, unused).
    pub fn compile(
        settings: &EngineSettings,
        bytes: &[u8],
        deadline: Option<Instant>,
    ) -> Result<WasmtimeModule, Failure> {
        let mut config = w::Config::new();
        config
            .max_wasm_stack(settings.wasm_stack)
            .consume_fuel(settings.fuel)
            .epoch_interruption(settings.epochs);
        let engine = w::Engine::new(&config).map_err(|e| {
            Error::Config(format!(
                "the Wasmtime engine refused the settings: {}",
                chain(&e)
            ))
        })?;
        let module = match deadline {
            None => w::Module::new(&engine, bytes).map_err(|e| Error::Module(chain(&e)))?,
            Some(deadline) => {
                let (send, receive) = mpsc::channel();
                let (e, b) = (engine.clone(), bytes.to_vec());
                std::thread::Builder::new()
                    .name("kiln-sandbox-compile".into())
                    .spawn(move || {
                        // The receiver is gone when the build gave up.
                        let _ = send.send(w::Module::new(&e, &b).map_err(|e| chain(&e)));
                    })
                    .map_err(|e| Error::Runtime(format!("cannot start a compile thread: {e}")))?;
                match receive.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                    Ok(m) => m.map_err(Error::Module)?,
                    Err(mpsc::RecvTimeoutError::Timeout) => return Err(Failure::Interrupted),
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        return Err(Error::Runtime("Wasmtime's compilation panicked".into()).into())
                    }
                }
            }
        };
        Ok(WasmtimeModule {
            engine,
            module,
            settings: settings.clone(),
        })
    }

    /// What its engine is configured with.
    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }
}

/// The store's data.
struct State {
    wasi: WasiP1Ctx,
    limiter: Limiter,
}

/// The sandbox's memory and table limits as Wasmtime's limiter.
struct Limiter(Growth);

impl w::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> w::Result<bool> {
        Ok(self
            .0
            .memory(current as u64, desired as u64, maximum.map(|m| m as u64)))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> w::Result<bool> {
        Ok(self
            .0
            .table(current as u64, desired as u64, maximum.map(|m| m as u64)))
    }
}

/// Ticks the engine's epoch once `timeout` passes, unless stopped first. Dropping it
/// stops and joins the thread, so a late tick never reaches the next call.
struct Watchdog {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    fn start(engine: &w::Engine, timeout: Duration) -> Result<Watchdog, Error> {
        let (stop, stopped) = mpsc::channel::<()>();
        let engine = engine.clone();
        let thread = std::thread::Builder::new()
            .name("kiln-sandbox-watchdog".into())
            .spawn(move || {
                if let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(timeout) {
                    engine.increment_epoch();
                }
            })
            .map_err(|e| Error::Runtime(format!("cannot start the timeout's watchdog: {e}")))?;
        Ok(Watchdog {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            // The thread cannot panic; a join error would only mean it is gone.
            let _ = t.join();
        }
    }
}

/// A sandbox on Wasmtime.
pub(crate) struct WasmtimeBackend {
    pub(super) gate: Gate,
    store: w::Store<State>,
    instance: w::Instance,
    stdout: Option<MemoryOutputPipe>,
    stderr: Option<MemoryOutputPipe>,
}

impl WasmtimeBackend {
    pub fn new(code: &WasmtimeModule, s: Setup<'_>) -> Result<Self, Error> {
        let (engine, module) = (&code.engine, &code.module);
        let mut linker = w::Linker::<State>::new(engine);
        if s.wasi.enabled {
            wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |state: &mut State| &mut state.wasi)
                .map_err(|e| Error::Runtime(format!("cannot define WASI: {}", chain(&e))))?;
        }

        let (wasi, stdout, stderr) = wasi_ctx(s.wasi)?;
        let state = State {
            wasi,
            limiter: Limiter(Growth::new(s.limits, s.log.clone())),
        };
        let mut store = w::Store::new(engine, state);
        store.limiter(|state| &mut state.limiter);

        let module_imports: Vec<Import> = module
            .imports()
            .map(|i| Import {
                module: i.module().to_string(),
                name: i.name().to_string(),
                kind: extern_kind(&i.ty()),
            })
            .collect();
        imports::check(s.id, &module_imports, s.wasi, |m, n| {
            linker.get(&mut store, m, n).is_ok()
        })?;

        let gate = Gate {
            id: s.id,
            limits: s.limits.clone(),
            log: s.log,
            fuel: code.settings.fuel,
            epochs: code.settings.epochs,
            interrupter: code
                .settings
                .epochs
                .then(|| Interrupter::Wasmtime(engine.clone())),
            cancel: s.cancel,
        };
        let instance = enter(&gate, &mut store, Some(s.started), |store| {
            linker.instantiate(store, module)
        })?;
        let mut this = WasmtimeBackend {
            gate,
            store,
            instance,
            stdout,
            stderr,
        };
        // A WASI reactor initializes itself once, before any call, within the build's
        // time.
        if let Ok(init) = this
            .instance
            .get_typed_func::<(), ()>(&mut this.store, "_initialize")
        {
            enter(&this.gate, &mut this.store, Some(s.started), |store| {
                init.call(store, ())
            })?;
        }
        Ok(this)
    }

    fn enter<T>(
        &mut self,
        f: impl FnOnce(&mut w::Store<State>) -> w::Result<T>,
    ) -> Result<T, Error> {
        enter(&self.gate, &mut self.store, None, f)
    }

    fn func(&mut self, name: &str) -> Result<w::Func, Error> {
        self.instance
            .get_func(&mut self.store, name)
            .ok_or_else(|| Error::Export(format!("no exported function `{name}`")))
    }

    /// The function's signature in the sandbox's types.
    fn signature(&self, func: &w::Func) -> (Vec<ValType>, Vec<ValType>) {
        let ty = func.ty(&self.store);
        (
            ty.params().map(|t| val_type(&t)).collect(),
            ty.results().map(|t| val_type(&t)).collect(),
        )
    }

    /// Calls `func` with `args` (already checked against `params`).
    fn invoke(
        &mut self,
        func: w::Func,
        args: &[Val],
        results: &[ValType],
    ) -> Result<Vec<Val>, Error> {
        let args: Vec<w::Val> = args.iter().map(|&v| to_wasmtime(v)).collect();
        let mut out: Vec<w::Val> = results.iter().map(|_| w::Val::I32(0)).collect();
        self.enter(|store| func.call(store, &args, &mut out))?;
        out.iter()
            .map(|v| {
                from_wasmtime(v).ok_or_else(|| {
                    Error::Type(
                        "a reference was returned, which cannot cross the sandbox boundary".into(),
                    )
                })
            })
            .collect()
    }

    pub fn call<P: WasmValues, R: WasmValues>(
        &mut self,
        name: &str,
        params: P,
    ) -> Result<R, Error> {
        let func = self.func(name)?;
        let (p, r) = self.signature(&func);
        let (want_p, want_r) = (P::val_types(), R::val_types());
        if p != want_p || r != want_r {
            return Err(Error::Type(format!(
                "`{name}` is {}, called as {}",
                signature(&p, &r),
                signature(&want_p, &want_r)
            )));
        }
        let out = self.invoke(func, &params.into_vals(), &r)?;
        R::from_vals(&out)
            .ok_or_else(|| Error::Type(format!("`{name}` returned unexpected values")))
    }

    pub fn call_dynamic(&mut self, name: &str, args: &[Val]) -> Result<Vec<Val>, Error> {
        let func = self.func(name)?;
        let (params, results) = self.signature(&func);
        check_no_refs(name, &params, &results)?;
        check_args(name, args, &params)?;
        self.invoke(func, args, &results)
    }

    pub fn has_func(&mut self, name: &str) -> bool {
        self.instance.get_func(&mut self.store, name).is_some()
    }

    pub fn export_signature(&mut self, name: &str) -> Option<(Vec<ValType>, Vec<ValType>)> {
        let func = self.instance.get_func(&mut self.store, name)?;
        Some(self.signature(&func))
    }

    fn memory(&mut self) -> Result<w::Memory, Error> {
        self.instance
            .get_memory(&mut self.store, MEMORY)
            .ok_or_else(no_memory)
    }

    pub fn memory_size(&mut self) -> Result<u64, Error> {
        let memory = self.memory()?;
        Ok(memory.data_size(&self.store) as u64)
    }

    pub fn read_memory(&mut self, offset: u64, len: u64) -> Result<Vec<u8>, Error> {
        let memory = self.memory()?;
        let data = memory.data(&self.store);
        read_range(data, offset, len)
    }

    pub fn write_memory(&mut self, offset: u64, bytes: &[u8]) -> Result<(), Error> {
        let memory = self.memory()?;
        let data = memory.data_mut(&mut self.store);
        write_range(data, offset, bytes)
    }

    pub fn stdout(&self) -> Vec<u8> {
        self.stdout
            .as_ref()
            .map(|p| p.contents().to_vec())
            .unwrap_or_default()
    }

    pub fn stderr(&self) -> Vec<u8> {
        self.stderr
            .as_ref()
            .map(|p| p.contents().to_vec())
            .unwrap_or_default()
    }
}

/// Runs `f` as one entry into the guest: fresh fuel and deadline (what the timeout
/// leaves since `started`, or all of it), the running call armed for cancellation,
/// failures judged by [`crate::outcome::Entry::fail`].
fn enter<T>(
    gate: &Gate,
    store: &mut w::Store<State>,
    started: Option<Instant>,
    f: impl FnOnce(&mut w::Store<State>) -> w::Result<T>,
) -> Result<T, Error> {
    let entry = gate.begin(started);
    if let Some(fuel) = gate.fuel() {
        store
            .set_fuel(fuel)
            .map_err(|e| Error::Runtime(format!("cannot set fuel: {}", chain(&e))))?;
    }
    if gate.epochs {
        // The next tick of the sandbox's engine (the watchdog's or a cancellation's)
        // interrupts the guest.
        store.set_epoch_deadline(1);
    }
    let watchdog = match entry.remaining() {
        Some(left) if left.is_zero() => return Err(entry.fail(Failure::Interrupted)),
        Some(left) => Some(Watchdog::start(store.engine(), left)?),
        None => None,
    };
    if let Err(f) = gate.arm() {
        return Err(entry.fail(f));
    }
    let r = f(store);
    drop(watchdog);
    r.map_err(|e| entry.fail(failure(&e)))
}

/// The error and its causes, `outer: inner: ...`.
fn chain(e: &w::Error) -> String {
    e.chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

/// Wasmtime's error as a [`Failure`].
fn failure(e: &w::Error) -> Failure {
    if let Some(exit) = e.downcast_ref::<I32Exit>() {
        return Failure::Exit(exit.0);
    }
    let Some(trap) = e.downcast_ref::<w::Trap>() else {
        // Instantiation failures (incompatible imports, refused creations) and host
        // function errors.
        let message = chain(e);
        return Failure::Error(if message.contains("incompatible import type") {
            Error::Link(message)
        } else {
            Error::Runtime(message)
        });
    };
    let code = match trap {
        w::Trap::OutOfFuel => return Failure::OutOfFuel,
        w::Trap::Interrupt => return Failure::Interrupted,
        w::Trap::StackOverflow => return Failure::StackOverflow,
        w::Trap::UnreachableCodeReached => TrapCode::Unreachable,
        w::Trap::IntegerDivisionByZero => TrapCode::IntegerDivisionByZero,
        w::Trap::IntegerOverflow => TrapCode::IntegerOverflow,
        w::Trap::BadConversionToInteger => TrapCode::BadConversionToInteger,
        w::Trap::IndirectCallToNull => TrapCode::IndirectCallToNull,
        w::Trap::BadSignature => TrapCode::BadSignature,
        w::Trap::TableOutOfBounds => TrapCode::TableOutOfBounds,
        w::Trap::MemoryOutOfBounds => TrapCode::MemoryOutOfBounds,
        w::Trap::NullReference => TrapCode::NullReference,
        _ => TrapCode::Other,
    };
    let backtrace = e
        .downcast_ref::<w::WasmBacktrace>()
        .map(|bt| {
            bt.frames()
                .iter()
                .map(|f| frame_name(f.module().name(), f.func_name(), f.func_index()))
                .collect()
        })
        .unwrap_or_default();
    Failure::Trap { code, backtrace }
}

fn val_type(t: &w::ValType) -> ValType {
    match t {
        w::ValType::I32 => ValType::I32,
        w::ValType::I64 => ValType::I64,
        w::ValType::F32 => ValType::F32,
        w::ValType::F64 => ValType::F64,
        w::ValType::V128 => ValType::V128,
        w::ValType::Ref(r) if r.heap_type().is_func() => ValType::FuncRef,
        w::ValType::Ref(_) => ValType::ExternRef,
    }
}

fn to_wasmtime(v: Val) -> w::Val {
    match v {
        Val::I32(x) => w::Val::I32(x),
        Val::I64(x) => w::Val::I64(x),
        Val::F32(x) => w::Val::F32(x.to_bits()),
        Val::F64(x) => w::Val::F64(x.to_bits()),
        Val::V128(x) => w::Val::V128(x.into()),
    }
}

fn from_wasmtime(v: &w::Val) -> Option<Val> {
    Some(match *v {
        w::Val::I32(x) => Val::I32(x),
        w::Val::I64(x) => Val::I64(x),
        w::Val::F32(x) => Val::F32(f32::from_bits(x)),
        w::Val::F64(x) => Val::F64(f64::from_bits(x)),
        w::Val::V128(x) => Val::V128(x.as_u128()),
        _ => return None,
    })
}

fn extern_kind(ty: &w::ExternType) -> &'static str {
    match ty {
        w::ExternType::Func(_) => "func",
        w::ExternType::Table(_) => "table",
        w::ExternType::Memory(_) => "memory",
        w::ExternType::Global(_) => "global",
        _ => "extern",
    }
}

/// The guest's WASI context and the pipes capturing its output.
fn wasi_ctx(
    w: &WasiSettings,
) -> Result<
    (
        WasiP1Ctx,
        Option<MemoryOutputPipe>,
        Option<MemoryOutputPipe>,
    ),
    Error,
> {
    let mut b = WasiCtxBuilder::new();
    if let Some(bytes) = &w.stdin {
        b.stdin(MemoryInputPipe::new(bytes.clone()));
    }
    for a in &w.args {
        b.arg(a);
    }
    for (key, value) in &w.env {
        b.env(key, value);
    }
    for p in &w.preopens {
        let perms = if p.read_only {
            FsPerms::ReadOnly
        } else {
            FsPerms::ReadWrite
        };
        b.preopened_dir(&p.host, &p.guest, perms).map_err(|e| {
            Error::Io(std::io::Error::other(format!(
                "cannot pre-open directory `{}`: {}",
                p.host.display(),
                chain(&e)
            )))
        })?;
    }
    let (stdout, stderr) = if w.capture_output {
        let (out, err) = (
            MemoryOutputPipe::new(usize::MAX),
            MemoryOutputPipe::new(usize::MAX),
        );
        b.stdout(out.clone()).stderr(err.clone());
        (Some(out), Some(err))
    } else {
        b.inherit_stdout().inherit_stderr();
        (None, None)
    };
    Ok((b.build_p1(), stdout, stderr))
}

//! The `CustomJIT` backend: Kiln's engine, store and instance, with kiln-wasi.
//!
//! Limits: `.memory_limit` and `.max_table_elements` are a `kiln::StoreLimits`
//! (wrapped to record each refusal), `.fuel` is `Config::consume_fuel` plus
//! `Store::set_fuel` before each entry, `.timeout` is `Config::epoch_interruption`
//! plus `Store::set_timeout` before each entry (the engine's ticker thread advances the
//! epoch) and `Module::new_until` for compilation, `.max_wasm_stack` is
//! `Config::max_wasm_stack`. A cancelled call is stopped through the store's
//! `InterruptHandle`. Host functions are `Linker::func_wrap`s over [`HostState`].

use super::{frame_name, no_memory, read_range, write_range, EngineSettings, Gate, Setup, MEMORY};
use crate::cancel::Interrupter;
use crate::error::{Error, ResourceKind, TrapCode};
use crate::host::{error_chain, HostFunc, HostState};
use crate::imports::{self, Import};
use crate::limits::{HitLog, LimitHit};
use crate::outcome::Failure;
use crate::value::{check_args, check_no_refs, signature, Val, ValType, WasmValues};
use crate::wasi::WasiSettings;
use ::kiln as k;
use kiln_wasi::{DirPerms, I32Exit, Output, OutputPipe, Stdin, WasiCtx, WasiCtxBuilder};
use std::time::Instant;

/// A module compiled for its own engine: shared by every sandbox built from it (a
/// `SandboxModule`), or by one.
#[derive(Clone)]
pub(crate) struct KilnModule {
    engine: k::Engine,
    module: k::Module,
    settings: EngineSettings,
}

impl KilnModule {
    /// Configures an engine for `settings` and compiles `bytes` on it, giving up with
    /// `Failure::Interrupted` once `deadline` passes.
    pub fn compile(
        settings: &EngineSettings,
        bytes: &[u8],
        deadline: Option<Instant>,
    ) -> Result<KilnModule, Failure> {
        let engine = engine_for(settings)?;
        let module = if settings.host_inlining {
            // Compiled by a linker with the WASI fast paths that need no store (the
            // clocks and `sched_yield`), which every sandbox's linker defines alike.
            let mut linker = k::Linker::<HostState>::new(&engine);
            kiln_wasi::add_to_linker(&mut linker, |state: &mut HostState| &mut state.wasi)
                .map_err(|e| Failure::Error(Error::Runtime(format!("cannot define WASI: {e}"))))?;
            linker.module_until(bytes, deadline)
        } else {
            match deadline {
                Some(d) => k::Module::new_until(&engine, bytes, d),
                None => k::Module::new(&engine, bytes),
            }
        }
        .map_err(|e| {
            if e.downcast_ref::<k::TrapCode>() == Some(&k::TrapCode::Interrupted) {
                Failure::Interrupted
            } else {
                Failure::Error(module_error(e))
            }
        })?;
        Ok(KilnModule {
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

/// The engines shared by sandboxes with `code_cache: true`, one per settings: their
/// code caches are what makes the second sandbox of a module skip compiling.
static SHARED_ENGINES: std::sync::Mutex<Vec<(EngineSettings, k::Engine)>> =
    std::sync::Mutex::new(Vec::new());

/// An engine for `settings`: the shared one when it asks for the code cache, else a
/// fresh one.
fn engine_for(settings: &EngineSettings) -> Result<k::Engine, Error> {
    let mut config = k::Config::new();
    config
        .opt_level(settings.opt.to_kiln())
        .strategy(settings.strategy.to_kiln(settings.opt.to_kiln()))
        .max_wasm_stack(settings.wasm_stack)
        .consume_fuel(settings.fuel)
        .epoch_interruption(settings.epochs)
        .profile_guided(settings.profile_guided);
    let new = |config: &k::Config| {
        k::Engine::new(config)
            .map_err(|e| Error::Config(format!("the Kiln engine refused the settings: {e}")))
    };
    let Some(directory) = &settings.code_cache else {
        return new(&config);
    };
    let mut shared = SHARED_ENGINES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, engine)) = shared.iter().find(|(s, _)| s == settings) {
        return Ok(engine.clone());
    }
    config.cache(match directory {
        Some(dir) => k::CacheConfig::new(dir),
        None => k::CacheConfig::memory_only(),
    });
    let engine = new(&config)?;
    shared.push((settings.clone(), engine.clone()));
    Ok(engine)
}

/// How the code caches of the sandboxes with `code_cache: true` have been used, summed.
pub(crate) fn code_cache_usage() -> k::CacheUse {
    let shared = SHARED_ENGINES.lock().unwrap_or_else(|e| e.into_inner());
    let mut sum = k::CacheUse::default();
    for (_, engine) in shared.iter() {
        if let Some(u) = engine.cache_usage() {
            sum.memory_hits += u.memory_hits;
            sum.disk_hits += u.disk_hits;
            sum.misses += u.misses;
            sum.refused += u.refused;
            sum.writes += u.writes;
        }
    }
    sum
}

/// Kiln's `StoreLimits`, recording each refusal in the sandbox's log.
struct Limiter {
    inner: k::StoreLimits,
    log: HitLog,
}

impl Limiter {
    fn record(&self, hit: &k::LimitHit) {
        if let Some(kind) = resource_kind(hit.kind) {
            self.log.record(LimitHit {
                kind,
                limit: hit.limit,
                requested: hit.requested,
            });
        }
    }
}

impl k::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: u64,
        desired: u64,
        maximum: Option<u64>,
    ) -> Result<(), k::LimitHit> {
        self.inner
            .memory_growing(current, desired, maximum)
            .inspect_err(|hit| self.record(hit))
    }

    fn table_growing(
        &mut self,
        current: u64,
        desired: u64,
        maximum: Option<u64>,
    ) -> Result<(), k::LimitHit> {
        self.inner
            .table_growing(current, desired, maximum)
            .inspect_err(|hit| self.record(hit))
    }

    fn instances(&self) -> usize {
        k::ResourceLimiter::instances(&self.inner)
    }

    fn memories(&self) -> usize {
        k::ResourceLimiter::memories(&self.inner)
    }

    fn tables(&self) -> usize {
        k::ResourceLimiter::tables(&self.inner)
    }
}

/// A sandbox on Kiln.
pub(crate) struct KilnBackend {
    pub(super) gate: Gate,
    store: k::Store<HostState>,
    instance: k::Instance,
    stdout: Option<OutputPipe>,
    stderr: Option<OutputPipe>,
}

impl KilnBackend {
    pub fn new(code: &KilnModule, s: Setup<'_>) -> Result<Self, Error> {
        let engine = &code.engine;
        let module = &code.module;
        let mut linker = k::Linker::<HostState>::new(engine);
        if s.wasi.enabled {
            kiln_wasi::add_to_linker(&mut linker, |state: &mut HostState| &mut state.wasi)
                .map_err(|e| Error::Runtime(format!("cannot define WASI: {e}")))?;
        }
        for h in s.host {
            h.define(&mut linker).map_err(|e| {
                Error::Config(format!(
                    "host function `{}::{}` cannot be defined: {e}",
                    h.module, h.name
                ))
            })?;
        }
        let module_imports: Vec<Import> = module
            .imports()
            .map(|(m, n, ty)| Import {
                module: m.to_string(),
                name: n.to_string(),
                kind: extern_kind(&ty),
            })
            .collect();
        imports::check(s.id, &module_imports, s.wasi, |m, n| {
            linker.is_defined(m, n)
        })?;

        let (wasi, stdout, stderr) = wasi_ctx(s.wasi)?;
        let mut store = k::Store::new(engine, HostState { wasi });
        check_host_types(s.id, &linker, &mut store, module, s.host)?;
        let mut store_limits = k::StoreLimits::new();
        if let Some(bytes) = s.limits.memory {
            store_limits = store_limits.total_memory(bytes);
        }
        if let Some(n) = s.limits.table_elements {
            store_limits = store_limits.table_elements(n);
        }
        store.limiter(Limiter {
            inner: store_limits,
            log: s.log.clone(),
        });
        let interrupter = if code.settings.epochs {
            Some(Interrupter::Kiln(store.interrupt_handle().map_err(
                |e| Error::Runtime(format!("cannot make an interrupt handle: {e}")),
            )?))
        } else {
            None
        };
        let gate = Gate {
            id: s.id,
            limits: s.limits.clone(),
            log: s.log,
            fuel: code.settings.fuel,
            epochs: code.settings.epochs,
            interrupter,
            cancel: s.cancel,
        };

        let instance = enter(&gate, &mut store, Some(s.started), |store| {
            linker.instantiate(store, module)
        })?;
        let mut this = KilnBackend {
            gate,
            store,
            instance,
            stdout,
            stderr,
        };
        // A WASI reactor initializes itself once, before any call, within the build's
        // time.
        if let Some(init) = this.instance.get_func(&this.store, "_initialize") {
            if let Ok(init) = init.typed::<(), ()>(&this.store) {
                enter(&this.gate, &mut this.store, Some(s.started), |store| {
                    init.call(store, ())
                })?;
            }
        }
        Ok(this)
    }

    fn enter<T>(
        &mut self,
        f: impl FnOnce(&mut k::Store<HostState>) -> k::Result<T>,
    ) -> Result<T, Error> {
        enter(&self.gate, &mut self.store, None, f)
    }

    fn func(&self, name: &str) -> Result<k::Func, Error> {
        self.instance
            .get_func(&self.store, name)
            .ok_or_else(|| Error::Export(format!("no exported function `{name}`")))
    }

    /// The function's signature in the sandbox's types.
    fn signature(&self, func: &k::Func) -> (Vec<ValType>, Vec<ValType>) {
        let ty = func.ty(&self.store);
        (
            ty.params().iter().map(|&t| val_type(t)).collect(),
            ty.results().iter().map(|&t| val_type(t)).collect(),
        )
    }

    pub fn call<P: WasmValues, R: WasmValues>(
        &mut self,
        name: &str,
        params: P,
    ) -> Result<R, Error> {
        let func = self.func(name)?;
        let typed = func.typed::<P, R>(&self.store).map_err(|_| {
            let (p, r) = self.signature(&func);
            Error::Type(format!(
                "`{name}` is {}, called as {}",
                signature(&p, &r),
                signature(&P::val_types(), &R::val_types())
            ))
        })?;
        self.enter(|store| typed.call(store, params))
    }

    pub fn call_dynamic(&mut self, name: &str, args: &[Val]) -> Result<Vec<Val>, Error> {
        let func = self.func(name)?;
        let (params, results) = self.signature(&func);
        check_no_refs(name, &params, &results)?;
        check_args(name, args, &params)?;
        let args: Vec<k::Val> = args.iter().map(|&v| to_kiln(v)).collect();
        let ty = func.ty(&self.store);
        let mut out: Vec<k::Val> = ty
            .results()
            .iter()
            .map(|&t| k::Val::default_for(t))
            .collect();
        self.enter(|store| func.call(store, &args, &mut out))?;
        out.iter()
            .map(|v| {
                from_kiln(v).ok_or_else(|| {
                    Error::Type(format!(
                        "`{name}` returned a reference, which cannot cross the sandbox boundary"
                    ))
                })
            })
            .collect()
    }

    pub fn has_func(&mut self, name: &str) -> bool {
        self.instance.get_func(&self.store, name).is_some()
    }

    pub fn export_signature(&mut self, name: &str) -> Option<(Vec<ValType>, Vec<ValType>)> {
        let func = self.instance.get_func(&self.store, name)?;
        Some(self.signature(&func))
    }

    fn memory(&self) -> Result<k::Memory, Error> {
        self.instance
            .get_memory(&self.store, MEMORY)
            .ok_or_else(no_memory)
    }

    pub fn memory_size(&mut self) -> Result<u64, Error> {
        Ok(self.memory()?.data_size(&self.store) as u64)
    }

    pub fn read_memory(&mut self, offset: u64, len: u64) -> Result<Vec<u8>, Error> {
        let data = self.memory()?.data(&self.store);
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
            .map(OutputPipe::contents)
            .unwrap_or_default()
    }

    pub fn stderr(&self) -> Vec<u8> {
        self.stderr
            .as_ref()
            .map(OutputPipe::contents)
            .unwrap_or_default()
    }
}

/// Refuses a host function the module imports with another type, naming both.
fn check_host_types(
    id: u64,
    linker: &k::Linker<HostState>,
    store: &mut k::Store<HostState>,
    module: &k::Module,
    host: &[HostFunc],
) -> Result<(), Error> {
    let mut refused = Vec::new();
    for (m, n, ty) in module.imports() {
        if !host.iter().any(|h| h.module == m && h.name == n) {
            continue;
        }
        let reason = match (&ty, linker.get(&mut *store, m, n)) {
            (k::ExternType::Func(want), Some(k::Extern::Func(f))) => {
                let have = f.ty(&*store);
                if have == *want {
                    continue;
                }
                format!(
                    "the host function is {}, but the module imports it as {}",
                    func_signature(&have),
                    func_signature(want)
                )
            }
            _ => format!(
                "the module imports a {}, but it is a host function",
                extern_kind(&ty)
            ),
        };
        crate::audit::import_refused(id, m, n, &reason);
        refused.push(format!("import `{m}::{n}`: {reason}"));
    }
    if refused.is_empty() {
        Ok(())
    } else {
        Err(Error::Link(refused.join("; ")))
    }
}

fn func_signature(ty: &k::FuncType) -> String {
    let p: Vec<ValType> = ty.params().iter().map(|&t| val_type(t)).collect();
    let r: Vec<ValType> = ty.results().iter().map(|&t| val_type(t)).collect();
    signature(&p, &r)
}

/// Runs `f` as one entry into the guest: fresh fuel and deadline (what the timeout
/// leaves since `started`, or all of it), the running call armed for cancellation,
/// failures judged by [`crate::outcome::Entry::fail`].
fn enter<T>(
    gate: &Gate,
    store: &mut k::Store<HostState>,
    started: Option<Instant>,
    f: impl FnOnce(&mut k::Store<HostState>) -> k::Result<T>,
) -> Result<T, Error> {
    let entry = gate.begin(started);
    if let Some(fuel) = gate.fuel() {
        store
            .set_fuel(fuel)
            .map_err(|e| Error::Runtime(format!("cannot set fuel: {e}")))?;
    }
    if gate.epochs {
        // A new deadline also withdraws an earlier call's interrupt.
        let set = match entry.remaining() {
            Some(left) if left.is_zero() => return Err(entry.fail(Failure::Interrupted)),
            Some(left) => store.set_timeout(left),
            None => store.set_epoch_deadline(u64::MAX),
        };
        set.map_err(|e| Error::Runtime(format!("cannot set the deadline: {e}")))?;
    }
    if let Err(f) = gate.arm() {
        return Err(entry.fail(f));
    }
    f(store).map_err(|e| entry.fail(failure(e)))
}

/// Kiln's error as a [`Failure`].
fn failure(e: k::Error) -> Failure {
    if let Some(exit) = e.downcast_ref::<I32Exit>() {
        return Failure::Exit(exit.0);
    }
    match e.kind() {
        k::ErrorKind::Trap(t) => match t.code() {
            k::TrapCode::OutOfFuel => Failure::OutOfFuel,
            k::TrapCode::Interrupted => Failure::Interrupted,
            k::TrapCode::StackOverflow => Failure::StackOverflow,
            code => Failure::Trap {
                code: trap_code(code),
                backtrace: t
                    .backtrace()
                    .iter()
                    .map(|f| {
                        frame_name(
                            f.module_name.as_deref(),
                            f.func_name.as_deref(),
                            f.func_index,
                        )
                    })
                    .collect(),
            },
        },
        k::ErrorKind::ResourceExhausted(hit) => match resource_kind(hit.kind) {
            Some(kind) => Failure::Refused(LimitHit {
                kind,
                limit: hit.limit,
                requested: hit.requested,
            }),
            None => Error::Runtime(e.to_string()).into(),
        },
        k::ErrorKind::Module(m) => Error::Module(m.to_string()).into(),
        k::ErrorKind::Unsupported(m) => Error::Module(m.clone()).into(),
        k::ErrorKind::Compile(c) => Error::Module(format!("compilation failed: {c}")).into(),
        k::ErrorKind::Link(m) => Error::Link(m.clone()).into(),
        k::ErrorKind::Type(m) => Error::Type(m.clone()).into(),
        k::ErrorKind::Io(io) => Error::Io(std::io::Error::new(io.kind(), io.to_string())).into(),
        k::ErrorKind::Host(h) => Error::Host(error_chain(&**h)).into(),
        _ => Error::Runtime(e.to_string()).into(),
    }
}

/// A compilation failure: the module is malformed, invalid, or needs a proposal Kiln
/// lacks.
fn module_error(e: k::Error) -> Error {
    Error::Module(match e.kind() {
        k::ErrorKind::Module(m) => m.to_string(),
        k::ErrorKind::Compile(c) => format!("compilation failed: {c}"),
        _ => e.to_string(),
    })
}

fn trap_code(c: k::TrapCode) -> TrapCode {
    match c {
        k::TrapCode::Unreachable => TrapCode::Unreachable,
        k::TrapCode::IntegerDivisionByZero => TrapCode::IntegerDivisionByZero,
        k::TrapCode::IntegerOverflow => TrapCode::IntegerOverflow,
        k::TrapCode::BadConversionToInteger => TrapCode::BadConversionToInteger,
        k::TrapCode::IndirectCallToNull => TrapCode::IndirectCallToNull,
        k::TrapCode::BadSignature => TrapCode::BadSignature,
        k::TrapCode::TableOutOfBounds => TrapCode::TableOutOfBounds,
        k::TrapCode::MemoryOutOfBounds => TrapCode::MemoryOutOfBounds,
        k::TrapCode::NullReference => TrapCode::NullReference,
        _ => TrapCode::Other,
    }
}

fn resource_kind(k: k::ResourceKind) -> Option<ResourceKind> {
    Some(match k {
        k::ResourceKind::Memory => ResourceKind::Memory,
        k::ResourceKind::TableElements => ResourceKind::TableElements,
        k::ResourceKind::Instances => ResourceKind::Instances,
        k::ResourceKind::Memories => ResourceKind::Memories,
        k::ResourceKind::Tables => ResourceKind::Tables,
        k::ResourceKind::Fuel => ResourceKind::Fuel,
        k::ResourceKind::Time => ResourceKind::Time,
        k::ResourceKind::Stack => ResourceKind::Stack,
        _ => return None,
    })
}

fn val_type(t: k::ValType) -> ValType {
    match t {
        k::ValType::I32 => ValType::I32,
        k::ValType::I64 => ValType::I64,
        k::ValType::F32 => ValType::F32,
        k::ValType::F64 => ValType::F64,
        k::ValType::V128 => ValType::V128,
        // The sandbox's types name the kind of reference; a typed function reference is
        // a function reference there.
        k::ValType::Ref(r) if r.is_func() => ValType::FuncRef,
        k::ValType::Ref(_) => ValType::ExternRef,
    }
}

fn to_kiln(v: Val) -> k::Val {
    match v {
        Val::I32(x) => k::Val::I32(x),
        Val::I64(x) => k::Val::I64(x),
        Val::F32(x) => k::Val::F32(x.to_bits()),
        Val::F64(x) => k::Val::F64(x.to_bits()),
        Val::V128(x) => k::Val::V128(x),
    }
}

fn from_kiln(v: &k::Val) -> Option<Val> {
    Some(match *v {
        k::Val::I32(x) => Val::I32(x),
        k::Val::I64(x) => Val::I64(x),
        k::Val::F32(x) => Val::F32(f32::from_bits(x)),
        k::Val::F64(x) => Val::F64(f64::from_bits(x)),
        k::Val::V128(x) => Val::V128(x),
        k::Val::FuncRef(_) | k::Val::ExternRef(_) => return None,
    })
}

fn extern_kind(ty: &k::ExternType) -> &'static str {
    match ty {
        k::ExternType::Func(_) => "func",
        k::ExternType::Table(_) => "table",
        k::ExternType::Memory(_) => "memory",
        k::ExternType::Global(_) => "global",
    }
}

/// The guest's WASI context and the pipes capturing its output.
fn wasi_ctx(w: &WasiSettings) -> Result<(WasiCtx, Option<OutputPipe>, Option<OutputPipe>), Error> {
    let mut b = WasiCtxBuilder::new();
    if let Some(bytes) = &w.stdin {
        b.stdin(Stdin::Bytes(bytes.clone()));
    }
    for a in &w.args {
        b.arg(a.as_str());
    }
    for (key, value) in &w.env {
        b.env(key.as_str(), value.as_str());
    }
    for p in &w.preopens {
        let perms = if p.read_only {
            DirPerms::ReadOnly
        } else {
            DirPerms::ReadWrite
        };
        b.preopened_dir(&p.host, p.guest.as_str(), perms)
            .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?;
    }
    let (stdout, stderr) = if w.capture_output {
        let (out, err) = (OutputPipe::new(), OutputPipe::new());
        b.stdout(Output::Pipe(out.clone()))
            .stderr(Output::Pipe(err.clone()));
        (Some(out), Some(err))
    } else {
        (None, None)
    };
    Ok((b.build(), stdout, stderr))
}

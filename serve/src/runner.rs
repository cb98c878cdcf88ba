//! Running one job: compile (through the engine's code cache, with the WASI fast paths
//! inlined), link WASI with the job's arguments, environment, stdin and its own scratch
//! directory as `/` and `.` (capped in bytes and entries; no network), run `_start`
//! under the job's limits, and turn what happened into a [`JobResult`], with an audit
//! event for each limit hit, refusal and cancellation. Only the public `kiln` and
//! `kiln-wasi` APIs.

use crate::api::{JobResult, Status};
use crate::audit::Audit;
use crate::config::{JobLimits, ServeConfig};
use crate::jobs::{CancelReason, LiveJob};
use crate::languages::Plugin;
use crate::plugin::registry::{resource_import, ResourceOp};
use crate::plugin::{Entry, PluginError};
use crate::scratch::ScratchRoot;
use crate::server::StartError;
use kiln::{CacheConfig, Config, Engine, ErrorKind, Linker, Store, StoreLimits, TrapCode};
use kiln_wasi::{
    DirPerms, DiskLimit, FastPaths, I32Exit, Output, OutputPipe, Stdin, WasiCtx, WasiCtxBuilder,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The wasm stack a guest gets.
pub const WASM_STACK: usize = 512 << 10;

/// A job ready to run.
#[derive(Clone)]
pub struct Job {
    /// Its id.
    pub id: String,
    /// Its language's name.
    pub language: String,
    /// What runs.
    pub code: JobCode,
    /// The files of its scratch directory (names checked).
    pub files: Vec<(String, Vec<u8>)>,
    /// Standard input.
    pub stdin: Vec<u8>,
    /// `argv`, the program's name first.
    pub argv: Vec<String>,
    /// The program's path in the job's directory (`/main.py`), if it is a file there.
    pub program_path: Option<String>,
    /// The request's arguments (in `argv` too, except for a canonical-ABI entry, whose
    /// code template takes them as `{args}`).
    pub request_args: Vec<String>,
    /// The environment.
    pub env: Vec<(String, String)>,
    /// Its limits, already clamped.
    pub limits: JobLimits,
    /// Its output pipes, phase and cancellation.
    pub live: Arc<LiveJob>,
}

/// What a job runs.
#[derive(Clone)]
pub enum JobCode {
    /// A module's binary or text (`wasm`, `wat`), compiled through the code cache.
    Module(Vec<u8>),
    /// A plugin's interpreter, compiled at the server's start.
    Plugin(Arc<Plugin>),
}

/// The engine every job runs on, and the scratch root their directories go in.
pub struct Runner {
    engine: Engine,
    scratch: ScratchRoot,
}

impl Runner {
    /// An engine for `config`: epochs for time limits and cancellation, fuel when the
    /// maxima meter it, the code cache (memory, and disk with a directory); and this
    /// server's part of the scratch root, after removing what dead servers left there.
    pub fn new(config: &ServeConfig) -> Result<Runner, StartError> {
        let mut c = Config::new();
        c.epoch_interruption(true)
            .consume_fuel(config.max.fuel.is_some())
            .max_wasm_stack(WASM_STACK)
            .cache(match &config.cache_directory {
                Some(dir) => CacheConfig::new(dir),
                None => CacheConfig::memory_only(),
            });
        let engine =
            Engine::new(&c).map_err(|e| StartError(format!("cannot make the engine: {e}")))?;
        let (scratch, cleaned) = ScratchRoot::open(&config.scratch_directory).map_err(|e| {
            StartError(format!(
                "cannot use the scratch directory `{}`: {e}",
                config.scratch_directory.display()
            ))
        })?;
        if cleaned > 0 {
            tracing::warn!(target: "kiln_serve", cleaned, "removed the scratch directories of servers that died");
        }
        Ok(Runner { engine, scratch })
    }

    /// The stack a worker thread needs: the wasm stack, the host's reserve, and room
    /// for the host's own work.
    pub fn thread_stack() -> usize {
        WASM_STACK + kiln::DEFAULT_HOST_STACK_RESERVE + (8 << 20)
    }

    /// A store for `wasi` under `limits`, and a linker with WASI and its fast paths
    /// (made the same way for every job, so a module compiled by one such linker is
    /// instantiated by any other).
    fn store_and_linker(
        &self,
        wasi: WasiCtx,
        limits: &JobLimits,
    ) -> (Store<WasiCtx>, Result<Linker<WasiCtx>, kiln::Error>) {
        let mut store = Store::new(&self.engine, wasi);
        store.limiter(StoreLimits::new().total_memory(limits.memory_limit_mb << 20));
        let mut linker = Linker::<WasiCtx>::new(&self.engine);
        let defined =
            kiln_wasi::add_to_linker_with(&mut linker, |c| c, FastPaths::WithStore(&mut store));
        (store, defined.map(|()| linker))
    }

    /// Compiles a plugin's module as jobs' linkers do (through the code cache, so a
    /// server that starts after `kiln plugin install` finds it compiled).
    pub fn compile_plugin(&self, bytes: &[u8]) -> Result<kiln::Module, kiln::Error> {
        let (_store, linker) = self.store_and_linker(WasiCtx::default(), &JobLimits::DEFAULT);
        linker?.module(bytes)
    }

    /// The plugin's module pre-initialized (`preinit.rs`): its entry's initialization
    /// run once, with the plugin's argument template, deterministic clocks and
    /// randomness (so the same plugin always gives the same module, which the code
    /// cache then holds), and nothing else to read. The new module's bytes.
    pub fn preinitialize(
        &self,
        plugin: &crate::plugin::Installed,
        bytes: &[u8],
    ) -> Result<Vec<u8>, PluginError> {
        use crate::plugin::preinit;
        let failed = |e: kiln::Error| PluginError::context("pre-initialization", e);
        let manifest = &plugin.manifest;
        let instrumented = preinit::instrument(bytes)?;
        let output = OutputPipe::with_capacity(64 << 10);
        let mut b = WasiCtxBuilder::new();
        b.args(manifest.entry.argv().iter().cloned())
            .stdout(Output::Pipe(output.clone()))
            .stderr(Output::Pipe(output.clone()));
        // The same descriptors as a job's (its libc may remember them): an empty
        // directory as `/` and `.`.
        let dir = self
            .scratch
            .job(&format!("preinit-{}", manifest.name), &[])
            .map_err(|e| PluginError::context("pre-initialization", e))?;
        preopen_job_dir(&mut b, dir.path()).map_err(failed)?;
        let limits = JobLimits {
            memory_limit_mb: manifest
                .limits
                .memory_limit_mb
                .unwrap_or(JobLimits::MAX.memory_limit_mb),
            ..JobLimits::MAX
        };
        let (mut store, linker) = self.store_and_linker(b.build(), &limits);
        let mut linker = linker.map_err(failed)?;
        deterministic_wasi(&mut linker).map_err(failed)?;
        // Compiled by this linker: its clock is not the inlined one.
        let module = linker.module(&instrumented).map_err(failed)?;
        let probe = Plugin {
            installed: plugin.clone(),
            module,
            preinitialized: false,
        };
        define_plugin_imports(&mut linker, &probe).map_err(failed)?;
        store.set_timeout(Duration::from_secs(60)).map_err(failed)?;
        let instance = linker
            .instantiate(&mut store, &probe.module)
            .map_err(failed)?;
        initialize(
            &mut store,
            &instance,
            &manifest.entry,
            manifest.entry.argv(),
        )
        .map_err(|e| {
            PluginError(format!(
                "pre-initialization: {e}; it printed: {}",
                String::from_utf8_lossy(&output.contents())
            ))
        })?;
        let snap = preinit::snapshot(bytes, &store, &instance)?;
        preinit::rewrite(bytes, &snap)
    }

    /// Runs `job`; never panics on anything the job does.
    pub fn run(&self, job: &Job) -> JobResult {
        let started = Instant::now();
        let ran = self.run_inner(job, started);
        let (stdout, stderr) = (&job.live.stdout, &job.live.stderr);
        let text = |p: &OutputPipe| String::from_utf8_lossy(&p.contents()).into_owned();
        let mut result = JobResult {
            job_id: job.id.clone(),
            language: job.language.clone(),
            status: ran.status,
            stdout: text(stdout),
            stderr: text(stderr),
            exit_code: ran.exit_code,
            duration_ms: started.elapsed().as_millis() as u64,
            limits_hit: ran.limits_hit.into_iter().map(String::from).collect(),
            truncated: stdout.truncated() || stderr.truncated(),
            error: ran.error,
        };
        if result.status == Status::Completed && result.exit_code != Some(0) {
            result.status = Status::Failed;
        }
        if result.truncated {
            result.limits_hit.push("output".into());
        }
        let key = job.live.key.as_deref();
        for limit in &result.limits_hit {
            Audit::LimitHit {
                job: &job.id,
                key,
                limit,
            }
            .emit();
        }
        for what in &ran.refused {
            Audit::CapabilityRefused {
                job: &job.id,
                key,
                what,
            }
            .emit();
        }
        if let Some(reason) = job
            .live
            .cancelled()
            .filter(|_| result.status == Status::Cancelled)
        {
            Audit::Cancelled {
                job: &job.id,
                key,
                reason: reason.name(),
            }
            .emit();
        }
        result
    }

    fn run_inner(&self, job: &Job, started: Instant) -> Ran {
        let deadline = started + Duration::from_millis(job.limits.timeout_ms);
        let scratch = match self.scratch.job(&job.id, &job.files) {
            Ok(s) => s,
            Err(e) => {
                return Ran::error(format!(
                    "the server could not make the job's directory: {e}"
                ))
            }
        };
        let mut b = WasiCtxBuilder::new();
        b.args(job.argv.iter().cloned())
            .stdin(Stdin::Bytes(job.stdin.clone()))
            .stdout(Output::Pipe(job.live.stdout.clone()))
            .stderr(Output::Pipe(job.live.stderr.clone()))
            .max_disk_write(job.limits.disk_bytes)
            .max_files_created(job.limits.disk_files);
        for (k, v) in &job.env {
            b.env(k, v);
        }
        if let Err(e) = preopen_job_dir(&mut b, scratch.path()) {
            return Ran::error(format!(
                "the server could not open the job's directory: {e}"
            ));
        }
        let (mut store, linker) = self.store_and_linker(b.build(), &job.limits);
        let setup = linker.and_then(|linker| {
            if let Some(fuel) = job.limits.fuel {
                store.set_fuel(fuel)?;
            }
            job.live.set_interrupt(store.interrupt_handle()?);
            Ok(linker)
        });
        let mut linker = match setup {
            Ok(l) => l,
            Err(e) => return Ran::error(format!("the server could not set up the job: {e}")),
        };
        let module = match &job.code {
            JobCode::Module(bytes) => match linker.module_until(bytes, Some(deadline)) {
                Ok(m) => m,
                Err(e) => return Ran::from_error(&e, None),
            },
            JobCode::Plugin(p) => {
                if let Err(e) = define_plugin_imports(&mut linker, p) {
                    return Ran::error(format!("the server could not set up the job: {e}"));
                }
                p.module.clone()
            }
        };
        if let Err(e) = store.set_timeout(deadline.saturating_duration_since(Instant::now())) {
            return Ran::error(format!("the server could not set the time limit: {e}"));
        }
        // A cancellation during compilation interrupted a store whose deadline was
        // then set again: look once more (any later one interrupts the running store).
        if let Some(reason) = job.live.cancelled() {
            return Ran::cancelled(reason);
        }
        let outcome = linker
            .instantiate(&mut store, &module)
            .and_then(|instance| enter(&mut store, &instance, job));
        let mut ran = match outcome {
            Ok(code) => Ran::exited_in(code, &store),
            Err(e) => match e.downcast_ref::<I32Exit>() {
                Some(exit) => Ran::exited_in(exit.0, &store),
                None => match job.live.cancelled() {
                    Some(reason)
                        if e.as_trap().map(|t| t.code()) == Some(TrapCode::Interrupted) =>
                    {
                        Ran::cancelled(reason)
                    }
                    _ => Ran::from_error(&e, Some(&store)),
                },
            },
        };
        let wasi = store.data();
        if let Some(hit) = wasi.disk_limit_hit() {
            ran.limits_hit.push("disk");
            if ran.error.is_none() {
                ran.error = Some(match hit {
                    DiskLimit::Bytes => format!(
                        "the job's directory is full: it may write {} bytes to files",
                        job.limits.disk_bytes
                    ),
                    DiskLimit::Files => format!(
                        "the job's directory is full: it may create {} files",
                        job.limits.disk_files
                    ),
                });
            }
        }
        let (refusals, total) = wasi.refusals();
        ran.refused.extend(
            refusals
                .iter()
                .map(|r| format!("wasi {} ({})", r.function, r.errno.name())),
        );
        if total > refusals.len() as u64 {
            ran.refused
                .push(format!("{} more WASI calls", total - refusals.len() as u64));
        }
        ran
    }
}

/// Defines what a plugin imports beyond WASI: the functions of the interfaces it
/// declares refused, as traps that say so (a module may import them as long as it never
/// calls them), and for a canonical-ABI entry the `canonical_abi` resource functions,
/// over one handle table of the job's.
fn define_plugin_imports(linker: &mut Linker<WasiCtx>, plugin: &Plugin) -> Result<(), kiln::Error> {
    let manifest = &plugin.installed.manifest;
    let refused = &manifest.capabilities.refused_imports;
    let canonical = matches!(manifest.entry, Entry::CanonicalEval { .. });
    let handles = Arc::new(std::sync::Mutex::new(HandleTable::default()));
    for (m, n, ty) in plugin.module.imports() {
        let kiln::ExternType::Func(ty) = ty else {
            continue;
        };
        if refused.iter().any(|r| r == m) {
            let what = format!("unsupported: `{m}::{n}` is not offered by this service");
            linker.func_new(m, n, ty, move |_, _, _| Err(kiln::Error::msg(&what)))?;
        } else if let (true, "canonical_abi", Some((op, _))) = (canonical, m, resource_import(n)) {
            let handles = handles.clone();
            linker.func_new(m, n, ty, move |_, params, results| {
                let arg = params.first().and_then(kiln::Val::i32).unwrap_or(0);
                let mut table = handles.lock().unwrap_or_else(|e| e.into_inner());
                let out = table.apply(op, arg)?;
                if let (Some(slot), Some(v)) = (results.first_mut(), out) {
                    *slot = kiln::Val::I32(v);
                }
                Ok(())
            })?;
        }
    }
    Ok(())
}

/// The canonical ABI's resource handles of one job: a handle is its slot's index plus
/// one, and holds the guest's representation.
#[derive(Default)]
struct HandleTable(Vec<Option<i32>>);

impl HandleTable {
    /// The most handles a job may hold at once.
    const MAX: usize = 1 << 20;

    fn apply(&mut self, op: ResourceOp, arg: i32) -> Result<Option<i32>, kiln::Error> {
        let slot = |t: &mut Self, h: i32| {
            usize::try_from(h)
                .ok()
                .and_then(|h| h.checked_sub(1))
                .filter(|&i| t.0.get(i).is_some_and(Option::is_some))
                .ok_or_else(|| kiln::Error::msg(format!("canonical ABI: no resource handle {h}")))
        };
        match op {
            ResourceOp::New => {
                let i = match self.0.iter().position(Option::is_none) {
                    Some(i) => i,
                    None if self.0.len() < Self::MAX => {
                        self.0.push(None);
                        self.0.len() - 1
                    }
                    None => {
                        return Err(kiln::Error::msg("canonical ABI: too many resource handles"))
                    }
                };
                self.0[i] = Some(arg);
                Ok(Some(i as i32 + 1))
            }
            ResourceOp::Get => {
                let i = slot(self, arg)?;
                Ok(self.0[i])
            }
            ResourceOp::Drop => {
                let i = slot(self, arg)?;
                self.0[i] = None;
                Ok(None)
            }
        }
    }
}

/// Places `bytes` in guest memory through `realloc(0, 0, align, len)`.
fn place(
    store: &mut Store<WasiCtx>,
    memory: &kiln::Memory,
    realloc: &kiln::TypedFunc<(i32, i32, i32, i32), i32>,
    bytes: &[u8],
    align: i32,
) -> Result<i32, kiln::Error> {
    let at = realloc.call(&mut *store, (0, 0, align, bytes.len() as i32))?;
    if at == 0 && !bytes.is_empty() {
        return Err(kiln::Error::msg(
            "the interpreter could not allocate its input",
        ));
    }
    memory.write(&mut *store, at as u32 as usize, bytes)?;
    Ok(at)
}

/// Replaces WASI's clocks and randomness with deterministic ones: a clock that starts
/// at 2024-01-01 and advances 1 µs per reading, and a fixed byte stream.
fn deterministic_wasi(linker: &mut Linker<WasiCtx>) -> Result<(), kiln::Error> {
    use std::sync::atomic::{AtomicU64, Ordering};
    const WASI: &str = "wasi_snapshot_preview1";
    let write = |caller: &mut kiln::Caller<'_, WasiCtx>, at: i32, bytes: &[u8]| -> i32 {
        let Some(memory) = caller
            .get_export("memory")
            .and_then(kiln::Extern::into_memory)
        else {
            return 8; // EBADF: no memory to write to
        };
        match memory.write(&mut *caller, at as u32 as usize, bytes) {
            Ok(()) => 0,
            Err(_) => 21, // EFAULT
        }
    };
    linker.allow_shadowing(true);
    let ticks = Arc::new(AtomicU64::new(0));
    linker.func_wrap(
        WASI,
        "clock_time_get",
        move |mut caller: kiln::Caller<'_, WasiCtx>, _id: i32, _precision: i64, out: i32| -> i32 {
            let now = 1_704_067_200_000_000_000u64 + 1000 * ticks.fetch_add(1, Ordering::Relaxed);
            write(&mut caller, out, &now.to_le_bytes())
        },
    )?;
    let stream = Arc::new(AtomicU64::new(0x9e37_79b9_7f4a_7c15));
    linker.func_wrap(
        WASI,
        "random_get",
        move |mut caller: kiln::Caller<'_, WasiCtx>, at: i32, len: i32| -> i32 {
            let bytes: Vec<u8> = (0..len.max(0))
                .map(|_| {
                    // xorshift64*
                    let mut x = stream.load(Ordering::Relaxed);
                    x ^= x >> 12;
                    x ^= x << 25;
                    x ^= x >> 27;
                    stream.store(x, Ordering::Relaxed);
                    (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
                })
                .collect();
            write(&mut caller, at, &bytes)
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// Gives the guest `dir` as `/` (descriptor 3) and `.` (4): a job's directory, and
/// the same descriptors during pre-initialization (a libc may remember them).
fn preopen_job_dir(b: &mut WasiCtxBuilder, dir: &std::path::Path) -> Result<(), kiln::Error> {
    for name in ["/", "."] {
        b.preopened_dir(dir, name, DirPerms::ReadWrite)?;
    }
    Ok(())
}

/// Calls each of the exports `names`, `() -> ()`.
fn call_all(
    store: &mut Store<WasiCtx>,
    instance: &kiln::Instance,
    names: &[String],
) -> Result<(), kiln::Error> {
    for name in names {
        instance
            .get_typed_func::<(), ()>(&*store, name)?
            .call(&mut *store, ())?;
    }
    Ok(())
}

fn memory_of(
    store: &Store<WasiCtx>,
    instance: &kiln::Instance,
) -> Result<kiln::Memory, kiln::Error> {
    instance
        .get_memory(store, "memory")
        .ok_or_else(|| kiln::Error::msg("the plugin's module exports no `memory`"))
}

/// The initialization of an entry: what a pre-initialized module has done already.
/// `argv` is what a canonical-ABI entry's `init_args` gets.
fn initialize(
    store: &mut Store<WasiCtx>,
    instance: &kiln::Instance,
    entry: &Entry,
    argv: &[String],
) -> Result<(), kiln::Error> {
    match entry {
        Entry::Command { .. } => Ok(()),
        Entry::ArgvReactor { init, .. } => call_all(store, instance, init),
        Entry::CanonicalEval {
            init,
            init_args,
            then,
            realloc,
            ..
        } => {
            call_all(store, instance, init)?;
            let memory = memory_of(store, instance)?;
            let realloc = instance.get_typed_func::<(i32, i32, i32, i32), i32>(&*store, realloc)?;
            let mut list = Vec::with_capacity(8 * argv.len());
            for arg in argv {
                let at = place(store, &memory, &realloc, arg.as_bytes(), 1)?;
                list.extend_from_slice(&at.to_le_bytes());
                list.extend_from_slice(&(arg.len() as i32).to_le_bytes());
            }
            let at = place(store, &memory, &realloc, &list, 4)?;
            instance
                .get_typed_func::<(i32, i32), ()>(&*store, init_args)?
                .call(&mut *store, (at, argv.len() as i32))?;
            call_all(store, instance, then)
        }
    }
}

/// The request's arguments as a JSON array of strings, with `#` escaped too (so that
/// no language reads an interpolation in it).
fn args_literal(args: &[String]) -> String {
    serde_json::to_string(args)
        .unwrap_or_else(|_| "[]".into())
        .replace('#', "\\u0023")
}

/// Runs the job's entry in `instance`: `_start`, or a plugin's entry kind (its
/// initialization skipped when the module starts initialized). Its exit code when it
/// returns (a `proc_exit` is an `I32Exit` error).
fn enter(
    store: &mut Store<WasiCtx>,
    instance: &kiln::Instance,
    job: &Job,
) -> Result<i32, kiln::Error> {
    let start = |store: &mut Store<WasiCtx>| {
        let start = instance.get_typed_func::<(), ()>(&*store, "_start")?;
        start.call(&mut *store, ())?;
        Ok(0)
    };
    let (entry, initialized) = match &job.code {
        JobCode::Plugin(p) => (&p.installed.manifest.entry, p.preinitialized),
        JobCode::Module(_) => return start(store),
    };
    if !initialized {
        initialize(store, instance, entry, &job.argv)?;
    }
    match entry {
        Entry::CanonicalEval {
            eval,
            realloc,
            code,
            ..
        } => {
            let memory = memory_of(store, instance)?;
            let realloc = instance.get_typed_func::<(i32, i32, i32, i32), i32>(&*store, realloc)?;
            let text = code
                .replace("{file}", job.program_path.as_deref().unwrap_or_default())
                .replace("{args}", &args_literal(&job.request_args));
            let at = place(store, &memory, &realloc, text.as_bytes(), 1)?;
            let ret = instance
                .get_typed_func::<(i32, i32), i32>(&*store, eval)?
                .call(&mut *store, (at, text.len() as i32))?;
            let mut status = [0u8; 4];
            memory.read(&*store, ret as u32 as usize + 4, &mut status)?;
            Ok(i32::from(i32::from_le_bytes(status) != 0))
        }
        Entry::Command { .. } => start(store),
        Entry::ArgvReactor {
            call,
            alloc,
            finish,
            ..
        } => {
            let alloc = instance.get_typed_func::<i32, i32>(&*store, alloc)?;
            let memory = memory_of(store, instance)?;
            let mut pointers = Vec::with_capacity(job.argv.len());
            for arg in &job.argv {
                let at = alloc.call(&mut *store, arg.len() as i32 + 1)?;
                if at == 0 {
                    return Err(kiln::Error::msg(
                        "the interpreter could not allocate its arguments",
                    ));
                }
                let mut bytes = arg.as_bytes().to_vec();
                bytes.push(0);
                memory.write(&mut *store, at as u32 as usize, &bytes)?;
                pointers.extend_from_slice(&at.to_le_bytes());
            }
            pointers.extend_from_slice(&0i32.to_le_bytes());
            let argv = alloc.call(&mut *store, pointers.len() as i32)?;
            if argv == 0 {
                return Err(kiln::Error::msg(
                    "the interpreter could not allocate its arguments",
                ));
            }
            memory.write(&mut *store, argv as u32 as usize, &pointers)?;
            let argc = job.argv.len() as i32;
            let status = instance
                .get_typed_func::<(i32, i32), i32>(&*store, call)?
                .call(&mut *store, (argc, argv))?;
            call_all(store, instance, finish)?;
            Ok(i32::from(status != 0))
        }
    }
}

/// Whether the memory limit refused the job something (a `memory.grow`, say).
fn memory_refused(store: Option<&Store<WasiCtx>>) -> bool {
    store
        .and_then(Store::last_limit_hit)
        .is_some_and(|hit| hit.kind == kiln::ResourceKind::Memory)
}

/// How a job ended, before its output is collected.
#[derive(Default)]
struct Ran {
    status: Status,
    exit_code: Option<i32>,
    limits_hit: Vec<&'static str>,
    error: Option<String>,
    /// What the sandbox refused it, for the audit log.
    refused: Vec<String>,
}

impl Ran {
    fn exited(code: i32) -> Ran {
        Ran {
            status: Status::Completed,
            exit_code: Some(code),
            ..Ran::default()
        }
    }

    /// Exited with `code`: a program that fails after a refused `memory.grow` (its
    /// allocator failed) hit the memory limit.
    fn exited_in(code: i32, store: &Store<WasiCtx>) -> Ran {
        if code != 0 && memory_refused(Some(store)) {
            return Ran {
                status: Status::MemoryLimit,
                exit_code: Some(code),
                limits_hit: vec!["memory"],
                ..Ran::default()
            };
        }
        Ran::exited(code)
    }

    fn error(message: String) -> Ran {
        Ran {
            status: Status::Error,
            error: Some(message),
            ..Ran::default()
        }
    }

    fn cancelled(reason: CancelReason) -> Ran {
        Ran {
            status: Status::Cancelled,
            error: Some(reason.message().to_string()),
            ..Ran::default()
        }
    }

    fn limit(status: Status, limit: &'static str, e: &kiln::Error) -> Ran {
        Ran {
            status,
            limits_hit: vec![limit],
            error: Some(e.to_string()),
            ..Ran::default()
        }
    }

    /// The outcome of a failure `e` (with the job's store once it has run).
    fn from_error(e: &kiln::Error, store: Option<&Store<WasiCtx>>) -> Ran {
        match (e.as_trap().map(|t| t.code()), e.kind()) {
            (Some(TrapCode::Interrupted), _) => Ran::limit(Status::Timeout, "time", e),
            (Some(TrapCode::OutOfFuel), _) => Ran::limit(Status::FuelExhausted, "fuel", e),
            (Some(TrapCode::StackOverflow), _) => Ran::limit(Status::Failed, "stack", e),
            (_, ErrorKind::ResourceExhausted(_)) => Ran::limit(Status::MemoryLimit, "memory", e),
            // A refused `memory.grow` that made the guest fail is the memory limit.
            (Some(_), _) | (_, ErrorKind::Host(_)) if memory_refused(store) => {
                Ran::limit(Status::MemoryLimit, "memory", e)
            }
            (Some(_), _) | (_, ErrorKind::Host(_)) => Ran {
                status: Status::Failed,
                error: Some(e.to_string()),
                ..Ran::default()
            },
            (_, ErrorKind::Link(what)) => Ran {
                refused: vec![what.clone()],
                ..Ran::error(e.to_string())
            },
            _ => Ran::error(e.to_string()),
        }
    }
}

//! The `kiln` command line.
//!
//! ```text
//! kiln run FILE.(wasm|wat) [--dir HOST[::GUEST]] [--env K=V] [--invoke NAME]
//!          [--default-imports] [ARGS...] [-- ARGS...]
//! ```
//! Exit status: the guest's exit code (`proc_exit`, or 0 when `_start` returns); 134 when
//! wasm traps (the trap and its backtrace go to stderr); 3 when a resource limit
//! (`--fuel`, `--timeout`, `--max-memory`, `--max-table-elements`, `--max-wasm-stack`)
//! stops it, naming the limit, its value and the use; 2 for anything that stops the
//! program from running (a missing file, a malformed module, a missing import, bad
//! arguments).

#![forbid(unsafe_code)]

mod args;
mod limits;

use args::RunArgs;
use kiln::{
    Config, Engine, Error, ErrorKind, Instance, LimitHit, Linker, Module, ResourceKind, Store,
    StoreLimits, TrapCode, Val, ValType,
};
use kiln_wasi::{DirPerms, I32Exit, WasiCtx, WasiCtxBuilder};
use limits::{show_size, Limits};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Exit status of a trap, as for a process killed by SIGABRT.
const TRAP_STATUS: u8 = 134;
/// Exit status when the program could not be run.
const ERROR_STATUS: u8 = 2;
/// Exit status when a resource limit stopped the guest.
const LIMIT_STATUS: u8 = 3;

fn parse_val(s: &str, ty: ValType) -> Result<Val, String> {
    let bad = |e: &dyn std::fmt::Display| format!("cannot parse `{s}` as {ty}: {e}");
    Ok(match ty {
        ValType::I32 => Val::I32(
            s.parse::<i32>()
                .or_else(|_| s.parse::<u32>().map(|v| v as i32))
                .map_err(|e| bad(&e))?,
        ),
        ValType::I64 => Val::I64(
            s.parse::<i64>()
                .or_else(|_| s.parse::<u64>().map(|v| v as i64))
                .map_err(|e| bad(&e))?,
        ),
        ValType::F32 => Val::F32(s.parse::<f32>().map_err(|e| bad(&e))?.to_bits()),
        ValType::F64 => Val::F64(s.parse::<f64>().map_err(|e| bad(&e))?.to_bits()),
        ValType::V128 => Val::V128(s.parse::<u128>().map_err(|e| bad(&e))?),
        other => {
            return Err(format!(
                "arguments of type {other} cannot be given on the command line"
            ))
        }
    })
}

fn show(v: &Val) -> String {
    match v {
        Val::I32(x) => x.to_string(),
        Val::I64(x) => x.to_string(),
        Val::F32(b) => f32::from_bits(*b).to_string(),
        Val::F64(b) => f64::from_bits(*b).to_string(),
        Val::V128(x) => format!("{x:#034x}"),
        Val::FuncRef(None) | Val::ExternRef(None) => "null".into(),
        Val::FuncRef(Some(_)) => "funcref".into(),
        Val::ExternRef(Some(_)) => "externref".into(),
    }
}

/// Why the program did not finish normally.
enum Failure {
    /// The command line or the module could not be used.
    Usage(String),
    /// Kiln reported an error (a trap, a link error, ...).
    Kiln(Error),
    /// A resource limit stopped the guest; the message names it, its value and the use.
    Limit(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Kiln(e)
    }
}

fn wasi_ctx(a: &RunArgs) -> Result<WasiCtx, Failure> {
    let mut b = WasiCtxBuilder::new();
    b.arg(&a.file);
    if a.invoke.is_none() {
        b.args(a.args.iter().cloned());
    }
    for (k, v) in &a.env {
        b.env(k, v);
    }
    for (host, guest) in &a.dirs {
        b.preopened_dir(host, guest.as_str(), DirPerms::ReadWrite)?;
    }
    if let Some(bytes) = a.limits.max_disk_write {
        b.max_disk_write(bytes);
    }
    Ok(b.build())
}

fn call(
    store: &mut Store<WasiCtx>,
    instance: Instance,
    name: &str,
    a: &RunArgs,
    module: &Module,
) -> Result<(), Failure> {
    let func = instance.get_func(&*store, name).ok_or_else(|| {
        let exports: Vec<&str> = module.exports().map(|(n, _)| n).collect();
        Failure::Usage(format!(
            "`{}` exports no function `{name}`; its exports are: {}",
            a.file,
            exports.join(", ")
        ))
    })?;
    let ty = func.ty(&*store);
    let given = if a.invoke.is_some() { a.args.len() } else { 0 };
    if given != ty.params().len() {
        return Err(Failure::Usage(format!(
            "`{name}` has type {ty} and takes {} arguments, {given} given",
            ty.params().len()
        )));
    }
    let params = if a.invoke.is_some() {
        a.args
            .iter()
            .zip(ty.params())
            .map(|(s, &t)| parse_val(s, t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(Failure::Usage)?
    } else {
        Vec::new()
    };
    let mut results: Vec<Val> = ty.results().iter().map(|&t| Val::default_for(t)).collect();
    func.call(&mut *store, &params, &mut results)?;
    for r in &results {
        println!("{}", show(r));
    }
    Ok(())
}

fn engine(l: &Limits) -> Result<Engine, Failure> {
    let mut config = Config::new();
    config.consume_fuel(l.fuel.is_some());
    config.epoch_interruption(l.timeout.is_some());
    if let Some(bytes) = l.max_wasm_stack {
        config.max_wasm_stack(bytes);
    }
    Ok(Engine::new(&config)?)
}

fn run(a: &RunArgs) -> Result<(), Failure> {
    let engine = engine(&a.limits)?;
    let module = Module::from_file(&engine, &a.file)?;
    let mut store = Store::new(&engine, wasi_ctx(a)?);
    let l = &a.limits;
    if l.max_memory.is_some() || l.max_table_elements.is_some() {
        let mut limits = StoreLimits::new();
        if let Some(bytes) = l.max_memory {
            limits = limits.total_memory(bytes);
        }
        if let Some(n) = l.max_table_elements {
            limits = limits.table_elements(n);
        }
        store.limiter(limits);
    }
    if let Some(fuel) = l.fuel {
        store.set_fuel(fuel)?;
    }
    let mut linker: Linker<WasiCtx> = Linker::new(&engine);
    kiln_wasi::add_to_linker(&mut linker, |ctx| ctx)?;
    if a.default_imports {
        linker.define_unknown_imports_as_default_values(&module)?;
    }
    if let Some(timeout) = l.timeout {
        store.set_timeout(timeout)?;
    }
    let started = Instant::now();
    let result = instantiate_and_call(&mut store, &linker, &module, a);
    result.map_err(|f| explain_limits(f, &store, a, started.elapsed()))
}

fn instantiate_and_call(
    store: &mut Store<WasiCtx>,
    linker: &Linker<WasiCtx>,
    module: &Module,
    a: &RunArgs,
) -> Result<(), Failure> {
    let instance = linker.instantiate(&mut *store, module)?;
    // A reactor is initialized once, before any other export is called.
    let name = a.invoke.as_deref().unwrap_or("_start");
    if a.invoke.is_some()
        && name != "_initialize"
        && instance.get_func(&*store, "_initialize").is_some()
    {
        instance
            .get_typed_func::<(), ()>(&*store, "_initialize")?
            .call(&mut *store, ())?;
    }
    call(store, instance, name, a, module)
}

/// Turns a failure caused by a limit into a report of that limit.
fn explain_limits(f: Failure, store: &Store<WasiCtx>, a: &RunArgs, elapsed: Duration) -> Failure {
    let Failure::Kiln(e) = f else {
        return f;
    };
    let l = &a.limits;
    let code = e.as_trap().map(|t| t.code());
    let msg = match (code, e.kind()) {
        (Some(TrapCode::OutOfFuel), _) => {
            let fuel = l.fuel.unwrap_or(0);
            format!("fuel limit of {fuel} units reached: all {fuel} used")
        }
        (Some(TrapCode::Interrupted), _) => format!(
            "time limit of {:?} reached: stopped after {:.1?}",
            l.timeout.unwrap_or_default(),
            elapsed
        ),
        // Without --max-wasm-stack, running out of stack is reported as the trap it is.
        (Some(TrapCode::StackOverflow), _) if l.max_wasm_stack.is_some() => format!(
            "wasm stack limit of {} reached\n{e}",
            show_size(l.max_wasm_stack.unwrap_or_default() as u64)
        ),
        (_, ErrorKind::ResourceExhausted(hit)) => limit_hit(hit),
        _ => match store.last_limit_hit() {
            // A refused memory.grow or table.grow made the guest fail.
            Some(hit) if e.downcast_ref::<I32Exit>().is_none_or(|x| x.0 != 0) => {
                format!("{}\n{e}", limit_hit(&hit))
            }
            _ => return Failure::Kiln(e),
        },
    };
    Failure::Limit(msg)
}

fn limit_hit(hit: &LimitHit) -> String {
    match hit.kind {
        ResourceKind::Memory => format!(
            "memory limit of {} reached: {} requested",
            show_size(hit.limit),
            show_size(hit.requested)
        ),
        kind => format!(
            "{kind} limit of {} reached: {} requested",
            hit.limit, hit.requested
        ),
    }
}

/// The largest `--max-wasm-stack` accepted.
const MAX_WASM_STACK: usize = 1 << 30;

/// Runs `a` on a thread whose stack holds the whole wasm stack limit, the host's
/// reserve below it, and room for the host's own work above: the limit asked for is
/// the limit the guest gets, never clamped by a smaller thread.
fn run_on_sized_thread(a: RunArgs) -> Result<(), Failure> {
    let wasm = a.limits.max_wasm_stack.unwrap_or(512 << 10);
    if wasm > MAX_WASM_STACK {
        return Err(Failure::Usage(format!(
            "--max-wasm-stack {} is more than the largest allowed, {}",
            show_size(wasm as u64),
            show_size(MAX_WASM_STACK as u64)
        )));
    }
    let size = wasm + kiln::DEFAULT_HOST_STACK_RESERVE + (8 << 20);
    std::thread::Builder::new()
        .name("kiln-guest".into())
        .stack_size(size)
        .spawn(move || run(&a))
        .map_err(|e| Failure::Usage(format!("cannot start the guest's thread: {e}")))?
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

fn main() -> ExitCode {
    let a = match args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(args::UsageError::Help) => {
            println!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(ERROR_STATUS);
        }
    };
    match run_on_sized_thread(a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(ERROR_STATUS)
        }
        Err(Failure::Limit(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(LIMIT_STATUS)
        }
        Err(Failure::Kiln(e)) => {
            if let Some(exit) = e.downcast_ref::<I32Exit>() {
                // The guest's own exit status; WASI exit codes above 255 are truncated by
                // the OS, so clamp them to a failure.
                return ExitCode::from(u8::try_from(exit.0).unwrap_or(1));
            }
            eprintln!("error: {e}");
            ExitCode::from(if e.as_trap().is_some() {
                TRAP_STATUS
            } else {
                ERROR_STATUS
            })
        }
    }
}

//! The `kiln` command line.
//!
//! ```text
//! kiln run FILE.(wasm|wat) [--dir HOST[::GUEST]] [--env K=V] [--invoke NAME]
//!          [--default-imports] [ARGS...] [-- ARGS...]
//! ```
//! Exit status: the guest's exit code (`proc_exit`, or 0 when `_start` returns); 134 when
//! wasm traps (the trap and its backtrace go to stderr); 2 for anything that stops the
//! program from running (a missing file, a malformed module, a missing import, bad
//! arguments).

mod args;

use args::RunArgs;
use kiln::{Engine, Error, Instance, Linker, Module, Store, Val, ValType};
use kiln_wasi::{DirPerms, I32Exit, WasiCtx, WasiCtxBuilder};
use std::process::ExitCode;

/// Exit status of a trap, as for a process killed by SIGABRT.
const TRAP_STATUS: u8 = 134;
/// Exit status when the program could not be run.
const ERROR_STATUS: u8 = 2;

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

fn run(a: &RunArgs) -> Result<(), Failure> {
    let engine = Engine::default();
    let module = Module::from_file(&engine, &a.file)?;
    let mut store = Store::new(&engine, wasi_ctx(a)?);
    let mut linker: Linker<WasiCtx> = Linker::new(&engine);
    kiln_wasi::add_to_linker(&mut linker, |ctx| ctx)?;
    if a.default_imports {
        linker.define_unknown_imports_as_default_values(&module)?;
    }
    let instance = linker.instantiate(&mut store, &module)?;
    // A reactor is initialized once, before any other export is called.
    let name = a.invoke.as_deref().unwrap_or("_start");
    if a.invoke.is_some()
        && name != "_initialize"
        && instance.get_func(&store, "_initialize").is_some()
    {
        call(
            &mut store,
            instance,
            "_initialize",
            &RunArgs {
                invoke: Some("_initialize".into()),
                args: vec![],
                ..RunArgs::default()
            },
            &module,
        )?;
    }
    call(&mut store, instance, name, a, &module)
}

fn main() -> ExitCode {
    let a = match args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(args::UsageError::Help) => {
            println!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(ERROR_STATUS);
        }
    };
    match run(&a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(ERROR_STATUS)
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

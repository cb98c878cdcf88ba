//! The `kiln` command line.
//!
//! ```text
//! kiln run FILE.(wasm|wat) [--invoke NAME] [ARGS...]
//! ```
//! Runs `NAME` (or `_start`) with `ARGS` parsed by the function's parameter types and
//! prints its results, one per line. A trap prints the trap and its wasm backtrace and
//! exits with status 1; other errors exit with status 2.

use kiln::{Engine, Error, Linker, Module, Store, Val, ValType};
use std::process::ExitCode;

const USAGE: &str = "usage: kiln run FILE.(wasm|wat) [--invoke NAME] [ARGS...]";

struct RunArgs {
    file: String,
    invoke: Option<String>,
    args: Vec<String>,
}

fn parse_args(mut argv: impl Iterator<Item = String>) -> Result<RunArgs, String> {
    match argv.next().as_deref() {
        Some("run") => {}
        Some("--help" | "-h") | None => return Err(USAGE.to_string()),
        Some(other) => return Err(format!("unknown command `{other}`\n{USAGE}")),
    }
    let mut file = None;
    let mut invoke = None;
    let mut args = Vec::new();
    while let Some(a) = argv.next() {
        match a.as_str() {
            "--invoke" => {
                invoke = Some(argv.next().ok_or("--invoke needs a function name")?);
            }
            "--" => args.extend(argv.by_ref()),
            _ if file.is_none() => file = Some(a),
            _ => args.push(a),
        }
    }
    Ok(RunArgs {
        file: file.ok_or_else(|| format!("missing FILE\n{USAGE}"))?,
        invoke,
        args,
    })
}

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

enum Failure {
    Usage(String),
    Kiln(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Kiln(e)
    }
}

fn run(a: RunArgs) -> Result<(), Failure> {
    let engine = Engine::default();
    let module = Module::from_file(&engine, &a.file)?;
    let mut store = Store::new(&engine, ());
    let linker = Linker::new(&engine);
    let instance = linker.instantiate(&mut store, &module)?;
    let name = a.invoke.as_deref().unwrap_or("_start");
    let func = instance.get_func(&store, name).ok_or_else(|| {
        let exports: Vec<String> = module.exports().map(|(n, _)| n.to_string()).collect();
        Failure::Usage(format!(
            "`{}` exports no function `{name}`; its exports are: {}",
            a.file,
            exports.join(", ")
        ))
    })?;
    let ty = func.ty(&store);
    if a.args.len() != ty.params().len() {
        return Err(Failure::Usage(format!(
            "`{name}` has type {ty} and takes {} arguments, {} given",
            ty.params().len(),
            a.args.len()
        )));
    }
    let params = a
        .args
        .iter()
        .zip(ty.params())
        .map(|(s, &t)| parse_val(s, t))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Failure::Usage)?;
    let mut results: Vec<Val> = ty.results().iter().map(|&t| Val::default_for(t)).collect();
    func.call(&mut store, &params, &mut results)?;
    for r in &results {
        println!("{}", show(r));
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Kiln(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(if e.as_trap().is_some() { 1 } else { 2 })
        }
    }
}

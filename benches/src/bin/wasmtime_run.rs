//! A stand-in for `wasmtime run` (Wasmtime 48, default `Config`, wasmtime-wasi's preview
//! 1), for whole-process comparisons with `kiln run`:
//!
//! ```text
//! wasmtime_run compile IN.wasm OUT.cwasm      # Engine::precompile_module
//! wasmtime_run run [--dir DIR]... FILE [ARGS]...
//! ```
//! `run` takes a `.wasm` (compiled) or a `.cwasm` (deserialized from the file, as
//! `wasmtime run --allow-precompiled` does), inherits stdin, stdout and stderr, gives
//! the guest argv[0] = the file's name and the arguments after FILE, pre-opens each
//! DIR as itself, links sightglass's `bench.start`/`bench.end` as no-ops, and exits
//! with the guest's status.
//!
//! The one `unsafe` outside Kiln's `vm`: Wasmtime's `Module::deserialize_file` is
//! `unsafe` (it trusts the file), and this benchmark must call it to measure Wasmtime's
//! precompiled start. It only loads files this same binary wrote with `compile`.

#![deny(unsafe_code)]

use std::path::Path;
use std::process::ExitCode;
use wasmtime::{Config, Engine, Linker, Module, Store};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

fn chain(e: &wasmtime::Error) -> String {
    e.chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

#[allow(unsafe_code)]
fn load_precompiled(engine: &Engine, path: &Path) -> wasmtime::Result<Module> {
    // SAFETY: the file is an artifact `wasmtime_run compile` wrote for this same
    // Wasmtime build and configuration (the benchmark scripts create it just before);
    // Wasmtime checks its own header for version and settings.
    unsafe { Module::deserialize_file(engine, path) }
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    let mut dirs = Vec::new();
    let mut i = 0;
    while args.get(i).is_some_and(|a| a == "--dir") {
        dirs.push(args.get(i + 1).ok_or("--dir needs a value")?.clone());
        i += 2;
    }
    let file = args.get(i).ok_or("no FILE")?;
    let engine = Engine::new(&Config::new()).map_err(|e| chain(&e))?;
    let module = if file.ends_with(".cwasm") {
        load_precompiled(&engine, Path::new(file))
    } else {
        Module::from_file(&engine, file)
    }
    .map_err(|e| chain(&e))?;
    let mut wasi = WasiCtxBuilder::new();
    wasi.inherit_stdio();
    let name = Path::new(file)
        .file_name()
        .map_or_else(|| file.clone(), |n| n.to_string_lossy().into_owned());
    wasi.arg(name);
    for a in &args[i + 1..] {
        wasi.arg(a);
    }
    for d in &dirs {
        wasi.preopened_dir(d, d, FsPerms::ReadWrite)
            .map_err(|e| chain(&e))?;
    }
    let ctx: WasiP1Ctx = wasi.build_p1();
    let mut store = Store::new(&engine, ctx);
    let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |c| c).map_err(|e| chain(&e))?;
    // Sightglass programs mark their measured region; here it is not measured.
    for name in ["start", "end"] {
        linker
            .func_wrap("bench", name, || {})
            .map_err(|e| chain(&e))?;
    }
    let instance = linker
        .instantiate(&mut store, &module)
        .map_err(|e| chain(&e))?;
    let start = instance
        .get_typed_func::<(), ()>(&mut store, "_start")
        .map_err(|e| chain(&e))?;
    match start.call(&mut store, ()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => match e.downcast_ref::<I32Exit>() {
            Some(exit) => Ok(ExitCode::from(u8::try_from(exit.0).unwrap_or(1))),
            None => Err(chain(&e)),
        },
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("compile") if args.len() == 3 => (|| {
            let engine = Engine::new(&Config::new()).map_err(|e| chain(&e))?;
            let bytes = std::fs::read(&args[1]).map_err(|e| e.to_string())?;
            let out = engine.precompile_module(&bytes).map_err(|e| chain(&e))?;
            std::fs::write(&args[2], out).map_err(|e| e.to_string())?;
            Ok(ExitCode::SUCCESS)
        })(),
        Some("run") => run(&args[1..]),
        _ => Err(
            "usage: wasmtime_run compile IN.wasm OUT.cwasm | run [--dir DIR]... FILE [ARGS]..."
                .into(),
        ),
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

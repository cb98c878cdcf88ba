//! Prints the machine code Kiln generates for functions of a module, for reading what the
//! compiler made of them (BENCHMARKS.md cites it).
//!
//! ```text
//! cargo run --release -p kiln-benches --bin disas -- FILE [--func NAME|INDEX]... [--fuel] [--epochs] [--objdump]
//! ```
//! A function is named by its name-section name (substring match) or its function index.
//! `--objdump` prints the final bytes through `objdump` (with offsets) instead of
//! Cranelift's listing. `--wasmtime` prints what Wasmtime 48 makes of the same functions
//! (its precompiled object through `objdump`), for side-by-side reading. `--placement`
//! prints each function's size and the start offset `CodePlacement::Loops` picks for it.

#![forbid(unsafe_code)]

use kiln_frontend::{parse, DefinedFuncIndex, Features};
use kiln_jit::{Compiler, CompilerConfig, FuelCosts};

fn main() -> Result<(), String> {
    let mut file = None;
    let mut wanted = Vec::new();
    let mut config = CompilerConfig::default();
    let mut objdump = false;
    let mut wasmtime = false;
    let mut placement = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--func" => wanted.push(args.next().ok_or("--func NAME|INDEX")?),
            "--fuel" => config.fuel = Some(FuelCosts::default()),
            "--epochs" => config.epoch_interruption = true,
            "--objdump" => objdump = true,
            "--wasmtime" => wasmtime = true,
            "--placement" => placement = true,
            _ if file.is_none() => file = Some(a),
            other => return Err(format!("unexpected argument {other}")),
        }
    }
    let file = file.ok_or("usage: disas FILE [--func NAME|INDEX]... [--fuel] [--epochs]")?;
    let bytes = std::fs::read(&file).map_err(|e| format!("{file}: {e}"))?;
    let bytes = wat_or_wasm(bytes)?;
    let info = parse(&bytes, Features::default()).map_err(|e| e.to_string())?;
    let compiler = Compiler::new(config).map_err(|e| e.to_string())?;
    let placements = if placement {
        let compiled = compiler.compile_module(&info).map_err(|e| e.to_string())?;
        compiled
            .functions
            .iter()
            .map(|f| (f.loop_placement, f.code.len()))
            .collect()
    } else {
        Vec::new()
    };
    for d in 0..info.num_defined_funcs() {
        let d = DefinedFuncIndex::from_u32(d);
        let f = info.func_index(d);
        let name = info.func_name(f).unwrap_or("");
        let selected = wanted.is_empty()
            || wanted.iter().any(|w| {
                w.parse::<u32>().ok() == Some(f.as_u32())
                    || (!w.is_empty() && name.contains(w.as_str()))
            });
        if selected && placement {
            let (at, len) = placements[d.as_u32() as usize];
            println!(
                "function {} {name}: {len} bytes, loop placement {at:?}",
                f.as_u32()
            );
        } else if selected && wasmtime {
            print!("{}", wasmtime_function(&bytes, f.as_u32())?);
        } else if selected {
            println!("== function {} {name}", f.as_u32());
            let (text, code) = compiler.disassemble(&info, d).map_err(|e| e.to_string())?;
            if objdump {
                print!("{}", run_objdump(&code)?);
            } else {
                print!("{text}");
            }
        }
    }
    Ok(())
}

fn wat_or_wasm(bytes: Vec<u8>) -> Result<Vec<u8>, String> {
    if bytes.starts_with(b"\0asm") {
        Ok(bytes)
    } else {
        let text = String::from_utf8(bytes).map_err(|_| "neither a binary module nor text")?;
        wat::parse_str(&text).map_err(|e| e.to_string())
    }
}

fn run_objdump(code: &[u8]) -> Result<String, String> {
    let path = std::env::temp_dir().join(format!("kiln-disas-{}.bin", std::process::id()));
    std::fs::write(&path, code).map_err(|e| e.to_string())?;
    let text = objdump(
        &[
            "-D",
            "-b",
            "binary",
            "-m",
            "i386:x86-64",
            "--no-show-raw-insn",
        ],
        &path,
    );
    let _ = std::fs::remove_file(&path);
    Ok(text?.lines().skip(7).map(|l| format!("{l}\n")).collect())
}

/// Wasmtime's machine code for function `index` (its symbol `wasm[0]::function[index]`),
/// at its address in Wasmtime's `.text`.
fn wasmtime_function(bytes: &[u8], index: u32) -> Result<String, String> {
    let engine = wasmtime::Engine::default();
    let object = engine
        .precompile_module(bytes)
        .map_err(|e| format!("wasmtime: {e}"))?;
    let path = std::env::temp_dir().join(format!("kiln-disas-{}.cwasm", std::process::id()));
    std::fs::write(&path, object).map_err(|e| e.to_string())?;
    let text = wasmtime_symbol(&path, index);
    let _ = std::fs::remove_file(&path);
    Ok(text?.lines().skip(5).map(|l| format!("{l}\n")).collect())
}

fn wasmtime_symbol(object: &std::path::Path, index: u32) -> Result<String, String> {
    let prefix = format!("wasm[0]::function[{index}]");
    let symbols = objdump(&["-t"], object)?;
    let symbol = symbols
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .find(|s| *s == prefix || s.starts_with(&format!("{prefix}::")))
        .ok_or_else(|| format!("no symbol {prefix} in Wasmtime's object"))?;
    objdump(
        &[
            "-d",
            "--no-show-raw-insn",
            &format!("--disassemble={symbol}"),
        ],
        object,
    )
}

/// `objdump ARGS FILE`'s standard output.
fn objdump(args: &[&str], file: &std::path::Path) -> Result<String, String> {
    let out = std::process::Command::new("objdump")
        .args(args)
        .arg(file)
        .output()
        .map_err(|e| format!("objdump: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

//! Runs every sightglass program (`shared/workloads/sightglass`, or `$KILN_WORKLOADS`)
//! as the workloads README says: `_start` with no arguments and empty stdin, the
//! module's folder pre-opened as `.` (read-only), `bench.start`/`bench.end` as no-ops;
//! stdout and stderr must equal `<name>.std{out,err}.expected` (else
//! `default.*.expected`) line for line, as sightglass compares them (libsodium's
//! expected `0` has no final newline; the programs print `0\n`), and the exit status
//! must be 0. One trial per program; each prints its time and whether the output was
//! byte-identical too.

use kiln::{Engine, Linker, Module, Store};
use kiln_wasi::{add_to_linker, DirPerms, I32Exit, Output, OutputPipe, WasiCtx, WasiCtxBuilder};
use libtest_mimic::{Arguments, Failed, Trial};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn workloads() -> PathBuf {
    match std::env::var_os("KILN_WORKLOADS") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/workloads/sightglass"),
    }
}

/// Every `.wasm` below `dir`, sorted.
fn modules(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            modules(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "wasm") {
            out.push(p);
        }
    }
    Ok(())
}

/// The expected contents of `stream` for `wasm`, if there is an expected file.
fn expected(wasm: &Path, stream: &str) -> Result<Option<Vec<u8>>, Failed> {
    let dir = wasm.parent().ok_or("module without a folder")?;
    let stem = wasm
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or("bad file name")?;
    for name in [
        format!("{stem}.{stream}.expected"),
        format!("default.{stream}.expected"),
    ] {
        let p = dir.join(name);
        if p.exists() {
            return Ok(Some(std::fs::read(&p)?));
        }
    }
    Ok(None)
}

fn describe(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    if s.len() > 400 {
        let cut = s.char_indices().nth(400).map_or(s.len(), |(i, _)| i);
        format!("{:?}... ({} bytes)", &s[..cut], bytes.len())
    } else {
        format!("{s:?}")
    }
}

/// Lines as sightglass compares them (Rust's `str::lines`: `\n` or `\r\n` ends a
/// line, a final line ending is optional).
fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .collect()
}

/// Compares like sightglass does, line for line; returns whether the bytes are also
/// identical.
fn compare(stream: &str, got: &[u8], want: Option<Vec<u8>>) -> Result<bool, Failed> {
    match want {
        Some(want) if want == got => Ok(true),
        Some(want) if lines(&want) != lines(got) => {
            let at = got.iter().zip(&want).take_while(|(a, b)| a == b).count();
            Err(format!(
                "{stream} differs at byte {at}: got {}, expected {}",
                describe(got),
                describe(&want)
            )
            .into())
        }
        Some(_) => Ok(false),
        None => Ok(true),
    }
}

fn run(engine: &Engine, wasm: &Path, name: &str) -> Result<(), Failed> {
    let t0 = Instant::now();
    let dir = wasm.parent().ok_or("module without a folder")?;
    let module = Module::from_file(engine, wasm)?;
    let compiled = t0.elapsed();
    let mut linker = Linker::<WasiCtx>::new(engine);
    add_to_linker(&mut linker, |c| c)?;
    linker.func_wrap("bench", "start", || {})?;
    linker.func_wrap("bench", "end", || {})?;
    let (stdout, stderr) = (OutputPipe::new(), OutputPipe::new());
    let file = wasm
        .file_name()
        .and_then(|f| f.to_str())
        .unwrap_or("benchmark.wasm");
    let ctx = WasiCtxBuilder::new()
        .arg(file)
        .preopened_dir(dir, ".", DirPerms::ReadOnly)?
        .stdout(Output::Pipe(stdout.clone()))
        .stderr(Output::Pipe(stderr.clone()))
        .build();
    let mut store = Store::new(engine, ctx);
    let instance = linker.instantiate(&mut store, &module)?;
    let start = instance.get_typed_func::<(), ()>(&store, "_start")?;
    let status = match start.call(&mut store, ()) {
        Ok(()) => 0,
        Err(e) => match e.downcast_ref::<I32Exit>() {
            Some(exit) => exit.0,
            None => {
                return Err(format!(
                    "{e}\nstdout: {}\nstderr: {}",
                    describe(&stdout.contents()),
                    describe(&stderr.contents())
                )
                .into())
            }
        },
    };
    let elapsed = t0.elapsed();
    let exact = compare("stdout", &stdout.contents(), expected(wasm, "stdout")?)?
        & compare("stderr", &stderr.contents(), expected(wasm, "stderr")?)?;
    eprintln!(
        "sightglass {name}: exit {status}, output {}, compile {:.2}s, total {:.2}s",
        if exact {
            "identical"
        } else {
            "equal line for line"
        },
        compiled.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    if status != 0 {
        return Err(format!(
            "exit status {status}; stderr: {}",
            describe(&stderr.contents())
        )
        .into());
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let root = workloads();
    let mut wasms = Vec::new();
    if let Err(e) = modules(&root, &mut wasms) {
        if std::env::var_os("KILN_NO_SHARED").is_some() {
            // Running without `../shared` on purpose: nothing to run.
            eprintln!(
                "note: {} is absent (KILN_NO_SHARED): no sightglass programs run",
                root.display()
            );
            libtest_mimic::run(&args, Vec::new()).exit();
        }
        eprintln!(
            "cannot list {}: {e} (set KILN_WORKLOADS, or KILN_NO_SHARED=1 to run without it)",
            root.display()
        );
        std::process::exit(1);
    }
    if wasms.is_empty() {
        eprintln!("no .wasm under {}", root.display());
        std::process::exit(1);
    }
    let engine = Engine::default();
    let trials = wasms
        .into_iter()
        .map(|wasm| {
            let rel = wasm.strip_prefix(&root).unwrap_or(&wasm).with_extension("");
            let name = rel.to_string_lossy().into_owned();
            let engine = engine.clone();
            Trial::test(name.clone(), move || run(&engine, &wasm, &name))
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

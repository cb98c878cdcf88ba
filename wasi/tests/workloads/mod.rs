//! What the sightglass tests share (`sightglass.rs` compiles each program,
//! `sightglass_artifacts.rs` loads it from an artifact file): finding the programs
//! (`shared/workloads/sightglass`, or `$KILN_WORKLOADS`), running one as the workloads
//! README says (`_start` with no arguments and empty stdin, the module's folder
//! pre-opened as `.` read-only, `bench.start`/`bench.end` as no-ops), and checking its
//! stdout and stderr against `<name>.std{out,err}.expected` (else `default.*.expected`)
//! line for line, as sightglass compares them (libsodium's expected `0` has no final
//! newline; the programs print `0\n`).

use kiln::{Engine, Linker, Module, Store};
use kiln_wasi::{add_to_linker, DirPerms, I32Exit, Output, OutputPipe, WasiCtx, WasiCtxBuilder};
use libtest_mimic::{Arguments, Failed};
use std::path::{Path, PathBuf};

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

/// Every program as (trial name, `.wasm` path): the name is the path below the
/// workloads folder without `.wasm` (`shootout/shootout-fib2`). Without the folder,
/// exits the test with an empty run under `KILN_NO_SHARED`, or with an error.
pub fn programs(args: &Arguments) -> Vec<(String, PathBuf)> {
    let root = workloads();
    let mut wasms = Vec::new();
    if let Err(e) = modules(&root, &mut wasms) {
        if std::env::var_os("KILN_NO_SHARED").is_some() {
            // Running without `../shared` on purpose: nothing to run.
            eprintln!(
                "note: {} is absent (KILN_NO_SHARED): no sightglass programs run",
                root.display()
            );
            libtest_mimic::run(args, Vec::new()).exit();
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
    wasms
        .into_iter()
        .map(|wasm| {
            let rel = wasm.strip_prefix(&root).unwrap_or(&wasm).with_extension("");
            (rel.to_string_lossy().into_owned(), wasm)
        })
        .collect()
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

/// How a program whose output matched ended.
pub struct Ran {
    /// Its exit status (0 when `_start` returned).
    pub status: i32,
    /// Whether stdout and stderr were byte-identical to the expected ones too.
    pub exact: bool,
    stderr: Vec<u8>,
}

impl Ran {
    /// How the output matched, for the trial's line.
    pub fn output(&self) -> &'static str {
        if self.exact {
            "identical"
        } else {
            "equal line for line"
        }
    }

    /// Fails unless the exit status is 0.
    pub fn check_status(&self) -> Result<(), Failed> {
        if self.status != 0 {
            return Err(format!(
                "exit status {}; stderr: {}",
                self.status,
                describe(&self.stderr)
            )
            .into());
        }
        Ok(())
    }
}

/// Runs `module` (of `engine`, compiled or loaded from the program `wasm`) as sightglass
/// does and compares its output with the expected one; the caller checks the status.
pub fn run(engine: &Engine, module: &Module, wasm: &Path) -> Result<Ran, Failed> {
    let dir = wasm.parent().ok_or("module without a folder")?;
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
    let instance = linker.instantiate(&mut store, module)?;
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
    let exact = compare("stdout", &stdout.contents(), expected(wasm, "stdout")?)?
        & compare("stderr", &stderr.contents(), expected(wasm, "stderr")?)?;
    Ok(Ran {
        status,
        exact,
        stderr: stderr.contents(),
    })
}

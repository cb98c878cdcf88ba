//! Shared pieces of Kiln's measurement binaries: finding the sightglass workloads and
//! timing the region between their `bench.start` and `bench.end` calls, the way
//! sightglass does.

use kiln::{Engine, Linker, Module, Store};
use kiln_wasi::{DirPerms, I32Exit, Output, OutputPipe, WasiCtx, WasiCtxBuilder};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The sightglass folder: `KILN_WORKLOADS`, or `../shared/workloads/sightglass` from the
/// repository root.
pub fn workloads_dir() -> PathBuf {
    std::env::var_os("KILN_WORKLOADS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/workloads/sightglass"),
        PathBuf::from,
    )
}

/// A workload: a module and the folder it runs in.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Short name, e.g. `shootout/fib2`.
    pub name: String,
    /// The `.wasm` file.
    pub wasm: PathBuf,
}

/// Every `.wasm` under `dir/<group>`, sorted, optionally filtered by substring.
pub fn workloads(group: &str, filter: Option<&str>) -> std::io::Result<Vec<Workload>> {
    let dir = workloads_dir().join(group);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "wasm") {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let name = format!("{group}/{stem}");
            if filter.is_none_or(|f| name.contains(f)) {
                out.push(Workload { name, wasm: path });
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Runs `module` once as sightglass does (WASI `_start`, folder pre-opened as `.`,
/// output captured) and returns the time between `bench.start` and `bench.end`.
pub fn run_region(
    engine: &Engine,
    module: &Module,
    w: &Workload,
    setup: impl FnOnce(&mut Store<WasiCtx>),
) -> Result<Duration, String> {
    let dir = w.wasm.parent().ok_or("workload has no folder")?;
    let mut b = WasiCtxBuilder::new();
    b.arg(w.wasm.to_string_lossy())
        .preopened_dir(dir, ".", DirPerms::ReadOnly)
        .map_err(|e| e.to_string())?;
    b.stdout(Output::Pipe(OutputPipe::new()))
        .stderr(Output::Pipe(OutputPipe::new()));
    let mut store = Store::new(engine, b.build());
    setup(&mut store);
    let mut linker: Linker<WasiCtx> = Linker::new(engine);
    kiln_wasi::add_to_linker(&mut linker, |c| c).map_err(|e| e.to_string())?;
    let start = Arc::new(Mutex::new(None::<Instant>));
    let took = Arc::new(Mutex::new(None::<Duration>));
    let s = start.clone();
    linker
        .func_wrap("bench", "start", move || {
            if let Ok(mut g) = s.lock() {
                *g = Some(Instant::now());
            }
        })
        .map_err(|e| e.to_string())?;
    let (s, t) = (start, took.clone());
    linker
        .func_wrap("bench", "end", move || {
            let began = s.lock().ok().and_then(|g| *g);
            if let (Some(b), Ok(mut g)) = (began, t.lock()) {
                *g = Some(b.elapsed());
            }
        })
        .map_err(|e| e.to_string())?;
    let instance = linker
        .instantiate(&mut store, module)
        .map_err(|e| e.to_string())?;
    let f = instance
        .get_typed_func::<(), ()>(&store, "_start")
        .map_err(|e| e.to_string())?;
    match f.call(&mut store, ()) {
        Ok(()) => {}
        Err(e) if e.downcast_ref::<I32Exit>().is_some_and(|x| x.0 == 0) => {}
        Err(e) => return Err(format!("{}: {e}", w.name)),
    }
    let took = took
        .lock()
        .map_err(|_| "poisoned")?
        .ok_or("bench.end was not called")?;
    Ok(took)
}

/// The median of `xs` (sorted in place).
pub fn median(xs: &mut [Duration]) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

/// The geometric mean of `xs`.
pub fn geomean(xs: &[f64]) -> f64 {
    (xs.iter().map(|x| x.ln()).sum::<f64>() / xs.len() as f64).exp()
}

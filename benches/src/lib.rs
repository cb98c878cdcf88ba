//! Shared pieces of Kiln's measurement binaries: finding the sightglass workloads and
//! timing the region between their `bench.start` and `bench.end` calls, the way
//! sightglass does; running them on Kiln ([`kiln_runner`]) and on Wasmtime 48
//! ([`wasmtime_runner`]) alike, and checking what they print ([`check`]).

#![forbid(unsafe_code)]

pub mod check;
pub mod http;
pub mod kiln_runner;
pub mod wasmtime_runner;

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

/// Every `.wasm` in every folder of the sightglass directory (all groups), sorted by
/// name, optionally filtered by substring of the name (`shootout/shootout-fib2`,
/// `bz2/benchmark`, ...).
pub fn all_workloads(filter: Option<&str>) -> std::io::Result<Vec<Workload>> {
    let dir = workloads_dir();
    let mut groups = Vec::new();
    for entry in std::fs::read_dir(&dir)
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot list {}: {e}", dir.display())))?
    {
        let path = entry?.path();
        if path.is_dir() {
            if let Some(name) = path.file_name() {
                groups.push(name.to_string_lossy().into_owned());
            }
        }
    }
    groups.sort();
    let mut out = Vec::new();
    for g in groups {
        out.extend(workloads(&g, filter)?);
    }
    Ok(out)
}

/// What one run of a workload left: the measured region and the program's output.
#[derive(Debug, Clone, Default)]
pub struct RunOutput {
    /// The time between `bench.start` and `bench.end`; `None` if the program did not
    /// call both.
    pub region: Option<Duration>,
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Everything written to stderr.
    pub stderr: Vec<u8>,
    /// The exit status: 0 when `_start` returned, else the `proc_exit` code.
    pub status: i32,
}

/// The time `bench.start` and `bench.end` measured, kept in a store's data.
#[derive(Debug, Clone, Copy, Default)]
pub struct Region {
    began: Option<Instant>,
    took: Option<Duration>,
}

impl Region {
    /// `bench.start`.
    pub fn start(&mut self) {
        self.began = Some(Instant::now());
    }

    /// `bench.end`.
    pub fn end(&mut self) {
        let now = Instant::now();
        if let Some(b) = self.began {
            self.took = Some(now - b);
        }
    }

    /// The measured time, if both were called.
    pub fn took(&self) -> Option<Duration> {
        self.took
    }
}

/// One engine's way of running a workload, in the phases the comparison times. Both
/// [`kiln_runner::KilnHost`] and [`wasmtime_runner::WasmtimeHost`] implement it.
pub trait Runner {
    /// A compiled module.
    type Module;
    /// An instance ready to run `_start`.
    type Run;
    /// The engine's name in reports.
    const NAME: &'static str;
    /// Compiles a module from its binary form.
    fn compile(&self, bytes: &[u8]) -> Result<Self::Module, String>;
    /// Builds the WASI context and store and instantiates `module` for `w`.
    fn instantiate(&self, module: &Self::Module, w: &Workload) -> Result<Self::Run, String>;
    /// Runs `_start`.
    fn run(run: Self::Run) -> Result<RunOutput, String>;
}

impl Runner for kiln_runner::KilnHost {
    type Module = kiln::Module;
    type Run = kiln_runner::KilnRun;
    const NAME: &'static str = "Kiln";
    fn compile(&self, bytes: &[u8]) -> Result<Self::Module, String> {
        kiln_runner::KilnHost::compile(self, bytes)
    }
    fn instantiate(&self, module: &Self::Module, w: &Workload) -> Result<Self::Run, String> {
        kiln_runner::KilnHost::instantiate(self, module, w)
    }
    fn run(run: Self::Run) -> Result<RunOutput, String> {
        run.run()
    }
}

impl Runner for wasmtime_runner::WasmtimeHost {
    type Module = wasmtime::Module;
    type Run = wasmtime_runner::WasmtimeRun;
    const NAME: &'static str = "Wasmtime";
    fn compile(&self, bytes: &[u8]) -> Result<Self::Module, String> {
        wasmtime_runner::WasmtimeHost::compile(self, bytes)
    }
    fn instantiate(&self, module: &Self::Module, w: &Workload) -> Result<Self::Run, String> {
        wasmtime_runner::WasmtimeHost::instantiate(self, module, w)
    }
    fn run(run: Self::Run) -> Result<RunOutput, String> {
        run.run()
    }
}

/// Compiles, instantiates and runs `w` once on `r` and checks its output against
/// `expected` (and that it timed a region). Returns the compiled module.
pub fn run_checked<R: Runner>(
    r: &R,
    bytes: &[u8],
    w: &Workload,
    expected: &check::Expected,
) -> Result<R::Module, String> {
    let module = r.compile(bytes).map_err(|e| format!("compile: {e}"))?;
    let out = R::run(r.instantiate(&module, w)?)?;
    expected.check(&out)?;
    if out.region.is_none() {
        return Err("bench.start and bench.end were not both called".into());
    }
    Ok(module)
}

/// Formats `d` with 3 significant figures and a unit (ns, µs, ms, s).
pub fn fmt_duration(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    let (v, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    let decimals = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.decimals$} {unit}")
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

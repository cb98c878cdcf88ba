//! Runs a sightglass workload on Wasmtime 48 (default settings) with wasmtime-wasi's
//! preview 1, the same way [`crate::kiln_runner`] runs it on Kiln and split into the
//! same phases: compile ([`WasmtimeHost::compile`]: `wasmtime::Module::new`),
//! instantiate ([`WasmtimeHost::instantiate`]: WASI context, store, instantiation,
//! `_start` lookup) and execute ([`WasmtimeRun::run`]: the `bench.start`..`bench.end`
//! region of `_start`).
//!
//! The WASI context is built as `wasmtime run` builds it for a synchronous guest:
//! blocking WASI calls may block the current thread (no hop through Tokio's blocking
//! pool). The linker is built once per host and reused.

use crate::{Region, RunOutput, Workload};
use wasmtime::{Caller, Config, Engine, Linker, Module, Store, TypedFunc};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

/// A store's data: the guest's WASI and the measured region.
pub struct WasmtimeState {
    wasi: WasiP1Ctx,
    region: Region,
}

/// An engine and the linker every workload is instantiated with.
pub struct WasmtimeHost {
    engine: Engine,
    linker: Linker<WasmtimeState>,
}

/// Wasmtime's error with its causes, `outer: inner: ...`.
pub fn chain(e: &wasmtime::Error) -> String {
    e.chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

impl WasmtimeHost {
    /// A host on an engine with Wasmtime's default `Config`.
    pub fn new() -> Result<WasmtimeHost, String> {
        let engine = Engine::new(&Config::new()).map_err(|e| chain(&e))?;
        WasmtimeHost::with_engine(&engine)
    }

    /// A host on `engine`.
    pub fn with_engine(engine: &Engine) -> Result<WasmtimeHost, String> {
        let mut linker: Linker<WasmtimeState> = Linker::new(engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s: &mut WasmtimeState| &mut s.wasi)
            .map_err(|e| chain(&e))?;
        linker
            .func_wrap("bench", "start", |mut c: Caller<'_, WasmtimeState>| {
                c.data_mut().region.start();
            })
            .map_err(|e| chain(&e))?;
        linker
            .func_wrap("bench", "end", |mut c: Caller<'_, WasmtimeState>| {
                c.data_mut().region.end();
            })
            .map_err(|e| chain(&e))?;
        Ok(WasmtimeHost {
            engine: engine.clone(),
            linker,
        })
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles a module (`wasmtime::Module::new`).
    pub fn compile(&self, bytes: &[u8]) -> Result<Module, String> {
        Module::new(&self.engine, bytes).map_err(|e| chain(&e))
    }

    /// Makes the guest's WASI context (arguments: the file name; the module's folder
    /// pre-opened read-only as `.`; stdout and stderr into pipes), a store, and an
    /// instance of `module`, and finds `_start`.
    pub fn instantiate(&self, module: &Module, w: &Workload) -> Result<WasmtimeRun, String> {
        let dir = w.wasm.parent().ok_or("workload has no folder")?;
        let file = w
            .wasm
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (stdout, stderr) = (
            MemoryOutputPipe::new(usize::MAX),
            MemoryOutputPipe::new(usize::MAX),
        );
        let mut b = WasiCtxBuilder::new();
        b.allow_blocking_current_thread(true)
            .arg(file)
            .stdout(stdout.clone())
            .stderr(stderr.clone());
        b.preopened_dir(dir, ".", FsPerms::ReadOnly)
            .map_err(|e| chain(&e))?;
        let state = WasmtimeState {
            wasi: b.build_p1(),
            region: Region::default(),
        };
        let mut store = Store::new(&self.engine, state);
        let instance = self
            .linker
            .instantiate(&mut store, module)
            .map_err(|e| format!("instantiation: {}", chain(&e)))?;
        let start = instance
            .get_typed_func::<(), ()>(&mut store, "_start")
            .map_err(|e| format!("_start: {}", chain(&e)))?;
        Ok(WasmtimeRun {
            store,
            start,
            stdout,
            stderr,
        })
    }
}

/// An instance ready to run.
pub struct WasmtimeRun {
    store: Store<WasmtimeState>,
    start: TypedFunc<(), ()>,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl WasmtimeRun {
    /// Calls `_start`. A trap or host error is an `Err` (with the program's stderr);
    /// `proc_exit` is a status.
    pub fn run(mut self) -> Result<RunOutput, String> {
        let status = match self.start.call(&mut self.store, ()) {
            Ok(()) => 0,
            Err(e) => match e.downcast_ref::<I32Exit>() {
                Some(exit) => exit.0,
                None => {
                    return Err(format!(
                        "{}; stderr: {}",
                        chain(&e),
                        crate::check::describe(&self.stderr.contents())
                    ))
                }
            },
        };
        Ok(RunOutput {
            region: self.store.data().region.took(),
            stdout: self.stdout.contents().to_vec(),
            stderr: self.stderr.contents().to_vec(),
            status,
        })
    }
}

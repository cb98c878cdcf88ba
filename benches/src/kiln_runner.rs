//! Runs a sightglass workload on Kiln, split into the phases the comparison times:
//! compile ([`KilnHost::compile`]), instantiate ([`KilnHost::instantiate`]: WASI
//! context, store, instantiation, `_start` lookup) and execute ([`KilnRun::run`]: the
//! `bench.start`..`bench.end` region of `_start`).
//!
//! The linker (WASI plus `bench.start`/`bench.end`) is built once per host and reused,
//! as an embedder would; it is not part of any phase.

use crate::{Region, RunOutput, Workload};
use kiln::{Caller, Config, Engine, Linker, Module, OptLevel, Store, TypedFunc};
use kiln_wasi::{DirPerms, I32Exit, Output, OutputPipe, WasiCtx, WasiCtxBuilder};

/// A store's data: the guest's WASI and the measured region.
pub struct KilnState {
    wasi: WasiCtx,
    region: Region,
}

/// An engine and the linker every workload is instantiated with.
pub struct KilnHost {
    engine: Engine,
    linker: Linker<KilnState>,
}

impl KilnHost {
    /// A host on an engine with Kiln's default settings at `opt`.
    pub fn new(opt: OptLevel) -> Result<KilnHost, String> {
        let mut config = Config::new();
        config.opt_level(opt);
        let engine = Engine::new(&config).map_err(|e| e.to_string())?;
        KilnHost::with_engine(&engine)
    }

    /// A host on `engine`.
    pub fn with_engine(engine: &Engine) -> Result<KilnHost, String> {
        let mut linker: Linker<KilnState> = Linker::new(engine);
        kiln_wasi::add_to_linker(&mut linker, |s| &mut s.wasi).map_err(|e| e.to_string())?;
        linker
            .func_wrap("bench", "start", |mut c: Caller<'_, KilnState>| {
                c.data_mut().region.start();
            })
            .map_err(|e| e.to_string())?;
        linker
            .func_wrap("bench", "end", |mut c: Caller<'_, KilnState>| {
                c.data_mut().region.end();
            })
            .map_err(|e| e.to_string())?;
        Ok(KilnHost {
            engine: engine.clone(),
            linker,
        })
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles a module from its binary form, with the linker's WASI fast paths
    /// inlined (`Linker::module`), as `kiln run` does.
    pub fn compile(&self, bytes: &[u8]) -> Result<Module, String> {
        self.linker.module(bytes).map_err(|e| e.to_string())
    }

    /// Makes the guest's WASI context (arguments: the file name; the module's folder
    /// pre-opened read-only as `.`; stdout and stderr into pipes), a store, and an
    /// instance of `module`, and finds `_start`.
    pub fn instantiate(&self, module: &Module, w: &Workload) -> Result<KilnRun, String> {
        let dir = w.wasm.parent().ok_or("workload has no folder")?;
        let file = w
            .wasm
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (stdout, stderr) = (OutputPipe::new(), OutputPipe::new());
        let mut b = WasiCtxBuilder::new();
        b.arg(file)
            .preopened_dir(dir, ".", DirPerms::ReadOnly)
            .map_err(|e| e.to_string())?;
        b.stdout(Output::Pipe(stdout.clone()))
            .stderr(Output::Pipe(stderr.clone()));
        let state = KilnState {
            wasi: b.build(),
            region: Region::default(),
        };
        let mut store = Store::new(&self.engine, state);
        let instance = self
            .linker
            .instantiate(&mut store, module)
            .map_err(|e| format!("instantiation: {e}"))?;
        let start = instance
            .get_typed_func::<(), ()>(&store, "_start")
            .map_err(|e| format!("_start: {e}"))?;
        Ok(KilnRun {
            store,
            instance,
            start,
            stdout,
            stderr,
        })
    }
}

/// An instance ready to run.
pub struct KilnRun {
    store: Store<KilnState>,
    instance: kiln::Instance,
    start: TypedFunc<(), ()>,
    stdout: OutputPipe,
    stderr: OutputPipe,
}

impl KilnRun {
    /// Calls `_start`. A trap or host error is an `Err` (with the program's stderr);
    /// `proc_exit` is a status.
    pub fn run(self) -> Result<RunOutput, String> {
        self.run_with_profile().map(|(out, _)| out)
    }

    /// `run`, and the instance's profile afterwards (tiered code records one).
    pub fn run_with_profile(mut self) -> Result<(RunOutput, Option<kiln::Profile>), String> {
        let status = match self.start.call(&mut self.store, ()) {
            Ok(()) => 0,
            Err(e) => match e.downcast_ref::<I32Exit>() {
                Some(exit) => exit.0,
                None => {
                    return Err(format!(
                        "{e}; stderr: {}",
                        crate::check::describe(&self.stderr.contents())
                    ))
                }
            },
        };
        let profile = self.instance.profile(&self.store);
        Ok((
            RunOutput {
                region: self.store.data().region.took(),
                stdout: self.stdout.contents(),
                stderr: self.stderr.contents(),
                status,
            },
            profile,
        ))
    }
}

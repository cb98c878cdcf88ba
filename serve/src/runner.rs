//! Running one job: compile (through the engine's code cache, with the WASI fast paths
//! inlined), link WASI with the job's arguments, environment and stdin and nothing
//! else (no directory, no network), run `_start` under the job's limits, and turn what
//! happened into a [`JobResult`]. Only the public `kiln` and `kiln-wasi` APIs.

use crate::api::{JobResult, Language, Status};
use crate::config::{JobLimits, ServeConfig};
use kiln::{CacheConfig, Config, Engine, ErrorKind, Linker, Store, StoreLimits, TrapCode};
use kiln_wasi::{FastPaths, I32Exit, Output, OutputPipe, Stdin, WasiCtx, WasiCtxBuilder};
use std::time::{Duration, Instant};

/// The wasm stack a guest gets.
pub const WASM_STACK: usize = 512 << 10;

/// A job ready to run.
#[derive(Debug, Clone)]
pub struct Job {
    /// Its id.
    pub id: String,
    /// Its language.
    pub language: Language,
    /// The module's binary.
    pub module: Vec<u8>,
    /// Standard input.
    pub stdin: Vec<u8>,
    /// `argv[1..]`.
    pub args: Vec<String>,
    /// The environment.
    pub env: Vec<(String, String)>,
    /// Its limits, already clamped.
    pub limits: JobLimits,
}

/// The engine every job runs on.
pub struct Runner {
    engine: Engine,
}

impl Runner {
    /// An engine for `config`: epochs for time limits, fuel when the maxima meter it,
    /// the code cache (memory, and disk with a directory).
    pub fn new(config: &ServeConfig) -> Result<Runner, kiln::Error> {
        let mut c = Config::new();
        c.epoch_interruption(true)
            .consume_fuel(config.max.fuel.is_some())
            .max_wasm_stack(WASM_STACK)
            .cache(match &config.cache_directory {
                Some(dir) => CacheConfig::new(dir),
                None => CacheConfig::memory_only(),
            });
        Ok(Runner {
            engine: Engine::new(&c)?,
        })
    }

    /// The stack a worker thread needs: the wasm stack, the host's reserve, and room
    /// for the host's own work.
    pub fn thread_stack() -> usize {
        WASM_STACK + kiln::DEFAULT_HOST_STACK_RESERVE + (8 << 20)
    }

    /// Runs `job`; never panics on anything the job does.
    pub fn run(&self, job: &Job) -> JobResult {
        let started = Instant::now();
        let stdout = OutputPipe::with_capacity(job.limits.output_bytes);
        let stderr = OutputPipe::with_capacity(job.limits.output_bytes);
        let ran = self.run_inner(job, started, &stdout, &stderr);
        let text = |p: &OutputPipe| String::from_utf8_lossy(&p.contents()).into_owned();
        let mut result = JobResult {
            job_id: job.id.clone(),
            language: job.language.name().to_string(),
            status: ran.status,
            stdout: text(&stdout),
            stderr: text(&stderr),
            exit_code: ran.exit_code,
            duration_ms: started.elapsed().as_millis() as u64,
            limits_hit: ran.limits_hit.into_iter().map(String::from).collect(),
            truncated: stdout.truncated() || stderr.truncated(),
            error: ran.error,
        };
        if result.status == Status::Completed && result.exit_code != Some(0) {
            result.status = Status::Failed;
        }
        result
    }

    fn run_inner(
        &self,
        job: &Job,
        started: Instant,
        stdout: &OutputPipe,
        stderr: &OutputPipe,
    ) -> Ran {
        let deadline = started + Duration::from_millis(job.limits.timeout_ms);
        let mut b = WasiCtxBuilder::new();
        b.arg("main")
            .args(job.args.iter().cloned())
            .stdin(Stdin::Bytes(job.stdin.clone()))
            .stdout(Output::Pipe(stdout.clone()))
            .stderr(Output::Pipe(stderr.clone()));
        for (k, v) in &job.env {
            b.env(k, v);
        }
        let mut store = Store::new(&self.engine, b.build());
        store.limiter(StoreLimits::new().total_memory(job.limits.memory_limit_mb << 20));
        let mut linker = Linker::<WasiCtx>::new(&self.engine);
        let setup =
            kiln_wasi::add_to_linker_with(&mut linker, |c| c, FastPaths::WithStore(&mut store))
                .and_then(|()| {
                    if let Some(fuel) = job.limits.fuel {
                        store.set_fuel(fuel)?;
                    }
                    Ok(())
                });
        if let Err(e) = setup {
            return Ran::error(format!("the server could not set up the job: {e}"));
        }
        let module = match linker.module_until(&job.module, Some(deadline)) {
            Ok(m) => m,
            Err(e) => return Ran::from_error(&e, None),
        };
        if let Err(e) = store.set_timeout(deadline.saturating_duration_since(Instant::now())) {
            return Ran::error(format!("the server could not set the time limit: {e}"));
        }
        let outcome = linker
            .instantiate(&mut store, &module)
            .and_then(|instance| instance.get_typed_func::<(), ()>(&store, "_start"))
            .and_then(|start| start.call(&mut store, ()));
        match outcome {
            Ok(()) => Ran::exited(0),
            Err(e) => match e.downcast_ref::<I32Exit>() {
                // A program that exits with an error after a refused `memory.grow` (its
                // allocator failed) hit the memory limit.
                Some(exit) if exit.0 != 0 && memory_refused(Some(&store)) => Ran {
                    status: Status::MemoryLimit,
                    exit_code: Some(exit.0),
                    limits_hit: vec!["memory"],
                    error: None,
                },
                Some(exit) => Ran::exited(exit.0),
                None => Ran::from_error(&e, Some(&store)),
            },
        }
    }
}

/// Whether the memory limit refused the job something (a `memory.grow`, say).
fn memory_refused(store: Option<&Store<WasiCtx>>) -> bool {
    store
        .and_then(Store::last_limit_hit)
        .is_some_and(|hit| hit.kind == kiln::ResourceKind::Memory)
}

/// How a job ended, before its output is collected.
struct Ran {
    status: Status,
    exit_code: Option<i32>,
    limits_hit: Vec<&'static str>,
    error: Option<String>,
}

impl Ran {
    fn exited(code: i32) -> Ran {
        Ran {
            status: Status::Completed,
            exit_code: Some(code),
            limits_hit: Vec::new(),
            error: None,
        }
    }

    fn error(message: String) -> Ran {
        Ran {
            status: Status::Error,
            exit_code: None,
            limits_hit: Vec::new(),
            error: Some(message),
        }
    }

    fn limit(status: Status, limit: &'static str, e: &kiln::Error) -> Ran {
        Ran {
            status,
            exit_code: None,
            limits_hit: vec![limit],
            error: Some(e.to_string()),
        }
    }

    /// The outcome of a failure `e` (with the job's store once it has run).
    fn from_error(e: &kiln::Error, store: Option<&Store<WasiCtx>>) -> Ran {
        match (e.as_trap().map(|t| t.code()), e.kind()) {
            (Some(TrapCode::Interrupted), _) => Ran::limit(Status::Timeout, "time", e),
            (Some(TrapCode::OutOfFuel), _) => Ran::limit(Status::FuelExhausted, "fuel", e),
            (Some(TrapCode::StackOverflow), _) => Ran::limit(Status::Failed, "stack", e),
            (_, ErrorKind::ResourceExhausted(_)) => Ran::limit(Status::MemoryLimit, "memory", e),
            (Some(_), _) | (_, ErrorKind::Host(_)) => {
                // A refused `memory.grow` that made the guest fail is the memory limit.
                if memory_refused(store) {
                    Ran::limit(Status::MemoryLimit, "memory", e)
                } else {
                    Ran {
                        status: Status::Failed,
                        exit_code: None,
                        limits_hit: Vec::new(),
                        error: Some(e.to_string()),
                    }
                }
            }
            _ => Ran::error(e.to_string()),
        }
    }
}

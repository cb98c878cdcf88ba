//! Compiler robustness: Kiln's compile path (frontend, translator, Cranelift with its IR
//! verifier on) never panics, compiles every valid module and refuses every invalid one.

use crate::generate;
use crate::{engines, panic_message, watchdog, Failure, Target};
use arbitrary::Unstructured;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

/// Kiln engine configurations the compile check uses (all with the Cranelift verifier on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompileEngine {
    /// Default settings.
    Default,
    /// Fuel and epoch checks compiled in.
    Instrumented,
    /// `OptLevel::None`.
    Unoptimized,
    /// SSE2 baseline only, `OptLevel::SpeedAndSize`.
    Baseline,
    /// Functions compiled on several threads, with fuel checks.
    Parallel,
}

impl CompileEngine {
    const ALL: [CompileEngine; 5] = [
        CompileEngine::Default,
        CompileEngine::Instrumented,
        CompileEngine::Unoptimized,
        CompileEngine::Baseline,
        CompileEngine::Parallel,
    ];
}

/// Compiling anything should take far less than this.
const HANG: Duration = Duration::from_secs(120);

/// How long compiling `len` bytes may take before it counts as a finding: Kiln's
/// target is 10 s for any module up to 1 MB, so 1 s plus 10 µs a byte, times
/// `KILN_FUZZ_COMPILE_SLACK` (default 3, for sanitizer builds). Only under `cargo fuzz`
/// (`--cfg fuzzing`) or when `KILN_FUZZ_COMPILE_SLACK` is set: the smoke test in
/// `cargo test` times nothing.
fn time_budget(len: usize) -> Option<Duration> {
    let slack = std::env::var("KILN_FUZZ_COMPILE_SLACK")
        .ok()
        .and_then(|s| s.parse::<u32>().ok());
    let slack = match slack {
        Some(s) => s,
        None if cfg!(fuzzing) => 3,
        None => return None,
    };
    let base = Duration::from_secs(1) + Duration::from_micros(10 * len as u64);
    Some(base * slack)
}

/// Compiles a module made from `data`: the raw bytes (binary or, failing the magic
/// number, text), a wasm-smith module with Kiln's feature set, one damaged a little, or one
/// with any proposals; on an engine configuration chosen by the input.
pub fn compile(data: &[u8]) -> Result<(), Failure> {
    match prepare(data) {
        Some((engine, bytes)) => check_compile(engine, &bytes),
        None => Ok(()),
    }
}

/// The engine and module `compile` checks for `data`.
pub(crate) fn prepare(data: &[u8]) -> Option<(CompileEngine, Vec<u8>)> {
    let mut u = Unstructured::new(data);
    let (Ok(engine), Ok(mode)) = (u.choose(&CompileEngine::ALL), u.int_in_range(0u8..=8)) else {
        return None;
    };
    let engine = *engine;
    let bytes = match mode {
        0 => u.take_rest().to_vec(),
        8 => wat::parse_str(crate::stress::stress_module(&mut u).ok()?).ok()?,
        7 => {
            let c = generate::any_proposals_config(&mut u).ok()?;
            generate::module(c, &mut u)?
        }
        _ => {
            let c = generate::kiln_config(&mut u).ok()?;
            let mut b = generate::module(c, &mut u)?;
            if mode == 6 {
                generate::mutate(&mut b, &mut u).ok()?;
            }
            b
        }
    };
    Some((engine, bytes))
}

/// `kiln::Module::new` on `engine` must not panic and, for binaries, must succeed exactly
/// when wasmparser validates `bytes` under Kiln's feature set.
pub fn check_compile(engine: CompileEngine, bytes: &[u8]) -> Result<(), Failure> {
    let fail = |m: String| Failure::new(Target::Compile, m, Some(bytes));
    let kiln_engine = engines::kiln_compile(engine).map_err(fail)?;
    let result = {
        let _hang = watchdog::arm(HANG, || {
            format!(
                "compile: Module::new on the {engine:?} engine ({} bytes)",
                bytes.len()
            )
        });
        let started = Instant::now();
        let r = catch_unwind(AssertUnwindSafe(|| kiln::Module::new(kiln_engine, bytes)));
        let took = started.elapsed();
        if let Some(budget) = time_budget(bytes.len()) {
            if took > budget {
                return Err(fail(format!(
                    "compiling {} bytes on the {engine:?} engine took {took:?}, over the \
                     budget of {budget:?}: compilation is super-linear somewhere",
                    bytes.len()
                )));
            }
        }
        r
    };
    let result = result.map_err(|payload| {
        fail(format!(
            "Kiln panicked compiling on the {engine:?} engine: {}",
            panic_message(&*payload)
        ))
    })?;
    if !bytes.starts_with(b"\0asm") {
        return Ok(());
    }
    let valid =
        wasmparser::Validator::new_with_features(generate::kiln_features()).validate_all(bytes);
    match (valid, result) {
        (Ok(_), Err(e)) => Err(fail(format!(
            "Kiln cannot compile a valid module of Kiln's feature set on the {engine:?} engine: {e}"
        ))),
        (Err(r), Ok(_)) => Err(fail(format!(
            "Kiln compiled a module wasmparser refuses under Kiln's feature set: {r}"
        ))),
        _ => Ok(()),
    }
}

//! The checks behind Kiln's fuzz targets.
//!
//! Every check takes the raw bytes a fuzzer (or the deterministic smoke test) hands it and
//! either passes or returns a [`Failure`] describing what Kiln got wrong. The cargo-fuzz
//! targets in `fuzz/targets/fuzz_targets/` are one-line calls into [`fuzz`] (which runs
//! [`Target::check`] and panics on a failure); the smoke
//! test (`tests/smoke.rs`) runs the same checks on inputs derived from fixed seeds, and
//! `tests/regressions.rs` replays every file under `fuzz/regressions/<target>/`.
//!
//! - [`differential`]: a wasm-smith module (Wasm 2.0 + SIMD, no imports, everything
//!   exported) runs on Kiln and on Wasmtime 48 with the same fuel; every exported function
//!   is called with arguments taken from the input, and results, traps and (after
//!   instantiation and after every call) the exported memories, globals and tables must
//!   agree. See [`differential`] for what is
//!   deliberately not compared (fuel exhaustion, stack exhaustion, NaN bits).
//! - [`validate`]: Kiln accepts a module exactly when wasmparser does with Wasm 2.0 + SIMD,
//!   and a module valid only with a further proposal is refused as *unsupported*.
//! - [`compile`]: Kiln's compile path never panics, compiles every valid module (with the
//!   Cranelift verifier on) and refuses every invalid one.
//! - [`limits`]: under fuel, an epoch timeout and a memory limit, every call returns, with
//!   a value or a trap, and no memory grows past the limit.
//! - [`artifact`]: a compiled module's artifact (`Module::serialize`) loads and behaves as
//!   the module; one mutated anywhere is refused as an incompatible artifact unless its
//!   bytes are unchanged; one mutated in its header, section table, META or LAYOUT and
//!   then re-authenticated with the key never makes `Module::deserialize` panic (nor
//!   listing or re-serializing what loads; it is never run).

mod artifact;
mod compile;
mod differential;
mod engines;
mod generate;
mod limits;
mod stress;
mod validate;
mod value;
mod watchdog;

pub use artifact::{
    artifact, check_artifact, ArtifactEngine, ArtifactReport, ARTIFACT_FUEL, ARTIFACT_KEY,
};
pub use compile::{check_compile, compile, CompileEngine};
pub use differential::{
    check_differential, check_differential_with, differential, DiffReport, DiffStrategy, DIFF_FUEL,
};
pub use limits::{check_limits, limits, LimitsReport, LIMITS_FUEL, LIMITS_MEMORY, LIMITS_TIMEOUT};
pub use validate::{check_validate, validate};
pub use value::{TrapKind, Value};

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The five fuzz targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// Kiln against Wasmtime on wasm-smith modules.
    Differential,
    /// Kiln's validation against wasmparser's.
    Validate,
    /// Kiln's compile path on arbitrary and generated modules.
    Compile,
    /// Kiln under fuel, timeout and memory limits.
    Limits,
    /// Kiln's compiled artifacts, intact and mutated.
    Artifact,
}

impl Target {
    /// All targets.
    pub const ALL: [Target; 5] = [
        Target::Differential,
        Target::Validate,
        Target::Compile,
        Target::Limits,
        Target::Artifact,
    ];

    /// The target's name (its fuzz target and regression folder).
    pub fn name(self) -> &'static str {
        match self {
            Target::Differential => "differential",
            Target::Validate => "validate",
            Target::Compile => "compile",
            Target::Limits => "limits",
            Target::Artifact => "artifact",
        }
    }

    /// The target called `name`.
    pub fn from_name(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Runs the target's check on a fuzz input. A panic inside is caught and reported as
    /// a failure (under libFuzzer the panic hook aborts first, which also records it).
    pub fn check(self, data: &[u8]) -> Result<(), Failure> {
        catching(self, None, || match self {
            Target::Differential => differential(data).map(drop),
            Target::Validate => validate(data),
            Target::Compile => compile(data),
            Target::Limits => limits(data).map(drop),
            Target::Artifact => artifact(data).map(drop),
        })
    }

    /// The module the target checks for the fuzz input `data` (`None` if the input is too
    /// short to make one): for inspecting a failing input, e.g. with wasmprinter.
    pub fn module_of(self, data: &[u8]) -> Option<Vec<u8>> {
        match self {
            Target::Differential => differential::prepare(data).map(|(m, _, _)| m),
            Target::Validate => validate::prepare(data).map(|(m, _)| m),
            Target::Compile => compile::prepare(data).map(|(_, m)| m),
            Target::Limits => limits::prepare(data).map(|(m, _)| m),
            Target::Artifact => artifact::prepare(data).map(|(_, m, _)| m),
        }
    }

    /// Runs the target's check on a module given directly (`.wasm` or `.wat` regression
    /// files, e.g. hand-minimized ones): no generation step; `differential` and `limits`
    /// call exports with all-zero arguments, `compile` uses the default engine, `artifact`
    /// the default artifact engine with the round trip and one raw mutation.
    pub fn check_module(self, wasm: &[u8]) -> Result<(), Failure> {
        catching(self, Some(wasm), || match self {
            Target::Differential => check_differential(wasm, &[]).map(drop),
            Target::Validate => check_validate(wasm, true),
            Target::Compile => check_compile(CompileEngine::Default, wasm),
            Target::Limits => check_limits(wasm, &[]).map(drop),
            Target::Artifact => check_artifact(ArtifactEngine::Default, wasm, &[]).map(drop),
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a check found wrong.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The check that failed.
    pub target: Target,
    /// What went wrong, in words.
    pub message: String,
    /// The module the check ran on, once it got that far.
    pub wasm: Option<Vec<u8>>,
    /// Set when the failure is a Kiln bug already known (see [`KnownIssue`]).
    pub known: Option<KnownIssue>,
}

impl Failure {
    pub(crate) fn new(target: Target, message: impl Into<String>, wasm: Option<&[u8]>) -> Self {
        Failure {
            target,
            message: message.into(),
            wasm: wasm.map(<[u8]>::to_vec),
            known: None,
        }
    }
}

/// Kiln bugs the checks have found that are not fixed yet. A failure that is one of these
/// says so in [`Failure::known`]: [`fuzz`] (what the fuzz targets call) lets it pass, so
/// that fuzzing goes on to find new bugs instead of stopping at the same one, unless
/// `KILN_FUZZ_STRICT=1` is set; the smoke test counts such failures instead of failing.
/// The replay test keeps a minimized example of each under `fuzz/regressions/`, expected
/// to fail. Remove the variant (and where it is raised) once Kiln is fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KnownIssue {}

/// What a fuzz target does with an input: runs the target's check and panics on a
/// failure (libFuzzer then saves the input), except for [known issues](KnownIssue)
/// unless `KILN_FUZZ_STRICT` is set.
pub fn fuzz(target: Target, data: &[u8]) {
    if let Err(failure) = target.check(data) {
        if failure.known.is_none() || std::env::var_os("KILN_FUZZ_STRICT").is_some() {
            panic!("{failure}");
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.target, self.message)?;
        if let Some(issue) = self.known {
            write!(f, " [known issue: {issue:?}]")?;
        }
        if let Some(wasm) = &self.wasm {
            write!(f, " (module: {} bytes)", wasm.len())?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

/// Runs `check`, turning a panic into a failure of `target`.
fn catching(
    target: Target,
    wasm: Option<&[u8]>,
    check: impl FnOnce() -> Result<(), Failure>,
) -> Result<(), Failure> {
    match catch_unwind(AssertUnwindSafe(check)) {
        Ok(result) => result,
        Err(payload) => Err(Failure::new(
            target,
            format!("panicked: {}", panic_message(&*payload)),
            wasm,
        )),
    }
}

/// The message of a caught panic.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_string()
    }
}

/// A deterministic fuzz input for `seed`: 2–4 KiB from splitmix64. The smoke test runs the
/// targets on these; a failing seed can be replayed with `seed_input(seed)`.
pub fn seed_input(seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x6b69_6c6e_6675_7a7a;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let len = 2048 + (next() % 2049) as usize;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        bytes.extend_from_slice(&next().to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// Splits `data` into what generates the module and, at the end, up to `max` bytes from
/// which call arguments are drawn (a quarter of the input at most), so that arguments stay
/// varied even when the generator consumes everything it is given.
pub(crate) fn split_args(data: &[u8], max: usize) -> (&[u8], &[u8]) {
    let n = (data.len() / 4).min(max);
    data.split_at(data.len() - n)
}

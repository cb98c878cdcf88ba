//! `kiln-spec-tests`: runs the official WebAssembly spec test scripts (`.wast`) against Kiln.
//!
//! The entry point is [`run_file`], which runs one `.wast` file in a fresh store (on its own
//! big-stack thread) and returns a [`FileReport`]. The `kiln-spec-tests` binary and the
//! `spec` integration test are thin wrappers around it.

#![forbid(unsafe_code)]

mod batch;
mod count;
mod error;
pub mod expected_failures;
mod report;
mod runner;
mod session;
mod spectest;
mod suite;
mod traps;
mod values;

use std::path::Path;

pub use batch::run_files;
pub use error::SpecError;
pub use report::FileReport;
pub use suite::{default_suite_dir, wast_files, SUITE_ENV_VAR};

/// Whether SIMD spec files (`simd_*.wast`) are run by default (Kiln supports fixed-width
/// SIMD; `--no-simd` skips them, counting their checks as skipped).
pub const SIMD_ENABLED_BY_DEFAULT: bool = true;

/// Stack size of the thread that runs one `.wast` file.
pub const FILE_THREAD_STACK_SIZE: usize = 16 << 20;

/// Options for [`run_file`].
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Run `simd_*.wast` files. When `false`, every check in them is counted as skipped.
    pub simd: bool,
    /// Stack size of the thread a file runs on.
    pub stack_size: usize,
    /// CPU features generated code may use: the host's, or the architecture's baseline
    /// (SSE2 on x86-64) to prove the lowering does not depend on newer extensions.
    pub cpu_features: kiln::CpuFeatures,
    /// Serialize every module the file compiles for use ([`kiln::Module::serialize`]) and
    /// use the module [`kiln::Module::deserialize`] loads from those bytes instead, so
    /// every check runs against deserialized code. Modules that must fail to compile
    /// (`assert_invalid`, `assert_malformed`) are checked exactly as without it.
    pub round_trip: bool,
    /// When functions are compiled. Lazy and tiered modules cannot be serialized, so
    /// `round_trip` needs `Eager`.
    pub strategy: kiln::Strategy,
    /// With `Strategy::Tiered`: when functions are optimized.
    pub tier_up: kiln::TierUpPolicy,
    /// With `Strategy::Tiered`: profile-guided optimized code, under this policy.
    pub guided: Option<kiln::GuidedPolicy>,
    /// Turn on the Wasm 3.0 proposals Kiln implements, outside the `wasm-2.0`
    /// directory (whose files always run with Wasm 2.0 only).
    pub wasm3: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            simd: SIMD_ENABLED_BY_DEFAULT,
            stack_size: FILE_THREAD_STACK_SIZE,
            cpu_features: kiln::CpuFeatures::Native,
            round_trip: false,
            strategy: kiln::Strategy::Eager(kiln::OptLevel::Speed),
            tier_up: kiln::TierUpPolicy::default(),
            guided: None,
            wasm3: true,
        }
    }
}

/// Runs one `.wast` file against Kiln and reports its checks.
///
/// The file runs on a fresh thread with a [`RunOptions::stack_size`] stack, with its own
/// engine, store and linker; a panic inside Kiln is reported as a failed check.
pub fn run_file(path: &Path, opts: &RunOptions) -> FileReport {
    let file_name = suite::file_name(path);
    let owned_path = path.to_path_buf();
    let thread_opts = opts.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("wast:{file_name}"))
        .stack_size(opts.stack_size)
        .spawn(move || runner::run_file_on_this_thread(&owned_path, &thread_opts));
    let outcome = match spawned {
        Ok(handle) => match handle.join() {
            Ok(outcome) => outcome,
            Err(payload) => runner::FileOutcome::whole_file_failure(format!(
                "runner thread panicked: {}",
                error::panic_message(payload.as_ref())
            )),
        },
        Err(e) => {
            runner::FileOutcome::whole_file_failure(format!("cannot spawn runner thread: {e}"))
        }
    };
    let expected = if suite::is_wasm2(path) {
        expected_failures::EXPECTED_FAILURES
    } else {
        expected_failures::WASM3_EXPECTED_FAILURES
    };
    report::build(&file_name, outcome, expected)
}

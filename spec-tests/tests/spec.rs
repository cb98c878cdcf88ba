//! `cargo test -p kiln-spec-tests`: one trial per `wasm-2.0/*.wast` spec file.
//!
//! Every file runs with the host's CPU features; the `simd_*` files run a second time as
//! `baseline/simd_*` with the architecture's baseline features only (SSE2 on x86-64). A
//! trial fails if its file has a failure that is not in `EXPECTED_FAILURES`, or a listed
//! failure that now passes. Each file runs on its own big-stack thread inside `run_file`,
//! with its own store.

#![forbid(unsafe_code)]

use std::path::Path;

use kiln_spec_tests::{default_suite_dir, run_file, wast_files, RunOptions};
use libtest_mimic::{Arguments, Failed, Trial};

fn main() {
    let args = Arguments::from_args();
    let suite = default_suite_dir().join("wasm-2.0");
    let opts = RunOptions::default();

    let baseline = RunOptions {
        cpu_features: kiln::CpuFeatures::Baseline,
        ..opts.clone()
    };
    let trials = match wast_files(&suite) {
        Ok(files) if !files.is_empty() => {
            let mut trials = Vec::new();
            for path in files {
                let name = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| path.display().to_string());
                if name.starts_with("simd_") {
                    let (path, opts) = (path.clone(), baseline.clone());
                    trials.push(Trial::test(format!("baseline/{name}"), move || {
                        run_trial(&path, &opts)
                    }));
                }
                let opts = opts.clone();
                trials.push(Trial::test(name, move || run_trial(&path, &opts)));
            }
            trials
        }
        Ok(_) => vec![missing_suite(&suite, "no .wast files found".to_string())],
        Err(e) => vec![missing_suite(&suite, e.to_string())],
    };
    libtest_mimic::run(&args, trials).exit();
}

fn run_trial(path: &Path, opts: &RunOptions) -> Result<(), Failed> {
    let report = run_file(path, opts);
    if report.is_ok() {
        return Ok(());
    }
    let mut message = report.to_string();
    for failure in &report.failures {
        message.push_str("\n  ");
        message.push_str(failure);
    }
    for unexpected in &report.unexpected_passes {
        message.push_str("\n  error: ");
        message.push_str(unexpected);
    }
    Err(message.into())
}

fn missing_suite(suite: &Path, why: String) -> Trial {
    let message = format!(
        "spec test suite not found at {} ({why}); set KILN_SPEC_TESTSUITE, or \
         KILN_NO_SHARED=1 to run without it",
        suite.display()
    );
    // Without `../shared` on purpose (KILN_NO_SHARED=1): one ignored trial says so.
    let ignored = std::env::var_os("KILN_NO_SHARED").is_some();
    Trial::test("spec_testsuite_present", move || Err(message.into())).with_ignored_flag(ignored)
}

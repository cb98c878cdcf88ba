//! `cargo test -p kiln-spec-tests --test spec3`: one trial per `wasm-3.0/*.wast` spec
//! file, with what Kiln implements of Wasm 3.0 turned on.
//!
//! A file whose checks need a proposal Kiln does not implement yet is listed, with the
//! proposal, in `WASM3_EXPECTED_FAILURES` (`spec-tests/src/expected_failures.rs`): its
//! failures are expected, and the trial fails as soon as the file passes (so the list
//! shrinks as proposals land). The SIMD files (`simd_*` and the relaxed SIMD ones) run
//! a second time as `baseline/...` with the architecture's baseline features (SSE2 on
//! x86-64).

#![forbid(unsafe_code)]

mod common;

use std::path::Path;

use kiln_spec_tests::{default_suite_dir, run_file, wast_files, RunOptions};
use libtest_mimic::{Arguments, Failed, Trial};

fn main() {
    let args = Arguments::from_args();
    let suite = default_suite_dir().join("wasm-3.0");
    let opts = RunOptions::default();
    let baseline = RunOptions {
        cpu_features: kiln::CpuFeatures::Baseline,
        ..opts.clone()
    };
    let trials = match wast_files(&suite) {
        Ok(files) if !files.is_empty() => {
            let mut trials = Vec::new();
            for path in files {
                let name = common::trial_name(&path);
                if name.starts_with("simd_") || name.contains("relaxed") {
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
        Ok(_) => vec![common::missing_suite(
            &suite,
            "no .wast files found".to_string(),
        )],
        Err(e) => vec![common::missing_suite(&suite, e.to_string())],
    };
    libtest_mimic::run(&args, trials).exit();
}

fn run_trial(path: &Path, opts: &RunOptions) -> Result<(), Failed> {
    common::check(&run_file(path, opts))
}

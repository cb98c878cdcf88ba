//! `cargo test -p kiln-spec-tests`: one trial per `wasm-2.0/*.wast` spec file.
//!
//! Every file runs with the host's CPU features; the `simd_*` files run a second time as
//! `baseline/simd_*` with the architecture's baseline features only (SSE2 on x86-64). A
//! trial fails if its file has a failure that is not in `EXPECTED_FAILURES`, or a listed
//! failure that now passes. Each file runs on its own big-stack thread inside `run_file`,
//! with its own store. (`spec_round_trip.rs` runs the suite again on deserialized modules.)

#![forbid(unsafe_code)]

mod common;

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
                let name = common::trial_name(&path);
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

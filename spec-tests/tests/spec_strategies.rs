//! `cargo test -p kiln-spec-tests --test spec_strategies`: the whole `wasm-2.0` suite
//! under `Strategy::Lazy` and under `Strategy::Tiered` with a tier-up threshold of 1, one
//! trial per file and strategy (`lazy/<file>`, `tiered/<file>`).
//!
//! With a threshold of 1 every function called is queued for optimization at its first
//! call, so checks run on baseline code, on optimized code, and across the switch. A
//! trial fails as in `spec.rs`.

#![forbid(unsafe_code)]

mod common;

use kiln_spec_tests::{default_suite_dir, run_file, wast_files, RunOptions};
use libtest_mimic::{Arguments, Trial};

fn main() {
    let args = Arguments::from_args();
    let suite = default_suite_dir().join("wasm-2.0");
    let strategies = [
        ("lazy", kiln::Strategy::Lazy),
        ("tiered", kiln::Strategy::Tiered),
    ];
    let trials = match wast_files(&suite) {
        Ok(files) if !files.is_empty() => files
            .into_iter()
            .flat_map(|path| {
                strategies.map(|(label, strategy)| {
                    let opts = RunOptions {
                        strategy,
                        tier_up: kiln::TierUpPolicy::with_threshold(1),
                        ..RunOptions::default()
                    };
                    let path = path.clone();
                    let name = format!("{label}/{}", common::trial_name(&path));
                    Trial::test(name, move || common::check(&run_file(&path, &opts)))
                })
            })
            .collect(),
        Ok(_) => vec![common::missing_suite(
            &suite,
            "no .wast files found".to_string(),
        )],
        Err(e) => vec![common::missing_suite(&suite, e.to_string())],
    };
    libtest_mimic::run(&args, trials).exit();
}

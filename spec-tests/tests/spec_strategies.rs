//! `cargo test -p kiln-spec-tests --test spec_strategies`: the whole `wasm-2.0` suite
//! under `Strategy::Lazy`, under `Strategy::Tiered` with a tier-up threshold of 1, and
//! under profile-guided tiered code with a threshold of 2 that speculates on every
//! `call_indirect` target it saw, however rarely, and lays out the rarer side of every
//! branch it counted as cold: one trial per file and strategy
//! (`lazy/<file>`, `tiered/<file>`, `guided/<file>`).
//!
//! With a threshold of 1 every function called is queued for optimization at its first
//! call, so checks run on baseline code, on optimized code, and across the switch. With
//! 2, a function's first call records its indirect calls' targets and its branches, and
//! its optimized code speculates on them (and inlines, and moves cold sides out of
//! line), so later checks with other targets, other
//! table contents and wrong signatures run the guards' fallback paths. A trial fails
//! as in `spec.rs`.

#![forbid(unsafe_code)]

mod common;

use kiln_spec_tests::{default_suite_dir, run_file, wast_files, RunOptions};
use libtest_mimic::{Arguments, Trial};

fn main() {
    let args = Arguments::from_args();
    let suite = default_suite_dir().join("wasm-2.0");
    let speculate_on_anything = kiln::GuidedPolicy {
        min_site_calls: 0,
        min_share_percent: 0,
        branch_layout: Some(kiln::BranchLayout {
            min_count: 0,
            max_cold_per_mille: 1000,
        }),
        ..kiln::GuidedPolicy::default()
    };
    let strategies = [
        ("lazy", kiln::Strategy::Lazy, 1, None),
        ("tiered", kiln::Strategy::Tiered, 1, None),
        (
            "guided",
            kiln::Strategy::Tiered,
            2,
            Some(speculate_on_anything),
        ),
    ];
    let trials = match wast_files(&suite) {
        Ok(files) if !files.is_empty() => files
            .into_iter()
            .flat_map(|path| {
                strategies.map(|(label, strategy, threshold, guided)| {
                    let opts = RunOptions {
                        strategy,
                        tier_up: kiln::TierUpPolicy::with_threshold(threshold),
                        guided,
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

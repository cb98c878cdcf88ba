//! `cargo test -p kiln-spec-tests --test spec_round_trip`: the whole `wasm-2.0` suite on
//! deserialized code, one trial per file (`round_trip/<file>`).
//!
//! Runs with `RunOptions::round_trip`: every module a file compiles to use (instantiate,
//! register, define) is serialized with `Module::serialize` and replaced by what
//! `Module::deserialize` loads from those bytes, so every assertion runs against code
//! loaded from an artifact. Modules that must not compile are checked as in `spec.rs`.
//! A trial fails as in `spec.rs` (a failure not in `EXPECTED_FAILURES`, or a listed
//! failure that passes). Last, it prints the files and checks that passed and how many
//! modules were deserialized; a full run in which no module was deserialized fails.

#![forbid(unsafe_code)]

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};

use kiln_spec_tests::{default_suite_dir, run_file, wast_files, FileReport, RunOptions};
use libtest_mimic::{Arguments, Failed, Trial};

/// Sums of the reports of the files that ran.
#[derive(Default)]
struct Totals {
    files: usize,
    files_ok: usize,
    passed: usize,
    failed: usize,
    expected_failures: usize,
    skipped: usize,
    round_trips: usize,
}

impl Totals {
    fn add(&mut self, report: &FileReport) {
        self.files += 1;
        self.files_ok += usize::from(report.is_ok());
        self.passed += report.passed;
        self.failed += report.failed;
        self.expected_failures += report.expected_failures;
        self.skipped += report.skipped;
        self.round_trips += report.round_trips;
    }
}

fn main() {
    let args = Arguments::from_args();
    let suite = default_suite_dir().join("wasm-2.0");
    let opts = RunOptions {
        round_trip: true,
        ..RunOptions::default()
    };
    let totals = Arc::new(Mutex::new(Totals::default()));

    let trials = match wast_files(&suite) {
        Ok(files) if !files.is_empty() => files
            .into_iter()
            .map(|path| {
                let name = format!("round_trip/{}", common::trial_name(&path));
                let (opts, totals) = (opts.clone(), Arc::clone(&totals));
                Trial::test(name, move || run_trial(&path, &opts, &totals))
            })
            .collect(),
        Ok(_) => vec![common::missing_suite(
            &suite,
            "no .wast files found".to_string(),
        )],
        Err(e) => vec![common::missing_suite(&suite, e.to_string())],
    };
    let unfiltered = args.filter.is_none() && args.skip.is_empty() && !args.list;
    let conclusion = libtest_mimic::run(&args, trials);

    let totals = totals.lock().unwrap_or_else(|e| e.into_inner());
    if totals.files > 0 {
        println!(
            "round trip: {} of {} files passed; {} checks passed, {} failed ({} expected), \
             {} skipped; {} modules serialized and deserialized",
            totals.files_ok,
            totals.files,
            totals.passed,
            totals.failed,
            totals.expected_failures,
            totals.skipped,
            totals.round_trips
        );
    }
    // Guards against the mode being ignored: the suite instantiates many modules.
    if unfiltered && totals.passed > 0 && totals.round_trips == 0 {
        eprintln!("error: the whole suite ran, but no module was serialized and deserialized");
        std::process::exit(101);
    }
    conclusion.exit();
}

fn run_trial(path: &Path, opts: &RunOptions, totals: &Mutex<Totals>) -> Result<(), Failed> {
    let report = run_file(path, opts);
    totals
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .add(&report);
    common::check(&report)
}

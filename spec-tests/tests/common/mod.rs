//! What the spec test targets share: turning a file's report into a trial result, and the
//! trial that stands for a missing suite.

use std::path::Path;

use kiln_spec_tests::{default_suite_dir, run_file, wast_files, FileReport, RunOptions};
use libtest_mimic::{Failed, Trial};

/// The trial name of a `.wast` file: its stem (`align` for `align.wast`).
pub fn trial_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Fails with every unexpected failure and unexpected pass of `report`.
pub fn check(report: &FileReport) -> Result<(), Failed> {
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

/// The one trial run when the suite is missing: it fails, unless `KILN_NO_SHARED` says
/// the suite is absent on purpose, when it is ignored.
pub fn missing_suite(suite: &Path, why: String) -> Trial {
    let message = format!(
        "spec test suite not found at {} ({why}); set KILN_SPEC_TESTSUITE, or \
         KILN_NO_SHARED=1 to run without it",
        suite.display()
    );
    // Without `../shared` on purpose (KILN_NO_SHARED=1): one ignored trial says so.
    let ignored = std::env::var_os("KILN_NO_SHARED").is_some();
    Trial::test("spec_testsuite_present", move || Err(message.into())).with_ignored_flag(ignored)
}

/// One trial per `.wast` file of the suite directory `dir` with the host's CPU
/// features, and a second one (`baseline/<file>`) with the baseline features for each
/// file `also_baseline` names (the SIMD ones); or the missing-suite trial.
#[allow(dead_code, reason = "not every test target builds its trials this way")]
pub fn suite_trials(dir: &str, also_baseline: fn(&str) -> bool) -> Vec<Trial> {
    let suite = default_suite_dir().join(dir);
    let opts = RunOptions::default();
    let baseline = RunOptions {
        cpu_features: kiln::CpuFeatures::Baseline,
        ..opts.clone()
    };
    match wast_files(&suite) {
        Ok(files) if !files.is_empty() => {
            let mut trials = Vec::new();
            for path in files {
                let name = trial_name(&path);
                if also_baseline(&name) {
                    let (path, opts) = (path.clone(), baseline.clone());
                    trials.push(Trial::test(format!("baseline/{name}"), move || {
                        check(&run_file(&path, &opts))
                    }));
                }
                let opts = opts.clone();
                trials.push(Trial::test(name, move || check(&run_file(&path, &opts))));
            }
            trials
        }
        Ok(_) => vec![missing_suite(&suite, "no .wast files found".to_string())],
        Err(e) => vec![missing_suite(&suite, e.to_string())],
    }
}

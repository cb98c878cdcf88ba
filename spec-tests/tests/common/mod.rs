//! What the spec test targets share: turning a file's report into a trial result, and the
//! trial that stands for a missing suite.

use std::path::Path;

use kiln_spec_tests::FileReport;
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

//! `kiln wast PATH...`: the spec test runner (`kiln-spec-tests`) as a subcommand. Prints
//! a line per script and, last, `spec: N passed, N failed, N skipped`; fails if a check
//! failed that the expected-failures list does not name.

use crate::args::WastArgs;
use crate::Failure;
use kiln_spec_tests::{run_files, wast_files, RunOptions};

pub fn run(a: &WastArgs) -> Result<(), Failure> {
    let mut opts = RunOptions::default();
    if a.no_simd {
        opts.simd = false;
    }
    if a.baseline {
        opts.cpu_features = kiln::CpuFeatures::Baseline;
    }
    opts.round_trip = a.round_trip;
    let jobs = a
        .jobs
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut files = Vec::new();
    for path in &a.paths {
        let found = wast_files(path)
            .map_err(|e| Failure::Usage(format!("cannot read `{}`: {e}", path.display())))?;
        if found.is_empty() {
            return Err(Failure::Usage(format!(
                "`{}` holds no .wast script",
                path.display()
            )));
        }
        files.extend(found);
    }
    let (mut passed, mut failed, mut skipped, mut ok) = (0usize, 0usize, 0usize, true);
    run_files(&files, &opts, jobs, |report| {
        println!("{report}");
        if a.verbose {
            for failure in &report.failures {
                println!("    {failure}");
            }
        }
        for unexpected in &report.unexpected_passes {
            println!("    error: {unexpected}");
        }
        passed += report.passed;
        failed += report.failed;
        skipped += report.skipped;
        ok &= report.is_ok();
    });
    println!("spec: {passed} passed, {failed} failed, {skipped} skipped");
    if ok {
        Ok(())
    } else {
        Err(Failure::Failed)
    }
}

//! `kiln-spec-tests [--verbose] [--no-simd] [--no-wasm3] [--baseline] [--round-trip] [--strategy eager|lazy|tiered] [--tier-up-threshold N] [--profile-guided] [--jobs N] [PATH...]`
//!
//! Runs `.wast` spec test files (or every `*.wast` in the given folders) against Kiln. With
//! no PATH, runs `<suite>/wasm-2.0`, where `<suite>` is `$KILN_SPEC_TESTSUITE` or
//! `../shared/spec-testsuite` next to the repository. Prints one line per file and, last,
//! `spec: N passed, N failed, N skipped` and how many files had no failed check.
//! `--no-wasm3` runs every file with Wasm 2.0 only (the `wasm-2.0` directory always
//! does). Exits non-zero if a check failed that is not in
//! the expected-failures list, or a listed check passed. With `--round-trip`, every module
//! a file uses is serialized and deserialized first, so the checks run against artifacts.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use kiln_spec_tests::{default_suite_dir, run_files, wast_files, RunOptions};

const USAGE: &str = "usage: kiln-spec-tests [--verbose|-v] [--no-simd] [--no-wasm3] [--baseline] \
                     [--round-trip] [--strategy eager|lazy|tiered] [--tier-up-threshold N] [--profile-guided] [--jobs N] [PATH...]";

struct Cli {
    verbose: bool,
    jobs: usize,
    opts: RunOptions,
    paths: Vec<PathBuf>,
}

fn parse_args() -> Result<Cli, String> {
    let mut cli = Cli {
        verbose: false,
        jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        opts: RunOptions::default(),
        paths: Vec::new(),
    };
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--verbose" | "-v") => cli.verbose = true,
            Some("--no-simd") => cli.opts.simd = false,
            Some("--no-wasm3") => cli.opts.wasm3 = false,
            Some("--baseline") => cli.opts.cpu_features = kiln::CpuFeatures::Baseline,
            Some("--round-trip") => cli.opts.round_trip = true,
            Some("--strategy") => {
                cli.opts.strategy = args
                    .next()
                    .as_ref()
                    .and_then(|v| v.to_str())
                    .and_then(|v| v.parse().ok())
                    .ok_or("--strategy needs eager, lazy or tiered")?
            }
            Some("--profile-guided") => cli.opts.guided = Some(kiln::GuidedPolicy::default()),
            Some("--tier-up-threshold") => {
                let n = args
                    .next()
                    .and_then(|v| v.to_str().and_then(|v| v.parse().ok()))
                    .ok_or("--tier-up-threshold needs a number")?;
                cli.opts.tier_up = kiln::TierUpPolicy::with_threshold(n);
            }
            Some("--jobs" | "-j") => {
                let value = args.next().ok_or("--jobs needs a value")?;
                cli.jobs = value
                    .to_str()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n: &usize| n > 0)
                    .ok_or("--jobs needs a positive number")?;
            }
            Some("--help" | "-h") => return Err(String::new()),
            Some(flag) if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            _ => cli.paths.push(PathBuf::from(arg)),
        }
    }
    if cli.paths.is_empty() {
        cli.paths.push(default_suite_dir().join("wasm-2.0"));
    }
    Ok(cli)
}

fn main() -> ExitCode {
    let cli = match parse_args() {
        Ok(cli) => cli,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("error: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };

    let (mut passed, mut failed, mut skipped, mut round_trips) = (0usize, 0usize, 0usize, 0usize);
    let (mut clean, mut reports) = (0usize, 0usize);
    let mut ok = true;
    let mut files = Vec::new();
    for path in &cli.paths {
        match wast_files(path) {
            Ok(found) => files.extend(found),
            Err(e) => {
                println!("{}: cannot read: {e}", path.display());
                failed += 1;
                ok = false;
            }
        }
    }

    run_files(&files, &cli.opts, cli.jobs, |report| {
        println!("{report}");
        if cli.verbose {
            for failure in &report.failures {
                println!("    {failure}");
            }
        }
        for unexpected in &report.unexpected_passes {
            println!("    error: {unexpected}");
        }
        passed += report.passed;
        failed += report.failed;
        reports += 1;
        clean += usize::from(report.failed == 0);
        skipped += report.skipped;
        round_trips += report.round_trips;
        ok &= report.is_ok();
    });

    println!("spec: {passed} passed, {failed} failed, {skipped} skipped");
    println!("files: {clean} of {reports} without a failed check");
    if cli.opts.round_trip {
        println!("round trip: {round_trips} modules serialized and deserialized");
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

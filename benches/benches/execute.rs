//! The measured region (`bench.start` to `bench.end`) of every sightglass program, on
//! Kiln (`OptLevel::Speed`) and on Wasmtime 48 (defaults), as
//! `execute/<workload>/{kiln,wasmtime}`.
//!
//! ```text
//! cargo bench -p kiln-benches --bench execute                  # all (long)
//! cargo bench -p kiln-benches --bench execute -- shootout-fib2 # one program
//! ```
//!
//! Before a program is timed it runs once on each engine and its output is checked
//! against the expected files (as the `compare` binary does); a program whose output
//! is wrong on either engine is reported and not timed. Each iteration instantiates the
//! program afresh (untimed) and runs `_start`; a sample is the sum of the regions.
//! Every timed run's output is checked as well: a wrong one stops the bench.

#![forbid(unsafe_code)]

mod common;

use common::Selection;
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, SamplingMode};
use kiln::OptLevel;
use kiln_benches::check::Expected;
use kiln_benches::kiln_runner::KilnHost;
use kiln_benches::wasmtime_runner::WasmtimeHost;
use kiln_benches::{run_checked, Runner, Workload};
use std::time::Duration;

/// Registers the benchmark of `w` on `r` in `g`.
fn bench_engine<R: Runner>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    id: &str,
    r: &R,
    module: &R::Module,
    w: &Workload,
    expected: &Expected,
) {
    g.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let region = r.instantiate(module, w).and_then(R::run).and_then(|out| {
                    expected.check(&out)?;
                    out.region
                        .ok_or_else(|| "bench.start and bench.end were not both called".into())
                });
                match region {
                    Ok(d) => total += d,
                    // Criterion has no way to drop a sample: a program that checked out
                    // and then goes wrong stops the run rather than report a number.
                    Err(e) => panic!("{} on {}: timed run went wrong: {e}", w.name, R::NAME),
                }
            }
            total
        })
    });
}

fn execute(c: &mut Criterion) {
    let hosts = KilnHost::new(OptLevel::Speed).and_then(|k| Ok((k, WasmtimeHost::new()?)));
    let (kiln, wt) = match hosts {
        Ok(h) => h,
        Err(e) => {
            eprintln!("cannot set up the engines: {e}");
            return;
        }
    };
    let selection = Selection::from_args();
    for w in common::workloads() {
        let group = format!("execute/{}", w.name);
        if !selection.any(&[format!("{group}/kiln"), format!("{group}/wasmtime")]) {
            continue;
        }
        if selection.listing {
            // Criterion only names the benchmarks: no need to check the program.
            let mut g = c.benchmark_group(group);
            for id in ["kiln", "wasmtime"] {
                g.bench_function(id, |b| b.iter(|| ()));
            }
            g.finish();
            continue;
        }
        let prepared = std::fs::read(&w.wasm)
            .map_err(|e| format!("cannot read {}: {e}", w.wasm.display()))
            .and_then(|bytes| {
                let expected = Expected::load(&w.wasm)
                    .map_err(|e| format!("cannot read the expected output: {e}"))?;
                let k = run_checked(&kiln, &bytes, &w, &expected)
                    .map_err(|e| format!("WRONG on Kiln: {e}"))?;
                let t = run_checked(&wt, &bytes, &w, &expected)
                    .map_err(|e| format!("WRONG on Wasmtime: {e}"))?;
                Ok((expected, k, t))
            });
        let (expected, k, t) = match prepared {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{group}: {e}; not timed");
                continue;
            }
        };
        let mut g = c.benchmark_group(group);
        g.sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(common::WARM_UP)
            .measurement_time(Duration::from_secs(5));
        bench_engine(&mut g, "kiln", &kiln, &k, &w, &expected);
        bench_engine(&mut g, "wasmtime", &wt, &t, &w, &expected);
        g.finish();
    }
}

criterion_group!(benches, execute);
criterion_main!(benches);

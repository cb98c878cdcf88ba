//! Compile time of every sightglass module: Kiln at each `OptLevel` (`kiln-none`,
//! `kiln-speed`, `kiln-speed-and-size`) and Wasmtime 48 at its defaults (`wasmtime`),
//! as `compile/<workload>/<engine>`; and the largest module again with more samples as
//! `compile-largest/<workload>/<engine>`.
//!
//! ```text
//! cargo bench -p kiln-benches --bench compile                  # all (long)
//! cargo bench -p kiln-benches --bench compile -- shootout-fib2 # one module
//! cargo bench -p kiln-benches --bench compile -- '^compile-largest/'
//! ```
//!
//! A sample times only the compilation (Kiln `Module::from_binary`, Wasmtime
//! `Module::new`), not the dropping of the module. Modules are checked to compile on
//! each engine before they are timed.

#![forbid(unsafe_code)]

mod common;

use common::Selection;
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, SamplingMode};
use kiln::{Config, Engine, OptLevel};
use std::hint::black_box;
use std::time::{Duration, Instant};

const ENGINES: [&str; 4] = ["kiln-none", "kiln-speed", "kiln-speed-and-size", "wasmtime"];

struct Engines {
    kiln: Vec<(&'static str, Engine)>,
    wasmtime: wasmtime::Engine,
}

fn engines() -> Result<Engines, String> {
    let mut kiln = Vec::new();
    for (name, opt) in [
        ("kiln-none", OptLevel::None),
        ("kiln-speed", OptLevel::Speed),
        ("kiln-speed-and-size", OptLevel::SpeedAndSize),
    ] {
        let mut c = Config::new();
        c.opt_level(opt);
        kiln.push((name, Engine::new(&c).map_err(|e| e.to_string())?));
    }
    let wasmtime = wasmtime::Engine::new(&wasmtime::Config::new())
        .map_err(|e| kiln_benches::wasmtime_runner::chain(&e))?;
    Ok(Engines { kiln, wasmtime })
}

/// Sums the time of `iters` calls of `compile`, leaving out each result's drop.
fn time<T, E>(iters: u64, mut compile: impl FnMut() -> Result<T, E>) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let t = Instant::now();
        let m = compile();
        total += t.elapsed();
        // Dropped after the clock stops (modules are checked to compile beforehand).
        black_box(&m);
    }
    total
}

/// Registers the four engines' benchmarks of one module in `g`.
fn bench_module(g: &mut BenchmarkGroup<'_, WallTime>, e: &Engines, bytes: &[u8]) {
    for (name, engine) in &e.kiln {
        g.bench_function(*name, |b| {
            b.iter_custom(|iters| time(iters, || kiln::Module::from_binary(engine, bytes)))
        });
    }
    g.bench_function("wasmtime", |b| {
        b.iter_custom(|iters| time(iters, || wasmtime::Module::new(&e.wasmtime, bytes)))
    });
}

/// `Ok` if every engine compiles `bytes`.
fn check(e: &Engines, bytes: &[u8]) -> Result<(), String> {
    for (name, engine) in &e.kiln {
        kiln::Module::from_binary(engine, bytes).map_err(|err| format!("{name}: {err}"))?;
    }
    wasmtime::Module::new(&e.wasmtime, bytes)
        .map_err(|err| format!("wasmtime: {}", kiln_benches::wasmtime_runner::chain(&err)))?;
    Ok(())
}

fn compile(c: &mut Criterion) {
    let e = match engines() {
        Ok(e) => e,
        Err(err) => {
            eprintln!("cannot set up the engines: {err}");
            return;
        }
    };
    let selection = Selection::from_args();
    let workloads = common::workloads();
    let largest = workloads
        .iter()
        .filter_map(|w| Some((std::fs::metadata(&w.wasm).ok()?.len(), w)))
        .max_by_key(|(len, _)| *len)
        .map(|(_, w)| w.name.clone());
    let mut groups: Vec<(String, &kiln_benches::Workload, usize, Duration)> = workloads
        .iter()
        .map(|w| (format!("compile/{}", w.name), w, 10, Duration::from_secs(3)))
        .collect();
    if let Some(w) = workloads.iter().find(|w| Some(&w.name) == largest.as_ref()) {
        groups.push((
            format!("compile-largest/{}", w.name),
            w,
            20,
            Duration::from_secs(20),
        ));
    }
    for (group, w, samples, time) in groups {
        let ids: Vec<String> = ENGINES.iter().map(|e| format!("{group}/{e}")).collect();
        if !selection.any(&ids) {
            continue;
        }
        let bytes = match std::fs::read(&w.wasm) {
            Ok(b) => b,
            Err(err) => {
                eprintln!("{group}: cannot read {}: {err}; skipped", w.wasm.display());
                continue;
            }
        };
        if !selection.listing {
            if let Err(err) = check(&e, &bytes) {
                eprintln!("{group}: does not compile ({err}); not timed");
                continue;
            }
        }
        let mut g = c.benchmark_group(group);
        g.sample_size(samples)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(common::WARM_UP)
            .measurement_time(time);
        bench_module(&mut g, &e, &bytes);
        g.finish();
    }
}

criterion_group!(benches, compile);
criterion_main!(benches);

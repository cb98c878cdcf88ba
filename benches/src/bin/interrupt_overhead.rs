//! Execution-time overhead of fuel metering and of epoch deadlines, against code with
//! no instrumentation, on the sightglass shootout programs.
//!
//! ```text
//! cargo run --release -p kiln-benches --bin interrupt_overhead [-- --runs N] [--filter S] [--perf-map]
//! ```
//! Each program is compiled three times (plain, fuel, epochs); runs alternate between the
//! three so drift affects all alike. Prints a markdown table of medians and ratios.

use kiln::{Config, Engine, Module};
use kiln_benches::{geomean, median, run_region, workloads};
use std::time::Duration;

fn main() -> Result<(), String> {
    let mut runs = 11usize;
    let mut filter = None;
    let mut perf_map = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().and_then(|v| v.parse().ok()).ok_or("--runs N")?,
            "--filter" => filter = Some(args.next().ok_or("--filter S")?),
            "--perf-map" => perf_map = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let base = || {
        let mut c = Config::new();
        c.perf_map(perf_map);
        c
    };
    let plain = Engine::new(&base()).map_err(|e| e.to_string())?;
    let fuel = Engine::new(base().consume_fuel(true)).map_err(|e| e.to_string())?;
    let epoch = Engine::new(base().epoch_interruption(true)).map_err(|e| e.to_string())?;
    let list = workloads("shootout", filter.as_deref()).map_err(|e| e.to_string())?;
    println!("| workload | plain | fuel | epochs | fuel/plain | epochs/plain |");
    println!("|---|---:|---:|---:|---:|---:|");
    let (mut fuel_ratios, mut epoch_ratios) = (Vec::new(), Vec::new());
    for w in &list {
        let bytes = std::fs::read(&w.wasm).map_err(|e| e.to_string())?;
        let modules = [&plain, &fuel, &epoch]
            .map(|e| Module::from_binary(e, &bytes).map_err(|err| err.to_string()));
        let [Ok(mp), Ok(mf), Ok(me)] = modules else {
            return Err(format!("{}: does not compile", w.name));
        };
        let mut times: [Vec<Duration>; 3] = Default::default();
        for _ in 0..runs {
            times[0].push(run_region(&plain, &mp, w, |_| {})?);
            times[1].push(run_region(&fuel, &mf, w, |s| {
                let _ = s.set_fuel(u64::MAX);
            })?);
            times[2].push(run_region(&epoch, &me, w, |s| {
                let _ = s.set_epoch_deadline(u64::MAX);
            })?);
        }
        let [p, f, e] = times.map(|mut t| median(&mut t));
        let (rf, re) = (
            f.as_secs_f64() / p.as_secs_f64(),
            e.as_secs_f64() / p.as_secs_f64(),
        );
        // A region shorter than this is timer noise (nestedloop's is optimized away at
        // the C level): shown, but kept out of the geomean.
        let timed = p >= Duration::from_micros(50);
        if timed {
            fuel_ratios.push(rf);
            epoch_ratios.push(re);
        }
        println!(
            "| {}{} | {:.3} ms | {:.3} ms | {:.3} ms | {rf:.3} | {re:.3} |",
            w.name,
            if timed { "" } else { " (too short to time)" },
            p.as_secs_f64() * 1e3,
            f.as_secs_f64() * 1e3,
            e.as_secs_f64() * 1e3
        );
    }
    println!(
        "| **geomean** | | | | **{:.3}** | **{:.3}** |",
        geomean(&fuel_ratios),
        geomean(&epoch_ratios)
    );
    Ok(())
}

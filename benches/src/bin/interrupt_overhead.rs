//! Execution-time overhead of fuel metering and of epoch deadlines, against code with
//! no instrumentation, on the sightglass shootout programs.
//!
//! ```text
//! cargo run --release -p kiln-benches --bin interrupt_overhead [-- --runs N] [--filter S] [--perf-map]
//! ```
//! Each program is compiled three times (plain, fuel, epochs) at each of four code
//! placements (functions 0, 16, 32 and 48 bytes past a 64-byte boundary: where a hot
//! loop falls against fetch boundaries alone moves some programs by up to 2× here).
//! Runs alternate between the three so drift affects all alike. A program's time per
//! configuration is the geometric mean over placements of the median over runs.
//! Prints a markdown table of times and ratios.

#![forbid(unsafe_code)]

use kiln::{CodePlacement, Config, Engine, Module};
use kiln_benches::{geomean, median, run_region, workloads};
use std::time::Duration;

const PLACEMENTS: [u32; 4] = [0, 16, 32, 48];

fn main() -> Result<(), String> {
    let mut runs = 5usize;
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
    let engines = PLACEMENTS
        .iter()
        .map(|&padding| {
            let base = || {
                let mut c = Config::new();
                c.perf_map(perf_map)
                    .code_placement(CodePlacement::Offset(padding));
                c
            };
            let e = |c: &Config| Engine::new(c).map_err(|e| e.to_string());
            Ok([
                e(&base())?,
                e(base().consume_fuel(true))?,
                e(base().epoch_interruption(true))?,
            ])
        })
        .collect::<Result<Vec<_>, String>>()?;
    let list = workloads("shootout", filter.as_deref()).map_err(|e| e.to_string())?;
    println!("| workload | plain | fuel | epochs | fuel/plain | epochs/plain |");
    println!("|---|---:|---:|---:|---:|---:|");
    let (mut fuel_ratios, mut epoch_ratios) = (Vec::new(), Vec::new());
    for w in &list {
        let bytes = std::fs::read(&w.wasm).map_err(|e| e.to_string())?;
        // Per configuration, the median of each placement.
        let mut per_placement: [Vec<f64>; 3] = Default::default();
        for trio in &engines {
            let mut modules = Vec::new();
            for e in trio {
                modules.push(
                    Module::from_binary(e, &bytes)
                        .map_err(|err| format!("{}: does not compile: {err}", w.name))?,
                );
            }
            let mut times: [Vec<Duration>; 3] = Default::default();
            for _ in 0..runs {
                times[0].push(run_region(&trio[0], &modules[0], w, |_| {})?);
                times[1].push(run_region(&trio[1], &modules[1], w, |s| {
                    let _ = s.set_fuel(u64::MAX);
                })?);
                times[2].push(run_region(&trio[2], &modules[2], w, |s| {
                    let _ = s.set_epoch_deadline(u64::MAX);
                })?);
            }
            for (k, t) in times.iter_mut().enumerate() {
                per_placement[k].push(median(t).as_secs_f64());
            }
        }
        let [p, f, e] = per_placement.map(|t| geomean(&t));
        let (rf, re) = (f / p, e / p);
        // A region shorter than this is timer noise (nestedloop's is optimized away at
        // the C level): shown, but kept out of the geomean.
        let timed = p >= 50e-6;
        if timed {
            fuel_ratios.push(rf);
            epoch_ratios.push(re);
        }
        println!(
            "| {}{} | {:.3} ms | {:.3} ms | {:.3} ms | {rf:.3} | {re:.3} |",
            w.name,
            if timed { "" } else { " (too short to time)" },
            p * 1e3,
            f * 1e3,
            e * 1e3
        );
    }
    println!(
        "| **geomean** | | | | **{:.3}** | **{:.3}** |",
        geomean(&fuel_ratios),
        geomean(&epoch_ratios)
    );
    Ok(())
}

//! Execution-time cost of Spectre v1 guards (`Config::spectre_guards`), on the sightglass
//! programs: each compiled with and without guards, runs alternating between the two,
//! the median of each.
//!
//! ```text
//! cargo run --release -p kiln-benches --bin spectre_overhead [-- --runs N] [--filter S]
//!     [--reservation SIZE_MIB]
//! ```
//! With the default 4 GiB reservation only table accesses (`call_indirect`,
//! `table.get/set`) and accesses with static offsets past the guard carry guards;
//! `--reservation 64` gives every memory a 64 MiB reservation, so that every access is
//! explicitly checked and guarded (the worst case, as on hosts that cannot reserve
//! 4 GiB per memory). Prints a markdown table of times and ratios.

#![forbid(unsafe_code)]

use kiln::{Config, Engine, Module};
use kiln_benches::{all_workloads, geomean, median, run_region};
use std::time::Duration;

fn main() -> Result<(), String> {
    let mut runs = 5usize;
    let mut filter = None;
    let mut reservation = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().and_then(|v| v.parse().ok()).ok_or("--runs N")?,
            "--filter" => filter = Some(args.next().ok_or("--filter S")?),
            "--reservation" => {
                let mib: u64 = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--reservation MIB")?;
                reservation = Some(mib << 20);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let engine = |guards: bool| {
        let mut c = Config::new();
        c.spectre_guards(guards);
        if let Some(r) = reservation {
            c.memory_reservation(r, 2 << 20);
        }
        Engine::new(&c).map_err(|e| e.to_string())
    };
    let (on, off) = (engine(true)?, engine(false)?);
    let list = all_workloads(filter.as_deref()).map_err(|e| e.to_string())?;
    println!("| workload | guards off | guards on | on/off |");
    println!("|---|---:|---:|---:|");
    let mut ratios = Vec::new();
    for w in &list {
        let bytes = std::fs::read(&w.wasm).map_err(|e| e.to_string())?;
        let compile =
            |e: &Engine| Module::from_binary(e, &bytes).map_err(|err| format!("{}: {err}", w.name));
        let (m_on, m_off) = (compile(&on)?, compile(&off)?);
        let (mut t_on, mut t_off): (Vec<Duration>, Vec<Duration>) = (Vec::new(), Vec::new());
        let mut timed = true;
        for _ in 0..runs {
            match (
                run_region(&off, &m_off, w, |_| {}),
                run_region(&on, &m_on, w, |_| {}),
            ) {
                (Ok(a), Ok(b)) => {
                    t_off.push(a);
                    t_on.push(b);
                }
                _ => {
                    timed = false;
                    break;
                }
            }
        }
        if !timed || t_off.is_empty() {
            println!("| {} (no timed region) | | | |", w.name);
            continue;
        }
        let (a, b) = (
            median(&mut t_off).as_secs_f64(),
            median(&mut t_on).as_secs_f64(),
        );
        let r = b / a;
        let counted = a >= 50e-6;
        if counted {
            ratios.push(r);
        }
        println!(
            "| {}{} | {:.3} ms | {:.3} ms | {r:.3} |",
            w.name,
            if counted { "" } else { " (too short to time)" },
            a * 1e3,
            b * 1e3
        );
    }
    println!("| **geomean** | | | **{:.3}** |", geomean(&ratios));
    Ok(())
}

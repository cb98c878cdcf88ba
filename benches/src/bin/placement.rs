//! How much code placement moves execution time, and how well `CodePlacement::Loops`
//! (the default) does against fixed placements.
//!
//! ```text
//! cargo run --release -p kiln-benches --bin placement [-- --runs N] [--filter S] [--offsets 0,16,32,48]
//! cargo run --release -p kiln-benches --bin placement -- --wat FILE --invoke NAME [--arg N]
//! ```
//! Each program is compiled with every function packed at 16-byte boundaries, at each
//! fixed offset past a 64-byte boundary (by default 0, 16, 32, 48), and with loop-aware
//! placement; runs alternate between them. Prints the median time of each, and for
//! `loops` its ratio to the mean of the fixed placements and to `packed`. With `--wat`,
//! times one exported `(i32) -> i32` function of a text module instead of sightglass
//! programs.

#![forbid(unsafe_code)]

use kiln::{CodePlacement, Config, Engine, Instance, Module, Store};
use kiln_benches::{all_workloads, geomean, median, run_region};
use std::time::{Duration, Instant};

fn main() -> Result<(), String> {
    let mut runs = 5usize;
    let mut filter = None;
    let (mut wat, mut invoke, mut arg) = (None, None, 1i32);
    let mut offsets = vec![0u32, 16, 32, 48];
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().and_then(|v| v.parse().ok()).ok_or("--runs N")?,
            "--filter" => filter = Some(args.next().ok_or("--filter S")?),
            "--wat" => wat = Some(args.next().ok_or("--wat FILE")?),
            "--invoke" => invoke = Some(args.next().ok_or("--invoke NAME")?),
            "--offsets" => {
                offsets = args
                    .next()
                    .ok_or("--offsets A,B,...")?
                    .split(',')
                    .map(|o| o.trim().parse().map_err(|_| format!("bad offset {o}")))
                    .collect::<Result<_, _>>()?
            }
            "--arg" => arg = args.next().and_then(|v| v.parse().ok()).ok_or("--arg N")?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let mut modes = vec![("packed".to_string(), CodePlacement::Packed)];
    modes.extend(
        offsets
            .iter()
            .map(|&o| (format!("+{o}"), CodePlacement::Offset(o))),
    );
    modes.push(("loops".to_string(), CodePlacement::Loops));
    let (n, fixed) = (modes.len(), offsets.len());
    let engines = modes
        .iter()
        .map(|(_, p)| Engine::new(Config::new().code_placement(*p)).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    print!("| program |");
    for (name, _) in &modes {
        print!(" {name} |");
    }
    println!(" loops / mean fixed | loops / packed |");
    println!("|---|{}---:|---:|", "---:|".repeat(n));
    let mut ratios = (Vec::new(), Vec::new());
    let mut row = |name: &str, times: &[f64]| {
        let mean_fixed = times[1..=fixed].iter().sum::<f64>() / fixed as f64;
        let (vs_fixed, vs_packed) = (times[n - 1] / mean_fixed, times[n - 1] / times[0]);
        print!("| {name} |");
        for t in times {
            print!(" {:.3} ms |", t * 1e3);
        }
        println!(" {vs_fixed:.3} | {vs_packed:.3} |");
        ratios.0.push(vs_fixed);
        ratios.1.push(vs_packed);
    };
    if let Some(file) = wat {
        let name = invoke.ok_or("--wat needs --invoke NAME")?;
        let bytes = wat::parse_file(&file).map_err(|e| e.to_string())?;
        let mut times = vec![Vec::new(); n];
        let mut funcs = Vec::new();
        for e in &engines {
            let module = Module::from_binary(e, &bytes).map_err(|e| e.to_string())?;
            let mut store = Store::new(e, ());
            let instance = Instance::new(&mut store, &module, &[]).map_err(|e| e.to_string())?;
            let f = instance
                .get_typed_func::<i32, i32>(&store, &name)
                .map_err(|e| e.to_string())?;
            funcs.push((store, f));
        }
        for _ in 0..runs {
            for (k, (store, f)) in funcs.iter_mut().enumerate() {
                let t = Instant::now();
                f.call(&mut *store, arg).map_err(|e| e.to_string())?;
                times[k].push(t.elapsed());
            }
        }
        let medians: Vec<f64> = times.iter_mut().map(|t| median(t).as_secs_f64()).collect();
        row(&file, &medians);
        return Ok(());
    }
    for w in all_workloads(filter.as_deref()).map_err(|e| e.to_string())? {
        let bytes = std::fs::read(&w.wasm).map_err(|e| e.to_string())?;
        let modules = engines
            .iter()
            .map(|e| Module::from_binary(e, &bytes).map_err(|err| format!("{}: {err}", w.name)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut times: Vec<Vec<Duration>> = vec![Vec::new(); n];
        for _ in 0..runs {
            for (k, (e, m)) in engines.iter().zip(&modules).enumerate() {
                times[k].push(run_region(e, m, &w, |_| {})?);
            }
        }
        let medians: Vec<f64> = times.iter_mut().map(|t| median(t).as_secs_f64()).collect();
        // Regions this short time little more than the two `bench` calls.
        if medians[0] < 50e-6 {
            continue;
        }
        row(&w.name, &medians);
    }
    println!(
        "| **geomean** |{} **{:.3}** | **{:.3}** |",
        " |".repeat(n),
        geomean(&ratios.0),
        geomean(&ratios.1)
    );
    Ok(())
}

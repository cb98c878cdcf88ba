//! Profile-guided code on indirect calls (issue 17's targets), in process:
//!
//! ```text
//! target/release/guided [--runs N] [--scale K] [--filter S]... [--side S]...
//! ```
//!
//! Workloads (`benches/guided/*.wat`, written for this): `fnptr` (a function-pointer
//! table with one dominant target), `virtual` (C++-style vtables, 15 of 16 objects of
//! one class) and `interp` (a bytecode interpreter whose handlers are called
//! indirectly, dispatch replicated by predecessor), and `rare` (a loop whose two
//! conditions never hold, each guarding a large body: layout from branch counts).
//!
//! Sides: `eager` (Kiln, everything optimized up front), `tiered` (Kiln's tiers
//! without profile guidance), `guided` (tiered with `Config::profile_guided`),
//! `guided-layout` (the same with layout from branch counts, off by default),
//! `saved` (tiered with `Config::saved_profile`, the profile of one warmed-up `guided`
//! run made before the rounds, and *no* warm-up: the long call is the first call) and
//! `wasmtime` (Wasmtime 48, default settings). Each round runs every side once, in an
//! order that rotates every round, on a fresh engine: compile, instantiate, warm up
//! (20 short calls of `run`, then, for the tiered sides, until the profile says `run`
//! is optimized), then time one long call of `run` (`--scale K`: K times longer). The
//! results must agree. Medians
//! and ratios to `guided` go to stdout as a Markdown table.

#![forbid(unsafe_code)]

use kiln::{Config, Engine, Instance, Module, Store, Strategy};
use kiln_benches::{fmt_duration, geomean, median};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Clone, Copy)]
struct Workload {
    name: &'static str,
    warm: i32,
    measure: i32,
}

const WORKLOADS: &[Workload] = &[
    Workload {
        name: "fnptr",
        warm: 20_000,
        measure: 200_000_000,
    },
    Workload {
        name: "virtual",
        warm: 4,
        measure: 10_000,
    },
    Workload {
        name: "interp",
        warm: 5_000,
        measure: 50_000_000,
    },
    Workload {
        name: "rare",
        warm: 20_000,
        measure: 200_000_000,
    },
];

fn wat_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("guided/{name}.wat"))
}

/// Runs `w` once on `side`: the measured call's time and result.
fn run_kiln(
    side: &str,
    bytes: &[u8],
    w: &Workload,
    saved: Option<&kiln::Profile>,
) -> Result<(Duration, i32), String> {
    let mut config = Config::new();
    match side {
        "saved" => {
            let profile = saved.ok_or("no saved profile")?.clone();
            config.strategy(Strategy::Tiered).saved_profile(profile);
        }
        "eager" => {}
        "tiered" => {
            config.strategy(Strategy::Tiered);
        }
        "guided" => {
            config.strategy(Strategy::Tiered).profile_guided(true);
        }
        "guided-layout" => {
            config
                .strategy(Strategy::Tiered)
                .guided_policy(kiln::GuidedPolicy {
                    branch_layout: Some(kiln::BranchLayout::default()),
                    ..kiln::GuidedPolicy::default()
                });
        }
        other => return Err(format!("unknown side {other}")),
    }
    let (mut store, instance, run) = instantiate(&config, bytes)?;
    if side == "saved" {
        let started = Instant::now();
        let result = run.call(&mut store, w.measure).map_err(|e| e.to_string())?;
        return Ok((started.elapsed(), result));
    }
    for _ in 0..20 {
        run.call(&mut store, w.warm).map_err(|e| e.to_string())?;
    }
    if side != "eager" {
        let until = Instant::now() + Duration::from_secs(120);
        loop {
            let p = instance.profile(&store).ok_or("no profile")?;
            let optimized = p.functions.iter().any(|f| {
                f.name.as_deref() == Some("run") && f.tier == kiln_profiler::Tier::Optimized
            });
            if optimized {
                break;
            }
            if Instant::now() > until {
                return Err("run was not optimized within two minutes".into());
            }
            run.call(&mut store, w.warm).map_err(|e| e.to_string())?;
        }
        // Let the callees that got hot in the meantime finish too.
        std::thread::sleep(Duration::from_millis(200));
    }
    let started = Instant::now();
    let result = run.call(&mut store, w.measure).map_err(|e| e.to_string())?;
    Ok((started.elapsed(), result))
}

/// A store, an instance and its `run` export.
type Instantiated = (Store<()>, Instance, kiln::TypedFunc<i32, i32>);

/// A fresh engine with `config`, a store, an instance of `bytes` and its `run`.
fn instantiate(config: &Config, bytes: &[u8]) -> Result<Instantiated, String> {
    let engine = Engine::new(config).map_err(|e| e.to_string())?;
    let module = Module::new(&engine, bytes).map_err(|e| e.to_string())?;
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).map_err(|e| e.to_string())?;
    let run = instance
        .get_typed_func::<i32, i32>(&store, "run")
        .map_err(|e| e.to_string())?;
    Ok((store, instance, run))
}

/// The profile of a warmed-up profile-guided run of `w`, as `--profile-out` saves it.
fn profile_of(bytes: &[u8], w: &Workload) -> Result<kiln::Profile, String> {
    let mut config = Config::new();
    config.strategy(Strategy::Tiered).profile_guided(true);
    let (mut store, instance, run) = instantiate(&config, bytes)?;
    for _ in 0..20 {
        run.call(&mut store, w.warm).map_err(|e| e.to_string())?;
    }
    std::thread::sleep(Duration::from_millis(500));
    run.call(&mut store, w.warm).map_err(|e| e.to_string())?;
    let profile = instance.profile(&store).ok_or("no profile")?;
    kiln::Profile::from_json(&profile.to_json()).map_err(|e| e.to_string())
}

fn run_wasmtime(bytes: &[u8], w: &Workload) -> Result<(Duration, i32), String> {
    let engine = wasmtime::Engine::default();
    let module = wasmtime::Module::new(&engine, bytes).map_err(|e| e.to_string())?;
    let mut store = wasmtime::Store::new(&engine, ());
    let instance = wasmtime::Instance::new(&mut store, &module, &[]).map_err(|e| e.to_string())?;
    let run = instance
        .get_typed_func::<i32, i32>(&mut store, "run")
        .map_err(|e| e.to_string())?;
    for _ in 0..20 {
        run.call(&mut store, w.warm).map_err(|e| e.to_string())?;
    }
    let started = Instant::now();
    let result = run.call(&mut store, w.measure).map_err(|e| e.to_string())?;
    Ok((started.elapsed(), result))
}

fn main() -> ExitCode {
    let mut runs = 5usize;
    let mut scale = 1i32;
    let mut filters: Vec<String> = Vec::new();
    let mut sides: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--runs", Some(n)) => runs = n.parse().unwrap_or(5),
            ("--scale", Some(k)) => scale = k.parse().unwrap_or(1),
            ("--filter", Some(f)) => filters.push(f),
            ("--side", Some(s)) => sides.push(s),
            _ => {
                eprintln!("usage: guided [--runs N] [--scale K] [--filter S]... [--side S]...");
                return ExitCode::FAILURE;
            }
        }
    }
    if sides.is_empty() {
        sides = ["guided", "tiered", "eager", "wasmtime"]
            .map(String::from)
            .to_vec();
    }
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_default();
    println!("CPU: {cpu}; {runs} rounds, sides rotating\n");
    print!("| workload |");
    for s in &sides {
        print!(" {s} |");
    }
    for s in &sides[1..] {
        print!(" {s} / {} |", sides[0]);
    }
    println!();
    println!("|{}", "---|".repeat(1 + 2 * sides.len() - 1));
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); sides.len()];
    for w in WORKLOADS {
        let w = &Workload {
            measure: w.measure.saturating_mul(scale),
            ..*w
        };
        if !filters.is_empty() && !filters.iter().any(|f| w.name.contains(f.as_str())) {
            continue;
        }
        let bytes = match wat::parse_file(wat_path(w.name)) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{}: {e}", w.name);
                return ExitCode::FAILURE;
            }
        };
        let saved = if sides.iter().any(|s| s == "saved") {
            match profile_of(&bytes, w) {
                Ok(p) => Some(p),
                Err(e) => {
                    eprintln!("{}: no profile: {e}", w.name);
                    return ExitCode::FAILURE;
                }
            }
        } else {
            None
        };
        let mut times: Vec<Vec<Duration>> = vec![Vec::new(); sides.len()];
        let mut expected = None;
        for round in 0..runs {
            for k in 0..sides.len() {
                let i = (k + round) % sides.len();
                let outcome = match sides[i].as_str() {
                    "wasmtime" => run_wasmtime(&bytes, w),
                    s => run_kiln(s, &bytes, w, saved.as_ref()),
                };
                let (t, result) = match outcome {
                    Ok(x) => x,
                    Err(e) => {
                        eprintln!("{} on {}: {e}", w.name, sides[i]);
                        return ExitCode::FAILURE;
                    }
                };
                if *expected.get_or_insert(result) != result {
                    eprintln!(
                        "{} on {}: result {result}, others {expected:?}",
                        w.name, sides[i]
                    );
                    return ExitCode::FAILURE;
                }
                times[i].push(t);
            }
        }
        let medians: Vec<Duration> = times.iter_mut().map(|t| median(t)).collect();
        print!("| {} |", w.name);
        for m in &medians {
            print!(" {} |", fmt_duration(*m));
        }
        for (i, m) in medians.iter().enumerate().skip(1) {
            let r = m.as_secs_f64() / medians[0].as_secs_f64();
            ratios[i].push(r);
            print!(" {r:.2} |");
        }
        println!();
    }
    print!("| **geomean** |{}", " |".repeat(sides.len()));
    for r in ratios.iter().skip(1) {
        print!(" **{:.2}** |", geomean(r));
    }
    println!();
    ExitCode::SUCCESS
}

//! Strategies against each other on every sightglass program, in process:
//!
//! ```text
//! target/release/tiers_run [--runs N] [--placement N] [--filter S]... [--strategy S]...
//! ```
//!
//! `--placement N` starts every Kiln function N bytes past a 64-byte line
//! (`CodePlacement::Offset`) instead of where its loops fit best: sweeping N shows how
//! much of a difference between two sides is where the code happens to fall.
//!
//! Strategies: `eager`, `lazy`, `tiered` (`tiered@N`: N calls or 10 N loop iterations
//! before optimizing), `guided` (tiered with `Config::profile_guided`), and for the cost
//! of counting `baseline` (tiered without counters: baseline code only),
//! `baseline-counted` (counters that never reach a threshold) and `baseline-recorded`
//! (those counters, and call targets and branches recorded as for profile-guided code).
//! `wasmtime` runs the program on Wasmtime 48 (default settings) as one more side. `pgo`
//! is eager code compiled with a saved profile (`Config::saved_profile`): the profile of
//! one `guided` run of the program, made before the rounds. `pgo-layout` is the same
//! with layout from branch counts (`GuidedPolicy::branch_layout`, off by default), and
//! `baseline-layout` is `baseline-recorded` counting branches too.
//!
//! For each program, N rounds (default 5) run it once per strategy (default: eager,
//! tiered), in an order that rotates every round, each on a fresh engine: compile
//! (`Module::from_binary`; lazy and tiered compile nothing yet), instantiate, and run
//! `_start`, checking the output. Two times are kept per run: `total` (from the start
//! of compilation to the end of `_start`: what a fresh process pays, minus process
//! start) and `execute` (the region between the program's `bench.start` and
//! `bench.end`). Markdown tables of medians, the ratio of each strategy to the first,
//! and geomeans go to stdout.

#![forbid(unsafe_code)]

use kiln::{Config, Engine, Strategy, TierUpPolicy};
use kiln_benches::check::Expected;
use kiln_benches::kiln_runner::KilnHost;
use kiln_benches::wasmtime_runner::WasmtimeHost;
use kiln_benches::{all_workloads, fmt_duration, geomean, median};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// A strategy, and the policy it runs with.
#[derive(Clone)]
struct Side {
    name: String,
    strategy: Strategy,
    policy: TierUpPolicy,
    guided: bool,
    wasmtime: bool,
    pgo: bool,
    /// With `pgo@N`: callees of up to N bytes are inlined, three deep, into every
    /// function (the default policy's budgets otherwise). With `pgo-cold@N`: into the
    /// functions the profile did not see optimized (two deep), hot ones keeping the
    /// default budget.
    inline_bytes: Option<u32>,
    cold_only: bool,
    /// Whether the side counts branches and lays out their cold sides.
    branch_layout: bool,
}

fn parse(s: &str) -> Option<Side> {
    let never = TierUpPolicy::with_threshold(TierUpPolicy::MAX_THRESHOLD);
    let (strategy, policy) = match s {
        "guided" | "wasmtime" => (Strategy::Tiered, TierUpPolicy::default()),
        _ if s == "pgo"
            || s == "pgo-layout"
            || s.starts_with("pgo@")
            || s.starts_with("pgo-cold@") =>
        {
            (
                Strategy::Eager(kiln::OptLevel::Speed),
                TierUpPolicy::default(),
            )
        }
        // Baseline code that counts but never reaches a threshold (`-recorded`: and
        // records call targets, as profile-guided code does).
        "baseline-counted" | "baseline-recorded" | "baseline-layout" => (Strategy::Tiered, never),
        // Baseline code without counters.
        "baseline" => (
            Strategy::Tiered,
            TierUpPolicy {
                counting: false,
                ..never
            },
        ),
        // `tiered@N`: calls N, loop iterations 10 N.
        _ => match s.strip_prefix("tiered@") {
            Some(n) => {
                let n: u32 = n.parse().ok()?;
                let policy = TierUpPolicy {
                    call_threshold: n,
                    loop_threshold: n.saturating_mul(10),
                    ..TierUpPolicy::default()
                };
                (Strategy::Tiered, policy)
            }
            None => (s.parse().ok()?, TierUpPolicy::default()),
        },
    };
    Some(Side {
        name: s.to_string(),
        strategy,
        policy,
        guided: s == "guided" || s == "baseline-recorded" || s == "baseline-layout",
        wasmtime: s == "wasmtime",
        pgo: s == "pgo" || s == "pgo-layout" || s.starts_with("pgo@") || s.starts_with("pgo-cold@"),
        cold_only: s.starts_with("pgo-cold@"),
        branch_layout: s == "pgo-layout" || s == "baseline-layout",
        inline_bytes: match s
            .strip_prefix("pgo@")
            .or_else(|| s.strip_prefix("pgo-cold@"))
        {
            Some(n) => Some(n.parse().ok()?),
            None => None,
        },
    })
}

/// The profile of one profile-guided tiered run of `w`.
fn profile_of(bytes: &[u8], w: &kiln_benches::Workload) -> Result<kiln::Profile, String> {
    let mut config = Config::new();
    config.strategy(Strategy::Tiered).profile_guided(true);
    let host = Engine::new(&config)
        .map_err(|e| e.to_string())
        .and_then(|e| KilnHost::with_engine(&e))?;
    let m = host.compile(bytes)?;
    let (_, profile) = host.instantiate(&m, w)?.run_with_profile()?;
    profile.ok_or_else(|| "no profile".to_string())
}

fn main() -> ExitCode {
    let mut runs = 5;
    let mut placement: Option<u32> = None;
    let mut filters: Vec<String> = Vec::new();
    let mut strategies = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--runs", Some(n)) => runs = n.parse().unwrap_or(runs),
            ("--filter", Some(f)) => filters.push(f),
            ("--placement", Some(n)) => match n.parse() {
                Ok(n) => placement = Some(n),
                Err(_) => {
                    eprintln!("--placement takes a byte offset (0 to 63)");
                    return ExitCode::from(2);
                }
            },
            ("--strategy", Some(s)) => match parse(&s) {
                Some(s) => strategies.push(s),
                None => {
                    eprintln!(
                        "--strategy eager|lazy|tiered[@N]|guided|pgo[@N]|pgo-cold@N|pgo-layout|baseline|baseline-counted|baseline-recorded|baseline-layout|wasmtime"
                    );
                    return ExitCode::from(2);
                }
            },
            _ => {
                eprintln!(
                    "usage: tiers_run [--runs N] [--placement N] [--filter S]... [--strategy S]..."
                );
                return ExitCode::from(2);
            }
        }
    }
    if strategies.is_empty() {
        strategies = ["eager", "tiered"]
            .iter()
            .filter_map(|s| parse(s))
            .collect();
    }
    let workloads = match all_workloads(None) {
        Ok(w) => w
            .into_iter()
            .filter(|w| filters.is_empty() || filters.iter().any(|f| w.name.contains(f)))
            .collect::<Vec<_>>(),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let names: Vec<&str> = strategies.iter().map(|s| s.name.as_str()).collect();
    println!(
        "| program | {} |",
        names
            .iter()
            .map(|n| format!("{n} total | {n} execute"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---|{}", "---:|".repeat(2 * names.len()));
    let mut total_ratios = vec![Vec::new(); strategies.len()];
    let mut exec_ratios = vec![Vec::new(); strategies.len()];
    for w in &workloads {
        let (bytes, expected) = match (std::fs::read(&w.wasm), Expected::load(&w.wasm)) {
            (Ok(b), Ok(e)) => (b, e),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("{}: {e}", w.name);
                continue;
            }
        };
        let saved = if strategies.iter().any(|s| s.pgo) {
            match profile_of(&bytes, w) {
                Ok(p) => Some(p),
                Err(e) => {
                    println!("| {} | NO PROFILE: {e} |", w.name);
                    continue;
                }
            }
        } else {
            None
        };
        let mut totals = vec![Vec::new(); strategies.len()];
        let mut execs = vec![Vec::new(); strategies.len()];
        let mut failed = None;
        'rounds: for round in 0..runs {
            for k in 0..strategies.len() {
                let i = (k + round) % strategies.len();
                let started = Instant::now();
                let out = if strategies[i].wasmtime {
                    WasmtimeHost::new().and_then(|h| {
                        let m = h.compile(&bytes)?;
                        h.instantiate(&m, w)?.run()
                    })
                } else {
                    let mut config = Config::new();
                    config
                        .strategy(strategies[i].strategy)
                        .tier_up_policy(strategies[i].policy)
                        .profile_guided(strategies[i].guided);
                    if let Some(n) = placement {
                        config.code_placement(kiln::CodePlacement::Offset(n));
                    }
                    if let (true, Some(p)) = (strategies[i].pgo, &saved) {
                        config.saved_profile(p.clone());
                        let mut policy = kiln::GuidedPolicy::default();
                        match (strategies[i].inline_bytes, strategies[i].cold_only) {
                            (Some(n), false) => {
                                let limits = kiln::InlineLimits {
                                    max_callee_bytes: n,
                                    max_total_bytes: n.saturating_mul(32),
                                    max_depth: 3,
                                };
                                policy.inline = limits;
                                policy.hot_inline = limits;
                            }
                            (Some(n), true) => {
                                policy.inline = kiln::InlineLimits {
                                    max_callee_bytes: n,
                                    max_total_bytes: n.saturating_mul(21),
                                    max_depth: 2,
                                };
                            }
                            (None, _) => {}
                        }
                        if strategies[i].branch_layout {
                            policy.branch_layout = Some(kiln::BranchLayout::default());
                        }
                        config.guided_policy(policy);
                    }
                    Engine::new(&config)
                        .map_err(|e| e.to_string())
                        .and_then(|e| KilnHost::with_engine(&e))
                        .and_then(|h| {
                            let m = h.compile(&bytes)?;
                            h.instantiate(&m, w)?.run()
                        })
                };
                let took = started.elapsed();
                match out.and_then(|o| expected.check(&o).map(|()| o)) {
                    Ok(o) => {
                        totals[i].push(took);
                        execs[i].push(o.region.unwrap_or(Duration::ZERO));
                    }
                    Err(e) => {
                        failed = Some(format!("{}: {e}", names[i]));
                        break 'rounds;
                    }
                }
            }
        }
        if let Some(e) = failed {
            println!("| {} | WRONG: {e} |", w.name);
            continue;
        }
        let t: Vec<Duration> = totals.iter_mut().map(|v| median(v)).collect();
        let x: Vec<Duration> = execs.iter_mut().map(|v| median(v)).collect();
        let mut cells = Vec::new();
        for i in 0..strategies.len() {
            cells.push(fmt_duration(t[i]));
            cells.push(fmt_duration(x[i]));
            total_ratios[i].push(t[i].as_secs_f64() / t[0].as_secs_f64());
            if x[0] > Duration::from_micros(10) && x[i] > Duration::from_micros(10) {
                exec_ratios[i].push(x[i].as_secs_f64() / x[0].as_secs_f64());
            }
        }
        println!("| {} | {} |", w.name, cells.join(" | "));
        eprintln!("{} done", w.name);
    }
    for i in 1..strategies.len() {
        let max = exec_ratios[i].iter().cloned().fold(0.0, f64::max);
        println!(
            "\n{} / {}: total geomean {:.3} over {} programs; execute geomean {:.3} over {} (max {:.3})",
            names[i],
            names[0],
            geomean(&total_ratios[i]),
            total_ratios[i].len(),
            geomean(&exec_ratios[i]),
            exec_ratios[i].len(),
            max
        );
    }
    ExitCode::SUCCESS
}

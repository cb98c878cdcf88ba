//! `tiers [--runs N] [--only baseline|speed] [--inline] [FILE.wasm ...]`: compile
//! throughput of each tier. Every defined function of the sightglass programs (or of
//! the given modules) is compiled one at a time, on one thread, at `Tier::Baseline` and
//! at `Tier::Optimized` (Speed), the two alternating per module and run; the median of
//! N runs is kept. Prints bytes of wasm body per second for each tier, their ratio per
//! module, the geomean of the ratios, and the largest baseline frame.
//!
//! With `--inline`, the two sides are the optimized tier without and with
//! profile-guided inlining (the default `InlineBudget`, or with `--inline-bytes N`
//! callees of up to N bytes, 32 N in all, three deep; every direct call a candidate),
//! and the ratio is the time with inlining over the time without: what inlining costs
//! the optimized tier.

#![forbid(unsafe_code)]

use kiln_frontend::{DefinedFuncIndex, Features, ModuleInfo};
use kiln_jit::{Compiler, CompilerConfig, Counting, Guidance, InlineBudget, Tier};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn compile_all(
    c: &Compiler,
    info: &ModuleInfo,
    tier: Tier,
    guidance: &Guidance,
) -> Result<(Duration, u32), String> {
    let started = Instant::now();
    let mut frame = 0;
    for d in 0..info.num_defined_funcs() {
        let (f, _) = c
            .compile_function_at(info, DefinedFuncIndex::from_u32(d), tier, guidance, None)
            .map_err(|e| e.to_string())?;
        frame = frame.max(f.frame_size);
    }
    Ok((started.elapsed(), frame))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() -> Result<(), String> {
    let mut runs = 3;
    let mut only = None;
    let mut inline = false;
    let mut budget = InlineBudget::default();
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().and_then(|n| n.parse().ok()).ok_or("--runs N")?,
            "--only" => {
                only = match args.next().as_deref() {
                    Some("baseline") => Some(Tier::Baseline),
                    Some("speed") => Some(Tier::Optimized),
                    _ => return Err("--only baseline|speed".into()),
                }
            }
            "--inline" => inline = true,
            "--inline-bytes" => {
                let n: u32 = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or("--inline-bytes N")?;
                inline = true;
                budget = InlineBudget {
                    max_callee_bytes: n,
                    max_depth: 3,
                    max_total_bytes: n.saturating_mul(32),
                };
            }
            _ => files.push((a.clone(), PathBuf::from(a))),
        }
    }
    if files.is_empty() {
        files = kiln_benches::all_workloads(None)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|w| (w.name, w.wasm))
            .collect();
    }
    let compiler = Compiler::new(CompilerConfig {
        threads: 1,
        code_slots: true,
        counting: Some(Counting {
            call_threshold: 1000,
            loop_threshold: 10000,
            record_targets: false,
            count_branches: false,
        }),
        ..CompilerConfig::default()
    })
    .map_err(|e| e.to_string())?;
    println!(
        "{:<36} {:>9} {:>12} {:>12} {:>7} {:>10}",
        "module", "body KB", "baseline/s", "speed/s", "ratio", "max frame"
    );
    let mut log_sum = 0.0;
    let mut n = 0;
    for (name, path) in files {
        let bytes = std::fs::read(&path).map_err(|e| format!("{name}: {e}"))?;
        let info = kiln_frontend::parse(&bytes, Features::default())
            .map_err(|e| format!("{name}: {e}"))?;
        let body: u64 = (0..info.num_defined_funcs())
            .map(|d| {
                let r = info.body_reader(DefinedFuncIndex::from_u32(d)).range();
                r.end - r.start
            })
            .sum();
        let (mut base, mut speed) = (Vec::new(), Vec::new());
        let mut frame = 0;
        for r in 0..runs {
            // Alternate which tier goes first.
            let order = if r % 2 == 0 {
                [Tier::Baseline, Tier::Optimized]
            } else {
                [Tier::Optimized, Tier::Baseline]
            };
            for t in order {
                if only.is_some_and(|o| o != t) {
                    continue;
                }
                // With --inline the "baseline" side is the optimized tier without inlining.
                let (tier, guidance) = match (inline, t) {
                    (false, _) => (t, Guidance::default()),
                    (true, Tier::Baseline) => (Tier::Optimized, Guidance::default()),
                    (true, Tier::Optimized) => (
                        Tier::Optimized,
                        Guidance {
                            inline: Some(budget),
                            ..Guidance::default()
                        },
                    ),
                };
                let (took, f) = compile_all(&compiler, &info, tier, &guidance)
                    .map_err(|e| format!("{name}: {e}"))?;
                match t {
                    Tier::Baseline => {
                        base.push(took);
                        frame = f;
                    }
                    Tier::Optimized => speed.push(took),
                }
            }
        }
        if only.is_some() {
            let took = median(if base.is_empty() { speed } else { base });
            println!("{name}: {:.3} s", took.as_secs_f64());
            continue;
        }
        let (b, s) = (median(base), median(speed));
        let rate = |d: Duration| body as f64 / d.as_secs_f64() / 1e6;
        let ratio = s.as_secs_f64() / b.as_secs_f64();
        log_sum += ratio.ln();
        n += 1;
        println!(
            "{:<36} {:>9.1} {:>9.2} MB {:>9.2} MB {:>7.2} {:>10}",
            name,
            body as f64 / 1e3,
            rate(b),
            rate(s),
            ratio,
            frame
        );
    }
    if n > 0 {
        println!(
            "geomean {} ratio: {:.2} over {n} modules",
            if inline {
                "compile time with inlining / without"
            } else {
                "baseline/speed throughput"
            },
            (log_sum / n as f64).exp()
        );
    }
    Ok(())
}

//! Compile time and peak memory of the shapes that once made compilation blow up, each
//! made about 1 MB (the target: any module up to 1 MB compiles within 10 s and 2 GiB,
//! or is refused with a clear error).
//!
//! ```text
//! cargo run --release -p kiln-benches --bin compile_bounds [-- --runs N] [--case NAME]
//! ```
//! Every case runs in a child process of its own (this binary with `--child NAME`), so
//! that its peak resident memory (`getrusage`'s `ru_maxrss`) is its own. Prints a
//! markdown table: module size, median compile time, peak RSS, and the outcome.

#![forbid(unsafe_code)]

use kiln::{Config, Engine, Module};
use std::fmt::Write as _;
use std::time::Instant;

/// A shape: its name, what it is, and its generator.
type Case = (&'static str, &'static str, fn() -> String);

/// The shapes.
fn cases() -> Vec<Case> {
    vec![
        (
            "loops-fuel",
            "150,000 sequential loops, with fuel",
            loops_fuel,
        ),
        ("loops", "150,000 sequential loops, no fuel", loops),
        (
            "nested-locals",
            "1,000 nested loops reading 50,000 locals 300,000 times",
            nested,
        ),
        (
            "br-table",
            "br_table over 60,000 blocks, 1,000 live locals",
            br_table,
        ),
        ("live-values", "250,000 values live at once", live_values),
        ("straight-line", "600,000 straight-line operators", straight),
        (
            "one-loop-wide",
            "one loop reading 50,000 locals",
            one_loop_wide,
        ),
        ("types", "40,000 functions of 40,000 distinct types", types),
        (
            "types-160k",
            "160,000 functions of 160,000 distinct types (4 MB)",
            types_160k,
        ),
        ("tiny-funcs", "200,000 small functions", tiny_funcs),
    ]
}

fn module(funcs: &str) -> String {
    format!(
        "(module (memory 1) {funcs} (func (export \"f\") (param i32) (result i32) (local.get 0)))"
    )
}

fn loops_fuel() -> String {
    loops()
}

fn loops() -> String {
    module(&format!(
        "(func (param i32) {})",
        "(loop (br_if 0 (local.get 0)))".repeat(150_000)
    ))
}

fn nested() -> String {
    let mut body = " loop".repeat(1000);
    for k in 0..300_000 {
        let _ = write!(body, " local.get {} drop", k % 50_000);
    }
    body.push_str(&" end".repeat(1000));
    module(&format!(
        "(func (local i32) {} {body})",
        "(local i32)".repeat(49_999)
    ))
}

fn br_table() -> String {
    let (blocks, locals) = (60_000, 1000);
    let mut body = " block".repeat(blocks);
    body.push_str(" local.get 0 br_table");
    for k in 0..blocks {
        let _ = write!(body, " {k}");
    }
    for k in 0..blocks {
        let _ = write!(
            body,
            " end local.get {} local.set {}",
            1 + k % locals,
            1 + (k + 1) % locals
        );
    }
    module(&format!(
        "(func (param i32) {} {body})",
        "(local i32)".repeat(locals)
    ))
}

fn live_values() -> String {
    let n = 250_000;
    module(&format!(
        "(func (param i32) (result i32) {} {})",
        " local.get 0".repeat(n),
        " i32.add".repeat(n - 1)
    ))
}

fn straight() -> String {
    module(&format!(
        "(func (param i32) (result i32) {} local.get 0)",
        " local.get 0 i32.const 1 i32.add local.set 0".repeat(150_000)
    ))
}

fn one_loop_wide() -> String {
    let mut body = String::from(" loop");
    for k in 0..50_000 {
        let _ = write!(body, " local.get {k} drop");
    }
    body.push_str(" end");
    module(&format!("(func {} {body})", "(local i32)".repeat(50_000)))
}

/// `n` functions, each of its own type: parameters spell the function's number in
/// binary (i32 for 0, i64 for 1), 18 of them.
fn distinct_types(n: u32) -> String {
    let mut w = String::new();
    for k in 0..n {
        w.push_str("(func (param");
        for bit in 0..18 {
            w.push_str(if k >> bit & 1 == 0 { " i32" } else { " i64" });
        }
        w.push_str("))");
    }
    module(&w)
}

fn types() -> String {
    distinct_types(40_000)
}

fn types_160k() -> String {
    distinct_types(160_000)
}

fn tiny_funcs() -> String {
    module(&"(func (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))".repeat(200_000))
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Compiles case `name` once in this process; prints `bytes seconds rss_kib outcome`.
fn child(name: &str) -> Result<(), String> {
    let (_, _, gen) = cases()
        .into_iter()
        .find(|c| c.0 == name)
        .ok_or_else(|| format!("no case {name}"))?;
    let wasm = wat::parse_str(gen()).map_err(|e| e.to_string())?;
    let mut config = Config::new();
    config.consume_fuel(name == "loops-fuel");
    let engine = Engine::new(&config).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let outcome = match Module::from_binary(&engine, &wasm) {
        Ok(_) => "compiled".to_string(),
        Err(e) => format!("refused: {e}"),
    };
    let took = started.elapsed().as_secs_f64();
    println!("{} {took} {} {outcome}", wasm.len(), peak_rss_kib());
    Ok(())
}

fn main() -> Result<(), String> {
    let mut runs = 3usize;
    let mut only = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--child" => return child(&args.next().ok_or("--child NAME")?),
            "--runs" => runs = args.next().and_then(|v| v.parse().ok()).ok_or("--runs N")?,
            "--case" => only = Some(args.next().ok_or("--case NAME")?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    println!("| case | what | module | compile (median of {runs}) | peak RSS | outcome |");
    println!("|---|---|---:|---:|---:|---|");
    for (name, what, _) in cases() {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let mut times = Vec::new();
        let (mut size, mut rss, mut outcome) = (0u64, 0u64, String::new());
        for _ in 0..runs {
            let out = std::process::Command::new(&exe)
                .args(["--child", name])
                .output()
                .map_err(|e| e.to_string())?;
            let line = String::from_utf8_lossy(&out.stdout).to_string();
            let mut parts = line.trim().splitn(4, ' ');
            let (Some(b), Some(t), Some(r), Some(o)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                outcome = format!("failed: {}", String::from_utf8_lossy(&out.stderr).trim());
                break;
            };
            size = b.parse().unwrap_or(0);
            times.push(t.parse::<f64>().unwrap_or(f64::NAN));
            rss = rss.max(r.parse().unwrap_or(0));
            outcome = o.to_string();
        }
        times.sort_by(f64::total_cmp);
        let median = times.get(times.len() / 2).copied().unwrap_or(f64::NAN);
        println!(
            "| {name} | {what} | {:.0} KB | {median:.2} s | {} MiB | {outcome} |",
            size as f64 / 1000.0,
            rss / 1024
        );
    }
    Ok(())
}

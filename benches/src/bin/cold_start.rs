//! Whole-process start with compiled code at hand: `kiln run` with its code cache warm,
//! `kiln run X.kwasm` (from `kiln compile`), and Wasmtime 48 from a precompiled
//! `.cwasm` (`wasmtime_run run X.cwasm`, this crate's stand-in for
//! `wasmtime run --allow-precompiled`), on every sightglass program and on CPython.
//!
//! ```text
//! cargo build --release -p kiln-cli -p kiln-benches
//! target/release/cold_start [--runs N] [--filter S]... [--python PYTHON.wasm] [--kiln-arg ARG]...
//! ```
//!
//! `--kiln-arg ARG` passes ARG to `kiln run` on the cache side (e.g. `--profile-in
//! py.json` for code compiled from a saved profile, which the cache keeps apart).
//!
//! Each program first runs once per side (to warm the cache, the page cache and check
//! that it succeeds); then N rounds (default 11) run the three sides in an order that
//! rotates every round, timing each process from spawn to exit. Medians, the ratio
//! to Wasmtime, the geometric mean of the ratios, peak resident memory (`/usr/bin/time
//! -f %M`, one extra run per side) and artifact sizes go to stdout as Markdown.
//! Sightglass programs run in their folder with `--dir .`; `bench.start`/`bench.end`
//! are linked as no-ops (`--default-imports` for Kiln). CPython runs `-c pass` and
//! `-c 'print("hello")'`.

#![forbid(unsafe_code)]

use kiln_benches::{all_workloads, geomean, median};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

struct Case {
    name: String,
    dir: PathBuf,
    wasm: PathBuf,
    args: Vec<String>,
    /// Extra `kiln run` options for the cache side.
    kiln_args: Vec<String>,
}

const SIDES: [&str; 3] = ["kiln (cache)", "kiln (.kwasm)", "wasmtime (.cwasm)"];

fn release_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    exe.parent()
        .map_or_else(|| PathBuf::from(name), |d| d.join(name))
}

/// The command for side `side` of `case`.
fn command(side: usize, case: &Case, cache: &Path, kwasm: &Path, cwasm: &Path) -> Command {
    let mut c;
    match side {
        0 | 1 => {
            c = Command::new(release_bin("kiln"));
            c.env("XDG_CACHE_HOME", cache);
            c.args(["run", "--default-imports", "--dir", "."]);
            if side == 0 {
                c.args(&case.kiln_args);
            }
            c.arg(if side == 0 { &case.wasm } else { kwasm });
        }
        _ => {
            c = Command::new(release_bin("wasmtime_run"));
            c.args(["run", "--dir", "."]);
            c.arg(cwasm);
        }
    }
    c.args(&case.args).current_dir(&case.dir);
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

fn run_timed(mut c: Command) -> Result<Duration, String> {
    let t = Instant::now();
    let status = c.status().map_err(|e| e.to_string())?;
    let d = t.elapsed();
    if !status.success() {
        return Err(format!("exit status {status}"));
    }
    Ok(d)
}

/// Peak resident memory in KiB of one run, from `/usr/bin/time -f %M`.
fn peak_rss(c: &Command) -> Option<u64> {
    let mut t = Command::new("/usr/bin/time");
    t.args(["-f", "%M"]).arg(c.get_program()).args(c.get_args());
    if let Some(d) = c.get_current_dir() {
        t.current_dir(d);
    }
    for (k, v) in c.get_envs() {
        if let Some(v) = v {
            t.env(k, v);
        }
    }
    let out = t.stdout(Stdio::null()).stdin(Stdio::null()).output().ok()?;
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .last()?
        .trim()
        .parse()
        .ok()
}

fn main() -> ExitCode {
    let mut runs = 11;
    let mut filters: Vec<String> = Vec::new();
    let mut python: Option<PathBuf> = None;
    let mut kiln_args: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--runs", Some(n)) => runs = n.parse().unwrap_or(runs),
            ("--filter", Some(f)) => filters.push(f),
            ("--python", Some(p)) => python = Some(PathBuf::from(p)),
            ("--kiln-arg", Some(a)) => kiln_args.push(a),
            _ => {
                eprintln!(
                    "usage: cold_start [--runs N] [--filter S]... [--python PYTHON.wasm] \
                     [--kiln-arg ARG]..."
                );
                return ExitCode::from(2);
            }
        }
    }
    let mut cases = Vec::new();
    match all_workloads(None) {
        Ok(ws) => {
            for w in ws {
                let Some(dir) = w.wasm.parent() else { continue };
                cases.push(Case {
                    name: w.name.clone(),
                    dir: dir.to_path_buf(),
                    wasm: w.wasm.clone(),
                    args: Vec::new(),
                    kiln_args: kiln_args.clone(),
                });
            }
        }
        Err(e) => eprintln!("no sightglass workloads: {e}"),
    }
    if let Some(p) = &python {
        let dir = p
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        for (label, code) in [("pass", "pass"), ("print", "print(\"hello\")")] {
            cases.push(Case {
                name: format!("cpython -c {label}"),
                dir: dir.clone(),
                wasm: p.clone(),
                args: vec!["-c".into(), code.into()],
                kiln_args: kiln_args.clone(),
            });
        }
    }
    if !filters.is_empty() {
        cases.retain(|c| filters.iter().any(|f| c.name.contains(f.as_str())));
    }
    let Ok(tmp) = tempfile::tempdir() else {
        eprintln!("no temporary directory");
        return ExitCode::from(2);
    };
    let cache = tmp.path().join("cache");
    println!("| program | kiln (cache) | kiln (.kwasm) | wasmtime (.cwasm) | cache / wasmtime | .kwasm / wasmtime | RSS kiln / wasmtime (KiB) | .kwasm / .cwasm (bytes) |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut ratios = (Vec::new(), Vec::new());
    for (i, case) in cases.iter().enumerate() {
        let kwasm = tmp.path().join(format!("{i}.kwasm"));
        let cwasm = tmp.path().join(format!("{i}.cwasm"));
        let prepared = Command::new(release_bin("kiln"))
            .env("XDG_CACHE_HOME", &cache)
            .arg("compile")
            .arg(&case.wasm)
            .arg("-o")
            .arg(&kwasm)
            .status()
            .is_ok_and(|s| s.success())
            && Command::new(release_bin("wasmtime_run"))
                .arg("compile")
                .arg(&case.wasm)
                .arg(&cwasm)
                .status()
                .is_ok_and(|s| s.success());
        if !prepared {
            eprintln!("{}: could not compile", case.name);
            continue;
        }
        // Warm-up: fills Kiln's cache, checks every side succeeds.
        let warm: Result<Vec<_>, _> = (0..3)
            .map(|s| run_timed(command(s, case, &cache, &kwasm, &cwasm)))
            .collect();
        if let Err(e) = warm {
            eprintln!("{}: {e}", case.name);
            continue;
        }
        let mut times: [Vec<Duration>; 3] = Default::default();
        for round in 0..runs {
            for k in 0..3 {
                let side = (round + k) % 3;
                match run_timed(command(side, case, &cache, &kwasm, &cwasm)) {
                    Ok(d) => times[side].push(d),
                    Err(e) => eprintln!("{} {}: {e}", case.name, SIDES[side]),
                }
            }
        }
        let m: Vec<Duration> = times.iter_mut().map(|t| median(t)).collect();
        let r0 = m[0].as_secs_f64() / m[2].as_secs_f64();
        let r1 = m[1].as_secs_f64() / m[2].as_secs_f64();
        if !case.name.starts_with("cpython") {
            ratios.0.push(r0);
            ratios.1.push(r1);
        }
        let rss_k = peak_rss(&command(1, case, &cache, &kwasm, &cwasm)).unwrap_or(0);
        let rss_w = peak_rss(&command(2, case, &cache, &kwasm, &cwasm)).unwrap_or(0);
        let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
        println!(
            "| {} | {:.1} ms | {:.1} ms | {:.1} ms | {r0:.2} | {r1:.2} | {rss_k} / {rss_w} | {} / {} |",
            case.name,
            m[0].as_secs_f64() * 1e3,
            m[1].as_secs_f64() * 1e3,
            m[2].as_secs_f64() * 1e3,
            size(&kwasm),
            size(&cwasm),
        );
        eprintln!("{} done", case.name);
    }
    if !ratios.0.is_empty() {
        println!(
            "\nSightglass geomean ({} programs): kiln (cache) / wasmtime (.cwasm) **{:.3}**, kiln (.kwasm) / wasmtime (.cwasm) **{:.3}**",
            ratios.0.len(),
            geomean(&ratios.0),
            geomean(&ratios.1)
        );
    }
    ExitCode::SUCCESS
}

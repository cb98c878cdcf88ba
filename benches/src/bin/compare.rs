//! Kiln against Wasmtime 48 on every sightglass program, phase by phase.
//!
//! ```text
//! cargo run --release -p kiln-benches --bin compare -- \
//!     [--filter S]... [--runs N] [--phase compile|instantiate|execute]...
//! ```
//!
//! For each workload (every `.wasm` in every folder of the sightglass directory,
//! `KILN_WORKLOADS` or `../shared/workloads/sightglass`; `--filter` keeps those whose
//! name contains S), each engine first runs it once and its output is checked against
//! the expected files; a workload whose output is wrong on either engine is reported as
//! WRONG and never timed. Then N runs (default 5), alternating the engines (Kiln first
//! on even runs, Wasmtime first on odd ones), each timing the selected phases (default
//! all three):
//!
//! - compile: Kiln `Module::from_binary` at `OptLevel::Speed`, Wasmtime
//!   `Module::new`, both otherwise at default settings;
//! - instantiate: WASI context (folder pre-opened, output piped), store, instantiation
//!   with a linker built beforehand, `_start` lookup;
//! - execute: the region between the program's `bench.start` and `bench.end` calls.
//!
//! Every timed run's output is checked too. Markdown tables of medians go to stdout,
//! progress to stderr.

#![forbid(unsafe_code)]

use kiln::OptLevel;
use kiln_benches::check::Expected;
use kiln_benches::kiln_runner::KilnHost;
use kiln_benches::wasmtime_runner::WasmtimeHost;
use kiln_benches::{all_workloads, fmt_duration, geomean, median, workloads_dir, Runner, Workload};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

/// The Wasmtime the crate depends on (pinned in Cargo.toml).
const WASMTIME_VERSION: &str = "48.0.8";

/// Execution regions shorter than this on both engines are not program time.
const MIN_REGION: Duration = Duration::from_micros(10);

/// Ratios above this count as a loss worth looking at.
const THRESHOLD: f64 = 1.25;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Compile,
    Instantiate,
    Execute,
}

impl Phase {
    const ALL: [Phase; 3] = [Phase::Compile, Phase::Instantiate, Phase::Execute];

    fn name(self) -> &'static str {
        match self {
            Phase::Compile => "compile",
            Phase::Instantiate => "instantiate",
            Phase::Execute => "execute",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    fn describe(self) -> &'static str {
        match self {
            Phase::Compile => {
                "Kiln `Module::from_binary` (OptLevel::Speed) vs Wasmtime `Module::new` (defaults)"
            }
            Phase::Instantiate => {
                "WASI context + store + instantiation with a prepared linker + `_start` lookup"
            }
            Phase::Execute => "The region between `bench.start` and `bench.end`",
        }
    }
}

struct Args {
    filters: Vec<String>,
    runs: usize,
    phases: Vec<Phase>,
}

const USAGE: &str =
    "usage: compare [--filter S]... [--runs N] [--phase compile|instantiate|execute]...";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        filters: Vec::new(),
        runs: 5,
        phases: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--filter" => args.filters.push(value()?),
            "--runs" => {
                let v = value()?;
                args.runs = v
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("--runs: `{v}` is not a positive number"))?;
            }
            "--phase" => {
                for p in value()?.split(',') {
                    let phase = Phase::ALL
                        .into_iter()
                        .find(|x| x.name() == p)
                        .ok_or_else(|| format!("--phase: unknown phase `{p}`\n{USAGE}"))?;
                    if !args.phases.contains(&phase) {
                        args.phases.push(phase);
                    }
                }
            }
            "-h" | "--help" => return Err(USAGE.to_string()),
            _ => return Err(format!("unknown argument `{a}`\n{USAGE}")),
        }
    }
    if args.phases.is_empty() {
        args.phases = Phase::ALL.to_vec();
    }
    args.phases.sort_by_key(|p| p.index());
    Ok(args)
}

/// One engine's results for one workload.
enum Side {
    /// Samples per phase (indexed by `Phase::index`).
    Timed([Vec<Duration>; 3]),
    /// The output (or the run) was wrong: never timed.
    Wrong(String),
    /// Correct, but not timed because the other engine was wrong.
    NotTimed,
}

struct Row {
    name: String,
    kiln: Side,
    wasmtime: Side,
}

/// Times one run of the selected phases on `r`, adding to `samples`.
fn timed_run<R: Runner>(
    r: &R,
    bytes: &[u8],
    checked: &R::Module,
    w: &Workload,
    expected: &Expected,
    phases: &[Phase],
    samples: &mut [Vec<Duration>; 3],
) -> Result<(), String> {
    let fresh;
    let module = if phases.contains(&Phase::Compile) {
        let t = Instant::now();
        let m = r.compile(bytes);
        let took = t.elapsed();
        fresh = m?;
        samples[Phase::Compile.index()].push(took);
        &fresh
    } else {
        checked
    };
    if !phases.contains(&Phase::Instantiate) && !phases.contains(&Phase::Execute) {
        return Ok(());
    }
    let t = Instant::now();
    let run = r.instantiate(module, w);
    let took = t.elapsed();
    let run = run?;
    if phases.contains(&Phase::Instantiate) {
        samples[Phase::Instantiate.index()].push(took);
    }
    if phases.contains(&Phase::Execute) {
        let out = R::run(run)?;
        expected.check(&out)?;
        let region = out
            .region
            .ok_or("bench.start and bench.end were not both called")?;
        samples[Phase::Execute.index()].push(region);
    }
    Ok(())
}

/// Runs `w` once on each engine, checks the outputs, and if both are right times
/// `runs` alternating runs.
fn measure(kiln: &KilnHost, wt: &WasmtimeHost, w: &Workload, args: &Args) -> Row {
    let row = |kiln, wasmtime| Row {
        name: w.name.clone(),
        kiln,
        wasmtime,
    };
    let prepared = std::fs::read(&w.wasm)
        .map_err(|e| format!("cannot read {}: {e}", w.wasm.display()))
        .and_then(|bytes| {
            Expected::load(&w.wasm)
                .map(|e| (bytes, e))
                .map_err(|e| format!("cannot read the expected output: {e}"))
        });
    let (bytes, expected) = match prepared {
        Ok(p) => p,
        Err(e) => return row(Side::Wrong(e.clone()), Side::Wrong(e)),
    };
    let k = kiln_benches::run_checked(kiln, &bytes, w, &expected);
    let t = kiln_benches::run_checked(wt, &bytes, w, &expected);
    let (k_module, t_module) = match (k, t) {
        (Ok(k), Ok(t)) => (k, t),
        (k, t) => {
            let side = |r: Result<(), String>| match r {
                Ok(()) => Side::NotTimed,
                Err(e) => Side::Wrong(e),
            };
            return row(side(k.map(drop)), side(t.map(drop)));
        }
    };
    let mut ks: [Vec<Duration>; 3] = Default::default();
    let mut ts: [Vec<Duration>; 3] = Default::default();
    for run in 0..args.runs {
        let (k, t) = if run % 2 == 0 {
            let k = timed_run(kiln, &bytes, &k_module, w, &expected, &args.phases, &mut ks);
            let t = timed_run(wt, &bytes, &t_module, w, &expected, &args.phases, &mut ts);
            (k, t)
        } else {
            let t = timed_run(wt, &bytes, &t_module, w, &expected, &args.phases, &mut ts);
            let k = timed_run(kiln, &bytes, &k_module, w, &expected, &args.phases, &mut ks);
            (k, t)
        };
        if k.is_err() || t.is_err() {
            let side = |r: Result<(), String>| match r {
                Ok(()) => Side::NotTimed,
                Err(e) => Side::Wrong(format!("timed run {}: {e}", run + 1)),
            };
            return row(side(k), side(t));
        }
    }
    row(Side::Timed(ks), Side::Timed(ts))
}

/// The CPU model and the number of logical CPUs.
fn machine() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim())
        .to_string();
    let cpus = info.lines().filter(|l| l.starts_with("processor")).count();
    let cpus = if cpus > 0 {
        cpus
    } else {
        std::thread::available_parallelism().map_or(0, |n| n.get())
    };
    let usable = std::thread::available_parallelism().map_or(cpus, |n| n.get());
    if usable == cpus {
        format!("{model}, {cpus} cores")
    } else {
        format!("{model}, {cpus} cores ({usable} usable by this process)")
    }
}

/// Now, as `YYYY-MM-DD HH:MM UTC`.
fn date() -> String {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// `git rev-parse --short HEAD`, noting uncommitted changes to tracked files.
fn commit() -> String {
    let repo = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(rev) => match git(&["status", "--porcelain", "--untracked-files=no"]) {
            Some(s) if !s.is_empty() => format!("{rev} (with uncommitted changes)"),
            _ => rev,
        },
        None => "unknown (not a git checkout?)".into(),
    }
}

fn cell(side: &Side, phase: Phase) -> (String, Option<Duration>) {
    match side {
        Side::Timed(s) => {
            let mut xs = s[phase.index()].clone();
            if xs.is_empty() {
                ("–".into(), None)
            } else {
                let m = median(&mut xs);
                (fmt_duration(m), Some(m))
            }
        }
        Side::Wrong(_) => ("WRONG".into(), None),
        Side::NotTimed => ("not timed".into(), None),
    }
}

fn table(rows: &[Row], phase: Phase, runs: usize) {
    println!("## {}\n", phase.name());
    let what = if runs == 1 {
        "one run".to_string()
    } else {
        format!("median of {runs} runs")
    };
    println!("{}; {what}.\n", phase.describe());
    println!("| workload | Kiln median | Wasmtime median | Kiln/Wasmtime |");
    println!("| --- | ---: | ---: | ---: |");
    let mut ratios = Vec::new();
    let mut too_short = 0;
    for r in rows {
        let (k, kd) = cell(&r.kiln, phase);
        let (t, td) = cell(&r.wasmtime, phase);
        let ratio = match (kd, td) {
            (Some(k), Some(t)) if !t.is_zero() => {
                let x = k.as_secs_f64() / t.as_secs_f64();
                if phase == Phase::Execute && k.max(t) < MIN_REGION {
                    // What is timed is mostly the two bench host calls themselves.
                    too_short += 1;
                    println!(
                        "| {} (too short to time) | {} | {} | ({x:.2}) |",
                        r.name,
                        fmt_duration(k),
                        fmt_duration(t)
                    );
                    continue;
                }
                ratios.push(x);
                if x > THRESHOLD {
                    format!("**{x:.2}**")
                } else {
                    format!("{x:.2}")
                }
            }
            _ => "–".into(),
        };
        println!("| {} | {k} | {t} | {ratio} |", r.name);
    }
    if ratios.is_empty() {
        println!("| **geomean** | | | – |");
    } else {
        println!("| **geomean** | | | **{:.2}** |", geomean(&ratios));
    }
    let above = ratios.iter().filter(|&&x| x > THRESHOLD).count();
    println!(
        "\n{above} of {} timed workloads above {THRESHOLD} (Kiln more than 25% slower).\n",
        ratios.len()
    );
    if too_short > 0 {
        println!(
            "{too_short} workloads whose region is under {MIN_REGION:?} on both engines are \
             shown in parentheses and left out of the geomean: their time is mostly the \
             `bench.start`/`bench.end` host calls, not the program.\n"
        );
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut list = match all_workloads(None) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot list the workloads: {e}");
            return ExitCode::from(2);
        }
    };
    if !args.filters.is_empty() {
        list.retain(|w| args.filters.iter().any(|f| w.name.contains(f.as_str())));
    }
    if list.is_empty() {
        eprintln!(
            "no workload under {} matches the filter",
            workloads_dir().display()
        );
        return ExitCode::from(2);
    }
    let hosts = KilnHost::new(OptLevel::Speed).and_then(|k| Ok((k, WasmtimeHost::new()?)));
    let (kiln, wt) = match hosts {
        Ok(h) => h,
        Err(e) => {
            eprintln!("cannot set up the engines: {e}");
            return ExitCode::from(2);
        }
    };

    let phases: Vec<&str> = args.phases.iter().map(|p| p.name()).collect();
    println!("# Kiln vs Wasmtime {WASMTIME_VERSION}\n");
    println!("- machine: {}", machine());
    println!("- date: {}", date());
    println!("- commit: {}", commit());
    println!(
        "- settings: Kiln `OptLevel::Speed`, otherwise default `Config`; Wasmtime \
         {WASMTIME_VERSION} default `Config`; both with parallel compilation"
    );
    println!(
        "- method: {} run{} per workload alternating the engines, phases {}; outputs \
         checked before timing and on every timed run",
        args.runs,
        if args.runs == 1 { "" } else { "s" },
        phases.join(", ")
    );
    let dir = workloads_dir();
    let dir = dir.canonicalize().unwrap_or(dir);
    println!("- workloads: {} under {}", list.len(), dir.display());
    if let Some(load) = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
    {
        println!("- load average (1 min) at start: {load}");
    }
    println!();

    let started = Instant::now();
    let mut rows = Vec::with_capacity(list.len());
    for (i, w) in list.iter().enumerate() {
        let t = Instant::now();
        eprint!("[{}/{}] {} ... ", i + 1, list.len(), w.name);
        let row = measure(&kiln, &wt, w, &args);
        let state = match (&row.kiln, &row.wasmtime) {
            (Side::Timed(_), Side::Timed(_)) => "timed".to_string(),
            (k, t) => {
                let what = |s: &Side| match s {
                    Side::Wrong(_) => "WRONG",
                    _ => "ok",
                };
                format!("Kiln {}, Wasmtime {}: not timed", what(k), what(t))
            }
        };
        eprintln!("{state} ({:.1} s)", t.elapsed().as_secs_f64());
        rows.push(row);
    }

    for &p in &args.phases {
        table(&rows, p, args.runs);
    }
    let wrong: Vec<_> = rows
        .iter()
        .flat_map(|r| {
            [("Kiln", &r.kiln), ("Wasmtime", &r.wasmtime)]
                .into_iter()
                .filter_map(move |(e, s)| match s {
                    Side::Wrong(why) => Some((r.name.as_str(), e, why)),
                    _ => None,
                })
        })
        .collect();
    if !wrong.is_empty() {
        println!("## WRONG\n");
        for (name, engine, why) in &wrong {
            let why = why.replace('\n', " ");
            println!("- {name} on {engine}: {why}");
        }
        println!();
    }
    eprintln!("done in {:.1} s", started.elapsed().as_secs_f64());
    if wrong.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

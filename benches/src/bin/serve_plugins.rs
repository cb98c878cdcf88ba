//! The language plugins under `kiln serve` (issue 20's targets):
//!
//! ```text
//! plugins/fetch.sh
//! cargo build --release -p kiln-benches --bin serve_plugins --bin wasmtime_run
//! target/release/serve_plugins [--rounds 21] [--seconds 5] [--connections 4] [--workers 2]
//! ```
//! Installs the fetched plugins (unsigned, allowed here) into a temporary registry,
//! precompiling them, starts a server in this process (in-memory history), then:
//! - **python**: `rounds` times, alternately, a hello-world job through `POST
//!   /v1/execute` and the whole process `wasmtime_run run python.cwasm -c
//!   'print("hello")'` (this crate's stand-in for `wasmtime run --allow-precompiled`);
//!   medians and their ratio;
//! - **javascript** and **ruby** (both pre-initialized): hello world one request at a
//!   time (`rounds` × 10 and × 2), for the latency;
//! - **saturation**: each language closed loop for `seconds`, with the server's
//!   resident memory idle and at its peak (sampled every 10 ms), per running job.

#![forbid(unsafe_code)]

use kiln_benches::http::{percentile, resident_kib, start_server, Conn};
use kiln_serve::plugin::{PluginError, Registry, Trust};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Args {
    rounds: usize,
    seconds: u64,
    connections: usize,
    workers: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        rounds: 21,
        seconds: 5,
        connections: 4,
        workers: 2,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v: u64 = it
            .next()
            .ok_or(format!("{flag} needs a value"))?
            .parse()
            .map_err(|e| format!("{flag}: {e}"))?;
        match flag.as_str() {
            "--rounds" => a.rounds = v as usize,
            "--seconds" => a.seconds = v,
            "--connections" => a.connections = v as usize,
            "--workers" => a.workers = v as usize,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

/// A connection posting hello-world jobs.
trait Hello {
    fn hello(&mut self, addr: SocketAddr, body: &[u8]) -> Result<Duration, String>;
}

impl Hello for Conn {
    /// Posts `body` and checks that the job completed printing `hello`.
    fn hello(&mut self, addr: SocketAddr, body: &[u8]) -> Result<Duration, String> {
        let t = Instant::now();
        let (status, answer) = self
            .send(addr, "POST", "/v1/execute", body, None)
            .map_err(|e| e.to_string())?;
        let took = t.elapsed();
        let v: serde_json::Value = serde_json::from_slice(&answer).map_err(|e| e.to_string())?;
        if status != 200 || v["status"] != "completed" || v["stdout"] != "hello\n" {
            return Err(format!("{status}: {v}"));
        }
        Ok(took)
    }
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Closed loop on `n` connections for `seconds`: answers, p50, p99.
fn saturate(
    addr: SocketAddr,
    body: &[u8],
    n: usize,
    seconds: u64,
) -> (usize, Duration, Duration, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (stop, peak) = (stop.clone(), peak.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(resident_kib(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let until = Instant::now() + Duration::from_secs(seconds);
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let body = body.to_vec();
            std::thread::spawn(move || {
                let mut times = Vec::new();
                let Ok(mut c) = Conn::open(addr) else {
                    return times;
                };
                while Instant::now() < until {
                    match c.hello(addr, &body) {
                        Ok(t) => times.push(t),
                        Err(e) => {
                            eprintln!("error: {e}");
                            break;
                        }
                    }
                }
                times
            })
        })
        .collect();
    let mut all: Vec<Duration> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap_or_default())
        .collect();
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    all.sort();
    (
        all.len(),
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        peak.load(Ordering::Relaxed),
    )
}

fn main() -> Result<(), String> {
    let a = parse_args()?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/dist");
    let exe_dir = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .parent()
        .map(Path::to_path_buf)
        .ok_or("no directory for this executable")?;
    let wasmtime_run = exe_dir.join("wasmtime_run");
    if !wasmtime_run.exists() {
        return Err("build wasmtime_run too (--bin wasmtime_run)".into());
    }
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut config = kiln_serve::ServeConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        workers: a.workers,
        queue_depth: 256,
        database: ":memory:".into(),
        no_auth: true,
        cache_directory: Some(tmp.path().join("cache")),
        scratch_directory: tmp.path().join("scratch"),
        ..kiln_serve::ServeConfig::default()
    };
    config.plugins.directory = Some(tmp.path().join("registry"));
    config.plugins.allow_unsigned = true;
    let trust = Trust {
        keys: Vec::new(),
        allow_unsigned: true,
    };
    {
        let runner = kiln_serve::runner::Runner::new(&config).map_err(|e| e.0)?;
        for name in ["python", "javascript", "ruby"] {
            let dir = root.join(name);
            if !dir.join("plugin.toml").exists() {
                return Err(format!(
                    "{} is missing: run plugins/fetch.sh",
                    dir.display()
                ));
            }
            Registry::new(tmp.path().join("registry"))
                .install(&dir, &trust, |p, bytes| {
                    let m = runner
                        .compile_plugin(bytes)
                        .map_err(|e| PluginError::context("compile", e))?;
                    kiln_serve::plugin::registry::check_module(&p.manifest, &m)?;
                    if p.manifest.entry.preinitialize() {
                        let image = runner.preinitialize(p, bytes)?;
                        runner
                            .compile_plugin(&image)
                            .map_err(|e| PluginError::context("compile", e))?;
                    }
                    Ok(())
                })
                .map_err(|e| e.to_string())?;
        }
    }
    let cwasm: PathBuf = tmp.path().join("python.cwasm");
    let compiled = Command::new(&wasmtime_run)
        .arg("compile")
        .arg(root.join("python/python.wasm"))
        .arg(&cwasm)
        .status()
        .map_err(|e| e.to_string())?;
    if !compiled.success() {
        return Err("wasmtime_run compile failed".into());
    }
    let addr = start_server(config, Duration::from_secs(300))?;
    let python = serde_json::json!({"language": "python", "code": "print(\"hello\")"}).to_string();
    let js =
        serde_json::json!({"language": "javascript", "code": "console.log(\"hello\")"}).to_string();
    let ruby = serde_json::json!({"language": "ruby", "code": "puts \"hello\""}).to_string();
    let mut c = Conn::open(addr).map_err(|e| e.to_string())?;
    for _ in 0..3 {
        c.hello(addr, python.as_bytes())?;
        c.hello(addr, js.as_bytes())?;
        c.hello(addr, ruby.as_bytes())?;
    }
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_default();
    println!("workers {}, CPU {cpu}", a.workers);

    // Python: the service against Wasmtime's whole process, alternated.
    let (mut served, mut process) = (Vec::new(), Vec::new());
    for _ in 0..a.rounds {
        served.push(c.hello(addr, python.as_bytes())?);
        let t = Instant::now();
        let out = Command::new(&wasmtime_run)
            .arg("run")
            .arg(&cwasm)
            .arg("-c")
            .arg("print(\"hello\")")
            .output()
            .map_err(|e| e.to_string())?;
        process.push(t.elapsed());
        if out.stdout != b"hello\n" {
            return Err(format!(
                "wasmtime_run printed {:?}",
                String::from_utf8_lossy(&out.stdout)
            ));
        }
    }
    let (s, p) = (median(&mut served), median(&mut process));
    println!(
        "## python hello, {} rounds alternated\nkiln serve p50 {:.2} ms; wasmtime run python.cwasm p50 {:.2} ms; ratio {:.3}",
        a.rounds,
        ms(s),
        ms(p),
        s.as_secs_f64() / p.as_secs_f64()
    );

    // JavaScript: one at a time, then closed loop.
    let mut one: Vec<Duration> = (0..a.rounds * 10)
        .map(|_| c.hello(addr, js.as_bytes()))
        .collect::<Result<_, _>>()?;
    one.sort();
    println!(
        "## javascript hello, one request at a time ({})\np50 {:.2} ms, p99 {:.2} ms",
        one.len(),
        ms(percentile(&one, 0.5)),
        ms(percentile(&one, 0.99))
    );
    let mut one: Vec<Duration> = (0..a.rounds * 2)
        .map(|_| c.hello(addr, ruby.as_bytes()))
        .collect::<Result<_, _>>()?;
    one.sort();
    println!(
        "## ruby hello, one request at a time ({})\np50 {:.2} ms, p99 {:.2} ms",
        one.len(),
        ms(percentile(&one, 0.5)),
        ms(percentile(&one, 0.99))
    );
    drop(c);
    let idle = resident_kib();
    for (name, body) in [("javascript", &js), ("ruby", &ruby), ("python", &python)] {
        let (n, p50, p99, peak) = saturate(addr, body.as_bytes(), a.connections, a.seconds);
        println!(
            "## {name} at saturation: {} connections, {} s\n{n} answers, {:.0}/s; p50 {:.2} ms, p99 {:.2} ms; \
             resident memory {} MiB idle, {} MiB at peak: {:.1} MiB per running job ({} workers)",
            a.connections,
            a.seconds,
            n as f64 / a.seconds as f64,
            ms(p50),
            ms(p99),
            idle / 1024,
            peak / 1024,
            peak.saturating_sub(idle) as f64 / 1024.0 / a.workers as f64,
            a.workers
        );
    }
    Ok(())
}

//! A load generator for `kiln serve` (issue 19's targets):
//!
//! ```text
//! cargo run --release -p kiln-benches --bin serve_load -- \
//!     [--workers 2] [--queue 256] [--connections 16] [--seconds 10] [--rate R] [--burst 1000] \
//!     [--keys 0] [--cancels 0]
//! ```
//! Starts a server in this process on 127.0.0.1 (port 0; in-memory history) and posts
//! a WASI "hello world" command (`wasm`, base64) over keep-alive HTTP/1.1 connections:
//! - **sustained**: `connections` threads, each sending its next request when the last
//!   one is answered, or, with `--rate`, at that many requests per second in all
//!   (open loop: each connection's requests are scheduled, and a late answer's latency
//!   counts from when its request was due);
//! - **burst**: `burst` connections opened at once, one request each;
//! - **cancel**: `cancels` times, an asynchronous job that spins is started, and once
//!   it runs, `DELETE /v1/jobs/{id}` is timed until it answers with the stopped job.
//!
//! With `--keys N` the server has N API keys (limits high enough never to refuse) and
//! each connection authenticates with one of them, as a multi-tenant server would.
//!
//! Prints the latency percentiles, the throughput, the answers by status, and the
//! server's resident memory before and after.

#![forbid(unsafe_code)]

use base64::Engine as _;
use kiln_benches::http::{percentile, resident_kib, start_server, Conn};
use sha2::Digest as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const HELLO: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello, world\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 13))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#;

struct Args {
    workers: usize,
    queue: usize,
    connections: usize,
    seconds: u64,
    rate: Option<f64>,
    burst: usize,
    keys: usize,
    cancels: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        workers: 2,
        queue: 256,
        connections: 16,
        seconds: 10,
        rate: None,
        burst: 1000,
        keys: 0,
        cancels: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let n = || value.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--workers" => a.workers = n()? as usize,
            "--queue" => a.queue = n()? as usize,
            "--connections" => a.connections = n()? as usize,
            "--seconds" => a.seconds = n()?,
            "--rate" => a.rate = Some(value.parse().map_err(|e| format!("--rate: {e}"))?),
            "--burst" => a.burst = n()? as usize,
            "--keys" => a.keys = n()? as usize,
            "--cancels" => a.cancels = n()? as usize,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

/// A connection posting hello-world jobs.
trait Execute {
    fn execute(
        &mut self,
        addr: SocketAddr,
        body: &[u8],
        key: Option<&str>,
    ) -> std::io::Result<(u16, bool)>;
}

impl Execute for Conn {
    /// Posts `body` to `/v1/execute`; the status and whether stdout was right.
    fn execute(
        &mut self,
        addr: SocketAddr,
        body: &[u8],
        key: Option<&str>,
    ) -> std::io::Result<(u16, bool)> {
        let (status, body) = self.send(addr, "POST", "/v1/execute", body, key)?;
        let ok = status != 200 || body.windows(12).any(|w| w == b"hello, world");
        Ok((status, ok))
    }
}

/// The API key of connection `i` among `n` keys (none without keys).
fn key_of(i: usize, n: usize) -> Option<String> {
    (n > 0).then(|| format!("load-key-{}", i % n))
}

/// Answers by status, latencies, and wrong outputs, merged from all threads.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    statuses: std::collections::BTreeMap<u16, u64>,
    wrong: u64,
    errors: u64,
}

impl Tally {
    fn merge(&mut self, o: Tally) {
        self.latencies.extend(o.latencies);
        for (k, v) in o.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        self.wrong += o.wrong;
        self.errors += o.errors;
    }

    fn print(&mut self, title: &str, elapsed: Duration) {
        self.latencies.sort();
        let n = self.latencies.len();
        println!("## {title}");
        println!(
            "answers {n} in {:.2} s: {:.0}/s; by status {:?}; wrong output {}; connection errors {}",
            elapsed.as_secs_f64(),
            n as f64 / elapsed.as_secs_f64(),
            self.statuses,
            self.wrong,
            self.errors
        );
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "latency ms: p50 {:.2}, p90 {:.2}, p99 {:.2}, max {:.2}",
            ms(percentile(&self.latencies, 0.50)),
            ms(percentile(&self.latencies, 0.90)),
            ms(percentile(&self.latencies, 0.99)),
            ms(percentile(&self.latencies, 1.0)),
        );
    }
}

fn sustained(addr: SocketAddr, body: &[u8], a: &Args) -> Tally {
    let keys = a.keys;
    let until = Instant::now() + Duration::from_secs(a.seconds);
    let interval = a
        .rate
        .map(|r| Duration::from_secs_f64(a.connections as f64 / r));
    let threads: Vec<_> = (0..a.connections)
        .map(|i| {
            let body = body.to_vec();
            let key = key_of(i, keys);
            std::thread::spawn(move || {
                let mut t = Tally::default();
                let Ok(mut c) = Conn::open(addr) else {
                    t.errors += 1;
                    return t;
                };
                let start = Instant::now();
                // Spread the connections' schedules over one interval.
                let mut due = interval.map(|iv| start + iv.mul_f64(i as f64 / 64.0));
                while Instant::now() < until {
                    let sent = match due {
                        Some(d) => {
                            if let Some(wait) = d.checked_duration_since(Instant::now()) {
                                std::thread::sleep(wait);
                            }
                            d
                        }
                        None => Instant::now(),
                    };
                    match c.execute(addr, &body, key.as_deref()) {
                        Ok((status, ok)) => {
                            t.latencies.push(sent.elapsed());
                            *t.statuses.entry(status).or_default() += 1;
                            t.wrong += u64::from(!ok);
                        }
                        Err(_) => {
                            t.errors += 1;
                            match Conn::open(addr) {
                                Ok(n) => c = n,
                                Err(_) => return t,
                            }
                        }
                    }
                    if let (Some(d), Some(iv)) = (due.as_mut(), interval) {
                        *d += iv;
                    }
                }
                t
            })
        })
        .collect();
    let mut all = Tally::default();
    for t in threads {
        if let Ok(t) = t.join() {
            all.merge(t);
        }
    }
    all
}

fn burst(addr: SocketAddr, body: &[u8], n: usize, keys: usize) -> Tally {
    // Open every connection first, then send on all at once.
    let conns: Vec<_> = (0..n).map(|_| Conn::open(addr)).collect();
    let go = std::sync::Arc::new(std::sync::Barrier::new(n + 1));
    let threads: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let (body, go, key) = (body.to_vec(), go.clone(), key_of(i, keys));
            std::thread::Builder::new()
                .stack_size(64 << 10)
                .spawn(move || {
                    let mut t = Tally::default();
                    go.wait();
                    let start = Instant::now();
                    match c.and_then(|mut c| c.execute(addr, &body, key.as_deref())) {
                        Ok((status, ok)) => {
                            t.latencies.push(start.elapsed());
                            *t.statuses.entry(status).or_default() += 1;
                            t.wrong += u64::from(!ok);
                        }
                        Err(_) => t.errors += 1,
                    }
                    t
                })
        })
        .collect::<Result<_, _>>()
        .unwrap_or_default();
    go.wait();
    let mut all = Tally::default();
    for t in threads {
        if let Ok(t) = t.join() {
            all.merge(t);
        }
    }
    all
}

/// Starts `n` spinning jobs one after the other and times each one's cancellation.
fn cancel_latency(addr: SocketAddr, n: usize, key: Option<&str>) -> Result<(), String> {
    let spin = serde_json::json!({
        "language": "wat", "async": true, "timeout_ms": 10_000,
        "code": r#"(module (func (export "_start") (loop (br 0))))"#,
    })
    .to_string();
    let mut c = Conn::open(addr).map_err(|e| e.to_string())?;
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let (status, body) = c
            .send(addr, "POST", "/v1/execute", spin.as_bytes(), key)
            .map_err(|e| e.to_string())?;
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        let id = v["job_id"]
            .as_str()
            .ok_or(format!("{status}: {v}"))?
            .to_string();
        let path = format!("/v1/jobs/{id}");
        loop {
            let (_, body) = c
                .send(addr, "GET", &path, b"", key)
                .map_err(|e| e.to_string())?;
            let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
            if v["status"] == "running" {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        // Let it spin a little, then cancel.
        std::thread::sleep(Duration::from_millis(20));
        let sent = Instant::now();
        let (status, body) = c
            .send(addr, "DELETE", &path, b"", key)
            .map_err(|e| e.to_string())?;
        let took = sent.elapsed();
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        if status != 200 || v["status"] != "cancelled" {
            return Err(format!("cancel answered {status}: {v}"));
        }
        times.push(took);
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("## cancel ({n} running jobs, DELETE until the stopped job's answer)");
    println!(
        "latency ms: p50 {:.2}, p90 {:.2}, p99 {:.2}, max {:.2}",
        ms(percentile(&times, 0.50)),
        ms(percentile(&times, 0.90)),
        ms(percentile(&times, 0.99)),
        ms(percentile(&times, 1.0)),
    );
    Ok(())
}

fn main() -> Result<(), String> {
    let a = parse_args()?;
    let wasm = wat::parse_str(HELLO).map_err(|e| e.to_string())?;
    let body = serde_json::json!({
        "language": "wasm",
        "code": base64::engine::general_purpose::STANDARD.encode(&wasm),
    })
    .to_string()
    .into_bytes();
    let keys = (0..a.keys)
        .map(|i| {
            let secret = key_of(i, a.keys).unwrap_or_default();
            kiln_serve::ApiKey {
                id: format!("tenant-{i}"),
                sha256: sha2::Sha256::digest(secret.as_bytes()).into(),
                requests_per_second: 1_000_000,
                burst: 1_000_000,
                max_concurrent: 100_000,
                max: kiln_serve::JobLimits::MAX,
            }
        })
        .collect::<Vec<_>>();
    let config = kiln_serve::ServeConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        workers: a.workers,
        queue_depth: a.queue,
        database: ":memory:".into(),
        no_auth: keys.is_empty(),
        keys,
        ..kiln_serve::ServeConfig::default()
    };
    let addr = start_server(config, Duration::from_secs(60))?;
    // Warm the code cache and the workers.
    let mut c = Conn::open(addr).map_err(|e| e.to_string())?;
    let key0 = key_of(0, a.keys);
    for _ in 0..20 {
        c.execute(addr, &body, key0.as_deref())
            .map_err(|e| e.to_string())?;
    }
    drop(c);
    let rss_before = resident_kib();
    println!(
        "workers {}, queue depth {}, connections {}, API keys {}, {} s{}; CPU: {}",
        a.workers,
        a.queue,
        a.connections,
        a.keys,
        a.seconds,
        a.rate
            .map_or(String::new(), |r| format!(", {r} requests/s offered")),
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| s
                .lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string()))
            .unwrap_or_default()
    );
    let started = Instant::now();
    let mut t = sustained(addr, &body, &a);
    t.print("sustained", started.elapsed());
    if a.burst > 0 {
        let started = Instant::now();
        let mut t = burst(addr, &body, a.burst, a.keys);
        t.print(
            &format!("burst of {} connections", a.burst),
            started.elapsed(),
        );
    }
    if a.cancels > 0 {
        cancel_latency(addr, a.cancels, key0.as_deref())?;
    }
    println!(
        "resident memory: {} KiB before the load, {} KiB after",
        rss_before,
        resident_kib()
    );
    Ok(())
}

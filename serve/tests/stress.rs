//! Stress: 1,000 concurrent requests against a pool of 4 workers. Every one is
//! answered, with its own result or `503`/`429`; none is lost or answered twice (the
//! finished-job counter equals the results); the server's resident memory stays
//! bounded (printed: run with `--nocapture` to see it).

mod common;

use common::{config, request, TestServer, ECHO};
use serde_json::json;
use std::collections::HashSet;
use std::sync::{Arc, Barrier};

/// This process's resident memory, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

#[test]
fn a_thousand_concurrent_requests_are_each_answered_once() {
    const N: usize = 1000;
    let mut c = config(None);
    c.workers = 4;
    c.queue_depth = 256;
    let server = TestServer::start(c);
    // Warm the code cache and the allocator before measuring.
    let warm = json!({"language": "wat", "code": ECHO, "stdin": "warm"});
    assert_eq!(server.execute(&warm).1["stdout"], "warm");
    let before = rss_kib();
    let addr = server.addr;
    let start = Arc::new(Barrier::new(N));
    let clients: Vec<_> = (0..N)
        .map(|i| {
            let start = start.clone();
            std::thread::Builder::new()
                .stack_size(256 << 10)
                .spawn(move || {
                    let body =
                        json!({"language": "wat", "code": ECHO, "stdin": format!("request {i}")})
                            .to_string();
                    start.wait();
                    request(addr, "POST", "/v1/execute", Some(body.as_bytes()), None)
                })
                .expect("a client thread")
        })
        .collect();
    let answers: Vec<_> = clients
        .into_iter()
        .map(|c| c.join().expect("a client"))
        .collect();
    let after = rss_kib();
    let mut ids = HashSet::new();
    let (mut ran, mut refused) = (0, 0);
    for (i, r) in answers.iter().enumerate() {
        match r.status {
            200 => {
                let v = r.json();
                assert_eq!(v["status"], "completed", "{v}");
                assert_eq!(
                    v["stdout"],
                    format!("request {i}"),
                    "each gets its own result"
                );
                assert!(
                    ids.insert(v["job_id"].as_str().expect("id").to_string()),
                    "an id twice"
                );
                ran += 1;
            }
            429 | 503 => {
                assert!(r.header("retry-after").is_some(), "{}", r.status);
                refused += 1;
            }
            other => panic!(
                "request {i}: {other} {:?}",
                String::from_utf8_lossy(&r.body)
            ),
        }
    }
    assert_eq!(ran + refused, N);
    // Every job that ran was counted once, and nothing else was.
    let metrics = String::from_utf8(server.request("GET", "/metrics", None).body).expect("text");
    let line = format!(
        r#"kiln_jobs_total{{status="completed",language="wat"}} {}"#,
        ran + 1
    );
    assert!(
        metrics.lines().any(|l| l == line),
        "no `{line}` in:\n{metrics}"
    );
    let refusals = format!(r#"kiln_requests_refused_total{{reason="queue_full"}} {refused}"#);
    assert!(
        refused == 0 || metrics.lines().any(|l| l == refusals),
        "{metrics}"
    );
    // A sample of the results is in the history.
    for id in ids.iter().take(20) {
        assert_eq!(
            server.get(&format!("/v1/jobs/{id}")).1["status"],
            "completed"
        );
    }
    println!(
        "stress: {N} concurrent requests, 4 workers, queue 256: {ran} ran, {refused} refused; \
         resident memory {} MiB before, {} MiB after",
        before / 1024,
        after / 1024
    );
    assert!(
        after < before + (512 << 10),
        "resident memory grew from {before} to {after} KiB"
    );
    assert_eq!(server.get("/readyz").0, 200);
}

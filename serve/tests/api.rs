//! The API contract over real HTTP, and hostile jobs: each with its expected status,
//! and the server still healthy afterwards.

mod common;

use base64::Engine as _;
use common::{config, printing, TestServer};
use serde_json::json;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn a_program_runs_and_its_job_stays_in_the_history() {
    let server = TestServer::start(config(None));
    let (status, r) = server.execute(&json!({"language": "wat", "code": printing("hello", 0)}));
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["status"], "completed", "{r}");
    assert_eq!(r["stdout"], "hello");
    assert_eq!(r["exit_code"], 0);
    assert_eq!(r["truncated"], false);
    assert_eq!(r["limits_hit"], json!([]));
    let id = r["job_id"].as_str().expect("an id").to_string();
    assert_eq!(id.len(), 32);
    let (status, again) = server.get(&format!("/v1/jobs/{id}"));
    assert_eq!(status, 200);
    assert_eq!(again, r);
    // The same module as base64 binary, and as a file.
    let wasm = wat_to_wasm(&printing("hi", 0));
    let (_, r) = server.execute(&json!({"language": "wasm", "code": b64(&wasm)}));
    assert_eq!(
        (r["status"].as_str(), r["stdout"].as_str()),
        (Some("completed"), Some("hi"))
    );
    let file = json!({"name": "main.wasm", "content": b64(&wasm), "encoding": "base64"});
    let (_, r) = server.execute(&json!({"language": "wasm", "files": [file]}));
    assert_eq!(r["stdout"], "hi", "{r}");
    // A non-zero exit is a failure with its code.
    let (_, r) = server.execute(&json!({"language": "wat", "code": printing("bye", 3)}));
    assert_eq!(
        (r["status"].as_str(), r["exit_code"].as_i64()),
        (Some("failed"), Some(3))
    );
    assert_eq!(r["stdout"], "bye");
}

fn wat_to_wasm(text: &str) -> Vec<u8> {
    wat::parse_str(text).expect("valid text")
}

#[test]
fn arguments_environment_and_stdin_reach_the_guest() {
    let server = TestServer::start(config(None));
    // Echoes stdin to stdout, and exits with argc * 10 + the number of variables.
    let wat = r#"(module
      (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "args_sizes_get" (func $args (param i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "environ_sizes_get" (func $envs (param i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (func (export "_start")
        (i32.store (i32.const 0) (i32.const 64))
        (i32.store (i32.const 4) (i32.const 100))
        (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
        (i32.store (i32.const 4) (i32.load (i32.const 8)))
        (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
        (drop (call $args (i32.const 16) (i32.const 20)))
        (drop (call $envs (i32.const 24) (i32.const 28)))
        (call $exit (i32.add (i32.mul (i32.load (i32.const 16)) (i32.const 10))
                             (i32.load (i32.const 24))))))"#;
    let (_, r) = server.execute(&json!({
        "language": "wat", "code": wat, "stdin": "from stdin",
        "args": ["a", "b"], "env": {"X": "1", "Y": "2", "Z": "3"}
    }));
    assert_eq!(r["stdout"], "from stdin", "{r}");
    assert_eq!(r["exit_code"], 33, "{r}");
}

#[test]
fn hostile_jobs_end_with_their_status_and_the_server_stays_healthy() {
    let mut c = config(None);
    c.max.timeout_ms = 3_000;
    c.max.fuel = Some(1 << 62);
    c.defaults.output_bytes = 1000;
    let server = TestServer::start(c);
    let cases = [
        // A CPU bomb.
        (
            r#"(module (func (export "_start") (loop (br 0))))"#,
            json!({"timeout_ms": 300}),
            "timeout",
            Some("time"),
        ),
        // A CPU bomb with a fuel budget.
        (
            r#"(module (func (export "_start") (loop (br 0))))"#,
            json!({"fuel": 100_000}),
            "fuel_exhausted",
            Some("fuel"),
        ),
        // A memory bomb: grow until refused, then trap.
        (
            r#"(module (memory (export "memory") 1)
                (func (export "_start")
                  (loop (br_if 0 (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
                  unreachable))"#,
            json!({"memory_limit_mb": 8}),
            "memory_limit",
            Some("memory"),
        ),
        // A memory bomb that declares more than the limit up front.
        (
            r#"(module (memory (export "memory") 1000) (func (export "_start")))"#,
            json!({"memory_limit_mb": 8}),
            "memory_limit",
            Some("memory"),
        ),
        // A stack bomb.
        (
            r#"(module (func $f (export "_start") (call $f)))"#,
            json!({}),
            "failed",
            Some("stack"),
        ),
        // A trap.
        (
            r#"(module (func (export "_start") unreachable))"#,
            json!({}),
            "failed",
            None,
        ),
        // A module importing what does not exist.
        (
            r#"(module (import "env" "launch" (func)) (func (export "_start")))"#,
            json!({}),
            "error",
            None,
        ),
        // An invalid module.
        (
            r#"(module (func (export "_start") (i32.add)))"#,
            json!({}),
            "error",
            None,
        ),
        // Not even text.
        ("(module", json!({}), "error", None),
    ];
    for (wat, extra, want, limit) in cases {
        let mut req = json!({"language": "wat", "code": wat});
        for (k, v) in extra.as_object().expect("object") {
            req[k] = v.clone();
        }
        let (status, r) = server.execute(&req);
        assert_eq!(status, 200, "{wat}: {r}");
        assert_eq!(r["status"], want, "{wat}: {r}");
        if let Some(limit) = limit {
            assert_eq!(r["limits_hit"], json!([limit]), "{wat}: {r}");
        }
        if want == "error" || want == "failed" {
            assert!(
                r["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{wat}: {r}"
            );
        }
        assert_eq!(server.get("/healthz").0, 200);
    }
    // A malformed binary.
    let (_, r) =
        server.execute(&json!({"language": "wasm", "code": b64(b"\0asm\x01\0\0\0\x05garbage")}));
    assert_eq!(r["status"], "error", "{r}");
    // Huge output is cut at the output limit, and says so.
    let wat = r#"(module
      (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "_start") (local $i i32)
        (i32.store (i32.const 0) (i32.const 0))
        (i32.store (i32.const 4) (i32.const 4096))
        (loop
          (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if 0 (i32.lt_u (local.get $i) (i32.const 10000))))))"#;
    let (_, r) = server.execute(&json!({"language": "wat", "code": wat}));
    assert_eq!(r["status"], "completed", "{r}");
    assert_eq!(r["truncated"], true);
    assert_eq!(r["stdout"].as_str().map(str::len), Some(1000));
    // Limits are clamped to the server's maxima: a 60 s request gets 3 s.
    let (_, r) = server.execute(&json!({"language": "wat", "timeout_ms": 60_000,
        "code": r#"(module (func (export "_start") (loop (br 0))))"#}));
    assert_eq!(r["status"], "timeout");
    let ms = r["duration_ms"].as_u64().expect("duration");
    assert!((3_000..30_000).contains(&ms), "{ms} ms");
    assert_eq!(server.get("/readyz").0, 200);
}

#[test]
fn bad_requests_get_clear_errors() {
    let mut c = config(None);
    c.max_request_bytes = 64 << 10;
    let server = TestServer::start(c);
    let bad = |body: &[u8], want: u16, part: &str| {
        let r = server.request("POST", "/v1/execute", Some(body));
        assert_eq!(r.status, want, "{:?}", String::from_utf8_lossy(&r.body));
        let msg = r.json()["error"]
            .as_str()
            .expect("an error message")
            .to_string();
        assert!(msg.contains(part), "{msg:?} lacks {part:?}");
    };
    bad(b"{not json", 400, "");
    bad(br#"{"language": "wat"}"#, 400, "`code` or as `files`");
    bad(
        br#"{"language": "cobol", "code": "x"}"#,
        400,
        "the languages are: wasm, wat",
    );
    bad(
        br#"{"language": "wat", "code": "x", "colour": 1}"#,
        422,
        "unknown field",
    );
    bad(br#"{"language": "wasm", "code": "!!!"}"#, 400, "not base64");
    let big = json!({"language": "wat", "code": "x".repeat(100 << 10)}).to_string();
    bad(big.as_bytes(), 413, "larger than the server accepts");
    let (status, r) = server.get("/v1/jobs/0123456789abcdef0123456789abcdef");
    assert_eq!(status, 404, "{r}");
    let (status, _) = server.get("/v1/nothing");
    assert_eq!(status, 404);
    let (status, r) = server.get("/v1/languages");
    assert_eq!(status, 200);
    let names: Vec<_> = r["languages"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|l| l["name"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(names, ["wasm", "wat"]);
    assert_eq!(server.get("/healthz").0, 200);
}

#[test]
fn a_full_queue_answers_503_with_retry_after() {
    let mut c = config(None);
    c.workers = 1;
    c.queue_depth = 0;
    let server = std::sync::Arc::new(TestServer::start(c));
    let spin = json!({"language": "wat", "timeout_ms": 1500,
        "code": r#"(module (func (export "_start") (loop (br 0))))"#});
    let busy = {
        let (server, spin) = (server.clone(), spin.clone());
        std::thread::spawn(move || server.execute(&spin))
    };
    // Wait until the worker runs it.
    let started = std::time::Instant::now();
    while server.get("/readyz").1["running"] != 1 {
        assert!(started.elapsed().as_secs() < 60, "the job never started");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let r = server.request("POST", "/v1/execute", Some(spin.to_string().as_bytes()));
    assert_eq!(r.status, 503, "{:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("retry-after"), Some("1"));
    let (status, first) = busy.join().expect("the first request");
    assert_eq!((status, first["status"].as_str()), (200, Some("timeout")));
}

#[test]
fn jobs_a_stopped_server_left_running_are_lost_never_dropped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("history.db");
    {
        // A previous process accepted two jobs and died while one ran.
        let (h, lost) = kiln_serve::history::History::open(&db, 100).expect("history");
        assert_eq!(lost, 0);
        h.accept("aa", "wat", "{}", None).expect("accept");
        h.accept("bb", "wat", "{}", None).expect("accept");
        h.start("bb").expect("start");
    }
    let server = TestServer::start(config(Some(&db)));
    for id in ["aa", "bb"] {
        let (status, r) = server.get(&format!("/v1/jobs/{id}"));
        assert_eq!(status, 200);
        assert_eq!(r["status"], "lost", "{r}");
    }
    // Finished jobs answer after a restart too.
    let (_, r) = server.execute(&json!({"language": "wat", "code": printing("kept", 0)}));
    let id = r["job_id"].as_str().expect("id").to_string();
    drop(server);
    let server = TestServer::start(config(Some(&db)));
    let (_, again) = server.get(&format!("/v1/jobs/{id}"));
    assert_eq!(again, r);
}

#[test]
fn metrics_count_jobs_limits_and_refusals() {
    let server = TestServer::start(config(None));
    for _ in 0..2 {
        server.execute(&json!({"language": "wat", "code": printing("m", 0)}));
    }
    server.execute(&json!({"language": "wat", "timeout_ms": 100,
        "code": r#"(module (func (export "_start") (loop (br 0))))"#}));
    let r = server.request("GET", "/metrics", None);
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/openmetrics-text")));
    let text = String::from_utf8(r.body).expect("UTF-8");
    for line in [
        r#"kiln_jobs_total{status="completed",language="wat"} 2"#,
        r#"kiln_jobs_total{status="timeout",language="wat"} 1"#,
        r#"kiln_limit_hits_total{limit="time"} 1"#,
        "kiln_job_duration_seconds_count 3",
        "kiln_jobs_queued 0",
        "kiln_jobs_running 0",
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
    }
}

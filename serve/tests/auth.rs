//! Tenants over real HTTP: keys known by their SHA-256, `401` without one, each key's
//! jobs invisible to the others, rate limits and quotas answered with `429` and
//! `Retry-After`, and each key's own maxima.

mod common;

use common::{config, printing, TestServer};
use kiln_serve::{ApiKey, JobLimits};
use serde_json::json;
use sha2::{Digest, Sha256};

fn key(id: &str, secret: &str, per_second: u32, burst: u32, concurrent: usize) -> ApiKey {
    ApiKey {
        id: id.into(),
        sha256: Sha256::digest(secret.as_bytes()).into(),
        requests_per_second: per_second,
        burst,
        max_concurrent: concurrent,
        max: JobLimits::MAX,
    }
}

fn server(keys: Vec<ApiKey>) -> TestServer {
    let mut c = config(None);
    c.no_auth = false;
    c.keys = keys;
    TestServer::start(c)
}

fn post(s: &TestServer, key: &str, body: &serde_json::Value) -> common::Response {
    s.request_as(
        key,
        "POST",
        "/v1/execute",
        Some(body.to_string().as_bytes()),
    )
}

#[test]
fn keys_authenticate_and_see_only_their_own_jobs() {
    let s = server(vec![
        key("alice", "a-secret", 100, 100, 4),
        key("bob", "b-secret", 100, 100, 4),
    ]);
    let hello = json!({"language": "wat", "code": printing("hi", 0)});
    // No key, a malformed header, a wrong key.
    let r = s.request("POST", "/v1/execute", Some(hello.to_string().as_bytes()));
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    assert!(r.json()["error"]
        .as_str()
        .unwrap_or_default()
        .contains("Authorization"));
    assert_eq!(post(&s, "nope", &hello).status, 401);
    assert_eq!(
        s.request_as("a-secret ", "GET", "/v1/jobs/x", None).status,
        404
    );
    // Public routes need no key.
    assert_eq!(s.get("/healthz").0, 200);
    assert_eq!(s.get("/v1/languages").0, 200);
    let r = post(&s, "a-secret", &hello);
    assert_eq!(r.status, 200);
    let id = r.json()["job_id"].as_str().expect("id").to_string();
    let path = format!("/v1/jobs/{id}");
    assert_eq!(s.request_as("a-secret", "GET", &path, None).status, 200);
    // Another key's job is not there; without a key, nothing is.
    assert_eq!(s.request_as("b-secret", "GET", &path, None).status, 404);
    assert_eq!(s.request_as("b-secret", "DELETE", &path, None).status, 404);
    let events = format!("{path}/events");
    assert_eq!(
        common::Events::open(s.addr, &events, Some("b-secret")).status,
        404
    );
    assert_eq!(
        common::Events::open(s.addr, &events, Some("a-secret")).status,
        200
    );
    // A job in flight is just as hidden.
    let spin = json!({"language": "wat", "async": true, "timeout_ms": 10_000,
        "code": common::printing_then_spinning("x")});
    let r = post(&s, "a-secret", &spin);
    assert_eq!(r.status, 202);
    let running = format!("/v1/jobs/{}", r.json()["job_id"].as_str().expect("id"));
    assert_eq!(s.request_as("b-secret", "GET", &running, None).status, 404);
    assert_eq!(
        s.request_as("b-secret", "DELETE", &running, None).status,
        404
    );
    assert_eq!(
        s.request_as("a-secret", "DELETE", &running, None).status,
        200
    );
    assert_eq!(s.request("GET", &path, None).status, 401);
    assert_eq!(refused(&s, "unauthorized"), 3);
}

/// `kiln_requests_refused_total{reason}` from `/metrics`.
fn refused(s: &TestServer, reason: &str) -> u64 {
    let text = String::from_utf8(s.request("GET", "/metrics", None).body).expect("UTF-8");
    let prefix = format!("kiln_requests_refused_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_key_past_its_rate_gets_429_with_retry_after() {
    let s = server(vec![
        key("slow", "s", 1, 2, 4),
        key("other", "o", 100, 100, 4),
    ]);
    let hello = json!({"language": "wat", "code": printing("hi", 0)});
    assert_eq!(post(&s, "s", &hello).status, 200);
    assert_eq!(post(&s, "s", &hello).status, 200);
    let r = post(&s, "s", &hello);
    assert_eq!(r.status, 429, "{:?}", String::from_utf8_lossy(&r.body));
    assert!(r
        .header("retry-after")
        .is_some_and(|v| v.parse::<u32>().is_ok_and(|n| n >= 1)));
    // Another key is not affected.
    assert_eq!(post(&s, "o", &hello).status, 200);
    assert_eq!(refused(&s, "rate_limit"), 1);
}

#[test]
fn a_key_past_its_quota_gets_429_and_its_limits_are_its_own() {
    let mut tight = key("tight", "t", 100, 100, 1);
    tight.max.timeout_ms = 2000;
    let s = std::sync::Arc::new(server(vec![tight]));
    let spin = json!({"language": "wat", "timeout_ms": 5000,
        "code": r#"(module (func (export "_start") (loop (br 0))))"#});
    let busy = {
        let (s, spin) = (s.clone(), spin.clone());
        std::thread::spawn(move || post(&s, "t", &spin))
    };
    let started = std::time::Instant::now();
    while s.get("/readyz").1["running"] != 1 {
        assert!(started.elapsed().as_secs() < 60, "the job never started");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    // The first job runs for 2 s: a second one is over the quota of one.
    let r = post(&s, "t", &spin);
    assert_eq!(r.status, 429, "{:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(r.json()["error"]
        .as_str()
        .unwrap_or_default()
        .contains("quota"));
    assert_eq!(refused(&s, "quota"), 1);
    let first = busy.join().expect("first").json();
    // The key's maximum (2 s), not the 5 s asked for.
    assert_eq!(first["status"], "timeout");
    let ms = first["duration_ms"].as_u64().expect("duration");
    assert!((2000..4900).contains(&ms), "{ms} ms");
    // Its slot is free again.
    let hello = json!({"language": "wat", "code": printing("hi", 0)});
    assert_eq!(post(&s, "t", &hello).status, 200);
}

//! Asynchronous jobs over real HTTP: `202` and polling, the event stream while a job
//! runs, and cancellation of running and queued jobs.

mod common;

use common::{config, eventually, printing, printing_then_spinning, Events, TestServer};
use serde_json::json;

fn post_async(server: &TestServer, code: &str, timeout_ms: u64) -> String {
    let req = json!({"language": "wat", "code": code, "async": true, "timeout_ms": timeout_ms});
    let (status, r) = server.execute(&req);
    assert_eq!(status, 202, "{r}");
    assert_eq!(r["status"], "queued", "{r}");
    r["job_id"].as_str().expect("an id").to_string()
}

fn status_of(server: &TestServer, id: &str) -> String {
    let (status, r) = server.get(&format!("/v1/jobs/{id}"));
    assert_eq!(status, 200, "{r}");
    r["status"].as_str().expect("a status").to_string()
}

#[test]
fn an_async_job_answers_202_and_is_polled_to_its_result() {
    let server = TestServer::start(config(None));
    let id = post_async(&server, &printing("later", 0), 5_000);
    eventually("the job finishes", || {
        status_of(&server, &id) == "completed"
    });
    let (_, r) = server.get(&format!("/v1/jobs/{id}"));
    assert_eq!(r["stdout"], "later", "{r}");
    // A finished job's events are its output and its result.
    let mut events = Events::open(server.addr, &format!("/v1/jobs/{id}/events"), None);
    assert_eq!(events.status, 200);
    assert_eq!(
        events.next(),
        Some(("stdout".to_string(), json!({"text": "later"})))
    );
    let (name, result) = events.next().expect("the result");
    assert_eq!((name.as_str(), &result), ("result", &r));
    assert_eq!(events.next(), None, "the stream ends with the result");
}

#[test]
fn events_stream_output_while_the_job_runs_and_cancelling_stops_it() {
    let server = TestServer::start(config(None));
    let id = post_async(&server, &printing_then_spinning("tick"), 10_000);
    let mut events = Events::open(server.addr, &format!("/v1/jobs/{id}/events"), None);
    assert_eq!(events.status, 200);
    // Status events up to `running`, then the output, while the job still spins.
    let mut seen = Vec::new();
    let text = loop {
        let (name, data) = events.next().expect("an event before the end");
        match name.as_str() {
            "status" => seen.push(data["status"].as_str().unwrap_or_default().to_string()),
            "stdout" => break data["text"].as_str().unwrap_or_default().to_string(),
            other => panic!("unexpected event `{other}`: {data}"),
        }
    };
    assert_eq!(text, "tick");
    assert_eq!(seen.last().map(String::as_str), Some("running"), "{seen:?}");
    let (status, polled) = server.get(&format!("/v1/jobs/{id}"));
    assert_eq!(status, 200);
    assert_eq!(
        (polled["status"].as_str(), polled["stdout"].as_str()),
        (Some("running"), Some("tick"))
    );
    // Cancelling answers with the stopped job; the stream ends with the same result.
    let r = server.request("DELETE", &format!("/v1/jobs/{id}"), None);
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    let cancelled = r.json();
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert_eq!(cancelled["stdout"], "tick");
    assert_eq!(cancelled["error"], "cancelled by the client");
    let (name, result) = events.next().expect("the result");
    assert_eq!((name.as_str(), &result), ("result", &cancelled));
    assert_eq!(events.next(), None);
    assert_eq!(server.get(&format!("/v1/jobs/{id}")).1, cancelled);
    // It is over: a second cancellation is a conflict.
    let r = server.request("DELETE", &format!("/v1/jobs/{id}"), None);
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["status"], "cancelled");
    // The server goes on.
    let (_, r) = server.execute(&json!({"language": "wat", "code": printing("after", 0)}));
    assert_eq!(r["stdout"], "after");
    let metrics = String::from_utf8(server.request("GET", "/metrics", None).body).expect("text");
    assert!(
        metrics.contains(r#"kiln_jobs_total{status="cancelled",language="wat"} 1"#),
        "{metrics}"
    );
}

#[test]
fn a_queued_job_is_cancelled_without_running() {
    let mut c = config(None);
    c.workers = 1;
    let server = TestServer::start(c);
    let first = post_async(&server, &printing_then_spinning("first"), 10_000);
    eventually("the first job runs", || {
        status_of(&server, &first) == "running"
    });
    let second = post_async(&server, &printing("never", 0), 10_000);
    assert_eq!(status_of(&server, &second), "queued");
    let r = server.request("DELETE", &format!("/v1/jobs/{second}"), None);
    assert_eq!(r.status, 200);
    let r = r.json();
    assert_eq!(
        (r["status"].as_str(), r["stdout"].as_str()),
        (Some("cancelled"), Some(""))
    );
    // The worker skips it: once the first job is cancelled, the second never runs.
    let r = server.request("DELETE", &format!("/v1/jobs/{first}"), None);
    assert_eq!(r.json()["status"], "cancelled");
    let (_, after) = server.execute(&json!({"language": "wat", "code": printing("third", 0)}));
    assert_eq!(after["stdout"], "third");
    let (_, second) = server.get(&format!("/v1/jobs/{second}"));
    assert_eq!(
        (second["status"].as_str(), second["stdout"].as_str()),
        (Some("cancelled"), Some(""))
    );
    // Unknown jobs: 404 for each verb.
    let none = "/v1/jobs/00000000000000000000000000000000";
    assert_eq!(server.request("DELETE", none, None).status, 404);
    assert_eq!(
        Events::open(server.addr, &format!("{none}/events"), None).status,
        404
    );
}

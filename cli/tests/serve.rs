//! `kiln serve` as a real process: a `SIGTERM` while jobs run (they get the grace
//! period, then are cancelled and recorded; the process exits cleanly), a `SIGKILL`
//! (after a restart its jobs are `lost`, and its scratch directories are removed), and
//! the audit log it writes as JSON lines.

#[path = "../../serve/tests/common/mod.rs"]
mod common;

use common::{eventually, printing, printing_then_spinning, request, Response};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A key and the SHA-256 of it, for the configuration.
const KEY: &str = "process-test-key";

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A server process and where it listens.
struct Server {
    child: Child,
    addr: SocketAddr,
}

/// The files a server uses, in one temporary directory.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = format!(
            "listen = \"127.0.0.1:0\"\nworkers = 2\nshutdown_grace_ms = 300\n\
             [[keys]]\nid = \"tester\"\nsha256 = \"{}\"\n",
            sha256_hex(KEY)
        );
        std::fs::write(dir.path().join("serve.toml"), config).expect("config");
        Setup { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts `kiln serve` and waits for the address it prints.
    fn start(&self) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
            // No plugins but this test's (none).
            .env("KILN_HOME", self.path("home"))
            .arg("serve")
            .arg("--config")
            .arg(self.path("serve.toml"))
            .arg("--database")
            .arg(self.path("history.db"))
            .arg("--scratch-dir")
            .arg(self.path("scratch"))
            .arg("--audit-log")
            .arg(self.path("audit.jsonl"))
            .arg("--cache")
            .arg(self.path("cache"))
            .stderr(Stdio::piped())
            .spawn()
            .expect("kiln serve starts");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("kiln serve printed its address before exiting")
                .expect("stderr");
            if let Some(a) = line.strip_prefix("kiln serve: listening on http://") {
                break a.trim().parse().expect("an address");
            }
        };
        // Keep draining stderr so the server never blocks on it.
        std::thread::spawn(move || for _ in lines {});
        Server { child, addr }
    }

    fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(self.path("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }
}

impl Server {
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Response {
        let body = body.map(Value::to_string);
        request(
            self.addr,
            method,
            path,
            body.as_deref().map(str::as_bytes),
            Some(KEY),
        )
    }

    fn post_async(&self, code: &str) -> String {
        let req = json!({"language": "wat", "code": code, "async": true, "timeout_ms": 10_000});
        let r = self.call("POST", "/v1/execute", Some(&req));
        assert_eq!(r.status, 202, "{:?}", String::from_utf8_lossy(&r.body));
        r.json()["job_id"].as_str().expect("id").to_string()
    }

    fn job(&self, id: &str) -> Value {
        let r = self.call("GET", &format!("/v1/jobs/{id}"), None);
        assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
        r.json()
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server parts in the scratch root.
fn scratch_parts(root: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(root)
        .map(|d| d.map(|e| e.expect("entry").path()).collect())
        .unwrap_or_default()
}

#[test]
fn sigterm_lets_jobs_finish_then_cancels_and_records_them() {
    let setup = Setup::new();
    let mut server = setup.start();
    let spinning = server.post_async(&printing_then_spinning("spin"));
    eventually("the job runs", || {
        server.job(&spinning)["status"] == "running"
    });
    // A synchronous request waiting on a spinning job gets its final status too.
    let waiting = {
        let addr = server.addr;
        std::thread::spawn(move || {
            let req = json!({"language": "wat", "code": printing_then_spinning("sync"), "timeout_ms": 10_000});
            let body = req.to_string();
            request(
                addr,
                "POST",
                "/v1/execute",
                Some(body.as_bytes()),
                Some(KEY),
            )
        })
    };
    eventually("both jobs run", || {
        let r = server.call("GET", "/readyz", None);
        r.json()["running"] == 2
    });
    server.signal("TERM");
    let exit = server.child.wait().expect("the server exits");
    assert!(exit.success(), "exit status {exit:?}");
    let r = waiting.join().expect("the waiting request");
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    let sync = r.json();
    assert_eq!(sync["status"], "cancelled", "{sync}");
    assert_eq!(sync["stdout"], "sync");
    // After a restart, both jobs are in the history, cancelled by the stop.
    let server = setup.start();
    for id in [spinning.as_str(), sync["job_id"].as_str().expect("id")] {
        let job = server.job(id);
        assert_eq!(job["status"], "cancelled", "{job}");
        assert_eq!(
            job["error"],
            "cancelled: the server stopped before the job finished"
        );
    }
    let audit = setup.audit();
    let cancelled: Vec<_> = audit
        .iter()
        .filter(|e| e["event"] == "cancelled")
        .map(|e| {
            (
                e["job"].as_str().unwrap_or_default(),
                e["key"].as_str(),
                e["reason"].as_str(),
            )
        })
        .collect();
    assert!(
        cancelled.contains(&(spinning.as_str(), Some("tester"), Some("shutdown"))),
        "{audit:?}"
    );
    assert_eq!(cancelled.len(), 2, "{audit:?}");
}

#[test]
fn after_a_kill_the_jobs_it_ran_are_lost_and_its_directories_removed() {
    let setup = Setup::new();
    let server = setup.start();
    let finished = server.post_async(&printing("done", 0));
    eventually("the first job finishes", || {
        server.job(&finished)["status"] == "completed"
    });
    let running = server.post_async(&printing_then_spinning("spin"));
    eventually("the job runs", || {
        server.job(&running)["status"] == "running"
    });
    let parts = scratch_parts(&setup.path("scratch"));
    assert_eq!(parts.len(), 1, "{parts:?}");
    server.signal("KILL");
    drop(server);
    let server = setup.start();
    let lost = server.job(&running);
    assert_eq!(lost["status"], "lost", "{lost}");
    assert_eq!(server.job(&finished)["stdout"], "done");
    // The dead server's scratch directory (with the running job's) is gone.
    assert!(!parts[0].exists(), "{parts:?}");
    assert_eq!(scratch_parts(&setup.path("scratch")).len(), 1);
}

#[test]
fn the_audit_log_records_refusals_limits_and_failures_as_json() {
    let setup = Setup::new();
    let server = setup.start();
    // An unknown key; an import the sandbox does not provide; a path out of the
    // directory; a time limit.
    let hello = json!({"language": "wat", "code": printing("x", 0)});
    let body = hello.to_string();
    let r = request(
        server.addr,
        "POST",
        "/v1/execute",
        Some(body.as_bytes()),
        Some("wrong"),
    );
    assert_eq!(r.status, 401);
    let import = json!({"language": "wat",
        "code": r#"(module (import "env" "launch_missiles" (func)) (func (export "_start")))"#});
    let imported = server.call("POST", "/v1/execute", Some(&import)).json();
    assert_eq!(imported["status"], "error", "{imported}");
    let escape = json!({"language": "wat", "code": r#"(module
        (import "wasi_snapshot_preview1" "path_open"
          (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
        (memory (export "memory") 1)
        (data (i32.const 100) "../../etc/passwd")
        (func (export "_start")
          (drop (call $open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 16)
            (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 200)))))"#});
    let escaped = server.call("POST", "/v1/execute", Some(&escape)).json();
    assert_eq!(escaped["status"], "completed", "{escaped}");
    let spin = json!({"language": "wat", "timeout_ms": 100,
        "code": r#"(module (func (export "_start") (loop (br 0))))"#});
    let spun = server.call("POST", "/v1/execute", Some(&spin)).json();
    assert_eq!(spun["status"], "timeout", "{spun}");
    let audit = setup.audit();
    let find = |event: &str, job: Option<&Value>| {
        audit
            .iter()
            .find(|e| e["event"] == event && job.is_none_or(|j| &e["job"] == j))
            .unwrap_or_else(|| panic!("no `{event}` event in {audit:#?}"))
            .clone()
    };
    let e = find("auth_failed", None);
    assert_eq!(e["reason"], "unknown API key");
    assert_eq!(e["target"], "kiln_serve::audit");
    let e = find("capability_refused", Some(&imported["job_id"]));
    assert_eq!(e["key"], "tester");
    assert!(
        e["what"]
            .as_str()
            .is_some_and(|w| w.contains("launch_missiles")),
        "{e}"
    );
    let e = find("capability_refused", Some(&escaped["job_id"]));
    assert_eq!(e["what"], "wasi path_open (PERM)");
    let e = find("limit_hit", Some(&spun["job_id"]));
    assert_eq!(
        (e["limit"].as_str(), e["key"].as_str()),
        (Some("time"), Some("tester"))
    );
    assert!(e["timestamp"].is_string(), "{e}");
}

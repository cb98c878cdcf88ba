//! Each job's scratch directory over real HTTP: the request's files are in it, the
//! guest cannot leave it, a disk bomb (bytes or files) ends with the `disk` limit, and
//! the directory is gone after the job.

mod common;

use common::{config, TestServer};
use serde_json::json;

/// The WASI imports and a `print(ptr, len)` helper every program here uses.
const PRELUDE: &str = r#"
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 2)
  (func $print (param $at i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $at))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
"#;

/// Rights: `fd_read` and `fd_write`.
const RW: &str = "(i64.const 66)";

fn program(body: &str) -> String {
    format!("(module {PRELUDE} {body})")
}

fn server_with_scratch(root: &std::path::Path) -> TestServer {
    let mut c = config(None);
    c.scratch_directory = root.to_path_buf();
    c.defaults.disk_bytes = 1 << 20;
    c.defaults.disk_files = 20;
    TestServer::start(c)
}

/// The entries of the scratch root's one server part, besides its lock.
fn job_dirs(root: &std::path::Path) -> Vec<String> {
    let parts: Vec<_> = std::fs::read_dir(root)
        .expect("root")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(parts.len(), 1, "one server part: {parts:?}");
    std::fs::read_dir(&parts[0])
        .expect("part")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .filter(|n| n != ".lock")
        .collect()
}

#[test]
fn the_request_files_are_in_the_job_directory_and_it_is_removed_after() {
    let root = tempfile::tempdir().expect("tempdir");
    let server = server_with_scratch(root.path());
    // Reads `data/input.txt` (relative to `/`, descriptor 3) and prints it.
    let main = program(
        r#"(data (i32.const 100) "data/input.txt")
        (func (export "_start")
          (if (call $open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 14)
                (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 200))
            (then (call $exit (i32.const 7))))
          (i32.store (i32.const 8) (i32.const 1024))
          (i32.store (i32.const 12) (i32.const 1000))
          (drop (call $read (i32.load (i32.const 200)) (i32.const 8) (i32.const 1) (i32.const 16)))
          (call $print (i32.const 1024) (i32.load (i32.const 16))))"#,
    );
    let files = json!([
        {"name": "main.wat", "content": main},
        {"name": "data/input.txt", "content": "from a file"},
    ]);
    let (status, r) = server.execute(&json!({"language": "wat", "files": files}));
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        (r["status"].as_str(), r["stdout"].as_str()),
        (Some("completed"), Some("from a file")),
        "{r}"
    );
    assert_eq!(
        job_dirs(root.path()),
        Vec::<String>::new(),
        "the job's directory is removed"
    );
    // Names that would leave the directory are refused before anything runs.
    for name in ["../escape", "/etc/passwd", "a/../../b", ""] {
        let files = json!([{"name": name, "content": main}]);
        let (status, r) = server.execute(&json!({"language": "wat", "files": files}));
        assert_eq!(status, 400, "{name}: {r}");
        assert!(
            r["error"].as_str().is_some_and(|e| e.contains("file name")),
            "{r}"
        );
    }
    let twice = json!([{"name": "a", "content": main}, {"name": "a", "content": "x"}]);
    let (status, r) = server.execute(&json!({"language": "wat", "files": twice}));
    assert_eq!(status, 400, "{r}");
    let many: Vec<_> = (0..65)
        .map(|i| json!({"name": format!("f{i}"), "content": "x"}))
        .collect();
    let (status, r) = server.execute(&json!({"language": "wat", "files": many}));
    assert_eq!(status, 400, "{r}");
    assert!(
        r["error"]
            .as_str()
            .is_some_and(|e| e.contains("at most 64")),
        "{r}"
    );
}

#[test]
fn the_guest_cannot_leave_its_directory() {
    let root = tempfile::tempdir().expect("tempdir");
    let server = server_with_scratch(root.path());
    // Tries each path on descriptors 3 (`/`) and 4 (`.`); exits 99 if any opens.
    let paths = [
        "/etc/passwd",
        "../../../../etc/passwd",
        "etc/passwd",
        "..",
        "/",
    ];
    let mut data = String::new();
    let mut tries = String::new();
    let mut at = 1000;
    for p in paths {
        data.push_str(&format!("(data (i32.const {at}) \"{p}\")"));
        for fd in [3, 4] {
            tries.push_str(&format!(
                "(if (i32.eqz (call $open (i32.const {fd}) (i32.const 1) (i32.const {at}) (i32.const {len})
                    (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 200)))
                  (then (call $exit (i32.const 99))))",
                len = p.len()
            ));
        }
        at += 100;
    }
    let wat = program(&format!(
        r#"{data} (data (i32.const 100) "refused")
        (func (export "_start") {tries} (call $print (i32.const 100) (i32.const 7)))"#
    ));
    let (_, r) = server.execute(&json!({"language": "wat", "code": wat}));
    assert_eq!(
        (r["status"].as_str(), r["stdout"].as_str()),
        (Some("completed"), Some("refused")),
        "{r}"
    );
}

#[test]
fn disk_bombs_end_with_the_disk_limit() {
    let root = tempfile::tempdir().expect("tempdir");
    let server = server_with_scratch(root.path());
    // Writes 64 KiB at a time to one file until a write fails; exits with its errno.
    let bytes = program(&format!(
        r#"(data (i32.const 100) "big")
        (func (export "_start") (local $fd i32) (local $e i32)
          (if (call $open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 3)
                (i32.const 1) {RW} (i64.const 0) (i32.const 0) (i32.const 200))
            (then (call $exit (i32.const 7))))
          (local.set $fd (i32.load (i32.const 200)))
          (i32.store (i32.const 0) (i32.const 4096))
          (i32.store (i32.const 4) (i32.const 65536))
          (loop
            (local.set $e (call $write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
            (br_if 0 (i32.eqz (local.get $e))))
          (call $exit (local.get $e)))"#
    ));
    let (_, r) = server.execute(&json!({"language": "wat", "code": bytes}));
    assert_eq!(r["status"], "failed", "{r}");
    assert_eq!(r["exit_code"], 51, "ENOSPC: {r}");
    assert_eq!(r["limits_hit"], json!(["disk"]), "{r}");
    assert!(
        r["error"]
            .as_str()
            .is_some_and(|e| e.contains("1048576 bytes")),
        "{r}"
    );
    // Creates files `aaa`, `baa`, ... until one fails; exits with its errno.
    let files = program(&format!(
        r#"(func (export "_start") (local $i i32) (local $e i32)
          (loop
            (i32.store8 (i32.const 100) (i32.add (i32.const 97) (i32.rem_u (local.get $i) (i32.const 26))))
            (i32.store8 (i32.const 101) (i32.add (i32.const 97) (i32.rem_u (i32.div_u (local.get $i) (i32.const 26)) (i32.const 26))))
            (i32.store8 (i32.const 102) (i32.add (i32.const 97) (i32.div_u (local.get $i) (i32.const 676))))
            (local.set $e (call $open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 3)
                (i32.const 1) {RW} (i64.const 0) (i32.const 0) (i32.const 200)))
            (if (i32.eqz (local.get $e))
              (then (drop (call $close (i32.load (i32.const 200))))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if 0 (i32.eqz (local.get $e))))
          (call $exit (local.get $e)))"#
    ));
    let (_, r) = server.execute(&json!({"language": "wat", "code": files}));
    assert_eq!(r["status"], "failed", "{r}");
    assert_eq!(r["exit_code"], 19, "EDQUOT: {r}");
    assert_eq!(r["limits_hit"], json!(["disk"]), "{r}");
    assert!(
        r["error"]
            .as_str()
            .is_some_and(|e| e.contains("create 20 files")),
        "{r}"
    );
    assert_eq!(job_dirs(root.path()), Vec::<String>::new());
    assert_eq!(server.get("/healthz").0, 200);
}

//! `kiln run` resource-limit options: each limit that stops a guest is named with its
//! value and what was used, and the exit status is 3.

use std::process::{Command, Output};

const GUEST: &str = r#"(module
  (memory 1)
  (table 1 funcref)
  (func (export "spin") (loop br 0))
  (func (export "eat") (result i32)
    (loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
    (unreachable))
  (func (export "tables") (result i32) (table.grow (ref.null func) (i32.const 100)))
  (func $r (export "rec") (call $r))
  (func (export "ok") (result i32) (i32.const 7)))"#;

fn kiln(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("guest.wat");
    std::fs::write(&file, GUEST).expect("write guest");
    let file = file.to_string_lossy().into_owned();
    // Options first: everything after the file is the guest's.
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    all.push(file.as_str());
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .env(
            "XDG_CACHE_HOME",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/cli-cache"),
        )
        .args(&all)
        .output()
        .expect("kiln runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn fuel() {
    let o = kiln(&["--invoke", "spin", "--fuel", "100000"]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(
        stderr(&o),
        "error: fuel limit of 100000 units reached: all 100000 used\n"
    );
    let o = kiln(&["--invoke", "ok", "--fuel", "100"]);
    assert_eq!(
        (o.status.code(), o.stdout.as_slice()),
        (Some(0), &b"7\n"[..])
    );
}

#[test]
fn timeout() {
    let o = kiln(&["--invoke", "spin", "--timeout", "50ms"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).starts_with("error: time limit of 50ms reached: stopped after "),
        "{}",
        stderr(&o)
    );
}

#[test]
fn max_memory() {
    let o = kiln(&["--invoke", "eat", "--max-memory", "4MiB"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).starts_with("error: memory limit of 4 MiB reached: 4.1 MiB requested\n"),
        "{}",
        stderr(&o)
    );
    let o = kiln(&["--invoke", "ok", "--max-memory", "32KiB"]);
    assert_eq!(o.status.code(), Some(3), "the initial page does not fit");
    assert_eq!(
        stderr(&o),
        // The page and the module's table elements.
        "error: memory limit of 32 KiB reached: 64.0 KiB requested\n"
    );
}

#[test]
fn max_table_elements_refuses_growth() {
    let o = kiln(&["--invoke", "tables", "--max-table-elements", "50"]);
    assert_eq!(
        (o.status.code(), o.stdout.as_slice()),
        (Some(0), &b"-1\n"[..]),
        "{}",
        stderr(&o)
    );
    let o = kiln(&["--invoke", "tables", "--max-table-elements", "500"]);
    assert_eq!(o.stdout.as_slice(), b"1\n");
}

#[test]
fn max_wasm_stack() {
    let o = kiln(&["--invoke", "rec", "--max-wasm-stack", "64KiB"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).starts_with(
            "error: wasm stack limit of 64 KiB reached\nwasm trap: call stack exhausted"
        ),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bad_limit_values_are_usage_errors() {
    for args in [
        ["--fuel", "lots"],
        ["--timeout", "2"],
        ["--max-memory", "5parsecs"],
        ["--max-table-elements", "-1"],
        ["--max-wasm-stack", "big"],
    ] {
        let o = kiln(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&o).starts_with("error: "),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}

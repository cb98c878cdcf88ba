//! `kiln compile`, artifacts run by `kiln run`, the code cache that `kiln run` uses by
//! default, and `kiln cache stats|clear|dir`.

use std::path::Path;
use std::process::{Command, Output};

const GUEST: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 8) "from an artifact\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 8))
    (i32.store (i32.const 4) (i32.const 17))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 100))))
  (func (export "spin") (loop (br 0))))"#;

/// Runs `kiln ARGS` with its cache (and key) in `cache`.
fn kiln(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .env("XDG_CACHE_HOME", cache)
        .args(args)
        .output()
        .expect("kiln runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn cached_modules(cache: &Path) -> usize {
    std::fs::read_dir(cache.join("kiln"))
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "kwasm"))
            })
            .count()
        })
        .unwrap_or(0)
}

#[test]
fn an_artifact_runs_like_its_module() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let wat = dir.path().join("guest.wat");
    std::fs::write(&wat, GUEST).unwrap();
    let wat = wat.to_str().unwrap();
    let out = kiln(&cache, &["compile", wat]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let kwasm = dir.path().join("guest.kwasm");
    assert!(kwasm.exists());
    let kwasm = kwasm.to_str().unwrap();
    let run = kiln(&cache, &["run", "--cache", "off", kwasm]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert_eq!(text(&run.stdout), "from an artifact\n");
    // The implied `run`, and `-o`.
    let other = dir.path().join("other.kwasm");
    let other = other.to_str().unwrap();
    assert!(kiln(&cache, &["compile", wat, "-o", other])
        .status
        .success());
    assert_eq!(text(&kiln(&cache, &[other]).stdout), "from an artifact\n");

    // Code compiled without metering cannot be metered: refused, saying how to fix it.
    let fuel = kiln(&cache, &["run", "--fuel", "100", kwasm]);
    assert_eq!(fuel.status.code(), Some(2));
    let err = text(&fuel.stderr);
    assert!(
        err.contains("kiln.fuel") && err.contains("--consume-fuel"),
        "{err}"
    );
    // ... and compiled with it, it is.
    assert!(kiln(&cache, &["compile", "--consume-fuel", wat])
        .status
        .success());
    let spin = kiln(
        &cache,
        &["run", "--fuel", "1000", "--invoke", "spin", kwasm],
    );
    assert_eq!(spin.status.code(), Some(3), "{}", text(&spin.stderr));
    assert!(text(&spin.stderr).contains("fuel limit"));

    // A damaged artifact is refused before anything runs.
    let mut bytes = std::fs::read(kwasm).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 4;
    std::fs::write(kwasm, &bytes).unwrap();
    let bad = kiln(&cache, &["run", "--fuel", "1000", kwasm]);
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(text(&bad.stdout), "");
    assert!(text(&bad.stderr).contains("MAC"), "{}", text(&bad.stderr));

    // Another installation (another key) refuses it too.
    let other_install = dir.path().join("elsewhere");
    let foreign = kiln(&other_install, &["run", other]);
    assert_eq!(foreign.status.code(), Some(2));
    assert!(
        text(&foreign.stderr).contains("MAC"),
        "{}",
        text(&foreign.stderr)
    );
}

#[test]
fn kiln_run_caches_by_default_and_not_with_cache_off() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let wat = dir.path().join("guest.wat");
    std::fs::write(&wat, GUEST).unwrap();
    let wat = wat.to_str().unwrap();

    let off = kiln(&cache, &["run", "--cache", "off", wat]);
    assert_eq!(text(&off.stdout), "from an artifact\n");
    assert_eq!(cached_modules(&cache), 0);

    for _ in 0..2 {
        let on = kiln(&cache, &["run", wat]);
        assert_eq!(text(&on.stdout), "from an artifact\n");
        assert_eq!(cached_modules(&cache), 1);
    }
    // Other code-deciding options are other entries.
    let fuel = kiln(&cache, &["run", "--fuel", "100000", wat]);
    assert_eq!(text(&fuel.stdout), "from an artifact\n");
    assert_eq!(cached_modules(&cache), 2);

    // A damaged entry is replaced, with a warning, and the guest still runs.
    let entry = std::fs::read_dir(cache.join("kiln"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "kwasm"))
        .unwrap();
    std::fs::write(&entry, b"\0kilnart garbage").unwrap();
    let again = kiln(&cache, &["run", "--fuel", "100000", wat]);
    assert_eq!(text(&again.stdout), "from an artifact\n");
    let again = kiln(&cache, &["run", wat]);
    assert_eq!(text(&again.stdout), "from an artifact\n");
    assert_eq!(cached_modules(&cache), 2);

    // `--cache DIR` uses DIR.
    let custom = dir.path().join("custom");
    let c = kiln(&cache, &["run", "--cache", custom.to_str().unwrap(), wat]);
    assert_eq!(text(&c.stdout), "from an artifact\n");
    assert_eq!(
        std::fs::read_dir(&custom)
            .unwrap()
            .filter(|e| e
                .as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "kwasm")))
            .count(),
        1,
        "one module"
    );
    assert!(custom.join("artifact.key").exists());

    // `kiln cache`.
    let d = kiln(&cache, &["cache", "dir"]);
    assert_eq!(text(&d.stdout).trim(), cache.join("kiln").to_str().unwrap());
    let s = text(&kiln(&cache, &["cache", "stats"]).stdout);
    assert!(s.contains("modules:   2"), "{s}");
    let c = text(&kiln(&cache, &["cache", "clear"]).stdout);
    assert_eq!(c.trim(), "removed 2 cached modules");
    assert_eq!(cached_modules(&cache), 0);
    assert!(cache.join("kiln").join("artifact.key").exists());
}

#[test]
fn an_unusable_cache_directory_still_runs_the_guest() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let wat = dir.path().join("guest.wat");
    std::fs::write(&wat, GUEST).unwrap();
    let out = kiln(&file, &["run", wat.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "from an artifact\n");
}

/// Processes started together on an empty cache directory (no key, no entries yet)
/// all run the guest; they agree on one installation key and leave one entry, and no
/// temporary file behind (key creation and entry writes race through hard links and
/// renames).
#[test]
fn processes_racing_on_an_empty_cache_agree_on_one_key_and_one_entry() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let wat = dir.path().join("guest.wat");
    std::fs::write(&wat, GUEST).unwrap();
    let children: Vec<_> = (0..6)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_kiln"))
                .env("XDG_CACHE_HOME", &cache)
                .arg("run")
                .arg(&wat)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("kiln starts")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("kiln ends");
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "from an artifact\n");
        assert!(
            !text(&out.stderr).contains("warning"),
            "{}",
            text(&out.stderr)
        );
    }
    assert_eq!(cached_modules(&cache), 1);
    let key = cache.join("kiln").join("artifact.key");
    assert_eq!(std::fs::metadata(&key).unwrap().len(), 32);
    let stray: Vec<_> = std::fs::read_dir(cache.join("kiln"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| {
            !n.ends_with(".kwasm") && !["artifact.key", "index", "verified"].contains(&n.as_str())
        })
        .collect();
    assert!(stray.is_empty(), "left behind: {stray:?}");
    // The entry they left is one every later run uses.
    let again = kiln(&cache, &["run", wat.to_str().unwrap()]);
    assert_eq!(text(&again.stdout), "from an artifact\n");
    assert_eq!(cached_modules(&cache), 1);
}

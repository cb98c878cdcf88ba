//! Replays every file under `fuzz/regressions/<target>/` through that target's check.
//!
//! A `.wasm` or `.wat` file is a module checked directly (`Target::check_module`); any
//! other file (except `README*` and `*.md`) is a raw fuzz input, e.g. a libFuzzer
//! artifact, checked as the fuzz target would (`Target::check`). Every file must pass,
//! except those in `KNOWN_FAILURES`, which must still fail.

use kiln_fuzz_oracle::Target;
use std::path::{Path, PathBuf};

/// Regression files showing Kiln bugs that are not fixed yet: `target/file` and the
/// bug. Each must fail; once one passes, remove it from here (and its `KnownIssue`
/// variant in the oracle when no other case needs it).
const KNOWN_FAILURES: &[(&str, &str)] = &[];

fn regressions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../regressions")
}

fn is_documentation(name: &str) -> bool {
    name.starts_with("README") || name.ends_with(".md") || name.starts_with('.')
}

#[test]
fn replay_regressions() {
    let mut problems = Vec::new();
    let mut replayed = 0;
    let mut seen_known = Vec::new();
    for target in Target::ALL {
        let dir = regressions_dir().join(target.name());
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
            .map(|entry| entry.expect("a readable directory entry").path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for path in files {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .expect("regression file names are UTF-8")
                .to_string();
            if is_documentation(&name) {
                continue;
            }
            let key = format!("{target}/{name}");
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {key}: {e}"));
            let result = match path.extension().and_then(|e| e.to_str()) {
                Some("wat") => {
                    let wasm = wat::parse_bytes(&data)
                        .unwrap_or_else(|e| panic!("{key} is not valid text format: {e}"));
                    target.check_module(&wasm)
                }
                Some("wasm") => target.check_module(&data),
                _ => target.check(&data),
            };
            replayed += 1;
            let known = KNOWN_FAILURES.iter().find(|(k, _)| *k == key);
            match (known, result) {
                (None, Err(f)) => problems.push(format!("{key}: {f}")),
                (Some((_, bug)), Ok(())) => problems.push(format!(
                    "{key} passes now, so its bug ({bug}) looks fixed: remove it from \
                     KNOWN_FAILURES"
                )),
                (Some(_), Err(f)) => {
                    eprintln!("{key}: fails as known: {f}");
                    seen_known.push(key);
                }
                (None, Ok(())) => {}
            }
        }
    }
    for (key, _) in KNOWN_FAILURES {
        if !seen_known.iter().any(|k| k == key) && !problems.iter().any(|p| p.starts_with(key)) {
            problems.push(format!("KNOWN_FAILURES lists {key}, which does not exist"));
        }
    }
    eprintln!("replayed {replayed} regression files");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

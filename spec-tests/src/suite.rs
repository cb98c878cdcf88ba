//! Locating the spec test suite and the `.wast` files in it.

use std::io;
use std::path::{Path, PathBuf};

/// Environment variable that overrides the spec test suite folder.
pub const SUITE_ENV_VAR: &str = "KILN_SPEC_TESTSUITE";

/// The spec test suite folder: `$KILN_SPEC_TESTSUITE` if set, else
/// `../shared/spec-testsuite` relative to the repository root.
pub fn default_suite_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(SUITE_ENV_VAR) {
        if !dir.is_empty() {
            return PathBuf::from(dir);
        }
    }
    let repo_root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let suite = repo_root.join("../shared/spec-testsuite");
    suite.canonicalize().unwrap_or(suite)
}

/// The `.wast` files named by `path`: the file itself, or, for a folder, the `*.wast` files
/// directly inside it, sorted by name.
pub fn wast_files(path: &Path) -> io::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        // Let a missing file surface as an error now rather than as a failed check later.
        std::fs::metadata(path)?;
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path)? {
        let entry_path = entry?.path();
        if entry_path.is_file() && entry_path.extension().is_some_and(|e| e == "wast") {
            files.push(entry_path);
        }
    }
    files.sort();
    Ok(files)
}

/// The base name of a file, for reports and the expected-failures list.
pub(crate) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Whether `file_name` is a SIMD spec file (`simd_*.wast`).
pub(crate) fn is_simd_file(file_name: &str) -> bool {
    file_name.starts_with("simd_")
}

/// Whether `path` is a file of the Wasm 2.0 suite (a `wasm-2.0` directory), whose
/// checks expect the later proposals to be refused.
pub(crate) fn is_wasm2(path: &Path) -> bool {
    path.parent()
        .and_then(Path::file_name)
        .is_some_and(|d| d == "wasm-2.0")
}

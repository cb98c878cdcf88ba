//! Checks a sightglass program's output the way sightglass does (and the way
//! `wasi/tests/sightglass.rs` does for Kiln): stdout and stderr must equal
//! `<name>.std{out,err}.expected` beside the module, else `default.std{out,err}.expected`
//! in its folder, line for line; where a stream has no expected file, anything goes on
//! it. The exit status must be 0 in every case.
//!
//! Shared by both engines, so a run on Kiln and a run on Wasmtime are judged alike.

use crate::RunOutput;
use std::path::Path;

/// The expected output of one module (`None`: no expected file for that stream).
#[derive(Debug, Clone, Default)]
pub struct Expected {
    /// The expected stdout.
    pub stdout: Option<Vec<u8>>,
    /// The expected stderr.
    pub stderr: Option<Vec<u8>>,
}

impl Expected {
    /// Reads the expected files for `wasm`.
    pub fn load(wasm: &Path) -> std::io::Result<Expected> {
        Ok(Expected {
            stdout: expected_file(wasm, "stdout")?,
            stderr: expected_file(wasm, "stderr")?,
        })
    }

    /// `Ok` if `out` is what the program must print and its exit status is 0; else
    /// what differs.
    pub fn check(&self, out: &RunOutput) -> Result<(), String> {
        if out.status != 0 {
            return Err(format!(
                "exit status {}; stderr: {}",
                out.status,
                describe(&out.stderr)
            ));
        }
        compare("stdout", &out.stdout, self.stdout.as_deref())?;
        compare("stderr", &out.stderr, self.stderr.as_deref())
    }
}

/// The contents of `<stem>.<stream>.expected`, else `default.<stream>.expected`, beside
/// `wasm`; `None` if neither exists.
pub fn expected_file(wasm: &Path, stream: &str) -> std::io::Result<Option<Vec<u8>>> {
    let dir = wasm.parent().unwrap_or(Path::new("."));
    let stem = wasm
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    for name in [
        format!("{stem}.{stream}.expected"),
        format!("default.{stream}.expected"),
    ] {
        let p = dir.join(name);
        if p.exists() {
            return std::fs::read(&p).map(Some);
        }
    }
    Ok(None)
}

/// Lines as sightglass compares them (Rust's `str::lines`: `\n` or `\r\n` ends a line,
/// a final line ending is optional).
pub fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .collect()
}

/// `Ok` if `got` equals `want` line for line (or there is no `want`).
pub fn compare(stream: &str, got: &[u8], want: Option<&[u8]>) -> Result<(), String> {
    match want {
        Some(want) if lines(want) != lines(got) => {
            let at = got.iter().zip(want).take_while(|(a, b)| a == b).count();
            Err(format!(
                "{stream} differs at byte {at}: got {}, expected {}",
                describe(got),
                describe(want)
            ))
        }
        _ => Ok(()),
    }
}

/// `bytes` as a quoted string, cut after 200 characters.
pub fn describe(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    match s.char_indices().nth(200) {
        Some((cut, _)) => format!("{:?}... ({} bytes)", &s[..cut], bytes.len()),
        None => format!("{s:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn out(stdout: &[u8], status: i32) -> RunOutput {
        RunOutput {
            region: Some(Duration::ZERO),
            stdout: stdout.to_vec(),
            stderr: Vec::new(),
            status,
        }
    }

    #[test]
    fn line_endings_do_not_matter() {
        let e = Expected {
            stdout: Some(b"0".to_vec()),
            stderr: Some(Vec::new()),
        };
        assert!(e.check(&out(b"0\n", 0)).is_ok());
        assert!(e.check(&out(b"0\r\n", 0)).is_ok());
        assert!(e.check(&out(b"1\n", 0)).is_err());
        assert!(e.check(&out(b"0\n\n", 0)).is_err());
    }

    #[test]
    fn status_must_be_zero() {
        let e = Expected::default();
        assert!(e.check(&out(b"anything", 0)).is_ok());
        assert!(e.check(&out(b"", 1)).is_err());
    }
}

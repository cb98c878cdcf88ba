//! The WASI capabilities a sandbox grants.
//!
//! Nothing is granted by default: without `.wasi(true)` WASI imports are refused at
//! link time. With it the guest gets WASI preview 1 with only the arguments and
//! environment variables added, no pre-opened directory unless one is granted (so no
//! file can be opened), standard input of only the bytes given (`.stdin`; empty by
//! default), captured standard output and error, and no network: the `sock_*`
//! functions exist but every call fails.

use crate::audit;
use crate::error::Error;
use std::path::PathBuf;

/// The module name of WASI preview 1 imports.
pub(crate) const WASI_MODULE: &str = "wasi_snapshot_preview1";

/// A host directory the guest may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Preopen {
    pub host: PathBuf,
    pub guest: String,
    pub read_only: bool,
}

/// What the guest's WASI sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WasiSettings {
    pub enabled: bool,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub preopens: Vec<Preopen>,
    /// The guest's standard input (`None`: empty).
    pub stdin: Option<Vec<u8>>,
    /// Capture stdout/stderr in memory (default) rather than inherit the host's.
    pub capture_output: bool,
}

impl Default for WasiSettings {
    fn default() -> Self {
        WasiSettings {
            enabled: false,
            args: Vec::new(),
            env: Vec::new(),
            preopens: Vec::new(),
            stdin: None,
            capture_output: true,
        }
    }
}

impl WasiSettings {
    /// Refuses capabilities given without WASI (they would be ignored), and checks
    /// that each pre-opened directory is a readable directory.
    pub fn validate(&self, id: u64) -> Result<(), Error> {
        if !self.enabled {
            let given = [
                (!self.args.is_empty(), "`.arg`"),
                (!self.env.is_empty(), "`.env`"),
                (!self.preopens.is_empty(), "`.preopen_dir`"),
                (self.stdin.is_some(), "`.stdin`"),
            ];
            let given: Vec<&str> = given.iter().filter(|g| g.0).map(|g| g.1).collect();
            if !given.is_empty() {
                let what = given.join(", ");
                audit::capability_refused(
                    id,
                    "wasi",
                    &format!("{what} given without `.wasi(true)`"),
                );
                return Err(Error::Config(format!(
                    "{what} given without `.wasi(true)`: WASI is off, so they would be ignored"
                )));
            }
        }
        for p in &self.preopens {
            let meta = std::fs::metadata(&p.host).map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("cannot pre-open directory `{}`: {e}", p.host.display()),
                )
            })?;
            if !meta.is_dir() {
                return Err(Error::Io(std::io::Error::new(
                    std::io::ErrorKind::NotADirectory,
                    format!("cannot pre-open `{}`: not a directory", p.host.display()),
                )));
            }
        }
        Ok(())
    }
}

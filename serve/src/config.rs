//! The server's configuration: a TOML file (every field optional, unknown fields
//! refused), then command-line flags over it.
//!
//! ```toml
//! listen = "127.0.0.1:8080"
//! workers = 4
//! queue_depth = 64
//! database = "kiln-serve.db"
//! cache_directory = "/var/cache/kiln"   # the code cache's disk tier (`kiln serve`'s
//!                                       # default: the user's cache directory)
//! max_request_bytes = 4194304
//! retention_jobs = 100000
//! scratch_directory = "/var/tmp/kiln-serve"   # each job's directory is made in it
//! max_files = 64          # files per request
//! listen_backlog = 4096   # connections waiting to be accepted (capped by the kernel's somaxconn)
//! shutdown_grace_ms = 10000
//! audit_log = "audit.jsonl"                  # default: standard error
//!
//! [max]            # no job gets more
//! timeout_ms = 10000
//! memory_limit_mb = 256
//! fuel = 10000000000
//! output_bytes = 1048576
//! disk_bytes = 67108864   # bytes a job may write to files in its scratch directory
//! disk_files = 1024       # files, directories and links it may create there
//!
//! [defaults]       # what a job gets when it does not ask
//! timeout_ms = 2000
//! memory_limit_mb = 64
//!
//! [plugins]        # language plugins (kiln-serve's plugin.rs)
//! directory = "/home/me/.kiln/plugins"   # `kiln serve`'s default: $KILN_HOME/plugins
//! trusted_keys = ["…"]                   # ed25519 public keys of trusted publishers
//! allow_unsigned = false
//!
//! [[keys]]         # API keys, sent as `Authorization: Bearer KEY`
//! id = "alice"     # what the history and the audit log call the key
//! sha256 = "…"     # the SHA-256 of the key, in hex: the key itself is never stored
//! requests_per_second = 20
//! burst = 40
//! max_concurrent = 4
//! [keys.max]       # this key's own maxima, within the server's
//! timeout_ms = 1000
//! ```
//!
//! Without keys the server starts only with `no_auth` (`--no-auth`), and only on a
//! loopback address.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Limits of one job. In `[max]` the most a job may ask for; in `[defaults]` what it
/// gets when it does not ask. `fuel: None` meters none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JobLimits {
    /// Wall time, compilation included.
    pub timeout_ms: u64,
    /// Linear memory, all memories together.
    pub memory_limit_mb: u64,
    /// Fuel units (`None`: fuel is not metered).
    pub fuel: Option<u64>,
    /// Bytes kept of stdout, and of stderr.
    pub output_bytes: usize,
    /// Bytes the job may write to files in its scratch directory.
    pub disk_bytes: u64,
    /// Entries (files, directories, links) it may create there.
    pub disk_files: u64,
}

impl JobLimits {
    /// The largest limits the server allows by default.
    pub const MAX: JobLimits = JobLimits {
        timeout_ms: 10_000,
        memory_limit_mb: 256,
        fuel: None,
        output_bytes: 1 << 20,
        disk_bytes: 64 << 20,
        disk_files: 1024,
    };

    /// What a job gets by default.
    pub const DEFAULT: JobLimits = JobLimits {
        timeout_ms: 2_000,
        memory_limit_mb: 64,
        fuel: None,
        output_bytes: 64 << 10,
        disk_bytes: 16 << 20,
        disk_files: 256,
    };
}

/// Partial limits as a file gives them.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    timeout_ms: Option<u64>,
    memory_limit_mb: Option<u64>,
    fuel: Option<u64>,
    output_bytes: Option<usize>,
    disk_bytes: Option<u64>,
    disk_files: Option<u64>,
}

impl LimitsFile {
    fn over(self, base: JobLimits) -> JobLimits {
        JobLimits {
            timeout_ms: self.timeout_ms.unwrap_or(base.timeout_ms),
            memory_limit_mb: self.memory_limit_mb.unwrap_or(base.memory_limit_mb),
            fuel: self.fuel.or(base.fuel),
            output_bytes: self.output_bytes.unwrap_or(base.output_bytes),
            disk_bytes: self.disk_bytes.unwrap_or(base.disk_bytes),
            disk_files: self.disk_files.unwrap_or(base.disk_files),
        }
    }
}

/// An API key as the configuration gives it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    id: String,
    sha256: String,
    requests_per_second: Option<u32>,
    burst: Option<u32>,
    max_concurrent: Option<usize>,
    #[serde(default)]
    max: LimitsFile,
}

/// An API key: who it is, what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Its name in the history and the audit log.
    pub id: String,
    /// The SHA-256 of the key.
    pub sha256: [u8; 32],
    /// Requests per second, refilled continuously.
    pub requests_per_second: u32,
    /// Requests allowed at once after a quiet spell.
    pub burst: u32,
    /// Its jobs queued or running at once.
    pub max_concurrent: usize,
    /// Its maxima (within the server's).
    pub max: JobLimits,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    listen: Option<SocketAddr>,
    workers: Option<usize>,
    queue_depth: Option<usize>,
    database: Option<PathBuf>,
    cache_directory: Option<PathBuf>,
    max_request_bytes: Option<usize>,
    retention_jobs: Option<u64>,
    scratch_directory: Option<PathBuf>,
    max_files: Option<usize>,
    listen_backlog: Option<u32>,
    shutdown_grace_ms: Option<u64>,
    audit_log: Option<PathBuf>,
    #[serde(default)]
    max: LimitsFile,
    #[serde(default)]
    defaults: LimitsFile,
    #[serde(default)]
    keys: Vec<KeyFile>,
    #[serde(default)]
    no_auth: bool,
    #[serde(default)]
    plugins: PluginsConfig,
}

/// Where the language plugins are and whose signatures are trusted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginsConfig {
    /// The registry (`None`: no plugins; `kiln serve` gives `$KILN_HOME/plugins`).
    pub directory: Option<PathBuf>,
    /// Trusted publishers' ed25519 public keys, in hex.
    #[serde(default)]
    pub trusted_keys: Vec<String>,
    /// Whether unsigned plugins are accepted (wrongly signed ones never are).
    #[serde(default)]
    pub allow_unsigned: bool,
}

/// Everything the server runs with.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Where to listen (`127.0.0.1:8080` by default; port 0 picks one).
    pub listen: SocketAddr,
    /// Guest threads: at most this many jobs run at once.
    pub workers: usize,
    /// Jobs accepted beyond the running ones; past it requests get `503`.
    pub queue_depth: usize,
    /// The SQLite history (`:memory:` keeps it in memory only).
    pub database: PathBuf,
    /// The code cache's disk tier (memory only without one; `kiln serve` gives the
    /// user's cache directory unless told otherwise).
    pub cache_directory: Option<PathBuf>,
    /// The largest request body, in bytes (`413` past it).
    pub max_request_bytes: usize,
    /// Finished jobs kept in the history: older ones are deleted.
    pub retention_jobs: u64,
    /// Where each job's scratch directory is made (and removed after it).
    pub scratch_directory: PathBuf,
    /// The most files one request may give.
    pub max_files: usize,
    /// Connections the kernel holds until the server accepts them.
    pub listen_backlog: u32,
    /// On `SIGTERM`, how long running jobs may go on before they are cancelled.
    pub shutdown_grace_ms: u64,
    /// Where the audit log (JSON lines) goes; standard error without one. Read by the
    /// CLI, which installs the log.
    pub audit_log: Option<PathBuf>,
    /// The most any job gets.
    pub max: JobLimits,
    /// What a job gets when it does not ask.
    pub defaults: JobLimits,
    /// The API keys.
    pub keys: Vec<ApiKey>,
    /// Serve without authentication (loopback addresses only; no keys then).
    pub no_auth: bool,
    /// The language plugins.
    pub plugins: PluginsConfig,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            queue_depth: 64,
            database: PathBuf::from("kiln-serve.db"),
            cache_directory: None,
            max_request_bytes: 4 << 20,
            retention_jobs: 100_000,
            scratch_directory: std::env::temp_dir().join("kiln-serve"),
            max_files: 64,
            listen_backlog: 4096,
            shutdown_grace_ms: 10_000,
            audit_log: None,
            max: JobLimits::MAX,
            defaults: JobLimits::DEFAULT,
            keys: Vec::new(),
            no_auth: false,
            plugins: PluginsConfig::default(),
        }
    }
}

/// A configuration that cannot be used, with the reason.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl ServeConfig {
    /// The configuration in the TOML text `text` (every field optional).
    pub fn from_toml(text: &str) -> Result<ServeConfig, ConfigError> {
        let file: ConfigFile =
            toml::from_str(text).map_err(|e| ConfigError(format!("configuration: {e}")))?;
        let base = ServeConfig::default();
        let max = file.max.over(base.max);
        let keys = file
            .keys
            .iter()
            .map(|k| {
                let sha256 = crate::hex::parse_hex32(&k.sha256).ok_or_else(|| {
                    ConfigError(format!(
                        "key `{}`: sha256 must be 64 hexadecimal digits (the SHA-256 of the key)",
                        k.id
                    ))
                })?;
                Ok(ApiKey {
                    id: k.id.clone(),
                    sha256,
                    requests_per_second: k.requests_per_second.unwrap_or(50),
                    burst: k.burst.unwrap_or(100),
                    max_concurrent: k.max_concurrent.unwrap_or(8),
                    max: k.max.over(max).clamp(&max),
                })
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let config = ServeConfig {
            listen: file.listen.unwrap_or(base.listen),
            workers: file.workers.unwrap_or(base.workers),
            queue_depth: file.queue_depth.unwrap_or(base.queue_depth),
            database: file.database.unwrap_or(base.database),
            cache_directory: file.cache_directory,
            max_request_bytes: file.max_request_bytes.unwrap_or(base.max_request_bytes),
            retention_jobs: file.retention_jobs.unwrap_or(base.retention_jobs),
            scratch_directory: file.scratch_directory.unwrap_or(base.scratch_directory),
            max_files: file.max_files.unwrap_or(base.max_files),
            listen_backlog: file.listen_backlog.unwrap_or(base.listen_backlog),
            shutdown_grace_ms: file.shutdown_grace_ms.unwrap_or(base.shutdown_grace_ms),
            audit_log: file.audit_log,
            defaults: file.defaults.over(base.defaults).clamp(&max),
            max,
            keys,
            no_auth: file.no_auth,
            plugins: file.plugins,
        };
        config.check()?;
        Ok(config)
    }

    /// The configuration in the file at `path`.
    pub fn from_file(path: &Path) -> Result<ServeConfig, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read `{}`: {e}", path.display())))?;
        ServeConfig::from_toml(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))
    }

    /// Refuses settings that cannot work.
    pub fn check(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError(m.to_string()));
        if self.workers == 0 || self.workers > 1024 {
            return bad("workers must be between 1 and 1024");
        }
        if self.queue_depth > 1 << 20 {
            return bad("queue_depth must be at most 1048576");
        }
        if self.max_request_bytes < 1024 {
            return bad("max_request_bytes must be at least 1024");
        }
        if self.max.timeout_ms == 0 || self.max.memory_limit_mb == 0 {
            return bad("[max] timeout_ms and memory_limit_mb must be positive");
        }
        if self.listen_backlog == 0 {
            return bad("listen_backlog must be positive");
        }
        if self.max_files == 0 || self.max_files > 4096 {
            return bad("max_files must be between 1 and 4096");
        }
        if self.max.memory_limit_mb > 4096 {
            return bad("[max] memory_limit_mb must be at most 4096 (a 32-bit memory)");
        }
        match (self.no_auth, self.keys.is_empty()) {
            (true, false) => return bad("no_auth and API keys exclude each other"),
            (true, true) if !self.listen.ip().is_loopback() => {
                return Err(ConfigError(format!(
                    "no_auth (--no-auth) is refused on {}: only on a loopback address",
                    self.listen
                )))
            }
            (false, true) => {
                return bad(
                    "no API keys: add [[keys]] to the configuration, or run with --no-auth \
                     (loopback addresses only)",
                )
            }
            _ => {}
        }
        for (i, k) in self.keys.iter().enumerate() {
            if k.requests_per_second == 0 || k.burst == 0 || k.max_concurrent == 0 {
                return Err(ConfigError(format!(
                    "key `{}`: requests_per_second, burst and max_concurrent must be positive",
                    k.id
                )));
            }
            if self.keys[..i]
                .iter()
                .any(|o| o.id == k.id || o.sha256 == k.sha256)
            {
                return Err(ConfigError(format!("key `{}` is given twice", k.id)));
            }
        }
        Ok(())
    }
}

impl JobLimits {
    /// These limits, none above `max`'s.
    pub fn clamp(self, max: &JobLimits) -> JobLimits {
        JobLimits {
            timeout_ms: self.timeout_ms.min(max.timeout_ms),
            memory_limit_mb: self.memory_limit_mb.min(max.memory_limit_mb),
            fuel: match (self.fuel, max.fuel) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (None, Some(b)) => Some(b),
                (a, None) => a,
            },
            output_bytes: self.output_bytes.min(max.output_bytes),
            disk_bytes: self.disk_bytes.min(max.disk_bytes),
            disk_files: self.disk_files.min(max.disk_files),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_overrides_defaults_and_unknown_fields_are_refused() {
        let c = ServeConfig::from_toml(
            "workers = 3\nno_auth = true\n[max]\ntimeout_ms = 500\nfuel = 1000\n[defaults]\ntimeout_ms = 900\n",
        )
        .expect("valid");
        assert_eq!(c.workers, 3);
        assert_eq!(c.max.timeout_ms, 500);
        // Defaults never exceed the maxima; fuel is metered once the maxima meter it.
        assert_eq!(c.defaults.timeout_ms, 500);
        assert_eq!(c.defaults.fuel, Some(1000));
        let e = ServeConfig::from_toml("wokers = 3").unwrap_err();
        assert!(e.0.contains("unknown field"), "{e}");
        let e = ServeConfig::from_toml("no_auth = true\nworkers = 0").unwrap_err();
        assert!(e.0.contains("workers"), "{e}");
        let e = ServeConfig::from_toml("listen = \"nowhere\"").unwrap_err();
        assert!(e.0.contains("listen"), "{e}");
    }

    #[test]
    fn authentication_is_required_except_on_loopback_with_no_auth() {
        let e = ServeConfig::from_toml("").unwrap_err();
        assert!(e.0.contains("no API keys"), "{e}");
        let e = ServeConfig::from_toml("listen = \"0.0.0.0:8080\"\nno_auth = true").unwrap_err();
        assert!(e.0.contains("only on a loopback address"), "{e}");
        assert!(ServeConfig::from_toml("listen = \"[::1]:8080\"\nno_auth = true").is_ok());
        let key = |id: &str, hash: &str| format!("[[keys]]\nid = \"{id}\"\nsha256 = \"{hash}\"\n");
        let good = "ab".repeat(32);
        let c = ServeConfig::from_toml(&format!(
            "listen = \"0.0.0.0:8080\"\n[max]\ntimeout_ms = 900\n{}[keys.max]\ntimeout_ms = 5000\n",
            key("a", &good)
        ))
        .expect("keys");
        assert_eq!(c.keys[0].sha256, [0xab; 32]);
        // A key's maxima stay within the server's.
        assert_eq!(c.keys[0].max.timeout_ms, 900);
        let e = ServeConfig::from_toml(&key("a", "abc")).unwrap_err();
        assert!(e.0.contains("64 hexadecimal digits"), "{e}");
        let e = ServeConfig::from_toml(&format!(
            "{}{}",
            key("a", &good),
            key("a", &"cd".repeat(32))
        ))
        .unwrap_err();
        assert!(e.0.contains("given twice"), "{e}");
    }
}

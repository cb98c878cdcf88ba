//! `kiln serve`: a code-execution service on Kiln.
//!
//! A client posts a program (`POST /v1/execute`, JSON); a bounded pool of worker
//! threads runs it as a WASI command under per-job limits (time, memory, fuel, output),
//! with nothing but its arguments, environment and stdin; the answer carries its
//! status, output and exit code, and the job stays in a SQLite history
//! (`GET /v1/jobs/{id}`). Built on the public `kiln` and `kiln-wasi` APIs only.
//!
//! - `config.rs`: [`ServeConfig`], from TOML and flags;
//! - `api.rs`: the JSON of requests and results, statuses and languages;
//! - `runner.rs`: running one job on the shared engine (code cache, WASI fast paths);
//! - `pool.rs`: the worker threads and their bounded queue;
//! - `history.rs`: the SQLite history (jobs left unfinished by a crash become `lost`);
//! - `server.rs`: the axum routes and the server's start.
//!
//! - `auth.rs`: API keys (by SHA-256), their rate limits, quotas and maxima;
//! - `metrics.rs`: `GET /metrics` (OpenMetrics text, `prometheus-client`).
//!
//! Not built yet (requests for them are refused with `501`, never ignored):
//! asynchronous jobs and their events and cancellation, more than one file per job.
//! The scratch directory is also still to come (issue 19).

#![forbid(unsafe_code)]

pub mod api;
pub mod auth;
pub mod config;
pub mod history;
pub mod metrics;
pub mod pool;
pub mod runner;
pub mod server;

pub use config::{ApiKey, ConfigError, JobLimits, ServeConfig};
pub use server::{router, serve, state, StartError};

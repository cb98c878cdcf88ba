//! `kiln serve`: a code-execution service on Kiln.
//!
//! A client posts a program (`POST /v1/execute`, JSON); a bounded pool of worker
//! threads runs it as a WASI command under per-job limits (time, memory, fuel, output,
//! and a scratch directory capped in bytes and files), with nothing but its arguments,
//! environment, stdin and that directory; the answer carries its status, output and
//! exit code, and the job stays in a SQLite history (`GET /v1/jobs/{id}`). A job may
//! also run asynchronously (`202`), be followed as Server-Sent Events and be cancelled.
//! Built on the public `kiln` and `kiln-wasi` APIs only.
//!
//! - `config.rs`: [`ServeConfig`], from TOML and flags;
//! - `api.rs`: the JSON of requests and results, statuses and languages;
//! - `runner.rs`: running one job on the shared engine (code cache, WASI fast paths);
//! - `scratch.rs`: each job's directory, and the request's file names;
//! - `jobs.rs`: the jobs in flight (phase, output, cancellation);
//! - `pool.rs`: the worker threads, their bounded queue, and the graceful stop;
//! - `history.rs`: the SQLite history (jobs left unfinished by a crash become `lost`);
//! - `server.rs`: the axum routes and the server's start and stop;
//! - `events.rs`: `GET /v1/jobs/{id}/events` (Server-Sent Events);
//! - `auth.rs`: API keys (by SHA-256), their rate limits, quotas and maxima;
//! - `audit.rs`: the audit log's events, as JSON lines;
//! - `metrics.rs`: `GET /metrics` (OpenMetrics text, `prometheus-client`);
//! - `languages.rs` and `plugin/`: the built-in languages and the language plugins;
//! - `hex.rs`: hex, and random hex names.

#![forbid(unsafe_code)]

pub mod api;
pub mod audit;
pub mod auth;
pub mod config;
pub mod events;
pub mod hex;
pub mod history;
pub mod jobs;
pub mod languages;
pub mod metrics;
pub mod plugin;
pub mod pool;
pub mod runner;
pub mod scratch;
pub mod server;

pub use config::{ApiKey, ConfigError, JobLimits, ServeConfig};
pub use server::{router, serve, state, StartError};

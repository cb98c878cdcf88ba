//! The audit log: one structured `tracing` event (target `kiln_serve::audit`) per
//! security-relevant fact, each with the job id and key id where there is one.
//! [`Audit`] is the one list of them; [`json_layer`] writes them as JSON lines.
//!
//! | event | fields |
//! |---|---|
//! | `auth_failed` | `reason` |
//! | `rate_limited` | `key` |
//! | `quota_reached` | `key`, `limit` |
//! | `limit_hit` | `job`, `key`, `limit` (`time`, `memory`, `fuel`, `stack`, `disk`, `output`) |
//! | `capability_refused` | `job`, `key`, `what` (an import nothing provides, a WASI call refused) |
//! | `cancelled` | `job`, `key`, `reason` (`client`, `shutdown`) |

use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::Layer;

/// The audit log's target.
pub const TARGET: &str = "kiln_serve::audit";

/// One audit event.
#[derive(Debug, Clone, Copy)]
pub enum Audit<'a> {
    /// A request without a known key.
    AuthFailed {
        /// Why.
        reason: &'a str,
    },
    /// A key past its rate.
    RateLimited {
        /// The key.
        key: &'a str,
    },
    /// A key with all its concurrent-job slots taken.
    QuotaReached {
        /// The key.
        key: &'a str,
        /// Its quota.
        limit: usize,
    },
    /// A limit stopped a job (or refused it something).
    LimitHit {
        /// The job.
        job: &'a str,
        /// Its key.
        key: Option<&'a str>,
        /// Which limit.
        limit: &'a str,
    },
    /// The sandbox refused a job something it asked for.
    CapabilityRefused {
        /// The job.
        job: &'a str,
        /// Its key.
        key: Option<&'a str>,
        /// What it asked for.
        what: &'a str,
    },
    /// A job was cancelled.
    Cancelled {
        /// The job.
        job: &'a str,
        /// Its key.
        key: Option<&'a str>,
        /// Why: `client` or `shutdown`.
        reason: &'a str,
    },
}

impl Audit<'_> {
    /// Emits the event.
    pub fn emit(self) {
        let none = "-";
        match self {
            Audit::AuthFailed { reason } => {
                tracing::warn!(target: TARGET, event = "auth_failed", reason, "authentication failed")
            }
            Audit::RateLimited { key } => {
                tracing::warn!(target: TARGET, event = "rate_limited", key, "rate limit reached")
            }
            Audit::QuotaReached { key, limit } => {
                tracing::warn!(target: TARGET, event = "quota_reached", key, limit, "concurrency quota reached")
            }
            Audit::LimitHit { job, key, limit } => {
                tracing::warn!(target: TARGET, event = "limit_hit", job, key = key.unwrap_or(none), limit, "a limit stopped a job")
            }
            Audit::CapabilityRefused { job, key, what } => {
                tracing::warn!(target: TARGET, event = "capability_refused", job, key = key.unwrap_or(none), what, "a capability was refused")
            }
            Audit::Cancelled { job, key, reason } => {
                tracing::warn!(target: TARGET, event = "cancelled", job, key = key.unwrap_or(none), reason, "a job was cancelled")
            }
        }
    }
}

/// A layer writing the audit events, and only them, as JSON lines to `writer`.
pub fn json_layer<S, W>(writer: W) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_writer(writer)
        .with_filter(Targets::new().with_target(TARGET, tracing::Level::TRACE))
}

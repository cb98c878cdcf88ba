//! `GET /metrics`: the service's counters in the OpenMetrics text format (which
//! Prometheus reads), through `prometheus-client`:
//! - `kiln_jobs_total{status, language}`: finished jobs;
//! - `kiln_job_duration_seconds`: a histogram of their durations (compile and run);
//! - `kiln_limit_hits_total{limit}`: jobs stopped by each limit;
//! - `kiln_requests_refused_total{reason}`: requests refused before a job
//!   (`queue_full`, `rate_limit`, `quota`, `unauthorized`);
//! - `kiln_jobs_queued`, `kiln_jobs_running`: read from the pool at each scrape.

use crate::api::JobResult;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    status: String,
    language: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    reason: &'static str,
}

/// Why a request was refused before it became a job.
#[derive(Debug, Clone, Copy)]
pub enum Refusal {
    /// The queue was full (`503`).
    QueueFull,
    /// The key was over its rate (`429`).
    RateLimit,
    /// The key had its quota of jobs (`429`).
    Quota,
    /// No key, or an unknown one (`401`).
    Unauthorized,
}

/// The service's metrics.
pub struct Metrics {
    registry: Registry,
    jobs: Family<JobLabels, Counter>,
    duration: Histogram,
    limit_hits: Family<LimitLabels, Counter>,
    refused: Family<RefusalLabels, Counter>,
    queued: Gauge,
    running: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let jobs = Family::<JobLabels, Counter>::default();
        registry.register(
            "kiln_jobs",
            "Finished jobs, by status and language",
            jobs.clone(),
        );
        // 0.25 ms to about 8 s.
        let duration = Histogram::new(exponential_buckets(0.000_25, 2.0, 16));
        registry.register(
            "kiln_job_duration_seconds",
            "How long jobs took, compilation included",
            duration.clone(),
        );
        let limit_hits = Family::<LimitLabels, Counter>::default();
        registry.register(
            "kiln_limit_hits",
            "Jobs stopped by a limit, by limit",
            limit_hits.clone(),
        );
        let refused = Family::<RefusalLabels, Counter>::default();
        registry.register(
            "kiln_requests_refused",
            "Requests refused before they became jobs, by reason",
            refused.clone(),
        );
        let queued = Gauge::default();
        registry.register(
            "kiln_jobs_queued",
            "Jobs waiting for a worker",
            queued.clone(),
        );
        let running = Gauge::default();
        registry.register("kiln_jobs_running", "Jobs being run", running.clone());
        Metrics {
            registry,
            jobs,
            duration,
            limit_hits,
            refused,
            queued,
            running,
        }
    }
}

impl Metrics {
    /// Counts a finished job.
    pub fn finished(&self, r: &JobResult) {
        self.jobs
            .get_or_create(&JobLabels {
                status: r.status.name().to_string(),
                language: r.language.clone(),
            })
            .inc();
        self.duration.observe(r.duration_ms as f64 / 1000.0);
        for limit in &r.limits_hit {
            self.limit_hits
                .get_or_create(&LimitLabels {
                    limit: limit.clone(),
                })
                .inc();
        }
    }

    /// Counts a refused request.
    pub fn refused(&self, why: Refusal) {
        let reason = match why {
            Refusal::QueueFull => "queue_full",
            Refusal::RateLimit => "rate_limit",
            Refusal::Quota => "quota",
            Refusal::Unauthorized => "unauthorized",
        };
        self.refused.get_or_create(&RefusalLabels { reason }).inc();
    }

    /// The exposition text, with the pool's current counts.
    pub fn render(&self, queued: usize, running: usize) -> Result<String, std::fmt::Error> {
        self.queued.set(queued as i64);
        self.running.set(running as i64);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

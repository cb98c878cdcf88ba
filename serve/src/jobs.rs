//! The jobs in flight: every accepted job from its acceptance until its result is in
//! the history. A [`LiveJob`] holds what the handlers need while it runs: its output
//! pipes (read by `GET /v1/jobs/{id}/events` as they fill), its phase (watched by the
//! waiting handlers), and how to cancel it.
//!
//! A job's phase only moves forward, under one lock: `Queued` → `Running` → `Done`,
//! or `Queued` → `Done` when it is cancelled before a worker takes it (the worker then
//! skips it). Cancelling a running job interrupts its store through the epoch: the
//! runner registers the store's interrupt handle, and looks at the cancellation once
//! more after setting its deadline, so an interrupt that came earlier is never lost.

use crate::api::{JobResult, Status};
use kiln::InterruptHandle;
use kiln_wasi::OutputPipe;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

/// Why a job was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// `DELETE /v1/jobs/{id}`.
    Client,
    /// The server stopped (`SIGTERM`) before the job finished.
    Shutdown,
}

impl CancelReason {
    /// What the job's `error` says.
    pub fn message(self) -> &'static str {
        match self {
            CancelReason::Client => "cancelled by the client",
            CancelReason::Shutdown => "cancelled: the server stopped before the job finished",
        }
    }

    /// Its name in the audit log.
    pub fn name(self) -> &'static str {
        match self {
            CancelReason::Client => "client",
            CancelReason::Shutdown => "shutdown",
        }
    }
}

/// Where a job is, as the handlers watch it.
#[derive(Debug, Clone)]
pub enum Phase {
    /// Waiting for a worker.
    Queued,
    /// A worker runs it.
    Running,
    /// Its result (also in the history).
    Done(Arc<JobResult>),
}

/// What [`LiveJob::cancel`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Cancelled {
    /// The job had not started: it is over now, and the caller records its result.
    BeforeStart,
    /// The job runs: it was interrupted and will end soon with `cancelled`.
    Interrupted,
    /// The job was already over (or already cancelled).
    TooLate,
}

#[derive(Default)]
struct Control {
    reason: Option<CancelReason>,
    interrupt: Option<InterruptHandle>,
}

/// One job in flight.
pub struct LiveJob {
    /// Its id.
    pub id: String,
    /// The API key that posted it.
    pub key: Option<String>,
    /// Its language's name.
    pub language: String,
    /// Its standard output, as it is written.
    pub stdout: OutputPipe,
    /// Its standard error, as it is written.
    pub stderr: OutputPipe,
    phase: watch::Sender<Phase>,
    control: Mutex<Control>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl LiveJob {
    /// A queued job whose output pipes keep `output_bytes` each.
    pub fn new(id: String, key: Option<String>, language: &str, output_bytes: usize) -> LiveJob {
        LiveJob {
            id,
            key,
            language: language.to_string(),
            stdout: OutputPipe::with_capacity(output_bytes),
            stderr: OutputPipe::with_capacity(output_bytes),
            phase: watch::Sender::new(Phase::Queued),
            control: Mutex::new(Control::default()),
        }
    }

    /// The job's phase, watched: handlers wait on it for the result.
    pub fn watch(&self) -> watch::Receiver<Phase> {
        self.phase.subscribe()
    }

    /// Its phase now.
    pub fn phase(&self) -> Phase {
        self.phase.borrow().clone()
    }

    /// A worker takes the job: `false` if it was cancelled before (skip it).
    pub fn start(&self) -> bool {
        let c = lock(&self.control);
        if c.reason.is_some() {
            return false;
        }
        self.phase.send_if_modified(|p| match p {
            Phase::Queued => {
                *p = Phase::Running;
                true
            }
            _ => false,
        })
    }

    /// The runner's store can now be interrupted through `handle`.
    pub fn set_interrupt(&self, handle: InterruptHandle) {
        let mut c = lock(&self.control);
        if c.reason.is_some() {
            handle.interrupt();
        }
        c.interrupt = Some(handle);
    }

    /// Why the job was cancelled, if it was.
    pub fn cancelled(&self) -> Option<CancelReason> {
        lock(&self.control).reason
    }

    /// Cancels the job for `reason`.
    pub fn cancel(&self, reason: CancelReason) -> Cancelled {
        let mut c = lock(&self.control);
        if c.reason.is_some() {
            return Cancelled::TooLate;
        }
        match &*self.phase.borrow() {
            Phase::Done(_) => return Cancelled::TooLate,
            Phase::Queued => {
                c.reason = Some(reason);
                return Cancelled::BeforeStart;
            }
            Phase::Running => c.reason = Some(reason),
        }
        if let Some(h) = &c.interrupt {
            h.interrupt();
        }
        Cancelled::Interrupted
    }

    /// The job's result is in (and in the history): wakes everyone waiting.
    pub fn finish(&self, result: JobResult) {
        let _c = lock(&self.control);
        self.phase.send_replace(Phase::Done(Arc::new(result)));
    }

    /// The result of this job cancelled before it started.
    pub fn cancelled_result(&self, reason: CancelReason) -> JobResult {
        JobResult::without_output(
            &self.id,
            &self.language,
            Status::Cancelled,
            reason.message(),
        )
    }

    /// What `GET /v1/jobs/{id}` shows while the job is in flight: its phase and the
    /// output so far.
    pub fn snapshot(&self) -> JobResult {
        let text = |p: &OutputPipe| String::from_utf8_lossy(&p.contents()).into_owned();
        match self.phase() {
            Phase::Done(r) => (*r).clone(),
            phase => JobResult {
                job_id: self.id.clone(),
                language: self.language.clone(),
                status: match phase {
                    Phase::Queued => Status::Queued,
                    _ => Status::Running,
                },
                stdout: text(&self.stdout),
                stderr: text(&self.stderr),
                exit_code: None,
                duration_ms: 0,
                limits_hit: Vec::new(),
                truncated: self.stdout.truncated() || self.stderr.truncated(),
                error: None,
            },
        }
    }
}

/// Every job in flight, by id.
#[derive(Default)]
pub struct LiveJobs(Mutex<HashMap<String, Arc<LiveJob>>>);

impl LiveJobs {
    /// Adds `job`.
    pub fn insert(&self, job: Arc<LiveJob>) {
        lock(&self.0).insert(job.id.clone(), job);
    }

    /// The job `id`, if in flight.
    pub fn get(&self, id: &str) -> Option<Arc<LiveJob>> {
        lock(&self.0).get(id).cloned()
    }

    /// Forgets the job `id` (its result is in the history).
    pub fn remove(&self, id: &str) {
        lock(&self.0).remove(id);
    }

    /// Every job in flight.
    pub fn all(&self) -> Vec<Arc<LiveJob>> {
        lock(&self.0).values().cloned().collect()
    }

    /// How many jobs are in flight.
    pub fn len(&self) -> usize {
        lock(&self.0).len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queued_job_cancelled_is_skipped_and_a_finished_one_cannot_be() {
        let j = LiveJob::new("a".into(), None, "wat", 16);
        assert_eq!(j.cancel(CancelReason::Client), Cancelled::BeforeStart);
        assert!(!j.start(), "a worker skips a job cancelled while queued");
        assert_eq!(j.cancel(CancelReason::Shutdown), Cancelled::TooLate);
        assert_eq!(j.cancelled(), Some(CancelReason::Client));

        let j = LiveJob::new("b".into(), None, "wat", 16);
        assert!(j.start());
        assert!(matches!(j.snapshot().status, Status::Running));
        let r = j.cancelled_result(CancelReason::Client);
        j.finish(r);
        assert_eq!(j.cancel(CancelReason::Client), Cancelled::TooLate);
        assert_eq!(j.cancelled(), None);
        assert!(matches!(j.phase(), Phase::Done(_)));
    }
}

//! The worker pool: a fixed number of threads (sized for the guest's stack) that run
//! jobs from a bounded FIFO queue. Guests never run on the async runtime's threads.
//! [`Pool::submit`] refuses a job at once when the queue is full, so the server can
//! answer `503` instead of waiting.
//!
//! Every accepted job ends with a final status in the history, whatever happens: a
//! worker records its result; a job cancelled while queued is recorded by the
//! canceller and skipped by the worker; [`Pool::shutdown`] cancels what is still
//! queued, lets running jobs finish within the grace period, then cancels them.

use crate::api::{JobResult, Status};
use crate::audit::Audit;
use crate::auth::Admission;
use crate::history::History;
use crate::jobs::{CancelReason, Cancelled, LiveJob, LiveJobs};
use crate::metrics::Metrics;
use crate::runner::{Job, Runner};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A job and the key's slot it holds until it is over.
struct Task {
    job: Job,
    admitted: Admission,
}

/// The workers, their queue, and the jobs in flight.
pub struct Pool {
    queue: SyncSender<Task>,
    counts: Arc<Counts>,
    live: Arc<LiveJobs>,
    history: Arc<History>,
    metrics: Arc<Metrics>,
    stopping: AtomicBool,
}

/// How many jobs wait and run.
#[derive(Default)]
pub struct Counts {
    /// Accepted, not yet taken by a worker.
    pub queued: AtomicUsize,
    /// Being run.
    pub running: AtomicUsize,
}

/// Why a job was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The queue is full.
    Full,
    /// The server is stopping.
    Stopped,
}

impl Pool {
    /// Starts `workers` threads running jobs on `runner`, recording them in `history`
    /// and `metrics`, with room for `depth` waiting jobs.
    pub fn start(
        workers: usize,
        depth: usize,
        runner: Arc<Runner>,
        history: Arc<History>,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Pool> {
        let (queue, rx) = sync_channel::<Task>(depth);
        let rx = Arc::new(Mutex::new(rx));
        let counts = Arc::new(Counts::default());
        let live = Arc::new(LiveJobs::default());
        for i in 0..workers {
            let worker = Worker {
                rx: rx.clone(),
                runner: runner.clone(),
                history: history.clone(),
                counts: counts.clone(),
                live: live.clone(),
                metrics: metrics.clone(),
            };
            std::thread::Builder::new()
                .name(format!("kiln-serve-worker-{i}"))
                .stack_size(Runner::thread_stack())
                .spawn(move || worker.work())?;
        }
        Ok(Pool {
            queue,
            counts,
            live,
            history,
            metrics,
            stopping: AtomicBool::new(false),
        })
    }

    /// Queues `job` (accepted in the history already), holding `admitted` until it is
    /// over. On refusal the caller withdraws it from the history.
    pub fn submit(&self, job: Job, admitted: Admission) -> Result<Arc<LiveJob>, Refused> {
        if self.stopping.load(Ordering::SeqCst) {
            return Err(Refused::Stopped);
        }
        let live = job.live.clone();
        self.live.insert(live.clone());
        self.counts.queued.fetch_add(1, Ordering::SeqCst);
        let task = Task { job, admitted };
        match self.queue.try_send(task) {
            Ok(()) => Ok(live),
            Err(e) => {
                self.counts.queued.fetch_sub(1, Ordering::SeqCst);
                self.live.remove(&live.id);
                Err(match e {
                    TrySendError::Full(_) => Refused::Full,
                    TrySendError::Disconnected(_) => Refused::Stopped,
                })
            }
        }
    }

    /// The job `id` if it is in flight.
    pub fn live(&self, id: &str) -> Option<Arc<LiveJob>> {
        self.live.get(id)
    }

    /// Cancels the job `job` for `reason`: a queued job is over at once (recorded
    /// here), a running one is interrupted and its worker records it.
    pub fn cancel(&self, job: &LiveJob, reason: CancelReason) -> Cancelled {
        let outcome = job.cancel(reason);
        if outcome == Cancelled::BeforeStart {
            let result = job.cancelled_result(reason);
            if let Err(e) = self.history.finish(&result) {
                tracing::error!(target: "kiln_serve", job = %job.id, "{e}");
            }
            Audit::Cancelled {
                job: &job.id,
                key: job.key.as_deref(),
                reason: reason.name(),
            }
            .emit();
            self.metrics.finished(&result);
            // The worker that takes it from the queue skips it uncounted.
            self.counts.queued.fetch_sub(1, Ordering::SeqCst);
            self.live.remove(&job.id);
            job.finish(result);
        }
        outcome
    }

    /// Stops the pool: refuses new jobs, cancels the queued ones, lets the running ones
    /// finish for up to `grace`, then cancels them and waits (up to `grace` again, at
    /// least a second) for their workers to record them. Returns how many jobs were
    /// cancelled.
    pub async fn shutdown(&self, grace: Duration) -> usize {
        self.stopping.store(true, Ordering::SeqCst);
        let mut cancelled = 0;
        for job in self.live.all() {
            if matches!(job.phase(), crate::jobs::Phase::Queued)
                && self.cancel(&job, CancelReason::Shutdown) != Cancelled::TooLate
            {
                cancelled += 1;
            }
        }
        let until = Instant::now() + grace;
        while !self.live.is_empty() && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for job in self.live.all() {
            if self.cancel(&job, CancelReason::Shutdown) != Cancelled::TooLate {
                cancelled += 1;
            }
        }
        let until = Instant::now() + grace.max(Duration::from_secs(1));
        while !self.live.is_empty() && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        cancelled
    }

    /// Whether the pool is stopping (it accepts nothing more).
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// The queue and the running jobs.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }
}

/// One worker thread's share of the pool.
struct Worker {
    rx: Arc<Mutex<Receiver<Task>>>,
    runner: Arc<Runner>,
    history: Arc<History>,
    counts: Arc<Counts>,
    live: Arc<LiveJobs>,
    metrics: Arc<Metrics>,
}

impl Worker {
    /// Takes jobs until the pool is dropped.
    fn work(self) {
        loop {
            let task = {
                let rx = self.rx.lock().unwrap_or_else(|e| e.into_inner());
                match rx.recv() {
                    Ok(t) => t,
                    Err(_) => return,
                }
            };
            // A job cancelled while it waited is over already (and no longer counted).
            if task.job.live.start() {
                self.counts.queued.fetch_sub(1, Ordering::SeqCst);
                self.counts.running.fetch_add(1, Ordering::SeqCst);
                self.run(task);
            }
        }
    }

    fn run(&self, task: Task) {
        let Task { job, admitted } = task;
        let job = &job;
        if let Err(e) = self.history.start(&job.id) {
            tracing::error!(target: "kiln_serve", job = %job.id, "{e}");
        }
        // A panic in the runner is a bug in Kiln; the job still gets a final status.
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.runner.run(job)))
                .unwrap_or_else(|_| {
                    JobResult::without_output(
                        &job.id,
                        &job.language,
                        Status::Error,
                        "internal error: the runner panicked",
                    )
                });
        if let Err(e) = self.history.finish(&result) {
            tracing::error!(target: "kiln_serve", job = %result.job_id, "{e}");
        }
        // Counted, recorded, and the key's slot given back before anyone waiting learns
        // the result: a client that has its answer may submit again at once.
        self.metrics.finished(&result);
        self.counts.running.fetch_sub(1, Ordering::SeqCst);
        self.live.remove(&job.id);
        drop(admitted);
        job.live.finish(result);
    }
}

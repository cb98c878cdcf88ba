//! The worker pool: a fixed number of threads (sized for the guest's stack) that run
//! jobs from a bounded FIFO queue. Guests never run on the async runtime's threads.
//! [`Pool::submit`] refuses a job at once when the queue is full, so the server can
//! answer `503` instead of waiting.

use crate::api::{JobResult, Status};
use crate::history::History;
use crate::runner::{Job, Runner};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// A job and where its result goes.
struct Task {
    job: Job,
    reply: oneshot::Sender<JobResult>,
}

/// The workers and their queue.
pub struct Pool {
    queue: SyncSender<Task>,
    counts: Arc<Counts>,
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
    /// The workers are gone (the server is stopping).
    Stopped,
}

impl Pool {
    /// Starts `workers` threads running jobs on `runner`, recording them in `history`,
    /// with room for `depth` waiting jobs.
    pub fn start(
        workers: usize,
        depth: usize,
        runner: Arc<Runner>,
        history: Arc<History>,
    ) -> std::io::Result<Pool> {
        let (queue, rx) = sync_channel::<Task>(depth);
        let rx = Arc::new(Mutex::new(rx));
        let counts = Arc::new(Counts::default());
        for i in 0..workers {
            let (rx, runner, history, counts) =
                (rx.clone(), runner.clone(), history.clone(), counts.clone());
            std::thread::Builder::new()
                .name(format!("kiln-serve-worker-{i}"))
                .stack_size(Runner::thread_stack())
                .spawn(move || work(&rx, &runner, &history, &counts))?;
        }
        Ok(Pool { queue, counts })
    }

    /// Queues `job`; its result arrives on the returned receiver.
    pub fn submit(&self, job: Job) -> Result<oneshot::Receiver<JobResult>, Refused> {
        let (reply, result) = oneshot::channel();
        self.counts.queued.fetch_add(1, Ordering::SeqCst);
        match self.queue.try_send(Task { job, reply }) {
            Ok(()) => Ok(result),
            Err(e) => {
                self.counts.queued.fetch_sub(1, Ordering::SeqCst);
                Err(match e {
                    TrySendError::Full(_) => Refused::Full,
                    TrySendError::Disconnected(_) => Refused::Stopped,
                })
            }
        }
    }

    /// The queue and the running jobs.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }
}

/// A worker: takes jobs until the pool is dropped.
fn work(rx: &Mutex<Receiver<Task>>, runner: &Runner, history: &History, counts: &Counts) {
    loop {
        let task = {
            let rx = rx.lock().unwrap_or_else(|e| e.into_inner());
            match rx.recv() {
                Ok(t) => t,
                Err(_) => return,
            }
        };
        counts.queued.fetch_sub(1, Ordering::SeqCst);
        counts.running.fetch_add(1, Ordering::SeqCst);
        if let Err(e) = history.start(&task.job.id) {
            tracing::error!(target: "kiln_serve", job = %task.job.id, "{e}");
        }
        // A panic in the runner is a bug in Kiln; the job still gets a final status.
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runner.run(&task.job)))
                .unwrap_or_else(|_| JobResult {
                    job_id: task.job.id.clone(),
                    language: task.job.language.name().to_string(),
                    status: Status::Error,
                    stdout: String::new(),
                    stderr: String::new(),
                    exit_code: None,
                    duration_ms: 0,
                    limits_hit: Vec::new(),
                    truncated: false,
                    error: Some("internal error: the runner panicked".into()),
                });
        if let Err(e) = history.finish(&result) {
            tracing::error!(target: "kiln_serve", job = %result.job_id, "{e}");
        }
        counts.running.fetch_sub(1, Ordering::SeqCst);
        // The client may have gone; the history has the result.
        let _ = task.reply.send(result);
    }
}

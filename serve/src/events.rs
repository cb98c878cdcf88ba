//! `GET /v1/jobs/{id}/events`: a job as Server-Sent Events, while it runs.
//!
//! | event | data (JSON) |
//! |---|---|
//! | `status` | `{"status": "queued" \| "running"}`, as the job moves |
//! | `stdout`, `stderr` | `{"text": ...}`: what the job wrote since the last chunk |
//! | `result` | the job's result, as `GET /v1/jobs/{id}` gives it; the stream ends |
//!
//! Output is read from the job's pipes as they fill (every 20 ms while it runs, and at
//! once when it ends). A chunk never ends inside a UTF-8 sequence the job is still
//! writing. A finished job's stream is its output and its result.

use crate::api::{JobResult, Status};
use crate::jobs::{LiveJob, Phase};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often a running job's pipes are read.
pub const POLL: Duration = Duration::from_millis(20);

/// The events of a job in flight.
pub fn live(job: Arc<LiveJob>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let follow = Follow {
        phase: job.watch(),
        job,
        stdout_at: 0,
        stderr_at: 0,
        told: None,
        done: false,
    };
    let events = stream::unfold(follow, Follow::step).flat_map(stream::iter);
    Sse::new(events.map(Ok)).keep_alive(KeepAlive::default())
}

/// The events of a finished job.
pub fn finished(r: JobResult) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let mut events = Vec::new();
    for (name, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
        if !text.is_empty() {
            events.push(chunk(name, text));
        }
    }
    events.push(result_event(&r));
    Sse::new(stream::iter(events.into_iter().map(Ok)))
}

struct Follow {
    job: Arc<LiveJob>,
    phase: watch::Receiver<Phase>,
    stdout_at: usize,
    stderr_at: usize,
    told: Option<Status>,
    done: bool,
}

impl Follow {
    /// The next events: as soon as there are any, or the job ends.
    async fn step(mut self) -> Option<(Vec<Event>, Follow)> {
        if self.done {
            return None;
        }
        loop {
            let phase = self.phase.borrow_and_update().clone();
            let mut events = Vec::new();
            let now = match &phase {
                Phase::Queued => Some(Status::Queued),
                Phase::Running => Some(Status::Running),
                Phase::Done(_) => None,
            };
            if let Some(status) = now.filter(|s| self.told != Some(*s)) {
                self.told = Some(status);
                let data = serde_json::json!({ "status": status.name() });
                events.push(Event::default().event("status").data(data.to_string()));
            }
            let last = matches!(phase, Phase::Done(_));
            let job = self.job.clone();
            if let Some(e) = read("stdout", &job.stdout, &mut self.stdout_at, last) {
                events.push(e);
            }
            if let Some(e) = read("stderr", &job.stderr, &mut self.stderr_at, last) {
                events.push(e);
            }
            if let Phase::Done(r) = phase {
                events.push(result_event(&r));
                self.done = true;
                return Some((events, self));
            }
            if !events.is_empty() {
                return Some((events, self));
            }
            tokio::select! {
                _ = self.phase.changed() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }
}

/// The pipe's new bytes from `*at` as an event, up to the last whole UTF-8 sequence
/// unless `last`.
fn read(name: &str, pipe: &kiln_wasi::OutputPipe, at: &mut usize, last: bool) -> Option<Event> {
    let bytes = pipe.contents_from(*at);
    let take = if last {
        bytes.len()
    } else {
        whole_utf8(&bytes)
    };
    if take == 0 {
        return None;
    }
    *at += take;
    Some(chunk(name, &String::from_utf8_lossy(&bytes[..take])))
}

/// How much of `bytes` ends outside a UTF-8 sequence still being written (invalid
/// bytes count as whole: they become U+FFFD).
fn whole_utf8(bytes: &[u8]) -> usize {
    match std::str::from_utf8(bytes) {
        Ok(_) => bytes.len(),
        Err(e) if e.error_len().is_none() => e.valid_up_to(),
        Err(_) => bytes.len(),
    }
}

fn chunk(name: &str, text: &str) -> Event {
    let data = serde_json::json!({ "text": text });
    Event::default().event(name).data(data.to_string())
}

fn result_event(r: &JobResult) -> Event {
    let data = serde_json::to_string(r).unwrap_or_else(|e| {
        serde_json::json!({ "job_id": r.job_id, "error": e.to_string() }).to_string()
    });
    Event::default().event("result").data(data)
}

#[cfg(test)]
mod tests {
    use super::whole_utf8;

    #[test]
    fn a_chunk_stops_before_a_sequence_still_being_written() {
        assert_eq!(whole_utf8(b"abc"), 3);
        let e_acute = "é".as_bytes();
        assert_eq!(whole_utf8(&[b'a', e_acute[0]]), 1);
        assert_eq!(whole_utf8(&[b'a', e_acute[0], e_acute[1]]), 3);
        // An invalid byte is not waited for.
        assert_eq!(whole_utf8(&[b'a', 0xff, b'b']), 3);
    }
}

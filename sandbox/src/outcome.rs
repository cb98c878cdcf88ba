//! How a failed call becomes an [`Error`]: the one place that decides which failures
//! are limits, whichever backend ran the call.
//!
//! - Out of fuel → `ResourceExhausted { Fuel, limit: fuel given, used: fuel given }`.
//! - Interrupted (the timeout's epoch deadline, or a compilation past the build's
//!   deadline) → `ResourceExhausted { Time, limit: timeout ms, used: elapsed ms }`;
//!   but interrupted because the call was cancelled (its future dropped) →
//!   `Cancelled`.
//! - Stack overflow → `ResourceExhausted { Stack, limit: max_wasm_stack, used: the
//!   same }`: the stack is a limit the host sets, like fuel and time, so it is
//!   reported (and audited) as one rather than as a trap.
//! - A limit that refused a memory or table growth during the call, when the call
//!   then failed (a guest seeing `memory.grow` return -1 usually traps later, e.g. on
//!   `unreachable`), or when instantiation failed → `ResourceExhausted` of that
//!   limit, with `used` = the total requested.
//! - Any other trap → `Trap { code, backtrace }`; `proc_exit` → `Exit`.

use crate::audit;
use crate::cancel::Cancel;
use crate::error::{Error, ResourceKind, TrapCode};
use crate::limits::{HitLog, LimitHit, Limits};
use std::time::{Duration, Instant};

/// A call's failure as a backend reports it, before the limit policy.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The fuel ran out.
    OutOfFuel,
    /// The epoch deadline (the timeout) passed, or the call was interrupted.
    Interrupted,
    /// The call was cancelled before it entered wasm.
    Cancelled,
    /// The wasm stack limit was reached.
    StackOverflow,
    /// The backend refused a creation with this limit (at instantiation).
    Refused(LimitHit),
    /// Any other trap.
    Trap {
        code: TrapCode,
        backtrace: Vec<String>,
    },
    /// WASI `proc_exit`.
    Exit(i32),
    /// A failure that is not a trap (module, link, type, runtime).
    Error(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Error(e)
    }
}

/// One entry into the guest (a call, instantiation, or a compilation): resets the
/// refusal log, and measures time from `started` (the entry's start, or for the steps
/// of a `build()` the build's start: they share one timeout).
#[derive(Debug)]
pub(crate) struct Entry<'a> {
    id: u64,
    limits: &'a Limits,
    log: &'a HitLog,
    started: Instant,
    cancel: Option<&'a Cancel>,
}

impl<'a> Entry<'a> {
    pub fn begin(
        id: u64,
        limits: &'a Limits,
        log: &'a HitLog,
        started: Instant,
        cancel: Option<&'a Cancel>,
    ) -> Self {
        // Refusals of earlier calls were audited when they happened.
        log.take();
        Entry {
            id,
            limits,
            log,
            started,
            cancel,
        }
    }

    /// The time left of the timeout (`None`: no timeout). Zero when it has passed.
    pub fn remaining(&self) -> Option<Duration> {
        self.limits
            .timeout
            .map(|t| t.saturating_sub(self.started.elapsed()))
    }

    /// When the timeout passes (`None`: no timeout, or too far to say).
    pub fn deadline(&self) -> Option<Instant> {
        self.limits
            .timeout
            .and_then(|t| self.started.checked_add(t))
    }

    fn exhausted(&self, kind: ResourceKind, limit: u64, used: u64) -> Error {
        audit::limit_hit(self.id, kind, limit, used);
        Error::ResourceExhausted { kind, limit, used }
    }

    /// The error for `failure`.
    pub fn fail(self, failure: Failure) -> Error {
        let hits = self.log.take();
        let from_hit = |hit: &LimitHit| Error::ResourceExhausted {
            kind: hit.kind,
            limit: hit.limit,
            used: hit.requested,
        };
        match failure {
            Failure::OutOfFuel => {
                let fuel = self.limits.fuel.unwrap_or(0);
                self.exhausted(ResourceKind::Fuel, fuel, fuel)
            }
            Failure::Cancelled => {
                audit::cancelled(self.id);
                Error::Cancelled
            }
            Failure::Interrupted if self.cancel.is_some_and(Cancel::is_cancelled) => {
                audit::cancelled(self.id);
                Error::Cancelled
            }
            Failure::Interrupted => {
                let elapsed = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
                let limit = self.limits.timeout_ms().unwrap_or(0);
                self.exhausted(ResourceKind::Time, limit, elapsed)
            }
            Failure::StackOverflow => {
                let stack = self.limits.wasm_stack as u64;
                self.exhausted(ResourceKind::Stack, stack, stack)
            }
            Failure::Refused(hit) => {
                if !hits.contains(&hit) {
                    audit::limit_hit(self.id, hit.kind, hit.limit, hit.requested);
                }
                from_hit(&hit)
            }
            Failure::Trap { code, backtrace } => match hits.last() {
                Some(hit) => from_hit(hit),
                None => Error::Trap { code, backtrace },
            },
            Failure::Exit(code) => Error::Exit(code),
            Failure::Error(e @ (Error::Link(_) | Error::Runtime(_))) => match hits.last() {
                Some(hit) => from_hit(hit),
                None => e,
            },
            Failure::Error(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_growth_explains_a_later_trap() {
        let limits = Limits::default();
        let log = HitLog::new(3);
        let entry = Entry::begin(3, &limits, &log, Instant::now(), None);
        log.record(LimitHit {
            kind: ResourceKind::Memory,
            limit: 65536,
            requested: 131072,
        });
        let e = entry.fail(Failure::Trap {
            code: TrapCode::Unreachable,
            backtrace: vec![],
        });
        assert!(matches!(
            e,
            Error::ResourceExhausted {
                kind: ResourceKind::Memory,
                limit: 65536,
                used: 131072
            }
        ));
        // The next entry starts clean.
        let entry = Entry::begin(3, &limits, &log, Instant::now(), None);
        let e = entry.fail(Failure::Trap {
            code: TrapCode::Unreachable,
            backtrace: vec![],
        });
        assert!(matches!(e, Error::Trap { .. }));
    }

    #[test]
    fn an_interrupt_of_a_cancelled_call_is_a_cancellation() {
        let limits = Limits {
            timeout: Some(Duration::from_secs(1)),
            ..Limits::default()
        };
        let log = HitLog::new(4);
        let cancel = Cancel::default();
        let entry = Entry::begin(4, &limits, &log, Instant::now(), Some(&cancel));
        assert!(entry
            .remaining()
            .is_some_and(|r| r <= Duration::from_secs(1)));
        assert!(matches!(
            entry.fail(Failure::Interrupted),
            Error::ResourceExhausted {
                kind: ResourceKind::Time,
                limit: 1000,
                ..
            }
        ));
        cancel.cancel();
        let entry = Entry::begin(4, &limits, &log, Instant::now(), Some(&cancel));
        assert!(matches!(entry.fail(Failure::Interrupted), Error::Cancelled));
    }
}

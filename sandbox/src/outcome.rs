//! How a failed call becomes an [`Error`]: the one place that decides which failures
//! are limits, whichever backend ran the call.
//!
//! - Out of fuel → `ResourceExhausted { Fuel, limit: fuel given, used: fuel given }`.
//! - Interrupted (the timeout's epoch deadline) → `ResourceExhausted { Time, limit:
//!   timeout ms, used: elapsed ms }`.
//! - Stack overflow → `ResourceExhausted { Stack, limit: max_wasm_stack, used: the
//!   same }`: the stack is a limit the host sets, like fuel and time, so it is
//!   reported (and audited) as one rather than as a trap.
//! - A limit that refused a memory or table growth during the call, when the call
//!   then failed (a guest seeing `memory.grow` return -1 usually traps later, e.g. on
//!   `unreachable`), or when instantiation failed → `ResourceExhausted` of that
//!   limit, with `used` = the total requested.
//! - Any other trap → `Trap { code, backtrace }`; `proc_exit` → `Exit`.

use crate::audit;
use crate::error::{Error, ResourceKind, TrapCode};
use crate::limits::{HitLog, LimitHit, Limits};
use std::time::Instant;

/// A call's failure as a backend reports it, before the limit policy.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The fuel ran out.
    OutOfFuel,
    /// The epoch deadline (the timeout) passed.
    Interrupted,
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

/// One entry into the guest (a call, or instantiation): resets the refusal log and
/// starts the clock.
#[derive(Debug)]
pub(crate) struct Entry<'a> {
    id: u64,
    limits: &'a Limits,
    log: &'a HitLog,
    started: Instant,
}

impl<'a> Entry<'a> {
    pub fn begin(id: u64, limits: &'a Limits, log: &'a HitLog) -> Self {
        // Refusals of earlier calls were audited when they happened.
        log.take();
        Entry {
            id,
            limits,
            log,
            started: Instant::now(),
        }
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
        let entry = Entry::begin(3, &limits, &log);
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
        let entry = Entry::begin(3, &limits, &log);
        let e = entry.fail(Failure::Trap {
            code: TrapCode::Unreachable,
            backtrace: vec![],
        });
        assert!(matches!(e, Error::Trap { .. }));
    }
}

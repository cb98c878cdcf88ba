//! `Deadline`: what a host function consults so that its own work, and any waiting it
//! does, ends when the store's deadline passes or the store is interrupted.
//! `InterruptHandle`: interrupting one store from another thread. Generated code is
//! interrupted by the runtime; host code must look for itself.

use crate::engine::{Engine, EPOCH_TICK};
use crate::error::Error;
use crate::trap::{Trap, TrapCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The epoch deadline a host function runs under, taken from its store when it was
/// called (`Caller::deadline`). Cheap to clone and to send to another thread.
#[derive(Debug, Clone)]
pub struct Deadline {
    /// `None`: the engine has no epoch interruption, so nothing ever passes.
    engine: Option<Engine>,
    /// The epoch at which the store is interrupted.
    at: u64,
    /// Set when the store is interrupted through an `InterruptHandle`.
    interrupted: Option<Arc<AtomicBool>>,
}

impl Deadline {
    /// A deadline that never passes (for host code run outside any store).
    pub fn never() -> Self {
        Deadline {
            engine: None,
            at: u64::MAX,
            interrupted: None,
        }
    }

    pub(crate) fn new(engine: &Engine, at: u64, interrupted: &Arc<AtomicBool>) -> Self {
        let on = engine.config().epoch_interruption;
        Deadline {
            engine: on.then(|| engine.clone()),
            at,
            interrupted: on.then(|| interrupted.clone()),
        }
    }

    /// Whether the deadline has passed (or the store was interrupted): the host
    /// function should stop and return [`Deadline::interrupted`].
    pub fn passed(&self) -> bool {
        self.interrupted
            .as_ref()
            .is_some_and(|i| i.load(Ordering::Relaxed))
            || self
                .engine
                .as_ref()
                .is_some_and(|e| e.current_epoch() >= self.at)
    }

    /// The error a host function returns when it stops because the deadline passed:
    /// the guest traps with `TrapCode::Interrupted`, as if its own code had been
    /// interrupted.
    pub fn interrupted() -> Error {
        Trap::new(TrapCode::Interrupted, Vec::new(), false).into()
    }

    /// Sleeps until `until` (forever if `None`) or until the deadline passes, whichever
    /// comes first; `false` if it stopped for the deadline. The epoch advances in ticks
    /// of `EPOCH_TICK`, so the sleep wakes at least that often to look.
    pub fn sleep_until(&self, until: Option<Instant>) -> bool {
        self.wait_until(until, |timeout| {
            std::thread::sleep(timeout.unwrap_or(Duration::MAX));
            false
        })
    }

    /// Calls `wait(timeout)` until it returns `true` (what was awaited happened), until
    /// `until` passes, or until the deadline passes. `wait` must return within
    /// `timeout` (when given); with this deadline in force it is always given, at most
    /// `EPOCH_TICK`. Returns `false` only if it stopped for the deadline.
    pub fn wait_until(
        &self,
        until: Option<Instant>,
        mut wait: impl FnMut(Option<Duration>) -> bool,
    ) -> bool {
        loop {
            if self.passed() {
                return false;
            }
            let left = until.map(|t| t.saturating_duration_since(Instant::now()));
            if left == Some(Duration::ZERO) {
                return true;
            }
            let slice = match (&self.engine, left) {
                (Some(_), Some(l)) => Some(l.min(EPOCH_TICK)),
                (Some(_), None) => Some(EPOCH_TICK),
                (None, l) => l,
            };
            if wait(slice) {
                return true;
            }
        }
    }
}

/// Interrupts one store from any thread (`Store::interrupt_handle`). Cheap to clone;
/// `Send` and `Sync`. Interrupting a store that is gone does nothing.
#[derive(Debug, Clone)]
pub struct InterruptHandle {
    engine: Engine,
    store: u64,
    flag: Arc<AtomicBool>,
}

impl InterruptHandle {
    pub(crate) fn new(engine: &Engine, store: u64, flag: Arc<AtomicBool>) -> Self {
        InterruptHandle {
            engine: engine.clone(),
            store,
            flag,
        }
    }

    /// Interrupts the store: running wasm traps with `Interrupted` at its next check
    /// (within a function call or a loop iteration), a host function waiting on its
    /// deadline wakes, and the host cannot enter wasm in that store again until it
    /// sets a new deadline.
    pub fn interrupt(&self) {
        self.flag.store(true, Ordering::Relaxed);
        self.engine.interruptible().interrupt_now(self.store);
    }
}

impl Default for Deadline {
    fn default() -> Self {
        Deadline::never()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    #[test]
    fn a_deadline_ends_a_sleep() {
        let engine = Engine::new(Config::new().epoch_interruption(true)).expect("engine");
        let flag = Arc::new(AtomicBool::new(false));
        let d = Deadline::new(&engine, engine.current_epoch() + 1, &flag);
        assert!(!d.passed());
        let e = engine.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            e.increment_epoch();
        });
        assert!(
            !d.sleep_until(None),
            "stopped by the deadline, not the clock"
        );
        assert!(d.passed());
        t.join().expect("join");
        assert!(Deadline::never().sleep_until(Some(Instant::now())));
        assert_eq!(
            Deadline::interrupted().as_trap().map(Trap::code),
            Some(TrapCode::Interrupted)
        );
    }
}

//! Cancelling a call from another thread: what the async API's drop guard uses to
//! stop a guest whose future was dropped.
//!
//! The thread running the guest sets each entry's fresh deadline (which withdraws any
//! earlier interrupt) and only then [`Cancel::arm`]s the call; the drop guard
//! [`Cancel::cancel`]s it. Both take the token's lock, so either the guard sees the
//! call armed and interrupts it after its deadline was set (the interrupt sticks), or
//! the call sees the cancellation before it enters wasm and does not enter. A finished
//! call ignores a late cancellation, so it never reaches the sandbox's next call.

#![cfg_attr(
    not(feature = "tokio"),
    allow(dead_code, reason = "only the async API cancels calls")
)]

use std::sync::{Mutex, MutexGuard, PoisonError};

/// How to interrupt one sandbox's running guest.
#[derive(Clone)]
pub(crate) enum Interrupter {
    /// Kiln interrupts one store.
    Kiln(kiln::InterruptHandle),
    /// Wasmtime interrupts every store of an engine, by advancing its epoch past their
    /// deadline of one tick; each Wasmtime sandbox owns its engine.
    #[cfg(feature = "wasmtime-backend")]
    Wasmtime(wasmtime::Engine),
}

impl std::fmt::Debug for Interrupter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Interrupter::Kiln(_) => "Interrupter::Kiln",
            #[cfg(feature = "wasmtime-backend")]
            Interrupter::Wasmtime(_) => "Interrupter::Wasmtime",
        })
    }
}

impl Interrupter {
    /// Makes running wasm trap with its interrupt trap, and wakes WASI calls waiting
    /// on their deadline.
    fn interrupt(&self) {
        match self {
            Interrupter::Kiln(h) => h.interrupt(),
            #[cfg(feature = "wasmtime-backend")]
            Interrupter::Wasmtime(engine) => engine.increment_epoch(),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    cancelled: bool,
    /// Set while the call may be running wasm: how to stop it.
    armed: Option<Interrupter>,
    finished: bool,
}

/// One call's (or one build's) cancellation token.
#[derive(Debug, Default)]
pub(crate) struct Cancel {
    state: Mutex<State>,
}

impl Cancel {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Cancels the call: interrupts it if it is armed, or keeps it from entering wasm.
    /// Does nothing once the call finished.
    pub fn cancel(&self) {
        let mut s = self.state();
        if s.finished {
            return;
        }
        s.cancelled = true;
        if let Some(i) = &s.armed {
            i.interrupt();
        }
    }

    /// Whether the call was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.state().cancelled
    }

    /// Called by the thread running the guest once the entry's deadline is set, just
    /// before it enters wasm. `false` if the call was cancelled: do not enter. Without
    /// an interrupter (epochs off) a cancellation is seen only between entries.
    pub fn arm(&self, interrupter: Option<&Interrupter>) -> bool {
        let mut s = self.state();
        if s.cancelled {
            return false;
        }
        s.armed = interrupter.cloned();
        true
    }

    /// The call is over: a later cancellation does nothing.
    pub fn finish(&self) {
        let mut s = self.state();
        s.finished = true;
        s.armed = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancelled_call_does_not_arm_and_a_finished_one_ignores_cancel() {
        let c = Cancel::default();
        assert!(c.arm(None));
        c.cancel();
        assert!(c.is_cancelled());
        assert!(!c.arm(None));

        let c = Cancel::default();
        c.finish();
        c.cancel();
        assert!(!c.is_cancelled());
    }
}

//! The stores of an engine that another thread may interrupt.
//!
//! When the engine's epoch advances (the ticker thread, or `Engine::increment_epoch`),
//! every registered store whose deadline has been reached and that is running wasm gets
//! `INTERRUPT_STACK_LIMIT` as its stack limit: its next wasm function entry fails the
//! prologue's stack check, and the runtime reports that as `Interrupted`. Loop headers
//! check the epoch themselves.

use super::structs::VMStoreContext;
use std::sync::Mutex;

/// A registered store context, with its store's id.
struct Registered(u64, *const VMStoreContext);

// SAFETY: the pointer is only dereferenced under the registry's lock, while registered;
// a store unregisters (under the lock) before its context is freed, and other threads
// use only the context's atomic fields.
unsafe impl Send for Registered {}

/// The registry (one per engine with epoch interruption).
#[derive(Default)]
pub struct Interruptible(Mutex<Vec<Registered>>);

impl std::fmt::Debug for Interruptible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interruptible").finish_non_exhaustive()
    }
}

impl Interruptible {
    /// Adds `ctx`, the context of store `id`. The caller must call `unregister` before
    /// `ctx` is freed or moved.
    pub fn register(&self, id: u64, ctx: &VMStoreContext) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Registered(id, ctx));
    }

    /// Removes `ctx`.
    pub fn unregister(&self, ctx: &VMStoreContext) {
        let ptr: *const VMStoreContext = ctx;
        let mut stores = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = stores.iter().position(|r| std::ptr::eq(r.1, ptr)) {
            stores.swap_remove(i);
        }
    }

    /// Interrupts every registered store running wasm whose deadline is at or before
    /// `epoch`.
    pub fn interrupt_expired(&self, epoch: u64) {
        let stores = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for r in stores.iter() {
            // SAFETY: registered contexts are live (see `Registered`), and only their
            // atomic fields are used.
            let ctx = unsafe { &*r.1 };
            if ctx.epoch_deadline() <= epoch {
                ctx.interrupt_if_running();
            }
        }
    }

    /// Interrupts store `id` now, from any thread: its deadline becomes 0 (so the host
    /// cannot enter wasm again until it sets a new one) and running wasm traps at its
    /// next check. Nothing happens if the store is gone.
    pub fn interrupt_now(&self, id: u64) {
        let stores = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = stores.iter().find(|r| r.0 == id) {
            // SAFETY: registered contexts are live (see `Registered`), and only their
            // atomic fields are used.
            let ctx = unsafe { &*r.1 };
            ctx.set_epoch_deadline(0);
            ctx.interrupt_if_running();
        }
    }
}

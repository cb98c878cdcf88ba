//! Turns a hang into a loud failure: a guard armed around a call that should return
//! quickly (fuel and deadlines bound it) aborts the process with a message if the call
//! is still running long after. Under libFuzzer the abort is recorded as a crash with the
//! input; in the smoke test it names the call instead of leaving CI silent until its
//! timeout.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

struct Armed {
    id: u64,
    deadline: Instant,
    what: String,
}

static ARMED: Mutex<Vec<Armed>> = Mutex::new(Vec::new());
static NEXT_ID: Mutex<u64> = Mutex::new(0);
static STARTED: OnceLock<bool> = OnceLock::new();

/// Disarms on drop.
pub(crate) struct Guard(Option<u64>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(id) = self.0 {
            lock(&ARMED).retain(|a| a.id != id);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Aborts the process unless the guard is dropped within `limit`. If the watchdog
/// thread cannot be started, the guard does nothing.
pub(crate) fn arm(limit: Duration, what: impl FnOnce() -> String) -> Guard {
    let started = *STARTED.get_or_init(|| {
        std::thread::Builder::new()
            .name("kiln-fuzz-watchdog".into())
            .spawn(watch)
            .is_ok()
    });
    if !started {
        return Guard(None);
    }
    let id = {
        let mut n = lock(&NEXT_ID);
        *n += 1;
        *n
    };
    lock(&ARMED).push(Armed {
        id,
        deadline: Instant::now() + limit,
        what: what(),
    });
    Guard(Some(id))
}

fn watch() {
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = Instant::now();
        if let Some(a) = lock(&ARMED).iter().find(|a| a.deadline < now) {
            eprintln!(
                "kiln-fuzz-oracle watchdog: {} has not returned by its deadline: a hang",
                a.what
            );
            std::process::abort();
        }
    }
}

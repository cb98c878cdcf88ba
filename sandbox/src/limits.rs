//! The limits a sandbox enforces, and the log of growth requests they refused.

use crate::audit;
use crate::error::ResourceKind;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Kiln's and Wasmtime's default: 512 KiB of native stack for wasm.
pub(crate) const DEFAULT_WASM_STACK: usize = 512 << 10;

/// The limits of one sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Bytes of all linear memories together.
    pub memory: Option<u64>,
    /// Fuel given to each call (and to instantiation).
    pub fuel: Option<u64>,
    /// Wall-clock time of each call (and of instantiation).
    pub timeout: Option<Duration>,
    /// Elements of any one table.
    pub table_elements: Option<u32>,
    /// Bytes of native stack wasm may use.
    pub wasm_stack: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory: None,
            fuel: None,
            timeout: None,
            table_elements: None,
            wasm_stack: DEFAULT_WASM_STACK,
        }
    }
}

impl Limits {
    /// The timeout in whole milliseconds (rounded up).
    pub fn timeout_ms(&self) -> Option<u64> {
        self.timeout
            .map(|t| u64::try_from(t.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX))
    }
}

/// A growth or creation a limit refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LimitHit {
    pub kind: ResourceKind,
    pub limit: u64,
    /// The total the request asked for.
    pub requested: u64,
}

/// Refusals of the current call, shared between a backend's resource limiter (which
/// runs inside the guest's call) and the sandbox. Each is audited when it happens.
#[derive(Debug, Clone)]
pub(crate) struct HitLog {
    id: u64,
    hits: Arc<Mutex<Vec<LimitHit>>>,
}

impl HitLog {
    pub fn new(id: u64) -> Self {
        HitLog {
            id,
            hits: Arc::default(),
        }
    }

    /// Records (and audits) a refusal.
    pub fn record(&self, hit: LimitHit) {
        audit::limit_hit(self.id, hit.kind, hit.limit, hit.requested);
        self.hits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(hit);
    }

    /// Takes the refusals recorded since the last `take`.
    pub fn take(&self) -> Vec<LimitHit> {
        std::mem::take(&mut *self.hits.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

#[cfg(feature = "wasmtime-backend")]
/// Memory and table accounting for backends whose limiter does not total memories
/// across a store (Wasmtime's `StoreLimits` bounds each memory alone).
#[derive(Debug)]
pub(crate) struct Growth {
    memory_limit: Option<u64>,
    table_limit: Option<u64>,
    /// Bytes of all memories so far (memories are freed only with the store).
    total_memory: u64,
    log: HitLog,
}

#[cfg(feature = "wasmtime-backend")]
impl Growth {
    pub fn new(limits: &Limits, log: HitLog) -> Self {
        Growth {
            memory_limit: limits.memory,
            table_limit: limits.table_elements.map(u64::from),
            total_memory: 0,
            log,
        }
    }

    /// Whether a memory may go from `current` to `desired` bytes (`current` is 0 when
    /// it is created). Growth past the memory's own `maximum` is refused without
    /// counting as a limit hit: the type forbids it, not the sandbox.
    pub fn memory(&mut self, current: u64, desired: u64, maximum: Option<u64>) -> bool {
        if maximum.is_some_and(|m| desired > m) {
            return false;
        }
        let total = (self.total_memory - current.min(self.total_memory)).saturating_add(desired);
        if let Some(limit) = self.memory_limit {
            if total > limit {
                self.log.record(LimitHit {
                    kind: ResourceKind::Memory,
                    limit,
                    requested: total,
                });
                return false;
            }
        }
        self.total_memory = total;
        true
    }

    /// Whether a table may grow from `current` to `desired` elements. Its storage
    /// (`kiln::TABLE_ELEMENT_BYTES` per element) counts against the memory limit, as
    /// on Kiln's backend.
    pub fn table(&mut self, current: u64, desired: u64, maximum: Option<u64>) -> bool {
        if maximum.is_some_and(|m| desired > m) {
            return false;
        }
        if let Some(limit) = self.table_limit {
            if desired > limit {
                self.log.record(LimitHit {
                    kind: ResourceKind::TableElements,
                    limit,
                    requested: desired,
                });
                return false;
            }
        }
        let bytes = |n: u64| n.saturating_mul(kiln::TABLE_ELEMENT_BYTES);
        self.memory(bytes(current), bytes(desired), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "wasmtime-backend")]
    #[test]
    fn growth_totals_memories_and_records_hits() {
        let limits = Limits {
            memory: Some(140),
            table_elements: Some(5),
            ..Limits::default()
        };
        let log = HitLog::new(7);
        let mut g = Growth::new(&limits, log.clone());
        assert!(g.memory(0, 60, None));
        assert!(g.memory(0, 40, None));
        assert!(!g.memory(40, 81, None));
        assert!(!g.memory(0, 10, Some(5)), "past its own maximum");
        assert!(g.table(0, 5, None), "5 elements: 40 bytes, 140 in all");
        assert!(!g.table(5, 6, None));
        assert_eq!(
            log.take(),
            vec![
                LimitHit {
                    kind: ResourceKind::Memory,
                    limit: 140,
                    requested: 141
                },
                LimitHit {
                    kind: ResourceKind::TableElements,
                    limit: 5,
                    requested: 6
                }
            ]
        );
        assert!(log.take().is_empty());
    }

    #[test]
    fn timeout_rounds_up_to_ms() {
        let limits = Limits {
            timeout: Some(Duration::from_micros(1500)),
            ..Limits::default()
        };
        assert_eq!(limits.timeout_ms(), Some(2));
    }
}

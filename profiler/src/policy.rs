//! When a function is optimized, and in what order.

use std::collections::{HashSet, VecDeque};
use std::hash::Hash;

/// When baseline code asks for optimized code, and how much waits for it.
///
/// Baseline code compares each counter with its threshold after adding to it, so a
/// function asks once per instance per counter; the queue drops repeated requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TierUpPolicy {
    /// Calls after which a function is queued (0 and 1: at its first call).
    pub call_threshold: u32,
    /// Loop iterations (over all the function's loops) after which it is queued.
    pub loop_threshold: u32,
    /// At most this many functions wait for optimization; later requests are refused
    /// until the queue drains (the function asks again when its other counter fires).
    pub queue_capacity: usize,
    /// Baseline code counts (the default). Without counters nothing is ever optimized:
    /// the strategy becomes baseline code only, which is what measuring the cost of
    /// counting compares against.
    pub counting: bool,
    /// When a function is compiled at its first call, the background compiler also
    /// compiles the functions it calls directly (and theirs, in turn) ahead of their
    /// first call, on a core the guest does not use, when nothing waits to be
    /// optimized (the default). Only the tiered strategy does: the lazy one compiles
    /// exactly the functions that are called.
    pub compile_ahead: bool,
}

impl Default for TierUpPolicy {
    /// Thresholds chosen by measurement (BENCHMARKS.md, "Tiers"): low enough that a
    /// function running for a millisecond is queued, high enough that start-up code run
    /// a few times is not.
    fn default() -> Self {
        TierUpPolicy {
            call_threshold: 1_000,
            loop_threshold: 10_000,
            queue_capacity: 1 << 16,
            counting: true,
            compile_ahead: true,
        }
    }
}

impl TierUpPolicy {
    /// The largest threshold baseline code can compare against (counters are `u32` and
    /// compared as signed 32-bit values).
    pub const MAX_THRESHOLD: u32 = i32::MAX as u32;

    /// The policy with both thresholds set to `n` (0 or 1: optimize at once).
    pub fn with_threshold(n: u32) -> Self {
        TierUpPolicy {
            call_threshold: n,
            loop_threshold: n,
            ..TierUpPolicy::default()
        }
    }

    /// The thresholds baseline code compares with: at least 1, at most
    /// [`MAX_THRESHOLD`](Self::MAX_THRESHOLD).
    pub fn compiled_thresholds(&self) -> (u32, u32) {
        let clamp = |t: u32| t.clamp(1, Self::MAX_THRESHOLD);
        (clamp(self.call_threshold), clamp(self.loop_threshold))
    }
}

/// Functions waiting for optimization, first asked first served, each at most once.
#[derive(Debug)]
pub struct TierUpQueue<K> {
    waiting: VecDeque<K>,
    queued: HashSet<K>,
    capacity: usize,
}

impl<K: Eq + Hash + Clone> TierUpQueue<K> {
    /// An empty queue under `policy`'s capacity.
    pub fn new(policy: &TierUpPolicy) -> Self {
        TierUpQueue {
            waiting: VecDeque::new(),
            queued: HashSet::new(),
            capacity: policy.queue_capacity,
        }
    }

    /// Queues `key`; `false` if it is already waiting or the queue is full.
    pub fn push(&mut self, key: K) -> bool {
        if self.waiting.len() >= self.capacity || self.queued.contains(&key) {
            return false;
        }
        self.queued.insert(key.clone());
        self.waiting.push_back(key);
        true
    }

    /// The next function to optimize.
    pub fn pop(&mut self) -> Option<K> {
        let key = self.waiting.pop_front()?;
        self.queued.remove(&key);
        Some(key)
    }

    /// How many wait.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_is_fifo_without_duplicates_and_bounded() {
        let policy = TierUpPolicy {
            queue_capacity: 2,
            ..TierUpPolicy::default()
        };
        let mut q = TierUpQueue::new(&policy);
        assert!(q.push(1));
        assert!(!q.push(1), "a waiting function is not queued twice");
        assert!(q.push(2));
        assert!(!q.push(3), "full");
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop(), Some(1));
        assert!(q.push(1), "popped functions may be queued again");
        assert_eq!(q.pop(), Some(2));
        assert_eq!(q.pop(), Some(1));
        assert_eq!(q.pop(), None);
        assert!(q.is_empty());
    }

    #[test]
    fn thresholds_are_clamped_to_what_code_compares() {
        assert_eq!(
            TierUpPolicy::with_threshold(0).compiled_thresholds(),
            (1, 1)
        );
        assert_eq!(
            TierUpPolicy::with_threshold(u32::MAX).compiled_thresholds(),
            (TierUpPolicy::MAX_THRESHOLD, TierUpPolicy::MAX_THRESHOLD)
        );
    }
}

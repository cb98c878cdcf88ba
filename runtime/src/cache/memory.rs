//! The memory tier: compiled modules by key, bounded by their bytes, least recently
//! used evicted first.

use super::{footprint, Parts};
use std::collections::HashMap;
use std::sync::Mutex;

pub(super) struct MemoryTier {
    max_bytes: u64,
    inner: Mutex<Lru>,
}

#[derive(Default)]
struct Lru {
    entries: HashMap<[u8; 32], (Parts, u64, u64)>,
    bytes: u64,
    clock: u64,
}

impl MemoryTier {
    pub fn new(max_bytes: u64) -> Self {
        MemoryTier {
            max_bytes,
            inner: Mutex::default(),
        }
    }

    pub fn get(&self, key: &[u8; 32]) -> Option<Parts> {
        let mut lru = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        lru.clock += 1;
        let now = lru.clock;
        let (parts, _, used) = lru.entries.get_mut(key)?;
        *used = now;
        Some(parts.clone())
    }

    pub fn insert(&self, key: [u8; 32], parts: Parts) {
        let size = footprint(&parts);
        if size > self.max_bytes {
            return;
        }
        let mut lru = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        lru.clock += 1;
        let now = lru.clock;
        if let Some((_, old, _)) = lru.entries.insert(key, (parts, size, now)) {
            lru.bytes -= old;
        }
        lru.bytes += size;
        while lru.bytes > self.max_bytes {
            let Some((&oldest, _)) = lru.entries.iter().min_by_key(|(_, (_, _, used))| *used)
            else {
                break;
            };
            if let Some((_, size, _)) = lru.entries.remove(&oldest) {
                lru.bytes -= size;
            }
        }
    }
}

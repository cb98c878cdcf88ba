//! Resource limits: a `ResourceLimiter` decides every memory and table growth (and
//! creation) and bounds how many instances, memories and tables a store may hold.
//! `StoreLimits` is the ready-made one. Each refusal is recorded as a [`LimitHit`], so an
//! embedder can say which limit stopped a guest.

use std::fmt;

/// What a limit bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResourceKind {
    /// Bytes of one linear memory, or of all of a store's memories together.
    Memory,
    /// Elements of one table.
    TableElements,
    /// Instances in a store.
    Instances,
    /// Memories in a store.
    Memories,
    /// Tables in a store.
    Tables,
    /// Fuel.
    Fuel,
    /// Wall-clock time.
    Time,
    /// Native stack used by wasm.
    Stack,
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResourceKind::Memory => "memory",
            ResourceKind::TableElements => "table elements",
            ResourceKind::Instances => "instances",
            ResourceKind::Memories => "memories",
            ResourceKind::Tables => "tables",
            ResourceKind::Fuel => "fuel",
            ResourceKind::Time => "time",
            ResourceKind::Stack => "wasm stack",
        })
    }
}

/// A request a limit refused: `requested` would have exceeded `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitHit {
    /// Which resource.
    pub kind: ResourceKind,
    /// The limit in force (bytes, elements or count).
    pub limit: u64,
    /// What was asked for (the total after the request).
    pub requested: u64,
}

impl fmt::Display for LimitHit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} limit of {} reached ({} requested)",
            self.kind, self.limit, self.requested
        )
    }
}

/// Decides resource requests of a store. Refusing a growth makes `memory.grow` or
/// `table.grow` return -1, as the spec allows; refusing a creation fails instantiation.
pub trait ResourceLimiter: Send + Sync {
    /// A memory wants to grow from `current` to `desired` bytes (`current` is 0 when it is
    /// being created). `maximum` is its declared maximum. `Err` carries the limit refused.
    fn memory_growing(
        &mut self,
        current: u64,
        desired: u64,
        maximum: Option<u64>,
    ) -> Result<(), LimitHit>;

    /// A table wants to grow from `current` to `desired` elements (64-bit, as a
    /// memory64 table's limits are).
    fn table_growing(
        &mut self,
        current: u64,
        desired: u64,
        maximum: Option<u64>,
    ) -> Result<(), LimitHit>;

    /// Most instances a store may hold.
    fn instances(&self) -> usize {
        DEFAULT_MAX_INSTANCES
    }

    /// Most memories a store may hold.
    fn memories(&self) -> usize {
        DEFAULT_MAX_MEMORIES
    }

    /// Most tables a store may hold.
    fn tables(&self) -> usize {
        DEFAULT_MAX_TABLES
    }
}

/// Host bytes one table element occupies (a pointer), as limits count them.
pub const TABLE_ELEMENT_BYTES: u64 = 8;

/// Default limits on counts, as in Wasmtime.
pub const DEFAULT_MAX_INSTANCES: usize = 10_000;
/// Default most memories per store.
pub const DEFAULT_MAX_MEMORIES: usize = 10_000;
/// Default most tables per store.
pub const DEFAULT_MAX_TABLES: usize = 10_000;

/// A `ResourceLimiter` with fixed limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreLimits {
    memory_size: Option<u64>,
    total_memory: Option<u64>,
    table_elements: Option<u32>,
    instances: usize,
    memories: usize,
    tables: usize,
    /// Bytes of all memories so far (memories are only freed with the store).
    total_used: u64,
}

impl Default for StoreLimits {
    fn default() -> Self {
        StoreLimits {
            memory_size: None,
            total_memory: None,
            table_elements: None,
            instances: DEFAULT_MAX_INSTANCES,
            memories: DEFAULT_MAX_MEMORIES,
            tables: DEFAULT_MAX_TABLES,
            total_used: 0,
        }
    }
}

impl StoreLimits {
    /// Limits that only bound counts (at Wasmtime's defaults).
    pub fn new() -> Self {
        Self::default()
    }

    /// Most bytes any one memory may have.
    pub fn memory_size(mut self, bytes: u64) -> Self {
        self.memory_size = Some(bytes);
        self
    }

    /// Most bytes all of the store's memories and tables may have together (a table
    /// element counts [`TABLE_ELEMENT_BYTES`]).
    pub fn total_memory(mut self, bytes: u64) -> Self {
        self.total_memory = Some(bytes);
        self
    }

    /// Most elements any one table may have.
    pub fn table_elements(mut self, n: u32) -> Self {
        self.table_elements = Some(n);
        self
    }

    /// Most instances.
    pub fn instances(mut self, n: usize) -> Self {
        self.instances = n;
        self
    }

    /// Most memories.
    pub fn memories(mut self, n: usize) -> Self {
        self.memories = n;
        self
    }

    /// Most tables.
    pub fn tables(mut self, n: usize) -> Self {
        self.tables = n;
        self
    }
}

impl ResourceLimiter for StoreLimits {
    fn memory_growing(
        &mut self,
        current: u64,
        desired: u64,
        _maximum: Option<u64>,
    ) -> Result<(), LimitHit> {
        if let Some(limit) = self.memory_size {
            if desired > limit {
                return Err(LimitHit {
                    kind: ResourceKind::Memory,
                    limit,
                    requested: desired,
                });
            }
        }
        let total = self.total_used - current.min(self.total_used) + desired;
        if let Some(limit) = self.total_memory {
            if total > limit {
                return Err(LimitHit {
                    kind: ResourceKind::Memory,
                    limit,
                    requested: total,
                });
            }
        }
        self.total_used = total;
        Ok(())
    }

    /// Checks the per-table element limit, then counts the table's storage
    /// ([`TABLE_ELEMENT_BYTES`] per element) against the total memory budget: tables
    /// are host memory a guest can fill as surely as linear memory.
    fn table_growing(
        &mut self,
        current: u64,
        desired: u64,
        _maximum: Option<u64>,
    ) -> Result<(), LimitHit> {
        if let Some(limit) = self.table_elements {
            if desired > u64::from(limit) {
                return Err(LimitHit {
                    kind: ResourceKind::TableElements,
                    limit: limit.into(),
                    requested: desired,
                });
            }
        }
        let (current, desired) = (
            current.saturating_mul(TABLE_ELEMENT_BYTES),
            desired.saturating_mul(TABLE_ELEMENT_BYTES),
        );
        let total = self.total_used - current.min(self.total_used) + desired;
        if let Some(limit) = self.total_memory {
            if total > limit {
                return Err(LimitHit {
                    kind: ResourceKind::Memory,
                    limit,
                    requested: total,
                });
            }
        }
        self.total_used = total;
        Ok(())
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn memories(&self) -> usize {
        self.memories
    }

    fn tables(&self) -> usize {
        self.tables
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_memory_counts_growth_of_all_memories() {
        let mut l = StoreLimits::new().total_memory(100).memory_size(80);
        assert!(l.memory_growing(0, 50, None).is_ok());
        assert!(l.memory_growing(0, 40, None).is_ok());
        let hit = l.memory_growing(40, 60, None).expect_err("total 110 > 100");
        assert_eq!(
            (hit.kind, hit.limit, hit.requested),
            (ResourceKind::Memory, 100, 110)
        );
        assert!(l.memory_growing(40, 50, None).is_ok());
        assert!(l.memory_growing(50, 90, None).is_err(), "per-memory limit");
    }
}

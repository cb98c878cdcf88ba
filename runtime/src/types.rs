//! Wasm types of the public API.

pub use kiln_frontend::{FuncType, HeapType, RefType, ValType};

/// Whether a global may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    /// Immutable.
    Const,
    /// Mutable.
    Var,
}

/// A global's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlobalType {
    content: ValType,
    mutability: Mutability,
}

impl GlobalType {
    /// A global type.
    pub fn new(content: ValType, mutability: Mutability) -> Self {
        GlobalType {
            content,
            mutability,
        }
    }

    /// The value type.
    pub fn content(&self) -> ValType {
        self.content
    }

    /// The mutability.
    pub fn mutability(&self) -> Mutability {
        self.mutability
    }

    pub(crate) fn to_frontend(self) -> kiln_frontend::GlobalType {
        kiln_frontend::GlobalType {
            content: self.content,
            mutable: self.mutability == Mutability::Var,
        }
    }

    pub(crate) fn from_frontend(g: kiln_frontend::GlobalType) -> Self {
        GlobalType::new(
            g.content,
            if g.mutable {
                Mutability::Var
            } else {
                Mutability::Const
            },
        )
    }
}

/// A table's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableType(pub(crate) kiln_frontend::TableType);

impl TableType {
    /// A table of `element`s indexed by `i32`, with limits in elements.
    pub fn new(element: RefType, minimum: u32, maximum: Option<u32>) -> Self {
        TableType(kiln_frontend::TableType {
            element,
            minimum: minimum.into(),
            maximum: maximum.map(Into::into),
            table64: false,
        })
    }

    /// A 64-bit table (memory64): elements indexed by `i64`. Kiln stores at most
    /// `Config::max_table_elements` elements whatever the type allows.
    pub fn new64(element: RefType, minimum: u64, maximum: Option<u64>) -> Self {
        TableType(kiln_frontend::TableType {
            element,
            minimum,
            maximum,
            table64: true,
        })
    }

    /// Whether elements are indexed by `i64`.
    pub fn is_64(&self) -> bool {
        self.0.table64
    }

    /// The element type.
    pub fn element(&self) -> RefType {
        self.0.element
    }

    /// Minimum (current) number of elements.
    pub fn minimum(&self) -> u64 {
        self.0.minimum
    }

    /// Maximum number of elements.
    pub fn maximum(&self) -> Option<u64> {
        self.0.maximum
    }
}

/// A linear memory's type, in 64 KiB pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryType(pub(crate) kiln_frontend::MemoryType);

impl MemoryType {
    /// A 32-bit memory type with limits in pages.
    pub fn new(minimum: u32, maximum: Option<u32>) -> Self {
        MemoryType(kiln_frontend::MemoryType {
            minimum: minimum.into(),
            maximum: maximum.map(Into::into),
            memory64: false,
        })
    }

    /// A 64-bit memory type (memory64): `i64` addresses, limits in pages up to `2^48`.
    /// Kiln grows such a memory up to `Config::memory_reservation` bytes.
    pub fn new64(minimum: u64, maximum: Option<u64>) -> Self {
        MemoryType(kiln_frontend::MemoryType {
            minimum,
            maximum,
            memory64: true,
        })
    }

    /// Whether addresses are `i64`.
    pub fn is_64(&self) -> bool {
        self.0.memory64
    }

    /// Minimum (current) size in pages.
    pub fn minimum(&self) -> u64 {
        self.0.minimum
    }

    /// Maximum size in pages.
    pub fn maximum(&self) -> Option<u64> {
        self.0.maximum
    }
}

/// Whether limits `actual` satisfy import limits `expected` (the spec's subtyping).
pub(crate) fn limits_match(
    actual_min: u64,
    actual_max: Option<u64>,
    expected_min: u64,
    expected_max: Option<u64>,
) -> bool {
    actual_min >= expected_min
        && match (actual_max, expected_max) {
            (_, None) => true,
            (Some(a), Some(e)) => a <= e,
            (None, Some(_)) => false,
        }
}

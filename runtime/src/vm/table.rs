//! A table of a store: pointer-sized raw references and the definition generated code reads.

use super::structs::VMTableDefinition;
use kiln_frontend::TableType;

/// A store's table. Elements are raw references: a funcref is a `*const VMFuncRef`
/// (0 = null), an externref a store-local id (0 = null).
#[derive(Debug)]
pub struct VmTable {
    elements: Vec<usize>,
    def: *mut VMTableDefinition,
    #[allow(
        dead_code,
        reason = "owns the storage `def` points into when no vmctx holds it"
    )]
    owned: Option<Box<VMTableDefinition>>,
    ty: TableType,
    /// Store-wide cap on elements, below the type's maximum.
    limit: u32,
}

// SAFETY: as for `VmMemory`: `def` points into storage owned by the same store.
unsafe impl Send for VmTable {}
// SAFETY: `&VmTable` only reads.
unsafe impl Sync for VmTable {}

impl VmTable {
    /// A table of type `ty` filled with `init`. See `VmMemory::new` for `def`.
    /// Returns `None` if the minimum exceeds `limit`.
    pub fn new(
        ty: TableType,
        init: usize,
        limit: u32,
        def: Option<*mut VMTableDefinition>,
    ) -> Option<Self> {
        if ty.minimum > u64::from(limit) {
            return None;
        }
        let mut owned = None;
        let def = match def {
            Some(d) => d,
            None => {
                let b = owned.insert(Box::new(VMTableDefinition {
                    base: std::ptr::null_mut(),
                    current_elements: 0,
                }));
                &mut **b as *mut VMTableDefinition
            }
        };
        let mut t = VmTable {
            elements: vec![init; ty.minimum as usize],
            def,
            owned,
            ty,
            limit,
        };
        t.sync();
        Some(t)
    }

    fn sync(&mut self) {
        // SAFETY: `def` is valid for writes for the table's lifetime.
        unsafe {
            self.def.write(VMTableDefinition {
                base: self.elements.as_mut_ptr(),
                current_elements: self.elements.len() as u32,
            });
        }
    }

    /// The table's type, with its current minimum.
    pub fn ty(&self) -> TableType {
        TableType {
            minimum: self.elements.len() as u64,
            ..self.ty
        }
    }

    /// Where generated code finds the elements.
    pub fn definition(&self) -> *mut VMTableDefinition {
        self.def
    }

    /// Number of elements.
    pub fn size(&self) -> u32 {
        self.elements.len() as u32
    }

    /// Element `i`.
    pub fn get(&self, i: u32) -> Option<usize> {
        self.elements.get(i as usize).copied()
    }

    /// Sets element `i`; `None` if out of bounds.
    pub fn set(&mut self, i: u32, v: usize) -> Option<()> {
        *self.elements.get_mut(i as usize)? = v;
        Some(())
    }

    /// Grows by `delta` elements of `init`; the old size, or `None`.
    pub fn grow(&mut self, delta: u64, init: usize) -> Option<u32> {
        let old = self.size();
        let new = u64::from(old).checked_add(delta)?;
        if new > self.ty.maximum.unwrap_or(u64::MAX) || new > u64::from(self.limit) {
            return None;
        }
        // `new <= limit`, a u32, so `delta` fits too.
        self.elements.try_reserve(delta as usize).ok()?;
        self.elements.resize(new as usize, init);
        self.sync();
        Some(old)
    }

    /// `table.fill`; `false` if out of bounds (nothing written).
    pub fn fill(&mut self, dst: u64, v: usize, len: u64) -> bool {
        match range(dst, len, self.size()) {
            Some(r) => {
                self.elements[r].fill(v);
                true
            }
            None => false,
        }
    }

    /// `table.copy` within this table.
    pub fn copy_within(&mut self, dst: u64, src: u64, len: u64) -> bool {
        let n = self.size();
        match (range(dst, len, n), range(src, len, n)) {
            (Some(d), Some(s)) => {
                self.elements.copy_within(s, d.start);
                true
            }
            _ => false,
        }
    }

    /// Elements `[src, src + len)`, if in bounds.
    pub fn slice(&self, src: u64, len: u64) -> Option<&[usize]> {
        Some(&self.elements[range(src, len, self.size())?])
    }

    /// Writes `items` at `dst`; `false` if out of bounds.
    pub fn write_at(&mut self, dst: u64, items: &[usize]) -> bool {
        match range(dst, items.len() as u64, self.size()) {
            Some(r) => {
                self.elements[r].copy_from_slice(items);
                true
            }
            None => false,
        }
    }
}

/// `start..start + len` if it fits within `size` (so both ends fit in a `u32`).
pub fn range(start: u64, len: u64, size: u32) -> Option<std::ops::Range<usize>> {
    let end = start.checked_add(len)?;
    (end <= u64::from(size)).then_some(start as usize..end as usize)
}

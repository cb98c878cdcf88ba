//! A memory of a store: the linear memory and the definition generated code reads.

use super::linear_memory::LinearMemory;
use super::memory_image::MemoryImage;
use super::structs::VMMemoryDefinition;
use kiln_frontend::MemoryType;
use std::io;

/// A store's memory.
#[derive(Debug)]
pub struct VmMemory {
    mem: LinearMemory,
    /// Where generated code reads base and length: in the defining instance's vmctx,
    /// or in `owned` for memories created by the host.
    def: *mut VMMemoryDefinition,
    #[allow(
        dead_code,
        reason = "owns the storage `def` points into when no vmctx holds it"
    )]
    owned: Option<Box<VMMemoryDefinition>>,
    ty: MemoryType,
}

// SAFETY: `def` points into an allocation owned by the same store (a vmctx) or into
// `owned`; the store moves between threads as a whole and is used by one at a time.
unsafe impl Send for VmMemory {}
// SAFETY: `&VmMemory` only reads.
unsafe impl Sync for VmMemory {}

impl VmMemory {
    /// Creates a memory of type `ty`. Its definition is written to `def` (a field of the
    /// defining instance's vmctx, which must outlive this memory), or kept inside the
    /// memory when `def` is `None`.
    pub fn new(
        ty: MemoryType,
        reservation: u64,
        guard: u64,
        def: Option<*mut VMMemoryDefinition>,
    ) -> io::Result<Self> {
        let mem = LinearMemory::new(ty.minimum, ty.maximum, ty.memory64, reservation, guard)?;
        let mut owned = None;
        let def = match def {
            Some(d) => d,
            None => {
                let b = owned.insert(Box::new(VMMemoryDefinition {
                    base: std::ptr::null_mut(),
                    current_length: 0,
                }));
                &mut **b as *mut VMMemoryDefinition
            }
        };
        let m = VmMemory {
            mem,
            def,
            owned,
            ty,
        };
        m.sync();
        Ok(m)
    }

    fn sync(&self) {
        // SAFETY: `def` is valid for writes for the memory's lifetime (see `new`), and
        // no generated code runs concurrently with `&self` methods on its thread.
        unsafe {
            self.def.write(VMMemoryDefinition {
                base: self.mem.base(),
                current_length: self.mem.len() as u64,
            });
        }
    }

    /// The memory's type, with its current minimum.
    pub fn ty(&self) -> MemoryType {
        MemoryType {
            minimum: self.mem.pages(),
            ..self.ty
        }
    }

    /// Where generated code finds base and length.
    pub fn definition(&self) -> *mut VMMemoryDefinition {
        self.def
    }

    /// Size in pages.
    pub fn pages(&self) -> u64 {
        self.mem.pages()
    }

    /// Grows by `delta` pages; the old size, or `None`.
    pub fn grow(&mut self, delta: u64) -> Option<u64> {
        let r = self.mem.grow(delta);
        self.sync();
        r
    }

    /// Maps `image` over the start of this fresh memory (see `LinearMemory::map_image`).
    pub fn map_image(&mut self, image: &MemoryImage) -> io::Result<()> {
        self.mem.map_image(image)
    }

    /// If host address `addr` lies in this memory's reservation (a fault's address),
    /// the memory's current size and the address's offset into it.
    pub fn size_and_offset_of(&self, addr: usize) -> Option<(u64, u64)> {
        self.mem.offset_of(addr).map(|o| (self.mem.len() as u64, o))
    }

    /// The memory's contents.
    pub fn data(&self) -> &[u8] {
        self.mem.data()
    }

    /// The accessible bytes, mutably.
    pub fn data_mut(&mut self) -> &mut [u8] {
        self.mem.data_mut()
    }
}

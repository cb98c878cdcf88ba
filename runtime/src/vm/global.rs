//! A global of a store.

use super::structs::VMGlobalDefinition;
use kiln_frontend::GlobalType;

/// A store's global: 16 bytes of storage in a vmctx or owned here.
#[derive(Debug)]
pub struct VmGlobal {
    def: *mut VMGlobalDefinition,
    #[allow(
        dead_code,
        reason = "owns the storage `def` points into when no vmctx holds it"
    )]
    owned: Option<Box<VMGlobalDefinition>>,
    ty: GlobalType,
}

// SAFETY: as for `VmMemory`: `def` points into storage owned by the same store.
unsafe impl Send for VmGlobal {}
// SAFETY: `&VmGlobal` only reads.
unsafe impl Sync for VmGlobal {}

impl VmGlobal {
    /// A global of type `ty` holding `raw`. See `VmMemory::new` for `def`.
    pub fn new(ty: GlobalType, raw: u128, def: Option<*mut VMGlobalDefinition>) -> Self {
        let mut owned = None;
        let def = match def {
            Some(d) => d,
            None => &mut **owned.insert(Box::default()) as *mut VMGlobalDefinition,
        };
        let g = VmGlobal { def, owned, ty };
        g.set_raw(raw);
        g
    }

    /// The global's type.
    pub fn ty(&self) -> GlobalType {
        self.ty
    }

    /// Where generated code finds the value.
    pub fn definition(&self) -> *mut VMGlobalDefinition {
        self.def
    }

    /// The raw bits.
    pub fn get_raw(&self) -> u128 {
        // SAFETY: `def` is valid for the global's lifetime; the read goes through the
        // `UnsafeCell`, since generated code writes it too.
        u128::from_le_bytes(unsafe { *(*self.def).storage.get() })
    }

    /// Sets the raw bits.
    pub fn set_raw(&self, raw: u128) {
        // SAFETY: as in `get_raw`; no generated code runs concurrently on this store.
        unsafe { *(*self.def).storage.get() = raw.to_le_bytes() }
    }
}

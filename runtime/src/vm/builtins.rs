//! The `VMBuiltins` table: runtime functions generated code calls. Its shape comes from
//! `kiln_jit::for_each_builtin!`, the single list both sides derive from.

use super::vmctx;
use crate::store::StoreOpaque;
use std::panic::{catch_unwind, AssertUnwindSafe};

macro_rules! abi_type {
    (vmctx) => { *mut u8 };
    (ptr) => { usize };
    (i32) => { u32 };
    (i64) => { u64 };
    (status) => { u32 };
    (void) => { () };
}

macro_rules! declare_table {
    ($($(#[$doc:meta])* $name:ident($($param:ident),*) -> $ret:ident;)*) => {
        /// Function pointers in `Builtin` order.
        #[repr(C)]
        pub struct VMBuiltins {
            $($name: unsafe extern "C" fn($(abi_type!($param)),*) -> abi_type!($ret),)*
        }

        static TABLE: VMBuiltins = VMBuiltins {
            $($name: impls::$name,)*
        };

        #[cfg(test)]
        const NAMES: &[&str] = &[$(stringify!($name)),*];
    };
}

kiln_jit::for_each_builtin!(declare_table);

/// The table every vmctx points to.
pub fn table() -> *const VMBuiltins {
    &TABLE
}

/// Runs `f` on the store and instance owning `vmctx`. A panic becomes `on_panic`:
/// unwinding into generated code is not allowed.
///
/// # Safety
/// `vmctx` must be the vmctx of a live instance whose store is not otherwise borrowed
/// (generated code passes its own vmctx).
unsafe fn with_instance<R>(
    vmctx: *mut u8,
    on_panic: R,
    f: impl FnOnce(&mut StoreOpaque, usize) -> R,
) -> R {
    // SAFETY: per the contract.
    let (store, instance) = unsafe {
        let h = vmctx::header(vmctx);
        (&mut *(*h).store, (*h).instance)
    };
    catch_unwind(AssertUnwindSafe(|| f(store, instance))).unwrap_or(on_panic)
}

fn status(ok: bool) -> u32 {
    u32::from(!ok)
}

mod impls {
    use super::{status, with_instance};

    /// # Safety
    /// Called by generated code with its own vmctx.
    pub unsafe extern "C" fn memory_grow(vmctx: *mut u8, mem: u32, delta: u32) -> u32 {
        // SAFETY: forwarded contract.
        unsafe { with_instance(vmctx, u32::MAX, |s, i| s.memory_grow_raw(i, mem, delta)) }
    }

    /// # Safety
    /// Called by generated code with its own vmctx.
    pub unsafe extern "C" fn memory_copy(
        vmctx: *mut u8,
        dm: u32,
        dst: u64,
        sm: u32,
        src: u64,
        len: u64,
    ) -> u32 {
        // SAFETY: forwarded contract.
        unsafe {
            with_instance(vmctx, 1, |s, i| {
                status(s.memory_copy(i, dm, dst, sm, src, len))
            })
        }
    }

    /// # Safety
    /// Called by generated code with its own vmctx.
    pub unsafe extern "C" fn memory_fill(
        vmctx: *mut u8,
        mem: u32,
        dst: u64,
        val: u32,
        len: u64,
    ) -> u32 {
        // SAFETY: forwarded contract.
        unsafe {
            with_instance(vmctx, 1, |s, i| {
                status(s.memory_fill(i, mem, dst, val as u8, len))
            })
        }
    }

    /// # Safety
    /// Called by generated code with its own vmctx.
    pub unsafe extern "C" fn memory_init(
        vmctx: *mut u8,
        mem: u32,
        data: u32,
        dst: u64,
        src: u32,
        len: u32,
    ) -> u32 {
        // SAFETY: forwarded contract.
        unsafe {
            with_instance(vmctx, 1, |s, i| {
                status(s.memory_init(i, mem, data, dst, src, len))
            })
        }
    }

    /// # Safety
    /// Called by generated code with its own vmctx.
    pub unsafe extern "C" fn data_drop(vmctx: *mut u8, data: u32) {
        // SAFETY: forwarded contract.
        unsafe { with_instance(vmctx, (), |s, i| s.data_drop(i, data)) }
    }

    /// # Safety
    /// Called by generated code with its own vmctx.
    pub unsafe extern "C" fn table_grow(
        vmctx: *mut u8,
        table: u32,
        delta: u32,
        init: usize,
    ) -> u32 {
        // SAFETY: forwarded contract.
        unsafe {
            with_instance(vmctx, u32::MAX, |s, i| {
                s.table_grow_raw(i, table, delta, init)
            })
        }
    }

    /// # Safety
    /// Called by generated code with its own vmctx.
    pub unsafe extern "C" fn table_fill(
        vmctx: *mut u8,
        table: u32,
        dst: u32,
        val: usize,
        len: u32,
    ) -> u32 {
        // SAFETY: forwarded contract.
        unsafe {
            with_instance(vmctx, 1, |s, i| {
                status(s.table_fill(i, table, dst, val, len))
            })
        }
    }

    /// # Safety
    /// Called by generated code with its own vmctx.
    pub unsafe extern "C" fn table_copy(
        vmctx: *mut u8,
        dt: u32,
        st: u32,
        dst: u32,
        src: u32,
        len: u32,
    ) -> u32 {
        // SAFETY: forwarded contract.
        unsafe {
            with_instance(vmctx, 1, |s, i| {
                status(s.table_copy(i, dt, st, dst, src, len))
            })
        }
    }

    /// # Safety
    /// Called by generated code with its own vmctx.
    pub unsafe extern "C" fn table_init(
        vmctx: *mut u8,
        table: u32,
        elem: u32,
        dst: u32,
        src: u32,
        len: u32,
    ) -> u32 {
        // SAFETY: forwarded contract.
        unsafe {
            with_instance(vmctx, 1, |s, i| {
                status(s.table_init(i, table, elem, dst, src, len))
            })
        }
    }

    /// # Safety
    /// Called by generated code with its own vmctx.
    pub unsafe extern "C" fn elem_drop(vmctx: *mut u8, elem: u32) {
        // SAFETY: forwarded contract.
        unsafe { with_instance(vmctx, (), |s, i| s.elem_drop(i, elem)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_jit::Builtin;

    #[test]
    fn table_matches_the_jit_list() {
        assert_eq!(NAMES.len(), Builtin::ALL.len());
        assert_eq!(std::mem::size_of::<VMBuiltins>(), 8 * Builtin::ALL.len());
        for (i, (&b, name)) in Builtin::ALL.iter().zip(NAMES).enumerate() {
            assert_eq!(b.offset() as usize, 8 * i);
            assert_eq!(format!("{b:?}"), *name);
        }
    }
}

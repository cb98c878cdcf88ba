//! The `VMBuiltins` table: runtime functions generated code calls. Everything here is
//! derived from `kiln_jit::for_each_builtin!`, the single list both sides use:
//! - [`BuiltinHost`], the trait the store implements (one method per builtin, taking
//!   the calling instance's index and the builtin's arguments);
//! - the `extern "C"` shims generated code calls, which find the store through the
//!   calling vmctx's header and forward to it;
//! - the table of those shims every vmctx points to.
//!
//! `vm` knows nothing else about stores: the header holds a `*mut dyn BuiltinHost`.

use super::instance_vmctx;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A builtin parameter or result as generated code passes it.
macro_rules! abi_type {
    (vmctx) => { *mut u8 };
    (ptr) => { usize };
    (i32) => { u32 };
    (i64) => { u64 };
    (status) => { u32 };
    (void) => { () };
}

/// A builtin result as the store returns it: `status` is `true` on success.
macro_rules! host_type {
    (status) => {
        bool
    };
    ($other:ident) => {
        abi_type!($other)
    };
}

/// What a shim returns when the store's method panics (a panic may not unwind into
/// generated code): failure, -1 for the growth builtins, or a null code pointer.
macro_rules! on_panic {
    (status) => {
        1
    };
    (ptr) => {
        0
    };
    (i32) => {
        u32::MAX
    };
    (i64) => {
        u64::MAX
    };
    (void) => {
        ()
    };
}

/// The store's answer as generated code expects it.
macro_rules! to_abi {
    (status, $e:expr) => {
        u32::from(!$e)
    };
    ($other:ident, $e:expr) => {
        $e
    };
}

/// Names a builtin's parameters by position (`a`, `b`, ...), then emits one item with
/// them: a trait method (`@method`) or a shim (`@shim`).
macro_rules! with_param_names {
    ($what:ident $name:ident $ret:ident [$($param:ident)*] $(#[$doc:meta])*) => {
        with_param_names!(@go $what $name $ret [$($param)*] [a b c d e f g h] [] $(#[$doc])*);
    };
    (@go $what:ident $name:ident $ret:ident [$p:ident $($ps:ident)*] [$n:ident $($ns:ident)*]
        [$($acc:tt)*] $(#[$doc:meta])*) => {
        with_param_names!(@go $what $name $ret [$($ps)*] [$($ns)*] [$($acc)* $n: $p,] $(#[$doc])*);
    };
    (@go method $name:ident $ret:ident [] [$($unused:ident)*] [$($n:ident: $p:ident,)*]
        $(#[$doc:meta])*) => {
        $(#[$doc])*
        fn $name(&mut self, instance: usize, $($n: abi_type!($p)),*) -> host_type!($ret);
    };
    (@go shim $name:ident $ret:ident [] [$($unused:ident)*] [$($n:ident: $p:ident,)*]
        $(#[$doc:meta])*) => {
        /// # Safety
        /// Called by generated code with its own vmctx.
        pub(super) unsafe extern "C" fn $name(vmctx: *mut u8, $($n: abi_type!($p)),*) -> abi_type!($ret) {
            // SAFETY: forwarded contract.
            unsafe {
                with_instance(vmctx, on_panic!($ret), |s, instance| {
                    to_abi!($ret, s.$name(instance, $($n),*))
                })
            }
        }
    };
}

macro_rules! declare_builtins {
    ($($(#[$doc:meta])* $name:ident(vmctx $(, $param:ident)*) -> $ret:ident;)*) => {
        /// The runtime side of every builtin, implemented by the store that owns the
        /// calling instance. `instance` is the caller's index in that store; `status`
        /// results are `true` on success (`false` traps with the builtin's trap kind).
        pub trait BuiltinHost {
            $(with_param_names!(method $name $ret [$($param)*] $(#[$doc])*);)*
        }

        /// Function pointers in `Builtin` order.
        #[repr(C)]
        pub struct VMBuiltins {
            $($name: unsafe extern "C" fn(abi_type!(vmctx) $(, abi_type!($param))*) -> abi_type!($ret),)*
        }

        mod shims {
            use super::with_instance;
            $(with_param_names!(shim $name $ret [$($param)*]);)*
        }

        static TABLE: VMBuiltins = VMBuiltins {
            $($name: shims::$name,)*
        };

        #[cfg(test)]
        const NAMES: &[&str] = &[$(stringify!($name)),*];
    };
}

kiln_jit::for_each_builtin!(declare_builtins);

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
    f: impl FnOnce(&mut dyn BuiltinHost, usize) -> R,
) -> R {
    // SAFETY: per the contract, `vmctx` is live, so its header is, and the header's
    // store outlives its instances and is not borrowed elsewhere during the call.
    let (store, instance) = unsafe {
        let h = instance_vmctx::header(vmctx);
        (&mut *(*h).store, (*h).instance)
    };
    catch_unwind(AssertUnwindSafe(|| f(store, instance))).unwrap_or(on_panic)
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

//! The `wasi_snapshot_preview1` functions, one file per group. Each takes the context
//! and, where it touches guest memory, a [`GuestMemory`], then the wasm parameters;
//! each returns the errno (`proc_exit` returns the host error that ends the call).
//! `linker.rs` lists them and derives their wasm signatures from these Rust ones.

pub(crate) mod args;
pub(crate) mod clock;
pub(crate) mod fd;
pub(crate) mod fd_io;
pub(crate) mod open;
pub(crate) mod path;
pub(crate) mod poll;
pub(crate) mod proc;
pub(crate) mod random;
pub(crate) mod readdir;
pub(crate) mod sock;
pub(crate) mod stat;

use crate::ctx::WasiCtx;
use crate::errno::{Errno, WasiResult};
use crate::memory::GuestMemory;
use kiln::{Caller, Extern};

/// Projects the store's data to its WASI context.
pub(crate) type Get<T> = fn(&mut T) -> &mut WasiCtx;

/// The errno a WASI function returns.
pub(crate) fn errno(r: WasiResult<()>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => i32::from(e.0),
    }
}

/// Runs `f` with the WASI context and the calling instance's exported `memory`.
///
/// The context is moved out of the store for the call (and back after), so that `f`
/// can hold it and the memory at once. A module without a `memory` export cannot pass
/// pointers: that is a host error (the call traps), as in other runtimes.
pub(crate) fn with_mem<T, R>(
    caller: &mut Caller<'_, T>, get: Get<T>,
    f: impl FnOnce(&mut WasiCtx, &mut GuestMemory<'_>) -> R,
) -> kiln::Result<R> {
    let memory = caller
        .get_export("memory")
        .and_then(Extern::into_memory)
        .ok_or_else(|| {
            kiln::Error::msg("WASI: the module must export its linear memory as `memory`")
        })?;
    let deadline = caller.deadline();
    let mut ctx = std::mem::take(get(caller.data_mut()));
    ctx.deadline = deadline;
    let r = f(&mut ctx, &mut GuestMemory::new(memory.data_mut(caller)));
    *get(caller.data_mut()) = ctx;
    Ok(r)
}

/// Runs `f` with the WASI context only.
pub(crate) fn with_ctx<T, R>(
    caller: &mut Caller<'_, T>, get: Get<T>, f: impl FnOnce(&mut WasiCtx) -> R,
) -> R {
    let deadline = caller.deadline();
    let ctx = get(caller.data_mut());
    ctx.deadline = deadline;
    f(ctx)
}

/// Nanoseconds as a WASI timestamp from seconds and nanoseconds (0 before 1970).
pub(crate) fn timestamp(secs: i64, nanos: i64) -> u64 {
    u64::try_from(secs)
        .ok()
        .and_then(|s| s.checked_mul(1_000_000_000))
        .and_then(|ns| ns.checked_add(u64::try_from(nanos).ok()?))
        .unwrap_or(0)
}

/// `EINVAL` unless `v` fits in a `u8`/`u16` flag or enum field (wasm passes them as
/// `i32`).
pub(crate) fn narrow<N: TryFrom<u32>>(v: u32) -> WasiResult<N> {
    N::try_from(v).map_err(|_| Errno::INVAL)
}

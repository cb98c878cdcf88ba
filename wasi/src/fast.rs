//! WASI fast paths: inline bodies (`kiln::Linker::func_inline`) for the functions whose
//! common case needs no host state beyond a clock or a few per-context constants.
//! A module compiled by the linker (`Linker::module`) runs them in place of the call;
//! anything unusual (an unknown or CPU-time clock id, a pointer out of bounds) hands
//! the call to the generic function, which gives the errno (`EINVAL`, `EFAULT`) it always
//! did. None of these functions has a capability check to bypass: clocks, resolutions,
//! yielding and the sizes of the arguments and environment are open to every guest.
//! Each body accesses memory only in modules that export their memory 0 as `memory`,
//! which the generic functions write through.
//!
//! - `clock_time_get`, `clock_res_get`: realtime and monotonic clocks, read through
//!   `rustix` (the vDSO on Linux), the result stored straight into guest memory.
//! - `sched_yield`: yields the thread.
//! - `args_sizes_get`, `environ_sizes_get`: the counts and sizes, from cells of the
//!   store holding the context's values (only with [`FastPaths::WithStore`]).

use crate::ctx::WasiCtx;
use crate::funcs::{args, clock};
use kiln::{
    CompareOp, ConvertOp, FuncType, InlineBuilder, InlineFunc, InlineVal, Store, StoreCell, ValType,
};
use std::collections::HashMap;

/// Which WASI functions take fast paths.
pub enum FastPaths<'a, T> {
    /// None: every call runs the generic host function.
    Off,
    /// `clock_time_get`, `clock_res_get` and `sched_yield` (what
    /// [`add_to_linker`](crate::add_to_linker) defines).
    On,
    /// Those, and `args_sizes_get` and `environ_sizes_get`, whose values come from
    /// cells made in this store from its context (the store whose data `get` maps).
    WithStore(&'a mut Store<T>),
}

/// The current time of clock `id` (realtime or monotonic; the body checks), in
/// nanoseconds.
extern "C" fn clock_now(id: u32) -> u64 {
    clock::now(id).unwrap_or(0)
}

/// The resolution of clock `id` (realtime or monotonic), in nanoseconds.
extern "C" fn clock_resolution(id: u32) -> u64 {
    clock::resolution(id).unwrap_or(1)
}

extern "C" fn yield_now() {
    std::thread::yield_now();
}

fn errno_ok(b: &mut InlineBuilder) -> kiln::Result<InlineVal> {
    b.constant(0i32)
}

/// Falls back unless `ok` (an `i32` 0 or 1) holds.
fn fallback_unless(b: &mut InlineBuilder, ok: InlineVal) -> kiln::Result<()> {
    let bad = b.convert(ConvertOp::Eqz, ok)?;
    b.fallback_if(bad)
}

/// `i32` 1 when `id` names the realtime (0) or monotonic (1) clock.
fn fast_clock(b: &mut InlineBuilder, id: InlineVal) -> kiln::Result<InlineVal> {
    let one = b.constant(1i32)?;
    b.compare(CompareOp::LeU, id, one)
}

/// A clock function's body: `id` and `out` are parameters number `id_at` and `out_at`
/// of `ty`; `read` gives the clock's value, stored at `out`.
fn clock_body(
    ty: &FuncType, id_at: u32, out_at: u32, read: extern "C" fn(u32) -> u64,
) -> kiln::Result<InlineFunc> {
    let mut b = InlineBuilder::new(ty)?;
    b.memory_export("memory");
    let (id, out) = (b.param(id_at)?, b.param(out_at)?);
    let known = fast_clock(&mut b, id)?;
    let fits = b.in_bounds(out, 0, 8)?;
    let ok = b.and(known, fits)?;
    fallback_unless(&mut b, ok)?;
    let value = b
        .call_extern(read, &[id])?
        .ok_or_else(|| kiln::Error::msg("a clock function returns a value"))?;
    b.store(out, 0, value)?;
    let r = errno_ok(&mut b)?;
    b.finish(&[r])
}

/// `clock_time_get(id, precision, out) -> errno`.
fn clock_time_get() -> kiln::Result<InlineFunc> {
    use ValType::*;
    clock_body(&FuncType::new([I32, I64, I32], [I32]), 0, 2, clock_now)
}

/// `clock_res_get(id, out) -> errno`.
fn clock_res_get() -> kiln::Result<InlineFunc> {
    use ValType::*;
    clock_body(&FuncType::new([I32, I32], [I32]), 0, 1, clock_resolution)
}

/// `sched_yield() -> errno`.
fn sched_yield() -> kiln::Result<InlineFunc> {
    let mut b = InlineBuilder::new(&FuncType::new([], [ValType::I32]))?;
    b.call_extern(yield_now as extern "C" fn(), &[])?;
    let r = errno_ok(&mut b)?;
    b.finish(&[r])
}

/// `*_sizes_get(count_out, size_out) -> errno`, the values from `count` and `size`.
fn sizes_get(count: &StoreCell<u32>, size: &StoreCell<u32>) -> kiln::Result<InlineFunc> {
    let mut b = InlineBuilder::new(&FuncType::new([ValType::I32, ValType::I32], [ValType::I32]))?;
    b.memory_export("memory");
    let (count_out, size_out) = (b.param(0)?, b.param(1)?);
    let a = b.in_bounds(count_out, 0, 4)?;
    let c = b.in_bounds(size_out, 0, 4)?;
    let ok = b.and(a, c)?;
    fallback_unless(&mut b, ok)?;
    let n = b.cell_get(count)?;
    b.store(count_out, 0, n)?;
    let s = b.cell_get(size)?;
    b.store(size_out, 0, s)?;
    let r = errno_ok(&mut b)?;
    b.finish(&[r])
}

/// The fast-path bodies `fast` asks for, by WASI function name.
pub(crate) fn bodies<T>(
    fast: FastPaths<'_, T>, get: fn(&mut T) -> &mut WasiCtx,
) -> kiln::Result<HashMap<&'static str, InlineFunc>> {
    let mut out = HashMap::new();
    let store = match fast {
        FastPaths::Off => return Ok(out),
        FastPaths::On => None,
        FastPaths::WithStore(store) => Some(store),
    };
    out.insert("clock_time_get", clock_time_get()?);
    out.insert("clock_res_get", clock_res_get()?);
    out.insert("sched_yield", sched_yield()?);
    if let Some(store) = store {
        let ctx = get(store.data_mut());
        // A list past the limit has no fast path: the generic function reports it.
        let sizes = [args::args_sizes(ctx).ok(), args::environ_sizes(ctx).ok()];
        for (name, sizes) in ["args_sizes_get", "environ_sizes_get"]
            .into_iter()
            .zip(sizes)
        {
            if let Some((n, size)) = sizes {
                let n = StoreCell::new(&mut *store, n)?;
                let size = StoreCell::new(&mut *store, size)?;
                out.insert(name, sizes_get(&n, &size)?);
            }
        }
    }
    Ok(out)
}

//! `args_*` and `environ_*`: the guest sees exactly what the host configured, if each
//! list totals at most [`MAX_LIST_BYTES`]; a larger one gives `E2BIG`, as `execve`
//! refuses more than `ARG_MAX`.

use crate::ctx::WasiCtx;
use crate::errno::{Errno, WasiResult};
use crate::memory::GuestMemory;

/// The largest argument or environment list a guest is given, in bytes (with NULs).
pub(crate) const MAX_LIST_BYTES: u32 = 1 << 20;

/// Count and total size (with separators and NULs) of a list of strings; `E2BIG` past
/// [`MAX_LIST_BYTES`].
fn sizes<'a>(items: impl Iterator<Item = &'a [&'a [u8]]>) -> WasiResult<(u32, u32)> {
    let mut count: u32 = 0;
    let mut total: u32 = 0;
    for parts in items {
        count = count.checked_add(1).ok_or(Errno::OVERFLOW)?;
        for p in parts {
            let len = u32::try_from(p.len()).map_err(|_| Errno::OVERFLOW)?;
            total = total.checked_add(len).ok_or(Errno::OVERFLOW)?;
        }
        total = total.checked_add(1).ok_or(Errno::OVERFLOW)?;
        if total > MAX_LIST_BYTES {
            return Err(Errno::TOOBIG);
        }
    }
    Ok((count, total))
}

/// Writes pointers at `ptrs` and NUL-terminated strings (each the concatenation of its
/// parts) at `buf`.
fn write_list<'a>(
    mem: &mut GuestMemory<'_>, mut ptrs: u32, mut buf: u32,
    items: impl Iterator<Item = &'a [&'a [u8]]>,
) -> WasiResult<()> {
    for parts in items {
        mem.write_u32(ptrs, buf)?;
        ptrs = ptrs.checked_add(4).ok_or(Errno::FAULT)?;
        for p in parts {
            mem.write_bytes(buf, p)?;
            let len = u32::try_from(p.len()).map_err(|_| Errno::OVERFLOW)?;
            buf = buf.checked_add(len).ok_or(Errno::FAULT)?;
        }
        mem.write_u8(buf, 0)?;
        buf = buf.checked_add(1).ok_or(Errno::FAULT)?;
    }
    Ok(())
}

fn arg_parts(ctx: &WasiCtx) -> Vec<[&[u8]; 1]> {
    ctx.args.iter().map(|a| [a.as_bytes()]).collect()
}

fn env_parts(ctx: &WasiCtx) -> Vec<[&[u8]; 3]> {
    ctx.env
        .iter()
        .map(|(k, v)| [k.as_bytes(), b"=".as_slice(), v.as_bytes()])
        .collect()
}

/// The count and total size of the arguments.
pub(crate) fn args_sizes(ctx: &WasiCtx) -> WasiResult<(u32, u32)> {
    let parts = arg_parts(ctx);
    sizes(parts.iter().map(|p| p.as_slice()))
}

/// The count and total size of the environment.
pub(crate) fn environ_sizes(ctx: &WasiCtx) -> WasiResult<(u32, u32)> {
    let parts = env_parts(ctx);
    sizes(parts.iter().map(|p| p.as_slice()))
}

pub(crate) fn args_sizes_get(
    ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, argc: u32, buf_size: u32,
) -> WasiResult<()> {
    let (n, size) = args_sizes(ctx)?;
    mem.write_u32(argc, n)?;
    mem.write_u32(buf_size, size)
}

pub(crate) fn args_get(
    ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, argv: u32, buf: u32,
) -> WasiResult<()> {
    let parts = arg_parts(ctx);
    sizes(parts.iter().map(|p| p.as_slice()))?;
    write_list(mem, argv, buf, parts.iter().map(|p| p.as_slice()))
}

pub(crate) fn environ_sizes_get(
    ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, count: u32, buf_size: u32,
) -> WasiResult<()> {
    let (n, size) = environ_sizes(ctx)?;
    mem.write_u32(count, n)?;
    mem.write_u32(buf_size, size)
}

pub(crate) fn environ_get(
    ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, environ: u32, buf: u32,
) -> WasiResult<()> {
    let parts = env_parts(ctx);
    sizes(parts.iter().map(|p| p.as_slice()))?;
    write_list(mem, environ, buf, parts.iter().map(|p| p.as_slice()))
}

//! `fd_read`, `fd_pread`, `fd_write`, `fd_pwrite`, `fd_seek`, `fd_tell`.
//!
//! Iovec arrays are validated first (at most 1,024 entries, bounds and total, no
//! allocation), the result pointer too, so a bad pointer fails with `EFAULT` before any
//! byte moves. Reads fill the buffers one by one; writes to files gather them into one
//! `writev`. Either way a call moves at most [`MAX_TRANSFER`] bytes, and a short
//! transfer ends it (as `readv`/`writev` may). Writes to files count against the
//! context's disk quota. Standard input and output wait for the host's streams only
//! until the store's deadline.

use crate::ctx::WasiCtx;
use crate::errno::{Errno, WasiResult};
use crate::fdtable::Desc;
use crate::funcs::narrow;
use crate::memory::{GuestMemory, Iovecs};
use crate::types::{rights, whence};
use cap_std::fs::FileExt;
use std::io::{Read, Seek, SeekFrom, Write};

/// The most bytes one read or write call moves; a larger request is cut short, as
/// `readv`/`writev` may, so that no single call holds the host for long.
pub(crate) const MAX_TRANSFER: u32 = 16 << 20;

/// Fills the buffers of `list` with `read(buf, done_so_far)`, up to [`MAX_TRANSFER`]
/// bytes. A stream read that returned data ends the call (another read could block).
/// An error after some bytes moved reports those bytes instead.
fn read_iovs(
    mem: &mut GuestMemory<'_>, list: &Iovecs, stream: bool,
    mut read: impl FnMut(&mut [u8], u64) -> WasiResult<usize>,
) -> WasiResult<u32> {
    let mut done: u32 = 0;
    for i in 0..list.count() {
        let step = mem.iovec(list, i).and_then(|iov| {
            let len = iov.len.min(MAX_TRANSFER - done);
            let buf = mem.slice_mut(iov.buf, len)?;
            if buf.is_empty() {
                return Ok((0, iov.len));
            }
            let n = read(buf, u64::from(done))?;
            Ok((n.min(buf.len()) as u32, iov.len))
        });
        match step {
            Ok((n, want)) => {
                done = done.checked_add(n).ok_or(Errno::OVERFLOW)?;
                if n < want || (stream && n > 0) || done >= MAX_TRANSFER {
                    break;
                }
            }
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done)
}

/// The buffers of `list` as slices of guest memory, cut at `limit` bytes in all.
fn gather<'m>(mem: &'m GuestMemory<'_>, list: &Iovecs, limit: u32) -> WasiResult<Vec<&'m [u8]>> {
    let mut out = Vec::with_capacity(list.count() as usize);
    let mut left = limit;
    for i in 0..list.count() {
        if left == 0 {
            break;
        }
        let iov = mem.iovec(list, i)?;
        let len = iov.len.min(left);
        out.push(mem.slice(iov.buf, len)?);
        left -= len;
    }
    Ok(out)
}

/// `offset + done`, for positioned transfers.
fn at(offset: u64, done: u64) -> WasiResult<u64> {
    offset.checked_add(done).ok_or(Errno::OVERFLOW)
}

/// Reads at the current position (`pos == None`) or at `pos`.
fn read(
    ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, fd: u32, iovs: u32, iovs_len: u32,
    pos: Option<u64>, out: u32,
) -> WasiResult<()> {
    let list = mem.iovecs(iovs, iovs_len)?;
    mem.check(out, 4)?;
    let deadline = &ctx.deadline;
    let e = ctx.fds.get_mut(fd)?;
    let needed = match (&e.desc, pos) {
        (Desc::File(f), _) if !f.readable => return Err(Errno::BADF),
        (Desc::File(_), None) => rights::FD_READ,
        (Desc::File(_), Some(_)) => rights::FD_READ | rights::FD_SEEK,
        (Desc::Stdin(_), None) => rights::FD_READ,
        (Desc::Stdin(_), Some(_)) => return Err(Errno::SPIPE),
        (Desc::Dir(_), _) => return Err(Errno::ISDIR),
        _ => return Err(Errno::BADF),
    };
    e.require(needed)?;
    let n = match (&mut e.desc, pos) {
        (Desc::File(f), None) => read_iovs(mem, &list, false, |b, _| Ok((&f.file).read(b)?))?,
        (Desc::File(f), Some(p)) => read_iovs(mem, &list, false, |b, done| {
            Ok(f.file.read_at(b, at(p, done)?)?)
        })?,
        (Desc::Stdin(s), _) => {
            let stream = s.available().is_none();
            read_iovs(mem, &list, stream, |b, _| s.read(b, deadline))?
        }
        _ => return Err(Errno::BADF),
    };
    mem.write_u32(out, n)
}

pub(crate) fn fd_read(
    ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, fd: u32, iovs: u32, iovs_len: u32, out: u32,
) -> WasiResult<()> {
    read(ctx, mem, fd, iovs, iovs_len, None, out)
}

pub(crate) fn fd_pread(
    ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, fd: u32, iovs: u32, iovs_len: u32, offset: u64,
    out: u32,
) -> WasiResult<()> {
    read(ctx, mem, fd, iovs, iovs_len, Some(offset), out)
}

/// Writes at the current position (`pos == None`; the end in append mode) or at `pos`.
/// A file gets the buffers in one gathered `writev`/`pwritev`, within the disk quota;
/// an output stream gets them one by one.
fn write(
    ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, fd: u32, iovs: u32, iovs_len: u32,
    pos: Option<u64>, out: u32,
) -> WasiResult<()> {
    let list = mem.iovecs(iovs, iovs_len)?;
    mem.check(out, 4)?;
    let (deadline, disk) = (&ctx.deadline, &mut ctx.disk);
    let e = ctx.fds.get_mut(fd)?;
    let needed = match (&e.desc, pos) {
        (Desc::File(f), _) if !f.writable => return Err(Errno::BADF),
        (Desc::File(_), None) => rights::FD_WRITE,
        (Desc::File(_), Some(_)) => rights::FD_WRITE | rights::FD_SEEK,
        (Desc::Output(_), None) => rights::FD_WRITE,
        (Desc::Output(_), Some(_)) => return Err(Errno::SPIPE),
        (Desc::Dir(_), _) => return Err(Errno::ISDIR),
        _ => return Err(Errno::BADF),
    };
    e.require(needed)?;
    let n = match &mut e.desc {
        Desc::File(f) => {
            let total = (0..list.count())
                .map(|i| mem.iovec(&list, i).map(|v| u64::from(v.len)))
                .sum::<WasiResult<u64>>()?;
            let allowed = disk.allowance(total.min(u64::from(MAX_TRANSFER)));
            if allowed == 0 && total > 0 {
                return Err(disk.full());
            }
            let bufs = gather(mem, &list, allowed as u32)?;
            let slices: Vec<std::io::IoSlice<'_>> =
                bufs.iter().map(|b| std::io::IoSlice::new(b)).collect();
            let n = match pos {
                None => (&f.file).write_vectored(&slices)?,
                Some(p) => rustix::io::pwritev(&f.file, &slices, p)?,
            };
            disk.spend(n as u64);
            n as u32
        }
        Desc::Output(o) => {
            let bufs = gather(mem, &list, MAX_TRANSFER)?;
            let mut done = 0u32;
            for b in bufs {
                let n = match o.write(b, deadline) {
                    Ok(n) => n,
                    Err(e) if done == 0 => return Err(e),
                    Err(_) => break,
                };
                done += n as u32;
                if n < b.len() {
                    break;
                }
            }
            done
        }
        _ => return Err(Errno::BADF),
    };
    mem.write_u32(out, n)
}

pub(crate) fn fd_write(
    ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, fd: u32, iovs: u32, iovs_len: u32, out: u32,
) -> WasiResult<()> {
    write(ctx, mem, fd, iovs, iovs_len, None, out)
}

pub(crate) fn fd_pwrite(
    ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, fd: u32, iovs: u32, iovs_len: u32, offset: u64,
    out: u32,
) -> WasiResult<()> {
    write(ctx, mem, fd, iovs, iovs_len, Some(offset), out)
}

/// Seeks the file `fd` (`ESPIPE` for streams, `EBADF` for directories).
fn seek(ctx: &mut WasiCtx, fd: u32, to: SeekFrom, needed: u64) -> WasiResult<u64> {
    let e = ctx.fds.get(fd)?;
    match &e.desc {
        Desc::File(f) => {
            e.require(needed)?;
            Ok((&f.file).seek(to)?)
        }
        Desc::Stdin(_) | Desc::Output(_) => Err(Errno::SPIPE),
        _ => Err(Errno::BADF),
    }
}

pub(crate) fn fd_seek(
    ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, fd: u32, offset: i64, how: u32, out: u32,
) -> WasiResult<()> {
    mem.check(out, 8)?;
    let to = match narrow::<u8>(how)? {
        whence::SET => SeekFrom::Start(u64::try_from(offset).map_err(|_| Errno::INVAL)?),
        whence::CUR => SeekFrom::Current(offset),
        whence::END => SeekFrom::End(offset),
        _ => return Err(Errno::INVAL),
    };
    // Asking where one is needs only `FD_TELL`.
    let needed = if to == SeekFrom::Current(0) {
        rights::FD_TELL
    } else {
        rights::FD_SEEK
    };
    let pos = seek(ctx, fd, to, needed)?;
    mem.write_u64(out, pos)
}

pub(crate) fn fd_tell(
    ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, fd: u32, out: u32,
) -> WasiResult<()> {
    mem.check(out, 8)?;
    let pos = seek(ctx, fd, SeekFrom::Current(0), rights::FD_TELL)?;
    mem.write_u64(out, pos)
}

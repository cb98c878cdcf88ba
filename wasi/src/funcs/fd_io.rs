//! `fd_read`, `fd_pread`, `fd_write`, `fd_pwrite`, `fd_seek`, `fd_tell`.
//!
//! Iovec arrays are validated first (bounds and total, no allocation), the result
//! pointer too, so a bad pointer fails with `EFAULT` before any byte moves. Buffers
//! are then transferred one by one, straight between guest memory and the host, and
//! a short transfer ends the call (as `readv`/`writev` may).

use crate::ctx::WasiCtx;
use crate::errno::{Errno, WasiResult};
use crate::fdtable::Desc;
use crate::funcs::narrow;
use crate::memory::{GuestMemory, Iovecs};
use crate::types::{rights, whence};
use cap_std::fs::FileExt;
use std::io::{Read, Seek, SeekFrom, Write};

/// Fills the buffers of `list` with `read(buf, done_so_far)`. A stream read that
/// returned data ends the call (another read could block). An error after some bytes
/// moved reports those bytes instead.
fn read_iovs(
    mem: &mut GuestMemory<'_>, list: &Iovecs, stream: bool,
    mut read: impl FnMut(&mut [u8], u64) -> WasiResult<usize>,
) -> WasiResult<u32> {
    let mut done: u32 = 0;
    for i in 0..list.count() {
        let step = mem.iovec(list, i).and_then(|iov| {
            let buf = mem.slice_mut(iov.buf, iov.len)?;
            if buf.is_empty() {
                return Ok((0, 0));
            }
            let n = read(buf, u64::from(done))?;
            Ok((n.min(buf.len()) as u32, iov.len))
        });
        match step {
            Ok((n, want)) => {
                done = done.checked_add(n).ok_or(Errno::OVERFLOW)?;
                if n < want || (stream && n > 0) {
                    break;
                }
            }
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done)
}

/// Writes the buffers of `list` with `write(buf, done_so_far)`, like `read_iovs`.
fn write_iovs(
    mem: &GuestMemory<'_>, list: &Iovecs, mut write: impl FnMut(&[u8], u64) -> WasiResult<usize>,
) -> WasiResult<u32> {
    let mut done: u32 = 0;
    for i in 0..list.count() {
        let step = mem.iovec(list, i).and_then(|iov| {
            let buf = mem.slice(iov.buf, iov.len)?;
            if buf.is_empty() {
                return Ok((0, 0));
            }
            let n = write(buf, u64::from(done))?;
            Ok((n.min(buf.len()) as u32, iov.len))
        });
        match step {
            Ok((n, want)) => {
                done = done.checked_add(n).ok_or(Errno::OVERFLOW)?;
                if n < want {
                    break;
                }
            }
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done)
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
            read_iovs(mem, &list, stream, |b, _| s.read(b))?
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
fn write(
    ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, fd: u32, iovs: u32, iovs_len: u32,
    pos: Option<u64>, out: u32,
) -> WasiResult<()> {
    let list = mem.iovecs(iovs, iovs_len)?;
    mem.check(out, 4)?;
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
    let n = match (&mut e.desc, pos) {
        (Desc::File(f), None) => write_iovs(mem, &list, |b, _| Ok((&f.file).write(b)?))?,
        (Desc::File(f), Some(p)) => write_iovs(mem, &list, |b, done| {
            Ok(f.file.write_at(b, at(p, done)?)?)
        })?,
        (Desc::Output(o), _) => write_iovs(mem, &list, |b, _| o.write(b))?,
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

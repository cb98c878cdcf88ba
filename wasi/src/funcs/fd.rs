//! Descriptor-level operations: close, renumber, stat, flags, rights, sync, advise,
//! allocate, set size and times, pre-open names.

use crate::ctx::{DirPerms, WasiCtx};
use crate::errno::{Errno, WasiResult};
use crate::fdtable::{Desc, Entry};
use crate::funcs::narrow;
use crate::funcs::stat::Filestat;
use crate::memory::GuestMemory;
use crate::types::{fdflags, filetype, fstflags, rights, size};
use cap_std::fs::File;
use rustix::fs::{Advice, FallocateFlags, OFlags};
use std::num::NonZeroU64;
use std::time::{Duration, UNIX_EPOCH};

pub(crate) fn fd_close(ctx: &mut WasiCtx, fd: u32) -> WasiResult<()> {
    ctx.fds.remove(fd).map(drop)
}

pub(crate) fn fd_renumber(ctx: &mut WasiCtx, from: u32, to: u32) -> WasiResult<()> {
    ctx.fds.renumber(from, to)
}

/// The regular file `fd`, checked for `rights` (`EBADF` for other descriptors).
fn file(ctx: &WasiCtx, fd: u32, rights: u64) -> WasiResult<&crate::fdtable::FileDesc> {
    let (f, e) = ctx.fds.file(fd)?;
    e.require(rights)?;
    Ok(f)
}

pub(crate) fn fd_advise(
    ctx: &mut WasiCtx, fd: u32, offset: u64, len: u64, advice: u32,
) -> WasiResult<()> {
    let advice = match advice {
        0 => Advice::Normal,
        1 => Advice::Sequential,
        2 => Advice::Random,
        3 => Advice::WillNeed,
        4 => Advice::DontNeed,
        5 => Advice::NoReuse,
        _ => return Err(Errno::INVAL),
    };
    let f = file(ctx, fd, rights::FD_ADVISE)?;
    Ok(rustix::fs::fadvise(
        &f.file,
        offset,
        NonZeroU64::new(len),
        advice,
    )?)
}

pub(crate) fn fd_allocate(ctx: &mut WasiCtx, fd: u32, offset: u64, len: u64) -> WasiResult<()> {
    let (f, e) = ctx.fds.file(fd)?;
    if !f.writable {
        return Err(Errno::BADF);
    }
    e.require(rights::FD_ALLOCATE)?;
    // Growth reserves real blocks: it counts against the disk quota, in full or not
    // at all.
    let end = offset.checked_add(len).ok_or(Errno::FBIG)?;
    let growth = end.saturating_sub(f.file.metadata()?.len());
    if ctx.disk.allowance(growth) < growth {
        return Err(ctx.disk.full());
    }
    rustix::fs::fallocate(&f.file, FallocateFlags::empty(), offset, len)?;
    ctx.disk.spend(growth);
    Ok(())
}

/// `fd_sync`: data and metadata.
pub(crate) fn fd_sync(ctx: &mut WasiCtx, fd: u32) -> WasiResult<()> {
    sync(ctx, fd, false)
}

/// `fd_datasync`: data only.
pub(crate) fn fd_datasync(ctx: &mut WasiCtx, fd: u32) -> WasiResult<()> {
    sync(ctx, fd, true)
}

fn sync(ctx: &mut WasiCtx, fd: u32, data_only: bool) -> WasiResult<()> {
    let e = ctx.fds.get(fd)?;
    e.require(if data_only {
        rights::FD_DATASYNC
    } else {
        rights::FD_SYNC
    })?;
    let r = match &e.desc {
        Desc::File(f) if data_only => f.file.sync_data(),
        Desc::File(f) => f.file.sync_all(),
        Desc::Dir(d) if data_only => rustix::fs::fdatasync(&d.dir).map_err(Into::into),
        Desc::Dir(d) => rustix::fs::fsync(&d.dir).map_err(Into::into),
        // Like `fsync` on a pipe or terminal.
        _ => return Err(Errno::INVAL),
    };
    Ok(r?)
}

/// The WASI `fdflags` of an open host file.
fn file_flags(f: &File) -> WasiResult<u16> {
    let fl = rustix::fs::fcntl_getfl(f)?;
    let mut out = 0;
    if fl.contains(OFlags::APPEND) {
        out |= fdflags::APPEND;
    }
    if fl.contains(OFlags::NONBLOCK) {
        out |= fdflags::NONBLOCK;
    }
    // Linux's O_SYNC includes the O_DSYNC bit and O_RSYNC is O_SYNC.
    if fl.contains(OFlags::SYNC) {
        out |= fdflags::SYNC;
    } else if fl.contains(OFlags::DSYNC) {
        out |= fdflags::DSYNC;
    }
    Ok(out)
}

pub(crate) fn fd_fdstat_get(
    ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, fd: u32, out: u32,
) -> WasiResult<()> {
    let e = ctx.fds.get(fd)?;
    let (ty, flags) = match &e.desc {
        Desc::Stdin(s) => (tty_type(s.is_terminal()), 0),
        Desc::Output(o) => (tty_type(o.is_terminal()), 0),
        Desc::File(f) => (
            crate::funcs::stat::filetype_of(f.file.metadata()?.file_type()),
            file_flags(&f.file)?,
        ),
        Desc::Dir(_) => (filetype::DIRECTORY, 0),
        Desc::Closed => return Err(Errno::BADF),
    };
    let mut b = [0u8; size::FDSTAT as usize];
    b[0] = ty;
    b[2..4].copy_from_slice(&flags.to_le_bytes());
    b[8..16].copy_from_slice(&e.base.to_le_bytes());
    b[16..24].copy_from_slice(&e.inheriting.to_le_bytes());
    mem.write_bytes(out, &b)
}

fn tty_type(tty: bool) -> u8 {
    if tty {
        filetype::CHARACTER_DEVICE
    } else {
        filetype::UNKNOWN
    }
}

pub(crate) fn fd_fdstat_set_flags(ctx: &mut WasiCtx, fd: u32, flags: u32) -> WasiResult<()> {
    let flags: u16 = narrow(flags)?;
    if flags & !fdflags::ALL != 0 {
        return Err(Errno::INVAL);
    }
    let e = ctx.fds.get(fd)?;
    e.require(rights::FD_FDSTAT_SET_FLAGS)?;
    let Desc::File(f) = &e.desc else {
        // Standard streams and directories have no flags, and the host's own streams
        // must not become non-blocking.
        return if flags == 0 {
            Ok(())
        } else {
            Err(Errno::NOTSUP)
        };
    };
    let sync = fdflags::SYNC | fdflags::DSYNC | fdflags::RSYNC;
    if flags & sync != file_flags(&f.file)? & sync {
        // Linux cannot change O_SYNC/O_DSYNC after open.
        return Err(Errno::NOTSUP);
    }
    let mut fl = rustix::fs::fcntl_getfl(&f.file)?;
    fl.set(OFlags::APPEND, flags & fdflags::APPEND != 0);
    fl.set(OFlags::NONBLOCK, flags & fdflags::NONBLOCK != 0);
    Ok(rustix::fs::fcntl_setfl(&f.file, fl)?)
}

pub(crate) fn fd_fdstat_set_rights(
    ctx: &mut WasiCtx, fd: u32, base: u64, inheriting: u64,
) -> WasiResult<()> {
    let e = ctx.fds.get_mut(fd)?;
    if base & !e.base != 0 || inheriting & !e.inheriting != 0 {
        return Err(Errno::NOTCAPABLE);
    }
    e.base = base;
    e.inheriting = inheriting;
    Ok(())
}

pub(crate) fn fd_filestat_get(
    ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, fd: u32, out: u32,
) -> WasiResult<()> {
    let e = ctx.fds.get(fd)?;
    e.require(rights::FD_FILESTAT_GET)?;
    let st = match &e.desc {
        Desc::File(f) => Filestat::from_metadata(&f.file.metadata()?),
        Desc::Dir(d) => Filestat::from_metadata(&d.dir.dir_metadata()?),
        Desc::Stdin(s) => Filestat {
            filetype: tty_type(s.is_terminal()),
            ..Filestat::default()
        },
        Desc::Output(o) => Filestat {
            filetype: tty_type(o.is_terminal()),
            ..Filestat::default()
        },
        Desc::Closed => return Err(Errno::BADF),
    };
    st.write(mem, out)
}

pub(crate) fn fd_filestat_set_size(ctx: &mut WasiCtx, fd: u32, size: u64) -> WasiResult<()> {
    let (f, e) = ctx.fds.file(fd)?;
    if !f.writable {
        return Err(Errno::BADF);
    }
    e.require(rights::FD_FILESTAT_SET_SIZE)?;
    Ok(f.file.set_len(size)?)
}

/// A time to set: `None` to leave as is.
pub(crate) fn time_spec(
    flags: u16, value: u64, set: u16, now: u16,
) -> WasiResult<Option<fs_set_times::SystemTimeSpec>> {
    match (flags & set != 0, flags & now != 0) {
        (true, true) => Err(Errno::INVAL),
        (true, false) => {
            let t = UNIX_EPOCH
                .checked_add(Duration::from_nanos(value))
                .ok_or(Errno::OVERFLOW)?;
            Ok(Some(fs_set_times::SystemTimeSpec::Absolute(t)))
        }
        (false, true) => Ok(Some(fs_set_times::SystemTimeSpec::SymbolicNow)),
        (false, false) => Ok(None),
    }
}

/// Both times of a `fstflags` call (`EINVAL` for unknown bits or set-and-now).
pub(crate) fn time_specs(
    atim: u64, mtim: u64, flags: u32,
) -> WasiResult<(
    Option<fs_set_times::SystemTimeSpec>,
    Option<fs_set_times::SystemTimeSpec>,
)> {
    let flags: u16 = narrow(flags)?;
    let all = fstflags::ATIM | fstflags::ATIM_NOW | fstflags::MTIM | fstflags::MTIM_NOW;
    if flags & !all != 0 {
        return Err(Errno::INVAL);
    }
    Ok((
        time_spec(flags, atim, fstflags::ATIM, fstflags::ATIM_NOW)?,
        time_spec(flags, mtim, fstflags::MTIM, fstflags::MTIM_NOW)?,
    ))
}

pub(crate) fn fd_filestat_set_times(
    ctx: &mut WasiCtx, fd: u32, atim: u64, mtim: u64, flags: u32,
) -> WasiResult<()> {
    use fs_set_times::SetTimes;
    let (a, m) = time_specs(atim, mtim, flags)?;
    let e = ctx.fds.get(fd)?;
    let perms = match &e.desc {
        Desc::File(f) => f.perms,
        Desc::Dir(d) => d.perms,
        _ => return Err(Errno::BADF),
    };
    if perms == DirPerms::ReadOnly {
        return Err(Errno::PERM);
    }
    e.require(rights::FD_FILESTAT_SET_TIMES)?;
    let r = match &e.desc {
        Desc::File(f) => f.file.set_times(a, m),
        Desc::Dir(d) => d.dir.set_times(a, m),
        _ => return Err(Errno::BADF),
    };
    Ok(r?)
}

/// The pre-opened directory `fd`'s guest name (`EBADF` for any other descriptor).
fn preopen_name(e: &Entry) -> WasiResult<&str> {
    match &e.desc {
        Desc::Dir(d) => d.preopen.as_deref().ok_or(Errno::BADF),
        _ => Err(Errno::BADF),
    }
}

pub(crate) fn fd_prestat_get(
    ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, fd: u32, out: u32,
) -> WasiResult<()> {
    let name = preopen_name(ctx.fds.get(fd)?)?;
    let len = u32::try_from(name.len()).map_err(|_| Errno::NAMETOOLONG)?;
    let mut b = [0u8; size::PRESTAT as usize];
    // Tag 0: `dir`.
    b[4..8].copy_from_slice(&len.to_le_bytes());
    mem.write_bytes(out, &b)
}

pub(crate) fn fd_prestat_dir_name(
    ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, fd: u32, path: u32, len: u32,
) -> WasiResult<()> {
    let name = preopen_name(ctx.fds.get(fd)?)?;
    if name.len() > len as usize {
        return Err(Errno::NAMETOOLONG);
    }
    mem.write_bytes(path, name.as_bytes())
}

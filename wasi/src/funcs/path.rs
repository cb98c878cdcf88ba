//! `path_*` operations other than `path_open`, each through cap-std relative to a
//! directory descriptor. Operations that change the file system need a read-write
//! directory (`EPERM` otherwise).

use crate::ctx::{DirPerms, WasiCtx};
use crate::errno::{Errno, WasiResult};
use crate::fdtable::{DirDesc, FdTable};
use crate::funcs::fd::time_specs;
use crate::funcs::stat::Filestat;
use crate::memory::GuestMemory;
use crate::types::{rights, LOOKUP_SYMLINK_FOLLOW};
use cap_fs_ext::{DirExt, SystemTimeSpec};
use std::os::unix::ffi::OsStrExt;

/// The directory `fd` for an operation needing `right`; `EPERM` if the operation
/// changes the file system and the directory is read-only.
fn dir(fds: &FdTable, fd: u32, right: u64, mutating: bool) -> WasiResult<&DirDesc> {
    let (d, e) = fds.dir(fd)?;
    if mutating && d.perms == DirPerms::ReadOnly {
        return Err(Errno::PERM);
    }
    e.require(right)?;
    Ok(d)
}

pub(crate) fn path_create_directory(
    ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, fd: u32, path: u32, len: u32,
) -> WasiResult<()> {
    let path = mem.path(path, len)?;
    let d = dir(&ctx.fds, fd, rights::PATH_CREATE_DIRECTORY, true)?;
    ctx.disk.create(|| Ok(d.dir.create_dir(path)?))
}

pub(crate) fn path_remove_directory(
    ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, fd: u32, path: u32, len: u32,
) -> WasiResult<()> {
    let path = mem.path(path, len)?;
    let d = dir(&ctx.fds, fd, rights::PATH_REMOVE_DIRECTORY, true)?;
    Ok(d.dir.remove_dir(path)?)
}

pub(crate) fn path_unlink_file(
    ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, fd: u32, path: u32, len: u32,
) -> WasiResult<()> {
    let path = mem.path(path, len)?;
    let d = dir(&ctx.fds, fd, rights::PATH_UNLINK_FILE, true)?;
    Ok(d.dir.remove_file(path)?)
}

pub(crate) fn path_filestat_get(
    ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, fd: u32, flags: u32, path: u32, len: u32,
    out: u32,
) -> WasiResult<()> {
    mem.check(out, 64)?;
    let path = mem.path(path, len)?;
    let d = dir(&ctx.fds, fd, rights::PATH_FILESTAT_GET, false)?;
    let meta = if flags & LOOKUP_SYMLINK_FOLLOW != 0 {
        d.dir.metadata(path)?
    } else {
        d.dir.symlink_metadata(path)?
    };
    Filestat::from_metadata(&meta).write(mem, out)
}

#[allow(clippy::too_many_arguments, reason = "the WASI signature")]
pub(crate) fn path_filestat_set_times(
    ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, fd: u32, flags: u32, path: u32, len: u32,
    atim: u64, mtim: u64, fst_flags: u32,
) -> WasiResult<()> {
    let path = mem.path(path, len)?;
    let (a, m) = time_specs(atim, mtim, fst_flags)?;
    let (a, m) = (
        a.map(SystemTimeSpec::from_std),
        m.map(SystemTimeSpec::from_std),
    );
    let d = dir(&ctx.fds, fd, rights::PATH_FILESTAT_SET_TIMES, true)?;
    if flags & LOOKUP_SYMLINK_FOLLOW != 0 {
        Ok(d.dir.set_times(path, a, m)?)
    } else {
        Ok(d.dir.set_symlink_times(path, a, m)?)
    }
}

#[allow(clippy::too_many_arguments, reason = "the WASI signature")]
pub(crate) fn path_link(
    ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, old_fd: u32, old_flags: u32, old_path: u32,
    old_len: u32, new_fd: u32, new_path: u32, new_len: u32,
) -> WasiResult<()> {
    let old_path = mem.path(old_path, old_len)?;
    let new_path = mem.path(new_path, new_len)?;
    if old_flags & LOOKUP_SYMLINK_FOLLOW != 0 {
        // cap-std links the path itself (`linkat` without `AT_SYMLINK_FOLLOW`).
        return Err(Errno::INVAL);
    }
    let src = dir(&ctx.fds, old_fd, rights::PATH_LINK_SOURCE, true)?;
    let dst = dir(&ctx.fds, new_fd, rights::PATH_LINK_TARGET, true)?;
    ctx.disk
        .create(|| Ok(src.dir.hard_link(old_path, &dst.dir, new_path)?))
}

#[allow(clippy::too_many_arguments, reason = "the WASI signature")]
pub(crate) fn path_rename(
    ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, old_fd: u32, old_path: u32, old_len: u32,
    new_fd: u32, new_path: u32, new_len: u32,
) -> WasiResult<()> {
    let old_path = mem.path(old_path, old_len)?;
    let new_path = mem.path(new_path, new_len)?;
    let src = dir(&ctx.fds, old_fd, rights::PATH_RENAME_SOURCE, true)?;
    let dst = dir(&ctx.fds, new_fd, rights::PATH_RENAME_TARGET, true)?;
    Ok(src.dir.rename(old_path, &dst.dir, new_path)?)
}

pub(crate) fn path_symlink(
    ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, old_path: u32, old_len: u32, fd: u32,
    new_path: u32, new_len: u32,
) -> WasiResult<()> {
    let target = mem.path(old_path, old_len)?;
    let link = mem.path(new_path, new_len)?;
    let d = dir(&ctx.fds, fd, rights::PATH_SYMLINK, true)?;
    // cap-std refuses absolute targets; relative ones that climb out are created but
    // can never be followed from inside.
    ctx.disk.create(|| Ok(d.dir.symlink(target, link)?))
}

#[allow(clippy::too_many_arguments, reason = "the WASI signature")]
pub(crate) fn path_readlink(
    ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, fd: u32, path: u32, len: u32, buf: u32,
    buf_len: u32, out: u32,
) -> WasiResult<()> {
    mem.check(out, 4)?;
    mem.check(buf, u64::from(buf_len))?;
    let path = mem.path(path, len)?;
    let d = dir(&ctx.fds, fd, rights::PATH_READLINK, false)?;
    let target = d.dir.read_link(path)?;
    let bytes = target.as_os_str().as_bytes();
    let n = bytes.len().min(buf_len as usize);
    mem.write_bytes(buf, &bytes[..n])?;
    mem.write_u32(out, n as u32)
}

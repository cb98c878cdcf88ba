//! `path_open`: every open goes through cap-std, relative to a directory descriptor.
//! Only regular files and directories are opened: a FIFO, device or socket found in a
//! pre-opened directory gives `ENOTSUP` (its reads and writes could block past any
//! deadline).

use crate::ctx::{DirPerms, WasiCtx};
use crate::errno::{Errno, WasiResult};
use crate::fdtable::{Desc, DirDesc, Entry, FileDesc};
use crate::funcs::narrow;
use crate::memory::GuestMemory;
use crate::types::{fdflags, oflags, rights, LOOKUP_SYMLINK_FOLLOW};
use cap_fs_ext::{
    DirExt, FollowSymlinks, OpenOptionsFollowExt, OpenOptionsMaybeDirExt, OpenOptionsSyncExt,
};
use cap_std::fs::{Dir, OpenOptions};

/// The arguments of `path_open` after the guest's memory was read.
pub(crate) struct OpenArgs<'a> {
    pub fd: u32,
    pub dirflags: u32,
    pub path: &'a str,
    pub oflags: u32,
    pub rights_base: u64,
    pub fdflags: u32,
}

#[allow(clippy::too_many_arguments, reason = "the WASI signature")]
pub(crate) fn path_open(
    ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, fd: u32, dirflags: u32, path: u32, path_len: u32,
    oflags: u32, rights_base: u64, _rights_inheriting: u64, fdflags: u32, out: u32,
) -> WasiResult<()> {
    mem.check(out, 4)?;
    let path = mem.path(path, path_len)?;
    let new_fd = open(
        ctx,
        &OpenArgs {
            fd,
            dirflags,
            path,
            oflags,
            rights_base,
            fdflags,
        },
    )?;
    mem.write_u32(out, new_fd)
}

/// Opens `a.path` under the directory `a.fd` and installs the new descriptor.
pub(crate) fn open(ctx: &mut WasiCtx, a: &OpenArgs<'_>) -> WasiResult<u32> {
    let of: u16 = narrow(a.oflags)?;
    let ff: u16 = narrow(a.fdflags)?;
    if of & !oflags::ALL != 0 || ff & !fdflags::ALL != 0 {
        return Err(Errno::INVAL);
    }
    let (d, e) = ctx.fds.dir(a.fd)?;
    let read = a.rights_base & (rights::FD_READ | rights::FD_READDIR) != 0;
    let write = a.rights_base & rights::FD_WRITE != 0;
    let creat = of & oflags::CREAT != 0;
    let trunc = of & oflags::TRUNC != 0;
    let excl = of & oflags::EXCL != 0;
    let follow = a.dirflags & LOOKUP_SYMLINK_FOLLOW != 0;
    let changes = write || creat || trunc || ff & fdflags::APPEND != 0;
    if changes && d.perms == DirPerms::ReadOnly {
        return Err(Errno::PERM);
    }
    e.require(rights::PATH_OPEN)?;
    if creat {
        e.require(rights::PATH_CREATE_FILE)?;
    }
    if !ctx.fds.has_room() {
        return Err(Errno::MFILE);
    }
    let desc = if of & oflags::DIRECTORY != 0 {
        if write {
            return Err(Errno::ISDIR);
        }
        if creat || trunc || excl {
            return Err(Errno::INVAL);
        }
        let dir = if follow {
            d.dir.open_dir(a.path)?
        } else {
            d.dir.open_dir_nofollow(a.path)?
        };
        dir_desc(dir, d.perms)
    } else {
        let mut opts = OpenOptions::new();
        // The host needs some access mode; creating or truncating needs write access.
        // What the guest may do is tracked in `readable`/`writable`, not here.
        let os_write = write || creat || trunc;
        opts.read(read || !os_write)
            .write(os_write)
            .append(ff & fdflags::APPEND != 0)
            .create(creat && !excl)
            .create_new(creat && excl)
            .truncate(trunc)
            .sync(ff & fdflags::SYNC != 0)
            .dsync(ff & fdflags::DSYNC != 0)
            .rsync(ff & fdflags::RSYNC != 0)
            // Always non-blocking, so that opening a FIFO returns at once (it is then
            // refused below); a regular file gets the guest's choice back.
            .nonblock(true)
            .follow(if follow {
                FollowSymlinks::Yes
            } else {
                FollowSymlinks::No
            })
            .maybe_dir(true);
        // A file that does not exist yet counts against the limit on entries created.
        let file = if creat && d.dir.symlink_metadata(a.path).is_err() {
            let mut opened = None;
            ctx.disk.create(|| {
                opened = Some(d.dir.open_with(a.path, &opts)?);
                Ok(())
            })?;
            opened.ok_or(Errno::IO)?
        } else {
            d.dir.open_with(a.path, &opts)?
        };
        let kind = file.metadata()?.file_type();
        if !kind.is_file() && !kind.is_dir() {
            // FIFOs, devices and sockets: a read or write could block past every
            // deadline, and a sandbox has no use for them.
            return Err(Errno::NOTSUP);
        }
        if kind.is_file() && ff & fdflags::NONBLOCK == 0 {
            let fl = rustix::fs::fcntl_getfl(&file)?;
            rustix::fs::fcntl_setfl(&file, fl - rustix::fs::OFlags::NONBLOCK)?;
        }
        if kind.is_dir() {
            // A directory opened without `O_DIRECTORY`, for reading only (the host
            // refuses write access to directories with `EISDIR`).
            dir_desc(Dir::from_std_file(file.into_std()), d.perms)
        } else {
            Desc::File(FileDesc {
                file,
                readable: read,
                writable: write,
                perms: d.perms,
            })
        }
    };
    let parent_inheriting = e.inheriting;
    let mut entry = Entry::new(desc);
    entry.base &= parent_inheriting;
    entry.inheriting &= parent_inheriting;
    ctx.fds.push(entry)
}

fn dir_desc(dir: Dir, perms: DirPerms) -> Desc {
    Desc::Dir(DirDesc {
        dir,
        perms,
        preopen: None,
    })
}

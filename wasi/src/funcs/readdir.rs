//! `fd_readdir`: `.`, `..`, then the directory's entries; the cookie is the index of the
//! next entry.

use crate::ctx::WasiCtx;
use crate::errno::{Errno, WasiResult};
use crate::funcs::stat::filetype_of;
use crate::memory::GuestMemory;
use crate::types::{filetype, rights, size};
use cap_std::fs::MetadataExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirEntryExt;

/// Copies dirents into the guest's buffer, truncating the last one as the ABI says
/// (the guest sees a full buffer and retries with a larger one).
struct Out<'m, 'a> {
    mem: &'m mut GuestMemory<'a>,
    ptr: u32,
    left: u32,
}

impl Out<'_, '_> {
    /// Appends what fits of `bytes`; false once the buffer is full.
    fn put(&mut self, bytes: &[u8]) -> WasiResult<bool> {
        let n = bytes.len().min(self.left as usize);
        self.mem.write_bytes(self.ptr, &bytes[..n])?;
        // `n <= left`; `ptr + left` is at most the memory's end, which may be 2^32.
        self.ptr = self.ptr.saturating_add(n as u32);
        self.left -= n as u32;
        Ok(self.left > 0)
    }

    fn dirent(&mut self, next: u64, ino: u64, ty: u8, name: &[u8]) -> WasiResult<bool> {
        let namlen = u32::try_from(name.len()).map_err(|_| Errno::NAMETOOLONG)?;
        let mut h = [0u8; size::DIRENT];
        h[0..8].copy_from_slice(&next.to_le_bytes());
        h[8..16].copy_from_slice(&ino.to_le_bytes());
        h[16..20].copy_from_slice(&namlen.to_le_bytes());
        h[20] = ty;
        Ok(self.put(&h)? && self.put(name)?)
    }
}

pub(crate) fn fd_readdir(
    ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, fd: u32, buf: u32, buf_len: u32, cookie: u64,
    out: u32,
) -> WasiResult<()> {
    mem.check(out, 4)?;
    mem.check(buf, u64::from(buf_len))?;
    let (d, e) = ctx.fds.dir(fd)?;
    e.require(rights::FD_READDIR)?;
    let ino = d.dir.dir_metadata()?.ino();
    let mut o = Out {
        mem,
        ptr: buf,
        left: buf_len,
    };
    let mut index: u64 = 0;
    let mut room = true;
    for (name, ty) in [
        (&b"."[..], filetype::DIRECTORY),
        (&b".."[..], filetype::DIRECTORY),
    ] {
        if room && index >= cookie {
            room = o.dirent(index + 1, ino, ty, name)?;
        }
        index += 1;
    }
    if room {
        for entry in d.dir.entries()? {
            if index >= cookie {
                let entry = entry?;
                let ty = filetype_of(entry.file_type()?);
                let name = entry.file_name();
                if !o.dirent(index + 1, entry.ino(), ty, name.as_bytes())? {
                    break;
                }
            }
            index += 1;
        }
    }
    let used = buf_len - o.left;
    mem.write_u32(out, used)
}

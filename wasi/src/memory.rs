//! Checked access to a guest's linear memory. Every pointer and length the guest passes
//! goes through here: out of bounds gives `EFAULT`, never a host fault.

use crate::errno::{Errno, WasiResult};
use crate::types::size;
use std::ops::Range;

/// The most entries an iovec array may have: Linux's `IOV_MAX`.
pub(crate) const MAX_IOVECS: u32 = 1024;

/// The longest path the host accepts, in bytes: Linux's `PATH_MAX`.
pub(crate) const MAX_PATH: u32 = 4096;

/// The guest's linear memory for the duration of one WASI call.
pub(crate) struct GuestMemory<'a> {
    data: &'a mut [u8],
}

/// A validated `iovec`/`ciovec` array: in bounds, every buffer in bounds, and a total
/// length that fits the `size` (u32) result.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Iovecs {
    ptr: u32,
    count: u32,
}

/// One buffer of an iovec array.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Iovec {
    pub buf: u32,
    pub len: u32,
}

impl<'a> GuestMemory<'a> {
    pub fn new(data: &'a mut [u8]) -> Self {
        GuestMemory { data }
    }

    /// The byte range `[ptr, ptr + len)`, if it lies inside memory.
    fn range(&self, ptr: u32, len: u64) -> WasiResult<Range<usize>> {
        let start = u64::from(ptr);
        let end = start.checked_add(len).ok_or(Errno::FAULT)?;
        if end > self.data.len() as u64 {
            return Err(Errno::FAULT);
        }
        // Both fit in usize: they are at most the memory's length.
        Ok(start as usize..end as usize)
    }

    /// `len` bytes at `ptr`.
    pub fn slice(&self, ptr: u32, len: u32) -> WasiResult<&[u8]> {
        let r = self.range(ptr, u64::from(len))?;
        Ok(&self.data[r])
    }

    /// `len` bytes at `ptr`, mutably.
    pub fn slice_mut(&mut self, ptr: u32, len: u32) -> WasiResult<&mut [u8]> {
        let r = self.range(ptr, u64::from(len))?;
        Ok(&mut self.data[r])
    }

    /// Checks that `len` bytes at `ptr` are in bounds.
    pub fn check(&self, ptr: u32, len: u64) -> WasiResult<()> {
        self.range(ptr, len).map(|_| ())
    }

    fn array<const N: usize>(&self, ptr: u32) -> WasiResult<[u8; N]> {
        let r = self.range(ptr, N as u64)?;
        let mut out = [0u8; N];
        out.copy_from_slice(&self.data[r]);
        Ok(out)
    }

    pub fn read_u8(&self, ptr: u32) -> WasiResult<u8> {
        Ok(self.array::<1>(ptr)?[0])
    }

    pub fn read_u16(&self, ptr: u32) -> WasiResult<u16> {
        Ok(u16::from_le_bytes(self.array(ptr)?))
    }

    pub fn read_u32(&self, ptr: u32) -> WasiResult<u32> {
        Ok(u32::from_le_bytes(self.array(ptr)?))
    }

    pub fn read_u64(&self, ptr: u32) -> WasiResult<u64> {
        Ok(u64::from_le_bytes(self.array(ptr)?))
    }

    /// Copies `bytes` to `ptr`.
    pub fn write_bytes(&mut self, ptr: u32, bytes: &[u8]) -> WasiResult<()> {
        let r = self.range(ptr, bytes.len() as u64)?;
        self.data[r].copy_from_slice(bytes);
        Ok(())
    }

    pub fn write_u8(&mut self, ptr: u32, v: u8) -> WasiResult<()> {
        self.write_bytes(ptr, &[v])
    }

    pub fn write_u32(&mut self, ptr: u32, v: u32) -> WasiResult<()> {
        self.write_bytes(ptr, &v.to_le_bytes())
    }

    pub fn write_u64(&mut self, ptr: u32, v: u64) -> WasiResult<()> {
        self.write_bytes(ptr, &v.to_le_bytes())
    }

    /// A UTF-8 string of `len` bytes at `ptr` (`EILSEQ` if it is not UTF-8).
    pub fn str(&self, ptr: u32, len: u32) -> WasiResult<&str> {
        std::str::from_utf8(self.slice(ptr, len)?).map_err(|_| Errno::ILSEQ)
    }

    /// A path of `len` bytes at `ptr`: `ENAMETOOLONG` past [`MAX_PATH`] (before
    /// anything is read or copied: the host makes C strings of paths), else as `str`.
    pub fn path(&self, ptr: u32, len: u32) -> WasiResult<&str> {
        if len > MAX_PATH {
            return Err(Errno::NAMETOOLONG);
        }
        self.str(ptr, len)
    }

    /// Validates the iovec array of `count` entries at `ptr`, without allocating:
    /// `EINVAL` for more than [`MAX_IOVECS`] entries (as `readv`/`writev` refuse more
    /// than `IOV_MAX`), `EFAULT` if the array or a buffer is out of bounds, `EINVAL` if
    /// the total length does not fit in a `u32` (as POSIX `readv`/`writev` refuse a
    /// total above `SSIZE_MAX`).
    pub fn iovecs(&self, ptr: u32, count: u32) -> WasiResult<Iovecs> {
        if count > MAX_IOVECS {
            return Err(Errno::INVAL);
        }
        self.check(ptr, u64::from(count) * u64::from(size::IOVEC))?;
        let list = Iovecs { ptr, count };
        let mut total: u64 = 0;
        for i in 0..count {
            let iov = self.iovec(&list, i)?;
            self.check(iov.buf, u64::from(iov.len))?;
            total += u64::from(iov.len);
            if total > u64::from(u32::MAX) {
                return Err(Errno::INVAL);
            }
        }
        Ok(list)
    }

    /// Entry `i` of a validated iovec array. Re-read from memory each time (a read into
    /// an earlier buffer may have overwritten it), so callers still check its bounds.
    pub fn iovec(&self, list: &Iovecs, i: u32) -> WasiResult<Iovec> {
        if i >= list.count {
            return Err(Errno::FAULT);
        }
        // `i * 8 < count * 8`, which was checked to fit below the memory's end.
        let at = list.ptr + i * size::IOVEC;
        Ok(Iovec {
            buf: self.read_u32(at)?,
            len: self.read_u32(at + 4)?,
        })
    }
}

impl Iovecs {
    /// Number of entries.
    pub fn count(&self) -> u32 {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        let mut buf = vec![0u8; 64];
        let mut m = GuestMemory::new(&mut buf);
        assert!(m.slice(60, 4).is_ok());
        assert_eq!(m.slice(61, 4).err(), Some(Errno::FAULT));
        assert_eq!(m.slice(u32::MAX, u32::MAX).err(), Some(Errno::FAULT));
        assert_eq!(m.write_u64(57, 1).err(), Some(Errno::FAULT));
        m.write_u64(56, 0x0102).unwrap();
        assert_eq!(m.read_u64(56).unwrap(), 0x0102);
        assert_eq!(m.iovecs(0, MAX_IOVECS).err(), Some(Errno::FAULT));
        assert_eq!(m.iovecs(0, MAX_IOVECS + 1).err(), Some(Errno::INVAL));
    }

    #[test]
    fn iovec_total_overflow() {
        let mut buf = vec![0u8; 64];
        let mut m = GuestMemory::new(&mut buf);
        // Two iovecs, each the whole 64-byte memory: fine.
        for i in 0..2u32 {
            m.write_u32(i * 8, 0).unwrap();
            m.write_u32(i * 8 + 4, 64).unwrap();
        }
        assert_eq!(m.iovecs(0, 2).unwrap().count(), 2);
        // A buffer past the end.
        m.write_u32(12, 65).unwrap();
        assert_eq!(m.iovecs(0, 2).err(), Some(Errno::FAULT));
    }
}

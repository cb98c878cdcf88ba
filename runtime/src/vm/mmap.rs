//! Anonymous virtual-memory reservations with page-granular protection.

use std::io;
use std::ptr::NonNull;

/// The host page size.
pub fn page_size() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096)
}

/// An owned reservation of `len` bytes, initially inaccessible.
#[derive(Debug)]
pub struct Mmap {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: `Mmap` owns its mapping exclusively; the raw pointer is just an address, and
// access to the memory behind it is synchronized by the owners of `Mmap` (`&mut` for
// changes of protection).
unsafe impl Send for Mmap {}
// SAFETY: shared references only read `ptr`/`len`.
unsafe impl Sync for Mmap {}

impl Mmap {
    /// Reserves `len` bytes (rounded up to pages) of inaccessible address space.
    pub fn reserve(len: usize) -> io::Result<Mmap> {
        let len = len.next_multiple_of(page_size()).max(page_size());
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing
        // cannot alias any existing Rust object.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr =
            NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Mmap { ptr, len })
    }

    /// Maps `len` bytes (rounded up to pages) of `file` from `offset` (a multiple of the
    /// page size), private and read-only. Writes after [`Mmap::make_accessible`] stay
    /// in this process (copy-on-write); the file is never changed.
    pub fn map_file(file: &std::fs::File, offset: u64, len: usize) -> io::Result<Mmap> {
        use std::os::fd::AsRawFd;
        if !offset.is_multiple_of(page_size() as u64) || len == 0 {
            return Err(io::Error::other("file mapping not page-aligned or empty"));
        }
        let len = len.next_multiple_of(page_size());
        let offset = libc::off_t::try_from(offset).map_err(io::Error::other)?;
        // SAFETY: a private mapping at an address of the kernel's choosing cannot alias
        // any existing Rust object; the descriptor is valid for the call (borrowed).
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                offset,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr =
            NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Mmap { ptr, len })
    }

    /// Start of the reservation.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Length of the reservation.
    pub fn len(&self) -> usize {
        self.len
    }

    fn protect(&mut self, start: usize, len: usize, prot: libc::c_int) -> io::Result<()> {
        assert!(
            start.is_multiple_of(page_size())
                && start.checked_add(len).is_some_and(|e| e <= self.len)
        );
        if len == 0 {
            return Ok(());
        }
        // SAFETY: the range lies within our own mapping (asserted above) and `&mut self`
        // guarantees no Rust reference into the affected pages outlives this change
        // except through the owner, which changes protection only to grant more access
        // or on pages it no longer hands out.
        let r = unsafe { libc::mprotect(self.ptr.as_ptr().add(start).cast(), len, prot) };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Makes `[start, start + len)` readable and writable.
    pub fn make_accessible(&mut self, start: usize, len: usize) -> io::Result<()> {
        self.protect(start, len, libc::PROT_READ | libc::PROT_WRITE)
    }

    /// Makes `[start, start + len)` readable and executable (no longer writable).
    pub fn make_executable(&mut self, start: usize, len: usize) -> io::Result<()> {
        self.protect(start, len, libc::PROT_READ | libc::PROT_EXEC)
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: we own the whole mapping and nothing refers into it any more.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

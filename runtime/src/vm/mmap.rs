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
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
        map(std::ptr::null_mut(), len, libc::PROT_NONE, flags, None)
    }

    /// [`Mmap::reserve`] for generated code: placed near the host's own code when that
    /// range is free (see [`near_host_code`]), anywhere otherwise.
    pub fn reserve_code(len: usize) -> io::Result<Mmap> {
        let len = len.next_multiple_of(page_size()).max(page_size());
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
        near_host_code(len, |hint, fixed| {
            map(hint, len, libc::PROT_NONE, flags | fixed, None)
        })
    }

    /// Maps `len` bytes (rounded up to pages) of `file` from `offset` (a multiple of the
    /// page size), private and read-only. Writes after [`Mmap::make_accessible`] stay
    /// in this process (copy-on-write); the file is never changed.
    pub fn map_file(file: &std::fs::File, offset: u64, len: usize) -> io::Result<Mmap> {
        let (len, offset) = file_range(offset, len)?;
        map(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            Some((file, offset)),
        )
    }

    /// [`Mmap::map_file`] for code that will run: placed like [`Mmap::reserve_code`].
    pub fn map_file_code(file: &std::fs::File, offset: u64, len: usize) -> io::Result<Mmap> {
        let (len, offset) = file_range(offset, len)?;
        near_host_code(len, |hint, fixed| {
            map(
                hint,
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE | fixed,
                Some((file, offset)),
            )
        })
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

/// A file range as `mmap` takes it: the length rounded up to pages, the offset as
/// `off_t`. Refuses an unaligned offset or an empty range.
fn file_range(offset: u64, len: usize) -> io::Result<(usize, libc::off_t)> {
    if !offset.is_multiple_of(page_size() as u64) || len == 0 {
        return Err(io::Error::other("file mapping not page-aligned or empty"));
    }
    let offset = libc::off_t::try_from(offset).map_err(io::Error::other)?;
    Ok((len.next_multiple_of(page_size()), offset))
}

/// One `mmap` of `len` (page-rounded) bytes at `hint`, anonymous or of `file` from an
/// offset, as an owned [`Mmap`].
fn map(
    hint: *mut libc::c_void,
    len: usize,
    prot: libc::c_int,
    flags: libc::c_int,
    file: Option<(&std::fs::File, libc::off_t)>,
) -> io::Result<Mmap> {
    use std::os::fd::AsRawFd;
    let (fd, offset) = file.map_or((-1, 0), |(f, o)| (f.as_raw_fd(), o));
    // SAFETY: `flags` never holds `MAP_FIXED` (only `MAP_FIXED_NOREPLACE`, which fails
    // rather than replace a mapping), so the new mapping cannot alias any existing Rust
    // object; a descriptor is borrowed for the call.
    let ptr = unsafe { libc::mmap(hint, len, prot, flags, fd, offset) };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let ptr =
        NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned null"))?;
    Ok(Mmap { ptr, len })
}

/// Where generated code goes: a random page between 4 and 36 GiB above the host's own
/// code, when such a range is free; else wherever the kernel puts it.
///
/// Generated code calls host functions, builtins and libcalls indirectly, and the host
/// calls into it. On the AMD EPYC machines Kiln is measured on, an indirect call
/// between addresses terabytes apart (the binary's text and the kernel's default
/// `mmap` area) costs about 0.8 ns more than one between addresses a few GiB apart
/// (BENCHMARKS.md, "Typed host calls without a trampoline"). Starting 4 GiB above leaves a `brk` heap its room;
/// the random page keeps the code's address unpredictable (2^23 places).
fn near_host_code(
    len: usize,
    mut try_at: impl FnMut(*mut libc::c_void, libc::c_int) -> io::Result<Mmap>,
) -> io::Result<Mmap> {
    use std::hash::{BuildHasher, Hasher};
    const LOW: usize = 4 << 30;
    const WINDOW: usize = 32 << 30;
    // Any function of this binary marks where the host's code is.
    let text = page_size as *const () as usize;
    let random = std::collections::hash_map::RandomState::new();
    for attempt in 0..4u64 {
        let mut h = random.build_hasher();
        h.write_u64(attempt);
        let page = (h.finish() as usize % (WINDOW / page_size())) * page_size();
        let Some(at) = (text & !(page_size() - 1))
            .checked_add(LOW + page)
            .filter(|a| a.checked_add(len).is_some_and(|end| end < 1 << 47))
        else {
            break;
        };
        match try_at(at as *mut libc::c_void, libc::MAP_FIXED_NOREPLACE) {
            // A kernel older than 4.17 ignores the flag and may put it elsewhere;
            // that is still a mapping we own.
            Ok(m) => return Ok(m),
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => continue,
            Err(e) => return Err(e),
        }
    }
    try_at(std::ptr::null_mut(), 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Code lands in the window above the host's text, at different places each time,
    /// and a data reservation does not.
    #[test]
    fn code_is_placed_near_the_host_code() {
        let text = page_size as *const () as usize;
        let near = |m: &Mmap| {
            let at = m.as_ptr() as usize;
            at >= text + (4 << 30) && at + m.len() <= text + (36 << 30) + m.len()
        };
        let maps: Vec<Mmap> = (0..8)
            .map(|_| Mmap::reserve_code(1 << 16).expect("reserve code"))
            .collect();
        assert!(maps.iter().all(near), "{:?} from text {text:#x}", maps);
        let mut starts: Vec<usize> = maps.iter().map(|m| m.as_ptr() as usize).collect();
        starts.sort_unstable();
        starts.dedup();
        assert!(
            starts.len() > 1,
            "one place for every reservation: {starts:x?}"
        );
        let data = Mmap::reserve(1 << 16).expect("reserve data");
        assert!(!near(&data), "data at {:p}", data.as_ptr());
    }
}

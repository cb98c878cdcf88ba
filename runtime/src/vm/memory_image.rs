//! A linear memory's initial contents, kept in a memfd and mapped copy-on-write into
//! each new instance's memory, so instantiation neither copies data segments nor touches
//! their pages: a page is read from the image when first accessed and copied when first
//! written.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::FileExt;

use super::mmap::page_size;

/// Initial contents of a linear memory from offset 0, in whole host pages.
#[derive(Debug)]
pub struct MemoryImage {
    file: File,
    /// Where the image starts in `file` (a multiple of the page size).
    offset: u64,
    len: usize,
    /// Where it goes in the linear memory (a multiple of the page size): the pages
    /// before it are zero.
    at: usize,
}

impl MemoryImage {
    /// An image `len` bytes long (rounded up to pages) holding `segments` (offset,
    /// bytes) written in order, later ones over earlier ones, zeros elsewhere (a file
    /// with holes: zero pages cost nothing).
    pub fn new<'a>(
        len: usize,
        segments: impl IntoIterator<Item = (usize, &'a [u8])>,
    ) -> io::Result<Self> {
        let len = len.next_multiple_of(page_size());
        // SAFETY: `memfd_create` takes a NUL-terminated name and flags; it has no other
        // preconditions.
        let fd = unsafe { libc::memfd_create(c"kiln-memory-image".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns; the `File` takes
        // ownership and closes it.
        let file = unsafe { File::from_raw_fd(fd) };
        file.set_len(len as u64)?;
        for (offset, bytes) in segments {
            if offset + bytes.len() > len {
                return Err(io::Error::other("data segment beyond the memory image"));
            }
            file.write_all_at(bytes, offset as u64)?;
        }
        Ok(MemoryImage {
            file,
            offset: 0,
            len,
            at: 0,
        })
    }

    /// An image already laid out in `file`: `len` bytes (a multiple of the page size)
    /// from `offset` (a multiple of the page size), e.g. in a compiled artifact. The
    /// file must not change while the image lives (see `ArtifactFile::mappable`).
    pub fn from_file(file: File, offset: u64, len: usize) -> io::Result<Self> {
        let page = page_size();
        if !offset.is_multiple_of(page as u64) || !len.is_multiple_of(page) || len == 0 {
            return Err(io::Error::other("memory image not page-aligned"));
        }
        let end = offset
            .checked_add(len as u64)
            .ok_or_else(|| io::Error::other("memory image beyond the file"))?;
        if end > file.metadata()?.len() {
            return Err(io::Error::other("memory image beyond the file"));
        }
        Ok(MemoryImage {
            file,
            offset,
            len,
            at: 0,
        })
    }

    /// The image placed `at` bytes into the memory (a multiple of the page size), the
    /// pages before it zero.
    pub fn placed_at(mut self, at: usize) -> io::Result<Self> {
        if !at.is_multiple_of(page_size()) {
            return Err(io::Error::other("memory image not page-aligned"));
        }
        self.at = at;
        Ok(self)
    }

    /// Where the image starts in the memory.
    pub fn at(&self) -> usize {
        self.at
    }

    /// The image's bytes, read back (for serializing it).
    pub fn contents(&self) -> io::Result<Vec<u8>> {
        let mut buf = vec![0; self.len];
        self.file.read_exact_at(&mut buf, self.offset)?;
        Ok(buf)
    }

    /// Length in bytes (a multiple of the page size).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Maps the image over `[base + at, base + at + len)` (private, read-write).
    ///
    /// # Safety
    /// `base` must be page-aligned, `[base, base + self.at() + self.len())` must lie
    /// inside a mapping the caller owns, and nothing may hold references into it: its
    /// old contents are replaced.
    pub(super) unsafe fn map_at(&self, base: *mut u8) -> io::Result<()> {
        // SAFETY: by the caller's contract the range is ours to replace (`at` is within
        // it); MAP_FIXED replaces exactly those pages, and MAP_PRIVATE keeps writes out
        // of the image.
        let ptr = unsafe {
            libc::mmap(
                base.add(self.at).cast(),
                self.len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_FIXED,
                self.file.as_raw_fd(),
                self.offset as libc::off_t,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

//! Guard-page linear memory: one reservation per memory; growing only changes protection.

use super::memory_image::MemoryImage;
use super::mmap::Mmap;
use kiln_frontend::WASM_PAGE_SIZE;
use std::io;

/// Largest number of pages of a 32-bit memory.
pub const MAX_PAGES: u64 = 1 << 16;

/// The most pages a memory may ever have here: 4 GiB for a 32-bit memory; for a 64-bit
/// one, whatever the reservation holds (at least 4 GiB), since memories never move.
pub fn page_cap(memory64: bool, reservation: u64) -> u64 {
    if memory64 {
        reservation.max(MAX_PAGES * WASM_PAGE_SIZE) / WASM_PAGE_SIZE
    } else {
        MAX_PAGES
    }
}

/// A linear memory.
#[derive(Debug)]
pub struct LinearMemory {
    mmap: Mmap,
    /// Accessible bytes (a multiple of the wasm page size).
    len: usize,
    /// Pages the memory may never exceed (its type's maximum, capped by [`page_cap`]).
    max_pages: u64,
}

impl LinearMemory {
    /// Reserves `reservation + guard` bytes and makes the first `min_pages` accessible.
    pub fn new(
        min_pages: u64,
        max_pages: Option<u64>,
        memory64: bool,
        reservation: u64,
        guard: u64,
    ) -> io::Result<Self> {
        let cap = page_cap(memory64, reservation);
        if min_pages > cap {
            return Err(io::Error::other("memory minimum exceeds the reservation"));
        }
        let max_pages = max_pages.unwrap_or(cap).min(cap);
        let reservation = reservation.max(max_pages * WASM_PAGE_SIZE);
        let total = usize::try_from(reservation + guard)
            .map_err(|_| io::Error::other("reservation does not fit the address space"))?;
        let mut mmap = Mmap::reserve(total)?;
        let len = usize::try_from(min_pages * WASM_PAGE_SIZE)
            .map_err(|_| io::Error::other("memory too large"))?;
        mmap.make_accessible(0, len)?;
        Ok(LinearMemory {
            mmap,
            len,
            max_pages,
        })
    }

    /// Base address (stable for the memory's lifetime).
    pub fn base(&self) -> *mut u8 {
        self.mmap.as_ptr()
    }

    /// Accessible length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The offset of host address `addr` into this memory's reservation (accessible
    /// part, rest of the reservation, and guard), if it falls in it.
    pub fn offset_of(&self, addr: usize) -> Option<u64> {
        let base = self.mmap.as_ptr() as usize;
        (addr >= base && addr - base < self.mmap.len()).then(|| (addr - base) as u64)
    }

    /// Size in pages.
    pub fn pages(&self) -> u64 {
        self.len as u64 / WASM_PAGE_SIZE
    }

    /// Grows by `delta` pages, returning the old size in pages, or `None` if that
    /// would pass the maximum or the OS refuses.
    pub fn grow(&mut self, delta: u64) -> Option<u64> {
        let old = self.pages();
        let new = old.checked_add(delta)?;
        if new > self.max_pages {
            return None;
        }
        let new_len = usize::try_from(new * WASM_PAGE_SIZE).ok()?;
        self.mmap
            .make_accessible(self.len, new_len - self.len)
            .ok()?;
        self.len = new_len;
        Some(old)
    }

    /// Replaces `image.len()` bytes from `image.at()` with a copy-on-write mapping of
    /// `image`. Meant for a memory just created, before anything reads it.
    pub fn map_image(&mut self, image: &MemoryImage) -> io::Result<()> {
        if image
            .at()
            .checked_add(image.len())
            .is_none_or(|end| end > self.len)
        {
            return Err(io::Error::other("memory image larger than the memory"));
        }
        // SAFETY: `base` is page-aligned (the reservation starts on a page; `at` and
        // the image's length are whole pages), `[base, base + at + len)` lies inside
        // our accessible region (checked above), and `&mut self` means no reference
        // into it is alive.
        unsafe { image.map_at(self.base()) }
    }

    /// The accessible bytes.
    pub fn data(&self) -> &[u8] {
        // SAFETY: `[base, base + len)` is mapped read-write for as long as `self` lives
        // and only shrinks never; `&self` prevents concurrent growth through `self`.
        unsafe { std::slice::from_raw_parts(self.base(), self.len) }
    }

    /// The accessible bytes, mutably.
    pub fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `data`, and `&mut self` makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.base(), self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grow_changes_protection_not_address() {
        let mut m = LinearMemory::new(1, Some(3), false, 1 << 32, 1 << 20).expect("reserve");
        let base = m.base();
        m.data_mut()[65535] = 7;
        assert_eq!(m.grow(2), Some(1));
        assert_eq!(m.base(), base);
        assert_eq!(m.len(), 3 * 65536);
        assert_eq!(m.data()[65535], 7);
        m.data_mut()[3 * 65536 - 1] = 1;
        assert_eq!(m.grow(1), None);
        assert_eq!(m.grow(0), Some(3));
    }

    #[test]
    fn image_is_mapped_copy_on_write() {
        let image = MemoryImage::new(
            10_000,
            [(0, &b"abc"[..]), (8192, &b"xyz"[..]), (1, &b"B"[..])],
        )
        .expect("image");
        assert_eq!(image.len() % super::super::mmap::page_size(), 0);
        let mut a = LinearMemory::new(1, None, false, 1 << 32, 1 << 20).expect("reserve");
        let mut b = LinearMemory::new(2, None, false, 1 << 32, 1 << 20).expect("reserve");
        a.map_image(&image).expect("map");
        b.map_image(&image).expect("map");
        assert_eq!(&a.data()[..4], b"aBc\0");
        assert_eq!(&a.data()[8192..8195], b"xyz");
        a.data_mut()[0] = b'Z';
        assert_eq!(b.data()[0], b'a', "writes stay private");
        assert_eq!(a.data()[65535], 0);
        assert_eq!(b.grow(1), Some(2));
        assert_eq!(b.data()[3 * 65536 - 1], 0);
        let mut tiny = LinearMemory::new(0, None, false, 1 << 32, 1 << 20).expect("reserve");
        assert!(tiny.map_image(&image).is_err());
    }
}

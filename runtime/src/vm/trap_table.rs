//! The trap sites of a text: which instructions trap, and why.
//!
//! Stored as an artifact stores them: `len` offsets from the start of the text (`u32`,
//! little-endian, ascending; a text is smaller than 4 GiB), then one byte of kind for
//! each (its index in `TrapKind::ALL`). Code loaded from an artifact file reads the
//! table in place from the file's pages, so nothing is decoded, copied or zeroed (CPython
//! has 600,000 sites); compiled code owns its table.

use super::mmap::{page_size, Mmap};
use kiln_jit::TrapKind;
use std::io;

/// The trap sites of a text (see the module docs).
pub struct TrapTable {
    len: usize,
    sites: Sites,
}

enum Sites {
    Owned(Vec<u8>),
    /// The file's pages from the page boundary at or below the table; the table starts
    /// `start` bytes in.
    Mapped {
        map: Mmap,
        start: usize,
    },
}

impl TrapTable {
    /// The table of `sites` (offset, kind), in any order.
    pub fn new(mut sites: Vec<(u32, TrapKind)>) -> TrapTable {
        sites.sort_by_key(|s| s.0);
        let mut bytes = Vec::with_capacity(sites.len() * 5);
        for &(offset, _) in &sites {
            bytes.extend_from_slice(&offset.to_le_bytes());
        }
        bytes.extend(sites.iter().map(|&(_, kind)| kind_index(kind)));
        TrapTable {
            len: sites.len(),
            sites: Sites::Owned(bytes),
        }
    }

    /// The table of `len` sites encoded in `bytes` (copied).
    pub fn from_bytes(len: usize, bytes: &[u8]) -> io::Result<TrapTable> {
        if len.checked_mul(5) != Some(bytes.len()) {
            return Err(bad("trap table length"));
        }
        Ok(TrapTable {
            len,
            sites: Sites::Owned(bytes.to_vec()),
        })
    }

    /// The table of `len` sites that `file` holds at `offset`, mapped (read-only,
    /// private) rather than read.
    pub fn map(file: &std::fs::File, offset: u64, len: usize) -> io::Result<TrapTable> {
        let bytes = len.checked_mul(5).ok_or_else(|| bad("trap table length"))?;
        if bytes == 0 {
            return Ok(TrapTable::default());
        }
        let page = page_size() as u64;
        let from = offset - offset % page;
        let start = usize::try_from(offset - from).map_err(io::Error::other)?;
        let map = Mmap::map_file(file, from, start + bytes)?;
        Ok(TrapTable {
            len,
            sites: Sites::Mapped { map, start },
        })
    }

    /// The encoded table: what an artifact stores.
    pub fn bytes(&self) -> &[u8] {
        match &self.sites {
            Sites::Owned(bytes) => bytes,
            // SAFETY: `map_file` mapped at least `start + 5 * len` readable bytes (the
            // length is rounded up to pages), `map` lives as long as `self` and is never
            // made writable, and the mapping is private: no Rust code writes it. The
            // file is one only this user can write (`ArtifactFile::mappable`); like the
            // text mapped from it, it must not be truncated while the code lives.
            Sites::Mapped { map, start } => unsafe {
                std::slice::from_raw_parts(map.as_ptr().add(*start), self.len * 5)
            },
        }
    }

    /// How many sites.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn offsets(&self) -> &[u8] {
        &self.bytes()[..self.len * 4]
    }

    fn kinds(&self) -> &[u8] {
        &self.bytes()[self.len * 4..]
    }

    fn offset(&self, i: usize) -> u32 {
        let b = &self.offsets()[i * 4..i * 4 + 4];
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }

    /// The kind of the site at `offset`, if there is one.
    pub fn lookup(&self, offset: u32) -> Option<TrapKind> {
        // The first site at or past `offset`, by binary search over the encoded table.
        let (mut lo, mut hi) = (0, self.len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.offset(mid) < offset {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if lo < self.len && self.offset(lo) == offset {
            TrapKind::ALL
                .get(usize::from(*self.kinds().get(lo)?))
                .copied()
        } else {
            None
        }
    }

    /// Whether every site lies in a text of `text_len` bytes, in ascending order, with
    /// a known kind. Without early exits, so that both loops vectorize.
    pub fn is_valid_for(&self, text_len: usize) -> bool {
        let offsets = self.offsets();
        let mut descending = false;
        let mut last = 0u32;
        for c in offsets.chunks_exact(4) {
            let o = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            descending |= o < last;
            last = o;
        }
        let kinds = u8::try_from(TrapKind::ALL.len()).unwrap_or(u8::MAX);
        let max_kind = self.kinds().iter().fold(0u8, |m, &k| m.max(k));
        !descending && (self.is_empty() || (max_kind < kinds && (last as usize) < text_len))
    }
}

/// The index of `kind` in the table's encoding.
fn kind_index(kind: TrapKind) -> u8 {
    let i = TrapKind::ALL.iter().position(|&k| k == kind);
    // `TrapKind::ALL` lists every kind, and there are fewer than 256.
    i.and_then(|i| u8::try_from(i).ok()).unwrap_or(u8::MAX)
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("code layout: {what}"))
}

impl Default for TrapTable {
    fn default() -> Self {
        TrapTable {
            len: 0,
            sites: Sites::Owned(Vec::new()),
        }
    }
}

/// A copy that owns its bytes.
impl Clone for TrapTable {
    fn clone(&self) -> Self {
        TrapTable {
            len: self.len,
            sites: Sites::Owned(self.bytes().to_vec()),
        }
    }
}

impl PartialEq for TrapTable {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.bytes() == other.bytes()
    }
}

impl Eq for TrapTable {}

impl std::fmt::Debug for TrapTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrapTable")
            .field("sites", &self.len)
            .field("mapped", &matches!(self.sites, Sites::Mapped { .. }))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_are_found_and_checked() {
        let t = TrapTable::new(vec![
            (40, TrapKind::ALL[1]),
            (8, TrapKind::ALL[0]),
            (16, TrapKind::ALL[2]),
        ]);
        assert_eq!(t.len(), 3);
        assert_eq!(t.lookup(8), Some(TrapKind::ALL[0]));
        assert_eq!(t.lookup(16), Some(TrapKind::ALL[2]));
        assert_eq!(t.lookup(40), Some(TrapKind::ALL[1]));
        for miss in [0, 9, 39, 41, u32::MAX] {
            assert_eq!(t.lookup(miss), None);
        }
        assert!(t.is_valid_for(41));
        assert!(!t.is_valid_for(40), "a site past the text");
        let copy = TrapTable::from_bytes(3, t.bytes()).expect("same length");
        assert_eq!(copy, t);
        // Out of order, or of no kind.
        let mut b = t.bytes().to_vec();
        b.swap(0, 4);
        assert!(!TrapTable::from_bytes(3, &b)
            .expect("length")
            .is_valid_for(100));
        let mut b = t.bytes().to_vec();
        b[12] = u8::MAX;
        assert!(!TrapTable::from_bytes(3, &b)
            .expect("length")
            .is_valid_for(100));
        assert!(TrapTable::from_bytes(3, &b[..14]).is_err());
        assert!(TrapTable::default().is_valid_for(0));
    }

    #[test]
    fn a_mapped_table_reads_like_an_owned_one() {
        use std::io::Write;
        let t = TrapTable::new(
            (0..5000)
                .map(|i| (i * 3, TrapKind::ALL[(i % 3) as usize]))
                .collect(),
        );
        let mut file = tempfile::tempfile().expect("temporary file");
        // Put the table at an offset that is not a page boundary.
        file.write_all(&[7u8; 5000]).expect("write");
        file.write_all(t.bytes()).expect("write");
        let mapped = TrapTable::map(&file, 5000, 5000).expect("maps");
        assert_eq!(mapped, t);
        assert_eq!(mapped.lookup(2997), Some(TrapKind::ALL[0]));
        assert_eq!(mapped.lookup(2998), None);
        assert!(mapped.is_valid_for(15_000));
        assert_eq!(mapped.clone(), t);
    }
}

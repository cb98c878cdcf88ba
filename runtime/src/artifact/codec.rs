//! The byte encoding of an artifact's metadata: little-endian integers, LEB-free and
//! length-prefixed, read back by a reader that refuses anything short, long or out of
//! range with the offset where it stopped (never a panic, never an allocation larger
//! than the input).

/// Appends values to a buffer.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub fn bool(&mut self, v: bool) {
        self.u8(v as u8);
    }

    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub fn u128(&mut self, v: u128) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A `usize` as a `u64`.
    pub fn len(&mut self, v: usize) {
        self.u64(v as u64);
    }

    pub fn str(&mut self, s: &str) {
        self.len(s.len());
        self.buf.extend_from_slice(s.as_bytes());
    }

    pub fn opt_u64(&mut self, v: Option<u64>) {
        self.bool(v.is_some());
        self.u64(v.unwrap_or(0));
    }

    /// A count, then each item.
    pub fn seq<T>(&mut self, items: &[T], mut f: impl FnMut(&mut Self, &T)) {
        self.len(items.len());
        for item in items {
            f(self, item);
        }
    }
}

/// Where decoding stopped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Malformed {
    pub offset: usize,
    pub what: &'static str,
}

pub(crate) type Decoded<T> = Result<T, Malformed>;

/// Reads values back.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// How many bytes have been read.
    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn fail<T>(&self, what: &'static str) -> Decoded<T> {
        Err(Malformed {
            offset: self.pos,
            what,
        })
    }

    pub fn bytes(&mut self, n: usize, what: &'static str) -> Decoded<&'a [u8]> {
        match self.buf.get(self.pos..).and_then(|rest| rest.get(..n)) {
            Some(b) => {
                self.pos += n;
                Ok(b)
            }
            None => self.fail(what),
        }
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Decoded<[u8; N]> {
        let b = self.bytes(N, what)?;
        let mut a = [0; N];
        a.copy_from_slice(b);
        Ok(a)
    }

    pub fn u8(&mut self, what: &'static str) -> Decoded<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    pub fn bool(&mut self, what: &'static str) -> Decoded<bool> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => self.fail(what),
        }
    }

    pub fn u32(&mut self, what: &'static str) -> Decoded<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    pub fn u64(&mut self, what: &'static str) -> Decoded<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    pub fn u128(&mut self, what: &'static str) -> Decoded<u128> {
        Ok(u128::from_le_bytes(self.array(what)?))
    }

    /// A `usize` (written by [`Writer::len`]).
    pub fn usize(&mut self, what: &'static str) -> Decoded<usize> {
        let v = self.u64(what)?;
        usize::try_from(v).or_else(|_| self.fail(what))
    }

    /// A count of items each at least `min_size` bytes long: refused if the rest of
    /// the input could not hold them.
    pub fn count(&mut self, min_size: usize, what: &'static str) -> Decoded<usize> {
        let n = self.usize(what)?;
        if n.saturating_mul(min_size.max(1)) > self.buf.len() - self.pos {
            return self.fail(what);
        }
        Ok(n)
    }

    pub fn str(&mut self, what: &'static str) -> Decoded<&'a str> {
        let n = self.usize(what)?;
        let b = self.bytes(n, what)?;
        std::str::from_utf8(b).or_else(|_| self.fail(what))
    }

    pub fn string(&mut self, what: &'static str) -> Decoded<String> {
        self.str(what).map(str::to_string)
    }

    pub fn opt_u64(&mut self, what: &'static str) -> Decoded<Option<u64>> {
        let some = self.bool(what)?;
        let v = self.u64(what)?;
        Ok(some.then_some(v))
    }

    /// A sequence written by [`Writer::seq`], each item at least `min_size` bytes.
    pub fn seq<T>(
        &mut self,
        min_size: usize,
        what: &'static str,
        mut f: impl FnMut(&mut Self) -> Decoded<T>,
    ) -> Decoded<Vec<T>> {
        let n = self.count(min_size, what)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(f(self)?);
        }
        Ok(out)
    }

    /// Fails unless everything was read.
    pub fn finish(&self, what: &'static str) -> Decoded<()> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            self.fail(what)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_short_input_is_refused() {
        let mut w = Writer::default();
        w.u8(7);
        w.bool(true);
        w.u32(0xdead_beef);
        w.u64(u64::MAX);
        w.u128(1 << 100);
        w.str("héllo");
        w.opt_u64(Some(3));
        w.opt_u64(None);
        w.seq(&[1u32, 2, 3], |w, v| w.u32(*v));
        let bytes = w.buf;
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u8("a"), Ok(7));
        assert_eq!(r.bool("b"), Ok(true));
        assert_eq!(r.u32("c"), Ok(0xdead_beef));
        assert_eq!(r.u64("d"), Ok(u64::MAX));
        assert_eq!(r.u128("e"), Ok(1 << 100));
        assert_eq!(r.str("f"), Ok("héllo"));
        assert_eq!(r.opt_u64("g"), Ok(Some(3)));
        assert_eq!(r.opt_u64("h"), Ok(None));
        assert_eq!(r.seq(4, "i", |r| r.u32("i")), Ok(vec![1, 2, 3]));
        assert_eq!(r.finish("end"), Ok(()));
        // Every truncation fails somewhere, without panicking.
        for cut in 0..bytes.len() {
            let mut r = Reader::new(&bytes[..cut]);
            let all = (|| -> Decoded<()> {
                r.u8("a")?;
                r.bool("b")?;
                r.u32("c")?;
                r.u64("d")?;
                r.u128("e")?;
                r.str("f")?;
                r.opt_u64("g")?;
                r.opt_u64("h")?;
                r.seq(4, "i", |r| r.u32("i"))?;
                r.finish("end")
            })();
            assert!(all.is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn a_huge_count_is_refused_before_allocating() {
        let mut w = Writer::default();
        w.u64(u64::MAX / 2);
        let mut r = Reader::new(&w.buf);
        assert!(r.seq(1, "items", |r| r.u8("item")).is_err());
    }
}

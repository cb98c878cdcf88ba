//! Per-function arrays that generated code reads and writes through a pointer in the
//! vmctx (call-site feedback, branch counts): allocated by the runtime on first use,
//! never moved or freed while the instance lives, and touched only by the thread
//! running the instance's store (generated code while wasm runs, the runtime while
//! the host has control).

use std::cell::UnsafeCell;
use std::sync::Mutex;

/// One function's array: cells generated code writes through a pointer.
type Cells<T> = Box<[UnsafeCell<T>]>;

/// One array per defined function of an instance, each allocated on first use.
#[derive(Debug)]
pub struct FunctionArrays<T> {
    /// By defined function; each array's address is in the vmctx and never moves.
    arrays: Mutex<Vec<Option<Cells<T>>>>,
}

impl<T> Default for FunctionArrays<T> {
    fn default() -> Self {
        FunctionArrays {
            arrays: Mutex::default(),
        }
    }
}

// SAFETY: the cells are only accessed by the thread that holds the instance's store
// (see the module docs); the store moves between threads as a whole.
unsafe impl<T: Send> Send for FunctionArrays<T> {}
// SAFETY: as above; the `Mutex` orders the allocation of arrays.
unsafe impl<T: Send> Sync for FunctionArrays<T> {}

impl<T: Copy + Default> FunctionArrays<T> {
    /// The address of function `f`'s array, allocated now (`len` default entries, at
    /// least one, so that it is never null) if it has none; and whether this call
    /// allocated it.
    pub fn array(&self, f: usize, len: usize) -> (usize, bool) {
        let mut arrays = self.arrays.lock().unwrap_or_else(|e| e.into_inner());
        if arrays.len() <= f {
            arrays.resize_with(f + 1, || None);
        }
        let mut allocated = false;
        let array = arrays[f].get_or_insert_with(|| {
            allocated = true;
            (0..len.max(1)).map(|_| UnsafeCell::default()).collect()
        });
        (array.as_ptr() as usize, allocated)
    }

    /// Runs `update` on entry `i` of function `f`'s array, if both exist.
    pub fn update<R>(&self, f: usize, i: usize, update: impl FnOnce(&mut T) -> R) -> Option<R> {
        let arrays = self.arrays.lock().unwrap_or_else(|e| e.into_inner());
        let cell = arrays.get(f)?.as_ref()?.get(i)?;
        // SAFETY: only this store's thread touches the cells, and generated code is
        // paused in the host (in a builtin, or not running): this is the only access.
        Some(update(unsafe { &mut *cell.get() }))
    }

    /// Copies of the first `len` entries of function `f`'s array, if it has one.
    pub fn read(&self, f: usize, len: usize) -> Option<Vec<T>> {
        let arrays = self.arrays.lock().unwrap_or_else(|e| e.into_inner());
        let array = arrays.get(f)?.as_ref()?;
        Some(
            array
                .iter()
                .take(len)
                // SAFETY: only this store's thread touches the cells, and it is in the
                // host now: no generated code writes them meanwhile.
                .map(|cell| unsafe { *cell.get() })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_once_never_empty_and_reads_back() {
        let a = FunctionArrays::<u32>::default();
        assert_eq!(a.read(3, 2), None);
        assert_eq!(a.update(3, 0, |x| *x += 1), None, "no array, no update");
        let (addr, new) = a.array(3, 2);
        assert!(new && addr != 0);
        assert_eq!(a.array(3, 2), (addr, false), "the same array every time");
        assert_eq!(
            a.update(3, 1, |x| {
                *x += 5;
                *x
            }),
            Some(5)
        );
        assert_eq!(a.update(3, 2, |x| *x), None, "out of range");
        assert_eq!(a.read(3, 2), Some(vec![0, 5]));
        assert_ne!(a.array(0, 0).0, 0, "a function with no entries gets one");
        assert_eq!(a.read(0, 0), Some(vec![]));
    }
}

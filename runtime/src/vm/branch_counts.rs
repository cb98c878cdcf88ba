//! Branch counts of profile-guided baseline code: for each defined function of an
//! instance, an array of [`VMBranchCounts`] (one per counted `if` and `br_if`, in the
//! order the jit numbered them). The runtime allocates a function's array at its first
//! entry (the `branch_counters` builtin), generated code adds to it, and the runtime
//! reads it when it tiers a function up or reports a profile. Only the thread running
//! the instance's store touches it: generated code while wasm runs, the runtime while
//! the host has control.

use std::cell::UnsafeCell;
use std::sync::Mutex;

/// How often one branch went each way (layout: `kiln_jit::branch_site`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VMBranchCounts {
    /// Executions with a zero condition.
    pub not_taken: u32,
    /// Executions with a non-zero condition.
    pub taken: u32,
}

/// One function's branches.
type Counts = Box<[UnsafeCell<VMBranchCounts>]>;

/// Every function's branch counts of one instance.
#[derive(Debug, Default)]
pub struct BranchCounts {
    /// By defined function; each array's address is in the function's
    /// `VMFuncCounters::branches` and never moves while the instance lives.
    arrays: Mutex<Vec<Option<Counts>>>,
}

// SAFETY: the cells are only accessed by the thread that holds the instance's store
// (see the module docs); the store moves between threads as a whole.
unsafe impl Send for BranchCounts {}
// SAFETY: as above; the `Mutex` orders the allocation of arrays.
unsafe impl Sync for BranchCounts {}

impl BranchCounts {
    /// The address of defined function `f`'s array, allocated now (zeroed, `branches`
    /// entries but at least one, so that it is never null) if it has none.
    pub fn array(&self, f: usize, branches: usize) -> usize {
        let mut arrays = self.arrays.lock().unwrap_or_else(|e| e.into_inner());
        if arrays.len() <= f {
            arrays.resize_with(f + 1, || None);
        }
        let array = arrays[f].get_or_insert_with(|| {
            (0..branches.max(1))
                .map(|_| UnsafeCell::default())
                .collect()
        });
        array.as_ptr() as usize
    }

    /// The counts of defined function `f`'s first `branches` branches, if it has an
    /// array.
    pub fn counts(&self, f: usize, branches: usize) -> Option<Vec<VMBranchCounts>> {
        let arrays = self.arrays.lock().unwrap_or_else(|e| e.into_inner());
        let array = arrays.get(f)?.as_ref()?;
        Some(
            array
                .iter()
                .take(branches)
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
    use kiln_jit::branch_site;
    use std::mem::{offset_of, size_of};

    #[test]
    fn layout_matches_the_jit() {
        assert_eq!(
            offset_of!(VMBranchCounts, not_taken),
            branch_site::NOT_TAKEN as usize
        );
        assert_eq!(
            offset_of!(VMBranchCounts, taken),
            branch_site::TAKEN as usize
        );
        assert_eq!(size_of::<VMBranchCounts>(), branch_site::SIZE as usize);
    }

    #[test]
    fn allocates_once_and_never_empty() {
        let b = BranchCounts::default();
        assert_eq!(b.counts(3, 2), None);
        let a = b.array(3, 2);
        assert_ne!(a, 0);
        assert_eq!(b.array(3, 2), a, "the same array every time");
        assert_eq!(b.counts(3, 2), Some(vec![VMBranchCounts::default(); 2]));
        assert_ne!(
            b.array(0, 0),
            0,
            "a function without branches gets one entry"
        );
        assert_eq!(b.counts(0, 0), Some(vec![]));
    }
}

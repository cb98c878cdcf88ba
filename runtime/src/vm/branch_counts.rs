//! Branch counts of profile-guided baseline code: for each defined function of an
//! instance, an array of [`VMBranchCounts`] (one per counted `if` and `br_if`, in the
//! order the jit numbered them), kept in the instance's `VmCtx` as
//! `FunctionArrays<VMBranchCounts>`. The runtime allocates a function's array at its first
//! entry (the `branch_counters` builtin), generated code adds to it, and the runtime
//! reads it when it tiers a function up or reports a profile. Only the thread running
//! the instance's store touches it: generated code while wasm runs, the runtime while
//! the host has control.

/// How often one branch went each way (layout: `kiln_jit::branch_site`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VMBranchCounts {
    /// Executions with a zero condition.
    pub not_taken: u32,
    /// Executions with a non-zero condition.
    pub taken: u32,
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
}

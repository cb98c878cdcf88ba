//! Call-site feedback of tiered baseline code: for each defined function of an
//! instance, an array of [`VMCallSiteFeedback`] (one per `call_indirect` site, in the
//! order the jit numbered them) that generated code reads and writes, and the runtime
//! fills on the slow path (`record_call_target`) and reads when it tiers a function up
//! or reports a profile. Only the thread running the instance's store touches it:
//! generated code while wasm runs, the runtime while the host has control.

use super::function_arrays::FunctionArrays;
use kiln_jit::call_site;

const ENTRIES: usize = call_site::ENTRIES as usize;

/// What one site has seen (layout: `kiln_jit::call_site`).
#[repr(C, align(64))]
#[derive(Debug, Clone, Copy, Default)]
pub struct VMCallSiteFeedback {
    /// `*const VMFuncRef` of each target seen, 0 when unused; most frequent first.
    pub targets: [usize; ENTRIES],
    /// Calls to each target.
    pub counts: [u32; ENTRIES],
    /// Non-zero once more than `ENTRIES` targets were seen.
    pub megamorphic: u32,
    /// Calls to targets beyond those recorded.
    pub other: u32,
}

/// One site's feedback, as the runtime reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteFeedback {
    /// `(func_ref address, calls)`, most frequent first.
    pub targets: Vec<(usize, u32)>,
    /// More targets than recorded were seen.
    pub megamorphic: bool,
    /// Calls to those other targets while the site was being recorded by the runtime.
    pub other: u32,
}

/// Every function's feedback arrays of one instance; each array's address is in the
/// function's `VMFuncCounters::feedback`.
#[derive(Debug, Default)]
pub struct CallFeedback {
    arrays: FunctionArrays<VMCallSiteFeedback>,
}

impl CallFeedback {
    /// Records a call to `func_ref` at site `site` of defined function `f`, whose code
    /// has `sites` sites; allocates the function's array first if it has none and
    /// returns its address (to store in the vmctx) when it did.
    /// A site outside `sites` records nothing and allocates nothing: generated code
    /// only ever reads an array that holds its site.
    pub fn record(&self, f: usize, sites: usize, site: usize, func_ref: usize) -> Option<usize> {
        if site >= sites {
            return None;
        }
        let (array, allocated) = self.arrays.array(f, sites);
        self.arrays.update(f, site, |s| {
            if let Some(i) = s.targets.iter().position(|&t| t == func_ref) {
                s.counts[i] = s.counts[i].saturating_add(1);
                // Keep the most frequent target first: baseline code counts it inline.
                if i > 0 && s.counts[i] > s.counts[0] {
                    s.targets.swap(0, i);
                    s.counts.swap(0, i);
                }
            } else if let Some(i) = s.targets.iter().position(|&t| t == 0) {
                s.targets[i] = func_ref;
                s.counts[i] = 1;
            } else {
                s.megamorphic = 1;
                s.other = s.other.saturating_add(1);
            }
        });
        allocated.then_some(array)
    }

    /// The feedback of defined function `f`'s sites, if it recorded any.
    pub fn sites(&self, f: usize) -> Option<Vec<SiteFeedback>> {
        let sites = self.arrays.read(f, usize::MAX)?;
        Some(
            sites
                .iter()
                .map(|s| {
                    let mut targets: Vec<(usize, u32)> = s
                        .targets
                        .iter()
                        .zip(s.counts)
                        .filter(|(&t, _)| t != 0)
                        .map(|(&t, c)| (t, c))
                        .collect();
                    targets.sort_by_key(|t| std::cmp::Reverse(t.1));
                    SiteFeedback {
                        targets,
                        megamorphic: s.megamorphic != 0,
                        other: s.other,
                    }
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn layout_matches_the_jit() {
        assert_eq!(
            offset_of!(VMCallSiteFeedback, targets),
            call_site::TARGETS as usize
        );
        assert_eq!(
            offset_of!(VMCallSiteFeedback, counts),
            call_site::COUNTS as usize
        );
        assert_eq!(
            offset_of!(VMCallSiteFeedback, megamorphic),
            call_site::MEGAMORPHIC as usize
        );
        assert_eq!(
            offset_of!(VMCallSiteFeedback, other),
            call_site::OTHER as usize
        );
        assert_eq!(size_of::<VMCallSiteFeedback>(), call_site::SIZE as usize);
    }

    #[test]
    fn keeps_the_most_frequent_first_and_turns_megamorphic() {
        let fb = CallFeedback::default();
        assert!(
            fb.record(2, 3, 1, 0x100).is_some(),
            "first record allocates"
        );
        assert!(fb.record(2, 3, 1, 0x200).is_none());
        fb.record(2, 3, 1, 0x200);
        let s = &fb.sites(2).expect("recorded")[1];
        assert_eq!(s.targets, vec![(0x200, 2), (0x100, 1)]);
        assert!(!s.megamorphic);
        for t in [0x300, 0x400, 0x500] {
            fb.record(2, 3, 1, t);
        }
        let s = &fb.sites(2).expect("recorded")[1];
        assert_eq!(s.targets.len(), 4);
        assert!(s.megamorphic);
        assert_eq!(s.other, 1);
        assert_eq!(fb.sites(0), None);
        assert_eq!(
            fb.record(2, 3, 7, 0x100),
            None,
            "a site out of range is ignored"
        );
        assert_eq!(fb.record(5, 0, 0, 0x100), None, "no sites, no array");
        assert_eq!(fb.sites(5), None);
    }
}

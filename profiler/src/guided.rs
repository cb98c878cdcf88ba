//! Profile-guided decisions: which target a `call_indirect` site speculates on, which
//! side of a branch is laid out as cold, and how much optimized code may inline.

use crate::{Branch, CallSite, ColdSide};

/// What profile-guided optimized code is allowed to assume, and how much it inlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GuidedPolicy {
    /// A site speculates only after this many recorded calls.
    pub min_site_calls: u64,
    /// ... and only on a target that got at least this percentage of them (0: the most
    /// frequent target, however rare, which tests use to run the fallback path).
    pub min_share_percent: u8,
    /// Layout from branch counts: which branch sides optimized code lays out as cold;
    /// `None` (the default): none, and baseline code counts no branches.
    pub branch_layout: Option<BranchLayout>,
    /// How much a function inlines when the profile says nothing about it (eager code
    /// from a saved profile compiles every function, most of them cold).
    pub inline: InlineLimits,
    /// How much a hot function inlines: one the profile saw optimized, and every
    /// function tiered code optimizes (it got hot to be optimized).
    pub hot_inline: InlineLimits,
}

/// When a branch side is cold: it took at most `max_cold_per_mille` of at least
/// `min_count` executions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BranchLayout {
    /// A branch gets a cold side only after this many executions...
    pub min_count: u64,
    /// ... and only the side that took at most this share of them, in per mille
    /// (1000: the rarer side of every branch, which tests use to run cold code).
    pub max_cold_per_mille: u16,
}

impl Default for BranchLayout {
    /// At most 1 % of at least 64 executions: Cranelift only knows hot and cold, so only
    /// sides that almost never run are worth moving out of the way.
    fn default() -> Self {
        BranchLayout {
            min_count: 64,
            max_cold_per_mille: 10,
        }
    }
}

/// Limits on inlining into one function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InlineLimits {
    /// Largest callee body inlined, in bytes of Wasm code.
    pub max_callee_bytes: u32,
    /// Deepest nesting of inlined bodies (0: no inlining).
    pub max_depth: u32,
    /// Most bytes of Wasm code inlined into one function.
    pub max_total_bytes: u32,
}

impl Default for GuidedPolicy {
    /// A site speculates on a target that took three quarters of at least 16 calls
    /// (V8's speculative inlining uses similar shares). Cold functions inline callees of
    /// up to 96 bytes two levels deep, 2 KiB in all; hot ones callees of up to 300 bytes
    /// three deep, 9,600 bytes in all. Measured (BENCHMARKS.md, "Profile-guided code"):
    /// the cold budget costs 1.03× the optimized tier's compile time over every
    /// sightglass function, the hot one 1.47× (sqlite3 3.8×), too much for every
    /// function but worth it for the few hot ones (9 % faster execution than the cold
    /// budget on the long sightglass programs).
    ///
    /// Layout from branch counts is off: over sightglass it measured 0.994 and 1.021
    /// of the same code without it in two passes (BENCHMARKS.md, "Profile-guided
    /// code"), since moving a block moves every hot block after it against fetch
    /// lines, and counting branches costs baseline code 6 %. A loop whose rare paths are
    /// large bodies gains 4 % from it (`guided`'s `rare` workload).
    fn default() -> Self {
        GuidedPolicy {
            min_site_calls: 16,
            min_share_percent: 75,
            branch_layout: None,
            inline: InlineLimits {
                max_callee_bytes: 96,
                max_depth: 2,
                max_total_bytes: 2048,
            },
            hot_inline: InlineLimits {
                max_callee_bytes: 300,
                max_depth: 3,
                max_total_bytes: 9600,
            },
        }
    }
}

impl GuidedPolicy {
    /// The function a site should speculate on, if any.
    pub fn speculate(&self, site: &CallSite) -> Option<u32> {
        let total: u64 = site.targets.iter().map(|t| t.1).sum::<u64>() + site.other;
        // The first of equally frequent targets.
        let &(target, calls) = site.targets.iter().min_by_key(|t| std::cmp::Reverse(t.1))?;
        if total == 0 || total < self.min_site_calls {
            return None;
        }
        (calls * 100 >= total * u64::from(self.min_share_percent)).then_some(target)
    }

    /// The side of a branch optimized code should lay out as cold, if any (the taken
    /// side of a branch that went both ways equally).
    pub fn cold_side(&self, branch: &Branch) -> Option<ColdSide> {
        let layout = self.branch_layout?;
        let total = branch.taken.saturating_add(branch.not_taken);
        if total < layout.min_count {
            return None;
        }
        let (side, rare) = if branch.taken <= branch.not_taken {
            (ColdSide::Taken, branch.taken)
        } else {
            (ColdSide::NotTaken, branch.not_taken)
        };
        let rare = u128::from(rare) * 1000;
        (rare <= u128::from(total) * u128::from(layout.max_cold_per_mille)).then_some(side)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(targets: &[(u32, u64)], other: u64) -> CallSite {
        CallSite {
            offset: 0,
            targets: targets.to_vec(),
            megamorphic: other > 0,
            other,
            speculated: None,
        }
    }

    #[test]
    fn speculates_on_a_dominant_target_only() {
        let p = GuidedPolicy::default();
        assert_eq!(p.speculate(&site(&[(3, 90), (4, 10)], 0)), Some(3));
        assert_eq!(p.speculate(&site(&[(3, 60), (4, 40)], 0)), None);
        assert_eq!(p.speculate(&site(&[(3, 10)], 0)), None, "too few calls");
        assert_eq!(p.speculate(&site(&[(3, 80)], 40)), None, "others count");
        assert_eq!(p.speculate(&site(&[], 0)), None);
        let any = GuidedPolicy {
            min_site_calls: 0,
            min_share_percent: 0,
            ..p
        };
        assert_eq!(any.speculate(&site(&[(3, 1), (4, 2), (5, 2)], 9)), Some(4));
    }

    fn branch(taken: u64, not_taken: u64) -> Branch {
        Branch {
            offset: 0,
            taken,
            not_taken,
            cold: None,
        }
    }

    #[test]
    fn a_side_is_cold_only_if_it_almost_never_ran() {
        assert_eq!(
            GuidedPolicy::default().cold_side(&branch(0, 1000)),
            None,
            "off"
        );
        let p = GuidedPolicy {
            branch_layout: Some(BranchLayout::default()),
            ..GuidedPolicy::default()
        };
        assert_eq!(p.cold_side(&branch(0, 1000)), Some(ColdSide::Taken));
        assert_eq!(p.cold_side(&branch(10, 1000)), Some(ColdSide::Taken));
        assert_eq!(p.cold_side(&branch(5000, 3)), Some(ColdSide::NotTaken));
        assert_eq!(p.cold_side(&branch(20, 1000)), None, "2 % is not cold");
        assert_eq!(p.cold_side(&branch(0, 40)), None, "too few executions");
        assert_eq!(p.cold_side(&branch(u64::MAX, 0)), Some(ColdSide::NotTaken));
        let any = GuidedPolicy {
            branch_layout: Some(BranchLayout {
                min_count: 0,
                max_cold_per_mille: 1000,
            }),
            ..p
        };
        assert_eq!(any.cold_side(&branch(0, 0)), Some(ColdSide::Taken));
        assert_eq!(any.cold_side(&branch(7, 3)), Some(ColdSide::NotTaken));
    }
}

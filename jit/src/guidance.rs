//! What profile-guided compilation is told about one function: the dominant targets
//! of its `call_indirect` sites (to call directly behind a guard), the side of each
//! one-sided branch that is cold (laid out after the function's hot code), and how much
//! it may inline. The runtime builds it from the profile (the profiler decides); the jit only
//! follows it, and code compiled with [`Guidance::default`] is what it would be
//! without a profile.

use kiln_frontend::DefinedFuncIndex;
use std::collections::HashMap;

/// Profile-derived advice for compiling one function optimized.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Guidance {
    /// The target to speculate on at each `call_indirect` site, by the site's byte
    /// offset in the module. A site calls it directly when the table entry is that
    /// function of the caller's own instance, and through the generic path otherwise.
    /// A target whose type is not the site's is ignored.
    pub indirect_targets: HashMap<u32, DefinedFuncIndex>,
    /// The cold side of each `if` and `br_if` the profile found one-sided, by the
    /// instruction's byte offset in the module: its code goes after the hot code
    /// (Cranelift's cold blocks), so the hot path falls through. Layout only: both sides
    /// still run when taken.
    pub cold_branches: HashMap<u32, ColdSide>,
    /// How much to inline; `None`: nothing.
    pub inline: Option<InlineBudget>,
}

/// Which side of a branch is cold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColdSide {
    /// The condition is rarely non-zero: `br_if`'s branch, `if`'s `then` arm.
    Taken,
    /// The condition is rarely zero: `br_if`'s fallthrough, `if`'s `else` arm.
    NotTaken,
}

/// Limits on inlining into one function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InlineBudget {
    /// Largest callee body inlined, in bytes of Wasm code (locals included).
    pub max_callee_bytes: u32,
    /// Deepest nesting of inlined bodies (1: only the function's own calls).
    pub max_depth: u32,
    /// Most bytes of Wasm code inlined into the function in all.
    pub max_total_bytes: u32,
}

impl Default for InlineBudget {
    fn default() -> Self {
        InlineBudget {
            max_callee_bytes: 96,
            max_depth: 2,
            max_total_bytes: 2048,
        }
    }
}

impl Guidance {
    /// Whether the guidance changes anything.
    pub fn is_empty(&self) -> bool {
        self.indirect_targets.is_empty() && self.cold_branches.is_empty() && self.inline.is_none()
    }
}

/// Guidance for every function of a module compiled at once (eager code from a saved
/// profile): each function's own, or `default` for the others.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleGuidance {
    /// By defined function.
    pub functions: HashMap<DefinedFuncIndex, Guidance>,
    /// For functions without their own.
    pub default: Guidance,
}

impl ModuleGuidance {
    /// The guidance for defined function `d`.
    pub fn of(&self, d: DefinedFuncIndex) -> &Guidance {
        self.functions.get(&d).unwrap_or(&self.default)
    }
}

//! Kiln's profiler: what tiered code counts is decided here, and what it counted is
//! described and reported here.
//!
//! Data flows one way. The runtime's baseline code counts calls and loop iterations;
//! the runtime asks the [`TierUpPolicy`] which functions to optimize and in what order
//! (a [`TierUpQueue`]); the jit compiles them. The runtime then describes what happened
//! as a [`Profile`], which [`report`] prints. This crate knows nothing of the runtime,
//! the jit or Cranelift.
//!
//! - `policy.rs`: thresholds, the queue and its decisions;
//! - `guided.rs`: what profile-guided code speculates on and inlines;
//! - `profile.rs`: the profile data model, as JSON;
//! - `report.rs`: the hottest functions, the tier-up timeline, and folded output.
#![forbid(unsafe_code)]

mod guided;
mod policy;
mod profile;
pub mod report;

pub use guided::{BranchLayout, GuidedPolicy, InlineLimits};
pub use policy::{TierUpPolicy, TierUpQueue};
pub use profile::{
    Branch, CallSite, ColdSide, FunctionProfile, Profile, ProfileError, Tier, TierEvent,
    PROFILE_VERSION,
};

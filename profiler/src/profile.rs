//! The profile: per-function counts, tiers and compile times, the tier-up timeline, and
//! call-site feedback. Written and read as JSON; reading checks everything.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The format version this crate writes and reads.
pub const PROFILE_VERSION: u32 = 1;

/// The code a function runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Never compiled (never called).
    None,
    /// Baseline code, with counters.
    Baseline,
    /// Optimized code.
    Optimized,
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Tier::None => "none",
            Tier::Baseline => "baseline",
            Tier::Optimized => "optimized",
        })
    }
}

/// One defined function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionProfile {
    /// Index in the module's function index space (imports first).
    pub index: u32,
    /// From the name section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Entries counted by baseline code.
    pub calls: u64,
    /// Loop iterations counted by baseline code.
    pub loops: u64,
    /// The code it runs at the end.
    pub tier: Tier,
    /// Microseconds its baseline compilation took, if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_compile_us: Option<u64>,
    /// Microseconds its optimized compilation took, if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimized_compile_us: Option<u64>,
    /// Feedback of its indirect call sites (filled by profile-guided compilation).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub call_sites: Vec<CallSite>,
    /// Which way its `if`s and `br_if`s went (filled by profile-guided compilation;
    /// branches never reached are left out).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub branches: Vec<Branch>,
    /// Functions inlined into its optimized code (by index, each once).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inlined: Vec<u32>,
}

/// What one `call_indirect` site saw: up to four targets with counts, and whether it saw
/// more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallSite {
    /// Byte offset of the instruction in the module.
    pub offset: u32,
    /// `(function index, count)`, most frequent first.
    pub targets: Vec<(u32, u64)>,
    /// More targets than recorded were seen.
    pub megamorphic: bool,
    /// Calls to targets not in `targets` (other instances' functions, or beyond the
    /// recorded ones).
    #[serde(default)]
    pub other: u64,
    /// The target optimized code speculates on, if it was tiered up with a profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speculated: Option<u32>,
}

/// Which way one `if` or `br_if` went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Branch {
    /// Byte offset of the instruction in the module.
    pub offset: u32,
    /// Executions with a non-zero condition (`br_if` branched, `if` ran `then`).
    pub taken: u64,
    /// Executions with a zero condition.
    pub not_taken: u64,
    /// The side optimized code laid out as cold, if it was tiered up with a profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold: Option<ColdSide>,
}

/// Which side of a branch is cold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColdSide {
    /// The condition is rarely non-zero.
    Taken,
    /// The condition is rarely zero.
    NotTaken,
}

/// A function reaching a tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierEvent {
    /// Microseconds from the module's creation to the code's publication.
    pub at_us: u64,
    /// Function index (imports first).
    pub function: u32,
    /// The tier reached.
    pub tier: Tier,
    /// Microseconds the compilation took.
    pub compile_us: u64,
    /// For an on-stack-replacement variant: the loop (by ordinal in the function) it
    /// enters at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub osr_loop: Option<u32>,
}

/// A module's profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// [`PROFILE_VERSION`].
    pub version: u32,
    /// The module's name from its name section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module_name: Option<String>,
    /// BLAKE3 of the module's binary, in hex: a profile belongs to exactly one module.
    pub module_hash: String,
    /// Number of functions the module defines.
    pub defined_functions: u32,
    /// The strategy that ran (`lazy` or `tiered`).
    pub strategy: String,
    /// Every function that was compiled or counted, by index.
    pub functions: Vec<FunctionProfile>,
    /// Compilations in the order their code was published.
    pub timeline: Vec<TierEvent>,
}

/// A profile that cannot be read.
#[derive(Debug)]
pub struct ProfileError(String);

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid profile: {}", self.0)
    }
}

impl std::error::Error for ProfileError {}

impl Profile {
    /// The profile as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("profiles serialize")
    }

    /// Reads a profile, refusing malformed JSON, another version, and any function or
    /// event outside the module's functions.
    pub fn from_json(text: &str) -> Result<Profile, ProfileError> {
        let p: Profile = serde_json::from_str(text).map_err(|e| ProfileError(e.to_string()))?;
        if p.version != PROFILE_VERSION {
            return Err(ProfileError(format!(
                "version {} (this Kiln reads version {PROFILE_VERSION})",
                p.version
            )));
        }
        if p.module_hash.len() != 64 || !p.module_hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ProfileError("the module hash is not 64 hex digits".into()));
        }
        let mut last = None;
        for f in &p.functions {
            if last.is_some_and(|l| f.index <= l) {
                return Err(ProfileError(format!(
                    "function {} is out of order or repeated",
                    f.index
                )));
            }
            last = Some(f.index);
        }
        if let Some(e) = p.timeline.iter().find(|e| e.tier == Tier::None) {
            return Err(ProfileError(format!(
                "function {} reaches no tier in the timeline",
                e.function
            )));
        }
        Ok(p)
    }

    /// Checks that this profile belongs to the module whose hash is `hash`.
    pub fn check_module(&self, hash: &str) -> Result<(), ProfileError> {
        if self.module_hash.eq_ignore_ascii_case(hash) {
            Ok(())
        } else {
            Err(ProfileError(format!(
                "it belongs to module {}, not to this module ({hash})",
                self.module_hash
            )))
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> Profile {
        Profile {
            version: PROFILE_VERSION,
            module_name: Some("m".into()),
            module_hash: "ab".repeat(32),
            defined_functions: 3,
            strategy: "tiered".into(),
            functions: vec![
                FunctionProfile {
                    index: 1,
                    name: Some("hot".into()),
                    calls: 5000,
                    loops: 70,
                    tier: Tier::Optimized,
                    baseline_compile_us: Some(40),
                    optimized_compile_us: Some(300),
                    call_sites: vec![],
                    branches: vec![],
                    inlined: vec![],
                },
                FunctionProfile {
                    index: 2,
                    name: None,
                    calls: 1,
                    loops: 0,
                    tier: Tier::Baseline,
                    baseline_compile_us: Some(10),
                    optimized_compile_us: None,
                    call_sites: vec![],
                    branches: vec![],
                    inlined: vec![],
                },
            ],
            timeline: vec![
                TierEvent {
                    at_us: 100,
                    function: 1,
                    tier: Tier::Baseline,
                    compile_us: 40,
                    osr_loop: None,
                },
                TierEvent {
                    at_us: 900,
                    function: 1,
                    tier: Tier::Optimized,
                    compile_us: 300,
                    osr_loop: Some(0),
                },
            ],
        }
    }

    #[test]
    fn json_round_trips() {
        let p = sample();
        assert_eq!(Profile::from_json(&p.to_json()).expect("valid"), p);
    }

    #[test]
    fn malformed_profiles_are_refused_with_a_reason() {
        let bad = |text: &str, why: &str| {
            let e = Profile::from_json(text).expect_err(text).to_string();
            assert!(e.contains(why), "{e}");
        };
        bad("", "EOF");
        bad("{\"version\": 1}", "missing field");
        let mut p = sample();
        p.version = 9;
        bad(&p.to_json(), "version 9");
        let mut p = sample();
        p.module_hash = "xyz".into();
        bad(&p.to_json(), "64 hex digits");
        let mut p = sample();
        p.functions.swap(0, 1);
        bad(&p.to_json(), "out of order");
        let mut p = sample();
        p.timeline[0].tier = Tier::None;
        bad(&p.to_json(), "reaches no tier");
    }

    #[test]
    fn a_profile_names_its_module() {
        let p = sample();
        assert!(p.check_module(&"AB".repeat(32)).is_ok());
        let e = p
            .check_module(&"cd".repeat(32))
            .expect_err("another module");
        assert!(e.to_string().contains("belongs to module"), "{e}");
    }
}

//! The hostile suites that attack running code (CPU, memory safety, memory, imports)
//! again, under profile-guided tiered code (`Config::guided_policy`) with tier-up
//! thresholds of 2 and speculation on any `call_indirect` target seen: the test files
//! are included as modules, and their shared helpers (`common/hostile.rs`) give every
//! engine of this binary that configuration (`hostile::config`).
//!
//! The stack suite is not included: it checks that a recursion overflows at the same
//! depth every time, and under tiering the depth changes when baseline frames are
//! replaced by optimized ones. `tiers.rs` checks overflows under both tiers.
#![allow(
    clippy::duplicate_mod,
    reason = "each included suite loads the shared helpers as its own module, as it does alone"
)]

#[path = "hostile_cpu.rs"]
mod cpu;
#[path = "hostile_imports.rs"]
mod imports;
#[path = "hostile_memory.rs"]
mod memory;
#[path = "hostile_memsafety.rs"]
mod memsafety;

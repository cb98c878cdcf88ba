//! `cargo test -p kiln-spec-tests --test spec3`: one trial per `wasm-3.0/*.wast` spec
//! file, with what Kiln implements of Wasm 3.0 turned on.
//!
//! A file whose checks need a proposal Kiln does not implement yet is listed, with the
//! proposal, in `WASM3_EXPECTED_FAILURES` (`spec-tests/src/expected_failures.rs`): its
//! failures are expected, and the trial fails as soon as the file passes (so the list
//! shrinks as proposals land). The SIMD files (`simd_*` and the relaxed SIMD ones) run
//! a second time as `baseline/...` with the architecture's baseline features (SSE2 on
//! x86-64).

#![forbid(unsafe_code)]

mod common;

use libtest_mimic::Arguments;

fn main() {
    let args = Arguments::from_args();
    let trials = common::suite_trials("wasm-3.0", |name| {
        name.starts_with("simd_") || name.contains("relaxed")
    });
    libtest_mimic::run(&args, trials).exit();
}

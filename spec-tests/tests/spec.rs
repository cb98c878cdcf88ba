//! `cargo test -p kiln-spec-tests`: one trial per `wasm-2.0/*.wast` spec file.
//!
//! Every file runs with the host's CPU features; the `simd_*` files run a second time as
//! `baseline/simd_*` with the architecture's baseline features only (SSE2 on x86-64). A
//! trial fails if its file has a failure that is not in `EXPECTED_FAILURES`, or a listed
//! failure that now passes. Each file runs on its own big-stack thread inside `run_file`,
//! with its own store. (`spec_round_trip.rs` runs the suite again on deserialized modules.)

#![forbid(unsafe_code)]

mod common;

use libtest_mimic::Arguments;

fn main() {
    let args = Arguments::from_args();
    let trials = common::suite_trials("wasm-2.0", |name| name.starts_with("simd_"));
    libtest_mimic::run(&args, trials).exit();
}

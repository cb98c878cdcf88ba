//! The crate's examples run as part of the tests, so they never rot.

#[path = "../examples/wasi_readonly.rs"]
mod wasi_readonly;

#[test]
fn wasi_readonly_example_runs() {
    wasi_readonly::main().expect("the WASI example runs");
}

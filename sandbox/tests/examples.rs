//! The examples run as tests (the async one in `tests/async.rs`, with `tokio`).

#[path = "../examples/sandbox.rs"]
mod sandbox_example;

#[test]
fn the_sync_example_runs() -> Result<(), kiln_sandbox::Error> {
    sandbox_example::main()
}

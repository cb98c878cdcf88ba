//! The crate's examples run as part of the tests, so they never rot.

#[path = "../examples/embed.rs"]
mod embed;

#[test]
fn embed_example_runs() {
    embed::main().expect("the embedding example runs");
}

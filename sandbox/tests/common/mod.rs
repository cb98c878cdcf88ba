//! Helpers shared by the integration tests: every test runs on each backend this build
//! has.

#![allow(dead_code, reason = "each test binary uses some helpers")]

use kiln_sandbox::{RuntimeBackend, Sandbox, SandboxBuilder};

/// The backends of this build: Kiln's JIT, and Wasmtime with `wasmtime-backend`.
pub fn backends() -> Vec<RuntimeBackend> {
    #[allow(unused_mut, reason = "Wasmtime is pushed only with its feature")]
    let mut v = vec![RuntimeBackend::default()];
    #[cfg(feature = "wasmtime-backend")]
    v.push(RuntimeBackend::Wasmtime);
    v
}

/// A builder for `wat` on `backend`.
pub fn builder(backend: RuntimeBackend, wat: &str) -> SandboxBuilder {
    Sandbox::builder().runtime_backend(backend).bytes(wat)
}

/// `wat` on `backend`, with no limits.
pub fn sandbox(backend: RuntimeBackend, wat: &str) -> Sandbox {
    builder(backend, wat)
        .build()
        .unwrap_or_else(|e| panic!("{}: building failed: {e}", backend.name()))
}

/// A module with an `add` export, to check a sandbox still works after an error.
pub const ADD: &str = r#"(func (export "add") (param i32 i32) (result i32)
    (i32.add (local.get 0) (local.get 1)))"#;

/// `body` (module fields) plus `ADD`, as a module named `m`.
pub fn module(body: &str) -> String {
    format!("(module $m {ADD} {body})")
}

/// Asserts the sandbox still answers calls.
pub fn assert_usable(sandbox: &Sandbox, backend: RuntimeBackend) {
    let sum: Result<i32, _> = sandbox.call("add", (40i32, 2i32));
    assert_eq!(
        sum.map_err(|e| e.to_string()),
        Ok(42),
        "{}: the sandbox is no longer usable",
        backend.name()
    );
}

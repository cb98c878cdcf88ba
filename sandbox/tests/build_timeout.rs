//! `.timeout` covers `build()`: compilation and instantiation share it, and a build
//! past it fails with the time limit.

mod common;

use common::{backends, builder};
use kiln_sandbox::{Error, ResourceKind, Sandbox, SandboxModule};
use std::time::Duration;

fn leb128(mut n: u32, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn section(id: u8, body: &[u8], out: &mut Vec<u8>) {
    out.push(id);
    leb128(body.len() as u32, out);
    out.extend_from_slice(body);
}

/// A binary module of `n` functions `() -> i32`, each returning its index; the last
/// is exported as `last`.
fn many_functions(n: u32) -> Vec<u8> {
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    section(1, &[1, 0x60, 0, 1, 0x7f], &mut m);
    let mut funcs = Vec::new();
    leb128(n, &mut funcs);
    funcs.extend(std::iter::repeat_n(0u8, n as usize));
    section(3, &funcs, &mut m);
    let mut exports = vec![1, 4];
    exports.extend_from_slice(b"last");
    exports.push(0);
    leb128(n - 1, &mut exports);
    section(7, &exports, &mut m);
    let mut code = Vec::new();
    leb128(n, &mut code);
    for i in 0..n {
        let mut body = vec![0, 0x41];
        // i32.const i (signed LEB128 of a non-negative value below 2^27).
        let mut v = i;
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 && byte & 0x40 == 0 {
                body.push(byte);
                break;
            }
            body.push(byte | 0x80);
        }
        body.push(0x0b);
        leb128(body.len() as u32, &mut code);
        code.extend_from_slice(&body);
    }
    section(10, &code, &mut m);
    m
}

const FUNCTIONS: u32 = 20_000;

fn assert_time_limit<T: std::fmt::Debug>(r: Result<T, Error>, limit_ms: u64, what: &str) {
    match r {
        Err(Error::ResourceExhausted {
            kind: ResourceKind::Time,
            limit,
            ..
        }) => assert_eq!(limit, limit_ms, "{what}"),
        other => panic!("{what}: expected the time limit, got {other:?}"),
    }
}

#[test]
fn compilation_past_the_timeout_fails_the_build() {
    let wasm = many_functions(FUNCTIONS);
    for backend in backends() {
        let r = Sandbox::builder()
            .bytes(&wasm)
            .runtime_backend(backend)
            .timeout(Duration::from_millis(1))
            .build();
        assert_time_limit(r, 1, backend.name());
    }
}

#[test]
fn compiling_a_shared_module_past_the_timeout_fails() {
    let wasm = many_functions(FUNCTIONS);
    let r = SandboxModule::new(
        &Sandbox::builder()
            .bytes(&wasm)
            .timeout(Duration::from_millis(1)),
    );
    assert_time_limit(r, 1, "SandboxModule::new");
}

#[test]
fn the_same_module_builds_within_a_generous_timeout() -> Result<(), Error> {
    let wasm = many_functions(FUNCTIONS);
    let s = Sandbox::builder()
        .bytes(&wasm)
        .timeout(Duration::from_secs(600))
        .build()?;
    assert_eq!(s.call::<(), i32>("last", ())?, FUNCTIONS as i32 - 1);
    Ok(())
}

#[test]
fn instantiation_gets_what_compilation_left() {
    // The start function spins: the build stops at its timeout, whichever step it is in.
    let wat = r#"(module (func $start (loop (br 0))) (start $start))"#;
    for backend in backends() {
        let r = builder(backend, wat)
            .timeout(Duration::from_millis(30))
            .build();
        assert_time_limit(r, 30, backend.name());
    }
}

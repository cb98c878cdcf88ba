//! Host functions: typed closures a guest imports, with or without a `Caller`, that
//! may fail; a mistyped import is refused at build.

use kiln_sandbox::{Caller, Error, Sandbox};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

const GUEST: &str = r#"(module
    (import "host" "add" (func $add (param i32 i32) (result i32)))
    (import "host" "mix" (func $mix (param i64 f64) (result f64)))
    (import "env" "tick" (func $tick))
    (func (export "sum3") (param i32 i32 i32) (result i32)
        (call $add (call $add (local.get 0) (local.get 1)) (local.get 2)))
    (func (export "mix") (param i64 f64) (result f64) (call $mix (local.get 0) (local.get 1)))
    (func (export "tick3") (call $tick) (call $tick) (call $tick)))"#;

#[test]
fn typed_host_functions_are_called() -> Result<(), Error> {
    let ticks = Arc::new(AtomicU32::new(0));
    let t = ticks.clone();
    let sandbox = Sandbox::builder()
        .bytes(GUEST)
        .host_function("host", "add", |a: i32, b: i32| a + b)
        .host_function("host", "mix", |a: i64, b: f64| a as f64 * b)
        .host_function("env", "tick", move || {
            t.fetch_add(1, Ordering::Relaxed);
        })
        .build()?;
    assert_eq!(sandbox.call::<(i32, i32, i32), i32>("sum3", (1, 2, 3))?, 6);
    assert_eq!(sandbox.call::<(i64, f64), f64>("mix", (4, 0.5))?, 2.0);
    sandbox.call::<(), ()>("tick3", ())?;
    assert_eq!(ticks.load(Ordering::Relaxed), 3);
    Ok(())
}

#[test]
fn a_host_function_reads_guest_memory_through_its_caller() -> Result<(), Error> {
    let wat = r#"(module
        (import "host" "checksum" (func $checksum (param i32 i32) (result i32)))
        (memory (export "memory") 1)
        (data (i32.const 100) "\01\02\03\04")
        (func (export "run") (result i32) (call $checksum (i32.const 100) (i32.const 4))))"#;
    let sandbox = Sandbox::builder()
        .bytes(wat)
        .fuel(1_000_000)
        .host_function(
            "host",
            "checksum",
            |mut caller: Caller<'_>, ptr: u32, len: u32| -> anyhow::Result<u32> {
                let memory = caller
                    .get_export("memory")
                    .and_then(|e| e.into_memory())
                    .ok_or_else(|| anyhow::anyhow!("the guest exports no memory"))?;
                let mut buf = vec![0u8; len as usize];
                memory.read(&caller, ptr as usize, &mut buf)?;
                Ok(buf.iter().map(|&b| u32::from(b)).sum())
            },
        )
        .build()?;
    assert_eq!(sandbox.call::<(), u32>("run", ())?, 10);
    Ok(())
}

#[test]
fn a_host_function_error_fails_the_call_with_its_message() -> Result<(), Error> {
    let wat = r#"(module
        (import "host" "check" (func $check (param i32) (result i32)))
        (import "host" "strict" (func $strict (param i32)))
        (func (export "check") (param i32) (result i32) (call $check (local.get 0)))
        (func (export "strict") (param i32) (call $strict (local.get 0))))"#;
    let sandbox = Sandbox::builder()
        .bytes(wat)
        .host_function("host", "check", |x: i32| -> anyhow::Result<i32> {
            if x < 0 {
                return Err(anyhow::anyhow!("negative input {x}").context("check refused"));
            }
            Ok(x * 2)
        })
        .host_function("host", "strict", |x: i32| -> kiln::Result<()> {
            if x == 0 {
                Err(kiln::Error::msg("zero is not allowed"))
            } else {
                Ok(())
            }
        })
        .build()?;
    assert_eq!(sandbox.call::<i32, i32>("check", 4)?, 8);
    match sandbox.call::<i32, i32>("check", -1) {
        Err(Error::Host(m)) => {
            assert!(m.contains("check refused"), "{m}");
            assert!(m.contains("negative input -1"), "{m}");
        }
        other => panic!("expected a host error, got {other:?}"),
    }
    match sandbox.call::<i32, ()>("strict", 0) {
        Err(e @ Error::Host(_)) => {
            assert_eq!(e.to_string(), "host function failed: zero is not allowed")
        }
        other => panic!("expected a host error, got {other:?}"),
    }
    // The sandbox stays usable.
    assert_eq!(sandbox.call::<i32, i32>("check", 5)?, 10);
    sandbox.call::<i32, ()>("strict", 1)?;
    Ok(())
}

#[test]
fn a_host_function_may_trap_with_a_trap_code() -> Result<(), Error> {
    let wat = r#"(module
        (import "host" "stop" (func $stop))
        (func (export "run") (call $stop)))"#;
    let sandbox = Sandbox::builder()
        .bytes(wat)
        .host_function("host", "stop", || -> Result<(), kiln::TrapCode> {
            Err(kiln::TrapCode::Unreachable)
        })
        .build()?;
    assert_eq!(
        sandbox
            .call::<(), ()>("run", ())
            .err()
            .and_then(|e| e.trap_code()),
        Some(kiln_sandbox::TrapCode::Unreachable)
    );
    Ok(())
}

#[test]
fn a_mistyped_import_is_refused_at_build_naming_both_types() {
    // The guest imports `host::add` as (i64) -> i64; the host defines (i32, i32) -> i32.
    let wat = r#"(module
        (import "host" "add" (func $add (param i64) (result i64)))
        (func (export "f") (result i64) (call $add (i64.const 1))))"#;
    match Sandbox::builder()
        .bytes(wat)
        .host_function("host", "add", |a: i32, b: i32| a + b)
        .build()
    {
        Err(Error::Link(m)) => {
            assert!(m.contains("`host::add`"), "{m}");
            assert!(m.contains("(i32, i32) -> (i32)"), "{m}");
            assert!(m.contains("(i64) -> (i64)"), "{m}");
        }
        other => panic!("expected a link error, got {other:?}"),
    }
    // A host function where the module imports a global.
    let wat = r#"(module (import "host" "g" (global i32)))"#;
    match Sandbox::builder()
        .bytes(wat)
        .host_function("host", "g", || 1i32)
        .build()
    {
        Err(Error::Link(m)) => assert!(m.contains("`host::g`") && m.contains("global"), "{m}"),
        other => panic!("expected a link error, got {other:?}"),
    }
}

#[test]
fn an_import_without_a_host_function_is_refused() {
    match Sandbox::builder()
        .bytes(GUEST)
        .host_function("host", "add", |a: i32, b: i32| a + b)
        .build()
    {
        Err(Error::Link(m)) => {
            assert!(m.contains("`host::mix`"), "{m}");
            assert!(m.contains("`env::tick`"), "{m}");
            assert!(!m.contains("`host::add`"), "{m}");
        }
        other => panic!("expected a link error, got {other:?}"),
    }
}

#[test]
fn a_second_definition_of_a_name_is_refused() {
    let wat = r#"(module (import "host" "f" (func)))"#;
    match Sandbox::builder()
        .bytes(wat)
        .host_function("host", "f", || {})
        .host_function("host", "f", || {})
        .build()
    {
        Err(Error::Config(m)) => assert!(m.contains("`host::f`"), "{m}"),
        other => panic!("expected a configuration error, got {other:?}"),
    }
    // WASI's own names are taken when WASI is granted.
    match Sandbox::builder()
        .bytes(wat)
        .wasi(true)
        .host_function("wasi_snapshot_preview1", "fd_write", || {})
        .build()
    {
        Err(Error::Config(m)) => assert!(m.contains("fd_write"), "{m}"),
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[test]
fn host_functions_are_refused_on_wasmtime() {
    let result = Sandbox::builder()
        .bytes(r#"(module (import "host" "f" (func)))"#)
        .runtime_backend(kiln_sandbox::RuntimeBackend::Wasmtime)
        .host_function("host", "f", || {})
        .build();
    match result {
        Err(Error::Unsupported(m)) => {
            // Without the feature, Wasmtime itself is refused as well.
            assert!(m.contains("host_function on the Wasmtime backend"), "{m}")
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[test]
fn a_sandbox_with_host_functions_moves_between_threads() -> Result<(), Error> {
    let sandbox = Sandbox::builder()
        .bytes(GUEST)
        .host_function("host", "add", |a: i32, b: i32| a + b)
        .host_function("host", "mix", |a: i64, b: f64| a as f64 + b)
        .host_function("env", "tick", || {})
        .build()?;
    let sum = std::thread::spawn(move || sandbox.call::<(i32, i32, i32), i32>("sum3", (1, 1, 1)))
        .join()
        .map_err(|_| Error::Runtime("thread panicked".into()))??;
    assert_eq!(sum, 3);
    Ok(())
}

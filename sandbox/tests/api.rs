//! The builder and the call API on every backend.

mod common;

use common::{assert_usable, backends, builder, module, sandbox};
use kiln_sandbox::{Error, JitSpecialization, OptimizationLevel, RuntimeBackend, Sandbox, Val};
use std::time::Duration;

const ADD_WAT: &str = r#"(module
    (func (export "add") (param i32 i32) (result i32)
        (i32.add (local.get 0) (local.get 1))))"#;

#[test]
fn readme_example_on_custom_jit() -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("module.wasm");
    std::fs::write(&path, ADD_WAT)?;
    let sandbox = Sandbox::builder()
        .source(&path)
        .runtime_backend(RuntimeBackend::CustomJIT {
            optimization_level: OptimizationLevel::Speed,
            specialization: JitSpecialization::None,
            code_cache: false,
            profile_guided: false,
        })
        .memory_limit(64 << 20)
        .fuel(10_000_000)
        .timeout(Duration::from_millis(500))
        .build()?;
    let sum: i32 = sandbox.call("add", (1i32, 2i32))?;
    assert_eq!(sum, 3);
    assert_eq!(sandbox.runtime_backend().name(), "kiln");
    Ok(())
}

#[test]
fn the_same_example_on_every_backend() -> Result<(), Error> {
    for backend in backends() {
        let sandbox = Sandbox::builder()
            .bytes(ADD_WAT)
            .runtime_backend(backend)
            .memory_limit(64 << 20)
            .fuel(10_000_000)
            .timeout(Duration::from_millis(500))
            .max_table_elements(1000)
            .max_wasm_stack(256 << 10)
            .build()?;
        for i in 0..5 {
            assert_eq!(sandbox.call::<(i32, i32), i32>("add", (i, 2))?, i + 2);
        }
    }
    Ok(())
}

#[test]
fn every_optimization_level_compiles() -> Result<(), Error> {
    for optimization_level in [
        OptimizationLevel::None,
        OptimizationLevel::Speed,
        OptimizationLevel::SpeedAndSize,
        OptimizationLevel::Aggressive,
    ] {
        let sandbox = Sandbox::builder()
            .bytes(ADD_WAT)
            .runtime_backend(RuntimeBackend::CustomJIT {
                optimization_level,
                specialization: JitSpecialization::None,
                code_cache: false,
                profile_guided: false,
            })
            .build()?;
        assert_eq!(sandbox.call::<(i32, i32), i32>("add", (2, 3))?, 5);
    }
    Ok(())
}

const TYPES: &str = r#"
    (func (export "i64") (param i64) (result i64) (i64.mul (local.get 0) (i64.const 3)))
    (func (export "f32") (param f32) (result f32) (f32.mul (local.get 0) (f32.const 2)))
    (func (export "f64") (param f64 f64) (result f64) (f64.add (local.get 0) (local.get 1)))
    (func (export "pair") (param i32) (result i32 i64)
        (local.get 0) (i64.extend_i32_s (local.get 0)))
    (func (export "nothing"))
    (func (export "v128") (param v128) (result v128) (i32x4.add (local.get 0) (local.get 0)))
    (func (export "ref") (param funcref))"#;

#[test]
fn typed_calls_of_every_value_type() -> Result<(), Error> {
    for backend in backends() {
        let s = sandbox(backend, &module(TYPES));
        assert_eq!(s.call::<i64, i64>("i64", 1 << 40)?, 3 << 40);
        assert_eq!(s.call::<u64, u64>("i64", 5)?, 15);
        assert_eq!(s.call::<f32, f32>("f32", 1.25)?, 2.5);
        assert_eq!(s.call::<(f64, f64), f64>("f64", (0.5, 0.25))?, 0.75);
        assert_eq!(s.call::<i32, (i32, i64)>("pair", -7)?, (-7, -7));
        assert_eq!(s.call::<(u32, u32), u32>("add", (u32::MAX, 2))?, 1);
        s.call::<(), ()>("nothing", ())?;
        assert_eq!(s.call::<u128, u128>("v128", 1 | (2 << 32))?, 2 | (4 << 32));
    }
    Ok(())
}

#[test]
fn dynamic_calls() -> Result<(), Error> {
    for backend in backends() {
        let s = sandbox(backend, &module(TYPES));
        assert_eq!(
            s.call_dynamic("add", &[Val::I32(1), Val::I32(2)])?,
            vec![Val::I32(3)]
        );
        assert_eq!(
            s.call_dynamic("pair", &[Val::I32(4)])?,
            vec![Val::I32(4), Val::I64(4)]
        );
        assert_eq!(
            s.call_dynamic("f64", &[Val::F64(1.0), Val::F64(2.0)])?,
            vec![Val::F64(3.0)]
        );
        assert!(s.call_dynamic("nothing", &[])?.is_empty());
        match s.call_dynamic("add", &[Val::I64(1), Val::I32(2)]) {
            Err(Error::Type(m)) => {
                assert!(m.contains("(i32, i32)") && m.contains("(i64, i32)"), "{m}")
            }
            other => panic!("{}: {other:?}", backend.name()),
        }
        match s.call_dynamic("ref", &[]) {
            Err(Error::Type(m)) => assert!(m.contains("reference"), "{m}"),
            other => panic!("{}: {other:?}", backend.name()),
        }
        assert_usable(&s, backend);
    }
    Ok(())
}

#[test]
fn wrong_signatures_and_missing_exports() {
    for backend in backends() {
        let s = sandbox(backend, &module(TYPES));
        match s.call::<i32, i32>("add", 1) {
            Err(Error::Type(m)) => {
                assert!(
                    m.contains("(i32, i32) -> (i32)") && m.contains("(i32) -> (i32)"),
                    "{m}"
                )
            }
            other => panic!("{}: {other:?}", backend.name()),
        }
        match s.call::<(), ()>("nope", ()) {
            Err(Error::Export(m)) => assert!(m.contains("`nope`"), "{m}"),
            other => panic!("{}: {other:?}", backend.name()),
        }
        match s.run() {
            Err(Error::Export(m)) => assert!(m.contains("_start"), "{m}"),
            other => panic!("{}: {other:?}", backend.name()),
        }
        assert_usable(&s, backend);
    }
}

#[test]
fn builder_errors() {
    match Sandbox::builder().build() {
        Err(Error::Config(m)) => assert!(m.contains(".source"), "{m}"),
        other => panic!("{other:?}"),
    }
    match Sandbox::builder()
        .source("/definitely/not/here.wasm")
        .build()
    {
        Err(Error::Io(e)) => {
            assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
            assert!(e.to_string().contains("/definitely/not/here.wasm"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn ids_are_unique_and_known_before_build() -> Result<(), Error> {
    let b = builder(RuntimeBackend::default(), ADD_WAT);
    let id = b.id();
    let s = b.build()?;
    assert_eq!(s.id(), id);
    let t = builder(RuntimeBackend::default(), ADD_WAT).build()?;
    assert_ne!(s.id(), t.id());
    Ok(())
}

#[test]
fn sandboxes_move_between_threads() -> Result<(), Error> {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Sandbox>();
    for backend in backends() {
        let s = sandbox(backend, ADD_WAT);
        let sum = std::thread::spawn(move || s.call::<(i32, i32), i32>("add", (2, 2)))
            .join()
            .map_err(|_| Error::Runtime("thread panicked".into()))??;
        assert_eq!(sum, 4);
    }
    Ok(())
}

#[test]
fn a_reactor_is_initialized_once_before_calls() -> Result<(), Error> {
    let wat = r#"(module
        (global $n (mut i32) (i32.const 0))
        (func (export "_initialize") (global.set $n (i32.add (global.get $n) (i32.const 10))))
        (func (export "n") (result i32) (global.get $n)))"#;
    for backend in backends() {
        let s = sandbox(backend, wat);
        assert_eq!(s.call::<(), i32>("n", ())?, 10, "{}", backend.name());
        assert_eq!(s.call::<(), i32>("n", ())?, 10);
    }
    Ok(())
}

//! Flags whose feature has not landed are refused, naming the flag; never ignored.

mod common;

use kiln_sandbox::{
    CompileStrategy, Error, JitSpecialization, OptimizationLevel, RuntimeBackend, Sandbox,
};

const WAT: &str = r#"(module (func (export "f") (result i32) (i32.const 7)))"#;

fn jit(
    specialization: JitSpecialization,
    code_cache: bool,
    profile_guided: bool,
) -> RuntimeBackend {
    RuntimeBackend::CustomJIT {
        optimization_level: OptimizationLevel::Speed,
        specialization,
        code_cache,
        profile_guided,
    }
}

fn refusal(backend: RuntimeBackend) -> String {
    match Sandbox::builder()
        .bytes(WAT)
        .runtime_backend(backend)
        .build()
    {
        Err(Error::Unsupported(m)) => m,
        other => panic!("{backend:?} was not refused: {other:?}"),
    }
}

#[test]
fn code_cache_is_accepted() -> Result<(), Error> {
    let dir = tempfile::tempdir().expect("temp dir");
    let s = Sandbox::builder()
        .bytes(WAT)
        .code_cache_directory(dir.path())
        .runtime_backend(jit(JitSpecialization::None, true, false))
        .build()?;
    assert_eq!(s.call::<(), i32>("f", ())?, 7);
    Ok(())
}

#[test]
fn profile_guided_runs_tiered_code_with_a_profile() -> Result<(), Error> {
    let s = Sandbox::builder()
        .bytes(
            r#"(module
                (type $t (func (result i32)))
                (table funcref (elem $seven))
                (func $seven (result i32) (i32.const 7))
                (func (export "f") (result i32)
                    (call_indirect (type $t) (i32.const 0))))"#,
        )
        .runtime_backend(jit(JitSpecialization::None, false, true))
        .build()?;
    for _ in 0..2000 {
        assert_eq!(s.call::<(), i32>("f", ())?, 7);
    }
    Ok(())
}

#[test]
fn profile_guided_is_refused_with_the_code_cache_or_lazy_code() {
    let m = refusal(jit(JitSpecialization::None, true, true));
    assert!(
        m.contains("profile_guided") && m.contains("code_cache"),
        "{m}"
    );
    let err = Sandbox::builder()
        .bytes("(module)")
        .runtime_backend(jit(JitSpecialization::None, false, true))
        .compile_strategy(CompileStrategy::Lazy)
        .build()
        .map(|_| ())
        .expect_err("lazy code records no profile");
    assert!(err.to_string().contains("CompileStrategy::Lazy"), "{err}");
}

/// Calls `clock_time_get(clock, 0, at)` and returns the errno plus 100 if it wrote a
/// non-zero time.
const CLOCKS: &str = r#"(module
    (import "wasi_snapshot_preview1" "clock_time_get"
        (func $time (param i32 i64 i32) (result i32)))
    (import "host" "add" (func $add (param i32 i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "time") (param $clock i32) (param $at i32) (result i32)
        (local $e i32)
        (i64.store (i32.const 0) (i64.const 0))
        (local.set $e (call $time (local.get $clock) (i64.const 0) (local.get $at)))
        (call $add (local.get $e)
            (select (i32.const 100) (i32.const 0)
                (i64.ne (i64.load (i32.const 0)) (i64.const 0))))))"#;

#[test]
fn host_function_specialization_inlines_wasi_and_calls_host_functions() -> Result<(), Error> {
    for specialization in [JitSpecialization::HostFunction, JitSpecialization::None] {
        let s = Sandbox::builder()
            .bytes(CLOCKS)
            .wasi(true)
            .host_function("host", "add", |a: i32, b: i32| a.wrapping_add(b))
            .runtime_backend(jit(specialization, false, false))
            .build()?;
        // Realtime and monotonic (the fast path), CPU time (the generic one).
        for clock in 0..4 {
            assert_eq!(s.call::<(i32, i32), i32>("time", (clock, 0))?, 100);
        }
        // An unknown clock: EINVAL; a pointer past the end: EFAULT.
        assert_eq!(s.call::<(i32, i32), i32>("time", (9, 0))?, 28);
        assert_eq!(s.call::<(i32, i32), i32>("time", (1, 65_530))?, 21);
    }
    Ok(())
}

#[test]
fn every_refused_flag_is_named() {
    let m = refusal(jit(JitSpecialization::HostFunction, true, true));
    assert!(m.contains("profile_guided"), "{m}");
    assert!(!m.contains("specialization"), "{m}");
}

#[test]
fn no_specialization_is_accepted() -> Result<(), Error> {
    let s = Sandbox::builder()
        .bytes(WAT)
        .runtime_backend(jit(JitSpecialization::None, false, false))
        .build()?;
    assert_eq!(s.call::<(), i32>("f", ())?, 7);
    Ok(())
}

#[cfg(not(feature = "wasmtime-backend"))]
#[test]
fn wasmtime_needs_its_feature() {
    let m = refusal(RuntimeBackend::Wasmtime);
    assert!(
        m.contains("built without the wasmtime-backend feature"),
        "{m}"
    );
}

#[cfg(feature = "wasmtime-backend")]
#[test]
fn wasmtime_runs_with_its_feature() -> Result<(), Error> {
    let s = Sandbox::builder()
        .bytes(WAT)
        .runtime_backend(RuntimeBackend::Wasmtime)
        .build()?;
    assert_eq!(s.call::<(), i32>("f", ())?, 7);
    assert_eq!(s.runtime_backend().name(), "wasmtime");
    Ok(())
}

#[test]
fn lazy_and_tiered_strategies_run_and_refuse_the_code_cache() -> Result<(), Error> {
    use kiln_sandbox::CompileStrategy;
    for strategy in [
        CompileStrategy::Eager,
        CompileStrategy::Lazy,
        CompileStrategy::Tiered,
    ] {
        let s = Sandbox::builder()
            .bytes(WAT)
            .compile_strategy(strategy)
            .build()?;
        assert_eq!(s.call::<(), i32>("f", ())?, 7, "{strategy:?}");
    }
    match Sandbox::builder()
        .bytes(WAT)
        .compile_strategy(CompileStrategy::Tiered)
        .runtime_backend(jit(JitSpecialization::None, true, false))
        .build()
    {
        Err(Error::Unsupported(m)) => {
            assert!(m.contains("code_cache") && m.contains("Tiered"), "{m}")
        }
        other => panic!("code_cache with Tiered was not refused: {other:?}"),
    }
    Ok(())
}

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

#[test]
fn host_function_specialization_is_refused() {
    let m = refusal(jit(JitSpecialization::HostFunction, false, false));
    assert!(
        m.contains("specialization") && m.contains("HostFunction"),
        "{m}"
    );
}

#[test]
fn every_refused_flag_is_named() {
    let m = refusal(jit(JitSpecialization::HostFunction, true, true));
    for flag in ["profile_guided", "specialization"] {
        assert!(m.contains(flag), "{flag} missing from: {m}");
    }
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

//! `SandboxModule`: one compilation, many sandboxes with their own state; settings the
//! module's engine cannot serve are refused, naming the difference.

use kiln_sandbox::{
    Error, JitSpecialization, OptimizationLevel, RuntimeBackend, Sandbox, SandboxModule,
};
use std::time::Duration;

const COUNTER: &str = r#"(module
    (import "host" "base" (func $base (result i32)))
    (memory (export "memory") 1)
    (global $n (mut i32) (i32.const 0))
    (func (export "next") (result i32)
        (global.set $n (i32.add (global.get $n) (i32.const 1)))
        (i32.add (call $base) (global.get $n)))
    (func (export "spin") (loop (br 0))))"#;

#[test]
fn sandboxes_of_one_module_have_their_own_state() -> Result<(), Error> {
    let template = Sandbox::builder()
        .bytes(COUNTER)
        .fuel(1_000_000)
        .timeout(Duration::from_secs(10));
    let module = SandboxModule::new(&template)?;
    assert!(module.meters_fuel() && module.interruptible());
    // Each sandbox has its own instance, limits' values and host functions.
    let a = template
        .clone()
        .module(&module)
        .host_function("host", "base", || 100)
        .build()?;
    let b = Sandbox::builder()
        .module(&module)
        .fuel(10_000)
        .host_function("host", "base", || 200)
        .build()?;
    assert_eq!(a.call::<(), i32>("next", ())?, 101);
    assert_eq!(a.call::<(), i32>("next", ())?, 102);
    assert_eq!(b.call::<(), i32>("next", ())?, 201);
    a.write_memory(0, b"a")?;
    assert_eq!(b.read_memory(0, 1)?, [0]);
    // `b`'s fuel is its own.
    assert_eq!(
        b.call::<(), ()>("spin", ())
            .err()
            .and_then(|e| e.resource_kind()),
        Some(kiln_sandbox::ResourceKind::Fuel)
    );
    assert_eq!(a.call::<(), i32>("next", ())?, 103);
    // Sandboxes of one module run on different threads at once.
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let module = module.clone();
            std::thread::spawn(move || -> Result<i32, Error> {
                let s = Sandbox::builder()
                    .module(&module)
                    .host_function("host", "base", move || i * 10)
                    .build()?;
                s.call::<(), i32>("next", ())
            })
        })
        .collect();
    for (i, t) in (0..).zip(threads) {
        let r = t
            .join()
            .map_err(|_| Error::Runtime("thread panicked".into()))??;
        assert_eq!(r, i * 10 + 1);
    }
    Ok(())
}

#[test]
fn a_module_with_fuel_and_interruption_serves_sandboxes_without_them() -> Result<(), Error> {
    let module = SandboxModule::new(
        &Sandbox::builder()
            .bytes(COUNTER)
            .fuel(1)
            .timeout(Duration::from_secs(1)),
    )?;
    let s = Sandbox::builder()
        .module(&module)
        .host_function("host", "base", || 0)
        .build()?;
    assert_eq!(s.call::<(), i32>("next", ())?, 1);
    Ok(())
}

#[test]
fn needs_the_engine_lacks_are_refused() -> Result<(), Error> {
    let plain = SandboxModule::new(&Sandbox::builder().bytes(COUNTER))?;
    assert!(!plain.meters_fuel() && !plain.interruptible());
    let refusal = |b: kiln_sandbox::SandboxBuilder| match b
        .module(&plain)
        .host_function("host", "base", || 0)
        .build()
    {
        Err(Error::Config(m)) => m,
        other => panic!("expected a configuration error, got {other:?}"),
    };
    let m = refusal(Sandbox::builder().fuel(10));
    assert!(m.contains("fuel"), "{m}");
    let m = refusal(Sandbox::builder().timeout(Duration::from_secs(1)));
    assert!(m.contains("timeout"), "{m}");
    let m = refusal(Sandbox::builder().max_wasm_stack(128 << 10));
    assert!(m.contains("max_wasm_stack"), "{m}");
    let m = refusal(
        Sandbox::builder().runtime_backend(RuntimeBackend::CustomJIT {
            optimization_level: OptimizationLevel::None,
            specialization: JitSpecialization::None,
            code_cache: false,
            profile_guided: false,
        }),
    );
    assert!(m.contains("None"), "{m}");
    // The plain module serves a plain sandbox.
    Sandbox::builder()
        .module(&plain)
        .host_function("host", "base", || 0)
        .build()?;
    Ok(())
}

#[test]
fn a_module_that_does_not_compile_is_a_module_error() {
    match SandboxModule::new(&Sandbox::builder().bytes("(module (func (i32.add)))")) {
        Err(Error::Module(_)) => {}
        other => panic!("expected a module error, got {other:?}"),
    }
    match SandboxModule::new(&Sandbox::builder()) {
        Err(Error::Config(m)) => assert!(m.contains("no module"), "{m}"),
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[test]
fn shared_modules_are_refused_on_wasmtime() {
    let b = Sandbox::builder()
        .bytes(COUNTER)
        .runtime_backend(RuntimeBackend::Wasmtime);
    match SandboxModule::new(&b) {
        Err(Error::Unsupported(m)) => assert!(m.contains("Wasmtime"), "{m}"),
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[test]
fn code_cache_compiles_a_module_once_for_many_sandboxes() {
    let dir = tempfile::tempdir().unwrap();
    let cached = || {
        Sandbox::builder()
            .bytes(COUNTER)
            // Settings no other test uses, so that this test's engine is its own.
            .max_wasm_stack(3 << 20)
            .host_function("host", "base", || 0)
            .code_cache_directory(dir.path())
            .runtime_backend(RuntimeBackend::CustomJIT {
                optimization_level: OptimizationLevel::Speed,
                specialization: JitSpecialization::None,
                code_cache: true,
                profile_guided: false,
            })
    };
    let before = kiln_sandbox::code_cache_usage();
    let a = cached().build().expect("builds");
    let b = cached().build().expect("builds");
    let after = kiln_sandbox::code_cache_usage();
    assert_eq!(after.misses - before.misses, 1, "{before:?} -> {after:?}");
    assert_eq!(
        after.memory_hits - before.memory_hits,
        1,
        "{before:?} -> {after:?}"
    );
    // Each sandbox has its own instance.
    assert_eq!(a.call::<(), i32>("next", ()).unwrap(), 1);
    assert_eq!(a.call::<(), i32>("next", ()).unwrap(), 2);
    assert_eq!(b.call::<(), i32>("next", ()).unwrap(), 1);
    // The module is on disk, authenticated with the directory's key.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n.ends_with(".kwasm")), "{names:?}");
    assert!(names.iter().any(|n| n == "artifact.key"), "{names:?}");
}

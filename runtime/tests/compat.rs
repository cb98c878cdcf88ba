//! What a Wasmtime user reaches for first works the same way: host functions returning
//! `anyhow::Result`, `err.downcast_ref::<Trap>()`, `InstancePre`, traps with
//! backtraces naming functions and code offsets, and deadlines that cover compilation.

use kiln::*;
use std::time::{Duration, Instant};

#[test]
fn host_functions_may_return_anyhow_results() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module (import "host" "check" (func $c (param i32) (result i32)))
            (func (export "f") (param i32) (result i32) (call $c (local.get 0))))"#,
    )
    .expect("compiles");
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap("host", "check", |x: i32| -> anyhow::Result<i32> {
            anyhow::ensure!(x >= 0, "negative: {x}");
            Ok(x * 2)
        })
        .expect("defines");
    let mut store = Store::new(&engine, ());
    let i = linker
        .instantiate(&mut store, &module)
        .expect("instantiates");
    let f = i.get_typed_func::<i32, i32>(&store, "f").expect("f");
    assert_eq!(f.call(&mut store, 21).expect("ok"), 42);
    let err = f.call(&mut store, -1).expect_err("fails");
    assert!(err.to_string().contains("negative: -1"), "{err}");
    // A host function can make the guest trap with a Wasmtime-style code.
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap("host", "check", |_: i32| -> Result<i32> {
            Err(TrapCode::Unreachable.into())
        })
        .expect("defines");
    let i = linker
        .instantiate(&mut store, &module)
        .expect("instantiates");
    let f = i.get_typed_func::<i32, i32>(&store, "f").expect("f");
    let err = f.call(&mut store, 1).expect_err("traps");
    assert_eq!(err.downcast_ref::<TrapCode>(), Some(&TrapCode::Unreachable));
}

#[test]
fn traps_downcast_like_wasmtime_and_name_their_frames() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module $m (memory 1)
            (func $inner (export "oob") (result i32) (i32.load (i32.const 65536)))
            (func $outer (export "outer") (result i32) (call $inner)))"#,
    )
    .expect("compiles");
    let mut store = Store::new(&engine, ());
    let i = Instance::new(&mut store, &module, &[]).expect("instantiates");
    let f = i.get_typed_func::<(), i32>(&store, "outer").expect("outer");
    let err = f.call(&mut store, ()).expect_err("out of bounds");
    let trap = err.downcast_ref::<Trap>().expect("a Trap");
    assert_eq!(trap.code(), TrapCode::MemoryOutOfBounds);
    assert_eq!(
        err.downcast_ref::<TrapCode>(),
        Some(&TrapCode::MemoryOutOfBounds)
    );
    // The guard page caught it: the trap knows the address and the memory's size.
    let fault = trap
        .memory_fault()
        .expect("a guard-page fault has an address");
    assert_eq!((fault.address, fault.memory_size), (65536, 65536));
    let shown = err.to_string();
    assert!(shown.contains("at address 0x10000"), "{shown}");
    // Frames: names and code offsets, innermost first.
    let names: Vec<_> = trap
        .backtrace()
        .iter()
        .map(|f| f.func_name.clone().unwrap_or_default())
        .collect();
    assert_eq!(names, ["inner", "outer"]);
    assert!(
        trap.backtrace()[1].code_offset > 0,
        "the call is inside outer"
    );
    assert!(shown.contains("m!inner+0x"), "{shown}");
    // A host error is not a trap.
    assert!(Error::msg("x").downcast_ref::<Trap>().is_none());
}

#[test]
fn instance_pre_links_once_and_instantiates_many_times() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module (import "host" "inc" (func $inc (result i32)))
            (func (export "f") (result i32) (call $inc)))"#,
    )
    .expect("compiles");
    let mut linker: Linker<u32> = Linker::new(&engine);
    linker
        .func_wrap("host", "inc", |mut c: Caller<'_, u32>| -> u32 {
            *c.data_mut() += 1;
            *c.data()
        })
        .expect("defines");
    let pre = linker.instantiate_pre(&module).expect("links");
    for start in [0u32, 10, 100] {
        let mut store = Store::new(&engine, start);
        let i = pre.instantiate(&mut store).expect("instantiates");
        let f = i.get_typed_func::<(), u32>(&store, "f").expect("f");
        assert_eq!(f.call(&mut store, ()).expect("runs"), start + 1);
    }
    let err = Linker::<u32>::new(&engine)
        .instantiate_pre(&module)
        .expect_err("nothing defined");
    assert!(err.to_string().contains("host::inc"), "{err}");
}

#[test]
fn a_compile_deadline_stops_compilation() {
    let engine = Engine::default();
    let many: String = (0..2000)
        .map(|k| format!("(func (param i32) (result i32) (i32.add (local.get 0) (i32.const {k})))"))
        .collect();
    let wat = format!("(module {many})");
    // A deadline already passed: nothing is compiled.
    let err = Module::new_until(&engine, &wat, Instant::now()).expect_err("late");
    assert_eq!(err.downcast_ref::<TrapCode>(), Some(&TrapCode::Interrupted));
    // A generous one: compiled.
    Module::new_until(&engine, &wat, Instant::now() + Duration::from_secs(3600)).expect("compiles");
}

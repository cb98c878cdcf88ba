use kiln::*;

#[test]
fn add_and_traps() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module
        (func $add (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
        (func $div (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
        (memory (export "mem") 1)
        (func $load (export "load") (param i32) (result i32) (i32.load (local.get 0)))
        (func $rec (export "rec") (param i32) (result i32) (call $rec (i32.add (local.get 0) (i32.const 1))))
        (func $unr (export "unr") unreachable))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let add = instance
        .get_typed_func::<(i32, i32), i32>(&store, "add")
        .unwrap();
    assert_eq!(add.call(&mut store, (1, 2)).unwrap(), 3);
    let div = instance
        .get_typed_func::<(i32, i32), i32>(&store, "div")
        .unwrap();
    let e = div.call(&mut store, (1, 0)).unwrap_err();
    assert_eq!(
        e.as_trap().unwrap().code(),
        TrapCode::IntegerDivisionByZero,
        "{e}"
    );
    let e = div.call(&mut store, (i32::MIN, -1)).unwrap_err();
    assert_eq!(
        e.as_trap().unwrap().code(),
        TrapCode::IntegerOverflow,
        "{e}"
    );
    let load = instance.get_typed_func::<i32, i32>(&store, "load").unwrap();
    assert_eq!(load.call(&mut store, 0).unwrap(), 0);
    let e = load.call(&mut store, 65536).unwrap_err();
    assert_eq!(
        e.as_trap().unwrap().code(),
        TrapCode::MemoryOutOfBounds,
        "{e}"
    );
    let rec = instance.get_typed_func::<i32, i32>(&store, "rec").unwrap();
    let e = rec.call(&mut store, 0).unwrap_err();
    assert_eq!(e.as_trap().unwrap().code(), TrapCode::StackOverflow);
    let unr = instance.get_typed_func::<(), ()>(&store, "unr").unwrap();
    let e = unr.call(&mut store, ()).unwrap_err();
    println!("{e}");
    assert_eq!(e.as_trap().unwrap().code(), TrapCode::Unreachable);
    assert_eq!(add.call(&mut store, (40, 2)).unwrap(), 42);
}

#[test]
fn host_functions() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module
        (import "env" "double" (func $d (param i32) (result i32)))
        (import "env" "fail" (func $f))
        (func (export "run") (param i32) (result i32) (call $d (local.get 0)))
        (func (export "fail") (call $f)))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, 5i32);
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap("env", "double", |c: Caller<'_, i32>, x: i32| {
            x * 2 + *c.data()
        })
        .unwrap();
    linker
        .func_new("env", "fail", FuncType::new([], []), |_, _, _| {
            Err(Error::msg("boom"))
        })
        .unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let run = instance.get_typed_func::<i32, i32>(&store, "run").unwrap();
    assert_eq!(run.call(&mut store, 10).unwrap(), 25);
    let fail = instance.get_func(&store, "fail").unwrap();
    let e = fail.call(&mut store, &[], &mut []).unwrap_err();
    assert_eq!(e.to_string(), "boom");
    assert_eq!(run.call(&mut store, 1).unwrap(), 7);
}

//! Host functions: typed and dynamic, `Caller` access to exports, errors and panics,
//! and re-entrancy (wasm → host → wasm).

use kiln::*;
use std::sync::atomic::{AtomicU32, Ordering};

const MODULE: &str = r#"(module
  (import "host" "add" (func $add (param i32 i32) (result i32)))
  (import "host" "peek" (func $peek (param i32) (result i32)))
  (import "host" "fail" (func $fail))
  (import "host" "panic" (func $panic))
  (import "host" "reenter" (func $reenter (param i32) (result i32)))
  (import "host" "multi" (func $multi (param i64) (result i64 f64)))
  (memory (export "memory") 1)
  (data (i32.const 16) "\2a")
  (func (export "add") (param i32 i32) (result i32) (call $add (local.get 0) (local.get 1)))
  (func (export "peek") (result i32) (call $peek (i32.const 16)))
  (func (export "fail") (call $fail))
  (func (export "panic") (call $panic))
  (func $count (export "count") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.const 0))
      (else (i32.add (i32.const 1) (call $reenter (i32.sub (local.get 0) (i32.const 1)))))))
  (func (export "multi") (param i64) (result f64) (local $f f64)
    (call $multi (local.get 0))
    (local.set $f)
    (drop)
    (local.get $f)))"#;

static REENTERED: AtomicU32 = AtomicU32::new(0);

fn linker(engine: &Engine) -> Linker<u32> {
    let mut l = Linker::new(engine);
    l.func_wrap("host", "add", |mut c: Caller<'_, u32>, a: i32, b: i32| {
        *c.data_mut() += 1;
        a.wrapping_add(b)
    })
    .expect("define add");
    l.func_wrap(
        "host",
        "peek",
        |mut c: Caller<'_, u32>, addr: i32| -> Result<i32> {
            let mem = c
                .get_export("memory")
                .and_then(Extern::into_memory)
                .ok_or_else(|| Error::msg("no memory"))?;
            Ok(mem.data(&c)[addr as usize].into())
        },
    )
    .expect("define peek");
    l.func_new("host", "fail", FuncType::new([], []), |_, _, _| {
        Err(Error::msg("the host says no"))
    })
    .expect("define fail");
    l.func_wrap("host", "panic", || -> () { panic!("host panic") })
        .expect("define panic");
    l.func_wrap(
        "host",
        "reenter",
        |mut c: Caller<'_, u32>, n: i32| -> Result<i32> {
            REENTERED.fetch_add(1, Ordering::Relaxed);
            let count = c
                .get_export("count")
                .and_then(Extern::into_func)
                .ok_or_else(|| Error::msg("no count"))?
                .typed::<i32, i32>(&c)?;
            count.call(&mut c, n)
        },
    )
    .expect("define reenter");
    l.func_new(
        "host",
        "multi",
        FuncType::new([ValType::I64], [ValType::I64, ValType::F64]),
        |_, p, r| {
            let x = p[0].i64().ok_or_else(|| Error::msg("not i64"))?;
            r[0] = Val::I64(x);
            r[1] = Val::F64((x as f64 * 0.5).to_bits());
            Ok(())
        },
    )
    .expect("define multi");
    l
}

fn setup() -> (Store<u32>, Instance) {
    let engine = Engine::default();
    let module = Module::new(&engine, MODULE).expect("module compiles");
    let mut store = Store::new(&engine, 0u32);
    let instance = linker(&engine)
        .instantiate(&mut store, &module)
        .expect("instantiates");
    (store, instance)
}

#[test]
fn typed_host_functions_see_the_store() {
    let (mut store, instance) = setup();
    let add = instance
        .get_typed_func::<(i32, i32), i32>(&store, "add")
        .expect("typed");
    assert_eq!(add.call(&mut store, (2, 3)).expect("call"), 5);
    assert_eq!(add.call(&mut store, (i32::MAX, 1)).expect("call"), i32::MIN);
    assert_eq!(*store.data(), 2);
    let peek = instance
        .get_typed_func::<(), i32>(&store, "peek")
        .expect("typed");
    assert_eq!(peek.call(&mut store, ()).expect("call"), 42);
}

#[test]
fn host_errors_become_errors_and_the_store_survives() {
    let (mut store, instance) = setup();
    let fail = instance.get_func(&store, "fail").expect("export");
    let err = fail.call(&mut store, &[], &mut []).expect_err("fails");
    assert!(err.as_trap().is_none());
    assert_eq!(err.to_string(), "the host says no");
    let add = instance
        .get_typed_func::<(i32, i32), i32>(&store, "add")
        .expect("typed");
    assert_eq!(add.call(&mut store, (1, 1)).expect("still usable"), 2);
}

#[test]
fn host_panics_propagate_to_the_caller_after_unwinding_wasm() {
    let (mut store, instance) = setup();
    let p = instance
        .get_typed_func::<(), ()>(&store, "panic")
        .expect("typed");
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| p.call(&mut store, ())));
    assert!(r.is_err(), "the panic reaches the host");
    let add = instance
        .get_typed_func::<(i32, i32), i32>(&store, "add")
        .expect("typed");
    assert_eq!(add.call(&mut store, (1, 2)).expect("still usable"), 3);
}

#[test]
fn wasm_host_wasm_reentrancy() {
    let (mut store, instance) = setup();
    let count = instance
        .get_typed_func::<i32, i32>(&store, "count")
        .expect("typed");
    REENTERED.store(0, Ordering::Relaxed);
    assert_eq!(count.call(&mut store, 50).expect("call"), 50);
    assert_eq!(REENTERED.load(Ordering::Relaxed), 50);
    // Deep re-entry exhausts the wasm stack limit and becomes a trap.
    let err = count.call(&mut store, 1_000_000).expect_err("too deep");
    assert_eq!(
        err.as_trap().map(Trap::code),
        Some(TrapCode::StackOverflow),
        "{err}"
    );
    assert_eq!(count.call(&mut store, 3).expect("usable"), 3);
}

#[test]
fn multi_value_host_functions() {
    let (mut store, instance) = setup();
    let f = instance
        .get_typed_func::<i64, f64>(&store, "multi")
        .expect("typed");
    assert_eq!(f.call(&mut store, 9).expect("call"), 4.5);
}

#[test]
fn host_functions_can_be_called_from_the_host() {
    let engine = Engine::default();
    let mut store = Store::new(&engine, 10i32);
    let f = Func::wrap(&mut store, |c: Caller<'_, i32>, x: i32| x + *c.data());
    let typed = f.typed::<i32, i32>(&store).expect("typed");
    assert_eq!(typed.call(&mut store, 5).expect("call"), 15);
    let mut out = [Val::I32(0)];
    f.call(&mut store, &[Val::I32(1)], &mut out).expect("call");
    assert_eq!(out[0], Val::I32(11));
}

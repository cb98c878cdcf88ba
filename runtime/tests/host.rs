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

/// A typed host function's direct entry takes its parameters in registers (and on the
/// stack past the registers): mixed integer and float types, unsigned ones, many of
/// them, and float results must all arrive as the array path delivers them.
#[test]
fn typed_host_functions_receive_mixed_and_many_parameters_exactly() {
    const MIXED: &str = r#"(module
      (import "h" "mix" (func $mix (param i32 f64 i64 f32) (result f64)))
      (import "h" "many" (func $many (param i32 i64 i32 i64 i32 i64 i32 i64 f32 f64) (result i64)))
      (import "h" "half" (func $half (param f32) (result f32)))
      (import "h" "unsigned" (func $unsigned (param i32 i64) (result i64)))
      (import "h" "v128" (func $v128 (param v128) (result v128)))
      (func (export "mix") (result f64)
        (call $mix (i32.const -7) (f64.const 0.5) (i64.const 1099511627776) (f32.const 2.25)))
      (func (export "many") (result i64)
        (call $many (i32.const 1) (i64.const 2) (i32.const 3) (i64.const 4) (i32.const 5)
          (i64.const 6) (i32.const 7) (i64.const 8) (f32.const 9.5) (f64.const 10.25)))
      (func (export "half") (result f32) (call $half (f32.const -3.0)))
      (func (export "unsigned") (result i64) (call $unsigned (i32.const -1) (i64.const -2)))
      (func (export "v128") (result i32)
        (i32x4.extract_lane 3 (call $v128 (v128.const i32x4 1 2 3 4)))))"#;
    let engine = Engine::default();
    let module = Module::new(&engine, MIXED).expect("module");
    let expect_mix = -7.0 + 0.5 + 1099511627776.0 + 2.25;
    let expect_many = (1..=8).sum::<i64>() * 100 + 9 + 10;
    // Typed (direct entries) and dynamic (the array path) must agree.
    for typed in [true, false] {
        let mut store = Store::new(&engine, ());
        let mut linker = Linker::new(&engine);
        if typed {
            linker
                .func_wrap("h", "mix", |a: i32, b: f64, c: i64, d: f32| {
                    f64::from(a) + b + c as f64 + f64::from(d)
                })
                .expect("mix")
                .func_wrap(
                    "h",
                    "many",
                    |a: i32,
                     b: i64,
                     c: i32,
                     d: i64,
                     e: i32,
                     f: i64,
                     g: i32,
                     h: i64,
                     x: f32,
                     y: f64| {
                        (i64::from(a) + b + i64::from(c) + d + i64::from(e) + f + i64::from(g) + h)
                            * 100
                            + x as i64
                            + y as i64
                    },
                )
                .expect("many")
                .func_wrap("h", "half", |x: f32| x / 2.0)
                .expect("half")
                .func_wrap("h", "unsigned", |a: u32, b: u64| -> u64 {
                    u64::from(a) + (b >> 60)
                })
                .expect("unsigned")
                .func_wrap("h", "v128", |v: u128| v.rotate_left(32))
                .expect("v128");
        } else {
            let ty = |p: &[ValType], r: &[ValType]| FuncType::new(p.to_vec(), r.to_vec());
            use ValType::*;
            linker
                .func_new("h", "mix", ty(&[I32, F64, I64, F32], &[F64]), |_, a, r| {
                    let v = f64::from(a[0].i32().expect("i32"))
                        + a[1].f64().expect("f64")
                        + a[2].i64().expect("i64") as f64
                        + f64::from(a[3].f32().expect("f32"));
                    r[0] = Val::F64(v.to_bits());
                    Ok(())
                })
                .expect("mix")
                .func_new(
                    "h",
                    "many",
                    ty(&[I32, I64, I32, I64, I32, I64, I32, I64, F32, F64], &[I64]),
                    |_, a, r| {
                        let ints: i64 = (0..8)
                            .map(|i| {
                                a[i].i64()
                                    .or(a[i].i32().map(i64::from))
                                    .expect("an integer")
                            })
                            .sum();
                        r[0] = Val::I64(
                            ints * 100
                                + a[8].f32().expect("f32") as i64
                                + a[9].f64().expect("f64") as i64,
                        );
                        Ok(())
                    },
                )
                .expect("many")
                .func_new("h", "half", ty(&[F32], &[F32]), |_, a, r| {
                    r[0] = Val::F32((a[0].f32().expect("f32") / 2.0).to_bits());
                    Ok(())
                })
                .expect("half")
                .func_new("h", "unsigned", ty(&[I32, I64], &[I64]), |_, a, r| {
                    let v = u64::from(a[0].i32().expect("i32") as u32)
                        + ((a[1].i64().expect("i64") as u64) >> 60);
                    r[0] = Val::I64(v as i64);
                    Ok(())
                })
                .expect("unsigned")
                .func_new("h", "v128", ty(&[V128], &[V128]), |_, a, r| {
                    r[0] = Val::V128(v128_of(&a[0]).rotate_left(32));
                    Ok(())
                })
                .expect("v128");
        }
        let instance = linker
            .instantiate(&mut store, &module)
            .expect("instantiates");
        let call_f64 = |store: &mut Store<()>, name: &str| {
            instance
                .get_typed_func::<(), f64>(&*store, name)
                .expect(name)
                .call(store, ())
                .expect(name)
        };
        assert_eq!(call_f64(&mut store, "mix"), expect_mix, "typed: {typed}");
        let many = instance
            .get_typed_func::<(), i64>(&store, "many")
            .expect("many");
        assert_eq!(many.call(&mut store, ()).expect("many"), expect_many);
        let half = instance
            .get_typed_func::<(), f32>(&store, "half")
            .expect("half");
        assert_eq!(half.call(&mut store, ()).expect("half"), -1.5);
        let unsigned = instance
            .get_typed_func::<(), i64>(&store, "unsigned")
            .expect("unsigned");
        assert_eq!(
            unsigned.call(&mut store, ()).expect("unsigned"),
            0xffff_ffff + 15
        );
        let v128 = instance
            .get_typed_func::<(), i32>(&store, "v128")
            .expect("v128");
        assert_eq!(v128.call(&mut store, ()).expect("v128"), 3);
    }
}

fn v128_of(v: &Val) -> u128 {
    match v {
        Val::V128(x) => *x,
        other => panic!("not a v128: {other:?}"),
    }
}

#[test]
fn a_linker_refuses_a_name_twice_unless_shadowing_is_allowed() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module (import "m" "f" (func $f (result i32)))
             (func (export "g") (result i32) (call $f)))"#,
    )
    .expect("module");
    let mut linker = Linker::<u32>::new(&engine);
    linker.func_wrap("m", "f", || 1i32).expect("first");
    let e = linker.func_wrap("m", "f", || 2i32).expect_err("twice");
    assert!(e.to_string().contains("already defined"), "{e}");
    linker.allow_shadowing(true);
    linker.func_wrap("m", "f", || 3i32).expect("shadowed");
    let mut store = Store::new(&engine, 0);
    let instance = linker.instantiate(&mut store, &module).expect("instance");
    let g = instance.get_typed_func::<(), i32>(&store, "g").expect("g");
    assert_eq!(g.call(&mut store, ()).expect("call"), 3);
}

/// `outer` calls the host's `guard`, which calls `inner` back; `inner` calls the
/// typed host function `refuse`, which fails on odd arguments.
const NESTED: &str = r#"(module
  (import "host" "guard" (func $guard (param i32) (result i32)))
  (import "host" "refuse" (func $refuse (param i32) (result i32)))
  (func (export "outer") (param i32) (result i32)
    (i32.add (i32.const 1000) (call $guard (local.get 0))))
  (func (export "inner") (param i32) (result i32)
    (i32.add (i32.const 10) (call $refuse (local.get 0)))))"#;

/// A typed host function called straight from wasm (without fuel) or through the
/// trampoline (with fuel) fails by unwinding to the innermost entry into wasm only: the
/// host function that entered wasm gets the error, and the outer wasm carries on.
#[test]
fn typed_host_errors_unwind_to_the_innermost_entry_into_wasm() -> Result<()> {
    for fuel in [false, true] {
        let mut config = Config::new();
        config.consume_fuel(fuel);
        let engine = Engine::new(&config)?;
        let mut l: Linker<u32> = Linker::new(&engine);
        l.func_wrap("host", "refuse", |n: i32| -> Result<i32> {
            if n % 2 == 1 {
                Err(Error::msg(format!("refused {n}")))
            } else {
                Ok(n * 2)
            }
        })?;
        l.func_wrap(
            "host",
            "guard",
            |mut c: Caller<'_, u32>, n: i32| -> Result<i32> {
                let inner = c
                    .get_export("inner")
                    .and_then(Extern::into_func)
                    .ok_or_else(|| Error::msg("no inner"))?
                    .typed::<i32, i32>(&c)?;
                match inner.call(&mut c, n) {
                    Ok(v) => Ok(v),
                    Err(e) => {
                        assert_eq!(e.to_string(), format!("refused {n}"));
                        *c.data_mut() += 1;
                        Ok(-1)
                    }
                }
            },
        )?;
        let module = Module::new(&engine, NESTED)?;
        let mut store = Store::new(&engine, 0u32);
        if fuel {
            store.set_fuel(1_000_000)?;
        }
        let instance = l.instantiate(&mut store, &module)?;
        let outer = instance.get_typed_func::<i32, i32>(&store, "outer")?;
        let inner = instance.get_typed_func::<i32, i32>(&store, "inner")?;
        for round in 0..3 {
            assert_eq!(outer.call(&mut store, 4)?, 1018, "fuel {fuel}");
            assert_eq!(outer.call(&mut store, 3)?, 999, "fuel {fuel}");
            assert_eq!(*store.data(), round + 1, "fuel {fuel}");
            let e = inner.call(&mut store, 7).expect_err("refused");
            assert!(e.as_trap().is_none(), "{e}");
            assert_eq!(e.to_string(), "refused 7");
        }
    }
    Ok(())
}

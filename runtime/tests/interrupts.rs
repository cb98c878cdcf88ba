//! Fuel and epoch interruption stop runaway guests, and the store stays usable.

use kiln::*;
use std::time::Duration;

const BOMBS: &str = r#"(module
  (type $t (func (param i32) (result i32)))
  (global $n (export "n") (mut i32) (i32.const 0))
  (table 2 funcref)
  (elem (i32.const 0) $ping $pong)
  (func (export "spin")
    (loop $l
      (global.set $n (i32.add (global.get $n) (i32.const 1)))
      (br $l)))
  (func (export "spin_br0") (loop $l (br 0)))
  ;; ping(n) = 2 * pong(n - 1), pong(n) = 2 * ping(n - 1), through the table:
  ;; exponential time at linear depth, so only fuel or a deadline stops ping(60).
  (func $ping (type $t)
    (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 1))
      (else (i32.add
        (call_indirect (type $t) (i32.sub (local.get 0) (i32.const 1)) (i32.const 1))
        (call_indirect (type $t) (i32.sub (local.get 0) (i32.const 1)) (i32.const 1))))))
  (func $pong (type $t)
    (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 1))
      (else (i32.add
        (call_indirect (type $t) (i32.sub (local.get 0) (i32.const 1)) (i32.const 0))
        (call_indirect (type $t) (i32.sub (local.get 0) (i32.const 1)) (i32.const 0))))))
  (func (export "mutual") (result i32) (call $ping (i32.const 60)))
  (func $tree (export "tree") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.const 1))
      (else (i32.add (call $tree (i32.sub (local.get 0) (i32.const 1)))
                     (call $tree (i32.sub (local.get 0) (i32.const 1)))))))
  (func (export "table_spin") (param i32)
    (loop $l
      (block $a (block $b (block $c
        (br_table $a $b $c $l (local.get 0))))
        (br $l))
      (br $l)))
  (func (export "ok") (result i32) (i32.const 42)))"#;

fn setup(config: &Config) -> (Store<()>, Instance) {
    let engine = Engine::new(config).expect("engine");
    let module = Module::new(&engine, BOMBS).expect("module compiles");
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).expect("instantiates");
    (store, instance)
}

fn trap_of(store: &mut Store<()>, instance: &Instance, name: &str, args: &[Val]) -> TrapCode {
    let f = instance.get_func(&*store, name).expect("export");
    let mut out = vec![Val::I32(0); f.ty(&*store).results().len()];
    let err = f.call(&mut *store, args, &mut out).expect_err("stopped");
    err.as_trap()
        .unwrap_or_else(|| panic!("{name}: not a trap: {err}"))
        .code()
}

#[test]
fn fuel_is_exact_at_loop_headers() {
    let (mut store, instance) = setup(Config::new().consume_fuel(true));
    let n = instance.get_global(&store, "n").expect("global");
    // `loop` costs 1 on entry; each iteration (global.get, i32.const, i32.add,
    // global.set, br) costs 5 and is checked at the header: with fuel F the body runs
    // floor((F - 1) / 5) + 1 times before the check that finds the fuel exhausted.
    for fuel in [1u64, 5, 6, 100, 101, 1000] {
        n.set(&mut store, Val::I32(0)).expect("reset");
        store.set_fuel(fuel).expect("fuel on");
        assert_eq!(
            trap_of(&mut store, &instance, "spin", &[]),
            TrapCode::OutOfFuel
        );
        let expected = (fuel - 1) / 5 + 1;
        assert_eq!(n.get(&store), Val::I32(expected as i32), "fuel {fuel}");
        assert_eq!(store.get_fuel().expect("fuel on"), 0);
    }
    // Refuelled, the store runs again.
    store.set_fuel(10).expect("fuel on");
    let ok = instance
        .get_typed_func::<(), i32>(&store, "ok")
        .expect("typed");
    assert_eq!(ok.call(&mut store, ()).expect("runs"), 42);
    assert!(store.get_fuel().expect("fuel on") < 10);
}

#[test]
fn fuel_stops_every_cpu_bomb() {
    let (mut store, instance) = setup(Config::new().consume_fuel(true));
    let bombs: &[(&str, &[Val])] = &[
        ("spin_br0", &[]),
        ("mutual", &[]),
        ("tree", &[Val::I32(40)]),
        ("table_spin", &[Val::I32(2)]),
    ];
    for &(name, args) in bombs {
        store.set_fuel(100_000).expect("fuel on");
        assert_eq!(
            trap_of(&mut store, &instance, name, args),
            TrapCode::OutOfFuel,
            "{name}"
        );
    }
    store.set_fuel(1_000).expect("fuel on");
    let tree = instance
        .get_typed_func::<i32, i32>(&store, "tree")
        .expect("typed");
    assert_eq!(tree.call(&mut store, 3).expect("small tree fits"), 8);
}

#[test]
fn a_store_without_fuel_cannot_enter_a_loop() {
    let (mut store, instance) = setup(Config::new().consume_fuel(true));
    assert_eq!(store.get_fuel().expect("fuel on"), 0);
    // Checks trap once consumption is positive: the entry check passes with nothing
    // consumed, the `loop` itself costs 1, and the first header check stops it.
    assert_eq!(
        trap_of(&mut store, &instance, "spin", &[]),
        TrapCode::OutOfFuel
    );
    let n = instance.get_global(&store, "n").expect("global");
    assert_eq!(n.get(&store), Val::I32(0));
}

#[test]
fn fuel_and_epochs_are_refused_when_not_configured() {
    let (mut store, _) = setup(&Config::new());
    let err = store.set_fuel(1).expect_err("fuel off");
    assert!(matches!(err.kind(), ErrorKind::Config(_)), "{err}");
    assert!(store.get_fuel().is_err());
    assert!(store.set_timeout(Duration::from_millis(1)).is_err());
    assert!(store.set_epoch_deadline(1).is_err());
}

#[test]
fn timeouts_interrupt_every_cpu_bomb() {
    let (mut store, instance) = setup(Config::new().epoch_interruption(true));
    let bombs: &[(&str, &[Val])] = &[
        ("spin", &[]),
        ("spin_br0", &[]),
        ("mutual", &[]),
        ("tree", &[Val::I32(60)]),
        ("table_spin", &[Val::I32(1)]),
    ];
    for &(name, args) in bombs {
        store
            .set_timeout(Duration::from_millis(20))
            .expect("epochs on");
        assert_eq!(
            trap_of(&mut store, &instance, name, args),
            TrapCode::Interrupted,
            "{name}"
        );
    }
    store.set_epoch_deadline(u64::MAX).expect("epochs on");
    let ok = instance
        .get_typed_func::<(), i32>(&store, "ok")
        .expect("typed");
    assert_eq!(ok.call(&mut store, ()).expect("runs"), 42);
}

#[test]
fn manual_epochs_interrupt_at_the_next_check() {
    let (mut store, instance) = setup(Config::new().epoch_interruption(true));
    let engine = store.engine().clone();
    store.set_epoch_deadline(1).expect("epochs on");
    let ok = instance
        .get_typed_func::<(), i32>(&store, "ok")
        .expect("typed");
    assert_eq!(ok.call(&mut store, ()).expect("deadline not reached"), 42);
    engine.increment_epoch();
    assert_eq!(
        trap_of(&mut store, &instance, "ok", &[]),
        TrapCode::Interrupted
    );
}

#[test]
fn fuel_and_epochs_together() {
    let (mut store, instance) = setup(Config::new().consume_fuel(true).epoch_interruption(true));
    store.set_fuel(u64::MAX).expect("fuel on");
    store
        .set_timeout(Duration::from_millis(10))
        .expect("epochs on");
    assert_eq!(
        trap_of(&mut store, &instance, "spin_br0", &[]),
        TrapCode::Interrupted
    );
    store.set_fuel(1000).expect("fuel on");
    store.set_epoch_deadline(u64::MAX).expect("epochs on");
    assert_eq!(
        trap_of(&mut store, &instance, "spin_br0", &[]),
        TrapCode::OutOfFuel
    );
}

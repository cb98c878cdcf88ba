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
    let (mut store, instance) = setup(Config::new().fuel_costs(FuelCosts::new(1)));
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
    let (mut store, instance) = setup(Config::new().fuel_costs(FuelCosts::new(1)));
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
    let (mut store, instance) = setup(Config::new().fuel_costs(FuelCosts::new(1)));
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
    let (mut store, instance) = setup(
        Config::new()
            .fuel_costs(FuelCosts::new(1))
            .epoch_interruption(true),
    );
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

/// Fuel crosses host calls, re-entry and traps exactly: the counter travels between
/// wasm functions in a register, and each boundary with the host must hand it over.
const FUEL_PASSING: &str = r#"(module
  (import "host" "probe" (func $probe))
  (import "host" "refill" (func $refill))
  (import "host" "reenter" (func $reenter))
  ;; 1 (loop) + 5 per iteration + 2 (the loop's and the body's `end`).
  (func $burn (param i32)
    (loop $l (br_if $l (local.tee 0 (i32.sub (local.get 0) (i32.const 1))))))
  (func (export "probe_twice")
    (call $probe)
    (call $burn (i32.const 10))
    (call $probe))
  (func (export "burn10") (call $burn (i32.const 10)))
  (func (export "trap_after_burn") (call $burn (i32.const 10)) unreachable)
  (func (export "refill_then_spin") (call $refill) (loop $l (br $l)))
  (func (export "outer") (call $reenter)))"#;

fn fuel_passing() -> (Store<Vec<u64>>, Instance) {
    let engine = Engine::new(Config::new().fuel_costs(FuelCosts::new(1))).expect("engine");
    let module = Module::new(&engine, FUEL_PASSING).expect("compiles");
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap("host", "probe", |mut c: Caller<'_, Vec<u64>>| {
            let fuel = c.get_fuel().expect("fuel on");
            c.data_mut().push(fuel);
        })
        .expect("probe")
        .func_wrap("host", "refill", |mut c: Caller<'_, Vec<u64>>| {
            c.set_fuel(50).expect("fuel on");
        })
        .expect("refill")
        .func_wrap("host", "reenter", |mut c: Caller<'_, Vec<u64>>| {
            let f = c
                .get_export("burn10")
                .and_then(|e| e.into_func())
                .expect("burn10");
            f.call(&mut c, &[], &mut []).expect("burn10 runs");
        })
        .expect("reenter");
    let mut store = Store::new(&engine, Vec::new());
    let instance = linker
        .instantiate(&mut store, &module)
        .expect("instantiates");
    (store, instance)
}

fn call0(store: &mut Store<Vec<u64>>, instance: &Instance, name: &str) -> Result<()> {
    let f = instance.get_func(&*store, name).expect("export");
    f.call(&mut *store, &[], &mut [])
}

#[test]
fn fuel_is_exact_across_host_calls_reentry_and_traps() {
    let (mut store, instance) = fuel_passing();
    // `call` (1) before the first probe; `i32.const, call` (2) + burn(10) (53) + `call`
    // (1) before the second; the body's `end` (1) after it.
    store.set_fuel(1000).expect("fuel on");
    call0(&mut store, &instance, "probe_twice").expect("runs");
    assert_eq!(store.data(), &[999, 943]);
    assert_eq!(store.get_fuel().expect("fuel on"), 942);

    // Wasm called back from a host function charges the same store: `call` (1), then
    // burn10 (`i32.const, call`, 53, `end`: 56), then `end` (1).
    store.set_fuel(1000).expect("fuel on");
    call0(&mut store, &instance, "outer").expect("runs");
    assert_eq!(store.get_fuel().expect("fuel on"), 1000 - 58);

    // A trap keeps what was charged up to the trapping function's last call: the
    // `i32.const, call` (2) and the callee (53).
    store.set_fuel(1000).expect("fuel on");
    let err = call0(&mut store, &instance, "trap_after_burn").expect_err("traps");
    assert_eq!(err.as_trap().map(Trap::code), Some(TrapCode::Unreachable));
    assert_eq!(store.get_fuel().expect("fuel on"), 1000 - 55);

    // Fuel set by a host function is what the calling wasm continues with.
    store.set_fuel(u64::MAX).expect("fuel on");
    let err = call0(&mut store, &instance, "refill_then_spin").expect_err("runs out");
    assert_eq!(err.as_trap().map(Trap::code), Some(TrapCode::OutOfFuel));
    assert_eq!(store.get_fuel().expect("fuel on"), 0);

    // And the store keeps working.
    store.set_fuel(1000).expect("fuel on");
    store.data_mut().clear();
    call0(&mut store, &instance, "probe_twice").expect("runs");
    assert_eq!(store.data(), &[999, 943]);
}

#[test]
fn a_deadline_moved_by_a_host_function_applies_to_its_caller() {
    // The deadline travels with wasm (in a register when fuel is off): a host call that
    // moves it must be seen by the wasm that called it, with and without fuel.
    for fuel in [false, true] {
        let engine =
            Engine::new(Config::new().epoch_interruption(true).consume_fuel(fuel)).expect("engine");
        let module = Module::new(
            &engine,
            r#"(module
                 (import "host" "expire" (func $expire))
                 (func (export "run") (call $expire) (loop $l (br $l)))
                 ;; 2^60 calls and no loop: only function entries can stop it.
                 (func $tree (param i32) (result i32)
                   (if (result i32) (i32.eqz (local.get 0))
                     (then (i32.const 1))
                     (else (i32.add (call $tree (i32.sub (local.get 0) (i32.const 1)))
                                    (call $tree (i32.sub (local.get 0) (i32.const 1)))))))
                 (func (export "run_tree") (call $expire) (drop (call $tree (i32.const 60)))))"#,
        )
        .expect("compiles");
        let mut linker = Linker::new(&engine);
        linker
            .func_wrap("host", "expire", |mut c: Caller<'_, ()>| {
                c.set_epoch_deadline(0).expect("epochs on");
            })
            .expect("expire");
        let mut store = Store::new(&engine, ());
        if fuel {
            store.set_fuel(u64::MAX).expect("fuel on");
        }
        store.set_epoch_deadline(u64::MAX).expect("epochs on");
        let instance = linker
            .instantiate(&mut store, &module)
            .expect("instantiates");
        let run = instance
            .get_typed_func::<(), ()>(&store, "run")
            .expect("run");
        expect_interrupted(run.call(&mut store, ()), fuel);
        // The store's own deadline applies again on the next call.
        store.set_epoch_deadline(0).expect("epochs on");
        expect_interrupted(run.call(&mut store, ()), fuel);
        // Recursion without loops is stopped at function entries.
        store.set_epoch_deadline(u64::MAX).expect("epochs on");
        let run_tree = instance
            .get_typed_func::<(), ()>(&store, "run_tree")
            .expect("run_tree");
        expect_interrupted(run_tree.call(&mut store, ()), fuel);
    }
}

#[test]
fn a_manual_epoch_increment_from_another_thread_stops_recursion() {
    // No ticker: the embedder advances the epoch itself, and the recursing store (which
    // has no loop to check) must stop at its next function entry.
    let (mut store, instance) = setup(Config::new().epoch_interruption(true));
    let engine = store.engine().clone();
    store.set_epoch_deadline(1).expect("epochs on");
    let bumper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        engine.increment_epoch();
    });
    assert_eq!(
        trap_of(&mut store, &instance, "mutual", &[]),
        TrapCode::Interrupted
    );
    bumper.join().expect("bumper thread");
    // The store works normally afterwards.
    store.set_epoch_deadline(u64::MAX).expect("epochs on");
    let ok = instance
        .get_typed_func::<(), i32>(&store, "ok")
        .expect("typed");
    assert_eq!(ok.call(&mut store, ()).expect("runs"), 42);
}

fn expect_interrupted(r: Result<()>, fuel: bool) {
    let err = r.expect_err("the loop must be interrupted");
    assert_eq!(
        err.as_trap().map(Trap::code),
        Some(TrapCode::Interrupted),
        "fuel {fuel}: {err}"
    );
}

#[test]
fn fuel_charged_across_if_arms_and_blocks_is_exact_on_every_path() {
    // Costs before an `if` are charged with the arm taken, and a block's cost carries
    // on through its `end` when nothing branched there: every path still pays exactly
    // its operators. Then path: `block, local.get, if, i32.const, else` (5); else path:
    // `block, local.get, if, i32.const, end` (5); both then `end, end` (2). The `br_if`
    // shape: `block, local.get, br_if` (3), then either the branch, which skips the
    // block's `end`, or `i32.const, drop, end` (3); then `i32.const, end` (2).
    let engine = Engine::new(Config::new().fuel_costs(FuelCosts::new(1))).expect("engine");
    let module = Module::new(
        &engine,
        r#"(module
             (func (export "arms") (param i32) (result i32)
               (block (result i32)
                 (if (result i32) (local.get 0) (then (i32.const 1)) (else (i32.const 2)))))
             (func (export "skip") (param i32) (result i32)
               (block (br_if 0 (local.get 0)) (drop (i32.const 5)))
               (i32.const 0)))"#,
    )
    .expect("compiles");
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).expect("instantiates");
    for (name, arg, cost) in [
        ("arms", 1, 7),
        ("arms", 0, 7),
        ("skip", 1, 5),
        ("skip", 0, 8),
    ] {
        let f = instance
            .get_typed_func::<i32, i32>(&store, name)
            .expect("export");
        store.set_fuel(1000).expect("fuel on");
        f.call(&mut store, arg).expect("runs");
        assert_eq!(
            store.get_fuel().expect("fuel on"),
            1000 - cost,
            "{name}({arg})"
        );
        // One short traps; exactly enough runs.
        store.set_fuel(cost - 1).expect("fuel on");
        let err = f.call(&mut store, arg).expect_err("one short");
        assert_eq!(err.as_trap().map(Trap::code), Some(TrapCode::OutOfFuel));
        store.set_fuel(cost).expect("fuel on");
        f.call(&mut store, arg).expect("exactly enough");
    }
}

/// The default costs are Wasmtime's: `nop`, `drop`, `block`, `loop`, `unreachable`,
/// `return`, `else` and `end` are free, everything else costs 1, and charging stays
/// exact on every path.
#[test]
fn default_costs_make_structure_free() {
    let engine = Engine::new(Config::new().consume_fuel(true)).expect("engine");
    let module = Module::new(
        &engine,
        r#"(module
             (global $n (export "n") (mut i32) (i32.const 0))
             (func (export "arms") (param i32) (result i32)
               (block (result i32)
                 (if (result i32) (local.get 0) (then (i32.const 1)) (else (i32.const 2)))))
             (func (export "skip") (param i32) (result i32)
               (block (br_if 0 (local.get 0)) (nop) (drop (i32.const 5)))
               (i32.const 0))
             (func (export "spin") (param i32) (result i32)
               (loop $l
                 (global.set $n (i32.add (global.get $n) (i32.const 1)))
                 (br $l))
               (i32.const 0)))"#,
    )
    .expect("compiles");
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).expect("instantiates");
    // arms: `local.get, if, i32.const` on either path. skip(1): `local.get, br_if,
    // i32.const`; skip(0): `local.get, br_if, i32.const, i32.const` (`nop`, `drop`
    // and the `end`s are free).
    for (name, arg, cost) in [
        ("arms", 1, 3),
        ("arms", 0, 3),
        ("skip", 1, 3),
        ("skip", 0, 4),
    ] {
        let f = instance
            .get_typed_func::<i32, i32>(&store, name)
            .expect("export");
        store.set_fuel(cost).expect("fuel on");
        f.call(&mut store, arg).expect("exactly enough");
        assert_eq!(store.get_fuel().expect("fuel on"), 0, "{name}({arg})");
        store.set_fuel(cost - 1).expect("fuel on");
        let err = f.call(&mut store, arg).expect_err("one short");
        assert_eq!(err.as_trap().map(Trap::code), Some(TrapCode::OutOfFuel));
    }
    // spin: the free `loop` charges nothing on entry; each iteration (global.get,
    // i32.const, i32.add, global.set, br) costs 5, charged after it ran: fuel F runs
    // floor(F / 5) iterations in full and traps in the next.
    let n = instance.get_global(&store, "n").expect("global");
    let spin = instance
        .get_typed_func::<i32, i32>(&store, "spin")
        .expect("export");
    for fuel in [0u64, 4, 5, 6, 100, 1001] {
        n.set(&mut store, Val::I32(0)).expect("reset");
        store.set_fuel(fuel).expect("fuel on");
        let err = spin.call(&mut store, 0).expect_err("spins");
        assert_eq!(err.as_trap().map(Trap::code), Some(TrapCode::OutOfFuel));
        assert_eq!(
            n.get(&store),
            Val::I32((fuel / 5 + 1) as i32),
            "fuel {fuel}"
        );
    }
}

/// `Store::interrupt_handle` stops one store from another thread: a running loop traps
/// with `Interrupted`, later calls are refused until a new deadline is set, and then
/// the store runs again. Other stores of the engine are not touched.
#[test]
fn an_interrupt_handle_stops_one_store_from_another_thread() {
    let mut config = Config::new();
    config.epoch_interruption(true);
    let engine = Engine::new(&config).expect("engine");
    let module = Module::new(
        &engine,
        r#"(module (func (export "spin") (loop (br 0)))
                   (func (export "ok") (result i32) (i32.const 1)))"#,
    )
    .expect("compiles");
    let mut store = Store::new(&engine, ());
    store.set_epoch_deadline(u64::MAX).expect("no deadline");
    let i = Instance::new(&mut store, &module, &[]).expect("instantiates");
    let mut other = Store::new(&engine, ());
    other.set_epoch_deadline(u64::MAX).expect("no deadline");
    let j = Instance::new(&mut other, &module, &[]).expect("instantiates");
    let handle = store.interrupt_handle().expect("handle");
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(50));
        handle.interrupt();
    });
    let spin = i.get_typed_func::<(), ()>(&store, "spin").expect("spin");
    let err = spin.call(&mut store, ()).expect_err("interrupted");
    assert_eq!(
        err.downcast_ref::<TrapCode>(),
        Some(&TrapCode::Interrupted),
        "{err}"
    );
    stopper.join().expect("join");
    let ok = i.get_typed_func::<(), i32>(&store, "ok").expect("ok");
    let err = ok
        .call(&mut store, ())
        .expect_err("refused until a new deadline");
    assert_eq!(err.downcast_ref::<TrapCode>(), Some(&TrapCode::Interrupted));
    store.set_epoch_deadline(u64::MAX).expect("new deadline");
    assert_eq!(ok.call(&mut store, ()).expect("runs again"), 1);
    let ok2 = j.get_typed_func::<(), i32>(&other, "ok").expect("ok");
    assert_eq!(ok2.call(&mut other, ()).expect("untouched"), 1);
    // Without epoch interruption there is no handle.
    assert!(Store::new(&Engine::default(), ())
        .interrupt_handle()
        .is_err());
}

#[test]
fn a_host_call_made_after_an_interrupt_traps_instead_of_running() {
    // `stop` interrupts its own store; the very next instruction calls `tick`, with no
    // function entry or loop header in between. Whether wasm calls `tick`'s typed entry
    // directly (no fuel) or through the trampoline (fuel), `tick` must not run.
    for fuel in [false, true] {
        let engine =
            Engine::new(Config::new().epoch_interruption(true).consume_fuel(fuel)).expect("engine");
        let module = Module::new(
            &engine,
            r#"(module
                 (import "host" "stop" (func $stop))
                 (import "host" "tick" (func $tick (param i32) (result i32)))
                 (func (export "run") (result i32)
                   (call $stop)
                   (call $tick (i32.const 1))))"#,
        )
        .expect("compiles");
        let mut store = Store::new(&engine, 0u32);
        let handle = store.interrupt_handle().expect("epochs on");
        let mut linker = Linker::new(&engine);
        linker
            .func_wrap("host", "stop", move || handle.interrupt())
            .expect("stop");
        linker
            .func_wrap("host", "tick", |mut c: Caller<'_, u32>, n: i32| {
                *c.data_mut() += 1;
                n
            })
            .expect("tick");
        if fuel {
            store.set_fuel(u64::MAX).expect("fuel on");
        }
        store.set_epoch_deadline(u64::MAX).expect("epochs on");
        let instance = linker
            .instantiate(&mut store, &module)
            .expect("instantiates");
        let run = instance
            .get_typed_func::<(), i32>(&store, "run")
            .expect("run");
        let e = run.call(&mut store, ()).expect_err("interrupted");
        assert_eq!(
            e.as_trap().map(Trap::code),
            Some(TrapCode::Interrupted),
            "fuel {fuel}: {e}"
        );
        assert_eq!(*store.data(), 0, "fuel {fuel}: tick ran");
    }
}

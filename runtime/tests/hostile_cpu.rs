//! Hostile modules that burn CPU: each bomb is stopped by fuel, with the exact amount of
//! work the cost model predicts, and by a wall-clock deadline, and the store keeps
//! working afterwards.
//!
//! The cost model (see `jit/src/translate/interrupts.rs`): every operator reached costs 1
//! (structural ones too; an `end` or `else` after a branch is unreachable and free);
//! costs are charged at the end of each straight-line segment (before a branch, call or
//! return), and a charge that exceeds the fuel left traps with `OutOfFuel` (after the
//! segment ran), so the store is never overdrawn. The simulators below replay each
//! bomb's segments against that rule and predict how many times its counter global `$n`
//! is incremented before the trap.
//! (`interrupts.rs` covers a counted `loop` at a few fuel values; this file covers the
//! other shapes.)

#[path = "common/hostile.rs"]
mod hostile;

use hostile::*;
use kiln::*;
use std::fmt::Write as _;
use std::time::Duration;

/// Depth of the loop-free call tree: 2^(TREE_DEPTH + 1) - 1 calls to finish.
const TREE_DEPTH: u32 = 40;
/// Targets of the big `br_table`.
const BR_TABLE_TARGETS: u32 = 10_000;
/// The `br_table` index mask (indices above `BR_TABLE_TARGETS` take the default).
const BR_TABLE_MASK: u32 = 16383;

fn bombs_wat() -> String {
    let mut w = String::from(
        r#"(module
  (type $t (func (param i32) (result i32)))
  (global $n (export "n") (mut i32) (i32.const 0))
  (memory (export "mem") 256)
  (table 2 funcref)
  (elem (i32.const 0) $ping $pong)
  (func (export "ok") (result i32) (i32.const 42))

  ;; The plainest bomb.
  (func (export "spin") (loop (br 0)))

  ;; A bounded loop with the same header check: n iterations.
  (func (export "countdown") (param $n i32)
    (loop $l (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1))))))

  ;; ping(n) and pong(n) each call the other twice through the table: 2^n calls at
  ;; depth n, so ping(60) runs "forever" without approaching the stack limit.
  (func $ping (export "ping") (type $t)
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.const 1))
      (else (i32.add
        (call_indirect (type $t) (i32.sub (local.get 0) (i32.const 1)) (i32.const 1))
        (call_indirect (type $t) (i32.sub (local.get 0) (i32.const 1)) (i32.const 1))))))
  (func $pong (type $t)
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.const 1))
      (else (i32.add
        (call_indirect (type $t) (i32.sub (local.get 0) (i32.const 1)) (i32.const 0))
        (call_indirect (type $t) (i32.sub (local.get 0) (i32.const 1)) (i32.const 0))))))

  ;; Fill 16 MiB over and over: one operator, much work.
  (func (export "fill_spin")
    (loop $l
      (memory.fill (i32.const 0) (global.get $n) (i32.const 0x1000000))
      (global.set $n (i32.add (global.get $n) (i32.const 1)))
      (br $l)))
"#,
    );
    // A call tree with neither loops nor recursion: $tN calls $tN+1 twice.
    for i in 0..TREE_DEPTH {
        writeln!(
            w,
            "  (func $t{i} (global.set $n (i32.add (global.get $n) (i32.const 1))) (call $t{}) (call $t{}))",
            i + 1,
            i + 1
        )
        .expect("write to a String");
    }
    writeln!(
        w,
        "  (func $t{TREE_DEPTH} (global.set $n (i32.add (global.get $n) (i32.const 1))))\n  (export \"tree\" (func $t0))"
    )
    .expect("write to a String");
    // A loop around a br_table with thousands of targets: every third one restarts the
    // loop directly, the others (and the default) leave the block and `br` back.
    let targets: String = (0..BR_TABLE_TARGETS)
        .map(|i| if i.is_multiple_of(3) { "1 " } else { "0 " })
        .collect();
    writeln!(
        w,
        r#"  (func (export "br_table_spin")
    (loop $l
      (global.set $n (i32.add (global.get $n) (i32.const 1)))
      (block $a
        (br_table {targets} 0 (i32.and (global.get $n) (i32.const {BR_TABLE_MASK}))))
      (br $l)))
)"#
    )
    .expect("write to a String");
    w
}

struct Bombs {
    store: Store<()>,
    instance: Instance,
}

impl Bombs {
    fn new() -> Bombs {
        let engine = metered_engine();
        let module = Module::new(&engine, bombs_wat()).expect("the bombs compile");
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).expect("instantiates");
        Bombs { store, instance }
    }

    fn counter(&self) -> i32 {
        self.instance
            .get_global(&self.store, "n")
            .expect("global n")
            .get(&self.store)
            .i32()
            .expect("n is an i32")
    }

    fn reset_counter(&mut self) {
        self.instance
            .get_global(&self.store, "n")
            .expect("global n")
            .set(&mut self.store, Val::I32(0))
            .expect("n is mutable");
    }

    /// Calls export `name` with `args`; the error it must fail with.
    fn run(&mut self, name: &str, args: &[Val]) -> Error {
        let f = self.instance.get_func(&self.store, name).expect("export");
        let mut out = vec![Val::I32(0); f.ty(&self.store).results().len()];
        f.call(&mut self.store, args, &mut out)
            .expect_err("the bomb must be stopped")
    }

    /// Runs `name` on `fuel`: it must trap with `OutOfFuel` and leave no fuel.
    fn out_of_fuel(&mut self, name: &str, args: &[Val], fuel: u64) {
        self.store.set_epoch_deadline(u64::MAX).expect("epochs on");
        self.store.set_fuel(fuel).expect("fuel on");
        self.reset_counter();
        let err = self.run(name, args);
        assert_eq!(
            trap_code(&err, name),
            TrapCode::OutOfFuel,
            "{name} on {fuel} fuel"
        );
        assert_eq!(self.store.get_fuel().expect("fuel on"), 0, "{name}");
    }

    /// Runs `name` with unlimited fuel and a `timeout`: it must trap with
    /// `Interrupted`, no sooner than the timeout allows.
    fn interrupted(&mut self, name: &str, args: &[Val], timeout: Duration) -> Duration {
        self.store.set_fuel(u64::MAX).expect("fuel on");
        self.store.set_timeout(timeout).expect("epochs on");
        let (err, took) = timed(|| self.run(name, args));
        assert_eq!(trap_code(&err, name), TrapCode::Interrupted, "{name}");
        // The deadline is ceil(timeout / tick) ticks away; the first tick may come
        // right away, every later one a full tick after the previous.
        assert!(
            took + EPOCH_TICK >= timeout,
            "{name} interrupted after {took:?}, before its {timeout:?} timeout"
        );
        assert!(
            took < Duration::from_secs(10),
            "{name} took {took:?} to stop"
        );
        took
    }

    /// The store still runs a normal function (with fuel and without a deadline).
    fn assert_healthy(&mut self) {
        self.store.set_epoch_deadline(u64::MAX).expect("epochs on");
        self.store.set_fuel(1_000).expect("fuel on");
        let ok = self
            .instance
            .get_typed_func::<(), i32>(&self.store, "ok")
            .expect("ok");
        assert_eq!(ok.call(&mut self.store, ()).expect("ok runs"), 42);
        // `ok` is `i32.const`, `end`.
        assert_eq!(self.store.get_fuel().expect("fuel on"), 998);
        assert_store_healthy(&mut self.store);
    }
}

/// Replays a bomb against the fuel rule: `charge` is the end of a segment, which
/// returns `Err` when it traps.
struct Meter {
    left: u64,
    /// How many times the bomb's counter was incremented.
    count: u64,
}

impl Meter {
    fn new(fuel: u64) -> Meter {
        Meter {
            left: fuel,
            count: 0,
        }
    }

    fn charge(&mut self, cost: u64) -> Result<(), ()> {
        self.left = self.left.checked_sub(cost).ok_or(())?;
        Ok(())
    }
}

/// `ping(n)`: `global.get, i32.const, i32.add, global.set, local.get, i32.eqz, if` (7);
/// then `i32.const, else` (2) or twice `local.get, i32.const, i32.sub, i32.const,
/// call_indirect` (5) + callee, then `i32.add, end` (2); the body's `end` (1).
fn simulate_ping(m: &mut Meter, n: u32) -> Result<(), ()> {
    m.count += 1;
    m.charge(7)?;
    if n == 0 {
        return m.charge(2 + 1);
    }
    m.charge(5)?;
    simulate_ping(m, n - 1)?;
    m.charge(5)?;
    simulate_ping(m, n - 1)?;
    m.charge(2 + 1)
}

/// `$tN`: `global.get, i32.const, i32.add, global.set` (4); for inner nodes `call` (1)
/// + callee, `call` (1) + callee; the body's `end` (1).
fn simulate_tree(m: &mut Meter, level: u32) -> Result<(), ()> {
    m.count += 1;
    if level < TREE_DEPTH {
        m.charge(4 + 1)?;
        simulate_tree(m, level + 1)?;
        m.charge(1)?;
        simulate_tree(m, level + 1)?;
        m.charge(1)
    } else {
        m.charge(4 + 1)
    }
}

/// `loop` (1); then per iteration `global.get, i32.const, i32.add, global.set, block,
/// global.get, i32.const, i32.and, br_table` (9), plus the `br` (1) when the target left
/// the block.
fn simulate_br_table_spin(m: &mut Meter) {
    if m.charge(1).is_err() {
        return;
    }
    loop {
        m.count += 1;
        if m.charge(9).is_err() {
            return;
        }
        let index = (m.count as u32) & BR_TABLE_MASK;
        let restarts_directly = index < BR_TABLE_TARGETS && index.is_multiple_of(3);
        if !restarts_directly && m.charge(1).is_err() {
            return;
        }
    }
}

const FUELS: [u64; 9] = [0, 1, 2, 9, 10, 11, 100, 12_345, 1_000_000];

#[test]
fn loop_br_0_is_stopped_by_fuel_at_every_amount() {
    let mut b = Bombs::new();
    // `loop` costs 1 and each `br 0` 1: with F fuel the charge F + 1 traps; no amount
    // escapes.
    for fuel in (0..=64).chain([1_000, 999_999, 10_000_000]) {
        b.out_of_fuel("spin", &[], fuel);
    }
    b.assert_healthy();
}

#[test]
fn loop_fuel_is_charged_exactly_per_iteration() {
    // `countdown(n)`: `loop` (1), then n iterations of `local.get, i32.const, i32.sub,
    // local.tee, br_if` (5), then the loop's and the body's `end` (2): 5n + 3 in all.
    // Every charge is checked, so it finishes iff F >= 5n + 3 and leaves F - (5n + 3).
    let mut b = Bombs::new();
    let countdown = b
        .instance
        .get_typed_func::<i32, ()>(&b.store, "countdown")
        .expect("countdown");
    let n: u64 = 1000;
    let cost = 5 * n + 3;
    for (fuel, finishes, left) in [
        (5 * n - 4, false, 0),
        (cost - 1, false, 0),
        (cost, true, 0),
        (cost + 1, true, 1),
        (cost + 1000, true, 1000),
    ] {
        b.store.set_fuel(fuel).expect("fuel on");
        let r = countdown.call(&mut b.store, n as i32);
        if finishes {
            r.unwrap_or_else(|e| panic!("countdown({n}) on {fuel} fuel: {e}"));
        } else {
            expect_trap(r, TrapCode::OutOfFuel, "countdown short of fuel");
        }
        assert_eq!(b.store.get_fuel().expect("fuel on"), left, "fuel {fuel}");
    }
    // With none left, not even `ok` (2) runs.
    b.store.set_fuel(cost).expect("fuel on");
    countdown
        .call(&mut b.store, n as i32)
        .expect("exactly enough fuel");
    let ok = b
        .instance
        .get_typed_func::<(), i32>(&b.store, "ok")
        .expect("ok");
    expect_trap(
        ok.call(&mut b.store, ()),
        TrapCode::OutOfFuel,
        "a store with no fuel left",
    );
    b.assert_healthy();
}

#[test]
fn mutual_recursion_through_call_indirect_is_stopped_by_fuel_exactly() {
    let mut b = Bombs::new();
    for fuel in FUELS {
        let mut m = Meter::new(fuel);
        simulate_ping(&mut m, 60).expect_err("ping(60) cannot finish");
        b.out_of_fuel("ping", &[Val::I32(60)], fuel);
        assert_eq!(b.counter() as u64, m.count, "calls made on {fuel} fuel");
    }
    // And a small instance of it finishes on exactly the simulated cost.
    let mut m = Meter::new(u64::MAX >> 2);
    simulate_ping(&mut m, 10).expect("ping(10) finishes");
    let cost = (u64::MAX >> 2) - m.left;
    assert_eq!(m.count, (1 << 11) - 1);
    b.store.set_fuel(cost + 7).expect("fuel on");
    b.reset_counter();
    let ping = b
        .instance
        .get_typed_func::<i32, i32>(&b.store, "ping")
        .expect("ping");
    assert_eq!(ping.call(&mut b.store, 10).expect("ping(10)"), 1 << 10);
    assert_eq!(b.store.get_fuel().expect("fuel on"), 7);
    assert_eq!(b.counter() as u64, m.count);
    b.assert_healthy();
}

#[test]
fn a_loop_free_exponential_call_tree_is_stopped_by_fuel_exactly() {
    let mut b = Bombs::new();
    for fuel in FUELS {
        let mut m = Meter::new(fuel);
        simulate_tree(&mut m, 0).expect_err("2^41 calls cannot finish");
        b.out_of_fuel("tree", &[], fuel);
        assert_eq!(b.counter() as u64, m.count, "calls made on {fuel} fuel");
    }
    b.assert_healthy();
}

#[test]
fn a_huge_br_table_spin_is_stopped_by_fuel_exactly() {
    let mut b = Bombs::new();
    for fuel in FUELS {
        let mut m = Meter::new(fuel);
        simulate_br_table_spin(&mut m);
        b.out_of_fuel("br_table_spin", &[], fuel);
        assert_eq!(b.counter() as u64, m.count, "iterations on {fuel} fuel");
    }
    b.assert_healthy();
}

#[test]
fn every_cpu_bomb_is_stopped_by_its_deadline() {
    let mut b = Bombs::new();
    let bombs: &[(&str, &[Val])] = &[
        ("spin", &[]),
        ("ping", &[Val::I32(60)]),
        ("tree", &[]),
        ("br_table_spin", &[]),
        ("fill_spin", &[]),
    ];
    for &(name, args) in bombs {
        for timeout in [Duration::from_millis(1), Duration::from_millis(30)] {
            b.reset_counter();
            let took = b.interrupted(name, args, timeout);
            eprintln!("{name}: {timeout:?} timeout, stopped after {took:?}");
            b.assert_healthy();
        }
    }
    // After deadlines, fuel still works on the same store, and vice versa.
    b.out_of_fuel("spin", &[], 1_000);
    b.interrupted("spin", &[], Duration::from_millis(10));
    b.assert_healthy();
}

#[test]
fn an_expensive_operator_in_a_loop_is_metered_per_operator() {
    // `memory.fill` of 16 MiB costs one unit like any operator: fuel bounds the number
    // of operators, not their work. Each iteration is `memory.fill` and its 3 operands
    // (4), `global.get, i32.const, i32.add, global.set` (4) and `br` (1): after the
    // `loop` (1), F fuel runs floor((F - 1) / 9) + 1 fills.
    let mut b = Bombs::new();
    for fuel in [1u64, 9, 10, 100] {
        b.out_of_fuel("fill_spin", &[], fuel);
        assert_eq!(b.counter() as u64, (fuel - 1) / 9 + 1, "fuel {fuel}");
    }
    let mem = b.instance.get_memory(&b.store, "mem").expect("mem");
    assert!(mem.data(&b.store)[..0x1000000].iter().all(|&x| x == 11));
    b.assert_healthy();
}

#[test]
fn a_bomb_in_the_start_function_is_stopped_during_instantiation() {
    let engine = metered_engine();
    let module = Module::new(
        &engine,
        r#"(module (func $spin (loop (br 0))) (start $spin))"#,
    )
    .expect("compiles");
    let mut store = Store::new(&engine, ());
    store.set_fuel(10_000).expect("fuel on");
    expect_trap(
        Instance::new(&mut store, &module, &[]),
        TrapCode::OutOfFuel,
        "start on fuel",
    );
    store.set_fuel(u64::MAX).expect("fuel on");
    store
        .set_timeout(Duration::from_millis(20))
        .expect("epochs on");
    expect_trap(
        Instance::new(&mut store, &module, &[]),
        TrapCode::Interrupted,
        "start with a deadline",
    );
    store.set_epoch_deadline(u64::MAX).expect("epochs on");
    assert_store_healthy(&mut store);
}

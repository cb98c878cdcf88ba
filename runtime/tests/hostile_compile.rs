//! Compilation is bounded: the shapes that made Cranelift blow up (SSA construction
//! over many locals and blocks, huge straight-line bodies, thousands of live values,
//! fuel threaded through many loops) compile through the compile budget's cheaper
//! paths, and the code they give computes what the module says. The budget's
//! decisions are unit-tested in `kiln-jit` (`shape.rs`); the times are in
//! BENCHMARKS.md ("Compilation bounds"), not here.

use kiln::*;
use std::fmt::Write as _;

fn run_i32(engine: &Engine, wat: &str, name: &str, arg: i32) -> i32 {
    let module = Module::new(engine, wat).expect("compiles");
    let mut store = Store::new(engine, ());
    if engine_has_fuel(engine) {
        store.set_fuel(u64::MAX / 2).expect("fuel");
    }
    let i = Instance::new(&mut store, &module, &[]).expect("instantiates");
    let f = i.get_typed_func::<i32, i32>(&store, name).expect("export");
    f.call(&mut store, arg).expect("runs")
}

fn engine_has_fuel(engine: &Engine) -> bool {
    Store::new(engine, ()).get_fuel().is_ok()
}

/// 1,000 nested loops, 2,000 locals all read in the innermost (the red team's 11 KB
/// module took 10 s): locals go to stack slots.
#[test]
fn nested_loops_with_many_locals() {
    let (depth, locals) = (1000, 2000);
    let mut w = String::from("(module (func (export \"f\") (param i32) (result i32)");
    w.push_str(&" (local i32)".repeat(locals));
    for k in 1..=locals {
        write!(w, " (local.set {k} (i32.const {k}))").expect("write");
    }
    w.push_str(&" loop".repeat(depth));
    w.push_str(" local.get 0");
    for k in 1..=locals {
        write!(w, " local.get {k} i32.add").expect("write");
    }
    w.push_str(" local.set 0");
    w.push_str(&" end".repeat(depth));
    w.push_str(" local.get 0))");
    let sum = (locals * (locals + 1) / 2) as i32;
    assert_eq!(run_i32(&Engine::default(), &w, "f", 5), 5 + sum);
}

/// A `br_table` over 2,000 blocks with 1,000 locals live across all of them.
#[test]
fn br_table_over_many_blocks_with_live_locals() {
    let (blocks, locals) = (2000, 1000);
    let mut w = String::from("(module (func (export \"f\") (param i32) (result i32)");
    w.push_str(&" (local i32)".repeat(locals));
    w.push_str(&" block".repeat(blocks));
    w.push_str(" local.get 0 br_table");
    for k in 0..blocks {
        write!(w, " {k}").expect("write");
    }
    for k in 0..blocks {
        // Leaving block k: local (k mod L)+1 gets one more than the one before it.
        let (a, b) = (1 + k % locals, 1 + (k + 1) % locals);
        write!(w, " end local.get {a} i32.const 1 i32.add local.set {b}").expect("write");
    }
    for k in 1..=locals {
        write!(w, " local.get {k}").expect("write");
    }
    w.push_str(&" i32.add".repeat(locals - 1));
    w.push_str("))");
    let engine = Engine::default();
    let module = Module::new(&engine, &w).expect("compiles");
    let mut store = Store::new(&engine, ());
    let i = Instance::new(&mut store, &module, &[]).expect("instantiates");
    let f = i.get_typed_func::<i32, i32>(&store, "f").expect("f");
    // Entering at the last block runs one step: local 1 = local 1000 + 1 = 1.
    assert_eq!(f.call(&mut store, 1999).expect("runs"), 1);
    // Entering at block 0 runs every step.
    let all = f.call(&mut store, 0).expect("runs");
    assert!(all > 1000, "{all}");
}

/// 5,000 values live on the operand stack at once: single-pass allocation.
#[test]
fn thousands_of_live_values() {
    let n = 5000;
    let mut w = String::from("(module (func (export \"f\") (param i32) (result i32)");
    for k in 0..n {
        write!(w, " local.get 0 i32.const {k} i32.xor").expect("write");
    }
    w.push_str(&" i32.add".repeat(n - 1));
    w.push_str("))");
    let expect = (0..n as i32).fold(0i32, |acc, k| acc.wrapping_add(7 ^ k));
    assert_eq!(run_i32(&Engine::default(), &w, "f", 7), expect);
}

/// 120,000 straight-line operators: past the optimizer's budget, compiled cheaply.
#[test]
fn huge_straight_line_body() {
    let n = 30_000;
    let mut w = String::from("(module (func (export \"f\") (param i32) (result i32)");
    w.push_str(&" local.get 0 i32.const 3 i32.add local.set 0".repeat(n));
    w.push_str(" local.get 0))");
    assert_eq!(run_i32(&Engine::default(), &w, "f", 1), 1 + 3 * n as i32);
}

/// Many loops with fuel (the red team's 20,000 loops took 17.8 s with fuel, 0.21 s
/// without): fuel is charged in the pinned register, no variable crosses the loops, and
/// the charges stay exact.
#[test]
fn many_loops_with_fuel() {
    let n = 5000;
    let w = format!(
        "(module (func (export \"f\") (param i32) (result i32) {} local.get 0))",
        "(loop (br_if 0 (i32.eqz (local.get 0))))".repeat(n)
    );
    let mut config = Config::new();
    config.consume_fuel(true);
    let engine = Engine::new(&config).expect("engine");
    let module = Module::new(&engine, &w).expect("compiles");
    let mut store = Store::new(&engine, ());
    let i = Instance::new(&mut store, &module, &[]).expect("instantiates");
    let f = i.get_typed_func::<i32, i32>(&store, "f").expect("f");
    store.set_fuel(1_000_000).expect("fuel");
    assert_eq!(f.call(&mut store, 1).expect("runs"), 1);
    // Each loop: local.get, i32.eqz, br_if (`loop` and `end` are free); then local.get.
    assert_eq!(
        store.get_fuel().expect("fuel"),
        1_000_000 - 3 * n as u64 - 1
    );
}

/// A function that would need more compiler memory than the embedder allows is refused
/// with a clear error, before anything is compiled.
#[test]
fn compile_memory_is_limited() {
    let w = format!("(module (func {}))", "i32.const 1 drop ".repeat(20_000));
    let mut config = Config::new();
    config.max_compile_memory(8 << 20);
    let engine = Engine::new(&config).expect("engine");
    let err = Module::new(&engine, &w).expect_err("over the budget");
    assert!(err.to_string().contains("compile budget exceeded"), "{err}");
    // The default budget compiles it.
    Module::new(&Engine::default(), &w).expect("compiles");
}

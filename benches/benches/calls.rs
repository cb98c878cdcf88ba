//! Call overhead, Kiln against Wasmtime 48 (defaults):
//!
//! - `calls/host-to-wasm-empty/{kiln,wasmtime}`: the host calls an exported empty
//!   function through a typed function `() -> ()`; per call.
//! - `calls/wasm-to-host/{kiln,wasmtime}`: a wasm loop calls an imported host closure
//!   `(i32, i32) -> i32` defined with `Linker::func_wrap`; per call (the loop runs as
//!   many calls as criterion asks for, so the entry into wasm is spread over them).
//! - `calls/wasm-to-wasm-indirect/{kiln,wasmtime}`: a wasm loop makes `call_indirect`
//!   calls through a 4-entry table, cycling over the entries; per call.
//! - `calls/wasm-to-wasm-call-chain/{kiln,wasmtime}` and `.../tail-chain`: chains of
//!   1,000 mutually recursive calls (`$even`/`$odd`), made with `call` (1,000 frames
//!   deep) or with `return_call` (one frame); per call. A tail call should cost no more
//!   than a call (issue 21).
//!
//! ```text
//! cargo bench -p kiln-benches --bench calls
//! cargo bench -p kiln-benches --bench calls -- --quick
//! ```

#![forbid(unsafe_code)]

use criterion::{criterion_group, criterion_main, Criterion};
use std::time::{Duration, Instant};

const EMPTY: &str = r#"(module (func (export "nop")))"#;

/// `run(n)` calls `host.add(acc, i)` for i = n down to 1 and returns acc.
const TO_HOST: &str = r#"(module
  (import "host" "add" (func $add (param i32 i32) (result i32)))
  (func (export "run") (param $n i32) (result i32)
    (local $acc i32)
    (block $done
      (loop $l
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $acc (call $add (local.get $acc) (local.get $n)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $l)))
    (local.get $acc)))"#;

/// `run(n)` makes n `call_indirect`s, to table slot i & 3 for i = n down to 1; slot k
/// adds k + 1.
const INDIRECT: &str = r#"(module
  (type $t (func (param i32) (result i32)))
  (table 4 funcref)
  (elem (i32.const 0) func $f0 $f1 $f2 $f3)
  (func $f0 (type $t) (i32.add (local.get 0) (i32.const 1)))
  (func $f1 (type $t) (i32.add (local.get 0) (i32.const 2)))
  (func $f2 (type $t) (i32.add (local.get 0) (i32.const 3)))
  (func $f3 (type $t) (i32.add (local.get 0) (i32.const 4)))
  (func (export "run") (param $n i32) (result i32)
    (local $acc i32)
    (block $done
      (loop $l
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $acc
          (call_indirect (type $t) (local.get $acc) (i32.and (local.get $n) (i32.const 3))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $l)))
    (local.get $acc)))"#;

/// `run(n)` makes chains of 1,000 mutually recursive calls until n calls are made;
/// each step is `({open} $f (...)){close}`: `return (call` and `)`, or `return_call`
/// and nothing.
fn chain_module(open: &str, close: &str) -> String {
    format!(
        r#"(module
  (func $even (param i64) (result i32)
    (if (result i32) (i64.eqz (local.get 0))
      (then (i32.const 1))
      (else ({open} $odd (i64.sub (local.get 0) (i64.const 1))){close})))
  (func $odd (param i64) (result i32)
    (if (result i32) (i64.eqz (local.get 0))
      (then (i32.const 0))
      (else ({open} $even (i64.sub (local.get 0) (i64.const 1))){close})))
  (func (export "run") (param $n i32) (result i32)
    (local $acc i32)
    (block $done
      (loop $l
        (br_if $done (i32.le_s (local.get $n) (i32.const 0)))
        (local.set $acc (i32.add (local.get $acc) (call $even (i64.const 1000))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1000)))
        (br $l)))
    (local.get $acc)))"#
    )
}

/// What `run(n)` of a chain module returns: one per chain.
fn chain_result(n: i32) -> i32 {
    (n + 999) / 1000
}

/// What `run(n)` of [`TO_HOST`] returns.
fn to_host_result(n: i32) -> i32 {
    (1..=n).fold(0i32, |a, i| a.wrapping_add(i))
}

/// What `run(n)` of [`INDIRECT`] returns.
fn indirect_result(n: i32) -> i32 {
    (1..=n).fold(0i32, |a, i| a.wrapping_add((i & 3) + 1))
}

/// `run(1000)` of a loop module and what it must return.
const CHECK_N: i32 = 1000;

/// Times `iters` calls made by `run(n)` calls of at most 2^20 each.
fn per_call(iters: u64, mut run: impl FnMut(i32)) -> Duration {
    let t = Instant::now();
    let mut left = iters;
    while left > 0 {
        let n = left.min(1 << 20);
        run(n as i32);
        left -= n;
    }
    t.elapsed()
}

fn add(a: i32, b: i32) -> i32 {
    a.wrapping_add(b)
}

/// Kiln: a store and the typed `run` export of `wat` (with `host.add` defined).
fn kiln_run(wat: &str, want: i32) -> Result<(kiln::Store<()>, kiln::TypedFunc<i32, i32>), String> {
    let engine = kiln::Engine::default();
    let module = kiln::Module::new(&engine, wat).map_err(|e| e.to_string())?;
    let mut linker = kiln::Linker::<()>::new(&engine);
    linker
        .func_wrap("host", "add", add)
        .map_err(|e| e.to_string())?;
    let mut store = kiln::Store::new(&engine, ());
    let instance = linker
        .instantiate(&mut store, &module)
        .map_err(|e| e.to_string())?;
    let run = instance
        .get_typed_func::<i32, i32>(&store, "run")
        .map_err(|e| e.to_string())?;
    let got = run.call(&mut store, CHECK_N).map_err(|e| e.to_string())?;
    if got != want {
        return Err(format!("kiln: run({CHECK_N}) = {got}, expected {want}"));
    }
    Ok((store, run))
}

/// Wasmtime: a store and the typed `run` export of `wat` (with `host.add` defined).
fn wasmtime_run(
    wat: &str,
    want: i32,
) -> Result<(wasmtime::Store<()>, wasmtime::TypedFunc<i32, i32>), String> {
    let chain = kiln_benches::wasmtime_runner::chain;
    let engine = wasmtime::Engine::default();
    let module = wasmtime::Module::new(&engine, wat).map_err(|e| chain(&e))?;
    let mut linker = wasmtime::Linker::<()>::new(&engine);
    linker
        .func_wrap("host", "add", add)
        .map_err(|e| chain(&e))?;
    let mut store = wasmtime::Store::new(&engine, ());
    let instance = linker
        .instantiate(&mut store, &module)
        .map_err(|e| chain(&e))?;
    let run = instance
        .get_typed_func::<i32, i32>(&mut store, "run")
        .map_err(|e| chain(&e))?;
    let got = run.call(&mut store, CHECK_N).map_err(|e| chain(&e))?;
    if got != want {
        return Err(format!("wasmtime: run({CHECK_N}) = {got}, expected {want}"));
    }
    Ok((store, run))
}

fn host_to_wasm(c: &mut Criterion) {
    let mut g = c.benchmark_group("calls/host-to-wasm-empty");
    let kiln = (|| -> Result<_, String> {
        let engine = kiln::Engine::default();
        let module = kiln::Module::new(&engine, EMPTY).map_err(|e| e.to_string())?;
        let mut store = kiln::Store::new(&engine, ());
        let i = kiln::Instance::new(&mut store, &module, &[]).map_err(|e| e.to_string())?;
        let f = i
            .get_typed_func::<(), ()>(&store, "nop")
            .map_err(|e| e.to_string())?;
        f.call(&mut store, ()).map_err(|e| e.to_string())?;
        Ok((store, f))
    })();
    match kiln {
        Ok((mut store, f)) => {
            g.bench_function("kiln", |b| b.iter(|| f.call(&mut store, ())));
        }
        Err(e) => eprintln!("calls/host-to-wasm-empty/kiln: {e}; skipped"),
    }
    let wasmtime = (|| -> Result<_, String> {
        let chain = kiln_benches::wasmtime_runner::chain;
        let engine = wasmtime::Engine::default();
        let module = wasmtime::Module::new(&engine, EMPTY).map_err(|e| chain(&e))?;
        let mut store = wasmtime::Store::new(&engine, ());
        let i = wasmtime::Instance::new(&mut store, &module, &[]).map_err(|e| chain(&e))?;
        let f = i
            .get_typed_func::<(), ()>(&mut store, "nop")
            .map_err(|e| chain(&e))?;
        f.call(&mut store, ()).map_err(|e| chain(&e))?;
        Ok((store, f))
    })();
    match wasmtime {
        Ok((mut store, f)) => {
            g.bench_function("wasmtime", |b| b.iter(|| f.call(&mut store, ())));
        }
        Err(e) => eprintln!("calls/host-to-wasm-empty/wasmtime: {e}; skipped"),
    }
    g.finish();
}

/// The per-call benchmarks driven by a wasm loop (`run(n)`).
fn loops(c: &mut Criterion) {
    let call_chain = chain_module("return (call", ")");
    let tail_chain = chain_module("return_call", "");
    for (group, wat, result) in [
        (
            "calls/wasm-to-host",
            TO_HOST,
            to_host_result as fn(i32) -> i32,
        ),
        ("calls/wasm-to-wasm-indirect", INDIRECT, indirect_result),
        ("calls/wasm-to-wasm-call-chain", &call_chain, chain_result),
        ("calls/wasm-to-wasm-tail-chain", &tail_chain, chain_result),
    ] {
        let want = result(CHECK_N);
        let mut g = c.benchmark_group(group);
        match kiln_run(wat, want) {
            Ok((mut store, run)) => {
                g.bench_function("kiln", |b| {
                    b.iter_custom(|iters| {
                        per_call(iters, |n| {
                            std::hint::black_box(run.call(&mut store, n).is_ok());
                        })
                    })
                });
            }
            Err(e) => eprintln!("{group}/kiln: {e}; skipped"),
        }
        match wasmtime_run(wat, want) {
            Ok((mut store, run)) => {
                g.bench_function("wasmtime", |b| {
                    b.iter_custom(|iters| {
                        per_call(iters, |n| {
                            std::hint::black_box(run.call(&mut store, n).is_ok());
                        })
                    })
                });
            }
            Err(e) => eprintln!("{group}/wasmtime: {e}; skipped"),
        }
        g.finish();
    }
}

criterion_group!(benches, host_to_wasm, loops);
criterion_main!(benches);

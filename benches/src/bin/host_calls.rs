//! What a call to the host costs inside a wasm loop, per iteration, in one process:
//!
//! ```text
//! cargo run --release -p kiln-benches --bin host_calls [-- --runs N] [--iterations N]
//! ```
//! - `global`: the loop increments a mutable `i64` wasm global (the baseline);
//! - `inline-cell`: the loop calls an imported host function whose inline body
//!   (`Linker::func_inline`) increments a `StoreCell<u64>`, in a module compiled by the
//!   linker (`Linker::module`): no call remains;
//! - `typed-host`: the same import as a typed host closure (`Func::wrap`) that
//!   increments a `StoreCell`, called through its direct entry;
//! - `add-host`: a typed `(i32, i32) -> i32` host closure, called through its direct
//!   entry (the criterion bench `calls/wasm-to-host` measures the same call).
//!
//! Rounds run the sides in turn (the order rotating each round), and each side's
//! figure is the median of its rounds. Prints a markdown table with the ratio to
//! `global`.

#![forbid(unsafe_code)]

use kiln::{Engine, FuncType, InlineBuilder, Linker, Module, Store, StoreCell};
use kiln_benches::median;
use std::time::{Duration, Instant};

const LOOP: &str = r#"
    (module
      (import "host" "bump" (func $bump))
      (import "host" "add" (func $add (param i32 i32) (result i32)))
      (global $g (mut i64) (i64.const 0))
      (func (export "global") (param $n i32)
        (loop $l
          (global.set $g (i64.add (global.get $g) (i64.const 1)))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br_if $l (local.get $n))))
      (func (export "bump") (param $n i32)
        (loop $l
          (call $bump)
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br_if $l (local.get $n))))
      (func (export "add") (param $n i32) (result i32)
        (local $acc i32)
        (loop $l
          (local.set $acc (call $add (local.get $acc) (local.get $n)))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br_if $l (local.get $n)))
        (local.get $acc)))
"#;

/// One side: how to run `n` iterations once.
struct Side {
    name: &'static str,
    run: Box<dyn FnMut(i32) -> Result<Duration, String>>,
}

fn side(
    engine: &Engine,
    name: &'static str,
    inline: bool,
    export: &'static str,
) -> Result<Side, String> {
    let e = |e: kiln::Error| e.to_string();
    let mut store = Store::new(engine, ());
    let cell = StoreCell::new(&mut store, 0u64).map_err(e)?;
    let mut linker = Linker::new(engine);
    let bump = move |mut caller: kiln::Caller<'_, ()>| {
        let v = cell.get(&caller);
        cell.set(&mut caller, v + 1);
    };
    if inline {
        let mut b = InlineBuilder::new(&FuncType::new([], [])).map_err(e)?;
        let v = b.cell_get(&cell).map_err(e)?;
        let one = b.constant(1u64).map_err(e)?;
        let sum = b.add(v, one).map_err(e)?;
        b.cell_set(&cell, sum).map_err(e)?;
        let body = b.finish(&[]).map_err(e)?;
        linker.func_inline("host", "bump", body, bump).map_err(e)?;
    } else {
        linker.func_wrap("host", "bump", bump).map_err(e)?;
    }
    linker
        .func_wrap("host", "add", |a: i32, b: i32| a.wrapping_add(b))
        .map_err(e)?;
    let module = if inline {
        linker.module(LOOP).map_err(e)?
    } else {
        Module::new(engine, LOOP).map_err(e)?
    };
    if inline && module.inlined_imports().count() != 1 {
        return Err("the bump body was not inlined".into());
    }
    let instance = linker.instantiate(&mut store, &module).map_err(e)?;
    let func = instance
        .get_func(&store, export)
        .ok_or_else(|| format!("no export {export}"))?;
    Ok(Side {
        name,
        run: Box::new(move |n| {
            let mut results = vec![kiln::Val::I32(0); func.ty(&store).results().len()];
            let started = Instant::now();
            func.call(&mut store, &[kiln::Val::I32(n)], &mut results)
                .map_err(e)?;
            Ok(started.elapsed())
        }),
    })
}

fn main() -> Result<(), String> {
    let mut runs = 11usize;
    let mut iterations = 100_000_000i32;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let value = args.next();
        match a.as_str() {
            "--runs" => runs = value.and_then(|v| v.parse().ok()).ok_or("--runs N")?,
            "--iterations" => {
                iterations = value
                    .and_then(|v| v.parse().ok())
                    .ok_or("--iterations N (at most 2^31 - 1)")?
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let engine = Engine::default();
    let mut sides = vec![
        side(&engine, "global", false, "global")?,
        side(&engine, "inline-cell", true, "bump")?,
        side(&engine, "typed-host", false, "bump")?,
        side(&engine, "add-host", false, "add")?,
    ];
    // Warm up once each.
    for s in &mut sides {
        (s.run)(iterations / 10)?;
    }
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); sides.len()];
    for round in 0..runs {
        for k in 0..sides.len() {
            let i = (k + round) % sides.len();
            times[i].push((sides[i].run)(iterations)?);
        }
    }
    let per_iter: Vec<f64> = times
        .into_iter()
        .map(|mut t| median(&mut t).as_secs_f64() * 1e9 / f64::from(iterations))
        .collect();
    println!("| side | ns per iteration (median of {runs}) | ratio to global |");
    println!("|---|---:|---:|");
    for (s, ns) in sides.iter().zip(&per_iter) {
        println!("| {} | {ns:.3} | {:.3} |", s.name, ns / per_iter[0]);
    }
    Ok(())
}

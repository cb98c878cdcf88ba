//! Memory64 against memory32: the same kernels written once with `i32` addresses and
//! once with `i64` addresses, on Kiln and on Wasmtime 48 (default settings on both, so
//! memory32 accesses are guard-page checked and memory64 ones explicitly checked with
//! Spectre-safe clamping). Each round runs the four variants of a kernel in turn; the
//! table gives each one's median and the ratios.
//!
//! ```text
//! cargo run --release -p kiln-benches --bin memory64 [-- --runs N]
//! ```
//!
//! The kernels (16 MiB memories, data from an LCG, filled before timing):
//! - `sum`: sequential `i32.load`s over 4 MiB;
//! - `histogram`: a byte load, then a load and a store of one of 256 counters;
//! - `chase`: a random pointer chase through 1M 4-byte links (dependent loads);
//! - `copy`: an 8-byte load/store copy of 4 MiB;
//! - `matmul`: a 64x64 `f64` matrix product (strided loads).

#![forbid(unsafe_code)]

use kiln_benches::median;
use std::time::{Duration, Instant};

/// The kernels' source, with `$T` the address type (`i32` or `i64`), `$MEM` the memory's
/// index type, `$LOAD32U` a 4-byte unsigned load to `$T`, and `$RESULT_P` the chase's
/// final pointer as an `i32`.
const TEMPLATE: &str = r#"(module
  (memory (export "mem") $MEM 256)
  (func (export "init")
    (local $i $T) (local $x i32)
    (local.set $x (i32.const 12345))
    (loop $l
      (local.set $x (i32.add (i32.mul (local.get $x) (i32.const 1103515245)) (i32.const 12345)))
      (i32.store (local.get $i) (local.get $x))
      (local.set $i ($T.add (local.get $i) ($T.const 4)))
      (br_if $l ($T.lt_u (local.get $i) ($T.const 4194304))))
    ;; chase links at 4 MiB: link k holds a pseudo-random k' (in 0..1M), times 4.
    (local.set $i ($T.const 0))
    (loop $l
      (local.set $x (i32.add (i32.mul (local.get $x) (i32.const 1103515245)) (i32.const 12345)))
      (i32.store offset=4194304 ($T.shl (local.get $i) ($T.const 2))
        (i32.shl (i32.and (i32.shr_u (local.get $x) (i32.const 8)) (i32.const 0xfffff)) (i32.const 2)))
      (local.set $i ($T.add (local.get $i) ($T.const 1)))
      (br_if $l ($T.lt_u (local.get $i) ($T.const 1048576)))))
  (func (export "sum") (param $reps i32) (result i32)
    (local $i $T) (local $acc i32)
    (loop $r
      (local.set $i ($T.const 0))
      (loop $l
        (local.set $acc (i32.add (local.get $acc) (i32.load (local.get $i))))
        (local.set $i ($T.add (local.get $i) ($T.const 4)))
        (br_if $l ($T.lt_u (local.get $i) ($T.const 4194304))))
      (br_if $r (local.tee $reps (i32.sub (local.get $reps) (i32.const 1)))))
    (local.get $acc))
  (func (export "histogram") (param $reps i32) (result i32)
    (local $i $T) (local $c $T)
    (loop $r
      (local.set $i ($T.const 0))
      (loop $l
        (local.set $c ($T.add ($T.const 8388608) ($T.shl ($T.load8_u (local.get $i)) ($T.const 2))))
        (i32.store (local.get $c) (i32.add (i32.load (local.get $c)) (i32.const 1)))
        (local.set $i ($T.add (local.get $i) ($T.const 1)))
        (br_if $l ($T.lt_u (local.get $i) ($T.const 4194304))))
      (br_if $r (local.tee $reps (i32.sub (local.get $reps) (i32.const 1)))))
    (i32.load ($T.const 8388608)))
  (func (export "chase") (param $reps i32) (result i32)
    (local $p $T) (local $n i32)
    (loop $r
      (local.set $n (i32.const 1048576))
      (loop $l
        (local.set $p ($LOAD32U offset=4194304 (local.get $p)))
        (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
      (br_if $r (local.tee $reps (i32.sub (local.get $reps) (i32.const 1)))))
    $RESULT_P)
  (func (export "copy") (param $reps i32) (result i32)
    (local $i $T)
    (loop $r
      (local.set $i ($T.const 0))
      (loop $l
        (i64.store offset=8388608 (local.get $i) (i64.load (local.get $i)))
        (local.set $i ($T.add (local.get $i) ($T.const 8)))
        (br_if $l ($T.lt_u (local.get $i) ($T.const 4194304))))
      (br_if $r (local.tee $reps (i32.sub (local.get $reps) (i32.const 1)))))
    (i32.load offset=8388612 ($T.const 0)))
  (func (export "matmul") (param $reps i32) (result i32)
    (local $i $T) (local $j $T) (local $k $T) (local $acc f64)
    (loop $r
      (local.set $i ($T.const 0))
      (loop $li
        (local.set $j ($T.const 0))
        (loop $lj
          (local.set $acc (f64.const 0))
          (local.set $k ($T.const 0))
          (loop $lk
            (local.set $acc (f64.add (local.get $acc)
              (f64.mul
                (f64.convert_i32_u (i32.load8_u ($T.add ($T.mul (local.get $i) ($T.const 64)) (local.get $k))))
                (f64.load offset=12582912 ($T.shl ($T.add ($T.mul (local.get $k) ($T.const 64)) (local.get $j)) ($T.const 3))))))
            (local.set $k ($T.add (local.get $k) ($T.const 1)))
            (br_if $lk ($T.lt_u (local.get $k) ($T.const 64))))
          (f64.store offset=13631488 ($T.shl ($T.add ($T.mul (local.get $i) ($T.const 64)) (local.get $j)) ($T.const 3)) (local.get $acc))
          (local.set $j ($T.add (local.get $j) ($T.const 1)))
          (br_if $lj ($T.lt_u (local.get $j) ($T.const 64))))
        (local.set $i ($T.add (local.get $i) ($T.const 1)))
        (br_if $li ($T.lt_u (local.get $i) ($T.const 64))))
      (br_if $r (local.tee $reps (i32.sub (local.get $reps) (i32.const 1)))))
    (i32.trunc_f64_u (f64.load offset=13631488 ($T.const 0)))))"#;

/// Kernels and their repetitions per timed call (about 20-80 ms each here).
const KERNELS: &[(&str, i32)] = &[
    ("sum", 40),
    ("histogram", 8),
    ("chase", 6),
    ("copy", 40),
    ("matmul", 80),
];

fn source(wide: bool) -> String {
    let (t, mem, load, result) = match wide {
        true => (
            "i64",
            "i64",
            "i64.load32_u",
            "(i32.wrap_i64 (local.get $p))",
        ),
        false => ("i32", "", "i32.load", "(local.get $p)"),
    };
    TEMPLATE
        .replace("$RESULT_P", result)
        .replace("$LOAD32U", load)
        .replace("$MEM", mem)
        .replace("$T", t)
}

/// One engine's instance of one variant, ready to run a kernel.
trait Variant {
    fn run(&mut self, kernel: &str, reps: i32) -> Result<(i32, Duration), String>;
}

struct KilnVariant {
    store: kiln::Store<()>,
    instance: kiln::Instance,
}

impl KilnVariant {
    fn new(wat: &str) -> Result<Self, String> {
        let engine = kiln::Engine::default();
        let module = kiln::Module::new(&engine, wat).map_err(|e| e.to_string())?;
        let mut store = kiln::Store::new(&engine, ());
        let instance = kiln::Instance::new(&mut store, &module, &[]).map_err(|e| e.to_string())?;
        let init = instance
            .get_typed_func::<(), ()>(&store, "init")
            .map_err(|e| e.to_string())?;
        init.call(&mut store, ()).map_err(|e| e.to_string())?;
        Ok(KilnVariant { store, instance })
    }
}

impl Variant for KilnVariant {
    fn run(&mut self, kernel: &str, reps: i32) -> Result<(i32, Duration), String> {
        let f = self
            .instance
            .get_typed_func::<i32, i32>(&self.store, kernel)
            .map_err(|e| e.to_string())?;
        let t = Instant::now();
        let r = f.call(&mut self.store, reps).map_err(|e| e.to_string())?;
        Ok((r, t.elapsed()))
    }
}

struct WasmtimeVariant {
    store: wasmtime::Store<()>,
    instance: wasmtime::Instance,
}

impl WasmtimeVariant {
    fn new(wat: &str) -> Result<Self, String> {
        let err = |e: wasmtime::Error| kiln_benches::wasmtime_runner::chain(&e);
        let engine = wasmtime::Engine::default();
        let module = wasmtime::Module::new(&engine, wat).map_err(err)?;
        let mut store = wasmtime::Store::new(&engine, ());
        let instance = wasmtime::Instance::new(&mut store, &module, &[]).map_err(err)?;
        let init = instance
            .get_typed_func::<(), ()>(&mut store, "init")
            .map_err(err)?;
        init.call(&mut store, ()).map_err(err)?;
        Ok(WasmtimeVariant { store, instance })
    }
}

impl Variant for WasmtimeVariant {
    fn run(&mut self, kernel: &str, reps: i32) -> Result<(i32, Duration), String> {
        let err = |e: wasmtime::Error| kiln_benches::wasmtime_runner::chain(&e);
        let f = self
            .instance
            .get_typed_func::<i32, i32>(&mut self.store, kernel)
            .map_err(err)?;
        let t = Instant::now();
        let r = f.call(&mut self.store, reps).map_err(err)?;
        Ok((r, t.elapsed()))
    }
}

fn main() -> Result<(), String> {
    let mut runs = 11usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().and_then(|v| v.parse().ok()).ok_or("--runs N")?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let (narrow, wide) = (source(false), source(true));
    let mut variants: Vec<Box<dyn Variant>> = vec![
        Box::new(KilnVariant::new(&narrow)?),
        Box::new(KilnVariant::new(&wide)?),
        Box::new(WasmtimeVariant::new(&narrow)?),
        Box::new(WasmtimeVariant::new(&wide)?),
    ];
    println!(
        "| kernel | Kiln m32 | Kiln m64 | Kiln m64/m32 | Wasmtime m32 | Wasmtime m64 | \
         Wasmtime m64/m32 | m64 Kiln/Wasmtime |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for &(kernel, reps) in KERNELS {
        let mut times: Vec<Vec<Duration>> = vec![Vec::new(); variants.len()];
        for _ in 0..runs {
            let mut answer = None;
            for (v, t) in variants.iter_mut().zip(&mut times) {
                let (r, d) = v.run(kernel, reps)?;
                // Every variant computes the same thing from the same data (kernels
                // that keep state in memory keep it alike in every variant).
                if *answer.get_or_insert(r) != r {
                    return Err(format!("{kernel}: results differ ({r} vs {answer:?})"));
                }
                t.push(d);
            }
        }
        let m: Vec<f64> = times
            .iter_mut()
            .map(|t| median(t).as_secs_f64() * 1e3)
            .collect();
        println!(
            "| {kernel} | {:.2} ms | {:.2} ms | {:.3} | {:.2} ms | {:.2} ms | {:.3} | {:.3} |",
            m[0],
            m[1],
            m[1] / m[0],
            m[2],
            m[3],
            m[3] / m[2],
            m[1] / m[3]
        );
    }
    Ok(())
}

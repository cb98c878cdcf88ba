//! Instantiation of a module with a memory (1 page, 4 data segments), a 100-entry
//! table filled by an element segment, a global and 100 functions, with no imports:
//! `instantiate/kiln` and `instantiate/wasmtime` (defaults). A sample times creating a
//! store and instantiating into it (`Instance::new`); the module is compiled once
//! beforehand, and the store is dropped after the clock stops.
//!
//! ```text
//! cargo bench -p kiln-benches --bench instantiate
//! ```

#![forbid(unsafe_code)]

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// The module, as WAT.
fn wat() -> String {
    let mut s = String::from(
        "(module\n\
         (type $t (func (param i32) (result i32)))\n\
         (memory (export \"memory\") 1)\n\
         (table (export \"table\") 100 funcref)\n\
         (global $g (export \"counter\") (mut i32) (i32.const 0))\n",
    );
    for i in 0..4 {
        let bytes: String = (0..64)
            .map(|b| format!("\\{:02x}", (b * 7 + i) % 256))
            .collect();
        s.push_str(&format!("(data (i32.const {}) \"{bytes}\")\n", i * 4096));
    }
    let names: Vec<String> = (0..100).map(|i| format!("$f{i}")).collect();
    s.push_str(&format!("(elem (i32.const 0) func {})\n", names.join(" ")));
    for i in 0..100 {
        s.push_str(&format!(
            "(func $f{i} (type $t)\n\
             (global.set $g (i32.add (global.get $g) (i32.const 1)))\n\
             (i32.add (i32.load (i32.const {})) (i32.add (local.get 0) (i32.const {i}))))\n",
            (i % 4) * 4096
        ));
    }
    s.push_str(
        "(func (export \"call\") (param i32 i32) (result i32)\n\
                (call_indirect (type $t) (local.get 1) (local.get 0))))\n",
    );
    s
}

fn kiln_setup(wasm: &[u8]) -> Result<(kiln::Engine, kiln::Module), String> {
    let engine = kiln::Engine::default();
    let module = kiln::Module::from_binary(&engine, wasm).map_err(|e| e.to_string())?;
    // One instance works: f99 (table slot 99) adds 99 + 1 to the first word of data
    // segment 3 (bytes 3, 10, 17, 24).
    let mut store = kiln::Store::new(&engine, ());
    let i = kiln::Instance::new(&mut store, &module, &[]).map_err(|e| e.to_string())?;
    let call = i
        .get_typed_func::<(i32, i32), i32>(&store, "call")
        .map_err(|e| e.to_string())?;
    let got = call.call(&mut store, (99, 1)).map_err(|e| e.to_string())?;
    let want = 100i32.wrapping_add(i32::from_le_bytes([3, 10, 17, 24]));
    if got != want {
        return Err(format!("kiln: call(99, 1) = {got}, expected {want}"));
    }
    Ok((engine, module))
}

fn wasmtime_setup(wasm: &[u8]) -> Result<(wasmtime::Engine, wasmtime::Module), String> {
    let chain = kiln_benches::wasmtime_runner::chain;
    let engine = wasmtime::Engine::default();
    let module = wasmtime::Module::new(&engine, wasm).map_err(|e| chain(&e))?;
    let mut store = wasmtime::Store::new(&engine, ());
    let i = wasmtime::Instance::new(&mut store, &module, &[]).map_err(|e| chain(&e))?;
    let call = i
        .get_typed_func::<(i32, i32), i32>(&mut store, "call")
        .map_err(|e| chain(&e))?;
    let got = call.call(&mut store, (99, 1)).map_err(|e| chain(&e))?;
    let want = 100i32.wrapping_add(i32::from_le_bytes([3, 10, 17, 24]));
    if got != want {
        return Err(format!("wasmtime: call(99, 1) = {got}, expected {want}"));
    }
    Ok((engine, module))
}

fn instantiate(c: &mut Criterion) {
    let wasm = match wat::parse_str(wat()) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("the module does not parse: {e}");
            return;
        }
    };
    let (k, w) = match kiln_setup(&wasm).and_then(|k| Ok((k, wasmtime_setup(&wasm)?))) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("cannot set up: {e}");
            return;
        }
    };
    let mut g = c.benchmark_group("instantiate");
    g.bench_function("kiln", |b| {
        let (engine, module) = &k;
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let mut store = kiln::Store::new(engine, ());
                let i = kiln::Instance::new(&mut store, module, &[]);
                total += t.elapsed();
                black_box((&i, &store));
            }
            total
        })
    });
    g.bench_function("wasmtime", |b| {
        let (engine, module) = &w;
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let mut store = wasmtime::Store::new(engine, ());
                let i = wasmtime::Instance::new(&mut store, module, &[]);
                total += t.elapsed();
                black_box((&i, &store));
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, instantiate);
criterion_main!(benches);

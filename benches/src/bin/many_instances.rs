//! Instance density: keeps N live instances (default 10,000), each in its own store
//! with its own 1-page linear memory, and reports the process's resident and virtual
//! memory.
//!
//! ```text
//! cargo run --release -p kiln-benches --bin many_instances [-- N]
//! ```
//! Each memory reserves `Config::memory_reservation` (4 GiB + 32 MiB guard by default)
//! of address space, of which only the accessible pages are backed.

#![forbid(unsafe_code)]

use kiln::{Engine, Instance, Module, Store};
use std::time::Instant;

fn status(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .map(|l| l[field.len()..].trim().to_string())
        })
        .unwrap_or_else(|| "?".into())
}

fn main() -> Result<(), kiln::Error> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module (memory (export "m") 1)
            (func (export "touch") (param i32) (result i32)
              (i32.store (i32.const 0) (local.get 0))
              (i32.load (i32.const 0))))"#,
    )?;
    println!(
        "before: VmRSS {} VmSize {}",
        status("VmRSS:"),
        status("VmSize:")
    );
    let t = Instant::now();
    let mut live = Vec::with_capacity(n);
    for i in 0..n {
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[])?;
        let touch = instance.get_typed_func::<i32, i32>(&store, "touch")?;
        assert_eq!(touch.call(&mut store, i as i32)?, i as i32);
        live.push((store, instance));
    }
    let took = t.elapsed();
    println!(
        "{n} live instances (each with its own store and memory) in {:.2} s ({:.1} µs each)",
        took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / n as f64
    );
    println!(
        "after:  VmRSS {} VmSize {}",
        status("VmRSS:"),
        status("VmSize:")
    );
    // Every instance is still usable.
    for (i, (store, instance)) in live.iter_mut().enumerate().step_by(997) {
        let touch = instance.get_typed_func::<i32, i32>(&*store, "touch")?;
        assert_eq!(touch.call(&mut *store, -(i as i32))?, -(i as i32));
    }
    println!("all instances still respond");
    Ok(())
}

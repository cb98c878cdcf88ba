//! Many hostile sandboxes at once: a thousand stores spinning forever on a pool of
//! threads are each stopped by their own deadline, deadlines and fuel of one store never
//! touch another, and the process is healthy afterwards.

#[path = "common/hostile.rs"]
mod hostile;

use hostile::*;
use kiln::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const SPIN: &str = r#"(module
  (global $n (export "n") (mut i64) (i64.const 0))
  (func (export "spin") (loop (br 0)))
  ;; Counts to `n` (a bounded, well-behaved computation).
  (func (export "count") (param $n i64) (result i64)
    (loop $l
      (global.set $n (i64.add (global.get $n) (i64.const 1)))
      (br_if $l (i64.lt_u (global.get $n) (local.get $n))))
    (global.get $n))
  (func (export "ok") (result i32) (i32.const 42)))"#;

fn workers() -> usize {
    2 * std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[test]
fn a_thousand_spinning_sandboxes_are_all_stopped_by_their_deadlines() {
    const SANDBOXES: usize = 1000;
    const TIMEOUT: Duration = Duration::from_millis(50);
    let engine = Engine::new(Config::new().epoch_interruption(true)).expect("engine");
    let module = Module::new(&engine, SPIN).expect("compiles");
    let next = AtomicUsize::new(0);
    let times = Mutex::new(Vec::with_capacity(SANDBOXES));
    let workers = workers();
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= SANDBOXES {
                    return;
                }
                let mut store = Store::new(&engine, k);
                let i = Instance::new(&mut store, &module, &[]).expect("instantiates");
                let spin = i.get_typed_func::<(), ()>(&store, "spin").expect("spin");
                store.set_timeout(TIMEOUT).expect("epochs on");
                let (r, took) = timed(|| spin.call(&mut store, ()));
                expect_trap(r, TrapCode::Interrupted, &format!("sandbox {k}"));
                // The store is still usable once its deadline is lifted.
                store.set_epoch_deadline(u64::MAX).expect("epochs on");
                let ok = i.get_typed_func::<(), i32>(&store, "ok").expect("ok");
                assert_eq!(ok.call(&mut store, ()).expect("ok"), 42);
                times.lock().unwrap_or_else(|e| e.into_inner()).push(took);
            });
        }
    });
    let total = start.elapsed();
    let times = times.into_inner().unwrap_or_else(|e| e.into_inner());
    assert_eq!(times.len(), SANDBOXES, "every sandbox was stopped");
    let min = times.iter().min().copied().unwrap_or_default();
    let max = times.iter().max().copied().unwrap_or_default();
    let mean = times.iter().sum::<Duration>() / SANDBOXES as u32;
    eprintln!(
        "{SANDBOXES} sandboxes on {workers} threads: {total:?} in all; \
         each stopped after {min:?} to {max:?} (mean {mean:?})"
    );
    // The shared engine and the process are healthy.
    let mut store = Store::new(&engine, 0);
    assert_store_healthy(&mut store);
    assert_process_healthy();
}

#[test]
fn deadlines_and_fuel_belong_to_one_store() {
    // While other threads' stores are interrupted over and over (and run out of fuel),
    // a store without a deadline and with plenty of fuel finishes its long count.
    const COUNT: i64 = 100_000_000;
    let engine = metered_engine();
    let module = Module::new(&engine, SPIN).expect("compiles");
    let stop = std::sync::atomic::AtomicBool::new(false);
    let interrupted = AtomicUsize::new(0);
    let (counted, took) = std::thread::scope(|s| {
        for w in 0..workers() {
            let (engine, module, stop, interrupted) = (&engine, &module, &stop, &interrupted);
            s.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let mut store = Store::new(engine, ());
                    let i = Instance::new(&mut store, module, &[]).expect("instantiates");
                    let spin = i.get_typed_func::<(), ()>(&store, "spin").expect("spin");
                    if w % 2 == 0 {
                        store.set_fuel(u64::MAX).expect("fuel on");
                        store
                            .set_timeout(Duration::from_millis(5))
                            .expect("epochs on");
                        expect_trap(spin.call(&mut store, ()), TrapCode::Interrupted, "spin");
                    } else {
                        store.set_fuel(100_000).expect("fuel on");
                        expect_trap(spin.call(&mut store, ()), TrapCode::OutOfFuel, "spin");
                    }
                    interrupted.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        let mut store = Store::new(&engine, ());
        let i = Instance::new(&mut store, &module, &[]).expect("instantiates");
        let count = i
            .get_typed_func::<i64, i64>(&store, "count")
            .expect("count");
        store.set_fuel(u64::MAX >> 1).expect("fuel on");
        let r = timed(|| count.call(&mut store, COUNT));
        stop.store(true, Ordering::Relaxed);
        r
    });
    let counted = counted.expect("the well-behaved store was never stopped");
    assert_eq!(counted, COUNT);
    eprintln!(
        "counted to {COUNT} in {took:?} while {} other sandboxes were stopped",
        interrupted.load(Ordering::Relaxed)
    );
    assert!(interrupted.load(Ordering::Relaxed) > 0);
    assert_process_healthy();
}

const TRAPS: &str = r#"(module
  (memory 1)
  (func (export "oob") (result i32) (i32.load (i32.const 65535)))
  (func (export "unreachable") unreachable)
  (func (export "div0") (result i32) (i32.div_u (i32.const 1) (i32.const 0)))
  (func $deep (export "deep") (call $deep)))"#;

#[test]
fn traps_on_many_threads_while_code_is_published_and_freed() {
    // The signal handler looks faults up in the registry of published code, which
    // other threads change as they compile and drop modules: every trap must still be
    // recognized (an unrecognized fault would kill the process).
    let engine = Engine::default();
    let module = Module::new(&engine, TRAPS).expect("compiles");
    let stop = std::sync::atomic::AtomicBool::new(false);
    let published = AtomicUsize::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                let m = Module::new(&engine, TRAPS).expect("compiles");
                let mut store = Store::new(&engine, ());
                Instance::new(&mut store, &m, &[]).expect("instantiates");
                drop((store, m));
                published.fetch_add(1, Ordering::Relaxed);
            }
        });
        let trappers: Vec<_> = (0..workers())
            .map(|w| {
                let (engine, module) = (&engine, &module);
                s.spawn(move || {
                    let mut store = Store::new(engine, ());
                    let i = Instance::new(&mut store, module, &[]).expect("instantiates");
                    let cases = [
                        ("oob", TrapCode::MemoryOutOfBounds),
                        ("unreachable", TrapCode::Unreachable),
                        ("div0", TrapCode::IntegerDivisionByZero),
                        ("deep", TrapCode::StackOverflow),
                    ];
                    for k in 0..200 {
                        let (name, code) = cases[(w + k) % cases.len()];
                        let f = i.get_func(&store, name).expect("export");
                        let mut out = vec![Val::I32(0); f.ty(&store).results().len()];
                        expect_trap(f.call(&mut store, &[], &mut out), code, name);
                    }
                    assert_store_healthy(&mut store);
                })
            })
            .collect();
        for t in trappers {
            if let Err(p) = t.join() {
                stop.store(true, Ordering::Relaxed);
                std::panic::resume_unwind(p);
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    eprintln!(
        "{} modules published and freed meanwhile",
        published.load(Ordering::Relaxed)
    );
    assert_process_healthy();
}

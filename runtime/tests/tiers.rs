//! The lazy and tiered strategies (`Config::strategy`): functions compiled at their
//! first call, reached through every way into a function, compiled once however many
//! threads ask, replaced by optimized code mid-run with results, fuel and traps
//! unchanged.

use kiln::*;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

fn engine(strategy: Strategy, threshold: u32, fuel: bool) -> Engine {
    let mut config = Config::new();
    config
        .strategy(strategy)
        .tier_up_policy(TierUpPolicy::with_threshold(threshold))
        .consume_fuel(fuel);
    Engine::new(&config).expect("engine")
}

/// The tier of the function named `name` in `profile`.
fn tier(profile: &Profile, name: &str) -> kiln_profiler::Tier {
    profile
        .functions
        .iter()
        .find(|f| f.name.as_deref() == Some(name))
        .map_or(kiln_profiler::Tier::None, |f| f.tier)
}

/// Waits (at most a minute: the background compiler may be slow on a loaded machine)
/// until every function in `names` is optimized.
fn wait_optimized(store: &Store<()>, instance: &Instance, names: &[&str]) {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let p = instance.profile(store).expect("tiered code has a profile");
        if names
            .iter()
            .all(|n| tier(&p, n) == kiln_profiler::Tier::Optimized)
        {
            return;
        }
        assert!(Instant::now() < until, "not optimized in time: {p:#?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

const CALLS: &str = r#"(module $m
    (import "host" "twice" (func $twice (param i32) (result i32)))
    (import "other" "add1" (func $add1 (param i32) (result i32)))
    (type $i2i (func (param i32) (result i32)))
    (table $t 4 funcref)
    (elem (table $t) (i32.const 0) func $sq $inc $add1 $twice)
    (elem declare func $inc)
    (func $sq (param i32) (result i32) (i32.mul (local.get 0) (local.get 0)))
    (func $inc (export "inc") (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
    (func $never (export "never") (result i32) (i32.const 7))
    (func (export "maybe") (param i32) (result i32)
        (if (result i32) (local.get 0) (then (call $never)) (else (i32.const 0))))
    (func $indirect (export "indirect") (param i32 i32) (result i32)
        (call_indirect $t (type $i2i) (local.get 0) (local.get 1)))
    (func $all (export "all") (param i32) (result i32)
        ;; direct, imported wasm, host, indirect through the table and a ref.func
        (call $inc (local.get 0))
        (call $add1)
        (call $twice)
        (call_indirect $t (type $i2i) (i32.const 0))
        (table.set $t (i32.const 1) (ref.func $inc))
        (call_indirect $t (type $i2i) (i32.const 1)))
    (func (export "get") (param i32) (result funcref) (table.get $t (local.get 0))))"#;

const OTHER: &str = r#"(module $other
    (func $add1 (export "add1") (param i32) (result i32) (i32.add (local.get 0) (i32.const 1))))"#;

/// ((x + 1) + 1) * 2, squared, plus 1.
fn expected_all(x: i32) -> i32 {
    let y = (x + 2) * 2;
    y * y + 1
}

fn link(engine: &Engine, store: &mut Store<()>) -> (Instance, Instance) {
    let mut linker = Linker::new(engine);
    linker
        .func_wrap("host", "twice", |x: i32| x * 2)
        .expect("host function");
    let other = Module::new(engine, OTHER).expect("other compiles");
    let other = linker.instantiate(&mut *store, &other).expect("other");
    linker.instance(&mut *store, "other", other).expect("links");
    let m = Module::new(engine, CALLS).expect("compiles");
    (
        linker.instantiate(&mut *store, &m).expect("instantiates"),
        other,
    )
}

#[test]
fn lazy_code_compiles_only_what_is_called() {
    let engine = engine(Strategy::Lazy, 1, false);
    let mut store = Store::new(&engine, ());
    let (i, _) = link(&engine, &mut store);
    let p = i.profile(&store).expect("lazy code has a profile");
    assert!(
        p.functions.is_empty(),
        "nothing is compiled before a call: {p:#?}"
    );
    let inc = i.get_typed_func::<i32, i32>(&store, "inc").expect("inc");
    assert_eq!(inc.call(&mut store, 41).expect("runs"), 42);
    // `maybe(0)` does not call `never`: lazy code compiles nothing ahead.
    let maybe = i
        .get_typed_func::<i32, i32>(&store, "maybe")
        .expect("maybe");
    assert_eq!(maybe.call(&mut store, 0).expect("runs"), 0);
    std::thread::sleep(Duration::from_millis(50));
    let p = i.profile(&store).expect("profile");
    assert_eq!(tier(&p, "inc"), kiln_profiler::Tier::Optimized);
    assert_eq!(tier(&p, "never"), kiln_profiler::Tier::None);
    assert_eq!(tier(&p, "sq"), kiln_profiler::Tier::None);
    assert_eq!(p.strategy, "lazy");
    assert_eq!(p.timeline.len(), 2);
}

#[test]
fn every_way_into_a_function_reaches_its_current_code() {
    for strategy in [Strategy::Lazy, Strategy::Tiered] {
        let engine = engine(strategy, 1, false);
        let mut store = Store::new(&engine, ());
        let (i, other) = link(&engine, &mut store);
        let all = i.get_typed_func::<i32, i32>(&store, "all").expect("all");
        assert_eq!(all.call(&mut store, 3).expect("runs"), expected_all(3));
        // A funcref taken out of the table and called from the host.
        let get = i.get_func(&store, "get").expect("get");
        let mut out = [Val::I32(0)];
        get.call(&mut store, &[Val::I32(0)], &mut out)
            .expect("runs");
        let Val::FuncRef(Some(sq)) = out[0] else {
            panic!("a funcref: {:?}", out[0]);
        };
        let sq = sq.typed::<i32, i32>(&store).expect("i32 -> i32");
        assert_eq!(sq.call(&mut store, 9).expect("runs"), 81);
        let indirect = i
            .get_typed_func::<(i32, i32), i32>(&store, "indirect")
            .expect("indirect");
        assert_eq!(indirect.call(&mut store, (5, 2)).expect("runs"), 6);
        assert_eq!(indirect.call(&mut store, (5, 3)).expect("runs"), 10);
        let err = indirect
            .call(&mut store, (5, 9))
            .expect_err("out of bounds");
        assert_eq!(
            err.downcast_ref::<Trap>().map(Trap::code),
            Some(TrapCode::TableOutOfBounds)
        );
        if strategy == Strategy::Tiered {
            wait_optimized(&store, &i, &["all", "inc", "sq", "indirect"]);
            wait_optimized(&store, &other, &["add1"]);
            // The same calls again, now through optimized code.
            assert_eq!(all.call(&mut store, 4).expect("runs"), expected_all(4));
            assert_eq!(sq.call(&mut store, 7).expect("runs"), 49);
            assert_eq!(indirect.call(&mut store, (5, 3)).expect("runs"), 10);
            let p = i.profile(&store).expect("profile");
            assert!(
                p.functions
                    .iter()
                    .find(|f| f.name.as_deref() == Some("all"))
                    .expect("all")
                    .calls
                    >= 1,
                "baseline code counted: {p:#?}"
            );
        }
    }
}

#[test]
fn many_threads_calling_uncompiled_functions_compile_each_once() {
    // 40 functions, each calling the next; every thread has its own store.
    let mut wat = String::from("(module");
    for k in 0..40 {
        let body = if k == 39 {
            "(local.get 0)".to_string()
        } else {
            format!("(call $f{} (i32.add (local.get 0) (i32.const 1)))", k + 1)
        };
        wat.push_str(&format!(
            "(func $f{k} (export \"f{k}\") (param i32) (result i32) {body})"
        ));
    }
    wat.push(')');
    for strategy in [Strategy::Lazy, Strategy::Tiered] {
        let engine = engine(strategy, 1_000_000, false);
        let module = Module::new(&engine, &wat).expect("compiles");
        let threads = 8;
        let mut main_store = Store::new(&engine, ());
        let main_instance = Instance::new(&mut main_store, &module, &[]).expect("instantiates");
        let barrier = Arc::new(Barrier::new(threads));
        let _: Vec<Profile> = (0..threads)
            .map(|t| {
                let (engine, module, barrier) = (engine.clone(), module.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let mut store = Store::new(&engine, ());
                    let i = Instance::new(&mut store, &module, &[]).expect("instantiates");
                    // Threads enter the chain at different functions, at once.
                    let name = format!("f{}", (t * 5) % 40);
                    let f = i.get_typed_func::<i32, i32>(&store, &name).expect("export");
                    barrier.wait();
                    for round in 0..50 {
                        let start = (t * 5) % 40;
                        assert_eq!(
                            f.call(&mut store, round).expect("runs"),
                            round + 39 - start as i32
                        );
                    }
                    i.profile(&store).expect("profile")
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().expect("no thread panics"))
            .collect();
        // The timeline is the module's: each function's first code was published once.
        let timeline = &main_instance
            .profile(&main_store)
            .expect("profile")
            .timeline;
        let mut seen = std::collections::HashMap::new();
        for e in timeline {
            *seen.entry(e.function).or_insert(0) += 1;
        }
        assert_eq!(seen.len(), 40, "every function was compiled: {timeline:?}");
        assert!(
            seen.values().all(|&n| n == 1),
            "no function was compiled twice: {seen:?}"
        );
    }
}

#[test]
fn tier_up_in_the_middle_of_a_recursion_keeps_results_and_fuel() {
    let wat = r#"(module
        (import "host" "wait" (func $wait))
        (func $down (export "down") (param i32) (result i64)
            (if (result i64) (i32.eqz (local.get 0))
                (then (call $wait) (i64.const 0))
                (else (i64.add (i64.extend_i32_u (local.get 0))
                               (call $down (i32.sub (local.get 0) (i32.const 1)))))))
        (func $spin (export "spin") (param i32) (result i32) (local i32)
            (loop $l
                (local.set 1 (i32.add (local.get 1) (i32.const 3)))
                (br_if $l (local.tee 0 (i32.sub (local.get 0) (i32.const 1)))))
            (local.get 1))
        (func (export "div") (param i32) (result i32)
            (i32.div_u (i32.const 100) (local.get 0))))"#;
    // Fuel used by the same calls on eagerly compiled code.
    let used = |strategy: Strategy| -> (i64, i32, u64) {
        let engine = engine(strategy, 1, true);
        let module = Module::new(&engine, wat).expect("compiles");
        let mut store = Store::new(&engine, ());
        store.set_fuel(u64::MAX / 2).expect("fuel");
        let instance = Arc::new(std::sync::OnceLock::<Instance>::new());
        let mut linker = Linker::new(&engine);
        let theirs = instance.clone();
        linker
            .func_wrap("host", "wait", move |caller: Caller<'_, ()>| {
                // At the bottom of the recursion, wait until `down` is optimized: the
                // frames above are baseline code, the returns go through them.
                if let Some(p) = theirs.get().and_then(|i| i.profile(&caller)) {
                    let until = Instant::now() + Duration::from_secs(60);
                    let mut p = p;
                    while tier(&p, "down") != kiln_profiler::Tier::Optimized {
                        assert!(Instant::now() < until, "down was not optimized in time");
                        std::thread::sleep(Duration::from_millis(2));
                        p = theirs
                            .get()
                            .and_then(|i| i.profile(&caller))
                            .expect("profile");
                    }
                }
            })
            .expect("defines");
        let i = linker
            .instantiate(&mut store, &module)
            .expect("instantiates");
        let _ = instance.set(i);
        let down = i.get_typed_func::<i32, i64>(&store, "down").expect("down");
        let spin = i.get_typed_func::<i32, i32>(&store, "spin").expect("spin");
        let sum = down.call(&mut store, 1000).expect("runs");
        // Again, now that `down` is optimized, from the top.
        assert_eq!(down.call(&mut store, 100).expect("runs"), 5050);
        let spun = spin.call(&mut store, 200_000).expect("runs");
        let div = i.get_typed_func::<i32, i32>(&store, "div").expect("div");
        assert_eq!(div.call(&mut store, 7).expect("runs"), 14);
        let err = div.call(&mut store, 0).expect_err("traps");
        let trap = err.downcast_ref::<Trap>().expect("a trap");
        assert_eq!(trap.code(), TrapCode::IntegerDivisionByZero);
        let remaining = store.get_fuel().expect("fuel");
        (sum, spun, u64::MAX / 2 - remaining)
    };
    let eager = used(Strategy::Eager(OptLevel::Speed));
    assert_eq!(eager.0, 1000 * 1001 / 2);
    assert_eq!(eager.1, 600_000);
    assert_eq!(
        used(Strategy::Tiered),
        eager,
        "tiered: same results, same fuel"
    );
    assert_eq!(used(Strategy::Lazy), eager, "lazy: same results, same fuel");
}

#[test]
fn traps_in_lazy_code_name_their_functions() {
    let engine = engine(Strategy::Tiered, 1000, false);
    let module = Module::new(
        &engine,
        r#"(module $named
            (func $inner (param i32) (result i32) (i32.div_s (i32.const 1) (local.get 0)))
            (func $outer (export "outer") (param i32) (result i32) (call $inner (local.get 0))))"#,
    )
    .expect("compiles");
    let mut store = Store::new(&engine, ());
    let i = Instance::new(&mut store, &module, &[]).expect("instantiates");
    let outer = i
        .get_typed_func::<i32, i32>(&store, "outer")
        .expect("outer");
    let err = outer.call(&mut store, 0).expect_err("traps");
    let trap = err.downcast_ref::<Trap>().expect("a trap");
    assert_eq!(trap.code(), TrapCode::IntegerDivisionByZero);
    let names: Vec<_> = trap
        .backtrace()
        .iter()
        .filter_map(|f| f.func_name.clone())
        .collect();
    assert_eq!(names, ["inner", "outer"], "{err}");
    // The store stays usable.
    assert_eq!(outer.call(&mut store, 1).expect("runs"), 1);
}

#[test]
fn a_function_that_cannot_be_compiled_fails_its_call_not_the_host() {
    let mut config = Config::new();
    config.strategy(Strategy::Lazy).max_compile_memory(64 << 20);
    let engine = Engine::new(&config).expect("engine");
    // 200,000 operators need more than 64 MiB of compiler memory by the estimate.
    let big = "(drop (i32.const 1))".repeat(100_000);
    let wat = format!(
        r#"(module (func (export "big") {big}) (func (export "small") (result i32) (i32.const 5)))"#
    );
    let module = Module::new(&engine, &wat).expect("lazy modules load without compiling");
    let mut store = Store::new(&engine, ());
    let i = Instance::new(&mut store, &module, &[]).expect("instantiates");
    let big = i.get_typed_func::<(), ()>(&store, "big").expect("big");
    let err = big.call(&mut store, ()).expect_err("cannot compile");
    assert!(
        err.to_string().contains("when it was first called"),
        "{err}"
    );
    // Asked again, the same error (the failure is remembered, not retried).
    let again = big.call(&mut store, ()).expect_err("cannot compile");
    assert_eq!(again.to_string(), err.to_string());
    let small = i.get_typed_func::<(), i32>(&store, "small").expect("small");
    assert_eq!(small.call(&mut store, ()).expect("runs"), 5);
}

#[test]
fn lazy_modules_are_not_serialized_or_cached() {
    let engine = engine(Strategy::Tiered, 1000, false);
    let module = Module::new(&engine, "(module (func (export \"f\")))").expect("compiles");
    let err = module.serialize().expect_err("nothing complete to write");
    assert!(matches!(err.kind(), ErrorKind::Unsupported(_)), "{err}");
    assert!(err.to_string().contains("tiered"), "{err}");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::new();
    config
        .strategy(Strategy::Lazy)
        .cache(CacheConfig::new(dir.path()));
    let err = Engine::new(&config).expect_err("the cache holds eager code");
    assert!(matches!(err.kind(), ErrorKind::Unsupported(_)), "{err}");
    // And an eager artifact does not load into a lazy engine.
    let eager = Engine::default();
    let bytes = Module::new(&eager, "(module)")
        .expect("compiles")
        .serialize()
        .expect("serializes");
    let lazy = engine;
    assert!(Module::deserialize(&lazy, &bytes).is_err());
}

#[test]
fn host_calls_back_into_uncompiled_functions() {
    let engine = engine(Strategy::Tiered, 1, false);
    let module = Module::new(
        &engine,
        r#"(module
            (import "host" "back" (func $back (param i32) (result i32)))
            (func (export "start") (param i32) (result i32) (call $back (local.get 0)))
            (func (export "leaf") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3))))"#,
    )
    .expect("compiles");
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap(
            "host",
            "back",
            |mut caller: Caller<'_, ()>, x: i32| -> Result<i32> {
                let leaf = caller
                    .get_export("leaf")
                    .and_then(Extern::into_func)
                    .ok_or_else(|| Error::msg("no leaf"))?;
                let leaf = leaf.typed::<i32, i32>(&caller)?;
                leaf.call(&mut caller, x + 1)
            },
        )
        .expect("defines");
    let mut store = Store::new(&engine, ());
    let i = linker
        .instantiate(&mut store, &module)
        .expect("instantiates");
    let start = i
        .get_typed_func::<i32, i32>(&store, "start")
        .expect("start");
    assert_eq!(start.call(&mut store, 4).expect("runs"), 15);
}

#[test]
fn a_hot_loop_moves_to_optimized_code_while_it_runs() {
    // `main` is called once and spends its life in its loops: without on-stack
    // replacement it would run baseline code to the end.
    let wat = r#"(module
        (import "host" "wait" (func $wait))
        (func (export "main") (param $n i32) (result i64)
            (local $i i32) (local $acc i64) (local $j i32)
            (block $done
                (loop $outer
                    (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
                    (local.set $j (i32.const 0))
                    (loop $inner
                        (local.set $acc (i64.add (local.get $acc)
                            (i64.extend_i32_u (i32.mul (local.get $i) (local.get $j)))))
                        (local.set $j (i32.add (local.get $j) (i32.const 1)))
                        (br_if $inner (i32.lt_u (local.get $j) (i32.const 100))))
                    ;; Half way, wait for the variant entered at the inner loop.
                    (if (i32.eq (local.get $i) (i32.shr_u (local.get $n) (i32.const 1)))
                        (then (call $wait)))
                    (local.set $i (i32.add (local.get $i) (i32.const 1)))
                    (br $outer)))
            (local.get $acc)))"#;
    let run = |strategy: Strategy| -> (i64, u64, Option<Profile>) {
        let engine = engine(strategy, 100, true);
        let module = Module::new(&engine, wat).expect("compiles");
        let mut store = Store::new(&engine, ());
        store.set_fuel(u64::MAX / 2).expect("fuel");
        let instance = Arc::new(std::sync::OnceLock::<Instance>::new());
        let theirs = instance.clone();
        let mut linker = Linker::new(&engine);
        linker
            .func_wrap("host", "wait", move |caller: Caller<'_, ()>| {
                let Some(i) = theirs.get() else { return };
                let until = Instant::now() + Duration::from_secs(60);
                while let Some(p) = i.profile(&caller) {
                    // The inner loop (the second, ordinal 1): a variant of the outer
                    // one alone would leave the inner loop in baseline code until its
                    // own arrives.
                    if p.timeline.iter().any(|e| e.osr_loop == Some(1)) {
                        return;
                    }
                    assert!(Instant::now() < until, "no on-stack replacement: {p:#?}");
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
            .expect("defines");
        let i = linker
            .instantiate(&mut store, &module)
            .expect("instantiates");
        let _ = instance.set(i);
        let main = i.get_typed_func::<i32, i64>(&store, "main").expect("main");
        let result = main.call(&mut store, 2000).expect("runs");
        let used = u64::MAX / 2 - store.get_fuel().expect("fuel");
        (result, used, i.profile(&store))
    };
    let (want, fuel, _) = run(Strategy::Eager(OptLevel::Speed));
    let (got, tiered_fuel, profile) = run(Strategy::Tiered);
    assert_eq!(got, want, "same result");
    assert_eq!(tiered_fuel, fuel, "same fuel");
    let p = profile.expect("tiered profile");
    let main = p
        .functions
        .iter()
        .find(|f| f.index == 1)
        .expect("main is profiled");
    assert_eq!(main.calls, 1);
    // 2000 × 100 inner iterations (+ 2001 outer); after the switch, optimized code
    // counts nothing, so the baseline counters stop well short of that.
    assert!(
        main.loops < 150_000,
        "the loop went on in optimized code: {} iterations counted",
        main.loops
    );
}

#[test]
fn runaway_recursion_overflows_cleanly_in_every_tier() {
    let engine = engine(Strategy::Tiered, 1, false);
    let module = Module::new(
        &engine,
        r#"(module
            (func $down (export "down") (param i32) (result i32)
                (i32.add (i32.const 1) (call $down (local.get 0))))
            (func (export "ok") (result i32) (i32.const 42)))"#,
    )
    .expect("compiles");
    let mut store = Store::new(&engine, ());
    let i = Instance::new(&mut store, &module, &[]).expect("instantiates");
    let down = i.get_typed_func::<i32, i32>(&store, "down").expect("down");
    let ok = i.get_typed_func::<(), i32>(&store, "ok").expect("ok");
    // First on baseline code, then (once `down` is optimized) on optimized code.
    for round in 0..2 {
        let err = down.call(&mut store, 0).expect_err("overflows");
        assert_eq!(
            err.downcast_ref::<Trap>().map(Trap::code),
            Some(TrapCode::StackOverflow),
            "round {round}: {err}"
        );
        assert_eq!(ok.call(&mut store, ()).expect("usable"), 42);
        if round == 0 {
            wait_optimized(&store, &i, &["down"]);
        }
    }
}

#[test]
fn tiered_code_compiles_direct_callees_ahead_in_the_background() {
    let engine = engine(Strategy::Tiered, 1_000_000, false);
    let mut store = Store::new(&engine, ());
    let (i, _) = link(&engine, &mut store);
    // `maybe(0)` does not call `never`, but `never` is a direct callee: the background
    // compiler makes its baseline code ahead of any call.
    let maybe = i
        .get_typed_func::<i32, i32>(&store, "maybe")
        .expect("maybe");
    assert_eq!(maybe.call(&mut store, 0).expect("runs"), 0);
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let p = i.profile(&store).expect("profile");
        if tier(&p, "never") == kiln_profiler::Tier::Baseline {
            break;
        }
        assert!(
            Instant::now() < until,
            "never was not compiled ahead: {p:#?}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let never = i.get_typed_func::<(), i32>(&store, "never").expect("never");
    assert_eq!(never.call(&mut store, ()).expect("runs"), 7);
}

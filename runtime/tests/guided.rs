//! Profile-guided compilation (`Config::profile_guided`): baseline code records the
//! targets of `call_indirect` sites, optimized code calls a dominant target directly
//! behind a guard and inlines small callees. Every test here checks that the guarded
//! and inlined code behaves exactly like the generic code: when the target changes,
//! when the table changes under it, on signature mismatches, in backtraces and in fuel.

use kiln::*;
use std::time::{Duration, Instant};

/// Tiered, tier-up at the 10th call (loops never ask), with `policy`.
fn engine(policy: GuidedPolicy, fuel: bool) -> Engine {
    let mut config = Config::new();
    config
        .strategy(Strategy::Tiered)
        .tier_up_policy(TierUpPolicy {
            call_threshold: 10,
            loop_threshold: TierUpPolicy::MAX_THRESHOLD,
            ..TierUpPolicy::default()
        })
        .guided_policy(policy)
        .consume_fuel(fuel);
    Engine::new(&config).expect("engine")
}

fn function<'p>(profile: &'p Profile, name: &str) -> &'p kiln_profiler::FunctionProfile {
    profile
        .functions
        .iter()
        .find(|f| f.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no {name} in {profile:#?}"))
}

/// Waits (at most a minute: the background compiler may be slow on a loaded machine)
/// until the function named `name` is optimized; returns the profile then.
fn wait_optimized<T>(store: &Store<T>, instance: &Instance, name: &str) -> Profile {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let p = instance.profile(store).expect("tiered code has a profile");
        let optimized = p
            .functions
            .iter()
            .any(|f| f.name.as_deref() == Some(name) && f.tier == kiln_profiler::Tier::Optimized);
        if optimized {
            return p;
        }
        assert!(
            Instant::now() < until,
            "{name} not optimized in time: {p:#?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

const DISPATCH: &str = r#"(module
    (type $op (func (param i32) (result i32)))
    (type $wrong (func (param i32 i32) (result i32)))
    (table $t 6 funcref)
    (elem (table $t) (i32.const 0) func $add1 $mul2 $pair)
    (elem declare func $add1 $mul2)
    (func $add1 (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
    (func $mul2 (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
    (func $pair (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
    ;; acc = table[slot](acc), n times
    (func $run (export "run") (param $n i32) (param $slot i32) (result i32)
        (local $acc i32)
        (block $done
            (loop $next
                (br_if $done (i32.eqz (local.get $n)))
                (local.set $acc (call_indirect $t (type $op) (local.get $acc) (local.get $slot)))
                (local.set $n (i32.sub (local.get $n) (i32.const 1)))
                (br $next)))
        (local.get $acc))
    (func (export "set") (param $slot i32) (param $from i32)
        (table.set $t (local.get $slot) (table.get $t (local.get $from))))
    (func (export "copy") (param $dst i32) (param $src i32)
        (table.copy $t $t (local.get $dst) (local.get $src) (i32.const 1))))"#;

/// Makes `run` hot on slot 0 (`add1`), and waits until it is optimized.
fn hot_dispatch(policy: GuidedPolicy) -> (Store<()>, Instance, TypedFunc<(i32, i32), i32>) {
    let engine = engine(policy, false);
    let module = Module::new(&engine, DISPATCH).expect("module");
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).expect("instance");
    let run = instance
        .get_typed_func::<(i32, i32), i32>(&store, "run")
        .expect("run");
    for _ in 0..20 {
        assert_eq!(run.call(&mut store, (50, 0)).expect("runs"), 50);
    }
    (store, instance, run)
}

fn trap_code(e: &Error) -> TrapCode {
    e.as_trap()
        .unwrap_or_else(|| panic!("not a trap: {e}"))
        .code()
}

#[test]
fn a_dominant_target_is_speculated_and_other_targets_still_work() {
    let (mut store, instance, run) = hot_dispatch(GuidedPolicy::default());
    let p = wait_optimized(&store, &instance, "run");
    let site = &function(&p, "run").call_sites[0];
    assert_eq!(site.targets[0].0, 0, "add1 is function 0: {site:?}");
    assert_eq!(site.speculated, Some(0), "{site:?}");
    // Optimized and guarded: the speculated target, then the others through the
    // fallback (the dominant target changed after tier-up).
    assert_eq!(run.call(&mut store, (5, 0)).expect("add1"), 5);
    assert_eq!(run.call(&mut store, (5, 1)).expect("mul2"), 0);
    let set = instance
        .get_typed_func::<(i32, i32), ()>(&store, "set")
        .expect("set");
    // acc starts at 0: mul2 keeps it 0; seed it through add1 by mixing slots.
    set.call(&mut store, (4, 1)).expect("table.set");
    assert_eq!(run.call(&mut store, (3, 4)).expect("mul2 via slot 4"), 0);
}

#[test]
fn a_table_entry_replaced_under_a_speculated_call_is_called() {
    let (mut store, instance, run) = hot_dispatch(GuidedPolicy::default());
    wait_optimized(&store, &instance, "run");
    let set = instance
        .get_typed_func::<(i32, i32), ()>(&store, "set")
        .expect("set");
    let copy = instance
        .get_typed_func::<(i32, i32), ()>(&store, "copy")
        .expect("copy");
    // Slot 0 now holds mul2: the guard fails and the generic path calls it.
    set.call(&mut store, (0, 1)).expect("table.set");
    assert_eq!(run.call(&mut store, (7, 0)).expect("mul2"), 0);
    // table.copy puts add1 back (from a copy in slot 5).
    set.call(&mut store, (5, 1)).expect("table.set");
    copy.call(&mut store, (0, 5)).expect("table.copy");
    assert_eq!(run.call(&mut store, (7, 0)).expect("mul2 again"), 0);
    set.call(&mut store, (5, 2)).expect("pair into slot 5");
    let err = run
        .call(&mut store, (1, 5))
        .expect_err("pair has the wrong type");
    assert_eq!(trap_code(&err), TrapCode::BadSignature);
}

#[test]
fn speculated_sites_trap_exactly_like_call_indirect() {
    // Speculate on whatever was seen, however rarely: the guard is what keeps it right.
    let any = GuidedPolicy {
        min_site_calls: 0,
        min_share_percent: 0,
        ..GuidedPolicy::default()
    };
    let (mut store, instance, run) = hot_dispatch(any);
    wait_optimized(&store, &instance, "run");
    let cases = [
        (2, TrapCode::BadSignature),
        (3, TrapCode::IndirectCallToNull),
        (6, TrapCode::TableOutOfBounds),
        (-1, TrapCode::TableOutOfBounds),
    ];
    for (slot, code) in cases {
        let err = run.call(&mut store, (1, slot)).expect_err("traps");
        assert_eq!(trap_code(&err), code, "slot {slot}: {err}");
        // The store stays usable after the trap.
        assert_eq!(run.call(&mut store, (2, 0)).expect("add1"), 2);
    }
}

const INLINE: &str = r#"(module $m
    (func $leaf (param i32) (result i32)
        (if (i32.eq (local.get 0) (i32.const 777)) (then unreachable))
        (i32.add (local.get 0) (i32.const 1)))
    (func $middle (param i32) (result i32) (call $leaf (local.get 0)))
    (func $hot (export "hot") (param $x i32) (result i32)
        (call $middle (local.get $x))))"#;

/// Makes `INLINE`'s `hot` hot, and waits until it is optimized; returns the profile
/// then.
fn hot_inline() -> (Store<()>, Instance, TypedFunc<i32, i32>, Profile) {
    let engine = engine(GuidedPolicy::default(), false);
    let module = Module::new(&engine, INLINE).expect("module");
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).expect("instance");
    let hot = instance
        .get_typed_func::<i32, i32>(&store, "hot")
        .expect("hot");
    for i in 0..20 {
        assert_eq!(hot.call(&mut store, i).expect("runs"), i + 1);
    }
    let p = wait_optimized(&store, &instance, "hot");
    (store, instance, hot, p)
}

#[test]
fn inlined_frames_appear_in_backtraces() {
    let (mut store, _instance, hot, p) = hot_inline();
    let mut inlined = function(&p, "hot").inlined.clone();
    inlined.sort();
    assert_eq!(
        inlined,
        vec![0, 1],
        "leaf and middle inlined into hot: {p:#?}"
    );
    let err = hot.call(&mut store, 777).expect_err("traps");
    assert_eq!(trap_code(&err), TrapCode::Unreachable);
    let trap = err.as_trap().expect("a trap");
    let names: Vec<_> = trap
        .backtrace()
        .iter()
        .map(|f| f.func_name.as_deref().unwrap_or("?"))
        .collect();
    assert_eq!(names, ["leaf", "middle", "hot"], "{err}");
    assert_eq!(hot.call(&mut store, 1).expect("usable after the trap"), 2);
}

/// Fuel consumed by `f` on a fresh store of `engine` after `warm` warm-up calls.
fn fuel_of(engine: &Engine, warm: bool) -> Vec<u64> {
    let module = Module::new(engine, DISPATCH).expect("module");
    let mut store = Store::new(engine, ());
    store.set_fuel(u64::MAX / 2).expect("fuel");
    let instance = Instance::new(&mut store, &module, &[]).expect("instance");
    let run = instance
        .get_typed_func::<(i32, i32), i32>(&store, "run")
        .expect("run");
    if warm {
        for _ in 0..20 {
            run.call(&mut store, (50, 0)).expect("runs");
        }
        wait_optimized(&store, &instance, "run");
    }
    let mut used = Vec::new();
    for (n, slot) in [(10, 0), (10, 1), (3, 0)] {
        let before = store.get_fuel().expect("fuel");
        run.call(&mut store, (n, slot)).expect("runs");
        used.push(before - store.get_fuel().expect("fuel"));
    }
    used
}

#[test]
fn guarded_and_inlined_calls_charge_the_same_fuel() {
    let mut config = Config::new();
    config.consume_fuel(true);
    let eager = Engine::new(&config).expect("engine");
    let expected = fuel_of(&eager, false);
    assert_eq!(
        fuel_of(&engine(GuidedPolicy::default(), true), true),
        expected
    );
}

#[test]
fn profile_guided_needs_tiered_code() {
    let mut config = Config::new();
    config.profile_guided(true);
    let err = Engine::new(&config).expect_err("eager code has no profile");
    assert!(matches!(err.kind(), ErrorKind::Unsupported(_)), "{err}");
    config.strategy(Strategy::Tiered);
    Engine::new(&config).expect("tiered code records a profile");
}

/// The profile of a first run of `DISPATCH`, hot on slot 0.
fn first_run_profile() -> Profile {
    let (_store, instance, _run) = hot_dispatch(GuidedPolicy::default());
    let p = wait_optimized(&_store, &instance, "run");
    assert_eq!(function(&p, "run").call_sites[0].speculated, Some(0));
    p
}

/// An engine that never tiers up by counting, with `profile` saved.
fn saved_engine(profile: Profile) -> Engine {
    let mut config = Config::new();
    config
        .strategy(Strategy::Tiered)
        .tier_up_policy(TierUpPolicy::with_threshold(TierUpPolicy::MAX_THRESHOLD))
        .saved_profile(profile);
    Engine::new(&config).expect("engine")
}

#[test]
fn a_saved_profile_optimizes_ahead_of_the_first_call() {
    let profile = first_run_profile();
    // Through JSON, as `--profile-out` and `--profile-in` pass it.
    let profile = Profile::from_json(&profile.to_json()).expect("reads back");
    let engine = saved_engine(profile);
    let module = Module::new(&engine, DISPATCH).expect("module");
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).expect("instance");
    // Nothing has run, and no counter could reach its threshold: the saved profile
    // alone queued `run`, with its call-site feedback.
    let p = wait_optimized(&store, &instance, "run");
    let run_profile = function(&p, "run");
    assert_eq!(run_profile.calls, 0, "{p:#?}");
    assert_eq!(
        run_profile.call_sites.len(),
        0,
        "no baseline code ran: {p:#?}"
    );
    let run = instance
        .get_typed_func::<(i32, i32), i32>(&store, "run")
        .expect("run");
    assert_eq!(run.call(&mut store, (9, 0)).expect("add1"), 9);
    assert_eq!(run.call(&mut store, (9, 1)).expect("mul2"), 0);
    let err = run.call(&mut store, (1, 2)).expect_err("pair");
    assert_eq!(trap_code(&err), TrapCode::BadSignature);
}

#[test]
fn a_profile_of_another_module_is_refused() {
    let engine = saved_engine(first_run_profile());
    let err = Module::new(&engine, INLINE).expect_err("another module");
    assert!(matches!(err.kind(), ErrorKind::Profile(_)), "{err}");
    assert!(err.to_string().contains("belongs to module"), "{err}");
}

#[test]
fn a_tampered_profile_cannot_break_semantics() {
    let mut profile = first_run_profile();
    // Every site speculates on a function of the wrong type, one that does not exist,
    // and sites that are not there; functions that do not exist are "optimized".
    for f in &mut profile.functions {
        for site in &mut f.call_sites {
            site.targets = vec![(2, 1_000_000)];
            site.offset = site.offset.wrapping_add(1);
        }
        f.call_sites.push(kiln_profiler::CallSite {
            offset: 0,
            targets: vec![(9_999, 1_000)],
            megamorphic: false,
            other: 0,
            speculated: None,
        });
    }
    let mut ghost = profile.functions[0].clone();
    ghost.index = 4_000_000;
    profile.functions.push(ghost);
    let engine = saved_engine(profile);
    let module = Module::new(&engine, DISPATCH).expect("module");
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).expect("instance");
    wait_optimized(&store, &instance, "run");
    let run = instance
        .get_typed_func::<(i32, i32), i32>(&store, "run")
        .expect("run");
    assert_eq!(run.call(&mut store, (9, 0)).expect("add1"), 9);
    let err = run.call(&mut store, (1, 2)).expect_err("pair");
    assert_eq!(trap_code(&err), TrapCode::BadSignature);
    assert!(Profile::from_json("{").is_err());
    assert!(Profile::from_json(r#"{"version": 1}"#).is_err());
}

const RECURSION: &str = r#"(module
    (func $ping (export "ping") (param i32) (result i32)
        (if (result i32) (i32.eqz (local.get 0))
            (then (i32.const 0))
            (else (call $pong (i32.sub (local.get 0) (i32.const 1))))))
    (func $pong (param i32) (result i32)
        (i32.add (call $ping (local.get 0)) (i32.const 1)))
    (func $spin (param i32) (result i32)
        (loop $forever (br_if $forever (local.get 0)))
        (local.get 0))
    (func $spinner (export "spinner") (param i32) (result i32)
        (call $spin (local.get 0))))"#;

#[test]
fn inlining_keeps_recursion_bounded_and_loops_interruptible() {
    let mut config = Config::new();
    config
        .strategy(Strategy::Tiered)
        .tier_up_policy(TierUpPolicy::with_threshold(10))
        .profile_guided(true)
        .epoch_interruption(true);
    let engine = Engine::new(&config).expect("engine");
    let module = Module::new(&engine, RECURSION).expect("module");
    let mut store = Store::new(&engine, ());
    store.set_epoch_deadline(u64::MAX / 2).expect("deadline");
    let instance = Instance::new(&mut store, &module, &[]).expect("instance");
    let ping = instance
        .get_typed_func::<i32, i32>(&store, "ping")
        .expect("ping");
    let spinner = instance
        .get_typed_func::<i32, i32>(&store, "spinner")
        .expect("spinner");
    for _ in 0..20 {
        assert_eq!(ping.call(&mut store, 100).expect("shallow"), 100);
        assert_eq!(spinner.call(&mut store, 0).expect("no spin"), 0);
    }
    let p = wait_optimized(&store, &instance, "ping");
    wait_optimized(&store, &instance, "spinner");
    // pong is inlined into ping (not ping into itself): the recursion still goes
    // through real calls, and runs out of stack cleanly.
    assert!(function(&p, "ping").inlined.contains(&1), "{p:#?}");
    let err = ping.call(&mut store, 100_000_000).expect_err("overflows");
    assert_eq!(trap_code(&err), TrapCode::StackOverflow);
    assert_eq!(ping.call(&mut store, 1000).expect("usable again"), 1000);
    // spin's loop, inlined into spinner, still checks the epoch.
    let p = instance.profile(&store).expect("profile");
    assert!(function(&p, "spinner").inlined.contains(&2), "{p:#?}");
    store.set_epoch_deadline(1).expect("deadline");
    let handle = engine.clone();
    let ticker = std::thread::spawn(move || {
        for _ in 0..200 {
            std::thread::sleep(Duration::from_millis(10));
            handle.increment_epoch();
        }
    });
    let err = spinner.call(&mut store, 1).expect_err("interrupted");
    assert_eq!(trap_code(&err), TrapCode::Interrupted);
    ticker.join().expect("ticker");
}

/// The profile of a first run of `INLINE`, with `hot` optimized.
fn inline_profile() -> Profile {
    hot_inline().3
}

fn backtrace_names(err: &Error) -> Vec<String> {
    err.as_trap()
        .expect("a trap")
        .backtrace()
        .iter()
        .map(|f| f.func_name.clone().unwrap_or_default())
        .collect()
}

#[test]
fn eager_code_from_a_saved_profile_keeps_inlined_frames_through_artifacts() {
    let profile = inline_profile();
    let mut config = Config::new();
    config.saved_profile(profile.clone());
    let engine = Engine::new(&config).expect("eager code with a saved profile");
    let module = Module::new(&engine, INLINE).expect("module");
    let bytes = module.serialize().expect("eager code serializes");
    let loaded = Module::deserialize(&engine, &bytes).expect("loads");
    for module in [module, loaded] {
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).expect("instance");
        let hot = instance
            .get_typed_func::<i32, i32>(&store, "hot")
            .expect("hot");
        assert_eq!(hot.call(&mut store, 41).expect("runs"), 42);
        let err = hot.call(&mut store, 777).expect_err("traps");
        assert_eq!(backtrace_names(&err), ["leaf", "middle", "hot"], "{err}");
    }
    // Code made without the profile is not this code: the fingerprints differ.
    let plain = Engine::new(&Config::new()).expect("engine");
    let err = Module::deserialize(&plain, &bytes).expect_err("another fingerprint");
    assert!(err.to_string().contains("saved_profile"), "{err}");
    // Nor is code made from the same profile under another policy (no inlining).
    let mut other = Config::new();
    other.saved_profile(profile).guided_policy(GuidedPolicy {
        inline: InlineLimits {
            max_depth: 0,
            ..GuidedPolicy::default().inline
        },
        hot_inline: InlineLimits {
            max_depth: 0,
            ..GuidedPolicy::default().hot_inline
        },
        ..GuidedPolicy::default()
    });
    let other = Engine::new(&other).expect("engine");
    let err = Module::deserialize(&other, &bytes).expect_err("another policy");
    assert!(err.to_string().contains("guided_policy"), "{err}");
}

#[test]
fn eager_code_from_a_saved_profile_speculates_exactly() {
    let mut config = Config::new();
    config.saved_profile(first_run_profile()).consume_fuel(true);
    let engine = Engine::new(&config).expect("engine");
    let module = Module::new(&engine, DISPATCH).expect("module");
    let mut store = Store::new(&engine, ());
    store.set_fuel(1 << 40).expect("fuel");
    let instance = Instance::new(&mut store, &module, &[]).expect("instance");
    let run = instance
        .get_typed_func::<(i32, i32), i32>(&store, "run")
        .expect("run");
    assert_eq!(run.call(&mut store, (9, 0)).expect("add1"), 9);
    assert_eq!(run.call(&mut store, (9, 1)).expect("mul2"), 0);
    for (slot, code) in [
        (2, TrapCode::BadSignature),
        (3, TrapCode::IndirectCallToNull),
    ] {
        let err = run.call(&mut store, (1, slot)).expect_err("traps");
        assert_eq!(trap_code(&err), code);
    }
    // The same fuel as eager code without the profile.
    let mut plain = Config::new();
    plain.consume_fuel(true);
    let plain = Engine::new(&plain).expect("engine");
    assert_eq!(fuel_of(&engine, false), fuel_of(&plain, false));
}

const BRANCHY: &str = r#"(module
    ;; Sums f(i) for i in 0..n, where f takes the rare paths only for i >= $limit.
    (func $f (param $i i32) (param $limit i32) (result i32)
        (block $rare
            (br_if $rare (i32.ge_u (local.get $i) (local.get $limit)))
            (if (result i32) (i32.lt_u (local.get $i) (local.get $limit))
                (then (return (i32.add (local.get $i) (i32.const 1))))
                (else (i32.const -1000)))
            (return))
        (i32.const 1000000))
    (func (export "sum") (param $n i32) (param $limit i32) (result i32)
        (local $i i32) (local $acc i32)
        (block $done
            (loop $next
                (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
                (local.set $acc
                    (i32.add (local.get $acc) (call $f (local.get $i) (local.get $limit))))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $next)))
        (local.get $acc)))"#;

/// 1 + 2 + ... + n.
fn triangle(n: i32) -> i32 {
    n * (n + 1) / 2
}

#[test]
fn branches_are_counted_and_one_sided_ones_are_laid_out_cold() {
    // The tier-up request at f's 10th call carries what 9 calls counted.
    let policy = GuidedPolicy {
        branch_layout: Some(BranchLayout {
            min_count: 9,
            ..BranchLayout::default()
        }),
        ..GuidedPolicy::default()
    };
    let engine = engine(policy, false);
    let module = Module::new(&engine, BRANCHY).expect("module");
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).expect("instance");
    let sum = instance
        .get_typed_func::<(i32, i32), i32>(&store, "sum")
        .expect("sum");
    // Never rare: 100 calls of f per call of sum; f tiers up at its 10th call.
    for _ in 0..3 {
        assert_eq!(
            sum.call(&mut store, (100, 1000)).expect("runs"),
            triangle(100)
        );
    }
    let p = wait_optimized(&store, &instance, "f");
    let f = function(&p, "f");
    assert_eq!(f.branches.len(), 2, "br_if and if: {f:#?}");
    let (br_if, if_) = (&f.branches[0], &f.branches[1]);
    assert!(br_if.offset < if_.offset);
    // Baseline code ran f at least 9 times (more while the optimized code compiled);
    // each went the common way.
    assert_eq!(br_if.taken, 0, "{br_if:?}");
    assert!(br_if.not_taken >= 9, "{br_if:?}");
    assert_eq!(if_.not_taken, 0, "{if_:?}");
    assert_eq!(if_.taken, br_if.not_taken, "{if_:?}");
    // The optimized code laid out the side that never ran as cold.
    assert_eq!(
        br_if.cold,
        Some(kiln_profiler::ColdSide::Taken),
        "{br_if:?}"
    );
    assert_eq!(if_.cold, Some(kiln_profiler::ColdSide::NotTaken), "{if_:?}");
    // The cold sides still run, and give the same results.
    let rare = 20 * 1_000_000 + triangle(80);
    assert_eq!(sum.call(&mut store, (100, 80)).expect("rare paths"), rare);
    let sum_again = sum.call(&mut store, (100, 1000)).expect("common paths");
    assert_eq!(sum_again, triangle(100));
}

#[test]
fn code_that_never_asks_for_branch_layout_counts_no_branches() {
    // Tiered code without profiles, and profile-guided code with the default policy.
    for guided in [false, true] {
        let mut config = Config::new();
        config.strategy(Strategy::Tiered).profile_guided(guided);
        assert_counts_no_branches(&Engine::new(&config).expect("engine"));
    }
}

fn assert_counts_no_branches(engine: &Engine) {
    let module = Module::new(engine, BRANCHY).expect("module");
    let mut store = Store::new(engine, ());
    let instance = Instance::new(&mut store, &module, &[]).expect("instance");
    let sum = instance
        .get_typed_func::<(i32, i32), i32>(&store, "sum")
        .expect("sum");
    assert_eq!(
        sum.call(&mut store, (100, 1000)).expect("runs"),
        triangle(100)
    );
    let p = instance.profile(&store).expect("tiered code has a profile");
    assert!(p.functions.iter().all(|f| f.branches.is_empty()), "{p:#?}");
}

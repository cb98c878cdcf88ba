//! Hostile modules that exhaust the native stack: deep recursion, huge frames, and
//! recursion through a host function back into the guest. Each ends in
//! `TrapCode::StackOverflow`, never a host crash, also on threads with small stacks, and
//! the stack limit is the same afterwards. (`traps.rs` has a plain recursion on a
//! 256 KiB thread; `host.rs` a bounded re-entry.)

#[path = "common/hostile.rs"]
mod hostile;

use hostile::*;
use kiln::*;
use std::fmt::Write as _;

const RECURSION: &str = r#"(module
  (type $r (func (param i32) (result i32)))
  (global $depth (export "depth") (mut i32) (i32.const 0))
  (table 1 funcref)
  (elem (i32.const 0) $indirect)
  (func $plain (export "plain")
    (global.set $depth (i32.add (global.get $depth) (i32.const 1)))
    (call $plain))
  ;; Many arguments: part of them are passed on the stack.
  (func $args (export "args") (param i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 v128 v128) (result i64)
    (global.set $depth (i32.add (global.get $depth) (i32.const 1)))
    (call $args (local.get 1) (local.get 2) (local.get 3) (local.get 4) (local.get 5)
      (local.get 6) (local.get 7) (local.get 8) (local.get 9) (local.get 10) (local.get 11)
      (local.get 0) (local.get 13) (local.get 12)))
  (func $indirect (type $r)
    (global.set $depth (i32.add (global.get $depth) (i32.const 1)))
    (i32.add (i32.const 1) (call_indirect (type $r) (local.get 0) (i32.const 0))))
  (func (export "indirect") (result i32) (call $indirect (i32.const 0)))
  (func (export "ok") (result i32) (i32.const 42)))"#;

fn depth(store: &Store<()>, i: &Instance) -> i32 {
    i.get_global(store, "depth")
        .expect("depth")
        .get(store)
        .i32()
        .expect("i32")
}

/// Runs every recursion of `RECURSION` (three times each) with `config` and returns the
/// depth the plain one reached.
fn overflow_every_way(config: &Config) -> i32 {
    let engine = Engine::new(config).expect("engine");
    let mut store = Store::new(&engine, ());
    let i = instantiate(&mut store, RECURSION);
    let depth_var = i.get_global(&store, "depth").expect("depth");
    let mut plain_depth = None;
    for round in 0..3 {
        for name in ["plain", "args", "indirect"] {
            depth_var.set(&mut store, Val::I32(0)).expect("reset");
            let f = i.get_func(&store, name).expect("export");
            let ty = f.ty(&store);
            let args: Vec<Val> = ty.params().iter().map(|&t| Val::default_for(t)).collect();
            let mut out: Vec<Val> = ty.results().iter().map(|&t| Val::default_for(t)).collect();
            let err = f
                .call(&mut store, &args, &mut out)
                .expect_err("unbounded recursion must stop");
            assert_eq!(
                trap_code(&err, name),
                TrapCode::StackOverflow,
                "{name}: {err}"
            );
            let d = depth(&store, &i);
            assert!(d > 100, "{name} recursed only {d} times");
            if name == "plain" {
                // The same limit every time: nothing was left on the stack or in the
                // store by the previous overflow.
                assert_eq!(*plain_depth.get_or_insert(d), d, "round {round}");
            }
            // The message stays bounded however deep the backtrace.
            assert!(err.to_string().len() < 4096, "{}", err.to_string().len());
            let ok = i.get_typed_func::<(), i32>(&store, "ok").expect("ok");
            assert_eq!(ok.call(&mut store, ()).expect("usable"), 42);
        }
    }
    assert_store_healthy(&mut store);
    plain_depth.expect("plain ran")
}

#[test]
fn deep_recursion_of_every_shape_overflows_cleanly() {
    let d = overflow_every_way(&hostile::config());
    eprintln!("plain recursion depth with the default 512 KiB: {d}");
}

#[test]
fn deep_recursion_on_a_256_kib_thread() {
    // Correctly configured (wasm stack well below the thread's), and misconfigured (the
    // thread's own guard page is hit first, inside generated code).
    let small = on_thread("small-stack", 256 << 10, || {
        overflow_every_way(hostile::config().max_wasm_stack(64 << 10))
    });
    let unlimited = on_thread("small-stack", 256 << 10, || {
        overflow_every_way(&hostile::config())
    });
    assert!(small < unlimited, "{small} vs {unlimited}");
}

/// A recursive function whose `LOCALS` i64 locals are all live across its recursive
/// call: each frame spills them all. `big(d)` returns the sum over its frames of
/// `sum_k (mem[k] + d)`, with `mem` zero: `LOCALS * (d + (d-1) + ... + 1)`.
fn huge_frames_wat(locals: u32) -> String {
    let mut w = String::from(
        r#"(module
  (memory 2)
  (global $depth (export "depth") (mut i32) (i32.const 0))
  (func (export "ok") (result i32) (i32.const 42))
  (func $big (export "big") (param $d i32) (result i64)
"#,
    );
    writeln!(w, "    (local {})", "i64 ".repeat(locals as usize)).expect("write");
    w.push_str(
        "    (global.set $depth (i32.add (global.get $depth) (i32.const 1)))\n    \
         (if (i32.eqz (local.get $d)) (then (return (i64.const 0))))\n",
    );
    for k in 1..=locals {
        let addr = (k % 16384) * 8;
        writeln!(
            w,
            "    (local.set {k} (i64.add (i64.load offset={addr} (i32.const 0)) (i64.extend_i32_u (local.get $d))))"
        )
        .expect("write");
    }
    w.push_str("    (call $big (i32.sub (local.get $d) (i32.const 1)))\n");
    for k in 1..=locals {
        writeln!(w, "    (i64.add (local.get {k}))").expect("write");
    }
    w.push_str("))\n");
    w
}

/// Runs `big` of `huge_frames_wat(locals)` (compiled for `engine`): `fits` levels
/// work, unbounded recursion overflows (three times), and the store stays usable.
/// Returns the depth reached by the three overflows together.
fn overflow_huge_frames(engine: &Engine, module: &Module, locals: u32, fits: i32) -> i32 {
    let mut store = Store::new(engine, ());
    let i = Instance::new(&mut store, module, &[]).expect("instantiates");
    let big = i.get_typed_func::<i32, i64>(&store, "big").expect("big");
    let sum = i64::from(locals) * i64::from(fits * (fits + 1) / 2);
    assert_eq!(big.call(&mut store, fits).expect("fits"), sum);
    for _ in 0..3 {
        expect_trap(
            big.call(&mut store, 1_000_000),
            TrapCode::StackOverflow,
            "huge frames",
        );
    }
    let d = i
        .get_global(&store, "depth")
        .expect("depth")
        .get(&store)
        .i32()
        .expect("i32");
    assert_eq!(big.call(&mut store, fits).expect("still works"), sum);
    assert_store_healthy(&mut store);
    d
}

#[test]
fn huge_frames_overflow_cleanly() {
    const LOCALS: u32 = 10_000;
    let engine = hostile::engine();
    let (module, took) = timed(|| Module::new(&engine, huge_frames_wat(LOCALS)));
    eprintln!("compiling a function with {LOCALS} live locals took {took:?}");
    let module = module.expect("10k locals compile");
    let d = overflow_huge_frames(&engine, &module, LOCALS, 3);
    eprintln!("frames of {LOCALS} live i64 locals: {d} levels in 3 overflows");
    assert!(
        d >= 3 * 4,
        "at least 4 frames of ~80 KB fit in 512 KiB: {d}"
    );
    // On a 256 KiB thread, with a wasm stack limit below its size.
    // A small host reserve, so that the wasm stack limit lies below the 80 KB frames
    // the thread has room for: the frame that crosses the thread's end is caught by
    // its page probes, not by the limit.
    let engine = Engine::new(
        hostile::config()
            .max_wasm_stack(200 << 10)
            .host_stack_reserve(16 << 10),
    )
    .expect("engine");
    let module = Module::new(&engine, huge_frames_wat(LOCALS)).expect("compiles");
    on_thread("small-stack", 256 << 10, move || {
        overflow_huge_frames(&engine, &module, LOCALS, 1)
    });
}

/// `go` calls the host, which calls `go` again, with no bound; the host counts.
const REENTRY: &str = r#"(module
  (import "host" "reenter" (func $reenter))
  (global $depth (export "depth") (mut i32) (i32.const 0))
  (func $plain (export "plain")
    (global.set $depth (i32.add (global.get $depth) (i32.const 1)))
    (call $plain))
  (func (export "go") (call $reenter))
  (func (export "ok") (result i32) (i32.const 42)))"#;

/// Host data: how deep the host got, and whether it swallows the inner error.
#[derive(Default)]
struct Reentry {
    calls: u32,
    swallow: bool,
    swallowed: u32,
}

fn reentry_instance(engine: &Engine) -> (Store<Reentry>, Instance) {
    let mut linker = Linker::new(engine);
    linker
        .func_wrap(
            "host",
            "reenter",
            |mut c: Caller<'_, Reentry>| -> Result<()> {
                c.data_mut().calls += 1;
                let go = c
                    .get_export("go")
                    .and_then(Extern::into_func)
                    .ok_or_else(|| Error::msg("no go"))?
                    .typed::<(), ()>(&c)?;
                match go.call(&mut c, ()) {
                    Err(e) if c.data().swallow => {
                        assert_eq!(trap_code(&e, "inner call"), TrapCode::StackOverflow);
                        c.data_mut().swallowed += 1;
                        Ok(())
                    }
                    r => r,
                }
            },
        )
        .expect("define reenter");
    let module = Module::new(engine, REENTRY).expect("compiles");
    let mut store = Store::new(engine, Reentry::default());
    let i = linker
        .instantiate(&mut store, &module)
        .expect("instantiates");
    (store, i)
}

fn plain_depth(store: &mut Store<Reentry>, i: &Instance) -> i32 {
    let g = i.get_global(&*store, "depth").expect("depth");
    g.set(&mut *store, Val::I32(0)).expect("reset");
    let plain = i.get_typed_func::<(), ()>(&*store, "plain").expect("plain");
    expect_trap(
        plain.call(&mut *store, ()),
        TrapCode::StackOverflow,
        "plain",
    );
    g.get(&*store).i32().expect("i32")
}

fn reenter_without_bound(config: &Config) -> u32 {
    let engine = Engine::new(config).expect("engine");
    let (mut store, i) = reentry_instance(&engine);
    let before = plain_depth(&mut store, &i);
    let go = i.get_typed_func::<(), ()>(&store, "go").expect("go");
    for _ in 0..3 {
        store.data_mut().calls = 0;
        let err = go
            .call(&mut store, ())
            .expect_err("unbounded re-entry must stop");
        assert_eq!(trap_code(&err, "go"), TrapCode::StackOverflow, "{err}");
        assert!(store.data().calls > 10, "{}", store.data().calls);
        let ok = i.get_typed_func::<(), i32>(&store, "ok").expect("ok");
        assert_eq!(ok.call(&mut store, ()).expect("usable"), 42);
    }
    let calls = store.data().calls;
    // A host that swallows the overflow and returns normally: every level returns, the
    // outer call succeeds, and the limit is intact.
    store.data_mut().swallow = true;
    go.call(&mut store, ())
        .expect("the host swallowed the overflow");
    assert_eq!(
        store.data().swallowed,
        1,
        "only the innermost call overflowed"
    );
    assert_eq!(
        plain_depth(&mut store, &i),
        before,
        "the stack limit is unchanged"
    );
    assert_store_healthy(&mut store);
    calls
}

#[test]
fn unbounded_reentry_through_the_host_overflows_cleanly() {
    let calls = reenter_without_bound(&hostile::config());
    eprintln!("host re-entries before the 512 KiB limit: {calls}");
}

#[test]
fn unbounded_reentry_on_a_256_kib_thread() {
    on_thread("small-stack", 256 << 10, || {
        reenter_without_bound(hostile::config().max_wasm_stack(128 << 10))
    });
}

#[test]
fn huge_frames_on_a_thread_smaller_than_the_wasm_stack_limit() {
    // `traps.rs` shows Kiln turning the thread's own guard page into `StackOverflow`
    // when the thread's stack (256 KiB) is smaller than the wasm limit (512 KiB): the
    // signal handler accepts stack faults inside generated code. Frames of ~80 KB jump
    // over the 4 KiB guard page (probestack is off), write into the mapping below (here
    // the thread's signal stack) and the process dies with SIGSEGV. Run in a child
    // process, so that only this test fails.
    in_child_process(
        "huge_frames_on_a_thread_smaller_than_the_wasm_stack_limit",
        || {
            let engine = hostile::engine();
            let module = Module::new(&engine, huge_frames_wat(10_000)).expect("compiles");
            let r = on_thread("small-stack", 256 << 10, move || {
                let mut store = Store::new(&engine, ());
                let i = Instance::new(&mut store, &module, &[]).expect("instantiates");
                let big = i.get_typed_func::<i32, i64>(&store, "big").expect("big");
                let r = big.call(&mut store, 1_000_000).map(|_| ());
                assert_store_healthy(&mut store);
                r
            });
            expect_trap(r, TrapCode::StackOverflow, "huge frames on a small thread");
        },
    );
}

/// Recursion with a host call in every frame: the deepest frame's host call must find
/// the host's stack reserve, whatever the wasm stack limit and the thread's size. Before
/// the reserve, `--max-wasm-stack 8MiB` on a 512 KiB thread (or the default 512 KiB on
/// a 512 KiB thread) let wasm take the whole thread, and the host function overflowed
/// the real stack: "thread has overflowed its stack", SIGABRT.
const HOST_IN_EVERY_FRAME: &str = r#"(module
  (import "host" "work" (func $work (param i32) (result i32)))
  (global $depth (export "depth") (mut i32) (i32.const 0))
  (func $r (export "r") (param i32) (result i32)
    (global.set $depth (i32.add (global.get $depth) (i32.const 1)))
    (drop (call $work (local.get 0)))
    (call $r (local.get 0)))
  (func (export "ok") (result i32) (i32.const 42)))"#;

/// Runs `r` on a thread of `thread` bytes with `max_wasm_stack`, where the host function
/// puts `host_frame` bytes on the stack at every call. Returns the depth reached.
fn recurse_through_the_host(thread: usize, max_wasm_stack: usize, host_frame: usize) -> i32 {
    on_thread("host-in-every-frame", thread, move || {
        let engine = Engine::new(hostile::config().max_wasm_stack(max_wasm_stack)).expect("engine");
        let module = Module::new(&engine, HOST_IN_EVERY_FRAME).expect("compiles");
        let mut linker = Linker::new(&engine);
        linker
            .func_wrap("host", "work", move |x: i32| -> i32 {
                // A host function with a real frame: debug-built host code, formatting,
                // cap-std calls and the like take tens of KiB.
                if host_frame >= 32 << 10 {
                    let frame = std::hint::black_box([x as u8; 32 << 10]);
                    i32::from(frame[x as usize % frame.len()])
                } else {
                    let frame = std::hint::black_box([x as u8; 8 << 10]);
                    i32::from(frame[x as usize % frame.len()])
                }
            })
            .expect("defines");
        let mut store = Store::new(&engine, ());
        let i = linker
            .instantiate(&mut store, &module)
            .expect("instantiates");
        let r = i.get_typed_func::<i32, i32>(&store, "r").expect("r");
        for _ in 0..3 {
            expect_trap(r.call(&mut store, 1), TrapCode::StackOverflow, "r");
        }
        assert_store_healthy(&mut store);
        let ok = i.get_typed_func::<(), i32>(&store, "ok").expect("ok");
        assert_eq!(ok.call(&mut store, ()).expect("usable"), 42);
        i.get_global(&store, "depth")
            .expect("depth")
            .get(&store)
            .i32()
            .expect("i32")
    })
}

#[test]
fn host_calls_keep_their_stack_reserve() {
    in_child_process("host_calls_keep_their_stack_reserve", || {
        // A wasm limit far beyond the thread: clamped to what the thread has.
        let d = recurse_through_the_host(512 << 10, 8 << 20, 32 << 10);
        assert!(d > 100, "recursed {d} times");
        // The default limit, as large as the thread.
        let d = recurse_through_the_host(512 << 10, 512 << 10, 32 << 10);
        assert!(d > 100, "recursed {d} times");
        // A thread smaller than the limit, and a smaller host frame.
        let d = recurse_through_the_host(256 << 10, 512 << 10, 8 << 10);
        assert!(d > 10, "recursed {d} times");
        assert_process_healthy();
    });
}

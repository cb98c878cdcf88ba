//! Every trap kind becomes a typed `Trap` with a named backtrace, and the store and the
//! process stay usable afterwards.

use kiln::*;

const MODULE: &str = r#"(module $traps
  (type $v (func))
  (type $i (func (result i32)))
  (memory (export "mem") 1)
  (table 2 funcref)
  (elem (i32.const 0) $ok)
  (func $ok (type $i) (i32.const 7))
  (func (export "unreachable") unreachable)
  (func (export "div0") (result i32) (i32.div_u (i32.const 1) (i32.const 0)))
  (func (export "rem0") (result i64) (i64.rem_s (i64.const 1) (i64.const 0)))
  (func (export "overflow") (result i32) (i32.div_s (i32.const 0x80000000) (i32.const -1)))
  (func (export "nan") (result i32) (i32.trunc_f32_s (f32.const nan)))
  (func (export "big") (result i64) (i64.trunc_f64_u (f64.const 1e30)))
  (func (export "oob") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "oob_far") (result i64) (i64.load offset=0xffff0000 (i32.const 0x10000)))
  (func (export "oob_straddle") (result i64) (i64.load (i32.const 65532)))
  (func (export "null") (result i32) (call_indirect (type $i) (i32.const 1)))
  (func (export "sig") (call_indirect (type $v) (i32.const 0)))
  (func (export "undefined") (result i32) (call_indirect (type $i) (i32.const 5)))
  (func (export "table_oob") (drop (table.get (i32.const 9))))
  (func (export "fill_oob") (memory.fill (i32.const 65000) (i32.const 0) (i32.const 1000)))
  (func $deep (export "deep") (param i32) (result i32)
    (i32.add (local.get 0) (call $deep (i32.add (local.get 0) (i32.const 1)))))
  (func $a (export "a") (call $b))
  (func $b (call $c))
  (func $c unreachable)
  (func (export "ok") (result i32) (call $ok)))"#;

fn setup() -> (Store<()>, Instance) {
    let engine = Engine::default();
    let module = Module::new(&engine, MODULE).expect("module compiles");
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).expect("instantiates");
    (store, instance)
}

fn trap(store: &mut Store<()>, instance: &Instance, name: &str, args: &[Val]) -> Trap {
    let f = instance.get_func(&*store, name).expect("export exists");
    let mut results = vec![Val::I64(0); f.ty(&*store).results().len()];
    let err = f
        .call(&mut *store, args, &mut results)
        .expect_err("the call traps");
    err.as_trap()
        .cloned()
        .unwrap_or_else(|| panic!("{name}: not a trap: {err}"))
}

#[test]
fn every_trap_kind_is_reported_and_the_store_survives() {
    let (mut store, instance) = setup();
    let cases: &[(&str, &[Val], TrapCode)] = &[
        ("unreachable", &[], TrapCode::Unreachable),
        ("div0", &[], TrapCode::IntegerDivisionByZero),
        ("rem0", &[], TrapCode::IntegerDivisionByZero),
        ("overflow", &[], TrapCode::IntegerOverflow),
        ("nan", &[], TrapCode::BadConversionToInteger),
        ("big", &[], TrapCode::IntegerOverflow),
        ("oob", &[Val::I32(65536)], TrapCode::MemoryOutOfBounds),
        ("oob", &[Val::I32(-1)], TrapCode::MemoryOutOfBounds),
        ("oob_far", &[], TrapCode::MemoryOutOfBounds),
        ("oob_straddle", &[], TrapCode::MemoryOutOfBounds),
        ("null", &[], TrapCode::IndirectCallToNull),
        ("sig", &[], TrapCode::BadSignature),
        ("undefined", &[], TrapCode::TableOutOfBounds),
        ("table_oob", &[], TrapCode::TableOutOfBounds),
        ("fill_oob", &[], TrapCode::MemoryOutOfBounds),
        ("deep", &[Val::I32(0)], TrapCode::StackOverflow),
    ];
    let ok = instance
        .get_typed_func::<(), i32>(&store, "ok")
        .expect("typed");
    for &(name, args, code) in cases {
        // Twice: a trap must leave everything as it was.
        for _ in 0..2 {
            assert_eq!(
                trap(&mut store, &instance, name, args).code(),
                code,
                "{name}"
            );
            assert_eq!(ok.call(&mut store, ()).expect("store still works"), 7);
        }
    }
    // A failed memory.fill writes nothing.
    let mem = instance.get_memory(&store, "mem").expect("memory");
    assert!(mem.data(&store)[65000..].iter().all(|&b| b == 0));
}

#[test]
fn backtraces_name_functions_innermost_first() {
    let (mut store, instance) = setup();
    let t = trap(&mut store, &instance, "a", &[]);
    let names: Vec<_> = t
        .backtrace()
        .iter()
        .map(|f| f.func_name.clone().unwrap_or_default())
        .collect();
    assert_eq!(names, ["c", "b", "a"]);
    assert_eq!(t.backtrace()[0].module_name.as_deref(), Some("traps"));
    let shown = t.to_string();
    assert!(shown.contains("wasm trap: unreachable"), "{shown}");
    assert!(shown.contains("traps!c"), "{shown}");
}

#[test]
fn deep_recursion_on_a_small_thread_is_a_trap_not_a_crash() {
    // The thread's own stack (256 KiB) is smaller than the wasm stack limit: recursion
    // hits the thread's guard page first, which must still become a trap.
    let handle = std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(|| {
            let (mut store, instance) = setup();
            let code = trap(&mut store, &instance, "deep", &[Val::I32(0)]).code();
            let ok = instance
                .get_typed_func::<(), i32>(&store, "ok")
                .expect("typed");
            (
                code,
                ok.call(&mut store, ()).expect("usable after overflow"),
            )
        })
        .expect("spawn");
    let (code, ok) = handle.join().expect("thread did not crash");
    assert_eq!(code, TrapCode::StackOverflow);
    assert_eq!(ok, 7);
}

#[test]
fn traps_on_many_threads_at_once_stay_separate() {
    let threads: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let (mut store, instance) = setup();
                for _ in 0..50 {
                    let name = if i % 2 == 0 { "div0" } else { "oob_straddle" };
                    let want = if i % 2 == 0 {
                        TrapCode::IntegerDivisionByZero
                    } else {
                        TrapCode::MemoryOutOfBounds
                    };
                    assert_eq!(trap(&mut store, &instance, name, &[]).code(), want);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("no thread crashed");
    }
}

#[test]
fn a_fault_outside_wasm_is_not_swallowed() {
    // Kiln's handlers are installed; a host-side panic still behaves normally.
    let (mut store, instance) = setup();
    let r = std::panic::catch_unwind(|| {
        let v: Vec<u8> = Vec::new();
        v[usize::from(v.is_empty())]
    });
    assert!(r.is_err());
    assert_eq!(
        trap(&mut store, &instance, "unreachable", &[]).code(),
        TrapCode::Unreachable
    );
}

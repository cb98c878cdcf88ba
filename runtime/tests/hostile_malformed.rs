//! Malformed or abusive modules: Kiln answers with a clear error (`ErrorKind::Module`,
//! or `Unsupported` for a later proposal's encoding), never a panic, a host stack
//! overflow or an allocation sized by a count the file only claims. Huge but valid
//! modules (100k nested blocks, 50k locals, a million functions) compile and run, or
//! are refused cleanly. (`api.rs` checks every prefix of a small module.)

#[path = "common/hostile.rs"]
mod hostile;

use hostile::enc::{self, u};
use hostile::*;
use kiln::*;
use kiln_frontend::wasmparser::{Validator, WasmFeatures};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Compiles `bytes`, turning a panic into a test failure that names `what`.
fn compile(engine: &Engine, bytes: &[u8], what: &str) -> Result<Module> {
    catch_unwind(AssertUnwindSafe(|| Module::new(engine, bytes)))
        .unwrap_or_else(|_| panic!("{what}: Module::new panicked"))
}

/// Asserts that `bytes` is refused as malformed/invalid, quickly, with a message.
#[track_caller]
fn assert_refused(engine: &Engine, bytes: &[u8], what: &str) {
    let (r, took) = timed(|| compile(engine, bytes, what));
    let err = r.err().unwrap_or_else(|| panic!("{what}: accepted"));
    assert!(
        matches!(err.kind(), ErrorKind::Module(_)),
        "{what}: {:?}: {err}",
        err.kind()
    );
    assert!(!err.to_string().is_empty());
    eprintln!("{what}: refused in {took:?}");
}

fn is_valid(bytes: &[u8]) -> bool {
    Validator::new_with_features(WasmFeatures::WASM2)
        .validate_all(bytes)
        .is_ok()
}

/// A module with every section kind, SIMD, bulk memory, reference types and names.
const RICH: &str = r#"(module $rich
  (type $ii (func (param i32) (result i32)))
  (import "env" "f" (func $imp (param i32) (result i32)))
  (import "env" "g" (global $gi i32))
  (table $t 4 funcref)
  (memory $m 1 2)
  (global $g (mut i64) (i64.const -1))
  (global $v v128 (v128.const i32x4 1 2 3 4))
  (export "run" (func $run))
  (export "mem" (memory $m))
  (start $init)
  (elem (table $t) (i32.const 0) func $run $imp)
  (elem $passive funcref (ref.func $run) (ref.null func))
  (data (i32.const 8) "active")
  (data $p "passive")
  (func $init (global.set $g (i64.const 7)))
  (func $run (type $ii) (local $x f64) (local $s v128)
    (local.set $s (i32x4.add (global.get $v) (v128.load (local.get 0))))
    (memory.init $p (i32.const 100) (i32.const 0) (i32.const 7))
    (block $b (br_table $b $b (local.get 0)))
    (i32.add (i32x4.extract_lane 2 (local.get $s))
      (call_indirect (type $ii) (global.get $gi) (i32.const 1)))))"#;

#[test]
fn every_prefix_and_every_deleted_byte_of_a_rich_module() {
    let engine = Engine::default();
    let bytes = wat::parse_str(RICH).expect("valid text");
    let mut accepted = 0;
    for len in 0..=bytes.len() {
        let prefix = &bytes[..len];
        let what = format!("prefix of {len} bytes");
        match compile(&engine, prefix, &what) {
            Ok(_) => {
                assert!(is_valid(prefix), "{what}: accepted but invalid");
                accepted += 1;
            }
            Err(e) => {
                assert!(!is_valid(prefix), "{what}: valid but refused: {e}");
                assert!(matches!(e.kind(), ErrorKind::Module(_)), "{what}: {e}");
            }
        }
    }
    // Whole sections are valid modules; the full module is one of them.
    assert!(accepted >= 2, "{accepted}");
    // Deleting any one byte never panics; a refusal is always an error of the input.
    for i in 8..bytes.len() {
        let mut b = bytes.clone();
        b.remove(i);
        let what = format!("byte {i} deleted");
        if let Err(e) = compile(&engine, &b, &what) {
            assert!(
                matches!(e.kind(), ErrorKind::Module(_) | ErrorKind::Unsupported(_)),
                "{what}: {:?}: {e}",
                e.kind()
            );
        }
    }
    assert_process_healthy();
}

/// `section` with a count of `count` followed by `rest` (which is much shorter).
fn counted(id: u8, count: u64, rest: &[u8]) -> Vec<u8> {
    let mut body = u(count);
    body.extend_from_slice(rest);
    enc::section(id, &body)
}

fn type_void() -> Vec<u8> {
    enc::section(enc::TYPE, &enc::vec_of(&[enc::func_type(&[], &[])]))
}

fn one_func() -> Vec<u8> {
    enc::section(enc::FUNCTION, &enc::vec_of(&[u(0)]))
}

fn code_with(body: Vec<u8>) -> Vec<u8> {
    enc::section(enc::CODE, &enc::vec_of(&[body]))
}

#[test]
fn counts_near_u32_max_are_refused_without_allocating_for_them() {
    let engine = Engine::default();
    let max = u64::from(u32::MAX);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "type section claiming 2^32-1 entries",
            enc::module(&[counted(enc::TYPE, max, &enc::func_type(&[], &[]))]),
        ),
        (
            "import section claiming 2^32-1 entries",
            enc::module(&[type_void(), counted(enc::IMPORT, max, &[])]),
        ),
        (
            "function section claiming 2^32-1 entries",
            enc::module(&[type_void(), counted(enc::FUNCTION, max, &[0])]),
        ),
        (
            "code section claiming 2^32-1 bodies",
            enc::module(&[
                type_void(),
                one_func(),
                counted(enc::CODE, max, &enc::body(&[], &[0x0b])),
            ]),
        ),
        (
            "export section claiming 2^32-1 entries",
            enc::module(&[
                type_void(),
                one_func(),
                counted(enc::EXPORT, max, &enc::export_func("f", 0)),
            ]),
        ),
        (
            "data section claiming 2^32-1 segments",
            enc::module(&[counted(enc::DATA, max, &[1, 0])]),
        ),
        (
            "a passive data segment claiming 2^32-1 bytes",
            enc::module(&[counted(
                enc::DATA,
                1,
                &[1, 0xff, 0xff, 0xff, 0xff, 0x0f, b'x'],
            )]),
        ),
        (
            "a data count of 2^32-1",
            enc::module(&[enc::section(12, &u(max))]),
        ),
        (
            "an element segment claiming 2^32-1 functions",
            enc::module(&[
                type_void(),
                one_func(),
                enc::section(enc::TABLE, &[1, 0x70, 0, 1]),
                counted(9, 1, &[0, 0x41, 0, 0x0b, 0xff, 0xff, 0xff, 0xff, 0x0f, 0]),
            ]),
        ),
        (
            "a local declaration of 2^32-1 locals",
            enc::module(&[
                type_void(),
                one_func(),
                code_with(enc::body(&[(u32::MAX, 0x7f)], &[0x0b])),
            ]),
        ),
        (
            "two local declarations overflowing u32",
            enc::module(&[
                type_void(),
                one_func(),
                code_with(enc::body(
                    &[(0x8000_0000, 0x7f), (0x8000_0000, 0x7e)],
                    &[0x0b],
                )),
            ]),
        ),
        (
            "2^32-1 local declarations",
            enc::module(&[
                type_void(),
                one_func(),
                code_with({
                    let mut inner = u(max);
                    inner.extend_from_slice(&[1, 0x7f, 0x0b]);
                    let mut b = u(inner.len() as u64);
                    b.extend_from_slice(&inner);
                    b
                }),
            ]),
        ),
        (
            "50,001 locals",
            enc::module(&[
                type_void(),
                one_func(),
                code_with(enc::body(&[(50_001, 0x7f)], &[0x0b])),
            ]),
        ),
        (
            "a br_table claiming 2^32-1 targets",
            enc::module(&[
                type_void(),
                one_func(),
                code_with({
                    let mut code = vec![0x41, 0, 0x0e];
                    enc::uleb(&mut code, max);
                    code.extend_from_slice(&[0, 0, 0x0b]);
                    enc::body(&[], &code)
                }),
            ]),
        ),
        (
            "a section size of 2^32-1",
            enc::module(&[{
                let mut s = vec![enc::TYPE];
                enc::uleb(&mut s, max);
                s.extend_from_slice(&[1, 0x60, 0, 0]);
                s
            }]),
        ),
        (
            "a function body size of 2^32-1",
            enc::module(&[type_void(), one_func(), {
                let mut body = u(1);
                enc::uleb(&mut body, max);
                body.extend_from_slice(&[0, 0x0b]);
                enc::section(enc::CODE, &body)
            }]),
        ),
        (
            "a memory of 2^32-1 pages",
            enc::module(&[enc::section(
                enc::MEMORY,
                &[1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f],
            )]),
        ),
        (
            "a name 2^32-1 bytes long",
            enc::module(&[counted(
                enc::IMPORT,
                1,
                &[0xff, 0xff, 0xff, 0xff, 0x0f, b'a'],
            )]),
        ),
        (
            "an overlong LEB128 (6 bytes)",
            enc::module(&[enc::section(
                enc::TYPE,
                &[0x81, 0x80, 0x80, 0x80, 0x80, 0x00, 0x60, 0, 0],
            )]),
        ),
        (
            "a 5-byte LEB128 with bits past 32",
            enc::module(&[enc::section(
                enc::TYPE,
                &[0x81, 0x80, 0x80, 0x80, 0x70, 0x60, 0, 0],
            )]),
        ),
        (
            "more bodies than functions",
            enc::module(&[
                type_void(),
                one_func(),
                enc::section(
                    enc::CODE,
                    &enc::vec_of(&[enc::body(&[], &[0x0b]), enc::body(&[], &[0x0b])]),
                ),
            ]),
        ),
    ];
    for (what, bytes) in &cases {
        assert_refused(&engine, bytes, what);
    }
    assert_process_healthy();
}

#[test]
fn a_malformed_name_section_is_ignored_not_trusted() {
    // Custom sections are not validated: a name section claiming 2^32-1 function names
    // (and then ending) must neither fail the module nor allocate for the claim.
    let engine = Engine::default();
    let mut names = enc::name("name");
    let mut sub = u(u64::from(u32::MAX));
    sub.extend_from_slice(&[0, 1, b'f']);
    names.push(1);
    enc::uleb(&mut names, sub.len() as u64);
    names.extend_from_slice(&sub);
    let bytes = enc::module(&[
        type_void(),
        one_func(),
        enc::section(enc::EXPORT, &enc::vec_of(&[enc::export_func("f", 0)])),
        code_with(enc::body(&[], &[0x0b])),
        enc::section(0, &names),
    ]);
    let module = compile(&engine, &bytes, "names").expect("a bad name section is ignored");
    let mut store = Store::new(&engine, ());
    let i = Instance::new(&mut store, &module, &[]).expect("instantiates");
    i.get_typed_func::<(), ()>(&store, "f")
        .expect("f")
        .call(&mut store, ())
        .expect("runs");
}

#[test]
fn a_table_of_2_pow_32_minus_1_elements_is_refused_at_instantiation() {
    // Valid (tables may declare any u32 minimum), but past the JS-API limit of 10
    // million elements that Kiln enforces by default: refused before compiling.
    for wat in [
        "(module (table 0xffffffff funcref))",
        "(module (table 0xffffffff externref))",
    ] {
        let err = Module::new(&Engine::default(), wat).expect_err("over the limit");
        assert!(
            err.to_string().contains("more than the limit of 10000000"),
            "{err}"
        );
    }
    // With the limit raised, it compiles; creating it would need 32 GiB: refused
    // before allocating.
    let mut config = Config::new();
    config.module_limits(ModuleLimits {
        table_size: u32::MAX,
        ..ModuleLimits::default()
    });
    let engine = Engine::new(&config).expect("engine");
    let mut store = Store::new(&engine, ());
    for wat in [
        "(module (table 0xffffffff funcref))",
        "(module (table 0xffffffff externref))",
    ] {
        let module = Module::new(&engine, wat).expect("valid");
        let err = Instance::new(&mut store, &module, &[]).expect_err("too big");
        assert!(matches!(err.kind(), ErrorKind::Instantiation(_)), "{err}");
    }
    let err = Table::new(
        &mut store,
        TableType::new(RefType::FUNCREF, u32::MAX, None),
        Val::FuncRef(None),
    )
    .expect_err("too big");
    assert!(matches!(err.kind(), ErrorKind::Instantiation(_)), "{err}");
    assert_store_healthy(&mut store);
}

/// A module exporting `f: () -> i32` whose body nests `depth` constructs opened by
/// `opener` (`block`, `loop`, or `i32.const 1; if`); the innermost one returns 7 with
/// `br depth`, straight out of all of them.
fn nested(depth: usize, opener: &[u8]) -> Vec<u8> {
    let mut code = Vec::with_capacity(depth * (opener.len() + 1) + 16);
    for _ in 0..depth {
        code.extend_from_slice(opener);
    }
    code.extend_from_slice(&[0x41, 7, 0x0c]);
    enc::uleb(&mut code, depth as u64);
    code.extend(std::iter::repeat_n(0x0b, depth));
    // After the outermost construct the validator wants the function's result again.
    code.extend_from_slice(&[0x41, 0, 0x0b]);
    enc::module(&[
        enc::section(enc::TYPE, &enc::vec_of(&[enc::func_type(&[], &[0x7f])])),
        one_func(),
        enc::section(enc::EXPORT, &enc::vec_of(&[enc::export_func("f", 0)])),
        code_with(enc::body(&[], &code)),
    ])
}

#[test]
fn a_hundred_thousand_nested_blocks_on_a_2_mib_thread() {
    // 100k nested `loop`s and `if`s compile in linear time in a release build too, but
    // take 15 s and 45 s in the debug test profile (Cranelift's debug assertions are
    // quadratic in nesting), so they are nested 10k deep here.
    for (kind, depth, opener) in [
        ("block", 100_000, &[0x02, 0x40][..]),
        ("loop", 10_000, &[0x03, 0x40][..]),
        ("if", 10_000, &[0x41, 1, 0x04, 0x40][..]),
    ] {
        let bytes = nested(depth, opener);
        assert!(is_valid(&bytes), "the test module is valid");
        let (outcome, took) = timed(|| {
            on_thread("2-mib-stack", 2 << 20, move || {
                let engine = Engine::default();
                match Module::new(&engine, &bytes) {
                    Ok(module) => {
                        let mut store = Store::new(&engine, ());
                        let i = Instance::new(&mut store, &module, &[]).expect("instantiates");
                        let f = i.get_typed_func::<(), i32>(&store, "f").expect("f");
                        assert_eq!(f.call(&mut store, ()).expect("runs"), 7);
                        "compiled and ran".to_string()
                    }
                    // A clear refusal is acceptable too.
                    Err(e) => {
                        assert!(
                            matches!(e.kind(), ErrorKind::Module(_) | ErrorKind::Unsupported(_)),
                            "{e}"
                        );
                        format!("refused: {e}")
                    }
                }
            })
        });
        eprintln!("{depth} nested `{kind}`: {outcome} in {took:?}");
    }
}

#[test]
fn nested_blocks_and_loops_with_fuel_and_epochs() {
    // Blocks carry no checks; every loop header gets an epoch check and ends a fuel
    // segment.
    for (kind, depth, opener) in [
        ("block", 100_000, [0x02, 0x40]),
        ("loop", 2_000, [0x03, 0x40]),
    ] {
        let bytes = nested(depth, &opener);
        on_thread("2-mib-stack", 2 << 20, move || {
            let engine = metered_engine();
            let (module, took) = timed(|| Module::new(&engine, &bytes));
            eprintln!("{depth} nested metered `{kind}`s compiled in {took:?}");
            let module = module.expect("compiles");
            let mut store = Store::new(&engine, ());
            let i = Instance::new(&mut store, &module, &[]).expect("instantiates");
            let f = i.get_typed_func::<(), i32>(&store, "f").expect("f");
            store.set_fuel(10_000_000).expect("fuel on");
            assert_eq!(f.call(&mut store, ()).expect("runs"), 7);
            if kind == "loop" {
                // `depth` loops, `i32.const` and the `br` out of them all (the rest is
                // unreachable).
                let cost = depth as u64 + 2;
                store.set_fuel(cost - 1).expect("fuel on");
                expect_trap(f.call(&mut store, ()), TrapCode::OutOfFuel, "one short");
                store.set_fuel(cost).expect("fuel on");
                assert_eq!(f.call(&mut store, ()).expect("just enough"), 7);
            }
        });
    }
}

/// A module exporting `f: () -> i32` made of `n` empty `loop`s in a row, then 7.
fn loops_in_a_row(n: usize) -> Vec<u8> {
    let mut code = Vec::with_capacity(3 * n + 3);
    for _ in 0..n {
        code.extend_from_slice(&[0x03, 0x40, 0x0b]);
    }
    code.extend_from_slice(&[0x41, 7, 0x0b]);
    enc::module(&[
        enc::section(enc::TYPE, &enc::vec_of(&[enc::func_type(&[], &[0x7f])])),
        one_func(),
        enc::section(enc::EXPORT, &enc::vec_of(&[enc::export_func("f", 0)])),
        code_with(enc::body(&[], &code)),
    ])
}

#[test]
fn many_fuel_checks_in_one_function_compile_and_meter() {
    // Each fuel charge adds a constant to the running fuel value. A function with tens of
    // thousands of charges once built one long chain of additions that Cranelift's
    // e-graph pass rewrote in quadratic time (38 s for 40,000 loops in a release build);
    // charges are now trapping additions, which the e-graph leaves alone. The
    // compile-time figures belong in a benchmark; this checks the code is still right:
    // it runs, and charges fuel.
    const N: usize = 10_000;
    let bytes = loops_in_a_row(N);
    // Every operator costs 1 here, so that each empty loop is charged (with the
    // default costs `loop` and `end` are free, and so are these loops).
    let fueled = Engine::new(
        Config::new()
            .parallel_compilation(false)
            .fuel_costs(FuelCosts::new(1)),
    )
    .expect("engine");
    let module = Module::new(&fueled, &bytes).expect("compiles");
    let mut store = Store::new(&fueled, ());
    store.set_fuel(1_000_000).expect("fuel on");
    let instance = Instance::new(&mut store, &module, &[]).expect("instantiates");
    let exports: Vec<String> = instance
        .exports(&store)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    for name in exports {
        if let Some(f) = instance.get_func(&store, &name) {
            let mut out = vec![Val::I32(0); f.ty(&store).results().len()];
            f.call(&mut store, &[], &mut out).expect("runs");
        }
    }
    let used = 1_000_000 - store.get_fuel().expect("fuel on");
    assert!(
        used >= N as u64,
        "every loop was charged: {used} units for {N} loops"
    );
    // With too little fuel the same code stops.
    store.set_fuel(N as u64 / 2).expect("fuel on");
    let stopped = instance
        .exports(&store)
        .into_iter()
        .filter_map(|(_, e)| e.into_func())
        .any(|f| {
            let mut out = vec![Val::I32(0); f.ty(&store).results().len()];
            f.call(&mut store, &[], &mut out)
                .err()
                .and_then(|e| e.as_trap().map(Trap::code))
                == Some(TrapCode::OutOfFuel)
        });
    assert!(stopped, "half the fuel is not enough");
}

#[test]
fn a_hundred_thousand_nested_blocks_in_the_text_format() {
    // `Module::new` also takes text: the text parser must not overflow the host stack
    // either. In a child process, so that a crash fails only this test.
    in_child_process(
        "a_hundred_thousand_nested_blocks_in_the_text_format",
        || {
            const DEPTH: usize = 100_000;
            let mut text = String::from("(module (func (export \"f\") (result i32) ");
            text.push_str(&"(block ".repeat(DEPTH));
            text.push_str("(br 100000 (i32.const 7))");
            text.push_str(&")".repeat(DEPTH));
            text.push_str(" (i32.const 0)))");
            on_thread("2-mib-stack", 2 << 20, move || {
                let engine = Engine::default();
                let (r, took) = timed(|| Module::new(&engine, &text));
                eprintln!(
                    "{DEPTH} nested folded blocks in text: {took:?}: {:?}",
                    r.as_ref().err()
                );
                match r {
                    Ok(module) => {
                        let mut store = Store::new(&engine, ());
                        let i = Instance::new(&mut store, &module, &[]).expect("instantiates");
                        let f = i.get_typed_func::<(), i32>(&store, "f").expect("f");
                        assert_eq!(f.call(&mut store, ()).expect("runs"), 7);
                    }
                    Err(e) => assert!(matches!(e.kind(), ErrorKind::Module(_)), "{e}"),
                }
            });
        },
    );
}

#[test]
fn fifty_thousand_locals_compile_and_run() {
    // The most the validator allows, of every type; 50,001 is refused (see the counts
    // test). The function stores into the last one and returns it.
    let mut code = vec![0x41];
    enc::sleb(&mut code, 12345);
    code.push(0x21); // local.set
    enc::uleb(&mut code, 49_999);
    code.push(0x20); // local.get
    enc::uleb(&mut code, 49_999);
    code.push(0x0b);
    let locals = [
        (10_000, 0x7e),
        (10_000, 0x7d),
        (10_000, 0x7c),
        (10_000, 0x7b),
        (10_000, 0x7f),
    ];
    let bytes = enc::module(&[
        enc::section(enc::TYPE, &enc::vec_of(&[enc::func_type(&[], &[0x7f])])),
        one_func(),
        enc::section(enc::EXPORT, &enc::vec_of(&[enc::export_func("f", 0)])),
        code_with(enc::body(&locals, &code)),
    ]);
    let engine = Engine::default();
    let (module, took) = timed(|| Module::new(&engine, &bytes));
    eprintln!("50,000 locals compiled in {took:?}");
    let module = module.expect("50k locals are valid");
    let mut store = Store::new(&engine, ());
    let i = Instance::new(&mut store, &module, &[]).expect("instantiates");
    let f = i.get_typed_func::<(), i32>(&store, "f").expect("f");
    assert_eq!(f.call(&mut store, ()).expect("runs"), 12345);
}

#[test]
fn a_hundred_thousand_values_on_the_operand_stack() {
    // 100k `i32.const` pushed, then folded by 99,999 `i32.add`s: one huge expression.
    const N: usize = 100_000;
    let mut code = Vec::with_capacity(N * 3);
    for _ in 0..N {
        code.extend_from_slice(&[0x41, 1]);
    }
    code.extend(std::iter::repeat_n(0x6a, N - 1));
    code.push(0x0b);
    let bytes = enc::module(&[
        enc::section(enc::TYPE, &enc::vec_of(&[enc::func_type(&[], &[0x7f])])),
        one_func(),
        enc::section(enc::EXPORT, &enc::vec_of(&[enc::export_func("f", 0)])),
        code_with(enc::body(&[], &code)),
    ]);
    on_thread("2-mib-stack", 2 << 20, move || {
        let engine = Engine::default();
        let (module, took) = timed(|| Module::new(&engine, &bytes));
        eprintln!("{N} operands compiled in {took:?}");
        match module {
            Ok(module) => {
                let mut store = Store::new(&engine, ());
                let i = Instance::new(&mut store, &module, &[]).expect("instantiates");
                let f = i.get_typed_func::<(), i32>(&store, "f").expect("f");
                assert_eq!(f.call(&mut store, ()).expect("runs"), N as i32);
            }
            Err(e) => assert!(
                matches!(e.kind(), ErrorKind::Module(_) | ErrorKind::Compile(_)),
                "{e}"
            ),
        }
    });
}

/// A module of `n` functions `(func)`, the first exported as `f0`.
fn many_functions(n: usize) -> Vec<u8> {
    let mut funcs = u(n as u64);
    funcs.resize(funcs.len() + n, 0);
    let mut code = u(n as u64);
    code.reserve(n * 3);
    for _ in 0..n {
        code.extend_from_slice(&[2, 0, 0x0b]);
    }
    enc::module(&[
        type_void(),
        enc::section(enc::FUNCTION, &funcs),
        enc::section(enc::EXPORT, &enc::vec_of(&[enc::export_func("f0", 0)])),
        enc::section(enc::CODE, &code),
    ])
}

/// How many functions the million-function test compiles (see the report in the
/// test's output): a million when the debug profile allows it.
const MANY_FUNCTIONS: usize = 1_000_000;

#[test]
fn a_million_functions() {
    let bytes = many_functions(MANY_FUNCTIONS);
    let engine = Engine::default();
    let (module, took) = timed(|| Module::new(&engine, &bytes));
    eprintln!("{MANY_FUNCTIONS} functions: Module::new took {took:?}");
    match module {
        Ok(module) => {
            let mut store = Store::new(&engine, ());
            let (i, took) = timed(|| Instance::new(&mut store, &module, &[]));
            eprintln!("{MANY_FUNCTIONS} functions: instantiation took {took:?}");
            let i = i.expect("instantiates");
            let f = i.get_typed_func::<(), ()>(&store, "f0").expect("f0");
            f.call(&mut store, ()).expect("runs");
        }
        Err(e) => assert!(
            matches!(e.kind(), ErrorKind::Module(_) | ErrorKind::Unsupported(_)),
            "{e}"
        ),
    }
    // One more than the validator's limit is refused.
    assert_refused(&engine, &many_functions(1_000_001), "1,000,001 functions");
}

/// Loading a module trusts nothing about the file: a device, a FIFO, a directory or a
/// file over the size limit is refused at once, without reading it or waiting for a
/// writer (`kiln run /dev/zero` once read until memory ran out; a FIFO blocked).
#[test]
fn module_files_are_read_only_when_they_are_regular_and_small_enough() {
    let engine = Engine::default();
    for special in ["/dev/zero", "/dev/null", "/dev/urandom", "/"] {
        let err = Module::from_file(&engine, special).expect_err(special);
        assert!(
            err.to_string().contains("not a regular file"),
            "{special}: {err}"
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("fifo.wasm");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let err = Module::from_file(&engine, &fifo).expect_err("a FIFO without a writer");
    assert!(err.to_string().contains("not a regular file"), "{err}");
    // A 2 GB sparse file is refused by its size, before a byte is read.
    let sparse = dir.path().join("sparse.wasm");
    std::fs::File::create(&sparse)
        .and_then(|f| f.set_len(2 << 30))
        .expect("sparse file");
    let err = Module::from_file(&engine, &sparse).expect_err("2 GB");
    assert!(err.to_string().contains("more than the limit"), "{err}");
    // A smaller configured limit, and the same limit for bytes in memory.
    let mut config = Config::new();
    config.max_module_size(100);
    let small = Engine::new(&config).expect("engine");
    let big = dir.path().join("big.wat");
    std::fs::write(&big, format!("(module {})", "(func)".repeat(100))).expect("write");
    assert!(Module::from_file(&small, &big).is_err());
    assert!(Module::new(&small, vec![0u8; 101]).is_err());
    assert!(
        Module::from_file(&engine, &big).is_ok(),
        "the default allows it"
    );
}

/// Only text is parsed as text, and a parse error quotes a short excerpt: a file that
/// is one 100 MB line once produced 100 MB of error message.
#[test]
fn text_is_parsed_only_when_it_is_text_and_errors_stay_short() {
    let engine = Engine::default();
    let err = Module::new(&engine, [0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3]).expect_err("binary junk");
    let msg = err.to_string();
    assert!(
        msg.contains("not a WebAssembly module") && msg.contains("de ad be ef"),
        "{msg}"
    );
    assert!(Module::new(&engine, b"").is_err());
    assert!(Module::new(&engine, "hello, world").is_err());
    // One long line of bad text.
    let line = format!("(module (func {}))", "i32.bogus ".repeat(1_000_000));
    let err = Module::new(&engine, &line).expect_err("bad text");
    let msg = err.to_string();
    assert!(msg.len() < 2048, "{} bytes of message", msg.len());
    assert!(msg.contains("text format"), "{msg}");
    // A variant: many bad lines.
    let lines = format!("(module\n{})", "(func i32.bogus)\n".repeat(100_000));
    let msg = Module::new(&engine, &lines)
        .expect_err("bad text")
        .to_string();
    assert!(msg.len() < 2048, "{} bytes of message", msg.len());
}

/// The JS-API implementation limits are the defaults, and an embedder may lower them
/// to refuse big modules before compiling anything.
#[test]
fn module_limits_are_the_js_api_ones_and_configurable() {
    let d = ModuleLimits::default();
    assert_eq!(
        (d.function_locals, d.function_size, d.types),
        (50_000, 7_654_321, 1_000_000)
    );
    let limits = ModuleLimits {
        function_locals: 100,
        functions: 3,
        ..ModuleLimits::default()
    };
    let mut config = Config::new();
    config.module_limits(limits);
    let engine = Engine::new(&config).expect("engine");
    let err = Module::new(
        &engine,
        "(module (func (local i32 i32) (local i64) ) (func) (func) (func))",
    )
    .expect_err("4 functions");
    assert!(
        err.to_string()
            .contains("4 functions, more than the limit of 3"),
        "{err}"
    );
    let locals = format!("(module (func {}))", "(local i32)".repeat(101));
    let err = Module::new(&engine, &locals).expect_err("101 locals");
    assert!(err.to_string().contains("101 locals"), "{err}");
    assert!(Module::new(&Engine::default(), &locals).is_ok());
}

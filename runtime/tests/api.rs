//! The embedding API refuses bad input with errors: malformed modules, wrong argument
//! types and counts, missing imports, handles from another store.

use kiln::*;

#[test]
fn malformed_and_invalid_modules_are_errors() {
    let engine = Engine::default();
    let cases: &[&[u8]] = &[
        b"",
        b"\0asm",
        b"\0asm\x01\0\0\0\x01\xff\xff\xff\xff\x0f",
        b"\0asm\x02\0\0\0",
        b"(module (func (result i32)))",
        b"(module (func $f (call $g)))",
        b"not wasm at all",
    ];
    for bytes in cases {
        let err = Module::new(&engine, bytes).expect_err("rejected");
        assert!(matches!(err.kind(), ErrorKind::Module(_)), "{err}");
    }
    let err = Module::new(&engine, "(module (tag))").expect_err("rejected");
    assert!(matches!(err.kind(), ErrorKind::Unsupported(_)), "{err}");
    assert!(err.to_string().contains("exception handling"), "{err}");
}

#[test]
fn every_prefix_of_a_module_is_rejected_without_panicking() {
    let engine = Engine::default();
    let bytes = wat::parse_str(
        r#"(module (memory 1) (global (mut i32) (i32.const 1))
            (func (export "f") (param i32) (result i32) (i32.add (local.get 0) (global.get 0)))
            (data (i32.const 0) "hi"))"#,
    )
    .expect("valid text");
    // A prefix ending at a section boundary is itself a valid module: Kiln must agree
    // with the validator on every prefix.
    use kiln_frontend::wasmparser::{Validator, WasmFeatures};
    for len in 0..bytes.len() {
        let prefix = &bytes[..len];
        let valid = Validator::new_with_features(WasmFeatures::WASM2)
            .validate_all(prefix)
            .is_ok();
        assert_eq!(Module::new(&engine, prefix).is_ok(), valid, "prefix {len}");
    }
    // Flipping any single byte never panics.
    for i in 8..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0xff;
        let _ = Module::new(&engine, &b);
    }
}

#[test]
fn calls_check_arguments() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module (func (export "f") (param i32 f64) (result i64) (i64.const 1)))"#,
    )
    .expect("compiles");
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).expect("instantiates");
    let f = instance.get_func(&store, "f").expect("export");
    let mut out = [Val::I64(0)];
    assert!(f.call(&mut store, &[Val::I32(1)], &mut out).is_err());
    assert!(f
        .call(&mut store, &[Val::I64(1), Val::F64(0)], &mut out)
        .is_err());
    assert!(f
        .call(&mut store, &[Val::I32(1), Val::F64(0)], &mut [])
        .is_err());
    f.call(&mut store, &[Val::I32(1), Val::F64(0)], &mut out)
        .expect("right types");
    assert_eq!(out[0], Val::I64(1));
    assert!(instance.get_typed_func::<i32, i64>(&store, "f").is_err());
    assert!(instance
        .get_typed_func::<(i32, f64), i64>(&store, "f")
        .is_ok());
    assert!(instance.get_typed_func::<(), ()>(&store, "nope").is_err());
}

#[test]
fn link_errors_name_the_import() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module (import "env" "f" (func (param i32))) (import "env" "m" (memory 2)))"#,
    )
    .expect("compiles");
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    let err = linker
        .instantiate(&mut store, &module)
        .expect_err("missing");
    assert!(matches!(err.kind(), ErrorKind::Link(_)));
    assert!(err.to_string().contains("env::f"), "{err}");
    linker.func_wrap("env", "f", |_: i64| {}).expect("define");
    let small = Memory::new(&mut store, MemoryType::new(1, None)).expect("memory");
    linker.define(&store, "env", "m", small).expect("define");
    let err = linker
        .instantiate(&mut store, &module)
        .expect_err("wrong type");
    assert!(err.to_string().contains("env::f"), "{err}");
}

#[test]
fn handles_from_another_store_are_refused() {
    let engine = Engine::default();
    let mut a = Store::new(&engine, ());
    let mut b = Store::new(&engine, ());
    let g = Global::new(
        &mut a,
        GlobalType::new(ValType::I32, Mutability::Var),
        Val::I32(1),
    )
    .expect("global");
    let module =
        Module::new(&engine, r#"(module (import "m" "g" (global (mut i32))))"#).expect("compiles");
    assert!(Instance::new(&mut b, &module, &[g.into()]).is_err());
    assert!(Instance::new(&mut a, &module, &[g.into()]).is_ok());
    let f = Func::wrap(&mut a, || 1i32);
    assert!(f.call(&mut b, &[], &mut [Val::I32(0)]).is_err());
}

#[test]
fn memories_tables_and_globals_from_the_host() {
    let engine = Engine::default();
    let mut store = Store::new(&engine, ());
    let mem = Memory::new(&mut store, MemoryType::new(1, Some(3))).expect("memory");
    mem.write(&mut store, 100, b"kiln").expect("write");
    let mut buf = [0u8; 4];
    mem.read(&store, 100, &mut buf).expect("read");
    assert_eq!(&buf, b"kiln");
    assert!(mem.write(&mut store, 65534, b"kiln").is_err());
    assert_eq!(mem.grow(&mut store, 2).expect("grow"), 1);
    assert!(mem.grow(&mut store, 1).is_err());
    assert_eq!(mem.size(&store), 3);

    let table = Table::new(
        &mut store,
        TableType::new(RefType::FUNCREF, 2, Some(4)),
        Val::FuncRef(None),
    )
    .expect("table");
    let f = Func::wrap(&mut store, |x: i32| x * 3);
    table
        .set(&mut store, 1, Val::FuncRef(Some(f)))
        .expect("set");
    assert!(table.set(&mut store, 1, Val::I32(0)).is_err());
    assert!(table.set(&mut store, 2, Val::FuncRef(None)).is_err());
    assert_eq!(
        table.grow(&mut store, 2, Val::FuncRef(None)).expect("grow"),
        2
    );
    assert!(table.grow(&mut store, 1, Val::FuncRef(None)).is_err());

    let g = Global::new(
        &mut store,
        GlobalType::new(ValType::F64, Mutability::Const),
        Val::F64(1.5f64.to_bits()),
    )
    .expect("global");
    assert!(g.set(&mut store, Val::F64(0)).is_err());

    let module = Module::new(
        &engine,
        r#"(module
            (import "" "mem" (memory 1))
            (import "" "table" (table 1 funcref))
            (import "" "g" (global f64))
            (type $t (func (param i32) (result i32)))
            (func (export "go") (result f64)
              (f64.add (global.get 0)
                (f64.convert_i32_s
                  (i32.add (i32.load8_u (i32.const 100))
                           (call_indirect (type $t) (i32.const 2) (i32.const 1)))))))"#,
    )
    .expect("compiles");
    let instance = Instance::new(&mut store, &module, &[mem.into(), table.into(), g.into()])
        .expect("instantiates");
    let go = instance
        .get_typed_func::<(), f64>(&store, "go")
        .expect("typed");
    assert_eq!(
        go.call(&mut store, ()).expect("call"),
        1.5 + f64::from(b'k') + 6.0
    );
}

#[test]
fn externrefs_round_trip() {
    let engine = Engine::default();
    let mut store = Store::new(&engine, ());
    let module = Module::new(
        &engine,
        r#"(module (table $t 1 externref)
            (func (export "put") (param externref) (table.set $t (i32.const 0) (local.get 0)))
            (func (export "get") (result externref) (table.get $t (i32.const 0))))"#,
    )
    .expect("compiles");
    let instance = Instance::new(&mut store, &module, &[]).expect("instantiates");
    let r = ExternRef::new(&mut store, String::from("hello"));
    let put = instance.get_func(&store, "put").expect("put");
    put.call(&mut store, &[Val::ExternRef(Some(r))], &mut [])
        .expect("put");
    let get = instance.get_func(&store, "get").expect("get");
    let mut out = [Val::ExternRef(None)];
    get.call(&mut store, &[], &mut out).expect("get");
    let Val::ExternRef(Some(back)) = out[0] else {
        panic!("expected an externref, got {:?}", out[0]);
    };
    assert_eq!(
        back.data(&store)
            .downcast_ref::<String>()
            .map(String::as_str),
        Some("hello")
    );
}

/// Every code placement runs the same code: functions with loops, constants that need
/// 16-byte alignment (v128 and f64 constant pools), calls between them.
#[test]
fn code_placements_do_not_change_results() {
    let wat = r#"(module
      (func $sum (export "sum") (param $n i32) (result f64) (local $acc f64)
        (loop $l
          (local.set $acc (f64.add (local.get $acc) (f64.mul (f64.convert_i32_u (local.get $n)) (f64.const 1.5))))
          (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
        (local.get $acc))
      (func (export "lanes") (param $x i32) (result i32)
        (i32x4.extract_lane 2
          (i32x4.add (i32x4.splat (local.get $x)) (v128.const i32x4 1 2 3 4))))
      (func (export "both") (param i32) (result f64)
        (f64.add (call $sum (local.get 0)) (f64.const 0.25))))"#;
    for placement in [
        CodePlacement::Loops,
        CodePlacement::Packed,
        CodePlacement::Offset(0),
        CodePlacement::Offset(5),
        CodePlacement::Offset(48),
    ] {
        let engine = Engine::new(Config::new().code_placement(placement)).expect("engine");
        let module = Module::new(&engine, wat).expect("compiles");
        let mut store = Store::new(&engine, ());
        let i = Instance::new(&mut store, &module, &[]).expect("instantiates");
        let sum = i.get_typed_func::<i32, f64>(&store, "sum").expect("sum");
        let lanes = i
            .get_typed_func::<i32, i32>(&store, "lanes")
            .expect("lanes");
        let both = i.get_typed_func::<i32, f64>(&store, "both").expect("both");
        assert_eq!(
            sum.call(&mut store, 100).expect("call"),
            7575.0,
            "{placement:?}"
        );
        assert_eq!(
            lanes.call(&mut store, 10).expect("call"),
            13,
            "{placement:?}"
        );
        assert_eq!(
            both.call(&mut store, 4).expect("call"),
            15.25,
            "{placement:?}"
        );
    }
}

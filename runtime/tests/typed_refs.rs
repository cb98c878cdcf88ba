//! Typed function references (Wasm 3.0): `call_ref`, `ref.as_non_null`, `br_on_null`,
//! `br_on_non_null`, typed tables with initializers, signatures that name signatures
//! (across modules and in artifacts), and the API refusing references that do not fit
//! a typed parameter, table or global, since generated code trusts those types.

use kiln::*;

const MODULE: &str = r#"(module
  (type $ii (func (param i32) (result i32)))
  (func $inc (type $ii) (i32.add (local.get 0) (i32.const 1)))
  (func $dbl (type $ii) (i32.mul (local.get 0) (i32.const 2)))
  (elem declare func $inc $dbl)
  (table $t (export "t") 2 (ref $ii) (ref.func $inc))
  (global $g (export "g") (mut (ref null $ii)) (ref.null $ii))
  (func (export "apply") (param $f (ref $ii)) (param i32) (result i32)
    (call_ref $ii (local.get 1) (local.get $f)))
  (func (export "apply_table") (param i32 i32) (result i32)
    (call_ref $ii (local.get 1) (table.get $t (local.get 0))))
  (func (export "apply_global") (param i32) (result i32)
    (call_ref $ii (local.get 0) (global.get $g)))
  (func (export "set_global_dbl") (global.set $g (ref.func $dbl)))
  (func (export "non_null") (param funcref) (result funcref)
    (ref.as_non_null (local.get 0)))
  (func (export "is_null") (param (ref null $ii)) (result i32)
    (block $null
      (drop (br_on_null $null (local.get 0)))
      (return (i32.const 0)))
    (i32.const 1))
  (func (export "call_or") (param (ref null $ii)) (param i32) (result i32)
    (local $f (ref $ii))
    (local.set $f
      (block $some (result (ref $ii))
        (br_on_non_null $some (local.get 0))
        (return (i32.const -1))))
    (call_ref $ii (local.get 1) (local.get $f)))
  (func (export "tail") (param i32) (result i32)
    (return_call_ref $ii (local.get 0) (ref.func $dbl))))"#;

fn setup() -> Result<(Store<()>, Instance)> {
    let engine = Engine::default();
    let module = Module::new(&engine, MODULE)?;
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[])?;
    Ok((store, instance))
}

/// `$inc`, element 0 of the typed table.
fn incrementer(store: &Store<()>, i: &Instance) -> Val {
    let t = i.get_table(store, "t").expect("t");
    t.get(store, 0).expect("in bounds")
}

fn trap_code(e: Error) -> Option<TrapCode> {
    e.as_trap().map(Trap::code)
}

fn call(store: &mut Store<()>, i: &Instance, name: &str, args: &[Val]) -> Result<Val> {
    let f = i.get_func(&*store, name).expect("export");
    let mut out = [Val::I32(0)];
    let n = f.ty(&*store).results().len();
    f.call(&mut *store, args, &mut out[..n])?;
    Ok(out[0])
}

#[test]
fn call_ref_calls_through_tables_globals_and_branches() -> Result<()> {
    let (mut store, i) = setup()?;
    // The typed table starts filled with its initializer.
    assert_eq!(
        call(&mut store, &i, "apply_table", &[Val::I32(1), Val::I32(41)])?.i32(),
        Some(42)
    );
    // A null global: call_ref traps, and the store goes on.
    let e = call(&mut store, &i, "apply_global", &[Val::I32(1)]).expect_err("null");
    assert_eq!(trap_code(e), Some(TrapCode::NullReference));
    call(&mut store, &i, "set_global_dbl", &[])?;
    assert_eq!(
        call(&mut store, &i, "apply_global", &[Val::I32(21)])?.i32(),
        Some(42)
    );
    assert_eq!(call(&mut store, &i, "tail", &[Val::I32(4)])?.i32(), Some(8));
    // br_on_null and br_on_non_null take the branch exactly for null / non-null.
    let inc = incrementer(&store, &i);
    assert_eq!(
        call(&mut store, &i, "is_null", &[Val::FuncRef(None)])?.i32(),
        Some(1)
    );
    assert_eq!(call(&mut store, &i, "is_null", &[inc])?.i32(), Some(0));
    assert_eq!(
        call(
            &mut store,
            &i,
            "call_or",
            &[Val::FuncRef(None), Val::I32(5)]
        )?
        .i32(),
        Some(-1)
    );
    assert_eq!(
        call(&mut store, &i, "call_or", &[inc, Val::I32(5)])?.i32(),
        Some(6)
    );
    let e = call(&mut store, &i, "non_null", &[Val::FuncRef(None)]).expect_err("null");
    assert_eq!(trap_code(e), Some(TrapCode::NullReference));
    Ok(())
}

#[test]
fn the_api_refuses_references_that_do_not_fit_the_type() -> Result<()> {
    let (mut store, i) = setup()?;
    let inc = incrementer(&store, &i);
    assert_eq!(
        call(&mut store, &i, "apply", &[inc, Val::I32(1)])?.i32(),
        Some(2)
    );
    // Null for a non-null parameter, and a function of another signature.
    let e = call(&mut store, &i, "apply", &[Val::FuncRef(None), Val::I32(1)])
        .expect_err("null for (ref $ii)");
    assert!(matches!(e.kind(), ErrorKind::Type(_)), "{e}");
    let other = Func::wrap(&mut store, |x: i64| x);
    let e = call(
        &mut store,
        &i,
        "apply",
        &[Val::FuncRef(Some(other)), Val::I32(1)],
    )
    .expect_err("wrong signature");
    assert!(e.to_string().contains("a function of type"), "{e}");
    // The same for a typed table and a typed global.
    let t = i.get_table(&store, "t").expect("t");
    assert!(!t.ty(&store).element().nullable);
    t.set(&mut store, 1, Val::FuncRef(None))
        .expect_err("null in (ref $ii)");
    t.set(&mut store, 1, Val::FuncRef(Some(other)))
        .expect_err("wrong signature in the table");
    t.grow(&mut store, 1, Val::FuncRef(None))
        .expect_err("grown with null");
    let g = i.get_global(&store, "g").expect("g");
    g.set(&mut store, Val::FuncRef(Some(other)))
        .expect_err("wrong signature in the global");
    g.set(&mut store, Val::FuncRef(None))?;
    g.set(&mut store, inc)?;
    assert_eq!(
        call(&mut store, &i, "apply_global", &[Val::I32(9)])?.i32(),
        Some(10)
    );
    Ok(())
}

#[test]
fn signatures_that_name_signatures_link_across_modules() -> Result<()> {
    let engine = Engine::default();
    let mut store = Store::new(&engine, ());
    // A signature naming another, registered per engine by structure, so the
    // importer's own (differently numbered) copy of both signatures matches.
    let exporter = Module::new(
        &engine,
        r#"(module
          (type $callee (func (param i32) (result i32)))
          (type $user (func (param (ref $callee)) (result i32)))
          (func $f (export "f") (type $callee) (i32.add (local.get 0) (i32.const 6)))
          (func (export "g") (type $user) (call_ref $callee (i32.const 1) (local.get 0))))"#,
    )?;
    let importer = Module::new(
        &engine,
        r#"(module
          (type $pad (func))
          (type $s (func (param i32) (result i32)))
          (type $u (func (param (ref $s)) (result i32)))
          (import "m" "f" (func $f (type $s)))
          (import "m" "g" (func $g (type $u)))
          (elem declare func $f)
          (func (export "run") (result i32) (call $g (ref.func $f))))"#,
    )?;
    let e = Instance::new(&mut store, &exporter, &[])?;
    let imports = [
        e.get_func(&store, "f").expect("f").into(),
        e.get_func(&store, "g").expect("g").into(),
    ];
    let i = Instance::new(&mut store, &importer, &imports)?;
    assert_eq!(call(&mut store, &i, "run", &[])?.i32(), Some(7));
    // A function whose signature differs only in a reference's target does not link.
    let wrong = Module::new(
        &engine,
        r#"(module
          (type $other (func (param i32)))
          (type $u (func (param (ref $other)) (result i32)))
          (import "m" "g" (func (type $u))))"#,
    )?;
    let err = Instance::new(&mut store, &wrong, &[imports[1]]).expect_err("mismatch");
    assert!(matches!(err.kind(), ErrorKind::Link(_)), "{err}");
    Ok(())
}

#[test]
fn typed_tables_survive_serialization() -> Result<()> {
    let engine = Engine::default();
    let bytes = Module::new(&engine, MODULE)?.serialize()?;
    let module = Module::deserialize(&engine, &bytes)?;
    let mut store = Store::new(&engine, ());
    let i = Instance::new(&mut store, &module, &[])?;
    assert_eq!(
        call(&mut store, &i, "apply_table", &[Val::I32(0), Val::I32(1)])?.i32(),
        Some(2)
    );
    Ok(())
}

#[test]
fn typed_function_references_can_be_turned_off() {
    let mut config = Config::new();
    config.wasm_function_references(false);
    let engine = Engine::new(&config).expect("engine");
    let err = Module::new(&engine, MODULE).expect_err("refused");
    assert!(
        err.to_string().contains("typed function references"),
        "{err}"
    );
}

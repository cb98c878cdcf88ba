//! Extended constant expressions (Wasm 3.0): integer `add`, `sub` and `mul` over
//! constants and imported globals, in global initializers and segment offsets.

use kiln::*;

const MODULE: &str = r#"(module
  (import "env" "base" (global $base i32))
  (import "env" "wide" (global $wide i64))
  (global (export "sum") i32 (i32.add (global.get $base) (i32.mul (i32.const 3) (i32.const 4))))
  (global (export "diff") i64 (i64.sub (global.get $wide) (i64.const 5)))
  (global (export "folded") i32 (i32.sub (i32.const 0) (i32.const 1)))
  (global (export "folded64") i64 (i64.mul (i64.const 0x100000000) (i64.const 3)))
  (memory (export "memory") 1)
  (data (i32.add (global.get $base) (i32.const 1)) "\2a")
  (table 8 funcref)
  (elem (i32.sub (global.get $base) (i32.const 1)) $seven)
  (func $seven (result i32) (i32.const 7))
  (func (export "call_at") (param i32) (result i32) (call_indirect (result i32) (local.get 0))))"#;

fn instantiate(
    engine: &Engine,
    module: &Module,
    base: i32,
    wide: i64,
) -> Result<(Store<()>, Instance)> {
    let mut store = Store::new(engine, ());
    let g = Global::new(
        &mut store,
        GlobalType::new(ValType::I32, Mutability::Const),
        Val::I32(base),
    )?;
    let w = Global::new(
        &mut store,
        GlobalType::new(ValType::I64, Mutability::Const),
        Val::I64(wide),
    )?;
    let instance = Instance::new(&mut store, module, &[g.into(), w.into()])?;
    Ok((store, instance))
}

fn global(store: &mut Store<()>, instance: &Instance, name: &str) -> Val {
    instance
        .get_global(&*store, name)
        .map(|g| g.get(&*store))
        .unwrap_or_else(|| panic!("no global {name}"))
}

fn check(engine: &Engine, module: &Module) -> Result<()> {
    let (mut store, instance) = instantiate(engine, module, 5, 1 << 40)?;
    assert_eq!(global(&mut store, &instance, "sum"), Val::I32(17));
    assert_eq!(
        global(&mut store, &instance, "diff"),
        Val::I64((1 << 40) - 5)
    );
    assert_eq!(global(&mut store, &instance, "folded"), Val::I32(-1));
    assert_eq!(global(&mut store, &instance, "folded64"), Val::I64(3 << 32));
    let memory = instance.get_memory(&store, "memory").expect("memory");
    assert_eq!(memory.data(&store)[6], 0x2a);
    let call_at = instance.get_typed_func::<i32, i32>(&store, "call_at")?;
    assert_eq!(call_at.call(&mut store, 4)?, 7);
    // An offset computed out of bounds fails instantiation as a plain one would.
    let e = instantiate(engine, module, 70_000, 0).expect_err("out of bounds");
    assert!(e.to_string().contains("out of bounds"), "{e}");
    Ok(())
}

#[test]
fn extended_constants_wrap_like_their_instructions() -> Result<()> {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module
          (import "env" "base" (global $base i32))
          (import "env" "wide" (global $wide i64))
          (global (export "sum") i32 (i32.add (global.get $base) (i32.mul (i32.const 3) (i32.const 4))))
          (global (export "diff") i64 (i64.sub (global.get $wide) (i64.const 5)))
          (global (export "square") i32 (i32.mul (global.get $base) (global.get $base))))"#,
    )?;
    let (mut store, instance) = instantiate(&engine, &module, i32::MAX, i64::MIN)?;
    assert_eq!(
        global(&mut store, &instance, "sum"),
        Val::I32(i32::MAX.wrapping_add(12))
    );
    assert_eq!(
        global(&mut store, &instance, "diff"),
        Val::I64(i64::MIN.wrapping_sub(5))
    );
    assert_eq!(global(&mut store, &instance, "square"), Val::I32(1));
    Ok(())
}

#[test]
fn extended_constants_initialize_globals_and_place_segments() -> Result<()> {
    let engine = Engine::default();
    let module = Module::new(&engine, MODULE)?;
    check(&engine, &module)?;
    // The same from an artifact.
    let loaded = Module::deserialize(&engine, &module.serialize()?)?;
    check(&engine, &loaded)
}

#[test]
fn extended_constants_can_be_turned_off() -> Result<()> {
    let mut config = Config::new();
    config.wasm_extended_const(false);
    let engine = Engine::new(&config)?;
    let e = Module::new(&engine, MODULE).expect_err("refused");
    assert!(matches!(e.kind(), ErrorKind::Unsupported(_)), "{e:?}");
    assert!(
        e.to_string().contains("extended constant expressions"),
        "{e}"
    );
    // A module of plain constants still compiles.
    Module::new(&engine, r#"(module (global i32 (i32.const 1)))"#)?;
    // And an artifact made where they were on does not load here.
    let on = Engine::default();
    let bytes = Module::new(&on, MODULE)?.serialize()?;
    assert!(Module::deserialize(&engine, &bytes).is_err());
    Ok(())
}

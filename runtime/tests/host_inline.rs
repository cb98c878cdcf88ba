//! Inlinable host functions (`Linker::func_inline`): the body runs in place of the
//! call in modules the linker compiles, the host function everywhere else, and the two
//! agree: results, cells, memory, traps, fuel.

use kiln::{
    CompareOp, Config, Engine, ErrorKind, Func, FuncType, InlineBuilder, InlineFunc, Linker,
    Module, OptLevel, Store, StoreCell, Strategy, TrapCode, ValType,
};

/// Host data: how often the host function itself ran.
#[derive(Default)]
struct Host {
    host_calls: u64,
}

const COUNTER: &str = r#"
    (module
      (import "env" "bump" (func $bump (param i64)))
      (table 1 funcref)
      (elem (i32.const 0) $bump)
      (type $t (func (param i64)))
      (func (export "run") (param $n i32)
        (loop $l
          (call $bump (i64.const 2))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br_if $l (local.get $n))))
      (func (export "run_indirect") (param $n i32)
        (loop $l
          (call_indirect (type $t) (i64.const 2) (i32.const 0))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br_if $l (local.get $n)))))
"#;

/// `bump(d)`: the cell grows by `d`.
fn bump_body(cell: &StoreCell<u64>) -> kiln::Result<InlineFunc> {
    let mut b = InlineBuilder::new(&FuncType::new([ValType::I64], []))?;
    let d = b.param(0)?;
    let v = b.cell_get(cell)?;
    let sum = b.add(v, d)?;
    b.cell_set(cell, sum)?;
    b.fuel_cost(5);
    b.finish(&[])
}

fn counter_linker(
    engine: &Engine,
    store: &mut Store<Host>,
) -> kiln::Result<(Linker<Host>, StoreCell<u64>)> {
    let cell = StoreCell::new(&mut *store, 0u64)?;
    let mut linker = Linker::new(engine);
    linker.func_inline(
        "env",
        "bump",
        bump_body(&cell)?,
        move |mut caller: kiln::Caller<'_, Host>, d: i64| {
            caller.data_mut().host_calls += 1;
            let v = cell.get(&caller);
            cell.set(&mut caller, v.wrapping_add(d as u64));
        },
    )?;
    Ok((linker, cell))
}

/// `export` of the counter module, compiled by `linker` (`inlined`) or plainly, in
/// `store`.
fn counter_export(
    linker: &Linker<Host>,
    store: &mut Store<Host>,
    inlined: bool,
    export: &str,
) -> kiln::Result<kiln::TypedFunc<i32, ()>> {
    let module = if inlined {
        linker.module(COUNTER)?
    } else {
        Module::new(linker.engine(), COUNTER)?
    };
    let instance = linker.instantiate(&mut *store, &module)?;
    instance.get_typed_func::<i32, ()>(&mut *store, export)
}

fn run_counter(config: &Config, inlined: bool, export: &str) -> kiln::Result<(u64, u64)> {
    let engine = Engine::new(config)?;
    let mut store = Store::new(&engine, Host::default());
    let (linker, cell) = counter_linker(&engine, &mut store)?;
    let run = counter_export(&linker, &mut store, inlined, export)?;
    run.call(&mut store, 1000)?;
    Ok((cell.get(&store), store.data().host_calls))
}

#[test]
fn an_inlined_body_replaces_the_call_and_shares_the_cell_with_the_host() -> kiln::Result<()> {
    for strategy in [
        Strategy::Eager(OptLevel::Speed),
        Strategy::Lazy,
        Strategy::Tiered,
    ] {
        let mut config = Config::new();
        config.strategy(strategy);
        // Inlined: the body ran 1000 times, the host function never.
        assert_eq!(
            run_counter(&config, true, "run")?,
            (2000, 0),
            "{strategy:?}"
        );
        // Not compiled by the linker: the host function runs each time.
        assert_eq!(
            run_counter(&config, false, "run")?,
            (2000, 1000),
            "{strategy:?}"
        );
        // Through a table, the import's funcref is the host function.
        assert_eq!(
            run_counter(&config, true, "run_indirect")?,
            (2000, 1000),
            "{strategy:?}"
        );
    }
    Ok(())
}

#[test]
fn fuel_is_the_same_inlined_or_not() -> kiln::Result<()> {
    let mut config = Config::new();
    config.consume_fuel(true);
    let mut used = Vec::new();
    for (inlined, export) in [(true, "run"), (false, "run"), (true, "run_indirect")] {
        let engine = Engine::new(&config)?;
        let mut store = Store::new(&engine, Host::default());
        let (linker, _) = counter_linker(&engine, &mut store)?;
        let run = counter_export(&linker, &mut store, inlined, export)?;
        store.set_fuel(1_000_000)?;
        run.call(&mut store, 100)?;
        let direct = 1_000_000 - store.get_fuel()?;
        used.push(direct);
        // Running out inside the body's cost traps with OutOfFuel either way.
        store.set_fuel(3)?;
        let e = run.call(&mut store, 100).unwrap_err();
        assert_eq!(
            e.as_trap().map(|t| t.code()),
            Some(TrapCode::OutOfFuel),
            "{e}"
        );
    }
    // `call_indirect` costs what `call` does plus its index operand.
    assert_eq!(used[0], used[1], "{used:?}");
    assert_eq!(used[2], used[0] + 100, "{used:?}");
    Ok(())
}

const MEMORY: &str = r#"
    (module
      (import "env" "swap" (func $swap (param i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "swap") (param i32) (result i32) (call $swap (local.get 0))))
"#;

extern "C" fn rotate(x: i32) -> i32 {
    x.rotate_left(8)
}

/// `swap(p)`: stores `rotate(mem[p])` at `p + 4` and returns the old `mem[p]`; hands
/// `p` over 60000 to the host function.
fn swap_body() -> kiln::Result<InlineFunc> {
    let mut b = InlineBuilder::new(&FuncType::new([ValType::I32], [ValType::I32]))?;
    let p = b.param(0)?;
    let limit = b.constant(60_000i32)?;
    let far = b.compare(CompareOp::GtU, p, limit)?;
    b.fallback_if(far)?;
    let old = b.load::<i32>(p, 0)?;
    let rotated = b
        .call_extern(rotate as extern "C" fn(i32) -> i32, &[old])?
        .expect("rotate returns a value");
    b.store(p, 4, rotated)?;
    b.finish(&[old])
}

fn swap_linker(engine: &Engine) -> kiln::Result<Linker<Host>> {
    let mut linker = Linker::new(engine);
    linker.func_inline(
        "env",
        "swap",
        swap_body()?,
        |mut caller: kiln::Caller<'_, Host>, p: i32| -> kiln::Result<i32> {
            caller.data_mut().host_calls += 1;
            let memory = caller
                .get_export("memory")
                .and_then(|e| e.into_memory())
                .ok_or_else(|| kiln::Error::msg("no memory"))?;
            let mut word = [0u8; 4];
            memory.read(&caller, p as u32 as usize, &mut word)?;
            let old = i32::from_le_bytes(word);
            let new = rotate(old).to_le_bytes();
            memory.write(&mut caller, p as u32 as usize + 4, &new)?;
            Ok(old)
        },
    )?;
    Ok(linker)
}

#[test]
fn memory_extern_calls_and_fallbacks_agree_with_the_host_function() -> kiln::Result<()> {
    let engine = Engine::default();
    let linker = swap_linker(&engine)?;
    for inlined in [true, false] {
        let mut store = Store::new(&engine, Host::default());
        let module = if inlined {
            linker.module(MEMORY)?
        } else {
            Module::new(&engine, MEMORY)?
        };
        let instance = linker.instantiate(&mut store, &module)?;
        let memory = instance.get_memory(&mut store, "memory").expect("memory");
        let swap = instance.get_typed_func::<i32, i32>(&mut store, "swap")?;
        for p in [0, 100, 65_000] {
            memory.write(&mut store, p as usize, &0x1122_3344i32.to_le_bytes())?;
            assert_eq!(swap.call(&mut store, p)?, 0x1122_3344);
            let mut word = [0u8; 4];
            memory.read(&store, p as usize + 4, &mut word)?;
            assert_eq!(
                i32::from_le_bytes(word),
                0x2233_4411,
                "p={p} inlined={inlined}"
            );
        }
        // Inlined, only the far address (past 60000) went to the host function.
        let expected_host_calls = if inlined { 1 } else { 3 };
        assert_eq!(store.data().host_calls, expected_host_calls);
    }
    Ok(())
}

#[test]
fn an_out_of_bounds_access_in_a_body_traps_like_wasm_and_names_the_import() -> kiln::Result<()> {
    let engine = Engine::default();
    let mut linker: Linker<Host> = Linker::new(&engine);
    let mut b = InlineBuilder::new(&FuncType::new([ValType::I32], [ValType::I64]))?;
    let p = b.param(0)?;
    let v = b.load::<i64>(p, 0)?;
    linker.func_inline(
        "env",
        "peek",
        b.finish(&[v])?,
        |_p: i32| -> kiln::Result<i64> { Err(kiln::Error::msg("the inlined body runs, not this")) },
    )?;
    let wat = r#"
        (module
          (import "env" "peek" (func $peek (param i32) (result i64)))
          (memory 1)
          (func $outer (export "peek") (param i32) (result i64) (call $peek (local.get 0))))
    "#;
    let module = linker.module(wat)?;
    let mut store = Store::new(&engine, Host::default());
    let instance = linker.instantiate(&mut store, &module)?;
    let peek = instance.get_typed_func::<i32, i64>(&mut store, "peek")?;
    assert_eq!(peek.call(&mut store, 8)?, 0);
    let e = peek.call(&mut store, 65_533).unwrap_err();
    let trap = e.as_trap().expect("a trap");
    assert_eq!(trap.code(), TrapCode::MemoryOutOfBounds);
    let names: Vec<_> = trap
        .backtrace()
        .iter()
        .map(|f| f.func_name.clone().unwrap_or_default())
        .collect();
    assert_eq!(names, ["peek", "outer"], "{trap}");
    assert_eq!(trap.backtrace()[0].func_index, 0);
    // The store is still usable.
    assert_eq!(peek.call(&mut store, 16)?, 0);
    Ok(())
}

#[test]
fn ill_typed_bodies_and_mismatched_definitions_are_refused() -> kiln::Result<()> {
    let engine = Engine::default();
    let ty = FuncType::new([ValType::I32, ValType::F64], [ValType::I32]);
    let mut b = InlineBuilder::new(&ty)?;
    let (i, f) = (b.param(0)?, b.param(1)?);
    let type_error = |e: kiln::Error| match e.kind() {
        ErrorKind::Type(m) => m.clone(),
        other => panic!("not a type error: {other:?}"),
    };
    assert!(type_error(b.add(i, f).unwrap_err()).contains("must be i32"));
    assert!(type_error(b.load::<i32>(f, 0).unwrap_err()).contains("address must be i32"));
    assert!(b.param(2).is_err());
    let mut other = InlineBuilder::new(&ty)?;
    assert!(type_error(b.add(other.param(0)?, i).unwrap_err()).contains("another builder"));
    let z = other.constant(0i32)?;
    assert!(other.finish(&[z]).is_ok());
    assert!(type_error(b.finish(&[f]).unwrap_err()).contains("result 0 must be i32"));

    let refs = FuncType::new([ValType::EXTERNREF], []);
    assert!(InlineBuilder::new(&refs).is_err());

    // The host function must have the body's type.
    let b = InlineBuilder::new(&FuncType::new([ValType::I32], []))?;
    let _ = b.param(0)?;
    let body = b.finish(&[])?;
    let mut linker: Linker<()> = Linker::new(&engine);
    let e = linker
        .func_inline("env", "f", body.clone(), |_: i64| {})
        .unwrap_err();
    assert!(type_error(e).contains("the body is a"));

    // A module compiled with the body inlined takes no other function for the import.
    linker.func_inline("env", "f", body.clone(), |_: i32| {})?;
    let wat = r#"(module (import "env" "f" (func (param i32)))
                  (func (export "g") (call 0 (i32.const 1))))"#;
    let module = linker.module(wat)?;
    let mut store = Store::new(&engine, ());
    let mut plain: Linker<()> = Linker::new(&engine);
    plain.func_wrap("env", "f", |_: i32| {})?;
    let e = plain.instantiate(&mut store, &module).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Link(m) if m.contains("inlined")),
        "{e}"
    );
    linker.instantiate(&mut store, &module)?;

    // A body using one store's cells is not created in another.
    let mut first = Store::new(&engine, ());
    let cell = StoreCell::new(&mut first, 1u32)?;
    let mut b = InlineBuilder::new(&FuncType::new([], [ValType::I32]))?;
    let v = b.cell_get(&cell)?;
    let body = b.finish(&[v])?;
    let mut second = Store::new(&engine, ());
    assert!(Func::inline(&mut second, &body, || 1u32).is_err());
    assert!(Func::inline(&mut first, &body, || 1u32).is_ok());
    Ok(())
}

#[test]
fn inlined_modules_round_trip_through_artifacts() -> kiln::Result<()> {
    let engine = Engine::default();
    let mut store = Store::new(&engine, Host::default());
    let (linker, cell) = counter_linker(&engine, &mut store)?;
    let bytes = linker.module(COUNTER)?.serialize()?;
    let module = Module::deserialize(&engine, &bytes)?;
    let instance = linker.instantiate(&mut store, &module)?;
    let run = instance.get_typed_func::<i32, ()>(&mut store, "run")?;
    run.call(&mut store, 10)?;
    assert_eq!((cell.get(&store), store.data().host_calls), (20, 0));
    // Loaded from the artifact, it still refuses a plain function for the import.
    let mut plain: Linker<Host> = Linker::new(&engine);
    plain.func_wrap("env", "bump", |_: i64| {})?;
    assert!(plain.instantiate(&mut store, &module).is_err());
    Ok(())
}

//! Tail calls (Wasm 3.0): `return_call` and `return_call_indirect` replace the caller's
//! frame, so deep mutual tail recursion runs in constant stack, under every strategy;
//! fuel, epochs, traps, host functions and stack arguments behave as for calls.

use kiln::*;

const MODULE: &str = r#"(module
  (import "host" "add" (func $add (param i32 i32) (result i32)))
  (type $t (func (param i64) (result i32)))
  (table 2 funcref)
  (elem (i32.const 0) $even_i $odd_i)
  (func $even (export "even") (param i64) (result i32)
    (if (result i32) (i64.eqz (local.get 0))
      (then (i32.const 1))
      (else (return_call $odd (i64.sub (local.get 0) (i64.const 1))))))
  (func $odd (export "odd") (param i64) (result i32)
    (if (result i32) (i64.eqz (local.get 0))
      (then (i32.const 0))
      (else (return_call $even (i64.sub (local.get 0) (i64.const 1))))))
  ;; The same through the table: slot 0 is even, slot 1 odd.
  (func $even_i (param i64) (result i32)
    (if (result i32) (i64.eqz (local.get 0))
      (then (i32.const 1))
      (else (return_call_indirect (type $t) (i64.sub (local.get 0) (i64.const 1)) (i32.const 1)))))
  (func $odd_i (param i64) (result i32)
    (if (result i32) (i64.eqz (local.get 0))
      (then (i32.const 0))
      (else (return_call_indirect (type $t) (i64.sub (local.get 0) (i64.const 1)) (i32.const 0)))))
  (func (export "even_indirect") (param i64) (result i32)
    (return_call_indirect (type $t) (local.get 0) (i32.const 0)))
  ;; Twelve parameters: some go on the stack.
  (func $many (export "many") (param i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64) (result i64)
    (if (result i64) (i64.eqz (local.get 0))
      (then (i64.add (local.get 1) (local.get 11)))
      (else (return_call $many
        (i64.sub (local.get 0) (i64.const 1))
        (i64.add (local.get 1) (i64.const 1))
        (local.get 2) (local.get 3) (local.get 4) (local.get 5) (local.get 6)
        (local.get 7) (local.get 8) (local.get 9) (local.get 10)
        (i64.add (local.get 11) (i64.const 2))))))
  (func (export "to_host") (param i32) (result i32)
    (return_call $add (local.get 0) (i32.const 5)))
  (func (export "bad_type") (result i32)
    (return_call_indirect (type $t) (i64.const 1) (i32.const 5)))
  (func (export "wrong_sig") (result i32)
    (return_call_indirect (param i32) (result i32) (i32.const 1) (i32.const 0)))
  (func $boom (param i32) (result i32) (unreachable))
  (func (export "trap_in_callee") (param i32) (result i32)
    (return_call $boom (local.get 0)))
  ;; No loop, and a tail call in every path: only function entries can stop it.
  (func $spin (export "spin") (param i64) (result i64)
    (return_call $spin (i64.add (local.get 0) (i64.const 1)))))"#;

fn linker(engine: &Engine) -> Linker<()> {
    let mut l = Linker::new(engine);
    l.func_wrap("host", "add", |a: i32, b: i32| a.wrapping_add(b))
        .expect("add");
    l
}

fn strategies() -> Vec<(&'static str, Config)> {
    let mut out = Vec::new();
    for (name, strategy) in [
        ("eager", Strategy::Eager(OptLevel::Speed)),
        ("lazy", Strategy::Lazy),
        ("tiered", Strategy::Tiered),
    ] {
        for fuel in [false, true] {
            let mut c = Config::new();
            c.strategy(strategy)
                .tier_up_policy(TierUpPolicy::with_threshold(1))
                .consume_fuel(fuel);
            out.push((name, c));
        }
    }
    out
}

#[test]
fn a_million_mutual_tail_calls_run_in_constant_stack() -> Result<()> {
    for (name, config) in strategies() {
        let (mut store, instance) = instantiate(&config)?;
        let even = instance.get_typed_func::<i64, i32>(&store, "even")?;
        assert_eq!(even.call(&mut store, 1_000_000)?, 1, "{name}");
        assert_eq!(even.call(&mut store, 1_000_001)?, 0, "{name}");
        let even_indirect = instance.get_typed_func::<i64, i32>(&store, "even_indirect")?;
        assert_eq!(even_indirect.call(&mut store, 1_000_000)?, 1, "{name}");
        let many = instance.get_func(&store, "many").expect("many");
        let mut args = vec![Val::I64(0); 12];
        args[0] = Val::I64(1_000_000);
        args[11] = Val::I64(7);
        let mut r = [Val::I64(0)];
        many.call(&mut store, &args, &mut r)?;
        assert_eq!(r[0], Val::I64(1_000_000 + 7 + 2_000_000), "{name}");
        let to_host = instance.get_typed_func::<i32, i32>(&store, "to_host")?;
        assert_eq!(to_host.call(&mut store, 37)?, 42, "{name}");
    }
    Ok(())
}

/// `MODULE` in a fresh store of an engine with `config`, with all the fuel it may need.
fn instantiate(config: &Config) -> Result<(Store<()>, Instance)> {
    let engine = Engine::new(config)?;
    let module = Module::new(&engine, MODULE)?;
    let mut store = Store::new(&engine, ());
    // Fuel is on in this config when the store has some to report.
    if store.get_fuel().is_ok() {
        store.set_fuel(u64::MAX)?;
    }
    let instance = linker(&engine).instantiate(&mut store, &module)?;
    Ok((store, instance))
}

#[test]
fn tail_calls_trap_like_calls() -> Result<()> {
    for (name, config) in strategies() {
        let (mut store, instance) = instantiate(&config)?;
        let code = |store: &mut Store<()>, export: &str| -> Option<TrapCode> {
            let f = instance
                .get_typed_func::<(), i32>(&*store, export)
                .expect("export");
            f.call(store, ())
                .err()
                .and_then(|e| e.as_trap().map(Trap::code))
        };
        assert_eq!(
            code(&mut store, "bad_type"),
            Some(TrapCode::TableOutOfBounds),
            "{name}"
        );
        assert_eq!(
            code(&mut store, "wrong_sig"),
            Some(TrapCode::BadSignature),
            "{name}"
        );
        let boom = instance.get_typed_func::<i32, i32>(&store, "trap_in_callee")?;
        let e = boom.call(&mut store, 1).expect_err("traps");
        let trap = e.as_trap().expect("a trap");
        assert_eq!(trap.code(), TrapCode::Unreachable, "{name}");
        // The callee's frame ($boom, 10) replaced its caller's (11).
        let frames: Vec<u32> = trap.backtrace().iter().map(|f| f.func_index).collect();
        assert_eq!(frames, [10], "{name}: {e}");
        // And the store is still usable.
        let even = instance.get_typed_func::<i64, i32>(&store, "even")?;
        assert_eq!(even.call(&mut store, 10)?, 1, "{name}");
    }
    Ok(())
}

#[test]
fn tail_calls_cost_the_fuel_of_a_call_and_run_out_of_it() -> Result<()> {
    let call_version = r#"(module
      (func $even (export "even") (param i64) (result i32)
        (if (result i32) (i64.eqz (local.get 0))
          (then (i32.const 1))
          (else (return (call $odd (i64.sub (local.get 0) (i64.const 1)))))))
      (func $odd (param i64) (result i32)
        (if (result i32) (i64.eqz (local.get 0))
          (then (i32.const 0))
          (else (return (call $even (i64.sub (local.get 0) (i64.const 1))))))))"#;
    let mut config = Config::new();
    config.consume_fuel(true);
    let engine = Engine::new(&config)?;
    let mut used = Vec::new();
    for src in [MODULE, call_version] {
        let module = Module::new(&engine, src)?;
        let mut store = Store::new(&engine, ());
        store.set_fuel(1_000_000)?;
        let instance = linker(&engine).instantiate(&mut store, &module)?;
        let even = instance.get_typed_func::<i64, i32>(&store, "even")?;
        assert_eq!(even.call(&mut store, 1000)?, 1);
        used.push(1_000_000 - store.get_fuel()?);
    }
    assert_eq!(
        used[0], used[1],
        "tail calls and calls cost the same: {used:?}"
    );
    // An endless tail recursion runs out of fuel.
    let module = Module::new(&engine, MODULE)?;
    let mut store = Store::new(&engine, ());
    store.set_fuel(100_000)?;
    let instance = linker(&engine).instantiate(&mut store, &module)?;
    let spin = instance.get_typed_func::<i64, i64>(&store, "spin")?;
    let e = spin.call(&mut store, 0).expect_err("runs out");
    assert_eq!(
        e.as_trap().map(Trap::code),
        Some(TrapCode::OutOfFuel),
        "{e}"
    );
    Ok(())
}

#[test]
fn an_endless_tail_recursion_is_interrupted() -> Result<()> {
    for strategy in [Strategy::Eager(OptLevel::Speed), Strategy::Tiered] {
        let mut config = Config::new();
        config.epoch_interruption(true).strategy(strategy);
        let engine = Engine::new(&config)?;
        let module = Module::new(&engine, MODULE)?;
        let mut store = Store::new(&engine, ());
        store.set_timeout(std::time::Duration::from_millis(50))?;
        let instance = linker(&engine).instantiate(&mut store, &module)?;
        let spin = instance.get_typed_func::<i64, i64>(&store, "spin")?;
        let e = spin.call(&mut store, 0).expect_err("interrupted");
        assert_eq!(
            e.as_trap().map(Trap::code),
            Some(TrapCode::Interrupted),
            "{e}"
        );
    }
    Ok(())
}

#[test]
fn tail_calls_can_be_turned_off() -> Result<()> {
    let mut config = Config::new();
    config.wasm_tail_call(false);
    let engine = Engine::new(&config)?;
    let e = Module::new(&engine, MODULE).expect_err("refused");
    assert!(matches!(e.kind(), ErrorKind::Unsupported(_)), "{e:?}");
    assert!(e.to_string().contains("tail calls"), "{e}");
    Ok(())
}

//! Memories initialized from a copy-on-write image behave exactly like memories whose
//! data segments were copied (`Config::memory_init_cow` on and off).

use kiln::*;

const MODULE: &str = r#"(module
  (memory (export "mem") 2 4)
  (data (i32.const 0) "hello")
  (data (i32.const 2) "LL")
  (data (i32.const 70000) "far")
  (data $p "passive")
  (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "store") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "init") (param i32 i32 i32) (memory.init $p (local.get 0) (local.get 1) (local.get 2)))
  (func (export "init_active") (param i32) (memory.init 0 (local.get 0) (i32.const 0) (i32.const 1))))"#;

fn engines() -> [(bool, Engine); 2] {
    [true, false].map(|cow| {
        let engine = Engine::new(Config::new().memory_init_cow(cow)).expect("engine");
        (cow, engine)
    })
}

#[test]
fn instances_see_the_segments_and_keep_writes_private() {
    for (cow, engine) in engines() {
        let module = Module::new(&engine, MODULE).expect("compiles");
        let mut store = Store::new(&engine, ());
        let a = Instance::new(&mut store, &module, &[]).expect("instantiates");
        let b = Instance::new(&mut store, &module, &[]).expect("instantiates");
        let mem = a.get_memory(&store, "mem").expect("memory");
        assert_eq!(&mem.data(&store)[..6], b"heLLo\0", "cow={cow}");
        assert_eq!(&mem.data(&store)[70000..70003], b"far", "cow={cow}");
        assert_eq!(mem.data(&store).len(), 2 * PAGE_SIZE as usize);

        let store_a = a
            .get_typed_func::<(i32, i32), ()>(&store, "store")
            .expect("store");
        let load_b = b.get_typed_func::<i32, i32>(&store, "load").expect("load");
        store_a
            .call(&mut store, (1, i32::from(b'E')))
            .expect("store");
        assert_eq!(mem.data(&store)[1], b'E');
        assert_eq!(
            load_b.call(&mut store, 1).expect("load"),
            i32::from(b'e'),
            "cow={cow}"
        );

        // A second store sees the pristine image.
        let mut other = Store::new(&engine, ());
        let c = Instance::new(&mut other, &module, &[]).expect("instantiates");
        let load_c = c.get_typed_func::<i32, i32>(&other, "load").expect("load");
        assert_eq!(load_c.call(&mut other, 1).expect("load"), i32::from(b'e'));

        let grow = b.get_typed_func::<i32, i32>(&store, "grow").expect("grow");
        assert_eq!(grow.call(&mut store, 2).expect("grow"), 2);
        assert_eq!(load_b.call(&mut store, 4 * 65536 - 1).expect("load"), 0);
        assert_eq!(
            load_b.call(&mut store, 70002).expect("load"),
            i32::from(b'r')
        );

        // Passive segments still work; active ones were dropped.
        let init = b
            .get_typed_func::<(i32, i32, i32), ()>(&store, "init")
            .expect("init");
        init.call(&mut store, (100, 0, 7)).expect("memory.init");
        let mem_b = b.get_memory(&store, "mem").expect("memory");
        assert_eq!(&mem_b.data(&store)[100..107], b"passive");
        let init_active = b
            .get_typed_func::<i32, ()>(&store, "init_active")
            .expect("fn");
        let err = init_active
            .call(&mut store, 0)
            .expect_err("segment 0 was dropped");
        assert_eq!(
            err.as_trap().map(Trap::code),
            Some(TrapCode::MemoryOutOfBounds),
            "{err}"
        );
    }
}

#[test]
fn a_segment_out_of_bounds_still_fails_instantiation() {
    for (cow, engine) in engines() {
        let module = Module::new(
            &engine,
            r#"(module (memory 1) (data (i32.const 0) "ok") (data (i32.const 65535) "xx"))"#,
        )
        .expect("compiles");
        let mut store = Store::new(&engine, ());
        let err = Instance::new(&mut store, &module, &[]).expect_err("out of bounds");
        assert_eq!(
            err.as_trap().map(Trap::code),
            Some(TrapCode::MemoryOutOfBounds),
            "cow={cow}: {err}"
        );
    }
}

/// With an imported table, a failing element segment leaves functions of the failed
/// instance reachable, and they must see the memory without its data (the spec applies
/// element segments first): such modules are not initialized from an image.
#[test]
fn a_failed_instantiation_never_shows_data_through_an_imported_table() {
    for (cow, engine) in engines() {
        let mut store = Store::new(&engine, ());
        let table = Table::new(
            &mut store,
            TableType::new(RefType::FUNCREF, 2, None),
            Val::FuncRef(None),
        )
        .expect("table");
        let module = Module::new(
            &engine,
            r#"(module
                 (import "env" "t" (table 2 funcref))
                 (memory 1)
                 (data (i32.const 0) "\2a")
                 (func $peek (result i32) (i32.load8_u (i32.const 0)))
                 (elem (i32.const 0) $peek)
                 (elem (i32.const 5) $peek))"#,
        )
        .expect("compiles");
        let err = Instance::new(&mut store, &module, &[table.into()]).expect_err("elem fails");
        assert_eq!(
            err.as_trap().map(Trap::code),
            Some(TrapCode::TableOutOfBounds),
            "{err}"
        );
        let Some(Val::FuncRef(Some(peek))) = table.get(&mut store, 0) else {
            panic!("the first element segment was applied");
        };
        let peek = peek.typed::<(), i32>(&store).expect("typed");
        assert_eq!(peek.call(&mut store, ()).expect("call"), 0, "cow={cow}");
    }
}

//! Several memories per module (Wasm 3.0 multi-memory): each memory has its own size,
//! bounds, growth and limits; bulk instructions move bytes between memories.

use kiln::*;

const PAGE: u64 = 65536;

const MODULE: &str = r#"(module
  (memory $small (export "small") 1 4)
  (memory $big (export "big") 3)
  (data (memory $big) (i32.const 131072) "big")
  (data (memory $small) (i32.const 8) "small")
  (func (export "load_small") (param i32) (result i32) (i32.load8_u $small (local.get 0)))
  (func (export "load_big") (param i32) (result i32) (i32.load8_u $big (local.get 0)))
  (func (export "store_small") (param i32 i32) (i32.store8 $small (local.get 0) (local.get 1)))
  (func (export "copy_big_to_small") (param i32 i32 i32)
    (memory.copy $small $big (local.get 0) (local.get 1) (local.get 2)))
  (func (export "fill_big") (param i32 i32 i32)
    (memory.fill $big (local.get 0) (local.get 1) (local.get 2)))
  (func (export "grow_small") (param i32) (result i32) (memory.grow $small (local.get 0)))
  (func (export "sizes") (result i32) (i32.add (i32.mul (memory.size $small) (i32.const 100)) (memory.size $big))))"#;

fn setup(limits: Option<StoreLimits>) -> Result<(Store<()>, Instance)> {
    let engine = Engine::default();
    let module = Module::new(&engine, MODULE)?;
    let mut store = Store::new(&engine, ());
    if let Some(l) = limits {
        store.limiter(l);
    }
    let instance = Instance::new(&mut store, &module, &[])?;
    Ok((store, instance))
}

#[test]
fn each_memory_has_its_own_contents_bounds_and_growth() -> Result<()> {
    let (mut store, instance) = setup(None)?;
    let load_small = instance.get_typed_func::<i32, i32>(&store, "load_small")?;
    let load_big = instance.get_typed_func::<i32, i32>(&store, "load_big")?;
    assert_eq!(load_small.call(&mut store, 8)?, i32::from(b's'));
    assert_eq!(load_big.call(&mut store, 131072)?, i32::from(b'b'));
    assert_eq!(
        load_small
            .call(&mut store, 131072)
            .expect_err("past small")
            .as_trap()
            .map(Trap::code),
        Some(TrapCode::MemoryOutOfBounds)
    );
    // The store survives the trap, and the big memory is still reachable there.
    assert_eq!(load_big.call(&mut store, 131073)?, i32::from(b'i'));
    // Bytes move between memories.
    let copy = instance.get_typed_func::<(i32, i32, i32), ()>(&store, "copy_big_to_small")?;
    copy.call(&mut store, (100, 131072, 3))?;
    let small = instance.get_memory(&store, "small").expect("small");
    assert_eq!(&small.data(&store)[100..103], b"big");
    let e = copy
        .call(&mut store, (PAGE as i32 - 1, 0, 2))
        .expect_err("past small's end");
    assert_eq!(
        e.as_trap().map(Trap::code),
        Some(TrapCode::MemoryOutOfBounds)
    );
    let fill = instance.get_typed_func::<(i32, i32, i32), ()>(&store, "fill_big")?;
    fill.call(&mut store, (3 * PAGE as i32 - 4, 7, 4))?;
    let big = instance.get_memory(&store, "big").expect("big");
    assert_eq!(&big.data(&store)[3 * PAGE as usize - 4..], &[7, 7, 7, 7]);
    // Growing one memory leaves the other alone, up to its own maximum.
    let grow = instance.get_typed_func::<i32, i32>(&store, "grow_small")?;
    let sizes = instance.get_typed_func::<(), i32>(&store, "sizes")?;
    assert_eq!(sizes.call(&mut store, ())?, 103);
    assert_eq!(grow.call(&mut store, 3)?, 1);
    assert_eq!(grow.call(&mut store, 1)?, -1, "small's maximum is 4 pages");
    assert_eq!(sizes.call(&mut store, ())?, 403);
    assert_eq!(load_small.call(&mut store, 4 * PAGE as i32 - 1)?, 0);
    let store_small = instance.get_typed_func::<(i32, i32), ()>(&store, "store_small")?;
    store_small.call(&mut store, (4 * PAGE as i32 - 1, 9))?;
    assert_eq!(big.data(&store).len() as u64, 3 * PAGE);
    Ok(())
}

#[test]
fn limits_count_and_bound_every_memory() -> Result<()> {
    // One memory allowed: the module's second is refused at instantiation.
    let e = setup(Some(StoreLimits::new().memories(1))).expect_err("two memories");
    assert!(e.to_string().contains("memor"), "{e}");
    // Each memory is bounded on its own: the big one starts above 2 pages.
    let e = setup(Some(StoreLimits::new().memory_size(2 * PAGE))).expect_err("big too big");
    assert!(e.to_string().contains("memor"), "{e}");
    // And the small one grows only within the limit.
    let (mut store, instance) = setup(Some(StoreLimits::new().memory_size(3 * PAGE)))?;
    let grow = instance.get_typed_func::<i32, i32>(&store, "grow_small")?;
    assert_eq!(grow.call(&mut store, 3)?, -1);
    assert_eq!(grow.call(&mut store, 2)?, 1);
    Ok(())
}

#[test]
fn multi_memory_can_be_turned_off() -> Result<()> {
    let mut config = Config::new();
    config.wasm_multi_memory(false);
    let engine = Engine::new(&config)?;
    let e = Module::new(&engine, MODULE).expect_err("refused");
    assert!(matches!(e.kind(), ErrorKind::Unsupported(_)), "{e:?}");
    assert!(e.to_string().contains("multi-memory"), "{e}");
    Ok(())
}

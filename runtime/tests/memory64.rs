//! 64-bit memories and tables (Wasm 3.0 memory64): `i64` addresses and element indices,
//! bounds checks that a 64-bit index cannot wrap past, growth past 4 GiB, 64-bit limits
//! and the host API's 64-bit types.

use kiln::*;

const PAGE: u64 = 65536;

const MODULE: &str = r#"(module
  (memory (export "mem") i64 1 70000)
  (data (i64.const 8) "memory64")
  (func (export "load8") (param i64) (result i32) (i32.load8_u (local.get 0)))
  (func (export "load64") (param i64) (result i64) (i64.load (local.get 0)))
  (func (export "load_far") (param i64) (result i32)
    (i32.load8_u offset=0x100000000 (local.get 0)))
  (func (export "load_huge_offset") (param i64) (result i32)
    (i32.load8_u offset=0xffffffffffffffff (local.get 0)))
  (func (export "store64") (param i64 i64) (i64.store (local.get 0) (local.get 1)))
  (func (export "size") (result i64) (memory.size))
  (func (export "grow") (param i64) (result i64) (memory.grow (local.get 0)))
  (func (export "fill") (param i64 i32 i64) (memory.fill (local.get 0) (local.get 1) (local.get 2)))
  (func (export "copy") (param i64 i64 i64) (memory.copy (local.get 0) (local.get 1) (local.get 2))))"#;

fn instantiate(config: &Config, wat: &str) -> Result<(Store<()>, Instance)> {
    let engine = Engine::new(config)?;
    let module = Module::new(&engine, wat)?;
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[])?;
    Ok((store, instance))
}

fn trap_code(e: Error) -> Option<TrapCode> {
    e.as_trap().map(Trap::code)
}

/// Both ways of refusing an out-of-bounds access: the conditional move to null (Spectre
/// guards on) and the branch to a trap (off).
fn configs() -> [Config; 2] {
    let guarded = Config::new();
    let mut branching = Config::new();
    branching.spectre_guards(false);
    [guarded, branching]
}

#[test]
fn addresses_are_64_bit_and_cannot_wrap_into_bounds() -> Result<()> {
    for config in configs() {
        let (mut store, i) = instantiate(&config, MODULE)?;
        let load8 = i.get_typed_func::<i64, i32>(&store, "load8")?;
        let load64 = i.get_typed_func::<i64, i64>(&store, "load64")?;
        let far = i.get_typed_func::<i64, i32>(&store, "load_far")?;
        let huge = i.get_typed_func::<i64, i32>(&store, "load_huge_offset")?;
        assert_eq!(load8.call(&mut store, 8)?, i32::from(b'm'));
        assert_eq!(
            load64.call(&mut store, 8)?,
            i64::from_le_bytes(*b"memory64")
        );
        assert_eq!(load64.call(&mut store, PAGE as i64 - 8)?, 0);
        // Just past the end, at the top of the address space, and where a 32-bit
        // truncation of the address would land in bounds: all out of bounds.
        for addr in [
            PAGE as i64 - 7,
            PAGE as i64,
            -1,
            -8,
            i64::MIN,
            (1 << 32) + 8,
        ] {
            let e = load64.call(&mut store, addr).expect_err("out of bounds");
            assert_eq!(trap_code(e), Some(TrapCode::MemoryOutOfBounds), "{addr}");
        }
        // A static offset past the guard region: checked with the carry, so an index
        // that wraps the sum back into bounds still traps.
        let e = far.call(&mut store, 8).expect_err("offset past the memory");
        assert_eq!(trap_code(e), Some(TrapCode::MemoryOutOfBounds));
        let wraps = (1u64 << 32).wrapping_neg() as i64 + 8; // + offset = 8 (mod 2^64)
        let e = far.call(&mut store, wraps).expect_err("wrapped address");
        assert_eq!(trap_code(e), Some(TrapCode::MemoryOutOfBounds));
        // offset + size is past 2^64: never in bounds, whatever the index.
        for addr in [0, 1, 8] {
            let e = huge.call(&mut store, addr).expect_err("beyond 2^64");
            assert_eq!(trap_code(e), Some(TrapCode::MemoryOutOfBounds));
        }
        // The store survives every trap.
        assert_eq!(load8.call(&mut store, 9)?, i32::from(b'e'));
    }
    Ok(())
}

#[test]
fn size_grow_and_bulk_operations_take_i64() -> Result<()> {
    let (mut store, i) = instantiate(&Config::new(), MODULE)?;
    let size = i.get_typed_func::<(), i64>(&store, "size")?;
    let grow = i.get_typed_func::<i64, i64>(&store, "grow")?;
    let fill = i.get_typed_func::<(i64, i32, i64), ()>(&store, "fill")?;
    let copy = i.get_typed_func::<(i64, i64, i64), ()>(&store, "copy")?;
    let load8 = i.get_typed_func::<i64, i32>(&store, "load8")?;
    assert_eq!(size.call(&mut store, ())?, 1);
    assert_eq!(grow.call(&mut store, 2)?, 1);
    assert_eq!(size.call(&mut store, ())?, 3);
    // Deltas a 32-bit memory could not even express fail with -1.
    assert_eq!(grow.call(&mut store, 1 << 40)?, -1);
    assert_eq!(grow.call(&mut store, -1)?, -1);
    assert_eq!(size.call(&mut store, ())?, 3);
    fill.call(&mut store, (2 * PAGE as i64, 0x5a, 16))?;
    copy.call(&mut store, (100, 2 * PAGE as i64, 4))?;
    assert_eq!(load8.call(&mut store, 103)?, 0x5a);
    let e = fill
        .call(&mut store, (3 * PAGE as i64 - 1, 0, 2))
        .expect_err("past the end");
    assert_eq!(trap_code(e), Some(TrapCode::MemoryOutOfBounds));
    let e = copy.call(&mut store, (0, -1, 2)).expect_err("source wraps");
    assert_eq!(trap_code(e), Some(TrapCode::MemoryOutOfBounds));
    let mem = i.get_memory(&store, "mem").expect("exported");
    assert!(mem.ty(&store).is_64());
    assert_eq!(mem.size(&store), 3);
    Ok(())
}

#[test]
fn a_64_bit_memory_grows_past_4_gib_within_its_reservation() -> Result<()> {
    let mut config = Config::new();
    config.memory_reservation(8 << 30, 32 << 20);
    let (mut store, i) = instantiate(&config, MODULE)?;
    let grow = i.get_typed_func::<i64, i64>(&store, "grow")?;
    let store64 = i.get_typed_func::<(i64, i64), ()>(&store, "store64")?;
    let load64 = i.get_typed_func::<i64, i64>(&store, "load64")?;
    // 65,537 pages: one more than any 32-bit memory can have.
    assert_eq!(grow.call(&mut store, 1 << 16)?, 1);
    let high = (1i64 << 32) + 64;
    store64.call(&mut store, (high, 0x0123_4567_89ab_cdef))?;
    assert_eq!(load64.call(&mut store, high)?, 0x0123_4567_89ab_cdef);
    // The write did not alias the low address a 32-bit truncation would give.
    assert_eq!(load64.call(&mut store, 64)?, 0);
    // Past the type's maximum (70,000 pages) growth fails.
    assert_eq!(grow.call(&mut store, 70_000)?, -1);
    let mem = i.get_memory(&store, "mem").expect("exported");
    assert_eq!(mem.data_size(&store) as u64, (1 + (1 << 16)) * PAGE);
    Ok(())
}

#[test]
fn the_reservation_bounds_a_64_bit_memory() {
    let engine = Engine::default();
    let module = Module::new(&engine, "(module (memory i64 70000))").expect("valid");
    let mut store = Store::new(&engine, ());
    let err = Instance::new(&mut store, &module, &[]).expect_err("more than 4 GiB");
    assert!(
        err.to_string().contains("memory_reservation"),
        "names the setting: {err}"
    );
    // A host-created memory is refused the same way; one that fits is created.
    let err = Memory::new(&mut store, MemoryType::new64(70_000, None)).expect_err("too big");
    assert!(err.to_string().contains("64-bit"), "{err}");
    let mem = Memory::new(&mut store, MemoryType::new64(1, Some(1 << 48))).expect("fits");
    assert!(mem.ty(&store).is_64());
    assert_eq!(mem.ty(&store).maximum(), Some(1 << 48));
}

#[test]
fn the_limiter_sees_64_bit_memories() -> Result<()> {
    let engine = Engine::default();
    let module = Module::new(&engine, MODULE)?;
    let mut store = Store::new(&engine, ());
    store.limiter(StoreLimits::new().memory_size(4 * PAGE));
    let i = Instance::new(&mut store, &module, &[])?;
    let grow = i.get_typed_func::<i64, i64>(&store, "grow")?;
    assert_eq!(grow.call(&mut store, 3)?, 1);
    assert_eq!(
        grow.call(&mut store, 1)?,
        -1,
        "the limiter refuses a fifth page"
    );
    Ok(())
}

#[test]
fn imports_match_the_index_type() -> Result<()> {
    let engine = Engine::default();
    let mut store = Store::new(&engine, ());
    let mem32 = Memory::new(&mut store, MemoryType::new(1, None))?;
    let mem64 = Memory::new(&mut store, MemoryType::new64(1, None))?;
    let wants64 = Module::new(&engine, r#"(module (import "m" "mem" (memory i64 1)))"#)?;
    let err = Instance::new(&mut store, &wants64, &[mem32.into()]).expect_err("32-bit");
    assert!(err.to_string().contains("index type"), "{err}");
    Instance::new(&mut store, &wants64, &[mem64.into()])?;

    let t32 = Table::new(
        &mut store,
        TableType::new(RefType::FUNCREF, 1, None),
        Val::FuncRef(None),
    )?;
    let t64 = Table::new(
        &mut store,
        TableType::new64(RefType::FUNCREF, 1, None),
        Val::FuncRef(None),
    )?;
    let wants64 = Module::new(
        &engine,
        r#"(module (import "m" "t" (table i64 1 funcref)))"#,
    )?;
    let err = Instance::new(&mut store, &wants64, &[t32.into()]).expect_err("32-bit");
    assert!(err.to_string().contains("table type"), "{err}");
    Instance::new(&mut store, &wants64, &[t64.into()])?;
    Ok(())
}

const TABLES: &str = r#"(module
  (type $t (func (result i32)))
  (table $t64 (export "t64") i64 2 funcref)
  (table $t32 2 funcref)
  (elem (table $t64) (i64.const 0) func $seven $eight)
  (func $seven (result i32) (i32.const 7))
  (func $eight (result i32) (i32.const 8))
  (func (export "call") (param i64) (result i32) (call_indirect $t64 (type $t) (local.get 0)))
  (func (export "size") (result i64) (table.size $t64))
  (func (export "grow") (param i64) (result i64) (table.grow $t64 (ref.null func) (local.get 0)))
  (func (export "copy_to_32") (param i32 i64 i32) (table.copy $t32 $t64 (local.get 0) (local.get 1) (local.get 2)))
  (func (export "call32") (param i32) (result i32) (call_indirect $t32 (type $t) (local.get 0))))"#;

#[test]
fn tables_index_by_i64() -> Result<()> {
    for config in configs() {
        let (mut store, i) = instantiate(&config, TABLES)?;
        let call = i.get_typed_func::<i64, i32>(&store, "call")?;
        let size = i.get_typed_func::<(), i64>(&store, "size")?;
        let grow = i.get_typed_func::<i64, i64>(&store, "grow")?;
        let copy = i.get_typed_func::<(i32, i64, i32), ()>(&store, "copy_to_32")?;
        let call32 = i.get_typed_func::<i32, i32>(&store, "call32")?;
        assert_eq!(call.call(&mut store, 1)?, 8);
        // An index whose low 32 bits are in bounds is still out of bounds.
        for index in [2, (1 << 32) + 1, -1] {
            let e = call.call(&mut store, index).expect_err("out of bounds");
            assert_eq!(trap_code(e), Some(TrapCode::TableOutOfBounds), "{index}");
        }
        assert_eq!(grow.call(&mut store, 3)?, 2);
        assert_eq!(size.call(&mut store, ())?, 5);
        assert_eq!(grow.call(&mut store, 1 << 33)?, -1);
        let e = call.call(&mut store, 4).expect_err("null entry");
        assert_eq!(trap_code(e), Some(TrapCode::IndirectCallToNull));
        // Between a 64-bit and a 32-bit table, the length is an i32.
        copy.call(&mut store, (0, 0, 2))?;
        assert_eq!(call32.call(&mut store, 0)?, 7);
        let e = copy
            .call(&mut store, (0, 1 << 32, 1))
            .expect_err("source out of bounds");
        assert_eq!(trap_code(e), Some(TrapCode::TableOutOfBounds));
        let t = i.get_table(&store, "t64").expect("exported");
        assert!(t.ty(&store).is_64());
        assert_eq!(t.size(&store), 5);
    }
    Ok(())
}

#[test]
fn memory64_can_be_turned_off() {
    let mut config = Config::new();
    config.wasm_memory64(false);
    let engine = Engine::new(&config).expect("engine");
    let err = Module::new(&engine, "(module (memory i64 1))").expect_err("refused");
    assert!(err.to_string().contains("memory64"), "{err}");
}

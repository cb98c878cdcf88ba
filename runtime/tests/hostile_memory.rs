//! Hostile modules that grab memory: growth is refused at the limit (and reported),
//! initial sizes and data segments past it fail instantiation with the right error, and
//! tables cannot be grown without bound. The store keeps working afterwards.
//! (`limits.rs` covers the basic refusals; this file pushes each to its extreme.)

#[path = "common/hostile.rs"]
mod hostile;

use hostile::*;
use kiln::*;

/// Grows memory 0 one page at a time until refused; returns the number of grows.
const GROWER: &str = r#"(module
  (memory (export "mem") 1)
  (global $grown (export "grown") (mut i32) (i32.const 0))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "grow_all") (result i32)
    (block $done
      (loop $l
        (br_if $done (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
        (global.set $grown (i32.add (global.get $grown) (i32.const 1)))
        (br $l)))
    (global.get $grown))
  ;; Grows until refused, then stores one byte past the end.
  (func (export "grow_then_overrun")
    (loop $l
      (if (i32.ne (memory.grow (i32.const 1)) (i32.const -1))
        (then
          (global.set $grown (i32.add (global.get $grown) (i32.const 1)))
          (br $l))))
    (i32.store8 (i32.mul (memory.size) (i32.const 65536)) (i32.const 1)))
  (func (export "size") (result i32) (memory.size))
  (func (export "peek") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "poke") (param i32 i32) (i32.store8 (local.get 0) (local.get 1))))"#;

fn limited_store(limits: StoreLimits) -> Store<()> {
    let mut store = Store::new(&lenient_engine(), ());
    store.limiter(limits);
    store
}

/// An engine whose module limits let a table declare more than the JS-API limit of 10
/// million elements, so that the runtime's own refusal (at instantiation) is what these
/// tests see. (The default limits refuse such a module when it is compiled.)
fn lenient_engine() -> Engine {
    let mut config = hostile::config();
    config.module_limits(ModuleLimits {
        table_size: u32::MAX,
        ..ModuleLimits::default()
    });
    Engine::new(&config).expect("engine")
}

fn call_i32(store: &mut Store<()>, i: &Instance, name: &str, args: &[Val]) -> Result<i32> {
    let f = i.get_func(&*store, name).expect("export");
    let mut out = [Val::I32(0)];
    f.call(&mut *store, args, &mut out)?;
    Ok(out[0].i32().expect("an i32 result"))
}

#[track_caller]
fn assert_hit(store: &Store<()>, kind: ResourceKind, limit: u64, requested: u64) {
    let hit = store.last_limit_hit().expect("a refusal was recorded");
    assert_eq!(
        (hit.kind, hit.limit, hit.requested),
        (kind, limit, requested)
    );
}

#[test]
fn memory_grows_to_exactly_the_limit_and_no_further() {
    for (limit, pages) in [(40 * PAGE, 40), (40 * PAGE + 100, 40), (PAGE, 1)] {
        let mut store = limited_store(StoreLimits::new().memory_size(limit));
        let i = instantiate(&mut store, GROWER);
        let grown = call_i32(&mut store, &i, "grow_all", &[]).expect("grow_all returns");
        assert_eq!(grown, pages - 1, "limit {limit}");
        assert_eq!(call_i32(&mut store, &i, "size", &[]).expect("size"), pages);
        assert_hit(
            &store,
            ResourceKind::Memory,
            limit,
            (pages as u64 + 1) * PAGE,
        );
        let mem = i.get_memory(&store, "mem").expect("mem");
        assert_eq!(mem.data_size(&store) as u64, pages as u64 * PAGE);
        // Every refused size, however large, stays refused; 0 still reports the size.
        for delta in [1, 2, 1000, 65535, 65536, -1] {
            let r = call_i32(&mut store, &i, "grow", &[Val::I32(delta)]).expect("grow");
            assert_eq!(r, -1, "grow by {delta}");
        }
        assert_eq!(
            call_i32(&mut store, &i, "grow", &[Val::I32(0)]).expect("grow"),
            pages
        );
        assert!(mem.grow(&mut store, 1).is_err(), "the host API obeys too");
        // The last byte is usable, the next one is not.
        let last = (pages as u64 * PAGE - 1) as i32;
        let poke = i
            .get_typed_func::<(i32, i32), ()>(&store, "poke")
            .expect("poke");
        poke.call(&mut store, (last, 7)).expect("the last byte");
        expect_trap(
            poke.call(&mut store, (last + 1, 7)),
            TrapCode::MemoryOutOfBounds,
            "one past the limit",
        );
        assert_eq!(
            call_i32(&mut store, &i, "peek", &[Val::I32(last)]).expect("peek"),
            7
        );
        assert_store_healthy(&mut store);
    }
}

#[test]
fn a_declared_maximum_stops_growth_without_a_limiter() {
    let mut store = Store::new(&hostile::engine(), ());
    let i = instantiate(
        &mut store,
        GROWER.replace(
            "(memory (export \"mem\") 1)",
            "(memory (export \"mem\") 1 5)",
        ),
    );
    assert_eq!(
        call_i32(&mut store, &i, "grow_all", &[]).expect("grow_all"),
        4
    );
    assert_eq!(call_i32(&mut store, &i, "size", &[]).expect("size"), 5);
    assert_eq!(store.last_limit_hit(), None, "no limiter refused anything");
}

#[test]
fn an_unlimited_memory_grows_to_4_gib_and_not_a_page_more() {
    // Growth only changes protection: 4 GiB of address space, a few pages touched.
    let mut store = Store::new(&hostile::engine(), ());
    let i = instantiate(&mut store, GROWER);
    let grow = i.get_typed_func::<i32, i32>(&store, "grow").expect("grow");
    assert_eq!(
        grow.call(&mut store, 65536).expect("grow"),
        -1,
        "past 4 GiB"
    );
    // Only a host that refuses 4 GiB of (untouched) read-write mappings, e.g. with
    // strict overcommit, may say no: then -1, and the memory is unchanged.
    let r = grow.call(&mut store, 65535).expect("grow");
    if r == -1 {
        eprintln!("this host refused to map 4 GiB; skipping the rest");
        assert_eq!(grow.call(&mut store, 0).expect("grow"), 1);
        assert_store_healthy(&mut store);
        return;
    }
    assert_eq!(r, 1, "to 4 GiB");
    assert_eq!(grow.call(&mut store, 1).expect("grow"), -1);
    assert_eq!(grow.call(&mut store, 0).expect("grow"), 65536);
    let poke = i
        .get_typed_func::<(i32, i32), ()>(&store, "poke")
        .expect("poke");
    let peek = i.get_typed_func::<i32, i32>(&store, "peek").expect("peek");
    poke.call(&mut store, (-1, 0x5a))
        .expect("the byte at 4 GiB - 1");
    assert_eq!(peek.call(&mut store, -1).expect("peek"), 0x5a);
    let m = instantiate(
        &mut store,
        r#"(module (memory 65536)
             (func (export "straddle") (result i32) (i32.load (i32.const -3))))"#,
    );
    let straddle = m
        .get_typed_func::<(), i32>(&store, "straddle")
        .expect("straddle");
    expect_trap(
        straddle.call(&mut store, ()),
        TrapCode::MemoryOutOfBounds,
        "a load straddling 4 GiB",
    );
    assert_store_healthy(&mut store);
}

#[test]
fn a_guest_growing_in_a_loop_is_bounded_and_then_traps() {
    let mut store = limited_store(StoreLimits::new().total_memory(25 * PAGE));
    let i = instantiate(&mut store, GROWER);
    let run = i
        .get_typed_func::<(), ()>(&store, "grow_then_overrun")
        .expect("grow_then_overrun");
    expect_trap(
        run.call(&mut store, ()),
        TrapCode::MemoryOutOfBounds,
        "a store one past the grown memory",
    );
    let grown = i.get_global(&store, "grown").expect("grown").get(&store);
    assert_eq!(grown, Val::I32(24));
    assert_eq!(call_i32(&mut store, &i, "size", &[]).expect("size"), 25);
    assert_hit(&store, ResourceKind::Memory, 25 * PAGE, 26 * PAGE);
    // The total is spent: another memory cannot be created; one without memory can.
    let module = Module::new(store.engine(), "(module (memory 1))").expect("compiles");
    let err = Instance::new(&mut store, &module, &[]).expect_err("no memory left");
    assert!(
        matches!(err.kind(), ErrorKind::ResourceExhausted(_)),
        "{err}"
    );
    assert_store_healthy(&mut store);
}

#[test]
fn an_initial_memory_over_the_limit_fails_instantiation() {
    let mut store = limited_store(StoreLimits::new().memory_size(16 * PAGE));
    for (wat, requested) in [
        ("(module (memory 17))", 17 * PAGE),
        ("(module (memory 65536))", 65536 * PAGE),
        ("(module (memory 65536 65536))", 65536 * PAGE),
        (
            "(module (memory (export \"m\") 100 200) (func (export \"f\")))",
            100 * PAGE,
        ),
    ] {
        let module = Module::new(store.engine(), wat).expect("compiles");
        let err = Instance::new(&mut store, &module, &[]).expect_err("too big");
        let ErrorKind::ResourceExhausted(hit) = err.kind() else {
            panic!("{wat}: wrong error {:?}: {err}", err.kind());
        };
        assert_eq!(
            (hit.kind, hit.limit, hit.requested),
            (ResourceKind::Memory, 16 * PAGE, requested),
            "{wat}"
        );
        assert!(err.to_string().contains("memory limit"), "{err}");
    }
    // Exactly the limit fits.
    instantiate(&mut store, "(module (memory 16))");
    assert_store_healthy(&mut store);
}

#[test]
fn refused_instantiations_do_not_spend_the_memory_budget() {
    let mut store = limited_store(StoreLimits::new().total_memory(10 * PAGE));
    instantiate(&mut store, "(module (memory 6))");
    let big = Module::new(store.engine(), "(module (memory 6))").expect("compiles");
    for _ in 0..5 {
        let err = Instance::new(&mut store, &big, &[]).expect_err("12 pages > 10");
        assert!(
            matches!(err.kind(), ErrorKind::ResourceExhausted(_)),
            "{err}"
        );
    }
    // 6 + 4 = 10: the refusals above spent nothing.
    instantiate(&mut store, "(module (memory 4))");
    assert_store_healthy(&mut store);
}

#[test]
fn an_instantiation_refused_for_its_table_does_not_spend_the_memory_budget() {
    // The memory is approved (and charged) first, then the table is refused: no memory
    // was created, yet each attempt used to consume 4 pages of the 10-page budget.
    let mut store = limited_store(
        StoreLimits::new()
            .total_memory(10 * PAGE)
            .table_elements(100),
    );
    let module =
        Module::new(store.engine(), "(module (memory 4) (table 101 funcref))").expect("compiles");
    for _ in 0..3 {
        let err = Instance::new(&mut store, &module, &[]).expect_err("table too big");
        assert!(
            matches!(err.kind(), ErrorKind::ResourceExhausted(_)),
            "{err}"
        );
    }
    let m = Module::new(store.engine(), "(module (memory 10))").expect("compiles");
    Instance::new(&mut store, &m, &[]).expect("all 10 pages are still free");
}

#[test]
fn an_instantiation_failing_on_the_table_maximum_leaves_no_memory_behind() {
    // The memory (a 4 GiB reservation) is created, then the table exceeds the
    // engine's maximum: the instantiation fails, but the memory stays in the store,
    // unreachable, counting against `memories` and `total_memory` until the store dies.
    let mut store = limited_store(StoreLimits::new().memories(2).total_memory(10 * PAGE));
    let module = Module::new(
        store.engine(),
        "(module (memory 4) (table 10000001 funcref))",
    )
    .expect("compiles");
    for _ in 0..3 {
        let err = Instance::new(&mut store, &module, &[]).expect_err("table too big");
        assert!(
            matches!(
                err.kind(),
                ErrorKind::Instantiation(_) | ErrorKind::ResourceExhausted(_)
            ),
            "{err}"
        );
    }
    let m = Module::new(store.engine(), "(module (memory 10))").expect("compiles");
    Instance::new(&mut store, &m, &[]).expect("no memory was left behind");
}

#[test]
fn a_data_segment_past_the_memory_traps_at_instantiation() {
    let mut store = Store::new(&hostile::engine(), ());
    for wat in [
        r#"(module (memory 1) (data (i32.const 65535) "ab"))"#,
        r#"(module (memory 1) (data (i32.const 65536) "a"))"#,
        r#"(module (memory 1) (data (i32.const 65537) ""))"#,
        r#"(module (memory 1) (data (i32.const -1) "a"))"#,
        r#"(module (memory 1) (data (i32.const -1) ""))"#,
        r#"(module (memory 0) (data (i32.const 0) "a"))"#,
        r#"(module (memory 2) (data (i32.const 0) "ok") (data (i32.const 131071) "xy"))"#,
    ] {
        let module = Module::new(store.engine(), wat).expect("compiles");
        let err = Instance::new(&mut store, &module, &[]).expect_err("out of bounds");
        assert_eq!(
            trap_code(&err, wat),
            TrapCode::MemoryOutOfBounds,
            "{wat}: {err}"
        );
    }
    // In bounds up to the last byte, and an empty segment right at the end.
    for wat in [
        r#"(module (memory 1) (data (i32.const 65534) "ab"))"#,
        r#"(module (memory 1) (data (i32.const 65536) ""))"#,
        r#"(module (memory 0) (data (i32.const 0) ""))"#,
    ] {
        let module = Module::new(store.engine(), wat).expect("compiles");
        Instance::new(&mut store, &module, &[]).unwrap_or_else(|e| panic!("{wat}: {e}"));
    }
    assert_store_healthy(&mut store);
}

#[test]
fn segments_before_the_failing_one_stay_written_and_nothing_past_it_is() {
    // Wasm 2.0: active segments are applied in order and instantiation stops at the
    // first that is out of bounds, so an imported memory keeps the earlier writes.
    let mut store = Store::new(&hostile::engine(), ());
    let mem = Memory::new(&mut store, MemoryType::new(1, None)).expect("memory");
    let module = Module::new(
        store.engine(),
        r#"(module (import "env" "m" (memory 1))
             (data (i32.const 0) "first")
             (data (i32.const 65534) "xyz")
             (data (i32.const 100) "never"))"#,
    )
    .expect("compiles");
    let err = Instance::new(&mut store, &module, &[mem.into()]).expect_err("traps");
    assert_eq!(trap_code(&err, "data"), TrapCode::MemoryOutOfBounds);
    let data = mem.data(&store);
    assert_eq!(&data[..5], b"first");
    assert_eq!(
        &data[65534..],
        &[0, 0],
        "the straddling segment wrote nothing"
    );
    assert!(
        data[100..105].iter().all(|&b| b == 0),
        "later segments skipped"
    );
    assert_store_healthy(&mut store);
}

#[test]
fn a_module_needing_memory_past_the_limit_is_refused_before_its_data() {
    let mut store = limited_store(
        StoreLimits::new()
            .memory_size(10 * PAGE)
            .total_memory(10 * PAGE),
    );
    let module = Module::new(
        store.engine(),
        r#"(module (memory 20) (data (i32.const 1200000) "x"))"#,
    )
    .expect("compiles");
    let err = Instance::new(&mut store, &module, &[]).expect_err("20 pages > 10");
    let ErrorKind::ResourceExhausted(hit) = err.kind() else {
        panic!("wrong error {:?}: {err}", err.kind());
    };
    assert_eq!((hit.limit, hit.requested), (10 * PAGE, 20 * PAGE));
    // Nothing was allocated: the whole budget is still there.
    let i = instantiate(
        &mut store,
        r#"(module (memory (export "m") 10) (data (i32.const 655359) "z"))"#,
    );
    let m = i.get_memory(&store, "m").expect("m");
    assert_eq!(m.data(&store)[655359], b'z');
    assert_store_healthy(&mut store);
}

const TABLE_GROWER: &str = r#"(module
  (type $v (func (result i32)))
  (table $t (export "t") 1 funcref)
  (func $seven (result i32) (i32.const 7))
  (elem declare func $seven)
  (func (export "grow") (param i32) (result i32) (table.grow $t (ref.null func) (local.get 0)))
  (func (export "size") (result i32) (table.size $t))
  (func (export "set_last") (table.set $t (i32.sub (table.size $t) (i32.const 1)) (ref.func $seven)))
  (func (export "call") (param i32) (result i32) (call_indirect (type $v) (local.get 0))))"#;

#[test]
fn a_table_grow_of_10_million_is_refused_by_the_limiter() {
    let mut store = limited_store(StoreLimits::new().table_elements(1000));
    let i = instantiate(&mut store, TABLE_GROWER);
    let grow = i.get_typed_func::<i32, i32>(&store, "grow").expect("grow");
    let size = i.get_typed_func::<(), i32>(&store, "size").expect("size");
    assert_eq!(grow.call(&mut store, 10_000_000).expect("grow"), -1);
    assert_hit(&store, ResourceKind::TableElements, 1000, 10_000_001);
    assert_eq!(size.call(&mut store, ()).expect("size"), 1);
    assert_eq!(grow.call(&mut store, -1).expect("grow"), -1, "u32::MAX");
    assert_eq!(grow.call(&mut store, 999).expect("grow"), 1);
    assert_eq!(grow.call(&mut store, 1).expect("grow"), -1);
    assert_eq!(size.call(&mut store, ()).expect("size"), 1000);
    let t = i.get_table(&store, "t").expect("t");
    assert!(t.grow(&mut store, 1, Val::FuncRef(None)).is_err());
    assert_store_healthy(&mut store);
}

#[test]
fn without_a_limiter_tables_stop_at_the_configured_maximum() {
    // The default maximum is 10 million elements (80 MB of references): one grow to it
    // succeeds, anything past it is refused, and the huge table works.
    let mut store = Store::new(&lenient_engine(), ());
    let i = instantiate(&mut store, TABLE_GROWER);
    let grow = i.get_typed_func::<i32, i32>(&store, "grow").expect("grow");
    let size = i.get_typed_func::<(), i32>(&store, "size").expect("size");
    assert_eq!(
        grow.call(&mut store, 10_000_000).expect("grow"),
        -1,
        "1 + 10M"
    );
    assert_eq!(grow.call(&mut store, -1).expect("grow"), -1, "u32::MAX");
    let (r, took) = timed(|| grow.call(&mut store, 9_999_999));
    eprintln!("growing a table to 10M elements took {took:?}");
    assert_eq!(r.expect("grow"), 1);
    assert_eq!(size.call(&mut store, ()).expect("size"), 10_000_000);
    assert_eq!(grow.call(&mut store, 1).expect("grow"), -1);
    assert_eq!(store.last_limit_hit(), None, "no limiter is involved");
    let call = i.get_typed_func::<i32, i32>(&store, "call").expect("call");
    expect_trap(
        call.call(&mut store, 9_999_999),
        TrapCode::IndirectCallToNull,
        "the last (null) element",
    );
    expect_trap(
        call.call(&mut store, 10_000_000),
        TrapCode::TableOutOfBounds,
        "one past the end",
    );
    i.get_typed_func::<(), ()>(&store, "set_last")
        .expect("set_last")
        .call(&mut store, ())
        .expect("set the last element");
    assert_eq!(call.call(&mut store, 9_999_999).expect("call"), 7);
    assert_store_healthy(&mut store);

    // A module asking for more than the maximum up front is refused.
    let module =
        Module::new(store.engine(), "(module (table 10000001 funcref))").expect("compiles");
    let err = Instance::new(&mut store, &module, &[]).expect_err("too big");
    assert!(matches!(err.kind(), ErrorKind::Instantiation(_)), "{err}");
    assert_store_healthy(&mut store);
}

#[test]
fn a_configured_table_maximum_is_obeyed() {
    let engine = Engine::new(hostile::config().max_table_elements(1000)).expect("engine");
    let mut store = Store::new(&engine, ());
    let i = instantiate(&mut store, TABLE_GROWER);
    let grow = i.get_typed_func::<i32, i32>(&store, "grow").expect("grow");
    assert_eq!(grow.call(&mut store, 10_000_000).expect("grow"), -1);
    assert_eq!(grow.call(&mut store, 999).expect("grow"), 1);
    assert_eq!(grow.call(&mut store, 1).expect("grow"), -1);
    let module = Module::new(&engine, "(module (table 1001 funcref))").expect("compiles");
    assert!(Instance::new(&mut store, &module, &[]).is_err());
    assert_store_healthy(&mut store);
}

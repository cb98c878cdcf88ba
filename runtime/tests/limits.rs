//! Resource limits: refused growth returns -1, refused creation fails instantiation,
//! and the refused request is reported.

use kiln::*;

const PAGE: u64 = 65536;

fn instantiate(store: &mut Store<()>, wat: &str) -> Result<Instance> {
    let module = Module::new(store.engine(), wat)?;
    Instance::new(store, &module, &[])
}

const GROWER: &str = r#"(module
  (memory (export "m") 1)
  (table (export "t") 1 funcref)
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "tgrow") (param i32) (result i32) (table.grow (ref.null func) (local.get 0))))"#;

#[test]
fn memory_growth_past_the_limit_returns_minus_one() {
    let mut store = Store::new(&Engine::default(), ());
    store.limiter(StoreLimits::new().memory_size(4 * PAGE));
    let i = instantiate(&mut store, GROWER).expect("instantiates");
    let grow = i.get_typed_func::<i32, i32>(&store, "grow").expect("typed");
    assert_eq!(grow.call(&mut store, 3).expect("call"), 1);
    assert_eq!(grow.call(&mut store, 1).expect("call"), -1);
    let hit = store.last_limit_hit().expect("recorded");
    assert_eq!(
        (hit.kind, hit.limit, hit.requested),
        (ResourceKind::Memory, 4 * PAGE, 5 * PAGE)
    );
    assert_eq!(grow.call(&mut store, 0).expect("call"), 4);
    let m = i.get_memory(&store, "m").expect("memory");
    assert!(
        m.grow(&mut store, 1).is_err(),
        "the host API obeys the limit too"
    );
}

#[test]
fn total_memory_is_bounded_per_store() {
    let mut store = Store::new(&Engine::default(), ());
    // Three pages, and the two instances' one-element tables.
    store.limiter(StoreLimits::new().total_memory(3 * PAGE + 2 * TABLE_ELEMENT_BYTES));
    let a = instantiate(&mut store, GROWER).expect("first instance");
    let b = instantiate(&mut store, GROWER).expect("second instance");
    let ga = a.get_typed_func::<i32, i32>(&store, "grow").expect("typed");
    let gb = b.get_typed_func::<i32, i32>(&store, "grow").expect("typed");
    assert_eq!(ga.call(&mut store, 1).expect("call"), 1);
    assert_eq!(
        gb.call(&mut store, 1).expect("call"),
        -1,
        "4 pages in all > 3"
    );
    let err = instantiate(&mut store, GROWER).expect_err("a fourth page");
    assert!(
        matches!(err.kind(), ErrorKind::ResourceExhausted(_)),
        "{err}"
    );
}

#[test]
fn an_initial_size_past_the_limit_fails_instantiation() {
    let mut store = Store::new(&Engine::default(), ());
    store.limiter(
        StoreLimits::new()
            .memory_size(10 * PAGE)
            .table_elements(100),
    );
    let err = instantiate(&mut store, "(module (memory 11))").expect_err("too big");
    let ErrorKind::ResourceExhausted(hit) = err.kind() else {
        panic!("wrong error: {err}");
    };
    assert_eq!(
        (hit.kind, hit.limit, hit.requested),
        (ResourceKind::Memory, 10 * PAGE, 11 * PAGE)
    );
    let err = instantiate(&mut store, "(module (table 101 funcref))").expect_err("too big");
    assert!(
        err.to_string().contains("table elements limit of 100"),
        "{err}"
    );
    assert!(Memory::new(&mut store, MemoryType::new(11, None)).is_err());
    instantiate(&mut store, "(module (memory 10) (table 100 funcref))").expect("fits");
}

#[test]
fn table_growth_past_the_limit_returns_minus_one() {
    let mut store = Store::new(&Engine::default(), ());
    store.limiter(StoreLimits::new().table_elements(10));
    let i = instantiate(&mut store, GROWER).expect("instantiates");
    let tgrow = i
        .get_typed_func::<i32, i32>(&store, "tgrow")
        .expect("typed");
    assert_eq!(tgrow.call(&mut store, 9).expect("call"), 1);
    assert_eq!(tgrow.call(&mut store, 1).expect("call"), -1);
    assert_eq!(
        store.last_limit_hit().map(|h| h.kind),
        Some(ResourceKind::TableElements)
    );
    // Taking the record clears it: a later growth within the limit reports nothing.
    assert_eq!(
        store.take_last_limit_hit().map(|h| h.kind),
        Some(ResourceKind::TableElements)
    );
    assert_eq!(store.last_limit_hit(), None);
    assert_eq!(tgrow.call(&mut store, 0).expect("call"), 10);
    assert_eq!(store.take_last_limit_hit(), None);
}

#[test]
fn counts_of_instances_memories_and_tables_are_bounded() {
    let mut store = Store::new(&Engine::default(), ());
    store.limiter(StoreLimits::new().instances(2).memories(1).tables(1));
    instantiate(&mut store, "(module)").expect("first");
    instantiate(&mut store, "(module (memory 1) (table 1 funcref))").expect("second");
    let err = instantiate(&mut store, "(module)").expect_err("third instance");
    assert_eq!(
        store.last_limit_hit().map(|h| h.kind),
        Some(ResourceKind::Instances),
        "{err}"
    );
    let mut store = Store::new(&Engine::default(), ());
    store.limiter(StoreLimits::new().memories(1));
    instantiate(&mut store, "(module (memory 1))").expect("one memory");
    assert!(Memory::new(&mut store, MemoryType::new(1, None)).is_err());
}

/// An embedder's own policy: memories may only grow one page at a time.
struct OnePageAtATime;

impl ResourceLimiter for OnePageAtATime {
    fn memory_growing(
        &mut self,
        current: u64,
        desired: u64,
        _max: Option<u64>,
    ) -> Result<(), LimitHit> {
        if current == 0 || desired - current <= PAGE {
            Ok(())
        } else {
            Err(LimitHit {
                kind: ResourceKind::Memory,
                limit: current + PAGE,
                requested: desired,
            })
        }
    }

    fn table_growing(&mut self, _: u64, _: u64, _: Option<u64>) -> Result<(), LimitHit> {
        Ok(())
    }
}

#[test]
fn an_embedder_decides_growth_itself() {
    let mut store = Store::new(&Engine::default(), ());
    store.limiter(OnePageAtATime);
    let i = instantiate(&mut store, GROWER).expect("instantiates");
    let grow = i.get_typed_func::<i32, i32>(&store, "grow").expect("typed");
    assert_eq!(grow.call(&mut store, 2).expect("call"), -1);
    assert_eq!(grow.call(&mut store, 1).expect("call"), 1);
    assert_eq!(grow.call(&mut store, 1).expect("call"), 2);
}

#[test]
fn the_wasm_stack_limit_is_configurable() {
    let depth_with = |stack: usize| {
        let engine = Engine::new(Config::new().max_wasm_stack(stack)).expect("engine");
        let mut store = Store::new(&engine, ());
        let i = instantiate(
            &mut store,
            r#"(module (global $d (export "d") (mut i32) (i32.const 0))
                (func $r (export "r")
                  (global.set $d (i32.add (global.get $d) (i32.const 1)))
                  (call $r)))"#,
        )
        .expect("instantiates");
        let r = i.get_typed_func::<(), ()>(&store, "r").expect("typed");
        let err = r.call(&mut store, ()).expect_err("overflows");
        assert_eq!(err.as_trap().map(Trap::code), Some(TrapCode::StackOverflow));
        i.get_global(&store, "d")
            .expect("global")
            .get(&store)
            .i32()
            .expect("i32")
    };
    let small = depth_with(64 << 10);
    let large = depth_with(1 << 20);
    assert!(small > 100, "some recursion fits in 64 KiB: {small}");
    assert!(
        large > 8 * small,
        "16x the stack, far deeper recursion: {small} vs {large}"
    );
}

/// Tables are host memory too: a 4 KB module declaring 40 tables of 10 million
/// elements (and `table.fill`ing them) once reached 3 GB resident under a 64 KiB
/// memory limit. Their storage counts against the same budget as linear memory.
#[test]
fn tables_count_against_the_memory_budget() {
    let tables: String = (0..40)
        .map(|i| format!("(table $t{i} 10000000 funcref)"))
        .collect();
    let wat = format!("(module {tables})");
    let mut store = Store::new(&Engine::default(), ());
    store.limiter(StoreLimits::new().total_memory(64 << 10));
    let err = instantiate(&mut store, &wat).expect_err("80 MB of table storage");
    let ErrorKind::ResourceExhausted(hit) = err.kind() else {
        panic!("{err}");
    };
    assert_eq!(
        (hit.kind, hit.limit),
        (ResourceKind::Memory, 64 << 10),
        "{hit}"
    );
    // Growth counts too: a small table may not grow past the budget.
    let mut store = Store::new(&Engine::default(), ());
    store.limiter(StoreLimits::new().total_memory(PAGE + 1000 * TABLE_ELEMENT_BYTES));
    let i = instantiate(&mut store, GROWER).expect("one page and one element fit");
    let tgrow = i
        .get_typed_func::<i32, i32>(&store, "tgrow")
        .expect("typed");
    assert_eq!(
        tgrow.call(&mut store, 999).expect("call"),
        1,
        "1000 elements fit"
    );
    assert_eq!(tgrow.call(&mut store, 1).expect("call"), -1, "1001 do not");
    let hit = store.last_limit_hit().expect("recorded");
    assert_eq!(hit.kind, ResourceKind::Memory);
    // A variant: a table grown with table.fill's help in a loop stays bounded too.
    let filler = r#"(module (table $t 0 funcref)
      (func (export "bomb") (result i32) (local i32)
        (loop $l
          (if (i32.ne (table.grow $t (ref.null func) (i32.const 65536)) (i32.const -1))
            (then (table.fill $t (i32.const 0) (ref.null func) (table.size $t)) (br $l))))
        (table.size $t)))"#;
    let mut store = Store::new(&Engine::default(), ());
    store.limiter(StoreLimits::new().total_memory(4 << 20));
    let i = instantiate(&mut store, filler).expect("instantiates");
    let bomb = i.get_typed_func::<(), i32>(&store, "bomb").expect("typed");
    let size = bomb.call(&mut store, ()).expect("call") as u64;
    assert!(size * TABLE_ELEMENT_BYTES <= 4 << 20, "{size} elements");
}

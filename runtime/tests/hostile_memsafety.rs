//! Hostile modules probing linear-memory bounds: every access width and kind at every
//! boundary (including static offsets, wrapping addresses, and memories of 0 pages and
//! grown ones), under each way Kiln can check bounds (guard pages, explicit checks,
//! both); bulk operations straddling the end write nothing; grown pages are zeroed;
//! instances and stores never see each other's memory.

#[path = "common/hostile.rs"]
mod hostile;

use hostile::*;
use kiln::*;
use std::fmt::Write as _;

/// A memory access: its instruction, width in bytes, and whether it stores.
struct Access {
    op: &'static str,
    width: u64,
    store: bool,
    /// `(param i32)` → the access → its result (loads) or nothing (stores).
    result: &'static str,
}

const fn load(op: &'static str, width: u64, result: &'static str) -> Access {
    Access {
        op,
        width,
        store: false,
        result,
    }
}

const fn store(op: &'static str, width: u64) -> Access {
    Access {
        op,
        width,
        store: true,
        result: "",
    }
}

const ACCESSES: &[Access] = &[
    load("i32.load8_u", 1, "i32"),
    load("i32.load8_s", 1, "i32"),
    load("i32.load16_u", 2, "i32"),
    load("i32.load16_s", 2, "i32"),
    load("i32.load", 4, "i32"),
    load("i64.load8_u", 1, "i64"),
    load("i64.load16_s", 2, "i64"),
    load("i64.load32_u", 4, "i64"),
    load("i64.load32_s", 4, "i64"),
    load("i64.load", 8, "i64"),
    load("f32.load", 4, "f32"),
    load("f64.load", 8, "f64"),
    load("v128.load", 16, "v128"),
    load("v128.load8x8_s", 8, "v128"),
    load("v128.load16x4_u", 8, "v128"),
    load("v128.load32x2_s", 8, "v128"),
    load("v128.load8_splat", 1, "v128"),
    load("v128.load16_splat", 2, "v128"),
    load("v128.load32_splat", 4, "v128"),
    load("v128.load64_splat", 8, "v128"),
    load("v128.load32_zero", 4, "v128"),
    load("v128.load64_zero", 8, "v128"),
    load("v128.load8_lane", 1, "v128"),
    load("v128.load16_lane", 2, "v128"),
    load("v128.load32_lane", 4, "v128"),
    load("v128.load64_lane", 8, "v128"),
    store("i32.store8", 1),
    store("i32.store16", 2),
    store("i32.store", 4),
    store("i64.store8", 1),
    store("i64.store16", 2),
    store("i64.store32", 4),
    store("i64.store", 8),
    store("f32.store", 4),
    store("f64.store", 8),
    store("v128.store", 16),
    store("v128.store8_lane", 1),
    store("v128.store16_lane", 2),
    store("v128.store32_lane", 4),
    store("v128.store64_lane", 8),
];

/// Every store writes `STORED` into each byte it writes.
const STORED: u8 = 0xa5;

/// Static offsets of the generated accessors (`w` is the access width): the boundaries
/// of a 1-page memory, of the default guard, and of the 32-bit space.
fn offsets(w: u64) -> Vec<u64> {
    let mut v = vec![
        0,
        1,
        PAGE - w,
        PAGE - w + 1,
        PAGE,
        2 * PAGE - w,
        2 * PAGE - w + 1,
    ];
    v.extend([(32 << 20) - w, (32 << 20) - w + 1, 0xffff_fffe, 0xffff_ffff]);
    v.sort_unstable();
    v.dedup();
    v
}

fn name(a: &Access, offset: u64) -> String {
    format!("{}@{offset}", a.op)
}

/// One function per access and static offset, taking the dynamic address.
fn accessors_wat() -> String {
    let mut w = String::from("(module\n  (memory (export \"mem\") 0)\n");
    for a in ACCESSES {
        for offset in offsets(a.width) {
            let mem = format!("offset={offset}");
            let (lane_arg, lane_imm) = if a.op.ends_with("_lane") {
                ("(v128.const i64x2 0 0) ", " 1")
            } else {
                ("", "")
            };
            let body = if a.store {
                let value = match &a.op[..4] {
                    "i32." => "(i32.const 0xa5a5a5a5)",
                    "i64." => "(i64.const 0xa5a5a5a5a5a5a5a5)",
                    "f32." => "(f32.reinterpret_i32 (i32.const 0xa5a5a5a5))",
                    "f64." => "(f64.reinterpret_i64 (i64.const 0xa5a5a5a5a5a5a5a5))",
                    _ => "(v128.const i8x16 0xa5 0xa5 0xa5 0xa5 0xa5 0xa5 0xa5 0xa5 0xa5 0xa5 0xa5 0xa5 0xa5 0xa5 0xa5 0xa5)",
                };
                format!("({} {mem}{lane_imm} (local.get 0) {value})", a.op)
            } else {
                format!("({} {mem}{lane_imm} (local.get 0) {lane_arg})", a.op)
            };
            let result = if a.store {
                String::new()
            } else {
                format!(" (result {})", a.result)
            };
            writeln!(
                w,
                "  (func (export \"{}\") (param i32){result} {body})",
                name(a, offset)
            )
            .expect("write");
        }
    }
    w.push_str("  (func (export \"grow\") (param i32) (result i32) (memory.grow (local.get 0))))");
    w
}

/// Dynamic addresses tried with every static offset, for a memory of `size` bytes.
fn addresses(size: u64, w: u64) -> Vec<u32> {
    let mut v = vec![
        0u64,
        1,
        PAGE - w,
        PAGE - w + 1,
        PAGE,
        0x7fff_ffff,
        0xffff_ffff,
    ];
    if let Some(last) = size.checked_sub(w) {
        v.extend([last, last + 1]);
    }
    v.push(size);
    v.extend([(1u64 << 32) - w, (1u64 << 32) - w + 1]);
    v.into_iter().map(|a| a as u32).collect()
}

/// The byte at `i` of the pattern memory is filled with (never `STORED`).
fn pattern(i: usize) -> u8 {
    (i * 7 + 3) as u8 & 0x7f
}

/// Checks every access at every (address, offset) against `ea + width <= size`: loads
/// return the right bytes or trap, stores write exactly their bytes or nothing.
fn check_boundaries(store: &mut Store<()>, i: &Instance, what: &str) -> usize {
    let mem = i.get_memory(&*store, "mem").expect("mem");
    let size = mem.data_size(&*store) as u64;
    let reference: Vec<u8> = (0..size as usize).map(pattern).collect();
    mem.data_mut(&mut *store).copy_from_slice(&reference);
    let mut checked = 0;
    for a in ACCESSES {
        for offset in offsets(a.width) {
            let f = i.get_func(&*store, &name(a, offset)).expect("accessor");
            for address in addresses(size, a.width) {
                let ea = u64::from(address) + offset;
                let fits = ea + a.width <= size;
                let mut out: Vec<Val> = f
                    .ty(&*store)
                    .results()
                    .iter()
                    .map(|&t| Val::default_for(t))
                    .collect();
                let r = f.call(&mut *store, &[Val::I32(address as i32)], &mut out);
                let case = format!(
                    "{what}: {} at {address:#x} + offset {offset:#x} (memory of {size:#x})",
                    a.op
                );
                if !fits {
                    expect_trap(r, TrapCode::MemoryOutOfBounds, &case);
                    assert!(
                        mem.data(&*store) == reference.as_slice(),
                        "{case}: memory changed by a trapping access"
                    );
                    checked += 1;
                    continue;
                }
                r.unwrap_or_else(|e| panic!("{case}: {e}"));
                let range = ea as usize..(ea + a.width) as usize;
                if a.store {
                    let data = mem.data(&*store);
                    assert!(
                        data[range.clone()].iter().all(|&b| b == STORED),
                        "{case}: not stored"
                    );
                    assert!(
                        data[..range.start] == reference[..range.start]
                            && data[range.end..] == reference[range.end..],
                        "{case}: wrote outside its bytes"
                    );
                    mem.data_mut(&mut *store)[range]
                        .copy_from_slice(&reference[ea as usize..][..a.width as usize]);
                } else {
                    let mut bytes = [0u8; 16];
                    bytes[..a.width as usize].copy_from_slice(&reference[range]);
                    let want = u128::from_le_bytes(bytes);
                    let got = match (a.op, out[0]) {
                        ("i32.load8_u" | "i32.load16_u" | "i32.load", Val::I32(v)) => {
                            Some(u128::from(v as u32))
                        }
                        ("i64.load", Val::I64(v)) => Some(u128::from(v as u64)),
                        ("v128.load", Val::V128(v)) => Some(v),
                        _ => None,
                    };
                    if let Some(got) = got {
                        assert_eq!(got, want, "{case}: wrong value");
                    }
                }
                checked += 1;
            }
        }
    }
    checked
}

/// The boundary matrix on memories of 0, 1 and 2 pages (grown by the guest).
fn boundaries_with(config: &Config, what: &str) {
    let engine = Engine::new(config).expect("engine");
    let module = Module::new(&engine, accessors_wat()).expect("accessors compile");
    let mut store = Store::new(&engine, ());
    let i = Instance::new(&mut store, &module, &[]).expect("instantiates");
    let grow = i.get_typed_func::<i32, i32>(&store, "grow").expect("grow");
    let mut checked = 0;
    for pages in 0..=2 {
        if pages > 0 {
            assert_eq!(grow.call(&mut store, 1).expect("grow"), pages - 1);
        }
        checked += check_boundaries(&mut store, &i, &format!("{what}, {pages} pages"));
    }
    eprintln!("{what}: {checked} accesses checked");
    assert_store_healthy(&mut store);
}

#[test]
fn every_access_at_every_boundary_with_guard_pages() {
    boundaries_with(&hostile::config(), "4 GiB + 32 MiB guard");
}

#[test]
fn every_access_at_every_boundary_without_a_guard() {
    boundaries_with(
        hostile::config().memory_reservation(1 << 32, 0),
        "4 GiB, no guard",
    );
}

#[test]
fn every_access_at_every_boundary_with_a_one_page_guard() {
    boundaries_with(
        hostile::config().memory_reservation(1 << 32, PAGE),
        "4 GiB + 64 KiB guard",
    );
}

#[test]
fn every_access_at_every_boundary_with_explicit_checks() {
    boundaries_with(
        hostile::config().memory_reservation(1 << 20, 1 << 16),
        "1 MiB reservation",
    );
}

const BULK: &str = r#"(module
  (memory (export "mem") 1)
  (data $seg "0123456789abcdef")
  (func (export "fill") (param i32 i32 i32) (memory.fill (local.get 0) (local.get 1) (local.get 2)))
  (func (export "copy") (param i32 i32 i32) (memory.copy (local.get 0) (local.get 1) (local.get 2)))
  (func (export "init") (param i32 i32 i32) (memory.init $seg (local.get 0) (local.get 1) (local.get 2)))
  (func (export "drop") (data.drop $seg))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))"#;

#[test]
fn bulk_operations_straddling_the_end_trap_and_write_nothing() {
    let mut store = Store::new(&hostile::engine(), ());
    let i = instantiate(&mut store, BULK);
    let mem = i.get_memory(&store, "mem").expect("mem");
    let size = PAGE as u32;
    let reference: Vec<u8> = (0..PAGE as usize).map(pattern).collect();
    // (function, dst, src-or-value, len, in bounds)
    let s = size;
    let cases: &[(&str, u32, u32, u32, bool)] = &[
        ("fill", s - 10, 0xee, 10, true),
        ("fill", s - 10, 0xee, 11, false),
        ("fill", s, 0xee, 0, true),
        ("fill", s + 1, 0xee, 0, false),
        ("fill", 1, 0xee, u32::MAX, false),
        ("fill", u32::MAX, 0xee, 2, false),
        ("fill", 0, 0xee, s + 1, false),
        ("copy", s - 10, 0, 10, true),
        ("copy", s - 10, 0, 11, false),
        ("copy", 0, s - 10, 11, false),
        ("copy", s - 5, s - 10, 6, false),
        ("copy", s - 10, s - 5, 6, false),
        ("copy", s, 0, 0, true),
        ("copy", 0, s, 0, true),
        ("copy", s + 1, 0, 0, false),
        ("copy", 0, s + 1, 0, false),
        ("copy", u32::MAX, 0, 2, false),
        ("copy", 0, u32::MAX, 2, false),
        ("copy", 1, 0, u32::MAX, false),
        ("init", s - 16, 0, 16, true),
        ("init", s - 15, 0, 16, false),
        ("init", 0, 10, 7, false),
        ("init", 0, 16, 0, true),
        ("init", 0, 17, 0, false),
        ("init", s, 0, 0, true),
        ("init", s + 1, 0, 0, false),
        ("init", u32::MAX, 0, 2, false),
        ("init", 0, u32::MAX, 2, false),
    ];
    for &(op, dst, src, len, ok) in cases {
        mem.data_mut(&mut store).copy_from_slice(&reference);
        let f = i
            .get_typed_func::<(i32, i32, i32), ()>(&store, op)
            .expect("bulk op");
        let r = f.call(&mut store, (dst as i32, src as i32, len as i32));
        let case = format!("{op}({dst:#x}, {src:#x}, {len:#x})");
        if ok {
            r.unwrap_or_else(|e| panic!("{case}: {e}"));
        } else {
            expect_trap(r, TrapCode::MemoryOutOfBounds, &case);
            assert!(
                mem.data(&store) == reference.as_slice(),
                "{case}: a trapping bulk operation wrote"
            );
        }
    }
    // After `data.drop`, the segment is empty.
    i.get_typed_func::<(), ()>(&store, "drop")
        .expect("drop")
        .call(&mut store, ())
        .expect("data.drop");
    let init = i
        .get_typed_func::<(i32, i32, i32), ()>(&store, "init")
        .expect("init");
    init.call(&mut store, (0, 0, 0)).expect("an empty init");
    expect_trap(
        init.call(&mut store, (0, 0, 1)),
        TrapCode::MemoryOutOfBounds,
        "init from a dropped segment",
    );
    // Grown, the same operations fit.
    let grow = i.get_typed_func::<i32, i32>(&store, "grow").expect("grow");
    assert_eq!(grow.call(&mut store, 1).expect("grow"), 1);
    let fill = i
        .get_typed_func::<(i32, i32, i32), ()>(&store, "fill")
        .expect("fill");
    fill.call(&mut store, (s as i32 - 10, 0xee, 11))
        .expect("fits now");
    assert!(mem.data(&store)[s as usize - 10..=s as usize]
        .iter()
        .all(|&b| b == 0xee));
    assert_store_healthy(&mut store);
}

const GROWN: &str = r#"(module
  (memory (export "mem") 1)
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  ;; OR of every i64 in [from, to).
  (func (export "or_all") (param $from i32) (param $to i32) (result i64) (local $acc i64)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $from) (local.get $to)))
        (local.set $acc (i64.or (local.get $acc) (i64.load (local.get $from))))
        (local.set $from (i32.add (local.get $from) (i32.const 8)))
        (br $l)))
    (local.get $acc))
  (func (export "fill") (param i32 i32 i32) (memory.fill (local.get 0) (local.get 1) (local.get 2)))
  (func (export "poke") (param i32 i64) (i64.store (local.get 0) (local.get 1)))
  (func (export "peek") (param i32) (result i64) (i64.load (local.get 0))))"#;

#[test]
fn grown_pages_are_zeroed_usable_and_end_where_they_should() {
    let mut store = Store::new(&hostile::engine(), ());
    let i = instantiate(&mut store, GROWN);
    let grow = i.get_typed_func::<i32, i32>(&store, "grow").expect("grow");
    let or_all = i
        .get_typed_func::<(i32, i32), i64>(&store, "or_all")
        .expect("or_all");
    let fill = i
        .get_typed_func::<(i32, i32, i32), ()>(&store, "fill")
        .expect("fill");
    let poke = i
        .get_typed_func::<(i32, i64), ()>(&store, "poke")
        .expect("poke");
    let peek = i.get_typed_func::<i32, i64>(&store, "peek").expect("peek");
    let p = PAGE as i32;
    fill.call(&mut store, (0, 0xff, p)).expect("fill page 0");
    expect_trap(
        poke.call(&mut store, (p, 1)),
        TrapCode::MemoryOutOfBounds,
        "page 1",
    );
    assert_eq!(grow.call(&mut store, 3).expect("grow"), 1);
    assert_eq!(
        or_all.call(&mut store, (p, 4 * p)).expect("scan"),
        0,
        "zeroed"
    );
    assert_eq!(or_all.call(&mut store, (0, p)).expect("scan"), -1, "kept");
    poke.call(&mut store, (4 * p - 8, 0x1122334455667788))
        .expect("last i64");
    assert_eq!(
        peek.call(&mut store, 4 * p - 8).expect("peek"),
        0x1122334455667788
    );
    expect_trap(
        peek.call(&mut store, 4 * p - 7),
        TrapCode::MemoryOutOfBounds,
        "straddle",
    );
    expect_trap(
        peek.call(&mut store, 4 * p),
        TrapCode::MemoryOutOfBounds,
        "past the end",
    );
    // Grown by the host, the guest sees the new pages at once.
    let mem = i.get_memory(&store, "mem").expect("mem");
    assert_eq!(mem.grow(&mut store, 1).expect("host grow"), 4);
    assert_eq!(or_all.call(&mut store, (4 * p, 5 * p)).expect("scan"), 0);
    poke.call(&mut store, (5 * p - 8, 1))
        .expect("last i64 of page 4");
    expect_trap(
        peek.call(&mut store, 5 * p),
        TrapCode::MemoryOutOfBounds,
        "past the end",
    );
    assert_store_healthy(&mut store);
}

const NEIGHBOUR: &str = r#"(module
  (memory (export "mem") 1)
  (func (export "fill") (param i32) (memory.fill (i32.const 0) (local.get 0) (i32.const 65536)))
  (func (export "or_all") (result i64) (local $i i32) (local $acc i64)
    (loop $l
      (local.set $acc (i64.or (local.get $acc) (i64.load (local.get $i))))
      (br_if $l (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 8))) (i32.const 65536))))
    (local.get $acc))
  (func (export "far") (param i32) (result i64) (i64.load offset=0xffffffff (local.get 0)))
  (func (export "near") (param i32) (result i64) (i64.load offset=0x1000000 (local.get 0))))"#;

/// Guest `b` cannot see guest `a`'s memory: its own reads see zeros, and every
/// address past its end, however far, traps.
fn assert_isolated<T>(sa: &mut Store<T>, a: &Instance, sb: &mut Store<T>, b: &Instance) {
    let fill = a.get_typed_func::<i32, ()>(&*sa, "fill").expect("fill");
    fill.call(&mut *sa, 0x5a).expect("a fills its memory");
    let a_mem = a.get_memory(&*sa, "mem").expect("mem");
    assert!(a_mem.data(&*sa).iter().all(|&x| x == 0x5a));
    let or_all = b.get_typed_func::<(), i64>(&*sb, "or_all").expect("or_all");
    assert_eq!(or_all.call(&mut *sb, ()).expect("scan"), 0, "b sees zeros");
    let b_mem = b.get_memory(&*sb, "mem").expect("mem");
    assert!(b_mem.data(&*sb).iter().all(|&x| x == 0));
    probe_far(sb, b);
}

/// Reads far past `i`'s memory (where other memories lie) all trap.
fn probe_far<T>(store: &mut Store<T>, i: &Instance) {
    for name in ["far", "near"] {
        let f = i.get_typed_func::<i32, i64>(&*store, name).expect("probe");
        for address in (0..=u32::MAX).step_by(0x0fff_ffff) {
            expect_trap(
                f.call(&mut *store, address as i32),
                TrapCode::MemoryOutOfBounds,
                &format!("{name} at {address:#x}"),
            );
        }
    }
}

#[test]
fn instances_do_not_see_each_others_memory() {
    let engine = hostile::engine();
    let module = Module::new(&engine, NEIGHBOUR).expect("compiles");
    // Two instances of one module in one store.
    let mut store = Store::new(&engine, ());
    let a = Instance::new(&mut store, &module, &[]).expect("a");
    let b = Instance::new(&mut store, &module, &[]).expect("b");
    let fill = a.get_typed_func::<i32, ()>(&store, "fill").expect("fill");
    fill.call(&mut store, 0x5a).expect("a fills its memory");
    let or_all = b
        .get_typed_func::<(), i64>(&store, "or_all")
        .expect("or_all");
    assert_eq!(
        or_all.call(&mut store, ()).expect("scan"),
        0,
        "b sees zeros"
    );
    probe_far(&mut store, &b);
    let a_mem = a.get_memory(&store, "mem").expect("mem");
    assert!(a_mem.data(&store).iter().all(|&x| x == 0x5a), "a is intact");
    // Two stores.
    let mut s1 = Store::new(&engine, ());
    let mut s2 = Store::new(&engine, ());
    let x = Instance::new(&mut s1, &module, &[]).expect("x");
    let y = Instance::new(&mut s2, &module, &[]).expect("y");
    assert_isolated(&mut s1, &x, &mut s2, &y);
    // Many neighbours: one reservation after another, none reachable.
    let mut stores: Vec<(Store<()>, Instance)> = (0..8)
        .map(|_| {
            let mut s = Store::new(&engine, ());
            let i = Instance::new(&mut s, &module, &[]).expect("instance");
            (s, i)
        })
        .collect();
    let (first, rest) = stores.split_at_mut(1);
    for (s, i) in rest {
        assert_isolated(&mut first[0].0, &first[0].1, s, i);
    }
    assert_store_healthy(&mut store);
}

const TABLES: &str = r#"(module
  (type $i (func (result i32)))
  (import "host" "grow" (func $host_grow (param i32)))
  (table $t (export "t") 1 funcref)
  (table $u 4 funcref)
  (func $seven (type $i) (i32.const 7))
  (func $eight (type $i) (i32.const 8))
  (elem (table $t) (i32.const 0) func $seven)
  (elem $seg func $eight $eight)
  (elem declare func $seven)
  ;; Grows by n elements of $seven and calls the first new one.
  (func (export "grow_and_call") (param $n i32) (result i32)
    (call_indirect $t (type $i) (table.grow $t (ref.func $seven) (local.get $n))))
  ;; The host grows the table (its elements may move), then the guest calls the last.
  (func (export "host_grow_then_call") (param $n i32) (result i32)
    (call $host_grow (local.get $n))
    (call_indirect $t (type $i) (i32.sub (table.size $t) (i32.const 1))))
  (func (export "call") (param i32) (result i32) (call_indirect $t (type $i) (local.get 0)))
  (func (export "size") (result i32) (table.size $t))
  (func (export "fill") (param i32 i32) (table.fill $u (local.get 0) (ref.func $seven) (local.get 1)))
  (func (export "copy") (param i32 i32 i32) (table.copy $u $u (local.get 0) (local.get 1) (local.get 2)))
  (func (export "init") (param i32 i32 i32) (table.init $u $seg (local.get 0) (local.get 1) (local.get 2)))
  (func (export "get_u") (param i32) (result i32) (ref.is_null (table.get $u (local.get 0))))
  (func (export "set_u") (param i32) (table.set $u (local.get 0) (ref.null func))))"#;

#[test]
fn tables_stay_in_bounds_while_they_grow_and_move() {
    let engine = hostile::engine();
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap(
            "host",
            "grow",
            |mut c: Caller<'_, ()>, n: u32| -> Result<()> {
                let t = c
                    .get_export("t")
                    .and_then(Extern::into_table)
                    .ok_or_else(|| Error::msg("no table"))?;
                let seven = t.get(&c, 0).ok_or_else(|| Error::msg("empty table"))?;
                t.grow(&mut c, n, seven)?;
                Ok(())
            },
        )
        .expect("define grow");
    let module = Module::new(&engine, TABLES).expect("compiles");
    let mut store = Store::new(&engine, ());
    let i = linker
        .instantiate(&mut store, &module)
        .expect("instantiates");
    let grow_and_call = i
        .get_typed_func::<i32, i32>(&store, "grow_and_call")
        .expect("grow_and_call");
    let host_grow_then_call = i
        .get_typed_func::<i32, i32>(&store, "host_grow_then_call")
        .expect("host_grow_then_call");
    let call = i.get_typed_func::<i32, i32>(&store, "call").expect("call");
    let size = i.get_typed_func::<(), i32>(&store, "size").expect("size");
    for round in 0..50 {
        assert_eq!(grow_and_call.call(&mut store, 1000).expect("guest grow"), 7);
        assert_eq!(
            host_grow_then_call
                .call(&mut store, 1000)
                .expect("host grow"),
            7
        );
        let n = size.call(&mut store, ()).expect("size");
        assert_eq!(n, 1 + 2000 * (round + 1));
        assert_eq!(call.call(&mut store, n - 1).expect("last"), 7);
        for index in [n, n + 1, i32::MAX, -1] {
            expect_trap(
                call.call(&mut store, index),
                TrapCode::TableOutOfBounds,
                &format!("call_indirect {index} of {n}"),
            );
        }
    }
    // Bulk table operations straddling the end trap and change nothing.
    let is_null = i
        .get_typed_func::<i32, i32>(&store, "get_u")
        .expect("get_u");
    let nulls = |store: &mut Store<()>| -> Vec<i32> {
        (0..4)
            .map(|k| is_null.call(&mut *store, k).expect("get"))
            .collect()
    };
    let three = |name: &str| {
        i.get_typed_func::<(i32, i32, i32), ()>(&store, name)
            .expect("bulk op")
    };
    let (copy, init) = (three("copy"), three("init"));
    let fill = i
        .get_typed_func::<(i32, i32), ()>(&store, "fill")
        .expect("fill");
    expect_trap(
        fill.call(&mut store, (2, 3)),
        TrapCode::TableOutOfBounds,
        "fill",
    );
    expect_trap(
        fill.call(&mut store, (5, 0)),
        TrapCode::TableOutOfBounds,
        "fill",
    );
    expect_trap(
        fill.call(&mut store, (1, -1)),
        TrapCode::TableOutOfBounds,
        "fill",
    );
    expect_trap(
        init.call(&mut store, (3, 0, 2)),
        TrapCode::TableOutOfBounds,
        "init",
    );
    expect_trap(
        init.call(&mut store, (0, 1, 2)),
        TrapCode::TableOutOfBounds,
        "init",
    );
    expect_trap(
        init.call(&mut store, (0, 3, 0)),
        TrapCode::TableOutOfBounds,
        "init",
    );
    assert_eq!(nulls(&mut store), [1, 1, 1, 1], "nothing was written");
    fill.call(&mut store, (0, 2)).expect("fill two");
    expect_trap(
        copy.call(&mut store, (3, 0, 2)),
        TrapCode::TableOutOfBounds,
        "copy",
    );
    expect_trap(
        copy.call(&mut store, (0, 3, 2)),
        TrapCode::TableOutOfBounds,
        "copy",
    );
    expect_trap(
        copy.call(&mut store, (-1, 0, 2)),
        TrapCode::TableOutOfBounds,
        "copy",
    );
    assert_eq!(nulls(&mut store), [0, 0, 1, 1], "nothing was copied");
    fill.call(&mut store, (4, 0))
        .expect("an empty fill at the end");
    init.call(&mut store, (2, 0, 2)).expect("init the last two");
    assert_eq!(nulls(&mut store), [0, 0, 0, 0]);
    assert_store_healthy(&mut store);
}

#[test]
fn call_indirect_cannot_confuse_signatures_across_modules() {
    // Module A fills a shared table with functions of three signatures; module B calls
    // each slot with each signature: only the structurally equal one gets through,
    // whatever the type's index in either module.
    let engine = hostile::engine();
    let mut store = Store::new(&engine, ());
    let a = instantiate(
        &mut store,
        r#"(module
          (type (func (param i64) (result i64)))
          (table (export "t") 3 funcref)
          (func $i (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
          (func $f (param f32) (result f32) (f32.add (local.get 0) (f32.const 1)))
          (func $l (param i64) (result i64) (i64.add (local.get 0) (i64.const 1)))
          (elem (i32.const 0) $i $f $l))"#,
    );
    let table = a.get_table(&store, "t").expect("t");
    let b_module = Module::new(
        &engine,
        r#"(module
          (type $l (func (param i64) (result i64)))
          (type $f (func (param f32) (result f32)))
          (type $i (func (param i32) (result i32)))
          (import "a" "t" (table 3 funcref))
          (func (export "as_i") (param i32) (result i32)
            (call_indirect (type $i) (i32.const 41) (local.get 0)))
          (func (export "as_f") (param i32) (result f32)
            (call_indirect (type $f) (f32.const 41) (local.get 0)))
          (func (export "as_l") (param i32) (result i64)
            (call_indirect (type $l) (i64.const 41) (local.get 0))))"#,
    )
    .expect("compiles");
    let b = Instance::new(&mut store, &b_module, &[table.into()]).expect("instantiates");
    for (name, right_slot) in [("as_i", 0), ("as_f", 1), ("as_l", 2)] {
        let f = b.get_func(&store, name).expect("export");
        for slot in 0..3 {
            let mut out = [Val::default_for(f.ty(&store).results()[0])];
            let r = f.call(&mut store, &[Val::I32(slot)], &mut out);
            if slot == right_slot {
                r.unwrap_or_else(|e| panic!("{name}({slot}): {e}"));
                let want = match name {
                    "as_i" => Val::I32(42),
                    "as_f" => Val::F32(42f32.to_bits()),
                    _ => Val::I64(42),
                };
                assert_eq!(out[0], want, "{name}");
            } else {
                expect_trap(r, TrapCode::BadSignature, &format!("{name}({slot})"));
            }
        }
    }
    assert_store_healthy(&mut store);
}

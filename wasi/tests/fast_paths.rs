//! The WASI fast paths (inlined bodies of `clock_time_get`, `clock_res_get`,
//! `sched_yield`, `args_sizes_get`, `environ_sizes_get`) give what the generic
//! functions give: each call runs with fast paths on and off, good and bad clock ids,
//! pointers in bounds, straddling the end and past it.

mod common;

use common::{errno::*, i, Guest};
use kiln::{Engine, Linker, Store, Val};
use kiln_wasi::{FastPaths, WasiCtx, WasiCtxBuilder};

const END: u32 = 65536;
const FAST: &[&str] = &[
    "args_sizes_get",
    "clock_res_get",
    "clock_time_get",
    "environ_sizes_get",
    "sched_yield",
];

fn ctx() -> WasiCtx {
    WasiCtxBuilder::new()
        .args(["prog", "one", "two and three"])
        .env("A", "1")
        .env("LONGER", "value")
        .build()
}

/// Both guests: fast paths inlined, and none.
fn guests() -> [Guest; 2] {
    [
        Guest::compiled_by_linker(ctx(), true),
        Guest::compiled_by_linker(ctx(), false),
    ]
}

fn now(clock: u32) -> u64 {
    match clock {
        0 => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_nanos() as u64,
        _ => unreachable!(),
    }
}

#[test]
fn the_fast_paths_are_inlined_exactly_where_asked() {
    let engine = Engine::default();
    let wat = common::wrapper_wat(1);
    let mut store = Store::new(&engine, ctx());
    let mut linker = Linker::<WasiCtx>::new(&engine);
    kiln_wasi::add_to_linker_with(&mut linker, |c| c, FastPaths::WithStore(&mut store)).unwrap();
    let module = linker.module(&wat).unwrap();
    let mut inlined: Vec<_> = module.inlined_imports().map(|(_, n)| n).collect();
    inlined.sort_unstable();
    assert_eq!(inlined, FAST);
    // `add_to_linker`: the store-free ones.
    let mut linker = Linker::<WasiCtx>::new(&engine);
    kiln_wasi::add_to_linker(&mut linker, |c| c).unwrap();
    let module = linker.module(&wat).unwrap();
    let inlined: Vec<_> = module.inlined_imports().map(|(_, n)| n).collect();
    assert_eq!(inlined, ["clock_res_get", "clock_time_get", "sched_yield"]);
    // Off, or a module that does not export its memory as `memory`: none.
    let mut linker = Linker::<WasiCtx>::new(&engine);
    kiln_wasi::add_to_linker_with(&mut linker, |c| c, FastPaths::Off).unwrap();
    assert_eq!(linker.module(&wat).unwrap().inlined_imports().count(), 0);
    let mut linker = Linker::<WasiCtx>::new(&engine);
    kiln_wasi::add_to_linker(&mut linker, |c| c).unwrap();
    let hidden = wat.replace("(export \"memory\")", "");
    let module = linker.module(&hidden).unwrap();
    let inlined: Vec<_> = module.inlined_imports().map(|(_, n)| n).collect();
    assert_eq!(inlined, ["sched_yield"]);
}

#[test]
fn clocks_agree_with_the_generic_path() {
    let [mut fast, mut slow] = guests();
    for g in [&mut fast, &mut slow] {
        // Realtime: close to the host's clock.
        let before = now(0);
        assert_eq!(
            g.call("clock_time_get", &[i(0), Val::I64(1), i(64)]),
            SUCCESS
        );
        let t = g.u64_at(64);
        assert!(t >= before && t <= now(0), "{before} <= {t}");
        // Monotonic, process and thread CPU time: increasing.
        for clock in 1..4 {
            assert_eq!(
                g.call("clock_time_get", &[i(clock), Val::I64(0), i(64)]),
                SUCCESS
            );
            let a = g.u64_at(64);
            assert_eq!(
                g.call("clock_time_get", &[i(clock), Val::I64(0), i(72)]),
                SUCCESS
            );
            assert!(g.u64_at(72) >= a, "clock {clock}");
        }
    }
    let mut res = Vec::new();
    for g in [&mut fast, &mut slow] {
        let mut r = Vec::new();
        for clock in 0..4 {
            assert_eq!(g.call("clock_res_get", &[i(clock), i(128)]), SUCCESS);
            r.push(g.u64_at(128));
        }
        res.push(r);
    }
    assert_eq!(res[0], res[1]);
    // Unknown clocks and bad pointers: the same errno, and nothing written.
    for g in [&mut fast, &mut slow] {
        g.write(END - 8, &[0xAA; 8]);
        for (clock, at, want) in [
            (4, 64, INVAL),
            (u32::MAX, 64, INVAL),
            (0, END - 7, FAULT),
            (1, END - 4, FAULT),
            (1, END, FAULT),
            (0, u32::MAX - 3, FAULT),
            (7, END - 7, INVAL),
        ] {
            assert_eq!(
                g.call("clock_time_get", &[i(clock), Val::I64(0), i(at)]),
                want,
                "clock_time_get({clock}, {at})"
            );
            assert_eq!(
                g.call("clock_res_get", &[i(clock), i(at)]),
                want,
                "clock_res_get({clock}, {at})"
            );
        }
        assert_eq!(g.read(END - 8, 8), [0xAA; 8]);
        // The last 8 bytes are a good place.
        assert_eq!(
            g.call("clock_time_get", &[i(1), Val::I64(0), i(END - 8)]),
            SUCCESS
        );
    }
}

#[test]
fn sizes_and_yield_agree_with_the_generic_path() {
    let [mut fast, mut slow] = guests();
    let mut seen = Vec::new();
    for g in [&mut fast, &mut slow] {
        let mut s = Vec::new();
        for f in ["args_sizes_get", "environ_sizes_get"] {
            assert_eq!(g.call(f, &[i(16), i(20)]), SUCCESS);
            s.push((g.u32_at(16), g.u32_at(20)));
            for (a, b) in [(END - 3, 20), (16, END - 2), (END, END), (u32::MAX, 0)] {
                g.write(16, &[0; 8]);
                assert_eq!(g.call(f, &[i(a), i(b)]), FAULT, "{f}({a}, {b})");
                s.push((g.u32_at(16), g.u32_at(20)));
            }
        }
        assert_eq!(g.call("sched_yield", &[]), SUCCESS);
        seen.push(s);
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[0][0], (3, 5 + 4 + 14));
    assert_eq!(seen[0][5], (2, 4 + 13));
}

#[test]
fn a_store_that_does_not_own_the_cells_is_refused() {
    let engine = Engine::default();
    let mut store = Store::new(&engine, ctx());
    let mut linker = Linker::<WasiCtx>::new(&engine);
    kiln_wasi::add_to_linker_with(&mut linker, |c| c, FastPaths::WithStore(&mut store)).unwrap();
    let module = linker.module(common::wrapper_wat(1)).unwrap();
    let mut other = Store::new(&engine, ctx());
    let e = linker.instantiate(&mut other, &module).unwrap_err();
    assert!(e.to_string().contains("another store"), "{e}");
    linker.instantiate(&mut store, &module).unwrap();
}

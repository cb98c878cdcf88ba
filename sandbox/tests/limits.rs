//! Every limit stops the guest with `ResourceExhausted`, and the sandbox stays usable.

mod common;

use common::{assert_usable, backends, builder, module};
use kiln_sandbox::{Error, ResourceKind};
use std::time::{Duration, Instant};

const SPIN: &str = r#"(func (export "spin") (loop (br 0)))
    (func (export "count") (param i32) (result i32)
        (loop $l
            (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
            (br_if $l (i32.gt_s (local.get 0) (i32.const 0))))
        (local.get 0))"#;

#[test]
fn fuel_exhaustion() -> Result<(), Error> {
    for backend in backends() {
        let s = builder(backend, &module(SPIN)).fuel(10_000).build()?;
        for _ in 0..3 {
            match s.call::<(), ()>("spin", ()) {
                Err(Error::ResourceExhausted {
                    kind: ResourceKind::Fuel,
                    limit,
                    used,
                }) => assert_eq!((limit, used), (10_000, 10_000), "{}", backend.name()),
                other => panic!("{}: {other:?}", backend.name()),
            }
            assert_usable(&s, backend);
        }
        // Fuel is per call: a loop well within it runs every time.
        for _ in 0..3 {
            assert_eq!(s.call::<i32, i32>("count", 500)?, 0);
        }
        assert!(matches!(
            s.call::<i32, i32>("count", 100_000),
            Err(Error::ResourceExhausted {
                kind: ResourceKind::Fuel,
                ..
            })
        ));
    }
    Ok(())
}

#[test]
fn timeout_stops_an_endless_loop() -> Result<(), Error> {
    for backend in backends() {
        let s = builder(backend, &module(SPIN))
            .timeout(Duration::from_millis(100))
            .build()?;
        for _ in 0..2 {
            let start = Instant::now();
            match s.call::<(), ()>("spin", ()) {
                Err(Error::ResourceExhausted {
                    kind: ResourceKind::Time,
                    limit,
                    used,
                }) => {
                    assert_eq!(limit, 100, "{}", backend.name());
                    eprintln!("{}: stopped after {used} ms", backend.name());
                }
                other => panic!("{}: {other:?}", backend.name()),
            }
            eprintln!(
                "{}: call returned after {:?}",
                backend.name(),
                start.elapsed()
            );
            assert_usable(&s, backend);
        }
    }
    Ok(())
}

#[test]
fn fuel_and_timeout_together() -> Result<(), Error> {
    for backend in backends() {
        let s = builder(backend, &module(SPIN))
            .fuel(1_000)
            .timeout(Duration::from_secs(10))
            .build()?;
        assert_eq!(
            s.call::<(), ()>("spin", ())
                .err()
                .and_then(|e| e.resource_kind()),
            Some(ResourceKind::Fuel),
            "{}",
            backend.name()
        );
        let s = builder(backend, &module(SPIN))
            .fuel(u64::MAX / 4)
            .timeout(Duration::from_millis(50))
            .build()?;
        assert_eq!(
            s.call::<(), ()>("spin", ())
                .err()
                .and_then(|e| e.resource_kind()),
            Some(ResourceKind::Time),
            "{}",
            backend.name()
        );
        assert_usable(&s, backend);
    }
    Ok(())
}

const GROW: &str = r#"(memory 1)
    (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
    (func (export "alloc") (param i32)
        (if (i32.eq (memory.grow (local.get 0)) (i32.const -1)) (then unreachable)))"#;

const PAGE: u64 = 65536;

#[test]
fn memory_limit_is_seen_by_the_guest() -> Result<(), Error> {
    for backend in backends() {
        let s = builder(backend, &module(GROW))
            .memory_limit(4 * PAGE)
            .build()?;
        assert_eq!(s.call::<i32, i32>("grow", 2)?, 1);
        assert_eq!(s.call::<i32, i32>("grow", 2)?, -1, "{}", backend.name());
        assert_eq!(s.call::<i32, i32>("grow", 1)?, 3);
        assert_eq!(s.call::<i32, i32>("grow", 1)?, -1);
        assert_usable(&s, backend);
    }
    Ok(())
}

#[test]
fn memory_limit_explains_the_trap_that_follows() -> Result<(), Error> {
    for backend in backends() {
        let s = builder(backend, &module(GROW))
            .memory_limit(4 * PAGE)
            .build()?;
        match s.call::<i32, ()>("alloc", 10) {
            Err(Error::ResourceExhausted {
                kind: ResourceKind::Memory,
                limit,
                used,
            }) => assert_eq!((limit, used), (4 * PAGE, 11 * PAGE), "{}", backend.name()),
            other => panic!("{}: {other:?}", backend.name()),
        }
        assert_usable(&s, backend);
        // Within the limit, the same function succeeds.
        s.call::<i32, ()>("alloc", 3)?;
        // The refusal belongs to the call it happened in.
        s.call::<i32, ()>("alloc", 0)?;
    }
    Ok(())
}

#[test]
fn memory_limit_refuses_a_large_initial_memory() {
    for backend in backends() {
        match builder(backend, "(module (memory 8))")
            .memory_limit(4 * PAGE)
            .build()
        {
            Err(Error::ResourceExhausted {
                kind: ResourceKind::Memory,
                limit,
                used,
            }) => assert_eq!((limit, used), (4 * PAGE, 8 * PAGE), "{}", backend.name()),
            other => panic!("{}: {other:?}", backend.name()),
        }
    }
}

const TABLE: &str = r#"(table 1 funcref)
    (func (export "grow_table") (param i32) (result i32)
        (table.grow (ref.null func) (local.get 0)))
    (func (export "grow_table_or_die") (param i32)
        (if (i32.eq (table.grow (ref.null func) (local.get 0)) (i32.const -1))
            (then unreachable)))"#;

#[test]
fn table_limit() -> Result<(), Error> {
    for backend in backends() {
        let s = builder(backend, &module(TABLE))
            .max_table_elements(10)
            .build()?;
        assert_eq!(s.call::<i32, i32>("grow_table", 5)?, 1);
        assert_eq!(
            s.call::<i32, i32>("grow_table", 5)?,
            -1,
            "{}",
            backend.name()
        );
        match s.call::<i32, ()>("grow_table_or_die", 100) {
            Err(Error::ResourceExhausted {
                kind: ResourceKind::TableElements,
                limit,
                used,
            }) => assert_eq!((limit, used), (10, 106), "{}", backend.name()),
            other => panic!("{}: {other:?}", backend.name()),
        }
        assert_usable(&s, backend);
    }
    Ok(())
}

const RECURSE: &str = r#"(func $down (export "recurse") (param i32) (result i32)
    (i32.add (call $down (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))"#;

#[test]
fn stack_overflow_is_a_stack_limit() -> Result<(), Error> {
    for backend in backends() {
        for stack in [None, Some(64 << 10)] {
            let mut b = builder(backend, &module(RECURSE));
            if let Some(bytes) = stack {
                b = b.max_wasm_stack(bytes);
            }
            let s = b.build()?;
            match s.call::<i32, i32>("recurse", 0) {
                Err(Error::ResourceExhausted {
                    kind: ResourceKind::Stack,
                    limit,
                    used,
                }) => {
                    let expected = stack.unwrap_or(512 << 10) as u64;
                    assert_eq!((limit, used), (expected, expected), "{}", backend.name());
                }
                other => panic!("{}: {other:?}", backend.name()),
            }
            assert_usable(&s, backend);
        }
    }
    Ok(())
}

#[test]
fn a_start_function_runs_under_the_limits() {
    for backend in backends() {
        let wat = r#"(module (func $start (loop (br 0))) (start $start))"#;
        match builder(backend, wat).fuel(5_000).build() {
            Err(Error::ResourceExhausted {
                kind: ResourceKind::Fuel,
                ..
            }) => {}
            other => panic!("{}: {other:?}", backend.name()),
        }
        match builder(backend, wat)
            .timeout(Duration::from_millis(50))
            .build()
        {
            Err(Error::ResourceExhausted {
                kind: ResourceKind::Time,
                ..
            }) => {}
            other => panic!("{}: {other:?}", backend.name()),
        }
    }
}

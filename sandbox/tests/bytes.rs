//! Bytes and strings in and out through the guest's allocator, and bounds-checked
//! memory access: errors, never traps or panics.

mod common;

use common::{backends, builder};
use kiln_sandbox::{Error, Sandbox};

/// A bump allocator, `reverse` (answers a new buffer, packed in an i64), `echo2`
/// (answers its input buffer as two i32s), `dealloc` counting its calls, and `bad_ptr`
/// answering a buffer past the memory's end.
const GUEST: &str = r#"(module
    (memory (export "memory") 1)
    (global $top (mut i32) (i32.const 1024))
    (global $freed (mut i32) (i32.const 0))
    (func $alloc (export "alloc") (param $n i32) (result i32)
        (global.get $top)
        (global.set $top (i32.add (global.get $top) (local.get $n))))
    (func (export "dealloc") (param i32 i32)
        (global.set $freed (i32.add (global.get $freed) (i32.const 1))))
    (func (export "freed") (result i32) (global.get $freed))
    (func (export "reverse") (param $p i32) (param $n i32) (result i64)
        (local $out i32) (local $i i32)
        (local.set $out (call $alloc (local.get $n)))
        (block $done (loop $next
            (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
            (i32.store8
                (i32.add (local.get $out) (local.get $i))
                (i32.load8_u (i32.sub
                    (i32.add (local.get $p) (local.get $n))
                    (i32.add (local.get $i) (i32.const 1)))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $next)))
        (i64.or (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32))
                (i64.extend_i32_u (local.get $n))))
    (func (export "echo2") (param i32 i32) (result i32 i32) (local.get 0) (local.get 1))
    (func (export "bad_ptr") (param i32 i32) (result i64)
        (i64.const 0x0000FFF000000100))
    (func (export "invalid_utf8") (param i32 i32) (result i64)
        (i32.store8 (i32.const 16) (i32.const 0xff))
        (i64.const 0x0000001000000001))
    (func (export "wrong") (param i32) (result i32) (local.get 0)))"#;

#[test]
fn bytes_and_strings_round_trip() -> Result<(), Error> {
    for backend in backends() {
        let s = builder(backend, GUEST).fuel(10_000_000).build()?;
        let input: Vec<u8> = (0..=255u8).collect();
        let mut reversed = input.clone();
        reversed.reverse();
        assert_eq!(
            s.call_bytes("reverse", &input)?,
            reversed,
            "{}",
            backend.name()
        );
        assert_eq!(s.call_string("reverse", "stressed")?, "desserts");
        // Reversing bytes breaks multi-byte characters: not UTF-8.
        assert!(matches!(s.call_string("reverse", "é"), Err(Error::Abi(_))));
        assert_eq!(s.call_bytes("reverse", &[])?, Vec::<u8>::new());
        // The multi-value convention, and a large input.
        let big = vec![7u8; 40_000];
        assert_eq!(s.call_bytes("echo2", &big)?, big);
        // Each output buffer was handed to `dealloc`.
        assert_eq!(s.call::<(), i32>("freed", ())?, 5, "{}", backend.name());
    }
    Ok(())
}

#[test]
fn memory_reads_and_writes_are_bounds_checked() -> Result<(), Error> {
    for backend in backends() {
        let s = builder(backend, GUEST).build()?;
        assert_eq!(s.memory_size()?, 65536);
        s.write_memory(65532, b"edge")?;
        assert_eq!(s.read_memory(65532, 4)?, b"edge");
        assert_eq!(s.read_memory(65536, 0)?, b"");
        for (offset, len) in [(65533, 4), (65537, 0), (u64::MAX, 2), (0, u64::MAX)] {
            match s.read_memory(offset, len) {
                Err(Error::OutOfBounds {
                    offset: o,
                    len: l,
                    memory_size: 65536,
                }) => assert_eq!((o, l), (offset, len)),
                other => panic!("{}: read({offset}, {len}): {other:?}", backend.name()),
            }
        }
        match s.write_memory(65535, b"xy") {
            Err(Error::OutOfBounds {
                offset: 65535,
                len: 2,
                memory_size: 65536,
            }) => {}
            other => panic!("{}: {other:?}", backend.name()),
        }
        // Nothing was written.
        assert_eq!(s.read_memory(65532, 4)?, b"edge");
    }
    Ok(())
}

#[test]
fn a_guest_answering_a_bad_buffer_is_an_error() -> Result<(), Error> {
    for backend in backends() {
        let s = builder(backend, GUEST).build()?;
        match s.call_bytes("bad_ptr", b"x") {
            Err(Error::OutOfBounds {
                offset: 0xFFF0,
                len: 0x100,
                memory_size: 65536,
            }) => {}
            other => panic!("{}: {other:?}", backend.name()),
        }
        match s.call_string("invalid_utf8", "x") {
            Err(Error::Abi(m)) => assert!(m.contains("not UTF-8"), "{m}"),
            other => panic!("{}: {other:?}", backend.name()),
        }
        // Bytes are still fine.
        assert_eq!(s.call_bytes("invalid_utf8", b"x")?, [0xff]);
        match s.call_bytes("wrong", b"x") {
            Err(Error::Type(m)) => assert!(m.contains("(i32) -> (i32)"), "{m}"),
            other => panic!("{}: {other:?}", backend.name()),
        }
        match s.call_bytes("missing", b"x") {
            Err(Error::Export(m)) => assert!(m.contains("`missing`"), "{m}"),
            other => panic!("{}: {other:?}", backend.name()),
        }
    }
    Ok(())
}

#[test]
fn the_convention_needs_an_allocator_and_a_memory() -> Result<(), Error> {
    let no_alloc = r#"(module (memory (export "memory") 1)
        (func (export "f") (param i32 i32) (result i64) (i64.const 0)))"#;
    match Sandbox::builder()
        .bytes(no_alloc)
        .build()?
        .call_bytes("f", b"x")
    {
        Err(Error::Export(m)) => assert!(m.contains("alloc"), "{m}"),
        other => panic!("{other:?}"),
    }
    let no_memory = r#"(module
        (func (export "alloc") (param i32) (result i32) (i32.const 8))
        (func (export "f") (param i32 i32) (result i64) (i64.const 0)))"#;
    let s = Sandbox::builder().bytes(no_memory).build()?;
    match s.call_bytes("f", b"x") {
        Err(Error::Export(m)) => assert!(m.contains("`memory`"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(s.read_memory(0, 1), Err(Error::Export(_))));
    // A null allocation, from `malloc`; `cabi_realloc` as the allocator.
    let null = r#"(module (memory (export "memory") 1)
        (func (export "malloc") (param i32) (result i32) (i32.const 0))
        (func (export "f") (param i32 i32) (result i64) (i64.const 0)))"#;
    match Sandbox::builder()
        .bytes(null)
        .build()?
        .call_bytes("f", b"x")
    {
        Err(Error::Abi(m)) => assert!(m.contains("null"), "{m}"),
        other => panic!("{other:?}"),
    }
    let realloc = r#"(module (memory (export "memory") 1)
        (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 64))
        (func (export "f") (param $p i32) (param $n i32) (result i32 i32)
            (local.get $p) (local.get $n)))"#;
    assert_eq!(
        Sandbox::builder()
            .bytes(realloc)
            .build()?
            .call_string("f", "abc")?,
        "abc"
    );
    Ok(())
}

#[test]
fn a_trap_in_the_allocator_is_reported_as_a_trap() -> Result<(), Error> {
    let wat = r#"(module (memory (export "memory") 1)
        (func (export "alloc") (param i32) (result i32) (unreachable))
        (func (export "f") (param i32 i32) (result i64) (i64.const 0)))"#;
    let s = Sandbox::builder().bytes(wat).build()?;
    assert_eq!(
        s.call_bytes("f", b"x").err().and_then(|e| e.trap_code()),
        Some(kiln_sandbox::TrapCode::Unreachable)
    );
    Ok(())
}

//! Traps, malformed modules and refused imports map onto the same `Error` variants on
//! every backend, and leave the sandbox usable.

mod common;

use common::{assert_usable, backends, builder, module, sandbox};
use kiln_sandbox::{Error, TrapCode};

const TRAPS: &str = r#"(memory 1)
    (func $inner (unreachable))
    (func $outer (export "boom") (call $inner))
    (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
    (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
    (func (export "trunc") (param f32) (result i32) (i32.trunc_f32_s (local.get 0)))
    (table 1 funcref)
    (func (export "null_call") (call_indirect (i32.const 0)))"#;

fn trap(result: Result<impl std::fmt::Debug, Error>, backend: &str) -> (TrapCode, Vec<String>) {
    match result {
        Err(Error::Trap { code, backtrace }) => (code, backtrace),
        other => panic!("{backend}: expected a trap, got {other:?}"),
    }
}

#[test]
fn traps_carry_their_code_and_backtrace() {
    for backend in backends() {
        let name = backend.name();
        let s = sandbox(backend, &module(TRAPS));
        let (code, backtrace) = trap(s.call::<(), ()>("boom", ()), name);
        assert_eq!(code, TrapCode::Unreachable, "{name}");
        assert_eq!(backtrace, vec!["m!inner", "m!outer"], "{name}");
        assert_usable(&s, backend);

        let (code, _) = trap(s.call::<(i32, i32), i32>("div", (1, 0)), name);
        assert_eq!(code, TrapCode::IntegerDivisionByZero, "{name}");
        let (code, _) = trap(s.call::<(i32, i32), i32>("div", (i32::MIN, -1)), name);
        assert_eq!(code, TrapCode::IntegerOverflow, "{name}");
        let (code, _) = trap(s.call::<i32, i32>("load", 65534), name);
        assert_eq!(code, TrapCode::MemoryOutOfBounds, "{name}");
        let (code, _) = trap(s.call::<f32, i32>("trunc", f32::NAN), name);
        assert_eq!(code, TrapCode::BadConversionToInteger, "{name}");
        let (code, _) = trap(s.call::<(), ()>("null_call", ()), name);
        assert_eq!(code, TrapCode::IndirectCallToNull, "{name}");
        assert_usable(&s, backend);
        assert_eq!(s.call::<(i32, i32), i32>("div", (9, 3)).ok(), Some(3));
    }
}

#[test]
fn trap_display_shows_the_backtrace() {
    for backend in backends() {
        let s = sandbox(backend, &module(TRAPS));
        let e = s.call::<(), ()>("boom", ()).err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("wasm trap: unreachable\nwasm backtrace:\n    0: m!inner\n    1: m!outer"),
            "{}",
            backend.name()
        );
    }
}

#[test]
fn a_missing_import_is_a_link_error_naming_it() {
    for backend in backends() {
        let wat = r#"(module
            (import "env" "host_secret" (func (result i32)))
            (import "env" "table" (table 1 funcref)))"#;
        match builder(backend, wat).build() {
            Err(Error::Link(m)) => {
                assert!(m.contains("`env::host_secret`"), "{}: {m}", backend.name());
                assert!(m.contains("`env::table`"), "{}: {m}", backend.name());
            }
            other => panic!("{}: {other:?}", backend.name()),
        }
    }
}

#[test]
fn wasi_imports_need_wasi() {
    for backend in backends() {
        let wat = r#"(module (import "wasi_snapshot_preview1" "fd_write"
            (func (param i32 i32 i32 i32) (result i32))))"#;
        match builder(backend, wat).build() {
            Err(Error::Link(m)) => {
                assert!(m.contains("fd_write") && m.contains(".wasi(true)"), "{m}")
            }
            other => panic!("{}: {other:?}", backend.name()),
        }
    }
}

#[test]
fn a_mistyped_wasi_import_is_a_link_error() {
    for backend in backends() {
        let wat = r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32))))"#;
        match builder(backend, wat).wasi(true).build() {
            Err(Error::Link(m)) => assert!(m.contains("fd_write"), "{}: {m}", backend.name()),
            other => panic!("{}: {other:?}", backend.name()),
        }
    }
}

#[test]
fn malformed_modules_are_module_errors() {
    let inputs: [&[u8]; 4] = [
        b"\0asm\x01\0\0\0\x01\xff\xff",
        b"\0asm\x02\0\0\0",
        b"this is not wasm",
        b"(module (func (result i32) (i64.const 1)))",
    ];
    for backend in backends() {
        for bytes in inputs {
            match common::builder(backend, "").bytes(bytes).build() {
                Err(Error::Module(m)) => assert!(!m.is_empty()),
                other => panic!(
                    "{}: {:?} gave {other:?}",
                    backend.name(),
                    String::from_utf8_lossy(bytes)
                ),
            }
        }
    }
}

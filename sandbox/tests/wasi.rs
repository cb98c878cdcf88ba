//! WASI capabilities: nothing unless granted; output captured.

mod common;

use common::{backends, builder};
use kiln_sandbox::Error;

/// A command printing to stdout and stderr, and exports to probe files, arguments,
/// the environment and exit.
const GUEST: &str = r#"(module
    (import "wasi_snapshot_preview1" "fd_write"
        (func $fd_write (param i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "path_open"
        (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "args_sizes_get"
        (func $args_sizes_get (param i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "environ_sizes_get"
        (func $environ_sizes_get (param i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
    (memory (export "memory") 1)
    (data (i32.const 16) "hello sandbox\n")
    (data (i32.const 32) "oops\n")
    (data (i32.const 64) "secret.txt")
    (data (i32.const 80) "new.txt")
    (func $write (param $fd i32) (param $ptr i32) (param $len i32)
        (i32.store (i32.const 0) (local.get $ptr))
        (i32.store (i32.const 4) (local.get $len))
        (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))
    (func (export "_start")
        (call $write (i32.const 1) (i32.const 16) (i32.const 14))
        (call $write (i32.const 2) (i32.const 32) (i32.const 5)))
    ;; path_open(dirfd, lookup 0, "secret.txt", oflags 0, rights fd_read) -> errno
    (func (export "open") (param $dir i32) (result i32)
        (call $path_open (local.get $dir) (i32.const 0) (i32.const 64) (i32.const 10)
            (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 128)))
    ;; path_open(dirfd, lookup 0, "new.txt", O_CREAT, rights fd_write) -> errno
    (func (export "create") (param $dir i32) (result i32)
        (call $path_open (local.get $dir) (i32.const 0) (i32.const 80) (i32.const 7)
            (i32.const 1) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 128)))
    (func (export "argc") (result i32)
        (drop (call $args_sizes_get (i32.const 200) (i32.const 204)))
        (i32.load (i32.const 200)))
    (func (export "envc") (result i32)
        (drop (call $environ_sizes_get (i32.const 200) (i32.const 204)))
        (i32.load (i32.const 200)))
    (func (export "exit") (param i32) (call $proc_exit (local.get 0))))"#;

const EBADF: i32 = 8;

#[test]
fn stdout_and_stderr_are_captured() -> Result<(), Error> {
    for backend in backends() {
        let s = builder(backend, GUEST).wasi(true).build()?;
        assert_eq!(s.run()?, 0);
        assert_eq!(s.stdout(), b"hello sandbox\n", "{}", backend.name());
        assert_eq!(s.stderr(), b"oops\n", "{}", backend.name());
        assert_eq!(s.run()?, 0);
        assert_eq!(s.stdout(), b"hello sandbox\nhello sandbox\n");
    }
    Ok(())
}

#[test]
fn without_a_preopen_no_file_can_be_opened() -> Result<(), Error> {
    for backend in backends() {
        let s = builder(backend, GUEST).wasi(true).build()?;
        for fd in [3, 4, 0, 1] {
            let errno = s.call::<i32, i32>("open", fd)?;
            assert_ne!(errno, 0, "{}: fd {fd} opened a file", backend.name());
        }
        assert_eq!(s.call::<i32, i32>("open", 3)?, EBADF, "{}", backend.name());
    }
    Ok(())
}

#[test]
fn a_read_only_preopen_can_be_read_but_not_written() -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("secret.txt"), "42")?;
    for backend in backends() {
        let s = builder(backend, GUEST)
            .wasi(true)
            .preopen_dir(dir.path(), "/data", true)
            .build()?;
        assert_eq!(s.call::<i32, i32>("open", 3)?, 0, "{}", backend.name());
        assert_ne!(s.call::<i32, i32>("create", 3)?, 0, "{}", backend.name());
        assert!(!dir.path().join("new.txt").exists(), "{}", backend.name());
    }
    for backend in backends() {
        let s = builder(backend, GUEST)
            .wasi(true)
            .preopen_dir(dir.path(), "/data", false)
            .build()?;
        assert_eq!(s.call::<i32, i32>("create", 3)?, 0, "{}", backend.name());
        assert!(dir.path().join("new.txt").exists(), "{}", backend.name());
        std::fs::remove_file(dir.path().join("new.txt"))?;
    }
    Ok(())
}

#[test]
fn the_guest_sees_only_the_args_and_env_given() -> Result<(), Error> {
    for backend in backends() {
        let s = builder(backend, GUEST).wasi(true).build()?;
        assert_eq!(s.call::<(), i32>("argc", ())?, 0);
        assert_eq!(s.call::<(), i32>("envc", ())?, 0, "{}", backend.name());
        let s = builder(backend, GUEST)
            .wasi(true)
            .arg("guest.wasm")
            .arg("--flag")
            .env("LANG", "C")
            .build()?;
        assert_eq!(s.call::<(), i32>("argc", ())?, 2);
        assert_eq!(s.call::<(), i32>("envc", ())?, 1);
    }
    Ok(())
}

#[test]
fn proc_exit_is_the_exit_code() -> Result<(), Error> {
    const EXITS: &str = r#"(module
        (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
        (memory (export "memory") 1)
        (func (export "_start") (call $proc_exit (i32.const 3)))
        (func (export "exit") (param i32) (call $proc_exit (local.get 0))))"#;
    for backend in backends() {
        let s = builder(backend, EXITS).wasi(true).build()?;
        assert_eq!(s.run()?, 3, "{}", backend.name());
        match s.call::<i32, ()>("exit", 7) {
            Err(Error::Exit(7)) => {}
            other => panic!("{}: {other:?}", backend.name()),
        }
        assert_eq!(s.run()?, 3, "{}: usable after exit", backend.name());
    }
    Ok(())
}

#[test]
fn capabilities_without_wasi_are_refused() {
    let cases = [
        builder(Default::default(), GUEST).arg("x"),
        builder(Default::default(), GUEST).env("K", "V"),
        builder(Default::default(), GUEST).preopen_dir(".", ".", true),
    ];
    for b in cases {
        match b.build() {
            Err(Error::Config(m)) => assert!(m.contains(".wasi(true)"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_missing_preopen_directory_is_an_io_error() {
    for backend in backends() {
        match builder(backend, GUEST)
            .wasi(true)
            .preopen_dir("/definitely/not/here", "/data", true)
            .build()
        {
            Err(Error::Io(e)) => assert!(e.to_string().contains("/definitely/not/here"), "{e}"),
            other => panic!("{}: {other:?}", backend.name()),
        }
    }
}

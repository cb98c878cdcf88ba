//! WASI capabilities: nothing unless granted; output captured.

mod common;

use common::{backends, builder};
use kiln_sandbox::{Error, Sandbox};

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
        // A command runs once.
        assert!(
            matches!(s.run(), Err(Error::AlreadyRan)),
            "{}",
            backend.name()
        );
        assert_eq!(s.stdout(), b"hello sandbox\n", "{}", backend.name());
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
        match s.call::<i32, ()>("exit", 4) {
            Err(Error::Exit(4)) => {}
            other => panic!("{}: usable after exit: {other:?}", backend.name()),
        }
    }
    Ok(())
}

#[test]
fn capabilities_without_wasi_are_refused() {
    let cases = [
        builder(Default::default(), GUEST).arg("x"),
        builder(Default::default(), GUEST).env("K", "V"),
        builder(Default::default(), GUEST).preopen_dir(".", ".", true),
        builder(Default::default(), GUEST).stdin("input"),
        builder(Default::default(), GUEST).args(["a", "b"]),
        builder(Default::default(), GUEST).envs([("K", "V")]),
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

/// A command that copies stdin to stdout, and exports that copy the arguments' and
/// the environment's strings to 3000 (returning their total size).
const CAT: &str = r#"(module
    (import "wasi_snapshot_preview1" "fd_read"
        (func $fd_read (param i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "fd_write"
        (func $fd_write (param i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "args_sizes_get"
        (func $args_sizes_get (param i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "environ_sizes_get"
        (func $environ_sizes_get (param i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "environ_get"
        (func $environ_get (param i32 i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "_start")
        (local $n i32)
        (loop $more
            ;; iovec at 0: 4096 bytes at 8192; bytes read at 16.
            (i32.store (i32.const 0) (i32.const 8192))
            (i32.store (i32.const 4) (i32.const 4096))
            (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 16)))
            (local.set $n (i32.load (i32.const 16)))
            (if (local.get $n) (then
                (i32.store (i32.const 4) (local.get $n))
                (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))
                (br $more)))))
    (func (export "args") (result i32)
        (drop (call $args_sizes_get (i32.const 200) (i32.const 204)))
        (drop (call $args_get (i32.const 2000) (i32.const 3000)))
        (i32.load (i32.const 204)))
    (func (export "env") (result i32)
        (drop (call $environ_sizes_get (i32.const 200) (i32.const 204)))
        (drop (call $environ_get (i32.const 2000) (i32.const 3000)))
        (i32.load (i32.const 204))))"#;

#[test]
fn stdin_is_the_bytes_given() -> Result<(), Error> {
    for backend in backends() {
        let input: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let s = builder(backend, CAT).wasi(true).stdin(&input).build()?;
        assert_eq!(s.run()?, 0, "{}", backend.name());
        assert_eq!(s.stdout(), input, "{}", backend.name());
        // A string works too; without `.stdin`, stdin is empty.
        let s = builder(backend, CAT).wasi(true).stdin("line\n").build()?;
        s.run()?;
        assert_eq!(s.stdout(), b"line\n", "{}", backend.name());
        let s = builder(backend, CAT).wasi(true).build()?;
        s.run()?;
        assert_eq!(s.stdout(), b"", "{}", backend.name());
    }
    Ok(())
}

#[test]
fn args_and_envs_reach_the_guest_in_order() -> Result<(), Error> {
    for backend in backends() {
        let s = builder(backend, CAT)
            .wasi(true)
            .arg("prog")
            .args(["one", "two"])
            .env("A", "1")
            .envs([("B", "2"), ("C", "3")])
            .build()?;
        let size = s.call::<(), u32>("args", ())?;
        assert_eq!(s.read_memory(3000, size.into())?, b"prog\0one\0two\0");
        let size = s.call::<(), u32>("env", ())?;
        assert_eq!(
            s.read_memory(3000, size.into())?,
            b"A=1\0B=2\0C=3\0",
            "{}",
            backend.name()
        );
    }
    Ok(())
}

#[test]
fn a_command_runs_once() -> Result<(), Error> {
    for backend in backends() {
        let s = builder(backend, CAT).wasi(true).stdin("x").build()?;
        assert_eq!(s.run()?, 0);
        for _ in 0..2 {
            match s.run() {
                Err(e @ Error::AlreadyRan) => assert!(e.to_string().contains("at most once")),
                other => panic!("{}: {other:?}", backend.name()),
            }
        }
        // `_start` through `call` is the same entry point.
        assert!(matches!(
            s.call::<(), ()>("_start", ()),
            Err(Error::AlreadyRan)
        ));
        // Other exports still work.
        assert_eq!(s.call::<(), u32>("args", ())?, 0, "{}", backend.name());
        assert_eq!(s.stdout(), b"x");
    }
    // A call of `_start` with the wrong types never reached the guest: not a run.
    let s = Sandbox::builder()
        .bytes(r#"(module (func (export "_start")))"#)
        .build()?;
    assert!(matches!(
        s.call::<i32, ()>("_start", 1),
        Err(Error::Type(_))
    ));
    assert_eq!(s.run()?, 0);
    assert!(matches!(s.run(), Err(Error::AlreadyRan)));
    // A failed first run counts as the run.
    let trapping = r#"(module (func (export "_start") unreachable))"#;
    let s = Sandbox::builder().bytes(trapping).build()?;
    assert!(matches!(s.run(), Err(Error::Trap { .. })));
    assert!(matches!(s.run(), Err(Error::AlreadyRan)));
    Ok(())
}

//! Hostile guests: bad pointers, absurd iovec counts and lengths, descriptors never
//! opened or already closed, descriptor exhaustion, writing to a closed stdout in a
//! loop, `proc_exit` versus traps, and what the guest can see of arguments and
//! environment.

mod common;

use common::{errno::*, i, oflags::DIRECTORY, rights::FD_READ, Guest};
use kiln::{Engine, Linker, Module, Store, Val};
use kiln_wasi::{
    add_to_linker, I32Exit, Output, OutputPipe, Stdin, WasiCtx, WasiCtxBuilder, MAX_FDS,
};

/// A guest whose stdout is a pipe, with one page of memory unless said otherwise.
fn piped(pages: u32) -> (Guest, OutputPipe) {
    let out = OutputPipe::new();
    let ctx = WasiCtxBuilder::new()
        .stdout(Output::Pipe(out.clone()))
        .build();
    (Guest::with_pages(ctx, pages), out)
}

const END: u32 = 65536;

#[test]
fn bad_pointers_give_efault() {
    let (mut g, out) = piped(1);
    // iovec array out of bounds, or straddling the end.
    assert_eq!(
        g.call("fd_write", &[i(1), i(0xFFFF_FFF0), i(1), i(0)]),
        FAULT
    );
    assert_eq!(g.call("fd_write", &[i(1), i(END - 4), i(1), i(0)]), FAULT);
    // A buffer past the end.
    g.write(16, &(END - 10).to_le_bytes());
    g.write(20, &100u32.to_le_bytes());
    assert_eq!(g.call("fd_write", &[i(1), i(16), i(1), i(24)]), FAULT);
    assert_eq!(g.call("fd_read", &[i(0), i(16), i(1), i(24)]), FAULT);
    // A good buffer but the result pointer out of bounds: nothing is written.
    g.write(2048, b"hello");
    g.write(16, &2048u32.to_le_bytes());
    g.write(20, &5u32.to_le_bytes());
    assert_eq!(g.call("fd_write", &[i(1), i(16), i(1), i(END - 2)]), FAULT);
    assert_eq!(out.contents(), b"", "no bytes move before EFAULT");
    // Every other pointer-taking function.
    let bad = i(u32::MAX - 3);
    assert_eq!(g.call("args_sizes_get", &[bad, i(0)]), FAULT);
    assert_eq!(g.call("environ_sizes_get", &[i(0), bad]), FAULT);
    assert_eq!(
        g.call("clock_time_get", &[i(0), Val::I64(0), i(END - 7)]),
        FAULT
    );
    assert_eq!(g.call("clock_res_get", &[i(1), bad]), FAULT);
    assert_eq!(g.call("random_get", &[i(END - 1), i(2)]), FAULT);
    assert_eq!(g.call("random_get", &[bad, i(u32::MAX)]), FAULT);
    assert_eq!(g.call("fd_fdstat_get", &[i(1), i(END - 23)]), FAULT);
    assert_eq!(g.call("fd_filestat_get", &[i(1), i(END - 63)]), FAULT);
    assert_eq!(g.call("fd_seek", &[i(1), Val::I64(0), i(0), bad]), FAULT);
    assert_eq!(g.call("fd_tell", &[i(1), bad]), FAULT);
    assert_eq!(
        g.call(
            "path_open",
            &[
                i(3),
                i(0),
                bad,
                i(10),
                i(0),
                Val::I64(0),
                Val::I64(0),
                i(0),
                i(0)
            ]
        ),
        FAULT
    );
    assert_eq!(
        g.call(
            "path_open",
            &[
                i(3),
                i(0),
                i(0),
                i(u32::MAX),
                i(0),
                Val::I64(0),
                Val::I64(0),
                i(0),
                i(0)
            ]
        ),
        NAMETOOLONG,
        "a path longer than PATH_MAX is refused before it is read"
    );
    assert_eq!(
        g.call("poll_oneoff", &[i(0), i(1024), i(u32::MAX), i(0)]),
        INVAL,
        "more subscriptions than allowed"
    );
    assert_eq!(
        g.call("poll_oneoff", &[i(0), i(1024), i(4096), i(0)]),
        FAULT
    );
    assert_eq!(
        g.call("poll_oneoff", &[i(END - 47), i(0), i(1), i(0)]),
        FAULT
    );
    assert_eq!(
        g.call("fd_prestat_get", &[i(1), bad]),
        BADF,
        "fd checked first"
    );
}

#[test]
fn absurd_iovec_counts_and_lengths_are_refused() {
    let (mut g, out) = piped(1);
    // More entries than IOV_MAX: refused before the array is even read.
    for count in [u32::MAX, u32::MAX - 1, 0x2000_0000, 0x1000_0001, 8193, 1025] {
        assert_eq!(
            g.call("fd_write", &[i(1), i(0), i(count), i(0)]),
            INVAL,
            "count {count}"
        );
        assert_eq!(
            g.call("fd_read", &[i(0), i(0), i(count), i(0)]),
            INVAL,
            "count {count}"
        );
        assert_eq!(
            g.call("fd_pwrite", &[i(1), i(0), i(count), Val::I64(0), i(0)]),
            INVAL
        );
    }
    // At most IOV_MAX, but the array runs past the end of memory.
    assert_eq!(g.call("fd_write", &[i(1), i(END - 8), i(2), i(0)]), FAULT);
    // One buffer of length u32::MAX, or one whose end wraps around.
    g.write(16, &0u32.to_le_bytes());
    g.write(20, &u32::MAX.to_le_bytes());
    assert_eq!(g.call("fd_write", &[i(1), i(16), i(1), i(24)]), FAULT);
    g.write(16, &u32::MAX.to_le_bytes());
    g.write(20, &2u32.to_le_bytes());
    assert_eq!(g.call("fd_write", &[i(1), i(16), i(1), i(24)]), FAULT);
    assert_eq!(out.contents(), b"");

    // 70,000 iovecs each covering a 64 KiB buffer: every one is in bounds but the total
    // (4.6 GB) overflows the u32 result. Refused without writing (or allocating) it.
    let (mut g, out) = piped(16);
    let n = 70_000u32;
    let mut iovs = Vec::with_capacity(n as usize * 8);
    for _ in 0..n {
        iovs.extend_from_slice(&0u32.to_le_bytes());
        iovs.extend_from_slice(&65536u32.to_le_bytes());
    }
    g.write(65536, &iovs);
    assert_eq!(g.call("fd_write", &[i(1), i(65536), i(n), i(0)]), INVAL);
    assert_eq!(g.call("fd_read", &[i(0), i(65536), i(n), i(0)]), INVAL);
    assert_eq!(out.contents().len(), 0);
    // 65,535 of them fit (4,294,901,760 bytes): that is allowed, but let the count be
    // small enough to keep the test quick.
    assert_eq!(g.call("fd_write", &[i(1), i(65536), i(3), i(0)]), SUCCESS);
    assert_eq!(g.u32_at(0), 3 * 65536);
}

#[test]
fn unopened_and_closed_fds_give_ebadf() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), "x").unwrap();
    let ctx = WasiCtxBuilder::new()
        .preopened_dir(dir.path(), ".", kiln_wasi::DirPerms::ReadWrite)
        .unwrap()
        .build();
    let mut g = Guest::new(ctx);
    for fd in [4, 5, 100, 1023, 1024, 65536, u32::MAX, 0x8000_0000] {
        assert_eq!(g.fd_write(fd, b"x").0, BADF, "fd_write {fd}");
        assert_eq!(g.fd_read(fd, 1).0, BADF, "fd_read {fd}");
        assert_eq!(g.call("fd_close", &[i(fd)]), BADF);
        assert_eq!(g.call("fd_fdstat_get", &[i(fd), i(0)]), BADF);
        assert_eq!(g.call("fd_filestat_get", &[i(fd), i(0)]), BADF);
        assert_eq!(g.call("fd_prestat_get", &[i(fd), i(0)]), BADF);
        assert_eq!(g.call("fd_seek", &[i(fd), Val::I64(0), i(0), i(0)]), BADF);
        assert_eq!(g.call("fd_sync", &[i(fd)]), BADF);
        assert_eq!(
            g.call("fd_advise", &[i(fd), Val::I64(0), Val::I64(0), i(0)]),
            BADF
        );
        assert_eq!(g.call("fd_renumber", &[i(fd), i(3)]), BADF);
        assert_eq!(g.call("fd_renumber", &[i(3), i(fd)]), BADF);
        assert_eq!(
            g.call("fd_readdir", &[i(fd), i(0), i(64), Val::I64(0), i(128)]),
            BADF
        );
        assert_eq!(g.call("sock_shutdown", &[i(fd), i(0)]), BADF);
    }
    // A file, used after closing.
    let fd = g.open(3, "f", 0, FD_READ, 0).expect("open");
    assert_eq!(fd, 4);
    assert_eq!(g.call("fd_close", &[i(fd)]), SUCCESS);
    assert_eq!(g.fd_read(fd, 1).0, BADF);
    assert_eq!(g.call("fd_close", &[i(fd)]), BADF);
    // The pre-open, after closing.
    assert_eq!(g.call("fd_close", &[i(3)]), SUCCESS);
    assert_eq!(g.open(3, "f", 0, FD_READ, 0), Err(BADF));
    assert_eq!(g.call("fd_prestat_get", &[i(3), i(0)]), BADF);
    // stdout, after closing: writes fail, the number is free again.
    assert_eq!(g.call("fd_close", &[i(1)]), SUCCESS);
    assert_eq!(g.fd_write(1, b"x").0, BADF);
    assert_eq!(g.call("fd_fdstat_get", &[i(1), i(0)]), BADF);
    // Sockets: none, so an open descriptor is not one.
    assert_eq!(g.call("sock_accept", &[i(0), i(0), i(0)]), NOTSUP);
    assert_eq!(g.call("sock_send", &[i(2), i(0), i(0), i(0), i(0)]), NOTSUP);
    assert_eq!(
        g.call("sock_recv", &[i(0), i(0), i(0), i(0), i(0), i(0)]),
        NOTSUP
    );
    assert_eq!(g.call("proc_raise", &[i(9)]), NOSYS);
}

#[test]
fn exhausting_the_fd_table_gives_emfile() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = WasiCtxBuilder::new()
        .preopened_dir(dir.path(), ".", kiln_wasi::DirPerms::ReadOnly)
        .unwrap()
        .build();
    let mut g = Guest::new(ctx);
    let mut opened = Vec::new();
    loop {
        match g.open(3, ".", DIRECTORY, FD_READ, 0) {
            Ok(fd) => opened.push(fd),
            Err(e) => {
                assert_eq!(e, MFILE);
                break;
            }
        }
        assert!(opened.len() <= MAX_FDS as usize, "no limit");
    }
    assert_eq!(opened.len(), MAX_FDS as usize - 4);
    assert_eq!(opened.last(), Some(&(MAX_FDS - 1)));
    assert_eq!(g.open(3, ".", DIRECTORY, FD_READ, 0), Err(MFILE));
    assert_eq!(g.call("fd_close", &[i(500)]), SUCCESS);
    assert_eq!(g.open(3, ".", DIRECTORY, FD_READ, 0), Ok(500));
    assert_eq!(g.open(3, ".", DIRECTORY, FD_READ, 0), Err(MFILE));
}

/// `_start` writes "spam" to stdout until `fd_write` fails, then exits with its errno;
/// after 1,000,000 writes it traps instead (the test would fail, not hang).
const SPAM: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "\10\00\00\00\04\00\00\00")
  (data (i32.const 16) "spam")
  (func (export "_start") (local $n i32) (local $e i32)
    (loop $again
      (local.set $e (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (if (local.get $e) (then (call $proc_exit (local.get $e))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $n) (i32.const 1000000))))
    unreachable))"#;

fn run_start(wat: &str, ctx: WasiCtx) -> Result<(), kiln::Error> {
    let engine = Engine::default();
    let module = Module::new(&engine, wat)?;
    let mut linker = Linker::<WasiCtx>::new(&engine);
    add_to_linker(&mut linker, |c| c)?;
    let mut store = Store::new(&engine, ctx);
    let instance = linker.instantiate(&mut store, &module)?;
    let start = instance.get_typed_func::<(), ()>(&store, "_start")?;
    start.call(&mut store, ())
}

fn exit_code(r: Result<(), kiln::Error>) -> i32 {
    let e = r.expect_err("the guest should exit");
    assert!(e.as_trap().is_none(), "a trap, not an exit: {e}");
    e.downcast_ref::<I32Exit>().expect("I32Exit").0
}

#[test]
fn spamming_a_closed_stdout_ends_cleanly() {
    // Configured closed.
    let ctx = WasiCtxBuilder::new().stdout(Output::Closed).build();
    assert_eq!(exit_code(run_start(SPAM, ctx)), BADF);
    // Closed by the guest first.
    let out = OutputPipe::new();
    let ctx = WasiCtxBuilder::new()
        .stdout(Output::Pipe(out.clone()))
        .build();
    let wat = SPAM
        .replace(
            "(memory (export \"memory\") 1)",
            "(import \"wasi_snapshot_preview1\" \"fd_close\" (func $fd_close (param i32) (result i32)))\n  (memory (export \"memory\") 1)",
        )
        .replace(
            "(local $n i32) (local $e i32)",
            "(local $n i32) (local $e i32) (drop (call $fd_close (i32.const 1)))",
        );
    assert_eq!(exit_code(run_start(&wat, ctx)), BADF);
    assert_eq!(out.contents(), b"");
    // A working stdout gets all million writes and then the trap.
    let out = OutputPipe::new();
    let ctx = WasiCtxBuilder::new()
        .stdout(Output::Pipe(out.clone()))
        .build();
    let e = run_start(SPAM, ctx).expect_err("trap");
    assert!(e.as_trap().is_some(), "{e}");
    assert!(e.downcast_ref::<I32Exit>().is_none());
    assert_eq!(out.contents().len(), 4_000_000);
}

#[test]
fn proc_exit_is_not_a_trap() {
    let wat = r#"(module
      (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
      (memory (export "memory") 1)
      (func (export "_start") (call $proc_exit (i32.const 7)) unreachable)
      (func (export "trap") unreachable))"#;
    assert_eq!(exit_code(run_start(wat, WasiCtx::default())), 7);
    let e = run_start(
        &wat.replace("\"_start\"", "\"x\"")
            .replace("\"trap\"", "\"_start\""),
        WasiCtx::default(),
    )
    .expect_err("trap");
    assert!(e.as_trap().is_some());
    assert!(e.downcast_ref::<I32Exit>().is_none());
    // Through the wrapper too, with the largest codes.
    let mut g = Guest::new(WasiCtx::default());
    let e = g.try_call("proc_exit", &[i(u32::MAX)]).expect_err("exit");
    assert_eq!(e.downcast_ref::<I32Exit>(), Some(&I32Exit(-1)));
    // The store stays usable after an exit.
    assert_eq!(g.call("sched_yield", &[]), SUCCESS);
}

#[test]
fn a_module_without_memory_gets_an_error_not_a_panic() {
    let wat = r#"(module
      (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
      (func (export "_start") (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#;
    let e = run_start(wat, WasiCtx::default()).expect_err("no memory");
    assert!(e.downcast_ref::<I32Exit>().is_none());
    assert!(e.to_string().contains("memory"), "{e}");
}

/// Reads the list written by `args_get`/`environ_get`.
fn list(g: &mut Guest, sizes: &str, get: &str) -> Vec<Vec<u8>> {
    assert_eq!(g.call(sizes, &[i(0), i(4)]), SUCCESS);
    let (n, size) = (g.u32_at(0), g.u32_at(4));
    assert_eq!(g.call(get, &[i(100), i(1000)]), SUCCESS);
    let buf = g.read(1000, size as usize);
    assert_eq!(buf.last(), Some(&0), "NUL-terminated");
    let items: Vec<Vec<u8>> = buf[..buf.len() - 1]
        .split(|&b| b == 0)
        .map(<[u8]>::to_vec)
        .collect();
    assert_eq!(items.len(), n as usize);
    for (k, item) in items.iter().enumerate() {
        let ptr = g.u32_at(100 + 4 * k as u32);
        assert_eq!(g.read(ptr, item.len()), *item, "pointer {k}");
    }
    items
}

#[test]
fn the_guest_sees_exactly_its_args_and_env() {
    let ctx = WasiCtxBuilder::new()
        .arg("prog.wasm")
        .args(["a b", "ünïcode", ""])
        .env("A", "1")
        .env("EMPTY", "")
        .env("WITH=EQUALS", "x=y")
        .build();
    let mut g = Guest::new(ctx);
    let args = list(&mut g, "args_sizes_get", "args_get");
    assert_eq!(args, [&b"prog.wasm"[..], b"a b", "ünïcode".as_bytes(), b""]);
    let env = list(&mut g, "environ_sizes_get", "environ_get");
    assert_eq!(env, [&b"A=1"[..], b"EMPTY=", b"WITH=EQUALS=x=y"]);
    // Nothing of the host's environment.
    let mut g = Guest::new(WasiCtxBuilder::new().build());
    assert!(std::env::var_os("PATH").is_some());
    assert_eq!(g.call("environ_sizes_get", &[i(0), i(4)]), SUCCESS);
    assert_eq!((g.u32_at(0), g.u32_at(4)), (0, 0));
    assert_eq!(g.call("args_sizes_get", &[i(0), i(4)]), SUCCESS);
    assert_eq!((g.u32_at(0), g.u32_at(4)), (0, 0));
    // A buffer too close to the end of memory faults instead of writing past it.
    let mut g = Guest::new(WasiCtxBuilder::new().arg("long argument").build());
    assert_eq!(g.call("args_get", &[i(0), i(END - 4)]), FAULT);
}

#[test]
fn stdin_from_bytes_then_eof() {
    let ctx = WasiCtxBuilder::new()
        .stdin(Stdin::Bytes(b"hello world".to_vec()))
        .build();
    let mut g = Guest::new(ctx);
    assert_eq!(g.fd_read(0, 5), (0, b"hello".to_vec()));
    assert_eq!(g.fd_read(0, 100), (0, b" world".to_vec()));
    assert_eq!(g.fd_read(0, 100), (0, Vec::new()));
    let mut g = Guest::new(WasiCtxBuilder::new().stdin(Stdin::Closed).build());
    assert_eq!(g.fd_read(0, 1).0, BADF);
    // The reserved number is not handed out by opens.
    assert_eq!(g.call("fd_close", &[i(0)]), SUCCESS);
    assert_eq!(g.fd_read(0, 1).0, BADF);
}

//! Every WASI call is bounded: it ends at the store's deadline, moves a bounded amount
//! of data, never makes the host hold more than a limit, and never writes past the
//! disk quota. Each test is a red-team reproducer and a variant of it.

mod common;

use common::{errno::*, i, oflags::CREAT, rights::RW, Guest};
use kiln::{Config, Engine, Module, TrapCode, Val};
use kiln_wasi::{DirPerms, DiskLimit, Output, OutputPipe, WasiCtx, WasiCtxBuilder};
use std::sync::mpsc;
use std::time::Duration;

/// Fails the test (instead of hanging the suite) if `f` has not returned after a
/// minute: what these tests check is that calls end at all.
fn finishes<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the call did not end: a host call outlived the store's deadline")
}

/// A guest with epoch interruption on and `timeout` as its store's timeout.
fn guest_with_timeout(ctx: WasiCtx, timeout: Duration) -> Guest {
    let engine = Engine::new(Config::new().epoch_interruption(true)).expect("engine");
    let module = Module::new(&engine, common::wrapper_wat(1)).expect("wrapper");
    let mut g = Guest::instantiate(&engine, &module, ctx);
    g.store.set_timeout(timeout).expect("timeout");
    g
}

fn expect_interrupted(r: Result<i32, kiln::Error>, what: &str) {
    let err = r.expect_err(what);
    assert_eq!(
        err.as_trap().map(|t| t.code()),
        Some(TrapCode::Interrupted),
        "{what}: {err}"
    );
}

/// Writes one clock subscription at `at`: relative `timeout` (or absolute).
fn clock_subscription(g: &mut Guest, at: u32, timeout: u64, absolute: bool) {
    let mut s = [0u8; 48];
    s[8] = 0; // eventtype::CLOCK
    s[16..20].copy_from_slice(&1u32.to_le_bytes()); // MONOTONIC
    s[24..32].copy_from_slice(&timeout.to_le_bytes());
    s[40..42].copy_from_slice(&u16::from(absolute).to_le_bytes());
    g.write(at, &s);
}

#[test]
fn poll_oneoff_wakes_at_the_deadline() {
    // The reproducer: one relative clock of u64::MAX ns, under a 200 ms timeout.
    finishes(|| {
        let mut g = guest_with_timeout(WasiCtxBuilder::new().build(), Duration::from_millis(200));
        clock_subscription(&mut g, 0, u64::MAX, false);
        let r = g.try_call("poll_oneoff", &[i(0), i(1024), i(1), i(2048)]);
        expect_interrupted(r, "poll_oneoff sleeping forever");
    });
    // A variant: many absolute clocks far in the future.
    finishes(|| {
        let mut g = guest_with_timeout(WasiCtxBuilder::new().build(), Duration::from_millis(200));
        for k in 0..64 {
            clock_subscription(&mut g, k * 48, u64::MAX - u64::from(k), true);
        }
        let r = g.try_call("poll_oneoff", &[i(0), i(8192), i(64), i(16384)]);
        expect_interrupted(r, "poll_oneoff on absolute clocks");
    });
    // Without a deadline, a short sleep still returns normally.
    let mut g = Guest::new(WasiCtxBuilder::new().build());
    clock_subscription(&mut g, 0, 1_000_000, false);
    assert_eq!(
        g.call("poll_oneoff", &[i(0), i(1024), i(1), i(2048)]),
        SUCCESS
    );
    assert_eq!(g.u32_at(2048), 1, "one event");
}

#[test]
fn a_host_call_after_the_deadline_is_interrupted() {
    // Wasm is interrupted at its next check; a host call made when the deadline has
    // already passed traps on entry instead of running.
    finishes(|| {
        let mut g = guest_with_timeout(WasiCtxBuilder::new().build(), Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(200));
        let r = g.try_call("sched_yield", &[]);
        expect_interrupted(r, "a call past the deadline");
    });
}

#[test]
fn random_get_of_a_whole_memory_ends_at_the_deadline() {
    finishes(|| {
        let engine = Engine::new(Config::new().epoch_interruption(true)).expect("engine");
        // 4 GiB less a page.
        let module = Module::new(&engine, common::wrapper_wat(65535)).expect("wrapper");
        let mut g = Guest::instantiate(&engine, &module, WasiCtxBuilder::new().build());
        g.store
            .set_timeout(Duration::from_millis(50))
            .expect("timeout");
        match g.try_call("random_get", &[i(0), i(u32::MAX - 65535)]) {
            // Done within the time (a fast machine), or stopped at the deadline.
            Ok(e) => assert_eq!(e, SUCCESS),
            Err(e) => expect_interrupted(Err(e), "random_get"),
        }
    });
}

#[test]
fn iovec_transfers_are_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut b = WasiCtxBuilder::new();
    b.preopened_dir(dir.path(), ".", DirPerms::ReadWrite)
        .expect("preopen");
    let mut g = Guest::with_pages(b.build(), 1024);
    let fd = g.open(3, "big", CREAT, RW, 0).expect("open");
    // 1,024 iovecs of 64 KiB each (64 MiB): one gathered write, cut at 16 MiB.
    let mut iovs = Vec::new();
    for k in 0..1024u32 {
        iovs.extend_from_slice(&(65536 + (k % 900) * 65536).to_le_bytes());
        iovs.extend_from_slice(&65536u32.to_le_bytes());
    }
    g.write(32, &iovs);
    assert_eq!(g.call("fd_write", &[i(fd), i(32), i(1024), i(16)]), SUCCESS);
    let n = g.u32_at(16);
    assert_eq!(n, 16 << 20, "cut at the transfer limit");
    assert_eq!(
        std::fs::metadata(dir.path().join("big"))
            .expect("file")
            .len(),
        u64::from(n)
    );
    // The reproducer's shape: one-byte iovecs, more than IOV_MAX of them.
    let ones: Vec<u8> = (0..2000u32)
        .flat_map(|k| {
            let mut e = (65536 + k).to_le_bytes().to_vec();
            e.extend_from_slice(&1u32.to_le_bytes());
            e
        })
        .collect();
    g.write(32, &ones);
    assert_eq!(g.call("fd_write", &[i(fd), i(32), i(2000), i(16)]), INVAL);
    // 1,024 of them: one write of 1,024 bytes.
    assert_eq!(g.call("fd_write", &[i(fd), i(32), i(1024), i(16)]), SUCCESS);
    assert_eq!(g.u32_at(16), 1024);
}

#[test]
fn long_paths_are_refused_before_they_are_copied() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut b = WasiCtxBuilder::new();
    b.preopened_dir(dir.path(), ".", DirPerms::ReadWrite)
        .expect("preopen");
    // A 1 GiB path (the reproducer gave `path_open` and `path_symlink` one).
    let mut g = Guest::with_pages(b.build(), 16384);
    let huge = 1u32 << 30;
    let open = [
        i(3),
        i(0),
        i(0),
        i(huge),
        i(0),
        Val::I64(0),
        Val::I64(0),
        i(0),
        i(0),
    ];
    assert_eq!(g.call("path_open", &open), NAMETOOLONG);
    assert_eq!(
        g.call("path_symlink", &[i(0), i(huge), i(3), i(0), i(4)]),
        NAMETOOLONG
    );
    // Variants: other path calls, just past PATH_MAX.
    let long = "a".repeat(4097);
    let (p, l) = g.string(&long);
    assert_eq!(g.call("path_create_directory", &[i(3), p, l]), NAMETOOLONG);
    assert_eq!(
        g.call("path_rename", &[i(3), p, l, i(3), p, l]),
        NAMETOOLONG
    );
}

#[test]
fn an_output_pipe_holds_at_most_its_capacity() {
    let out = OutputPipe::with_capacity(1 << 20);
    let mut b = WasiCtxBuilder::new();
    b.stdout(Output::Pipe(out.clone()));
    let mut g = Guest::with_pages(b.build(), 64);
    // 10 MiB, in 64 KiB writes: every write reports success, the pipe keeps 1 MiB.
    let mut iov = Vec::new();
    iov.extend_from_slice(&65536u32.to_le_bytes());
    iov.extend_from_slice(&65536u32.to_le_bytes());
    g.write(16, &iov);
    for _ in 0..160 {
        assert_eq!(g.call("fd_write", &[i(1), i(16), i(1), i(24)]), SUCCESS);
        assert_eq!(g.u32_at(24), 65536);
    }
    assert_eq!(out.contents().len(), 1 << 20);
    assert!(out.truncated());
    // A small pipe, written a byte over.
    let out = OutputPipe::with_capacity(5);
    let mut b = WasiCtxBuilder::new();
    b.stdout(Output::Pipe(out.clone()));
    let mut g = Guest::new(b.build());
    assert_eq!(g.fd_write(1, b"hello!"), (SUCCESS, 6));
    assert_eq!(out.contents(), b"hello");
    assert_eq!(out.contents_from(3), b"lo");
    assert_eq!(out.contents_from(9), b"");
    assert!(out.truncated());
}

#[test]
fn the_disk_quota_bounds_writes_and_allocations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut b = WasiCtxBuilder::new();
    b.preopened_dir(dir.path(), ".", DirPerms::ReadWrite)
        .expect("preopen")
        .max_disk_write(10_000);
    let mut g = Guest::new(b.build());
    let fd = g.open(3, "f", CREAT, RW, 0).expect("open");
    // The reproducer: fd_allocate of 2 GiB reserves nothing.
    assert_eq!(
        g.call("fd_allocate", &[i(fd), Val::I64(0), Val::I64(2 << 30)]),
        NOSPC
    );
    assert_eq!(std::fs::metadata(dir.path().join("f")).expect("f").len(), 0);
    // Writes: cut at the quota, then refused.
    assert_eq!(g.fd_write(fd, &[7u8; 6000]), (SUCCESS, 6000));
    assert_eq!(g.fd_write(fd, &[7u8; 6000]), (SUCCESS, 4000));
    assert_eq!(g.fd_write(fd, b"x").0, NOSPC);
    assert_eq!(g.store.data().disk_limit_hit(), Some(DiskLimit::Bytes));
    // A variant: positioned writes count too, and so does allocation within quota.
    let dir2 = tempfile::tempdir().expect("tempdir");
    let mut b = WasiCtxBuilder::new();
    b.preopened_dir(dir2.path(), ".", DirPerms::ReadWrite)
        .expect("preopen")
        .max_disk_write(4096);
    let mut g = Guest::new(b.build());
    let fd = g.open(3, "g", CREAT, RW, 0).expect("open");
    assert_eq!(
        g.call("fd_allocate", &[i(fd), Val::I64(0), Val::I64(4000)]),
        SUCCESS
    );
    g.write(2048, &[1u8; 200]);
    g.write(16, &2048u32.to_le_bytes());
    g.write(20, &200u32.to_le_bytes());
    assert_eq!(
        g.call("fd_pwrite", &[i(fd), i(16), i(1), Val::I64(0), i(24)]),
        SUCCESS
    );
    assert_eq!(g.u32_at(24), 96, "4096 - 4000 left");
    assert_eq!(g.store.data().disk_written(), 4096);
}

#[test]
fn the_entry_limit_bounds_files_directories_and_links() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("old"), b"there before").expect("old");
    let mut b = WasiCtxBuilder::new();
    b.preopened_dir(dir.path(), ".", DirPerms::ReadWrite)
        .expect("preopen")
        .max_files_created(3);
    let mut g = Guest::new(b.build());
    // Opening what exists creates nothing, even with O_CREAT.
    g.open(3, "old", CREAT, RW, 0).expect("open old");
    g.open(3, "a", CREAT, RW, 0).expect("create a");
    let (p, l) = g.string("d");
    assert_eq!(g.call("path_create_directory", &[i(3), p, l]), SUCCESS);
    let (t, tl) = g.string("a");
    let (n, nl) = g.string("s");
    assert_eq!(g.call("path_symlink", &[t, tl, i(3), n, nl]), SUCCESS);
    assert_eq!(g.store.data().files_created(), 3);
    assert_eq!(g.store.data().disk_limit_hit(), None);
    // The fourth of each kind is refused, and nothing is created.
    assert_eq!(g.open(3, "b", CREAT, RW, 0), Err(DQUOT));
    let (p, l) = g.string("e");
    assert_eq!(g.call("path_create_directory", &[i(3), p, l]), DQUOT);
    let (o, ol) = g.string("a");
    let (n, nl) = g.string("h");
    let link = [i(3), i(0), o, ol, i(3), n, nl];
    assert_eq!(g.call("path_link", &link), DQUOT);
    assert_eq!(g.store.data().disk_limit_hit(), Some(DiskLimit::Files));
    // Removing an entry gives nothing back.
    let (p, l) = g.string("a");
    assert_eq!(g.call("path_unlink_file", &[i(3), p, l]), SUCCESS);
    assert_eq!(g.open(3, "c", CREAT, RW, 0), Err(DQUOT));
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    names.sort();
    assert_eq!(names, ["d", "old", "s"]);
    // Existing files still open and write.
    let fd = g.open(3, "old", 0, RW, 0).expect("open old again");
    assert_eq!(g.fd_write(fd, b"more").0, SUCCESS);
}

#[test]
fn special_files_are_not_opened() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(status.success());
    let mut b = WasiCtxBuilder::new();
    b.preopened_dir(dir.path(), ".", DirPerms::ReadWrite)
        .expect("preopen");
    // Opening a FIFO with no writer used to block forever.
    let r = finishes(move || {
        let mut g = Guest::new(b.build());
        g.open(3, "fifo", 0, RW, 0)
    });
    assert_eq!(r, Err(NOTSUP));
}

#[test]
fn an_interrupt_handle_wakes_a_sleeping_guest() {
    // No timeout at all: only the interrupt from another thread ends the sleep.
    finishes(|| {
        let engine = Engine::new(Config::new().epoch_interruption(true)).expect("engine");
        let module = Module::new(&engine, common::wrapper_wat(1)).expect("wrapper");
        let mut g = Guest::instantiate(&engine, &module, WasiCtxBuilder::new().build());
        g.store.set_epoch_deadline(u64::MAX).expect("no deadline");
        clock_subscription(&mut g, 0, u64::MAX, false);
        let handle = g.store.interrupt_handle().expect("handle");
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            handle.interrupt();
        });
        let r = g.try_call("poll_oneoff", &[i(0), i(1024), i(1), i(2048)]);
        expect_interrupted(r, "poll_oneoff interrupted");
        t.join().expect("join");
    });
}

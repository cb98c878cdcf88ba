//! The functions at work on well-behaved input: files, directories, metadata, rights,
//! clocks, randomness and `poll_oneoff`.

mod common;

use common::{errno::*, i, oflags::*, rights::*, Guest};
use kiln::Val;
use kiln_wasi::{DirPerms, Output, OutputPipe, Stdin, WasiCtxBuilder};
use std::fs;
use std::time::{Duration, Instant};

fn sandbox() -> (tempfile::TempDir, Guest) {
    let dir = tempfile::tempdir().unwrap();
    let ctx = WasiCtxBuilder::new()
        .preopened_dir(dir.path(), "/sandbox", DirPerms::ReadWrite)
        .unwrap()
        .build();
    (dir, Guest::new(ctx))
}

#[test]
fn prestat_names_the_preopen() {
    let (_d, mut g) = sandbox();
    assert_eq!(g.call("fd_prestat_get", &[i(3), i(0)]), SUCCESS);
    assert_eq!((g.read(0, 1)[0], g.u32_at(4)), (0, 8));
    assert_eq!(
        g.call("fd_prestat_dir_name", &[i(3), i(100), i(7)]),
        37,
        "ENAMETOOLONG"
    );
    assert_eq!(
        g.call("fd_prestat_dir_name", &[i(3), i(100), i(8)]),
        SUCCESS
    );
    assert_eq!(g.read(100, 8), b"/sandbox");
    assert_eq!(
        g.call("fd_prestat_get", &[i(4), i(0)]),
        BADF,
        "end of the pre-opens"
    );
    assert_eq!(g.call("fd_prestat_get", &[i(1), i(0)]), BADF);
}

#[test]
fn file_io() {
    let (d, mut g) = sandbox();
    let fd = g
        .open(3, "f.txt", CREAT | EXCL, RW | FD_SEEK, 0)
        .expect("create");
    assert_eq!(g.open(3, "f.txt", CREAT | EXCL, RW, 0), Err(EXIST));
    assert_eq!(g.fd_write(fd, b"hello world"), (0, 11));
    // tell, seek, read.
    assert_eq!(g.call("fd_tell", &[i(fd), i(0)]), SUCCESS);
    assert_eq!(g.u64_at(0), 11);
    assert_eq!(
        g.call("fd_seek", &[i(fd), Val::I64(-5), i(1), i(0)]),
        SUCCESS
    );
    assert_eq!(g.u64_at(0), 6);
    assert_eq!(g.fd_read(fd, 100), (0, b"world".to_vec()));
    assert_eq!(
        g.call("fd_seek", &[i(fd), Val::I64(-100), i(1), i(0)]),
        INVAL
    );
    assert_eq!(g.call("fd_seek", &[i(fd), Val::I64(0), i(3), i(0)]), INVAL);
    assert_eq!(
        g.call("fd_seek", &[i(fd), Val::I64(-1), i(2), i(0)]),
        SUCCESS
    );
    assert_eq!(g.u64_at(0), 10);
    // Vectored write: two buffers.
    g.write(2048, b"ab");
    g.write(3000, b"cd");
    for (k, (p, l)) in [(2048u32, 2u32), (3000, 2)].into_iter().enumerate() {
        g.write(16 + 8 * k as u32, &p.to_le_bytes());
        g.write(20 + 8 * k as u32, &l.to_le_bytes());
    }
    assert_eq!(g.call("fd_write", &[i(fd), i(16), i(2), i(40)]), SUCCESS);
    assert_eq!(g.u32_at(40), 4);
    assert_eq!(fs::read(d.path().join("f.txt")).unwrap(), b"hello worlabcd");
    // pread/pwrite leave the position alone.
    g.write(2048, b"HE");
    g.write(16, &2048u32.to_le_bytes());
    g.write(20, &2u32.to_le_bytes());
    assert_eq!(
        g.call("fd_pwrite", &[i(fd), i(16), i(1), Val::I64(0), i(40)]),
        SUCCESS
    );
    assert_eq!(
        g.call("fd_pread", &[i(fd), i(16), i(1), Val::I64(6), i(40)]),
        SUCCESS
    );
    assert_eq!((g.u32_at(40), g.read(2048, 2)), (2, b"wo".to_vec()));
    assert_eq!(g.call("fd_tell", &[i(fd), i(0)]), SUCCESS);
    assert_eq!(g.u64_at(0), 14);
    // Size, stat, times.
    assert_eq!(
        g.call("fd_filestat_set_size", &[i(fd), Val::I64(5)]),
        SUCCESS
    );
    assert_eq!(g.call("fd_filestat_get", &[i(fd), i(0)]), SUCCESS);
    assert_eq!(
        (g.read(16, 1)[0], g.u64_at(32)),
        (4, 5),
        "regular file of 5 bytes"
    );
    let when = 1_000_000_000u64 * 1_500_000_000 + 123;
    let args = [
        i(fd),
        Val::I64(when as i64),
        Val::I64(when as i64),
        i(1 | 4),
    ];
    assert_eq!(g.call("fd_filestat_set_times", &args), SUCCESS);
    assert_eq!(g.call("fd_filestat_get", &[i(fd), i(0)]), SUCCESS);
    assert_eq!(g.u64_at(48), when, "mtim");
    let args = [i(fd), Val::I64(0), Val::I64(0), i(1 | 2)];
    assert_eq!(
        g.call("fd_filestat_set_times", &args),
        INVAL,
        "ATIM with ATIM_NOW"
    );
    assert_eq!(fs::read(d.path().join("f.txt")).unwrap(), b"HEllo");
    // Sync, advise, allocate.
    assert_eq!(g.call("fd_sync", &[i(fd)]), SUCCESS);
    assert_eq!(g.call("fd_datasync", &[i(fd)]), SUCCESS);
    assert_eq!(
        g.call("fd_advise", &[i(fd), Val::I64(0), Val::I64(0), i(1)]),
        SUCCESS
    );
    assert_eq!(
        g.call("fd_advise", &[i(fd), Val::I64(0), Val::I64(0), i(9)]),
        INVAL
    );
    assert_eq!(
        g.call("fd_allocate", &[i(fd), Val::I64(0), Val::I64(4096)]),
        SUCCESS
    );
    assert_eq!(fs::metadata(d.path().join("f.txt")).unwrap().len(), 4096);
    // Truncating open.
    assert_eq!(g.call("fd_close", &[i(fd)]), SUCCESS);
    let fd = g.open(3, "f.txt", TRUNC, FD_WRITE, 0).expect("trunc");
    assert_eq!(fs::metadata(d.path().join("f.txt")).unwrap().len(), 0);
    assert_eq!(g.fd_read(fd, 1).0, BADF, "write-only");
}

#[test]
fn append_flag() {
    let (d, mut g) = sandbox();
    fs::write(d.path().join("log"), "one\n").unwrap();
    let fd = g.open(3, "log", 0, RW, 1 /* APPEND */).expect("append");
    assert_eq!(g.fd_write(fd, b"two\n"), (0, 4));
    assert_eq!(g.call("fd_fdstat_get", &[i(fd), i(0)]), SUCCESS);
    assert_eq!(g.read(2, 2), [1, 0], "APPEND reported");
    assert_eq!(g.call("fd_fdstat_set_flags", &[i(fd), i(0)]), SUCCESS);
    assert_eq!(
        g.call("fd_seek", &[i(fd), Val::I64(0), i(0), i(0)]),
        SUCCESS
    );
    assert_eq!(g.fd_write(fd, b"ONE"), (0, 3));
    assert_eq!(g.call("fd_fdstat_set_flags", &[i(fd), i(1)]), SUCCESS);
    assert_eq!(g.fd_write(fd, b"three\n"), (0, 6));
    assert_eq!(
        fs::read_to_string(d.path().join("log")).unwrap(),
        "ONE\ntwo\nthree\n"
    );
    assert_eq!(
        g.call("fd_fdstat_set_flags", &[i(fd), i(16)]),
        NOTSUP,
        "SYNC"
    );
    assert_eq!(g.call("fd_fdstat_set_flags", &[i(fd), i(64)]), INVAL);
    assert_eq!(
        g.call("fd_fdstat_set_flags", &[i(1), i(4)]),
        NOTSUP,
        "host stdout"
    );
}

#[test]
fn rights_only_shrink() {
    let (_d, mut g) = sandbox();
    let fd = g.open(3, "f", CREAT, RW, 0).expect("create");
    assert_eq!(g.call("fd_fdstat_get", &[i(fd), i(0)]), SUCCESS);
    assert_eq!(g.read(0, 1)[0], 4);
    let base = g.u64_at(8) as i64;
    assert_ne!(base & FD_WRITE, 0);
    let no_write = base & !FD_WRITE;
    assert_eq!(
        g.call(
            "fd_fdstat_set_rights",
            &[i(fd), Val::I64(no_write), Val::I64(0)]
        ),
        SUCCESS
    );
    assert_eq!(g.fd_write(fd, b"x").0, NOTCAPABLE);
    assert_eq!(
        g.call(
            "fd_fdstat_set_rights",
            &[i(fd), Val::I64(base), Val::I64(0)]
        ),
        NOTCAPABLE
    );
    // The pre-open's rights: path operations, and everything to inherit.
    assert_eq!(g.call("fd_fdstat_get", &[i(3), i(0)]), SUCCESS);
    assert_eq!(g.read(0, 1)[0], 3, "directory");
    assert_ne!(g.u64_at(8) & (1 << 13), 0, "PATH_OPEN");
    assert_ne!(g.u64_at(16) & FD_WRITE as u64, 0);
    // stdio
    assert_eq!(g.call("fd_fdstat_get", &[i(1), i(0)]), SUCCESS);
    assert_ne!(g.u64_at(8) & FD_WRITE as u64, 0);
    assert_eq!(g.call("fd_seek", &[i(1), Val::I64(0), i(1), i(0)]), SPIPE);
}

#[test]
fn directories() {
    let (d, mut g) = sandbox();
    let mkdir = |g: &mut Guest, p: &str| {
        let (p, l) = g.string(p);
        g.call("path_create_directory", &[i(3), p, l])
    };
    assert_eq!(mkdir(&mut g, "a"), SUCCESS);
    assert_eq!(mkdir(&mut g, "a"), EXIST);
    assert_eq!(mkdir(&mut g, "a/b"), SUCCESS);
    fs::write(d.path().join("a/file"), "x").unwrap();
    let (p, l) = g.string("a");
    assert_eq!(g.call("path_remove_directory", &[i(3), p, l]), NOTEMPTY);
    assert_eq!(g.call("path_unlink_file", &[i(3), p, l]), ISDIR);
    // readdir: ".", "..", then "b" and "file" in some order.
    let dir = g
        .open(3, "a", DIRECTORY, FD_READ | FD_READDIR, 0)
        .expect("open a");
    assert_eq!(
        g.call("fd_readdir", &[i(dir), i(1000), i(4000), Val::I64(0), i(0)]),
        SUCCESS
    );
    let used = g.u32_at(0);
    let mut names = Vec::new();
    let mut at = 1000;
    while at < 1000 + used {
        let namlen = g.u32_at(at + 16);
        names.push((
            g.u64_at(at),
            String::from_utf8(g.read(at + 24, namlen as usize)).unwrap(),
            g.read(at + 20, 1)[0],
        ));
        at += 24 + namlen;
    }
    assert_eq!(names.len(), 4, "{names:?}");
    assert_eq!(names[0], (1, ".".into(), 3));
    assert_eq!(names[1], (2, "..".into(), 3));
    let mut rest: Vec<_> = names[2..].iter().map(|(_, n, t)| (n.clone(), *t)).collect();
    rest.sort();
    assert_eq!(rest, [("b".to_string(), 3), ("file".to_string(), 4)]);
    // A cookie resumes; a small buffer is filled completely (truncated entry).
    assert_eq!(
        g.call("fd_readdir", &[i(dir), i(1000), i(4000), Val::I64(3), i(0)]),
        SUCCESS
    );
    let n3 = g.u32_at(1016);
    assert_eq!(g.u32_at(0), 24 + n3);
    assert_eq!(
        g.call("fd_readdir", &[i(dir), i(1000), i(30), Val::I64(0), i(0)]),
        SUCCESS
    );
    assert_eq!(g.u32_at(0), 30);
    assert_eq!(
        g.call(
            "fd_readdir",
            &[i(dir), i(1000), i(4000), Val::I64(99), i(0)]
        ),
        SUCCESS
    );
    assert_eq!(g.u32_at(0), 0);
    // Symlinks and stat.
    let (t, tl) = g.string("a/file");
    let (l, ll) = g.string("link");
    assert_eq!(g.call("path_symlink", &[t, tl, i(3), l, ll]), SUCCESS);
    assert_eq!(
        g.call("path_readlink", &[i(3), l, ll, i(500), i(100), i(0)]),
        SUCCESS
    );
    assert_eq!(g.read(500, g.u32_at(0) as usize), b"a/file");
    assert_eq!(
        g.call("path_readlink", &[i(3), l, ll, i(500), i(3), i(0)]),
        SUCCESS
    );
    assert_eq!(g.u32_at(0), 3, "truncated");
    assert_eq!(
        g.call("path_filestat_get", &[i(3), i(1), l, ll, i(0)]),
        SUCCESS
    );
    assert_eq!((g.read(16, 1)[0], g.u64_at(32)), (4, 1));
    assert_eq!(g.call("path_unlink_file", &[i(3), l, ll]), SUCCESS);
    let (p, l) = g.string("a/b");
    assert_eq!(g.call("path_remove_directory", &[i(3), p, l]), SUCCESS);
    assert!(!d.path().join("a/b").exists());
    // renumber onto an open descriptor.
    let f = g.open(3, "a/file", 0, FD_READ, 0).expect("file");
    assert_eq!(g.call("fd_renumber", &[i(f), i(dir)]), SUCCESS);
    assert_eq!(g.fd_read(dir, 10), (0, b"x".to_vec()));
    assert_eq!(g.fd_read(f, 10).0, BADF);
}

#[test]
fn clocks_and_random() {
    let mut g = Guest::new(WasiCtxBuilder::new().build());
    for clock in 0..4 {
        assert_eq!(g.call("clock_res_get", &[i(clock), i(0)]), SUCCESS);
        assert!(g.u64_at(0) > 0);
        assert_eq!(
            g.call("clock_time_get", &[i(clock), Val::I64(1), i(8)]),
            SUCCESS
        );
    }
    assert_eq!(
        g.call("clock_time_get", &[i(0), Val::I64(1), i(8)]),
        SUCCESS
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    assert!((g.u64_at(8) as i128 - now.as_nanos() as i128).abs() < 5_000_000_000);
    assert_eq!(g.call("clock_time_get", &[i(4), Val::I64(1), i(8)]), INVAL);
    assert_eq!(g.call("random_get", &[i(100), i(64)]), SUCCESS);
    let a = g.read(100, 64);
    assert_eq!(g.call("random_get", &[i(100), i(64)]), SUCCESS);
    assert_ne!(a, g.read(100, 64));
    assert_eq!(g.call("random_get", &[i(100), i(0)]), SUCCESS);
}

/// Writes subscription `k` at `base + 48 k`.
fn subscribe(g: &mut Guest, base: u32, k: u32, userdata: u64, tag: u8, body: &[u8]) {
    let at = base + 48 * k;
    g.write(at, &[0; 48]);
    g.write(at, &userdata.to_le_bytes());
    g.write(at + 8, &[tag]);
    g.write(at + 16, body);
}

fn clock_body(id: u32, timeout: u64, flags: u16) -> Vec<u8> {
    let mut b = vec![0u8; 32];
    b[0..4].copy_from_slice(&id.to_le_bytes());
    b[8..16].copy_from_slice(&timeout.to_le_bytes());
    b[24..26].copy_from_slice(&flags.to_le_bytes());
    b
}

/// Events as (userdata, error, type, nbytes).
fn events(g: &mut Guest, base: u32, n: u32) -> Vec<(u64, u16, u8, u64)> {
    (0..n)
        .map(|k| {
            let at = base + 32 * k;
            let e = g.read(at + 8, 3);
            (
                g.u64_at(at),
                u16::from_le_bytes([e[0], e[1]]),
                e[2],
                g.u64_at(at + 16),
            )
        })
        .collect()
}

#[test]
fn poll_oneoff() {
    let out = OutputPipe::new();
    let ctx = WasiCtxBuilder::new()
        .stdin(Stdin::Bytes(b"abc".to_vec()))
        .stdout(Output::Pipe(out))
        .build();
    let mut g = Guest::new(ctx);
    let (subs, evs) = (1000, 3000);
    // One relative clock: sleeps about that long.
    subscribe(&mut g, subs, 0, 42, 0, &clock_body(1, 20_000_000, 0));
    let t = Instant::now();
    assert_eq!(
        g.call("poll_oneoff", &[i(subs), i(evs), i(1), i(0)]),
        SUCCESS
    );
    assert!(t.elapsed() >= Duration::from_millis(20));
    assert_eq!(g.u32_at(0), 1);
    assert_eq!(events(&mut g, evs, 1), [(42, 0, 0, 0)]);
    // An absolute realtime deadline in the past fires at once.
    subscribe(&mut g, subs, 0, 7, 0, &clock_body(0, 1, 1));
    assert_eq!(
        g.call("poll_oneoff", &[i(subs), i(evs), i(1), i(0)]),
        SUCCESS
    );
    assert_eq!(events(&mut g, evs, 1), [(7, 0, 0, 0)]);
    // fd subscriptions are ready at once, before a long clock.
    subscribe(&mut g, subs, 0, 1, 0, &clock_body(1, 60_000_000_000, 0));
    subscribe(&mut g, subs, 1, 2, 1, &0u32.to_le_bytes());
    subscribe(&mut g, subs, 2, 3, 2, &1u32.to_le_bytes());
    subscribe(&mut g, subs, 3, 4, 1, &99u32.to_le_bytes());
    assert_eq!(
        g.call("poll_oneoff", &[i(subs), i(evs), i(4), i(0)]),
        SUCCESS
    );
    // Three events, none of them the 60 s clock: the fds did not wait for it.
    assert_eq!(g.u32_at(0), 3);
    assert_eq!(
        events(&mut g, evs, 3),
        [(2, 0, 1, 3), (3, 0, 2, 0), (4, BADF as u16, 1, 0)]
    );
    // No subscriptions, or an unknown tag.
    assert_eq!(g.call("poll_oneoff", &[i(subs), i(evs), i(0), i(0)]), INVAL);
    subscribe(&mut g, subs, 0, 1, 9, &[]);
    assert_eq!(g.call("poll_oneoff", &[i(subs), i(evs), i(1), i(0)]), INVAL);
    // A CPU-time clock cannot be waited on: an error event.
    subscribe(&mut g, subs, 0, 5, 0, &clock_body(2, 1, 0));
    assert_eq!(
        g.call("poll_oneoff", &[i(subs), i(evs), i(1), i(0)]),
        SUCCESS
    );
    assert_eq!(events(&mut g, evs, 1), [(5, INVAL as u16, 0, 0)]);
}

#[test]
fn every_function_is_defined() {
    let g = Guest::new(WasiCtxBuilder::new().build());
    assert_eq!(common::FUNCS.len(), 46);
    for (name, _, _) in common::FUNCS {
        assert!(g.instance.get_func(&g.store, name).is_some(), "{name}");
    }
}

//! Escape attempts from pre-opened directories, each refused with the documented errno:
//! `EPERM` for `..` walks, absolute paths, symlinks leading out, renames and links
//! across the boundary and writes to a read-only pre-open; `EISDIR` for opening a
//! directory with write rights.

mod common;

use common::{errno::*, i, oflags::*, rights::*, Guest};
use kiln::Val;
use kiln_wasi::{DirPerms, WasiCtxBuilder};
use std::fs;
use std::path::Path;

/// A temporary tree:
///
/// ```text
/// sandbox/            pre-opened read-write as "." (fd 3)
///   file.txt, sub/, link_out -> ../outside/secret.txt, link_abs -> /abs/outside/secret.txt,
///   link_dir_out -> ../outside, link_in -> file.txt
/// ro/                 pre-opened read-only as "ro" (fd 4)
///   data.txt, dir/
/// outside/            not pre-opened
///   secret.txt
/// ```
struct Tree {
    root: tempfile::TempDir,
    guest: Guest,
}

const SANDBOX: u32 = 3;
const RO: u32 = 4;

impl Tree {
    fn new() -> Tree {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        for d in ["sandbox/sub", "ro/dir", "outside"] {
            fs::create_dir_all(r.join(d)).unwrap();
        }
        fs::write(r.join("sandbox/file.txt"), "inside").unwrap();
        fs::write(r.join("ro/data.txt"), "read only").unwrap();
        fs::write(r.join("outside/secret.txt"), "secret").unwrap();
        let sb = r.join("sandbox");
        std::os::unix::fs::symlink("../outside/secret.txt", sb.join("link_out")).unwrap();
        std::os::unix::fs::symlink(r.join("outside/secret.txt"), sb.join("link_abs")).unwrap();
        std::os::unix::fs::symlink("../outside", sb.join("link_dir_out")).unwrap();
        std::os::unix::fs::symlink("file.txt", sb.join("link_in")).unwrap();
        let ctx = WasiCtxBuilder::new()
            .preopened_dir(&sb, ".", DirPerms::ReadWrite)
            .unwrap()
            .preopened_dir(r.join("ro"), "ro", DirPerms::ReadOnly)
            .unwrap()
            .build();
        Tree {
            guest: Guest::new(ctx),
            root,
        }
    }

    fn path(&self, p: &str) -> std::path::PathBuf {
        self.root.path().join(p)
    }

    /// The tree outside the sandbox is as it was.
    fn outside_untouched(&self) {
        let names: Vec<_> = fs::read_dir(self.path("outside"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["secret.txt"], "outside/ changed");
        assert_eq!(
            fs::read_to_string(self.path("outside/secret.txt")).unwrap(),
            "secret"
        );
        let top: Vec<_> = fs::read_dir(self.root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(top.len(), 3, "new entries beside the pre-opens: {top:?}");
    }

    fn ro_untouched(&self) {
        assert_eq!(
            fs::read_to_string(self.path("ro/data.txt")).unwrap(),
            "read only"
        );
        let mut names: Vec<_> = fs::read_dir(self.path("ro"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["data.txt", "dir"], "ro/ changed");
    }
}

#[test]
fn dotdot_walks_are_refused() {
    let mut t = Tree::new();
    let g = &mut t.guest;
    assert_eq!(
        g.open(SANDBOX, "../outside/secret.txt", 0, FD_READ, 0),
        Err(PERM)
    );
    assert_eq!(
        g.open(SANDBOX, "sub/../../outside/secret.txt", 0, FD_READ, 0),
        Err(PERM)
    );
    assert_eq!(g.open(SANDBOX, "..", DIRECTORY, FD_READ, 0), Err(PERM));
    assert_eq!(
        g.open(SANDBOX, "sub/../..", DIRECTORY, FD_READ, 0),
        Err(PERM)
    );
    assert_eq!(
        g.open(RO, "../outside/secret.txt", 0, FD_READ, 0),
        Err(PERM)
    );
    // Creating through `..` is refused before anything is created.
    assert_eq!(
        g.open(SANDBOX, "../outside/new.txt", CREAT, FD_WRITE, 0),
        Err(PERM)
    );
    let (p, l) = g.string("../outside/newdir");
    assert_eq!(g.call("path_create_directory", &[i(SANDBOX), p, l]), PERM);
    let (p, l) = g.string("../outside/secret.txt");
    assert_eq!(g.call("path_unlink_file", &[i(SANDBOX), p, l]), PERM);
    let (p, l) = g.string("../outside/secret.txt");
    assert_eq!(
        g.call("path_filestat_get", &[i(SANDBOX), i(1), p, l, i(0)]),
        PERM
    );
    // `..` that stays inside is fine.
    let fd = g
        .open(SANDBOX, "sub/../file.txt", 0, FD_READ, 0)
        .expect("inside");
    assert_eq!(g.fd_read(fd, 100), (0, b"inside".to_vec()));
    // And a directory opened inside cannot climb out either.
    let sub = g.open(SANDBOX, "sub", DIRECTORY, FD_READ, 0).expect("sub");
    assert_eq!(
        g.open(sub, "../../outside/secret.txt", 0, FD_READ, 0),
        Err(PERM)
    );
    assert_eq!(g.open(sub, "../file.txt", 0, FD_READ, 0), Err(PERM));
    t.outside_untouched();
}

#[test]
fn absolute_paths_are_refused() {
    let mut t = Tree::new();
    let secret = t.path("outside/secret.txt").to_string_lossy().into_owned();
    let g = &mut t.guest;
    assert_eq!(g.open(SANDBOX, "/etc/passwd", 0, FD_READ, 0), Err(PERM));
    assert_eq!(g.open(SANDBOX, &secret, 0, FD_READ, 0), Err(PERM));
    assert_eq!(g.open(SANDBOX, "/", DIRECTORY, FD_READ, 0), Err(PERM));
    assert_eq!(
        g.open(SANDBOX, "/tmp/kiln-wasi-escape", CREAT, FD_WRITE, 0),
        Err(PERM)
    );
    let (p, l) = g.string("/tmp");
    assert_eq!(
        g.call("path_filestat_get", &[i(SANDBOX), i(1), p, l, i(0)]),
        PERM
    );
    assert!(!Path::new("/tmp/kiln-wasi-escape").exists());
    t.outside_untouched();
}

#[test]
fn symlinks_out_are_refused() {
    let mut t = Tree::new();
    let g = &mut t.guest;
    assert_eq!(g.open(SANDBOX, "link_out", 0, FD_READ, 0), Err(PERM));
    assert_eq!(g.open(SANDBOX, "link_abs", 0, FD_READ, 0), Err(PERM));
    assert_eq!(
        g.open(SANDBOX, "link_dir_out/secret.txt", 0, FD_READ, 0),
        Err(PERM)
    );
    assert_eq!(
        g.open(SANDBOX, "link_dir_out", DIRECTORY, FD_READ, 0),
        Err(PERM)
    );
    assert_eq!(g.open(SANDBOX, "link_out", 0, FD_WRITE, 0), Err(PERM));
    assert_eq!(
        g.open(SANDBOX, "link_dir_out/new", CREAT, FD_WRITE, 0),
        Err(PERM)
    );
    // Not following the last component: the link itself is not openable (ELOOP).
    assert_eq!(g.open_at(SANDBOX, 0, "link_out", 0, FD_READ, 0), Err(LOOP));
    // stat through the link is refused; stat of the link itself is fine.
    let (p, l) = g.string("link_out");
    assert_eq!(
        g.call("path_filestat_get", &[i(SANDBOX), i(1), p, l, i(0)]),
        PERM
    );
    assert_eq!(
        g.call("path_filestat_get", &[i(SANDBOX), i(0), p, l, i(0)]),
        SUCCESS
    );
    assert_eq!(g.read(16, 1)[0], 7, "filetype symbolic_link");
    // A link inside the sandbox works.
    let fd = g.open(SANDBOX, "link_in", 0, FD_READ, 0).expect("link_in");
    assert_eq!(g.fd_read(fd, 100), (0, b"inside".to_vec()));
    // Creating a symlink to an absolute path is refused; one climbing out can be made
    // but never followed.
    let (tp, tl) = g.string("/etc/passwd");
    let (lp, ll) = g.string("abs_link");
    assert_eq!(g.call("path_symlink", &[tp, tl, i(SANDBOX), lp, ll]), PERM);
    let (tp, tl) = g.string("../outside/secret.txt");
    let (lp, ll) = g.string("new_link");
    assert_eq!(
        g.call("path_symlink", &[tp, tl, i(SANDBOX), lp, ll]),
        SUCCESS
    );
    assert_eq!(g.open(SANDBOX, "new_link", 0, FD_READ, 0), Err(PERM));
    // readlink of a link to an absolute path does not reveal it.
    let (p, l) = g.string("link_abs");
    assert_eq!(
        g.call("path_readlink", &[i(SANDBOX), p, l, i(512), i(512), i(0)]),
        PERM
    );
    t.outside_untouched();
}

#[test]
fn rename_across_the_boundary_is_refused() {
    let mut t = Tree::new();
    let g = &mut t.guest;
    let rename = |g: &mut Guest, from_fd: u32, from: &str, to_fd: u32, to: &str| {
        let (fp, fl) = g.string(from);
        let (tp, tl) = g.string(to);
        g.call("path_rename", &[i(from_fd), fp, fl, i(to_fd), tp, tl])
    };
    assert_eq!(
        rename(g, SANDBOX, "file.txt", SANDBOX, "../outside/moved.txt"),
        PERM
    );
    assert_eq!(
        rename(g, SANDBOX, "../outside/secret.txt", SANDBOX, "stolen.txt"),
        PERM
    );
    assert_eq!(rename(g, SANDBOX, "sub", SANDBOX, "../outside/sub"), PERM);
    assert_eq!(
        rename(g, SANDBOX, "link_dir_out/secret.txt", SANDBOX, "stolen.txt"),
        PERM
    );
    assert_eq!(
        rename(g, SANDBOX, "file.txt", SANDBOX, "/tmp/kiln-wasi-moved"),
        PERM
    );
    // Into or out of the read-only pre-open.
    assert_eq!(rename(g, SANDBOX, "file.txt", RO, "file.txt"), PERM);
    assert_eq!(rename(g, RO, "data.txt", SANDBOX, "data.txt"), PERM);
    // Inside the sandbox it works.
    assert_eq!(
        rename(g, SANDBOX, "file.txt", SANDBOX, "sub/renamed.txt"),
        SUCCESS
    );
    assert_eq!(
        fs::read_to_string(t.path("sandbox/sub/renamed.txt")).unwrap(),
        "inside"
    );
    t.outside_untouched();
    t.ro_untouched();
}

#[test]
fn link_across_the_boundary_is_refused() {
    let mut t = Tree::new();
    let g = &mut t.guest;
    let link = |g: &mut Guest, from_fd: u32, from: &str, to_fd: u32, to: &str| {
        let (fp, fl) = g.string(from);
        let (tp, tl) = g.string(to);
        g.call("path_link", &[i(from_fd), i(0), fp, fl, i(to_fd), tp, tl])
    };
    assert_eq!(
        link(g, SANDBOX, "file.txt", SANDBOX, "../outside/linked.txt"),
        PERM
    );
    assert_eq!(
        link(g, SANDBOX, "../outside/secret.txt", SANDBOX, "stolen.txt"),
        PERM
    );
    assert_eq!(
        link(g, SANDBOX, "link_dir_out/secret.txt", SANDBOX, "stolen.txt"),
        PERM
    );
    assert_eq!(link(g, SANDBOX, "/etc/passwd", SANDBOX, "passwd"), PERM);
    assert_eq!(link(g, RO, "data.txt", SANDBOX, "data.txt"), PERM);
    assert_eq!(link(g, SANDBOX, "file.txt", RO, "file.txt"), PERM);
    assert_eq!(
        link(g, SANDBOX, "file.txt", SANDBOX, "sub/hard.txt"),
        SUCCESS
    );
    assert_eq!(
        fs::read_to_string(t.path("sandbox/sub/hard.txt")).unwrap(),
        "inside"
    );
    assert!(!t.path("sandbox/stolen.txt").exists());
    t.outside_untouched();
    t.ro_untouched();
}

#[test]
fn read_only_preopen_refuses_writes() {
    let mut t = Tree::new();
    let g = &mut t.guest;
    assert_eq!(g.open(RO, "data.txt", 0, FD_WRITE, 0), Err(PERM));
    assert_eq!(g.open(RO, "data.txt", 0, RW, 0), Err(PERM));
    assert_eq!(g.open(RO, "data.txt", TRUNC, FD_READ, 0), Err(PERM));
    assert_eq!(g.open(RO, "new.txt", CREAT, FD_READ, 0), Err(PERM));
    assert_eq!(g.open(RO, "new.txt", CREAT | EXCL, RW, 0), Err(PERM));
    assert_eq!(
        g.open(RO, "data.txt", 0, FD_READ, 1 /* APPEND */),
        Err(PERM)
    );
    let (p, l) = g.string("newdir");
    assert_eq!(g.call("path_create_directory", &[i(RO), p, l]), PERM);
    let (p, l) = g.string("data.txt");
    assert_eq!(g.call("path_unlink_file", &[i(RO), p, l]), PERM);
    let (p, l) = g.string("dir");
    assert_eq!(g.call("path_remove_directory", &[i(RO), p, l]), PERM);
    let (tp, tl) = g.string("data.txt");
    let (lp, ll) = g.string("sym");
    assert_eq!(g.call("path_symlink", &[tp, tl, i(RO), lp, ll]), PERM);
    let (fp, fl) = g.string("data.txt");
    let (tp, tl) = g.string("moved.txt");
    assert_eq!(g.call("path_rename", &[i(RO), fp, fl, i(RO), tp, tl]), PERM);
    let (p, l) = g.string("data.txt");
    let set_times = [i(RO), i(1), p, l, Val::I64(0), Val::I64(0), i(2 | 8)];
    assert_eq!(g.call("path_filestat_set_times", &set_times), PERM);
    // Reading works; the descriptor cannot write, truncate or change times.
    let fd = g.open(RO, "data.txt", 0, FD_READ, 0).expect("read");
    assert_eq!(g.fd_read(fd, 100), (0, b"read only".to_vec()));
    assert_eq!(g.fd_write(fd, b"x").0, BADF);
    assert_eq!(g.call("fd_filestat_set_size", &[i(fd), Val::I64(0)]), BADF);
    assert_eq!(
        g.call("fd_allocate", &[i(fd), Val::I64(0), Val::I64(10)]),
        BADF
    );
    let times = [i(fd), Val::I64(0), Val::I64(0), i(2 | 8)];
    assert_eq!(g.call("fd_filestat_set_times", &times), PERM);
    // A directory opened through the read-only pre-open is read-only too.
    let dir = g.open(RO, "dir", DIRECTORY, FD_READ, 0).expect("dir");
    assert_eq!(g.open(dir, "new.txt", CREAT, RW, 0), Err(PERM));
    let (p, l) = g.string("newdir");
    assert_eq!(g.call("path_create_directory", &[i(dir), p, l]), PERM);
    // And a directory opened without O_DIRECTORY as well.
    let dir2 = g.open(RO, "dir", 0, FD_READ, 0).expect("dir as file");
    assert_eq!(g.open(dir2, "new.txt", CREAT, RW, 0), Err(PERM));
    t.ro_untouched();
}

#[test]
fn directories_cannot_be_opened_for_writing() {
    let mut t = Tree::new();
    let g = &mut t.guest;
    assert_eq!(g.open(SANDBOX, "sub", DIRECTORY, FD_WRITE, 0), Err(ISDIR));
    assert_eq!(g.open(SANDBOX, "sub", DIRECTORY, RW, 0), Err(ISDIR));
    assert_eq!(g.open(SANDBOX, "sub", 0, FD_WRITE, 0), Err(ISDIR));
    assert_eq!(g.open(SANDBOX, ".", 0, RW, 0), Err(ISDIR));
    assert_eq!(g.open(SANDBOX, "sub", CREAT, FD_WRITE, 0), Err(ISDIR));
    assert_eq!(
        g.open(RO, "dir", DIRECTORY, FD_WRITE, 0),
        Err(PERM),
        "read-only first"
    );
    // Reading a directory is fine, but not as bytes.
    let fd = g
        .open(SANDBOX, "sub", DIRECTORY, FD_READ | FD_READDIR, 0)
        .expect("dir");
    assert_eq!(g.fd_write(fd, b"x").0, ISDIR);
    assert_eq!(g.fd_read(fd, 10).0, ISDIR);
}

#[test]
fn path_operations_need_a_directory() {
    let mut t = Tree::new();
    let g = &mut t.guest;
    let file = g.open(SANDBOX, "file.txt", 0, FD_READ, 0).expect("file");
    assert_eq!(g.open(file, "x", 0, FD_READ, 0), Err(NOTDIR));
    assert_eq!(g.open(0, "file.txt", 0, FD_READ, 0), Err(NOTDIR), "stdin");
    assert_eq!(g.open(77, "file.txt", 0, FD_READ, 0), Err(BADF));
    assert_eq!(g.open(SANDBOX, "file.txt/", 0, FD_READ, 0), Err(NOTDIR));
    assert_eq!(g.open(SANDBOX, "file.txt\0", 0, FD_READ, 0), Err(INVAL));
    assert_eq!(g.open(SANDBOX, "missing", 0, FD_READ, 0), Err(NOENT));
}

#[test]
fn refusals_are_recorded_for_the_host() {
    let mut t = Tree::new();
    let g = &mut t.guest;
    assert_eq!(
        g.open(SANDBOX, "file.txt", 0, FD_READ, 0).map(|_| ()),
        Ok(())
    );
    assert_eq!(g.open(SANDBOX, "missing", 0, FD_READ, 0), Err(NOENT));
    assert_eq!(
        g.store.data().refusals(),
        (&[][..], 0),
        "failures are not refusals"
    );
    assert_eq!(
        g.open(SANDBOX, "../outside/secret.txt", 0, FD_READ, 0),
        Err(PERM)
    );
    assert_eq!(g.call("sock_accept", &[i(SANDBOX), i(0), i(0)]), NOTSUP);
    let (kept, total) = g.store.data().refusals();
    let kept: Vec<_> = kept.iter().map(|r| (r.function, r.errno.name())).collect();
    assert_eq!(kept, [("path_open", "PERM"), ("sock_accept", "NOTSUP")]);
    assert_eq!(total, 2);
    // Past the kept ones, refusals are counted only.
    for _ in 0..40 {
        g.call("sock_shutdown", &[i(SANDBOX), i(0)]);
    }
    let (kept, total) = g.store.data().refusals();
    assert_eq!((kept.len(), total), (32, 42));
}

//! A test guest: a `.wat` module that imports every `wasi_snapshot_preview1` function
//! and exports a wrapper of the same name that calls it from wasm and returns its
//! errno, plus helpers to put strings in memory and read results back.

#![allow(dead_code, reason = "each test file uses part of this")]

use kiln::{Engine, Instance, Linker, Memory, Module, Store, Val};
use kiln_wasi::{add_to_linker, WasiCtx};

/// Every function: name, parameter types, whether it returns an errno.
pub const FUNCS: &[(&str, &str, bool)] = &[
    ("args_get", "i32 i32", true),
    ("args_sizes_get", "i32 i32", true),
    ("environ_get", "i32 i32", true),
    ("environ_sizes_get", "i32 i32", true),
    ("clock_res_get", "i32 i32", true),
    ("clock_time_get", "i32 i64 i32", true),
    ("fd_advise", "i32 i64 i64 i32", true),
    ("fd_allocate", "i32 i64 i64", true),
    ("fd_close", "i32", true),
    ("fd_datasync", "i32", true),
    ("fd_fdstat_get", "i32 i32", true),
    ("fd_fdstat_set_flags", "i32 i32", true),
    ("fd_fdstat_set_rights", "i32 i64 i64", true),
    ("fd_filestat_get", "i32 i32", true),
    ("fd_filestat_set_size", "i32 i64", true),
    ("fd_filestat_set_times", "i32 i64 i64 i32", true),
    ("fd_pread", "i32 i32 i32 i64 i32", true),
    ("fd_prestat_get", "i32 i32", true),
    ("fd_prestat_dir_name", "i32 i32 i32", true),
    ("fd_pwrite", "i32 i32 i32 i64 i32", true),
    ("fd_read", "i32 i32 i32 i32", true),
    ("fd_readdir", "i32 i32 i32 i64 i32", true),
    ("fd_renumber", "i32 i32", true),
    ("fd_seek", "i32 i64 i32 i32", true),
    ("fd_sync", "i32", true),
    ("fd_tell", "i32 i32", true),
    ("fd_write", "i32 i32 i32 i32", true),
    ("path_create_directory", "i32 i32 i32", true),
    ("path_filestat_get", "i32 i32 i32 i32 i32", true),
    (
        "path_filestat_set_times",
        "i32 i32 i32 i32 i64 i64 i32",
        true,
    ),
    ("path_link", "i32 i32 i32 i32 i32 i32 i32", true),
    ("path_open", "i32 i32 i32 i32 i32 i64 i64 i32 i32", true),
    ("path_readlink", "i32 i32 i32 i32 i32 i32", true),
    ("path_remove_directory", "i32 i32 i32", true),
    ("path_rename", "i32 i32 i32 i32 i32 i32", true),
    ("path_symlink", "i32 i32 i32 i32 i32", true),
    ("path_unlink_file", "i32 i32 i32", true),
    ("poll_oneoff", "i32 i32 i32 i32", true),
    ("proc_exit", "i32", false),
    ("proc_raise", "i32", true),
    ("sched_yield", "", true),
    ("random_get", "i32 i32", true),
    ("sock_accept", "i32 i32 i32", true),
    ("sock_recv", "i32 i32 i32 i32 i32 i32", true),
    ("sock_send", "i32 i32 i32 i32 i32", true),
    ("sock_shutdown", "i32 i32", true),
];

/// The wrapper module, with `pages` pages of memory exported as `memory`.
pub fn wrapper_wat(pages: u32) -> String {
    let mut w = String::from("(module\n");
    for (name, params, ret) in FUNCS {
        let result = if *ret { "(result i32)" } else { "" };
        w += &format!(
            "  (import \"wasi_snapshot_preview1\" \"{name}\" (func ${name} (param {params}) {result}))\n"
        );
    }
    w += &format!("  (memory (export \"memory\") {pages})\n");
    for (name, params, ret) in FUNCS {
        let result = if *ret { "(result i32)" } else { "" };
        let gets: String = (0..params.split_whitespace().count())
            .map(|i| format!("local.get {i} "))
            .collect();
        w += &format!(
            "  (func (export \"{name}\") (param {params}) {result} {gets} call ${name})\n"
        );
    }
    w + ")\n"
}

/// Where `Guest` puts strings (results go below).
pub const STRINGS: u32 = 4096;

/// An instance of the wrapper module with a WASI context.
pub struct Guest {
    pub store: Store<WasiCtx>,
    pub instance: Instance,
    pub memory: Memory,
    next_string: u32,
}

impl Guest {
    pub fn new(ctx: WasiCtx) -> Guest {
        Guest::with_pages(ctx, 1)
    }

    pub fn with_pages(ctx: WasiCtx, pages: u32) -> Guest {
        let engine = Engine::default();
        let module = Module::new(&engine, wrapper_wat(pages)).expect("wrapper module");
        Guest::instantiate(&engine, &module, ctx)
    }

    pub fn instantiate(engine: &Engine, module: &Module, ctx: WasiCtx) -> Guest {
        let mut linker = Linker::<WasiCtx>::new(engine);
        add_to_linker(&mut linker, |c| c).expect("add_to_linker");
        Guest::start(&linker, Store::new(engine, ctx), module)
    }

    /// An instance of `module` in `store`, linked by `linker`.
    fn start(linker: &Linker<WasiCtx>, mut store: Store<WasiCtx>, module: &Module) -> Guest {
        let instance = linker.instantiate(&mut store, module).expect("instantiate");
        let memory = instance.get_memory(&store, "memory").expect("memory");
        Guest {
            store,
            instance,
            memory,
            next_string: STRINGS,
        }
    }

    /// A guest whose module the linker compiled: with every WASI fast path inlined
    /// (`fast`), or with none.
    pub fn compiled_by_linker(ctx: WasiCtx, fast: bool) -> Guest {
        let engine = Engine::default();
        let mut store = Store::new(&engine, ctx);
        let mut linker = Linker::<WasiCtx>::new(&engine);
        let paths = if fast {
            kiln_wasi::FastPaths::WithStore(&mut store)
        } else {
            kiln_wasi::FastPaths::Off
        };
        kiln_wasi::add_to_linker_with(&mut linker, |c| c, paths).expect("add_to_linker");
        let module = linker.module(wrapper_wat(1)).expect("wrapper module");
        Guest::start(&linker, store, &module)
    }

    /// Calls wrapper `name`; the errno, or the error (a trap, `I32Exit`, ...).
    pub fn try_call(&mut self, name: &str, args: &[Val]) -> Result<i32, kiln::Error> {
        let f = self.instance.get_func(&self.store, name).expect("export");
        let mut r = [Val::I32(0)];
        let n = if FUNCS.iter().any(|(f, _, ret)| *f == name && !ret) {
            0
        } else {
            1
        };
        f.call(&mut self.store, args, &mut r[..n])?;
        match r[0] {
            Val::I32(e) => Ok(e),
            _ => unreachable!(),
        }
    }

    /// Calls wrapper `name`, which must return normally; its errno.
    pub fn call(&mut self, name: &str, args: &[Val]) -> i32 {
        self.try_call(name, args)
            .unwrap_or_else(|e| panic!("{name} failed: {e}"))
    }

    pub fn write(&mut self, at: u32, bytes: &[u8]) {
        self.memory
            .write(&mut self.store, at as usize, bytes)
            .expect("write to guest memory");
    }

    pub fn read(&self, at: u32, len: usize) -> Vec<u8> {
        let mut b = vec![0; len];
        self.memory
            .read(&self.store, at as usize, &mut b)
            .expect("read guest memory");
        b
    }

    pub fn u32_at(&self, at: u32) -> u32 {
        u32::from_le_bytes(self.read(at, 4).try_into().unwrap())
    }

    pub fn u64_at(&self, at: u32) -> u64 {
        u64::from_le_bytes(self.read(at, 8).try_into().unwrap())
    }

    /// Puts `s` in memory; its pointer and length as arguments.
    pub fn string(&mut self, s: &str) -> (Val, Val) {
        let at = self.next_string;
        self.write(at, s.as_bytes());
        self.next_string += s.len() as u32 + 1;
        if self.next_string > 60_000 {
            self.next_string = STRINGS;
        }
        (Val::I32(at as i32), Val::I32(s.len() as i32))
    }

    /// `path_open` following symlinks: the new fd, or the errno.
    pub fn open(
        &mut self, dir: u32, path: &str, oflags: i32, rights: i64, fdflags: i32,
    ) -> Result<u32, i32> {
        self.open_at(dir, 1, path, oflags, rights, fdflags)
    }

    /// `path_open` with lookup flags `dirflags`: the new fd, or the errno.
    pub fn open_at(
        &mut self, dir: u32, dirflags: u32, path: &str, oflags: i32, rights: i64, fdflags: i32,
    ) -> Result<u32, i32> {
        let (p, l) = self.string(path);
        let args = [
            i(dir),
            i(dirflags),
            p,
            l,
            i(oflags as u32),
            Val::I64(rights),
            Val::I64(rights),
            i(fdflags as u32),
            i(0),
        ];
        let e = self.call("path_open", &args);
        if e == 0 {
            Ok(self.u32_at(0))
        } else {
            Err(e)
        }
    }

    /// `fd_write` of `bytes` (put at 2048, iovec at 16): errno and count written.
    pub fn fd_write(&mut self, fd: u32, bytes: &[u8]) -> (i32, u32) {
        self.write(2048, bytes);
        self.write(16, &2048u32.to_le_bytes());
        self.write(20, &(bytes.len() as u32).to_le_bytes());
        let e = self.call("fd_write", &[i(fd), i(16), i(1), i(24)]);
        (e, self.u32_at(24))
    }

    /// `fd_read` of up to `len` bytes (into 2048, iovec at 16): errno and bytes.
    pub fn fd_read(&mut self, fd: u32, len: u32) -> (i32, Vec<u8>) {
        self.write(16, &2048u32.to_le_bytes());
        self.write(20, &len.to_le_bytes());
        let e = self.call("fd_read", &[i(fd), i(16), i(1), i(24)]);
        let n = if e == 0 { self.u32_at(24) } else { 0 };
        (e, self.read(2048, n as usize))
    }
}

/// An `i32` argument.
pub fn i(v: u32) -> Val {
    Val::I32(v as i32)
}

pub mod errno {
    pub const SUCCESS: i32 = 0;
    pub const ACCES: i32 = 2;
    pub const BADF: i32 = 8;
    pub const DQUOT: i32 = 19;
    pub const EXIST: i32 = 20;
    pub const FAULT: i32 = 21;
    pub const INVAL: i32 = 28;
    pub const ISDIR: i32 = 31;
    pub const LOOP: i32 = 32;
    pub const MFILE: i32 = 33;
    pub const NAMETOOLONG: i32 = 37;
    pub const NOSPC: i32 = 51;
    pub const NOENT: i32 = 44;
    pub const NOSYS: i32 = 52;
    pub const NOTDIR: i32 = 54;
    pub const NOTEMPTY: i32 = 55;
    pub const NOTSUP: i32 = 58;
    pub const PERM: i32 = 63;
    pub const SPIPE: i32 = 70;
    pub const NOTCAPABLE: i32 = 76;
}

pub mod rights {
    pub const FD_READ: i64 = 1 << 1;
    pub const FD_SEEK: i64 = 1 << 2;
    pub const FD_WRITE: i64 = 1 << 6;
    pub const FD_READDIR: i64 = 1 << 14;
    pub const RW: i64 = FD_READ | FD_WRITE;
}

pub mod oflags {
    pub const CREAT: i32 = 1;
    pub const DIRECTORY: i32 = 2;
    pub const EXCL: i32 = 4;
    pub const TRUNC: i32 = 8;
}

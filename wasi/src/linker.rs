//! `add_to_linker`: defines every `wasi_snapshot_preview1` function.
//!
//! Functions of up to six parameters are typed closures (`func_wrap`); `path_open`
//! (9), `path_link` (7) and `path_filestat_set_times` (7) exceed what `func_wrap`
//! supports and take `Val`s (`func_new`).

use crate::ctx::WasiCtx;
use crate::funcs::{
    args, clock, fd, fd_io, open, path, poll, proc, random, readdir, sock, with_ctx, with_mem, Get,
};
use kiln::{Caller, FuncType, Linker, Val, ValType};

const MODULE: &str = "wasi_snapshot_preview1";

/// A typed host function that uses guest memory: `|ctx, mem, params| body`.
macro_rules! mem_fn {
    ($l:ident, $get:ident, $name:literal, |$ctx:ident, $mem:ident $(, $p:ident: $t:ty)*| $body:expr) => {
        $l.func_wrap(MODULE, $name, move |mut caller: Caller<'_, _>, $($p: $t),*| -> kiln::Result<i32> {
            with_mem(&mut caller, $get, |$ctx, $mem| $body)
        })?;
    };
}

/// A typed host function that needs only the context: `|ctx, params| body`.
macro_rules! ctx_fn {
    ($l:ident, $get:ident, $name:literal, |$ctx:ident $(, $p:ident: $t:ty)*| $body:expr) => {
        $l.func_wrap(MODULE, $name, move |mut caller: Caller<'_, _>, $($p: $t),*| -> kiln::Result<i32> {
            with_ctx(&mut caller, $get, |$ctx| $body)
        })?;
    };
}

/// Parameter `i` of a `func_new` host function, as `u32`/`u64`.
fn p32(p: &[Val], i: usize) -> kiln::Result<u32> {
    match p.get(i) {
        Some(Val::I32(v)) => Ok(*v as u32),
        _ => Err(kiln::Error::msg("WASI: expected an i32 argument")),
    }
}

fn p64(p: &[Val], i: usize) -> kiln::Result<u64> {
    match p.get(i) {
        Some(Val::I64(v)) => Ok(*v as u64),
        _ => Err(kiln::Error::msg("WASI: expected an i64 argument")),
    }
}

/// Defines every `wasi_snapshot_preview1` function in `linker`; `get` maps the store
/// data to its [`WasiCtx`].
pub fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut WasiCtx,
) -> Result<(), kiln::Error> {
    let l = linker;
    let g: Get<T> = get;

    // Arguments and environment.
    mem_fn!(
        l,
        g,
        "args_get",
        |c, m, argv: u32, buf: u32| args::args_get(c, m, argv, buf)
    );
    mem_fn!(l, g, "args_sizes_get", |c, m, n: u32, size: u32| {
        args::args_sizes_get(c, m, n, size)
    });
    mem_fn!(l, g, "environ_get", |c, m, env: u32, buf: u32| {
        args::environ_get(c, m, env, buf)
    });
    mem_fn!(l, g, "environ_sizes_get", |c, m, n: u32, size: u32| {
        args::environ_sizes_get(c, m, n, size)
    });

    // Clocks, randomness, processes.
    mem_fn!(l, g, "clock_res_get", |_c, m, id: u32, out: u32| {
        clock::clock_res_get(m, id, out)
    });
    mem_fn!(
        l,
        g,
        "clock_time_get",
        |_c, m, id: u32, precision: u64, out: u32| { clock::clock_time_get(m, id, precision, out) }
    );
    mem_fn!(l, g, "random_get", |_c, m, buf: u32, len: u32| {
        random::random_get(m, buf, len)
    });
    l.func_wrap(MODULE, "proc_exit", |code: u32| -> kiln::Result<()> {
        Err(proc::proc_exit(code))
    })?;
    ctx_fn!(l, g, "proc_raise", |_c, sig: u32| proc::proc_raise(sig));
    ctx_fn!(l, g, "sched_yield", |_c| proc::sched_yield());
    mem_fn!(
        l,
        g,
        "poll_oneoff",
        |c, m, subs: u32, events: u32, n: u32, out: u32| {
            poll::poll_oneoff(c, m, subs, events, n, out)
        }
    );

    // Descriptors.
    ctx_fn!(
        l,
        g,
        "fd_advise",
        |c, fd: u32, offset: u64, len: u64, advice: u32| {
            fd::fd_advise(c, fd, offset, len, advice)
        }
    );
    ctx_fn!(l, g, "fd_allocate", |c, fd: u32, offset: u64, len: u64| {
        fd::fd_allocate(c, fd, offset, len)
    });
    ctx_fn!(l, g, "fd_close", |c, fd: u32| fd::fd_close(c, fd));
    ctx_fn!(l, g, "fd_datasync", |c, fd: u32| fd::fd_sync(c, fd, true));
    ctx_fn!(l, g, "fd_sync", |c, fd: u32| fd::fd_sync(c, fd, false));
    mem_fn!(l, g, "fd_fdstat_get", |c, m, fd: u32, out: u32| {
        fd::fd_fdstat_get(c, m, fd, out)
    });
    ctx_fn!(l, g, "fd_fdstat_set_flags", |c, fd: u32, flags: u32| {
        fd::fd_fdstat_set_flags(c, fd, flags)
    });
    ctx_fn!(
        l,
        g,
        "fd_fdstat_set_rights",
        |c, fd: u32, base: u64, inh: u64| { fd::fd_fdstat_set_rights(c, fd, base, inh) }
    );
    mem_fn!(l, g, "fd_filestat_get", |c, m, fd: u32, out: u32| {
        fd::fd_filestat_get(c, m, fd, out)
    });
    ctx_fn!(l, g, "fd_filestat_set_size", |c, fd: u32, size: u64| {
        fd::fd_filestat_set_size(c, fd, size)
    });
    ctx_fn!(
        l,
        g,
        "fd_filestat_set_times",
        |c, fd: u32, atim: u64, mtim: u64, flags: u32| {
            fd::fd_filestat_set_times(c, fd, atim, mtim, flags)
        }
    );
    mem_fn!(l, g, "fd_prestat_get", |c, m, fd: u32, out: u32| {
        fd::fd_prestat_get(c, m, fd, out)
    });
    mem_fn!(
        l,
        g,
        "fd_prestat_dir_name",
        |c, m, fd: u32, path: u32, len: u32| { fd::fd_prestat_dir_name(c, m, fd, path, len) }
    );
    ctx_fn!(
        l,
        g,
        "fd_renumber",
        |c, from: u32, to: u32| fd::fd_renumber(c, from, to)
    );
    mem_fn!(l, g, "fd_read", |c,
                              m,
                              fd: u32,
                              iovs: u32,
                              n: u32,
                              out: u32| {
        fd_io::fd_read(c, m, fd, iovs, n, out)
    });
    mem_fn!(l, g, "fd_pread", |c,
                               m,
                               fd: u32,
                               iovs: u32,
                               n: u32,
                               offset: u64,
                               out: u32| {
        fd_io::fd_pread(c, m, fd, iovs, n, offset, out)
    });
    mem_fn!(l, g, "fd_write", |c,
                               m,
                               fd: u32,
                               iovs: u32,
                               n: u32,
                               out: u32| {
        fd_io::fd_write(c, m, fd, iovs, n, out)
    });
    mem_fn!(
        l,
        g,
        "fd_pwrite",
        |c, m, fd: u32, iovs: u32, n: u32, offset: u64, out: u32| {
            fd_io::fd_pwrite(c, m, fd, iovs, n, offset, out)
        }
    );
    mem_fn!(l, g, "fd_seek", |c,
                              m,
                              fd: u32,
                              offset: i64,
                              whence: u32,
                              out: u32| {
        fd_io::fd_seek(c, m, fd, offset, whence, out)
    });
    mem_fn!(l, g, "fd_tell", |c, m, fd: u32, out: u32| fd_io::fd_tell(
        c, m, fd, out
    ));
    mem_fn!(
        l,
        g,
        "fd_readdir",
        |c, m, fd: u32, buf: u32, len: u32, cookie: u64, out: u32| {
            readdir::fd_readdir(c, m, fd, buf, len, cookie, out)
        }
    );

    // Paths.
    mem_fn!(
        l,
        g,
        "path_create_directory",
        |c, m, fd: u32, path: u32, len: u32| { path::path_create_directory(c, m, fd, path, len) }
    );
    mem_fn!(
        l,
        g,
        "path_remove_directory",
        |c, m, fd: u32, path: u32, len: u32| { path::path_remove_directory(c, m, fd, path, len) }
    );
    mem_fn!(
        l,
        g,
        "path_unlink_file",
        |c, m, fd: u32, path: u32, len: u32| { path::path_unlink_file(c, m, fd, path, len) }
    );
    mem_fn!(
        l,
        g,
        "path_filestat_get",
        |c, m, fd: u32, flags: u32, path: u32, len: u32, out: u32| {
            path::path_filestat_get(c, m, fd, flags, path, len, out)
        }
    );
    mem_fn!(
        l,
        g,
        "path_readlink",
        |c, m, fd: u32, path: u32, len: u32, buf: u32, buf_len: u32, out: u32| {
            path::path_readlink(c, m, fd, path, len, buf, buf_len, out)
        }
    );
    mem_fn!(
        l,
        g,
        "path_rename",
        |c, m, fd: u32, old: u32, old_len: u32, new_fd: u32, new: u32, new_len: u32| {
            path::path_rename(c, m, fd, old, old_len, new_fd, new, new_len)
        }
    );
    mem_fn!(
        l,
        g,
        "path_symlink",
        |c, m, old: u32, old_len: u32, fd: u32, new: u32, new_len: u32| {
            path::path_symlink(c, m, old, old_len, fd, new, new_len)
        }
    );

    use ValType::{I32, I64};
    l.func_new(
        MODULE,
        "path_open",
        FuncType::new([I32, I32, I32, I32, I32, I64, I64, I32, I32], [I32]),
        move |mut caller, p, r| {
            let (fd, dirflags, path, len, oflags) =
                (p32(p, 0)?, p32(p, 1)?, p32(p, 2)?, p32(p, 3)?, p32(p, 4)?);
            let (base, inheriting, fdflags, out) = (p64(p, 5)?, p64(p, 6)?, p32(p, 7)?, p32(p, 8)?);
            let e = with_mem(&mut caller, g, |c, m| {
                open::path_open(
                    c, m, fd, dirflags, path, len, oflags, base, inheriting, fdflags, out,
                )
            })?;
            r[0] = Val::I32(e);
            Ok(())
        },
    )?;
    l.func_new(
        MODULE,
        "path_link",
        FuncType::new([I32; 7], [I32]),
        move |mut caller, p, r| {
            let (old_fd, old_flags, old, old_len) =
                (p32(p, 0)?, p32(p, 1)?, p32(p, 2)?, p32(p, 3)?);
            let (new_fd, new, new_len) = (p32(p, 4)?, p32(p, 5)?, p32(p, 6)?);
            let e = with_mem(&mut caller, g, |c, m| {
                path::path_link(c, m, old_fd, old_flags, old, old_len, new_fd, new, new_len)
            })?;
            r[0] = Val::I32(e);
            Ok(())
        },
    )?;
    l.func_new(
        MODULE,
        "path_filestat_set_times",
        FuncType::new([I32, I32, I32, I32, I64, I64, I32], [I32]),
        move |mut caller, p, r| {
            let (fd, flags, path, len) = (p32(p, 0)?, p32(p, 1)?, p32(p, 2)?, p32(p, 3)?);
            let (atim, mtim, fst) = (p64(p, 4)?, p64(p, 5)?, p32(p, 6)?);
            let e = with_mem(&mut caller, g, |c, m| {
                path::path_filestat_set_times(c, m, fd, flags, path, len, atim, mtim, fst)
            })?;
            r[0] = Val::I32(e);
            Ok(())
        },
    )?;

    // Sockets: none exist.
    ctx_fn!(l, g, "sock_accept", |c, fd: u32, _flags: u32, _out: u32| {
        sock::not_a_socket(c, fd)
    });
    ctx_fn!(
        l,
        g,
        "sock_recv",
        |c, fd: u32, _data: u32, _len: u32, _flags: u32, _n: u32, _oflags: u32| {
            sock::not_a_socket(c, fd)
        }
    );
    ctx_fn!(l, g, "sock_send", |c,
                                fd: u32,
                                _data: u32,
                                _len: u32,
                                _flags: u32,
                                _n: u32| {
        sock::not_a_socket(c, fd)
    });
    ctx_fn!(l, g, "sock_shutdown", |c, fd: u32, _how: u32| {
        sock::not_a_socket(c, fd)
    });
    Ok(())
}

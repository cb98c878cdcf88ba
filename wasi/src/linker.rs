//! `add_to_linker`: defines every `wasi_snapshot_preview1` function.
//!
//! [`for_each_wasi_function!`] is the one list of them. A function's WASI name is its
//! Rust name, and its wasm signature is derived from its Rust parameter types (`u32` →
//! `i32`, `u64`/`i64` → `i64`) by [`WasiFunc`]. Each parameter list is therefore written
//! once, in `funcs/`, and registration cannot drift from it.

use crate::ctx::WasiCtx;
use crate::errno::{Errno, WasiResult};
use crate::fast::FastPaths;
use crate::funcs::{self, Get};
use crate::memory::GuestMemory;
use kiln::{Caller, InlineFunc, Linker, WasmRet, WasmTy};

const MODULE: &str = "wasi_snapshot_preview1";

/// Invokes `$mac!` with every WASI function as `family::name`, in the order of the
/// snapshot's documentation. `family` is the file in `funcs/` that implements it.
macro_rules! for_each_wasi_function {
    ($mac:ident) => {
        $mac! {
            args::args_get, args::args_sizes_get, args::environ_get, args::environ_sizes_get,
            clock::clock_res_get, clock::clock_time_get,
            fd::fd_advise, fd::fd_allocate, fd::fd_close, fd::fd_datasync, fd::fd_fdstat_get,
            fd::fd_fdstat_set_flags, fd::fd_fdstat_set_rights, fd::fd_filestat_get,
            fd::fd_filestat_set_size, fd::fd_filestat_set_times, fd_io::fd_pread,
            fd::fd_prestat_get, fd::fd_prestat_dir_name, fd_io::fd_pwrite, fd_io::fd_read,
            readdir::fd_readdir, fd::fd_renumber, fd_io::fd_seek, fd::fd_sync, fd_io::fd_tell,
            fd_io::fd_write,
            path::path_create_directory, path::path_filestat_get, path::path_filestat_set_times,
            path::path_link, open::path_open, path::path_readlink, path::path_remove_directory,
            path::path_rename, path::path_symlink, path::path_unlink_file,
            poll::poll_oneoff, proc::proc_exit, proc::proc_raise, proc::sched_yield,
            random::random_get,
            sock::sock_accept, sock::sock_recv, sock::sock_send, sock::sock_shutdown,
        }
    };
}

macro_rules! names {
    ($($family:ident::$name:ident,)*) => {
        /// The name of every WASI function [`add_to_linker`] defines.
        pub const WASI_FUNCTIONS: &[&str] = &[$(stringify!($name)),*];
    };
}

for_each_wasi_function!(names);

/// Defines every `wasi_snapshot_preview1` function in `linker`; `get` maps the store
/// data to its [`WasiCtx`]. With the fast paths that need no store
/// ([`FastPaths::On`]: clocks and `sched_yield`), which modules compiled by the linker
/// (`Linker::module`) run inline.
pub fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>, get: fn(&mut T) -> &mut WasiCtx,
) -> Result<(), kiln::Error> {
    add_to_linker_with(linker, get, FastPaths::On)
}

/// [`add_to_linker`] with the fast paths `fast` asks for (see [`FastPaths`]).
pub fn add_to_linker_with<T: 'static>(
    linker: &mut Linker<T>, get: fn(&mut T) -> &mut WasiCtx, fast: FastPaths<'_, T>,
) -> Result<(), kiln::Error> {
    let mut bodies = crate::fast::bodies(fast, get)?;
    macro_rules! define {
        ($($family:ident::$name:ident,)*) => {
            $(funcs::$family::$name.define(linker, stringify!($name), get, bodies.remove(stringify!($name)))?;)*
        };
    }
    for_each_wasi_function!(define);
    Ok(())
}

/// What a WASI function returns, as wasm sees it: an errno, or (`proc_exit`) nothing,
/// because the call ends with a host error.
trait WasiReturn: 'static {
    /// The host function's return type.
    type Wasm: WasmRet;
    /// The function's outcome.
    fn into_wasm(self) -> Self::Wasm;
    /// A failure before the function could run (the module exports no memory).
    fn host_error(e: kiln::Error) -> Self::Wasm;
    /// The errno, if the function failed with one.
    fn failed_with(&self) -> Option<Errno>;
}

impl WasiReturn for WasiResult<()> {
    type Wasm = kiln::Result<i32>;
    fn into_wasm(self) -> kiln::Result<i32> {
        match self {
            Err(Errno::DEADLINE) => Err(kiln::Deadline::interrupted()),
            r => Ok(funcs::errno(r)),
        }
    }
    fn host_error(e: kiln::Error) -> kiln::Result<i32> {
        Err(e)
    }
    fn failed_with(&self) -> Option<Errno> {
        self.err()
    }
}

impl WasiReturn for kiln::Error {
    type Wasm = kiln::Result<()>;
    fn into_wasm(self) -> kiln::Result<()> {
        Err(self)
    }
    fn host_error(e: kiln::Error) -> kiln::Result<()> {
        Err(e)
    }
    fn failed_with(&self) -> Option<Errno> {
        None
    }
}

/// Marks a function taking `(&mut WasiCtx, &mut GuestMemory, params...)`: it runs with
/// the calling instance's exported `memory`.
struct WithMemory;

/// Marks a function taking `(&mut WasiCtx, params...)`.
struct ContextOnly;

/// A Rust function that implements a WASI function. `Marker` is `(WithMemory, A, B,
/// ...)` or `(ContextOnly, A, B, ...)` with the parameter types, which makes the wasm
/// signature.
trait WasiFunc<T, Marker> {
    /// Defines the function as `wasi_snapshot_preview1::name`, with `fast` as its inline
    /// body if given.
    fn define(
        self, linker: &mut Linker<T>, name: &'static str, get: Get<T>, fast: Option<InlineFunc>,
    ) -> kiln::Result<()>;
}

/// Defines `f` as `name`: inlinable with `fast`, else a plain typed host function.
fn define_as<T: 'static, P, R>(
    linker: &mut Linker<T>, name: &str, fast: Option<InlineFunc>,
    f: impl kiln::IntoFunc<T, P, R> + Clone,
) -> kiln::Result<()> {
    match fast {
        Some(body) => linker.func_inline(MODULE, name, body, f)?,
        None => linker.func_wrap(MODULE, name, f)?,
    };
    Ok(())
}

macro_rules! wasi_func {
    ($(($($p:ident $v:ident),*);)*) => {$(
        impl<T: 'static, F, R: WasiReturn, $($p: WasmTy),*> WasiFunc<T, (WithMemory, $($p,)*)> for F
        where
            F: Fn(&mut WasiCtx, &mut GuestMemory<'_>, $($p),*) -> R + Copy + Send + Sync + 'static,
        {
            fn define(self, linker: &mut Linker<T>, name: &'static str, get: Get<T>, fast: Option<InlineFunc>) -> kiln::Result<()> {
                define_as(linker, name, fast, move |mut caller: Caller<'_, T>, $($v: $p),*| {
                    let run = |ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>| {
                        let r = self(ctx, mem, $($v),*);
                        ctx.refusals.note(name, r.failed_with());
                        r
                    };
                    match funcs::with_mem(&mut caller, get, run) {
                        Ok(r) => r.into_wasm(),
                        Err(e) => R::host_error(e),
                    }
                })
            }
        }

        impl<T: 'static, F, R: WasiReturn, $($p: WasmTy),*> WasiFunc<T, (ContextOnly, $($p,)*)> for F
        where
            F: Fn(&mut WasiCtx, $($p),*) -> R + Copy + Send + Sync + 'static,
        {
            fn define(self, linker: &mut Linker<T>, name: &'static str, get: Get<T>, fast: Option<InlineFunc>) -> kiln::Result<()> {
                define_as(linker, name, fast, move |mut caller: Caller<'_, T>, $($v: $p),*| {
                    let run = |ctx: &mut WasiCtx| {
                        let r = self(ctx, $($v),*);
                        ctx.refusals.note(name, r.failed_with());
                        r
                    };
                    funcs::with_ctx(&mut caller, get, run).into_wasm()
                })
            }
        }
    )*};
}

wasi_func! {
    ();
    (A a);
    (A a, B b);
    (A a, B b, C c);
    (A a, B b, C c, D d);
    (A a, B b, C c, D d, E e);
    (A a, B b, C c, D d, E e, G g);
    (A a, B b, C c, D d, E e, G g, H h);
    (A a, B b, C c, D d, E e, G g, H h, I i);
    (A a, B b, C c, D d, E e, G g, H h, I i, J j);
}

#[cfg(test)]
mod tests {
    use super::WASI_FUNCTIONS;

    #[test]
    fn the_list_is_the_whole_snapshot() {
        assert_eq!(WASI_FUNCTIONS.len(), 46);
        let mut sorted = WASI_FUNCTIONS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 46, "no name twice");
    }
}

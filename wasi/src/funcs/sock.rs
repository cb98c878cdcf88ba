//! `sock_*`: no descriptor is ever a socket here, so each gives `EBADF` for a number
//! that is not open and `ENOTSUP` for any other.

use crate::ctx::WasiCtx;
use crate::errno::{Errno, WasiResult};

fn not_a_socket(ctx: &WasiCtx, fd: u32) -> WasiResult<()> {
    ctx.fds.get(fd)?;
    Err(Errno::NOTSUP)
}

/// `sock_accept(fd, flags, out_fd)`
pub(crate) fn sock_accept(ctx: &mut WasiCtx, fd: u32, _flags: u32, _out: u32) -> WasiResult<()> {
    not_a_socket(ctx, fd)
}

/// `sock_recv(fd, ri_data, ri_data_len, ri_flags, out_len, out_flags)`
pub(crate) fn sock_recv(
    ctx: &mut WasiCtx, fd: u32, _data: u32, _data_len: u32, _flags: u32, _out_len: u32,
    _out_flags: u32,
) -> WasiResult<()> {
    not_a_socket(ctx, fd)
}

/// `sock_send(fd, si_data, si_data_len, si_flags, out_len)`
pub(crate) fn sock_send(
    ctx: &mut WasiCtx, fd: u32, _data: u32, _data_len: u32, _flags: u32, _out_len: u32,
) -> WasiResult<()> {
    not_a_socket(ctx, fd)
}

/// `sock_shutdown(fd, how)`
pub(crate) fn sock_shutdown(ctx: &mut WasiCtx, fd: u32, _how: u32) -> WasiResult<()> {
    not_a_socket(ctx, fd)
}

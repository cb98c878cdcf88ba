//! `sock_*`: no descriptor is ever a socket here, so each gives `EBADF` for a number
//! that is not open and `ENOTSUP` for any other.

use crate::ctx::WasiCtx;
use crate::errno::{Errno, WasiResult};

pub(crate) fn not_a_socket(ctx: &WasiCtx, fd: u32) -> WasiResult<()> {
    ctx.fds.get(fd)?;
    Err(Errno::NOTSUP)
}

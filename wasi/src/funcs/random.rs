//! `random_get`: the host's cryptographic random source, straight into guest memory.

use crate::ctx::WasiCtx;
use crate::errno::{Errno, WasiResult};
use crate::memory::GuestMemory;

pub(crate) fn random_get(
    _ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, buf: u32, len: u32,
) -> WasiResult<()> {
    let dest = mem.slice_mut(buf, len)?;
    getrandom::fill(dest).map_err(|_| Errno::IO)
}

//! `random_get`: the host's cryptographic random source, straight into guest memory.

use crate::ctx::WasiCtx;
use crate::errno::{Errno, WasiResult};
use crate::memory::GuestMemory;

pub(crate) fn random_get(
    ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, buf: u32, len: u32,
) -> WasiResult<()> {
    let dest = mem.slice_mut(buf, len)?;
    // Up to 4 GiB: fill it in chunks, stopping if the store's deadline passes.
    for chunk in dest.chunks_mut(1 << 20) {
        if ctx.deadline.passed() {
            return Err(Errno::DEADLINE);
        }
        getrandom::fill(chunk).map_err(|_| Errno::IO)?;
    }
    Ok(())
}

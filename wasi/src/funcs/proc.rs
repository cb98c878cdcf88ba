//! `proc_exit`, `proc_raise`, `sched_yield`.

use crate::ctx::WasiCtx;
use crate::errno::{Errno, WasiResult};
use std::fmt;

/// The guest called `proc_exit(code)`. Returned (as a host error) from the call that
/// was running; find it with `err.downcast_ref::<I32Exit>()`. It is not a trap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct I32Exit(pub i32);

impl fmt::Display for I32Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exited with status {}", self.0)
    }
}

impl std::error::Error for I32Exit {}

/// `proc_exit`: ends the instance with `code` (a host error, so the function returns
/// nothing to wasm).
pub(crate) fn proc_exit(_ctx: &mut WasiCtx, code: u32) -> kiln::Error {
    kiln::Error::host(I32Exit(code as i32))
}

/// `proc_raise`: signals are not supported.
pub(crate) fn proc_raise(_ctx: &mut WasiCtx, _sig: u32) -> WasiResult<()> {
    Err(Errno::NOSYS)
}

/// `sched_yield`
pub(crate) fn sched_yield(_ctx: &mut WasiCtx) -> WasiResult<()> {
    std::thread::yield_now();
    Ok(())
}

//! `clock_res_get`, `clock_time_get`.

use crate::ctx::WasiCtx;
use crate::errno::{Errno, WasiResult};
use crate::funcs::timestamp;
use crate::memory::GuestMemory;
use crate::types::clockid;
use rustix::time::{clock_getres, clock_gettime, ClockId, Timespec};

/// The host clock for a WASI clock id (`EINVAL` for unknown ids).
pub(crate) fn host_clock(id: u32) -> WasiResult<ClockId> {
    match id {
        clockid::REALTIME => Ok(ClockId::Realtime),
        clockid::MONOTONIC => Ok(ClockId::Monotonic),
        clockid::PROCESS_CPUTIME_ID => Ok(ClockId::ProcessCPUTime),
        clockid::THREAD_CPUTIME_ID => Ok(ClockId::ThreadCPUTime),
        _ => Err(Errno::INVAL),
    }
}

fn nanos(t: Timespec) -> u64 {
    timestamp(t.tv_sec, t.tv_nsec)
}

/// The current time of clock `id`, in nanoseconds.
pub(crate) fn now(id: u32) -> WasiResult<u64> {
    Ok(nanos(clock_gettime(host_clock(id)?)))
}

/// The resolution of clock `id`, in nanoseconds (at least 1).
pub(crate) fn resolution(id: u32) -> WasiResult<u64> {
    Ok(nanos(clock_getres(host_clock(id)?)).max(1))
}

pub(crate) fn clock_res_get(
    _ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, id: u32, out: u32,
) -> WasiResult<()> {
    mem.write_u64(out, resolution(id)?)
}

pub(crate) fn clock_time_get(
    _ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, id: u32, _precision: u64, out: u32,
) -> WasiResult<()> {
    let t = now(id)?;
    mem.write_u64(out, t)
}

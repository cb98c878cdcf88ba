//! `poll_oneoff`: clock subscriptions (relative or absolute, any clock id that exists)
//! and `fd_read`/`fd_write` subscriptions.
//!
//! Files, in-memory streams and the host's outputs are always ready, so the call
//! returns at once when it has any fd subscription on them; the host's standard input
//! is polled for real. Otherwise the call sleeps until the earliest clock, or until the
//! store's deadline passes (then the call ends with the `Interrupted` trap). The
//! subscriptions are read from guest memory in two passes (before and after waiting)
//! instead of being copied: nothing is allocated per subscription.

use crate::ctx::WasiCtx;
use crate::errno::{Errno, WasiResult};
use crate::fdtable::Desc;
use crate::funcs::clock;
use crate::memory::GuestMemory;
use crate::stdio::{host_stdin_ready, StdinDesc};
use crate::types::{clockid, eventtype, rights, size};
use crate::types::{EVENT_FD_READWRITE_HANGUP, SUBSCRIPTION_CLOCK_ABSTIME};
use std::time::{Duration, Instant};

/// The most subscriptions one call may have (`EINVAL` beyond, as `poll` refuses more
/// descriptors than a process may open): each pass over them is bounded.
pub(crate) const MAX_SUBSCRIPTIONS: u32 = 4096;

/// Clock readings taken once per call, so both passes agree on every deadline.
struct Epoch {
    instant: Instant,
    monotonic: u64,
    realtime: u64,
}

/// One subscription's state.
enum Status {
    /// Ready, with an event to report: error, `nbytes`, flags.
    Ready(Errno, u64, u16),
    /// A clock that fires at this instant (`None`: never).
    Waiting(Option<Instant>),
    /// The host's standard input, not readable yet.
    StdinPending,
}

/// `userdata`, event type and status of subscription `i`.
fn status(
    ctx: &WasiCtx, mem: &GuestMemory<'_>, subs: u32, i: u32, epoch: &Epoch,
) -> WasiResult<(u64, u8, Status)> {
    let at = subs + i * size::SUBSCRIPTION;
    let userdata = mem.read_u64(at)?;
    let tag = mem.read_u8(at + 8)?;
    let st = match tag {
        eventtype::CLOCK => {
            let id = mem.read_u32(at + 16)?;
            let timeout = mem.read_u64(at + 24)?;
            let flags = mem.read_u16(at + 40)?;
            clock_status(id, timeout, flags & SUBSCRIPTION_CLOCK_ABSTIME != 0, epoch)
        }
        eventtype::FD_READ | eventtype::FD_WRITE => {
            let fd = mem.read_u32(at + 16)?;
            fd_status(ctx, fd, tag == eventtype::FD_READ)
        }
        _ => return Err(Errno::INVAL),
    };
    Ok((userdata, tag, st))
}

fn clock_status(id: u32, timeout: u64, absolute: bool, epoch: &Epoch) -> Status {
    let delay = match (id, absolute) {
        (clockid::REALTIME | clockid::MONOTONIC, false) => timeout,
        (clockid::MONOTONIC, true) => timeout.saturating_sub(epoch.monotonic),
        (clockid::REALTIME, true) => timeout.saturating_sub(epoch.realtime),
        // CPU-time clocks do not advance while the guest sleeps.
        _ => return Status::Ready(Errno::INVAL, 0, 0),
    };
    Status::Waiting(epoch.instant.checked_add(Duration::from_nanos(delay)))
}

fn fd_status(ctx: &WasiCtx, fd: u32, read: bool) -> Status {
    let e = match ctx.fds.get(fd) {
        Ok(e) => e,
        Err(errno) => return Status::Ready(errno, 0, 0),
    };
    if let Err(errno) = e.require(rights::POLL_FD_READWRITE) {
        return Status::Ready(errno, 0, 0);
    }
    match (&e.desc, read) {
        (Desc::File(f), true) if f.readable => {
            let left = f
                .file
                .metadata()
                .ok()
                .zip(rustix::fs::tell(&f.file).ok())
                .map_or(0, |(m, pos)| m.len().saturating_sub(pos));
            Status::Ready(Errno::SUCCESS, left, 0)
        }
        (Desc::File(f), false) if f.writable => Status::Ready(Errno::SUCCESS, 0, 0),
        (Desc::Output(_), false) => Status::Ready(Errno::SUCCESS, 0, 0),
        (Desc::Stdin(s @ StdinDesc::Bytes { .. }), true) => {
            let left = s.available().unwrap_or(0);
            let flags = if left == 0 {
                EVENT_FD_READWRITE_HANGUP
            } else {
                0
            };
            Status::Ready(Errno::SUCCESS, left, flags)
        }
        (Desc::Stdin(StdinDesc::Inherit), true) => {
            if host_stdin_ready(Some(Duration::ZERO)) {
                Status::Ready(Errno::SUCCESS, 0, 0)
            } else {
                Status::StdinPending
            }
        }
        _ => Status::Ready(Errno::BADF, 0, 0),
    }
}

pub(crate) fn poll_oneoff(
    ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, subs: u32, events: u32, n: u32, out: u32,
) -> WasiResult<()> {
    if n == 0 || n > MAX_SUBSCRIPTIONS {
        // Waiting for nothing would block forever; a bound keeps every pass short.
        return Err(Errno::INVAL);
    }
    mem.check(subs, u64::from(n) * u64::from(size::SUBSCRIPTION))?;
    mem.check(events, u64::from(n) * u64::from(size::EVENT))?;
    mem.check(out, 4)?;
    let epoch = Epoch {
        instant: Instant::now(),
        monotonic: clock::now(clockid::MONOTONIC)?,
        realtime: clock::now(clockid::REALTIME)?,
    };
    loop {
        // Pass 1: is anything ready, and if not, until when to wait?
        let now = Instant::now();
        let mut any_ready = false;
        let mut earliest: Option<Instant> = None;
        let mut stdin_pending = false;
        for i in 0..n {
            match status(ctx, mem, subs, i, &epoch)?.2 {
                Status::Ready(..) => any_ready = true,
                Status::Waiting(Some(t)) if t <= now => any_ready = true,
                Status::Waiting(Some(t)) => earliest = Some(earliest.map_or(t, |e| e.min(t))),
                Status::Waiting(None) => {}
                Status::StdinPending => stdin_pending = true,
            }
        }
        if any_ready {
            break;
        }
        // Wait for the first clock (or for good, if none ever fires, as the guest
        // asked) or for standard input, but never past the store's deadline.
        let awoke = if stdin_pending {
            ctx.deadline.wait_until(earliest, host_stdin_ready)
        } else {
            ctx.deadline.sleep_until(earliest)
        };
        if !awoke {
            return Err(Errno::DEADLINE);
        }
    }
    // Pass 2: report everything ready now.
    let now = Instant::now();
    let mut count: u32 = 0;
    for i in 0..n {
        let (userdata, tag, st) = status(ctx, mem, subs, i, &epoch)?;
        let (error, nbytes, flags) = match st {
            Status::Ready(e, nbytes, flags) => (e, nbytes, flags),
            Status::Waiting(Some(t)) if t <= now => (Errno::SUCCESS, 0, 0),
            _ => continue,
        };
        let mut ev = [0u8; size::EVENT as usize];
        ev[0..8].copy_from_slice(&userdata.to_le_bytes());
        ev[8..10].copy_from_slice(&error.0.to_le_bytes());
        ev[10] = tag;
        if tag != eventtype::CLOCK {
            ev[16..24].copy_from_slice(&nbytes.to_le_bytes());
            ev[24..26].copy_from_slice(&flags.to_le_bytes());
        }
        mem.write_bytes(events + count * size::EVENT, &ev)?;
        count += 1;
    }
    mem.write_u32(out, count)
}

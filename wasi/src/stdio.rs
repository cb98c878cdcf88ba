//! Standard input, output and error: inherited from the host, in-memory, or closed.

use crate::errno::{Errno, WasiResult};
use kiln::Deadline;
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use std::io::{Read, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Where the guest's standard input comes from. The default is empty input
/// (`Bytes(vec![])`: the first read returns end of file).
#[derive(Debug, Clone)]
pub enum Stdin {
    /// The host process's standard input.
    Inherit,
    /// These bytes, then end of file.
    Bytes(Vec<u8>),
    /// No standard input: fd 0 stays reserved (no `path_open` gets it) but every
    /// operation on it fails with `EBADF`, until the guest closes or renumbers over it.
    Closed,
}

impl Default for Stdin {
    fn default() -> Self {
        Stdin::Bytes(Vec::new())
    }
}

/// Where the guest's standard output or error goes.
#[derive(Debug, Clone, Default)]
pub enum Output {
    /// The host process's stream of the same number.
    #[default]
    Inherit,
    /// An in-memory buffer the host reads after (or during) the run.
    Pipe(OutputPipe),
    /// Nothing: the fd stays reserved but every operation on it fails with `EBADF`.
    Closed,
}

/// An in-memory output stream with a capacity. Clones share the same buffer: keep
/// one, hand one to [`crate::WasiCtxBuilder::stdout`], and read
/// [`OutputPipe::contents`] afterwards.
///
/// Bytes past the capacity are dropped, and [`OutputPipe::truncated`] says so; the
/// guest's write still reports them written (a guest told "0 bytes written" would
/// only retry), so the host holds at most the capacity, whatever the guest prints.
#[derive(Debug, Clone)]
pub struct OutputPipe(Arc<Mutex<PipeBuffer>>);

#[derive(Debug)]
struct PipeBuffer {
    bytes: Vec<u8>,
    capacity: usize,
    truncated: bool,
}

/// The default capacity of an [`OutputPipe`]: 64 MiB.
pub const DEFAULT_PIPE_CAPACITY: usize = 64 << 20;

impl Default for OutputPipe {
    fn default() -> Self {
        OutputPipe::with_capacity(DEFAULT_PIPE_CAPACITY)
    }
}

impl OutputPipe {
    /// An empty pipe holding up to [`DEFAULT_PIPE_CAPACITY`] bytes.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty pipe holding up to `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        OutputPipe(Arc::new(Mutex::new(PipeBuffer {
            bytes: Vec::new(),
            capacity,
            truncated: false,
        })))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PipeBuffer> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Everything written so far, up to the capacity.
    pub fn contents(&self) -> Vec<u8> {
        self.lock().bytes.clone()
    }

    /// What was written from byte `offset` on (nothing if `offset` is past the end):
    /// a reader that follows the pipe as it fills.
    pub fn contents_from(&self, offset: usize) -> Vec<u8> {
        self.lock().bytes.get(offset..).unwrap_or_default().to_vec()
    }

    /// Whether bytes were dropped because the pipe was full.
    pub fn truncated(&self) -> bool {
        self.lock().truncated
    }

    fn append(&self, bytes: &[u8]) {
        let mut b = self.lock();
        let room = b.capacity.saturating_sub(b.bytes.len());
        let keep = bytes.len().min(room);
        b.bytes.extend_from_slice(&bytes[..keep]);
        if keep < bytes.len() {
            b.truncated = true;
        }
    }
}

/// Standard input as a descriptor.
#[derive(Debug)]
pub(crate) enum StdinDesc {
    Inherit,
    Bytes { data: Vec<u8>, pos: usize },
}

impl StdinDesc {
    /// Reads into `buf`; 0 at end of file. Reading the host's standard input waits for
    /// it to be readable first, and gives up when `deadline` passes.
    pub fn read(&mut self, buf: &mut [u8], deadline: &Deadline) -> WasiResult<usize> {
        match self {
            StdinDesc::Inherit => {
                if !deadline.wait_until(None, host_stdin_ready) {
                    return Err(Errno::DEADLINE);
                }
                Ok(std::io::stdin().lock().read(buf)?)
            }
            StdinDesc::Bytes { data, pos } => {
                let rest = data.get(*pos..).unwrap_or_default();
                let n = rest.len().min(buf.len());
                buf[..n].copy_from_slice(&rest[..n]);
                *pos += n;
                Ok(n)
            }
        }
    }

    /// Bytes that can be read without blocking, if known.
    pub fn available(&self) -> Option<u64> {
        match self {
            StdinDesc::Inherit => None,
            StdinDesc::Bytes { data, pos } => Some(data.len().saturating_sub(*pos) as u64),
        }
    }

    pub fn is_terminal(&self) -> bool {
        use std::io::IsTerminal;
        matches!(self, StdinDesc::Inherit) && std::io::stdin().is_terminal()
    }
}

/// Which host stream an inherited output writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostStream {
    Stdout,
    Stderr,
}

/// Standard output or error as a descriptor.
#[derive(Debug)]
pub(crate) enum OutputDesc {
    Inherit(HostStream),
    Pipe(OutputPipe),
}

impl OutputDesc {
    /// Writes some of `bytes`, returning how many; flushed at once so the guest's
    /// output interleaves with the host's as it was written. A host stream is written
    /// only once it is writable, at most [`HOST_WRITE_CHUNK`] bytes at a time, so that
    /// a reader that stopped reading cannot hold the call past `deadline`.
    pub fn write(&mut self, bytes: &[u8], deadline: &Deadline) -> WasiResult<usize> {
        match self {
            OutputDesc::Inherit(stream) => {
                let stream = *stream;
                if !deadline.wait_until(None, |t| host_output_ready(stream, t)) {
                    return Err(Errno::DEADLINE);
                }
                let bytes = &bytes[..bytes.len().min(HOST_WRITE_CHUNK)];
                match stream {
                    HostStream::Stdout => write_flush(std::io::stdout().lock(), bytes),
                    HostStream::Stderr => write_flush(std::io::stderr().lock(), bytes),
                }
            }
            OutputDesc::Pipe(p) => {
                p.append(bytes);
                Ok(bytes.len())
            }
        }
    }

    pub fn is_terminal(&self) -> bool {
        use std::io::IsTerminal;
        match self {
            OutputDesc::Inherit(HostStream::Stdout) => std::io::stdout().is_terminal(),
            OutputDesc::Inherit(HostStream::Stderr) => std::io::stderr().is_terminal(),
            OutputDesc::Pipe(_) => false,
        }
    }
}

/// The most bytes written to a host stream at once: a pipe that polls writable has room
/// for this many (`PIPE_BUF`), so the write cannot block.
const HOST_WRITE_CHUNK: usize = 4096;

/// Waits up to `timeout` (`None`: forever) for the host's standard input to be
/// readable (or at end of file, or failed: a read will not block).
pub(crate) fn host_stdin_ready(timeout: Option<Duration>) -> bool {
    let stdin = std::io::stdin();
    ready(&stdin, PollFlags::IN, timeout)
}

/// Waits up to `timeout` for a host output stream to take a write.
fn host_output_ready(stream: HostStream, timeout: Option<Duration>) -> bool {
    match stream {
        HostStream::Stdout => ready(&std::io::stdout(), PollFlags::OUT, timeout),
        HostStream::Stderr => ready(&std::io::stderr(), PollFlags::OUT, timeout),
    }
}

fn ready(fd: &impl std::os::fd::AsFd, flags: PollFlags, timeout: Option<Duration>) -> bool {
    let mut fds = [PollFd::new(fd, flags)];
    let ts = timeout.map(|d| Timespec {
        tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(d.subsec_nanos()),
    });
    match poll(&mut fds, ts.as_ref()) {
        Ok(n) => n > 0 && !fds[0].revents().is_empty(),
        // Not pollable: report it ready and let the transfer tell.
        Err(_) => true,
    }
}

fn write_flush(mut w: impl Write, bytes: &[u8]) -> WasiResult<usize> {
    let n = w.write(bytes)?;
    w.flush()?;
    Ok(n)
}

impl StdinDesc {
    /// The descriptor for `s`; `None` when closed.
    pub fn new(s: Stdin) -> Option<StdinDesc> {
        match s {
            Stdin::Inherit => Some(StdinDesc::Inherit),
            Stdin::Bytes(data) => Some(StdinDesc::Bytes { data, pos: 0 }),
            Stdin::Closed => None,
        }
    }
}

impl OutputDesc {
    /// The descriptor for `o`; `None` when closed.
    pub fn new(o: Output, stream: HostStream) -> Option<OutputDesc> {
        match o {
            Output::Inherit => Some(OutputDesc::Inherit(stream)),
            Output::Pipe(p) => Some(OutputDesc::Pipe(p)),
            Output::Closed => None,
        }
    }
}

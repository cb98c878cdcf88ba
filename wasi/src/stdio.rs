//! Standard input, output and error: inherited from the host, in-memory, or closed.

use crate::errno::WasiResult;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex, PoisonError};

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

/// An in-memory output stream. Clones share the same buffer: keep one, hand one to
/// [`crate::WasiCtxBuilder::stdout`], and read [`OutputPipe::contents`] afterwards.
#[derive(Debug, Clone, Default)]
pub struct OutputPipe(Arc<Mutex<Vec<u8>>>);

impl OutputPipe {
    /// An empty pipe.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything written so far.
    pub fn contents(&self) -> Vec<u8> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn append(&self, bytes: &[u8]) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(bytes);
    }
}

/// Standard input as a descriptor.
#[derive(Debug)]
pub(crate) enum StdinDesc {
    Inherit,
    Bytes { data: Vec<u8>, pos: usize },
}

impl StdinDesc {
    /// Reads into `buf`; 0 at end of file.
    pub fn read(&mut self, buf: &mut [u8]) -> WasiResult<usize> {
        match self {
            StdinDesc::Inherit => Ok(std::io::stdin().lock().read(buf)?),
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
    /// output interleaves with the host's as it was written.
    pub fn write(&mut self, bytes: &[u8]) -> WasiResult<usize> {
        match self {
            OutputDesc::Inherit(HostStream::Stdout) => write_flush(std::io::stdout().lock(), bytes),
            OutputDesc::Inherit(HostStream::Stderr) => write_flush(std::io::stderr().lock(), bytes),
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

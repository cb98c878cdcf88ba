//! `WasiCtxBuilder` and `WasiCtx`: what a guest may see and reach.

use crate::errno::{Errno, WasiResult};
use crate::fdtable::{Desc, DirDesc, Entry, FdTable, MAX_FDS};
use crate::stdio::{HostStream, Output, OutputDesc, Stdin, StdinDesc};
use std::path::Path;

/// What the guest may do inside a pre-opened directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirPerms {
    /// Open, read, stat and list; anything that would change the file system (open for
    /// writing, create, truncate, remove, rename, link, symlink, set times) gives
    /// `EPERM`.
    ReadOnly,
    /// Everything, inside the directory.
    ReadWrite,
}

/// Configures a [`WasiCtx`].
///
/// Defaults: no arguments, no environment, no pre-opened directories, empty standard
/// input ([`Stdin::Bytes`] of nothing), standard output and error inherited from the
/// host ([`Output::Inherit`]).
#[derive(Debug, Default)]
pub struct WasiCtxBuilder {
    args: Vec<String>,
    env: Vec<(String, String)>,
    preopens: Vec<(cap_std::fs::Dir, String, DirPerms)>,
    stdin: Stdin,
    stdout: Output,
    stderr: Output,
    max_disk_write: Option<u64>,
    max_files_created: Option<u64>,
}

impl WasiCtxBuilder {
    /// A builder with the defaults above.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one argument (the first is `argv[0]`, the program's name).
    pub fn arg(&mut self, a: impl Into<String>) -> &mut Self {
        self.args.push(a.into());
        self
    }

    /// Appends arguments.
    pub fn args(&mut self, a: impl IntoIterator<Item = impl Into<String>>) -> &mut Self {
        self.args.extend(a.into_iter().map(Into::into));
        self
    }

    /// Adds the environment variable `k=v`. The guest sees only variables added here.
    pub fn env(&mut self, k: impl Into<String>, v: impl Into<String>) -> &mut Self {
        self.env.push((k.into(), v.into()));
        self
    }

    /// Pre-opens the host directory `host` for the guest under the name `guest` (e.g.
    /// `"."` or `"/data"`), with `perms`. Pre-opens get descriptors 3, 4, ... in the
    /// order they are added. Fails if `host` cannot be opened as a directory.
    pub fn preopened_dir(
        &mut self, host: impl AsRef<Path>, guest: impl Into<String>, perms: DirPerms,
    ) -> Result<&mut Self, kiln::Error> {
        let host = host.as_ref();
        if self.preopens.len() + 3 >= MAX_FDS as usize {
            return Err(kiln::Error::msg("too many pre-opened directories"));
        }
        let dir = cap_std::fs::Dir::open_ambient_dir(host, cap_std::ambient_authority()).map_err(
            |e| {
                kiln::Error::msg(format!(
                    "cannot pre-open directory `{}`: {e}",
                    host.display()
                ))
            },
        )?;
        self.preopens.push((dir, guest.into(), perms));
        Ok(self)
    }

    /// Standard input.
    pub fn stdin(&mut self, s: Stdin) -> &mut Self {
        self.stdin = s;
        self
    }

    /// Standard output.
    pub fn stdout(&mut self, s: Output) -> &mut Self {
        self.stdout = s;
        self
    }

    /// Standard error.
    pub fn stderr(&mut self, s: Output) -> &mut Self {
        self.stderr = s;
        self
    }

    /// The most bytes the guest may write to files (`fd_write`, `fd_pwrite`) and add to
    /// them with `fd_allocate`, in all, over the context's life (default: no limit).
    /// A write past it is cut short at the limit; one that can write nothing fails
    /// with `ENOSPC`, and `fd_allocate` never reserves past it. Standard output and
    /// error do not count (an `OutputPipe` has its own limit).
    pub fn max_disk_write(&mut self, bytes: u64) -> &mut Self {
        self.max_disk_write = Some(bytes);
        self
    }

    /// The most directory entries the guest may create (files, directories, hard and
    /// symbolic links), in all, over the context's life (default: no limit). Removing
    /// one gives nothing back. Past it, creating fails with `EDQUOT`.
    pub fn max_files_created(&mut self, n: u64) -> &mut Self {
        self.max_files_created = Some(n);
        self
    }

    /// Builds the context. The builder's pre-opened directories and streams move into
    /// it: the builder is left as `WasiCtxBuilder::new()` would make it.
    pub fn build(&mut self) -> WasiCtx {
        let b = std::mem::take(self);
        let mut fds = FdTable::default();
        let stdio = [
            StdinDesc::new(b.stdin).map(Desc::Stdin),
            OutputDesc::new(b.stdout, HostStream::Stdout).map(Desc::Output),
            OutputDesc::new(b.stderr, HostStream::Stderr).map(Desc::Output),
        ];
        for (fd, desc) in (0..).zip(stdio) {
            fds.put(fd, Entry::new(desc.unwrap_or(Desc::Closed)));
        }
        for (fd, (dir, name, perms)) in (3..).zip(b.preopens) {
            let desc = Desc::Dir(DirDesc {
                dir,
                perms,
                preopen: Some(name),
            });
            fds.put(fd, Entry::new(desc));
        }
        WasiCtx {
            args: b.args,
            env: b.env,
            fds,
            deadline: kiln::Deadline::never(),
            disk: DiskQuota {
                limit: b.max_disk_write,
                files_limit: b.max_files_created,
                ..DiskQuota::default()
            },
            refusals: Refusals::default(),
        }
    }
}

/// The state of one guest's WASI: arguments, environment, descriptors. Put it (or a
/// struct holding it) in the `Store`'s data and give [`crate::add_to_linker`] a way to
/// reach it.
#[derive(Debug, Default)]
pub struct WasiCtx {
    pub(crate) args: Vec<String>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) fds: FdTable,
    /// The store's deadline, as of the WASI call being run (set by every call).
    pub(crate) deadline: kiln::Deadline,
    /// Bytes written to files so far, and the most allowed.
    pub(crate) disk: DiskQuota,
    /// What the sandbox refused the guest.
    pub(crate) refusals: Refusals,
}

/// A call the sandbox refused: one whose errno says the guest lacks the capability
/// (`ENOTCAPABLE`: a right the descriptor lacks; `EPERM`/`EACCES`: a read-only
/// directory, a path leading outside its directory, an absolute path) or any failed
/// `sock_*` call (there is no network).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The WASI function.
    pub function: &'static str,
    /// What it returned.
    pub errno: Errno,
}

/// The refusals of one context: the first [`Refusals::KEPT`], and how many in all.
#[derive(Debug, Default, Clone)]
pub(crate) struct Refusals {
    kept: Vec<Refusal>,
    total: u64,
}

impl Refusals {
    /// Refusals kept in full; later ones are only counted.
    pub(crate) const KEPT: usize = 32;

    /// Notes the outcome of `function` if it was a refusal.
    pub(crate) fn note(&mut self, function: &'static str, failed: Option<Errno>) {
        let Some(errno) = failed else { return };
        let refused = matches!(errno, Errno::NOTCAPABLE | Errno::PERM | Errno::ACCES)
            || function.starts_with("sock_");
        if refused {
            self.total += 1;
            if self.kept.len() < Self::KEPT {
                self.kept.push(Refusal { function, errno });
            }
        }
    }
}

/// What a guest may write to files, and what it has.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct DiskQuota {
    /// The most bytes `fd_write`/`fd_pwrite` may write to files, and `fd_allocate` may
    /// add to them, over the context's life (`None`: no limit).
    pub(crate) limit: Option<u64>,
    /// Bytes counted so far.
    pub(crate) used: u64,
    /// The most directory entries the guest may create (`None`: no limit).
    pub(crate) files_limit: Option<u64>,
    /// Entries created so far.
    pub(crate) files: u64,
    /// The first limit that refused the guest something.
    pub(crate) hit: Option<DiskLimit>,
}

/// A limit of [`WasiCtxBuilder`] on what the guest puts on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskLimit {
    /// `max_disk_write`: bytes written to files.
    Bytes,
    /// `max_files_created`: entries created.
    Files,
}

impl DiskQuota {
    /// How many of `want` bytes may still be written.
    pub(crate) fn allowance(&self, want: u64) -> u64 {
        match self.limit {
            Some(limit) => want.min(limit.saturating_sub(self.used)),
            None => want,
        }
    }

    /// Counts `n` bytes written.
    pub(crate) fn spend(&mut self, n: u64) {
        self.used = self.used.saturating_add(n);
    }

    /// `ENOSPC`, remembering that the byte limit refused a write.
    pub(crate) fn full(&mut self) -> Errno {
        self.hit.get_or_insert(DiskLimit::Bytes);
        Errno::NOSPC
    }

    /// `Ok` if one more entry may be created; `EDQUOT` (remembered) if not.
    pub(crate) fn room_for_entry(&mut self) -> WasiResult<()> {
        match self.files_limit {
            Some(limit) if self.files >= limit => {
                self.hit.get_or_insert(DiskLimit::Files);
                Err(Errno::DQUOT)
            }
            _ => Ok(()),
        }
    }

    /// Runs `make`, which creates one directory entry, if the entry limit allows one
    /// more (`EDQUOT`, remembered, if not), and counts it when it succeeds.
    pub(crate) fn create(&mut self, make: impl FnOnce() -> WasiResult<()>) -> WasiResult<()> {
        self.room_for_entry()?;
        make()?;
        self.files = self.files.saturating_add(1);
        Ok(())
    }
}

impl WasiCtx {
    /// The arguments the guest sees.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// The environment the guest sees.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Bytes the guest has written to files (and reserved with `fd_allocate`), as
    /// `WasiCtxBuilder::max_disk_write` counts them.
    pub fn disk_written(&self) -> u64 {
        self.disk.used
    }

    /// Directory entries the guest has created, as `WasiCtxBuilder::max_files_created`
    /// counts them.
    pub fn files_created(&self) -> u64 {
        self.disk.files
    }

    /// The calls the sandbox refused the guest (the first 32), and how many in all.
    pub fn refusals(&self) -> (&[Refusal], u64) {
        (&self.refusals.kept, self.refusals.total)
    }

    /// The first disk limit that refused the guest a write or a creation, if any.
    pub fn disk_limit_hit(&self) -> Option<DiskLimit> {
        self.disk.hit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>() {}

    #[test]
    fn ctx_is_send() {
        assert_send::<WasiCtx>();
    }

    #[test]
    fn missing_preopen_fails() {
        let r = WasiCtxBuilder::new()
            .preopened_dir("/definitely/not/here", ".", DirPerms::ReadOnly)
            .map(|_| ());
        assert!(r.is_err());
    }
}

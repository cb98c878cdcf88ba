//! The guest's file descriptors: what each number refers to and the rights it holds.

use crate::ctx::DirPerms;
use crate::errno::{Errno, WasiResult};
use crate::stdio::{OutputDesc, StdinDesc};
use crate::types::rights;

/// Most descriptors a guest may hold at once (numbers `0..MAX_FDS`); one more open
/// gives `EMFILE`.
pub const MAX_FDS: u32 = 1024;

/// An open regular file (or other non-directory) reached through a pre-open.
#[derive(Debug)]
pub(crate) struct FileDesc {
    pub file: cap_std::fs::File,
    pub readable: bool,
    pub writable: bool,
    /// The permissions of the directory it was opened from.
    pub perms: DirPerms,
}

/// An open directory: a pre-open, or one opened through a pre-open.
#[derive(Debug)]
pub(crate) struct DirDesc {
    pub dir: cap_std::fs::Dir,
    pub perms: DirPerms,
    /// The guest-visible name, for pre-opens.
    pub preopen: Option<String>,
}

/// What a descriptor number refers to.
#[derive(Debug)]
pub(crate) enum Desc {
    Stdin(StdinDesc),
    Output(OutputDesc),
    File(FileDesc),
    Dir(DirDesc),
    /// A standard stream configured as closed: the number is taken, every operation
    /// but `fd_close` and being the target of `fd_renumber` gives `EBADF`.
    Closed,
}

/// A descriptor and its rights. Rights start as everything the descriptor can do and
/// only shrink (`fd_fdstat_set_rights`).
#[derive(Debug)]
pub(crate) struct Entry {
    pub desc: Desc,
    pub base: u64,
    pub inheriting: u64,
}

impl Entry {
    /// A new entry with every right that applies to `desc`.
    pub fn new(desc: Desc) -> Entry {
        let (base, inheriting) = match &desc {
            Desc::Stdin(_) => (rights::FD_READ | rights::STREAM, 0),
            Desc::Output(_) => (rights::FD_WRITE | rights::STREAM, 0),
            Desc::File(f) => {
                let mut r = rights::FILE;
                if !f.readable {
                    r &= !rights::FD_READ;
                }
                if !f.writable {
                    r &= !(rights::FD_WRITE | rights::FD_ALLOCATE | rights::FD_FILESTAT_SET_SIZE);
                }
                if f.perms == DirPerms::ReadOnly {
                    r &= !rights::FD_FILESTAT_SET_TIMES;
                }
                (r, 0)
            }
            Desc::Dir(d) => {
                let mut r = rights::DIR;
                if d.perms == DirPerms::ReadOnly {
                    r &= !rights::DIR_MUTATING;
                }
                // Inheriting rights stay complete even for a read-only directory, so a
                // guest asking to open for writing says so (and gets `EPERM`) instead
                // of silently getting a read-only descriptor.
                (r, rights::INHERITABLE)
            }
            Desc::Closed => (0, 0),
        };
        Entry {
            desc,
            base,
            inheriting,
        }
    }

    /// `ENOTCAPABLE` unless the descriptor holds all of `rights`.
    pub fn require(&self, rights: u64) -> WasiResult<()> {
        if self.base & rights == rights {
            Ok(())
        } else {
            Err(Errno::NOTCAPABLE)
        }
    }
}

/// The descriptor table.
#[derive(Debug, Default)]
pub(crate) struct FdTable {
    slots: Vec<Option<Entry>>,
}

impl FdTable {
    /// The open descriptor `fd` (`EBADF` if not open or a closed standard stream).
    pub fn get(&self, fd: u32) -> WasiResult<&Entry> {
        match self.slots.get(fd as usize) {
            Some(Some(e)) if !matches!(e.desc, Desc::Closed) => Ok(e),
            _ => Err(Errno::BADF),
        }
    }

    /// The open descriptor `fd`, mutably.
    pub fn get_mut(&mut self, fd: u32) -> WasiResult<&mut Entry> {
        match self.slots.get_mut(fd as usize) {
            Some(Some(e)) if !matches!(e.desc, Desc::Closed) => Ok(e),
            _ => Err(Errno::BADF),
        }
    }

    /// The directory `fd` and its entry: `ENOTDIR` for other descriptors, `EBADF` if
    /// not open.
    pub fn dir(&self, fd: u32) -> WasiResult<(&DirDesc, &Entry)> {
        let e = self.get(fd)?;
        match &e.desc {
            Desc::Dir(d) => Ok((d, e)),
            _ => Err(Errno::NOTDIR),
        }
    }

    /// The regular file `fd`: `EBADF` for anything else.
    pub fn file(&self, fd: u32) -> WasiResult<(&FileDesc, &Entry)> {
        let e = self.get(fd)?;
        match &e.desc {
            Desc::File(f) => Ok((f, e)),
            _ => Err(Errno::BADF),
        }
    }

    /// Whether one more descriptor can be opened.
    pub fn has_room(&self) -> bool {
        self.free_slot().is_some()
    }

    fn free_slot(&self) -> Option<u32> {
        match self.slots.iter().position(Option::is_none) {
            Some(i) => Some(i as u32),
            None if (self.slots.len() as u32) < MAX_FDS => Some(self.slots.len() as u32),
            None => None,
        }
    }

    /// Installs `e` at the lowest free number (`EMFILE` if the table is full).
    pub fn push(&mut self, e: Entry) -> WasiResult<u32> {
        let fd = self.free_slot().ok_or(Errno::MFILE)?;
        self.put(fd, e);
        Ok(fd)
    }

    /// Installs `e` at `fd` (below `MAX_FDS`), replacing what was there.
    pub fn put(&mut self, fd: u32, e: Entry) {
        let i = fd as usize;
        if self.slots.len() <= i {
            self.slots.resize_with(i + 1, || None);
        }
        self.slots[i] = Some(e);
    }

    /// Removes `fd` (a closed standard stream too), returning it.
    pub fn remove(&mut self, fd: u32) -> WasiResult<Entry> {
        let e = self
            .slots
            .get_mut(fd as usize)
            .and_then(Option::take)
            .ok_or(Errno::BADF)?;
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        Ok(e)
    }

    /// Whether `fd` holds anything, a closed standard stream included.
    pub fn is_taken(&self, fd: u32) -> bool {
        matches!(self.slots.get(fd as usize), Some(Some(_)))
    }

    /// Moves `from` over `to` (which must be taken), closing what `to` held.
    pub fn renumber(&mut self, from: u32, to: u32) -> WasiResult<()> {
        self.get(from)?;
        if !self.is_taken(to) {
            return Err(Errno::BADF);
        }
        if from == to {
            return Ok(());
        }
        let e = self.remove(from)?;
        self.put(to, e);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_free_and_exhaustion() {
        let mut t = FdTable::default();
        for i in 0..MAX_FDS {
            assert_eq!(t.push(Entry::new(Desc::Closed)).unwrap(), i);
        }
        assert_eq!(t.push(Entry::new(Desc::Closed)).err(), Some(Errno::MFILE));
        t.remove(5).unwrap();
        assert_eq!(t.push(Entry::new(Desc::Closed)).unwrap(), 5);
        assert_eq!(
            t.get(5).err(),
            Some(Errno::BADF),
            "closed streams are not open"
        );
        assert_eq!(t.get(MAX_FDS).err(), Some(Errno::BADF));
        assert_eq!(t.get(u32::MAX).err(), Some(Errno::BADF));
    }
}

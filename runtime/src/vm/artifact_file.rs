//! A compiled artifact's file, opened for loading: mapped read-only (with `memmap2`)
//! when nobody but this process's user can change it, read into memory otherwise.
//!
//! A mapping is only as immutable as the file behind it: a writer could change the
//! pages after the artifact's MAC was checked, or truncate the file under the mapping
//! (`SIGBUS`). So a file is mapped only if it is a regular file owned by the effective
//! user and writable by nobody else; Kiln itself never rewrites a published artifact
//! in place (the cache writes a temporary file and renames it). Anything else is read
//! into an owned buffer, and its code is copied.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// An artifact file's bytes, and the file when its pages may be mapped again.
#[derive(Debug)]
pub struct ArtifactFile {
    file: File,
    meta: std::fs::Metadata,
    bytes: Backing,
}

#[derive(Debug)]
enum Backing {
    Mapped(memmap2::Mmap),
    Read(Vec<u8>),
}

impl ArtifactFile {
    /// Opens `path`: a regular file of at most `max_len` bytes, or an error naming
    /// what it is instead.
    pub fn open(path: &Path, max_len: u64) -> io::Result<ArtifactFile> {
        let file = File::open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        if meta.len() > max_len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "the file is {} bytes, more than the limit of {max_len}",
                    meta.len()
                ),
            ));
        }
        let exclusive = meta.uid() == effective_uid() && meta.mode() & 0o022 == 0;
        let bytes = if exclusive && meta.len() > 0 {
            // SAFETY: the mapping is read-only and private to this process. Its pages
            // change only if the file does: the file is a regular file owned by our
            // effective user and writable by no one else (checked on this descriptor
            // above), and Kiln never writes an artifact in place. A mapping of a file
            // that our own user rewrites behind Kiln's back is outside this contract,
            // as it is for every mmap-based loader.
            Backing::Mapped(unsafe { memmap2::Mmap::map(&file)? })
        } else {
            let mut buf = Vec::with_capacity(meta.len() as usize);
            (&file).take(max_len).read_to_end(&mut buf)?;
            Backing::Read(buf)
        };
        Ok(ArtifactFile { file, meta, bytes })
    }

    /// The file's metadata, from the descriptor that was read or mapped.
    pub fn metadata(&self) -> &std::fs::Metadata {
        &self.meta
    }

    /// The file's contents.
    pub fn bytes(&self) -> &[u8] {
        match &self.bytes {
            Backing::Mapped(m) => m,
            Backing::Read(v) => v,
        }
    }

    /// The file, when its pages may be mapped again (it is exclusively ours, as above):
    /// code and memory images are then mapped from it instead of copied.
    pub fn mappable(&self) -> Option<&File> {
        matches!(self.bytes, Backing::Mapped(_)).then_some(&self.file)
    }
}

/// The process's effective user id.
pub fn effective_uid() -> u32 {
    // SAFETY: `geteuid` has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

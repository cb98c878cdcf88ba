//! The disk tier: one artifact per module in the cache directory, named by its key,
//! written atomically (a temporary file renamed into place, so concurrent writers
//! both succeed and readers never see half a file), and evicted least recently used
//! (by modification time, which a hit refreshes) to stay under the size bound.

use crate::artifact::{ArtifactKey, FileIdentity};
use crate::engine::Engine;
use crate::error::Result;
use crate::module::Module;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

/// The artifacts' file extension.
pub(crate) const EXTENSION: &str = "kwasm";

/// The folder of the file index: which module a file seen before holds.
const INDEX: &str = "index";

/// The folder of verification records: the identity each artifact had when its MAC
/// last matched (or when this cache wrote it). An artifact whose identity is unchanged
/// is loaded without hashing it again; the records' modification times are its last
/// use, for eviction.
const VERIFIED: &str = "verified";

/// What a cache directory holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Artifacts.
    pub entries: u64,
    /// Their total size in bytes.
    pub bytes: u64,
}

pub(super) struct DiskTier {
    directory: PathBuf,
    max_bytes: u64,
}

impl DiskTier {
    /// The tier in `directory` (created, mode 0700, if missing) and the installation's
    /// key there.
    pub fn open(directory: &Path, max_bytes: u64) -> Result<(DiskTier, ArtifactKey)> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(directory)?;
        // Nothing is written here when the key exists: a directory that can be read
        // but not written still serves hits, and each store that fails says so.
        let key = ArtifactKey::load_or_create(directory)?;
        Ok((
            DiskTier {
                directory: directory.to_path_buf(),
                max_bytes,
            },
            key,
        ))
    }

    pub fn directory(&self) -> &Path {
        &self.directory
    }

    pub fn entry(&self, key: &[u8; 32]) -> PathBuf {
        self.directory.join(format!("{}.{EXTENSION}", hex(key)))
    }

    /// The module stored under `key`: `None` if there is none, an error if the entry
    /// is refused.
    pub fn load(&self, engine: &Engine, key: &[u8; 32]) -> Result<Option<Module>> {
        let path = self.entry(key);
        if !path.exists() {
            return Ok(None);
        }
        let mac_key = engine.artifact_key();
        let verified = self.read_verified(mac_key, key);
        let (module, id, trusted) = crate::artifact::load_cached_file(engine, &path, verified)?;
        if trusted {
            // A hit makes the entry the most recently used.
            if let Ok(f) = fs::File::options().append(true).open(self.verified(key)) {
                let _ = f.set_modified(SystemTime::now());
            }
        } else {
            let _ = self.write_verified(mac_key, key, &id);
        }
        Ok(Some(module))
    }

    fn verified(&self, key: &[u8; 32]) -> PathBuf {
        self.directory.join(VERIFIED).join(hex(key))
    }

    /// The identity the artifact `key` had when last verified, if its record is
    /// authentic.
    fn read_verified(&self, mac_key: &ArtifactKey, key: &[u8; 32]) -> Option<FileIdentity> {
        let bytes = fs::read(self.verified(key)).ok()?;
        let (id_bytes, mac) = bytes.split_at_checked(56)?;
        if blake3::Hash::from_slice(mac).ok()? != verified_mac(mac_key, key, id_bytes) {
            return None;
        }
        let mut id = [0u64; 7];
        for (v, chunk) in id.iter_mut().zip(id_bytes.chunks_exact(8)) {
            *v = u64::from_le_bytes(chunk.try_into().ok()?);
        }
        Some(id)
    }

    fn write_verified(
        &self,
        mac_key: &ArtifactKey,
        key: &[u8; 32],
        id: &FileIdentity,
    ) -> io::Result<()> {
        let dir = self.directory.join(VERIFIED);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        let mut record: Vec<u8> = id.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mac = verified_mac(mac_key, key, &record);
        record.extend_from_slice(mac.as_bytes());
        write_atomically(&dir, &self.verified(key), &record)
    }

    /// The module key a file with identity `id` was recorded with, if its record is
    /// there and authentic.
    pub fn read_index(&self, mac_key: &ArtifactKey, id: &[u8; 32]) -> Option<[u8; 32]> {
        let bytes = fs::read(self.directory.join(INDEX).join(hex(id))).ok()?;
        let (key, mac) = bytes.split_at_checked(32)?;
        let expected = index_mac(mac_key, id, key);
        (blake3::Hash::from_slice(mac).ok()? == expected).then(|| {
            let mut k = [0; 32];
            k.copy_from_slice(key);
            k
        })
    }

    /// Records that the file with identity `id` holds the module `key` (atomically).
    pub fn write_index(
        &self,
        mac_key: &ArtifactKey,
        id: &[u8; 32],
        key: &[u8; 32],
    ) -> io::Result<()> {
        let dir = self.directory.join(INDEX);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        let mut record = key.to_vec();
        record.extend_from_slice(index_mac(mac_key, id, key).as_bytes());
        write_atomically(&dir, &dir.join(hex(id)), &record)
    }

    pub fn remove(&self, key: &[u8; 32]) {
        let _ = fs::remove_file(self.entry(key));
        let _ = fs::remove_file(self.verified(key));
    }

    /// Writes `bytes` as the entry for `key` (atomically), then evicts past the bound.
    /// Writes `bytes` (an artifact authenticated with `mac_key`, just serialized) as the
    /// entry for `key`, atomically, records it as verified, then evicts past the bound.
    pub fn store(&self, mac_key: &ArtifactKey, key: &[u8; 32], bytes: &[u8]) -> io::Result<()> {
        let path = self.entry(key);
        write_atomically(&self.directory, &path, bytes)?;
        // The file is the one just written (renamed into our 0700 directory).
        let meta = fs::metadata(&path)?;
        self.write_verified(mac_key, key, &crate::artifact::identity(&meta))?;
        self.evict()
    }

    /// Deletes the least recently used artifacts until the rest fit `max_bytes`.
    fn evict(&self) -> io::Result<()> {
        let mut entries = artifacts(&self.directory)?;
        // Last use: the verification record's time when a hit touched it.
        for e in &mut entries {
            let record =
                e.0.file_stem()
                    .map(|stem| self.directory.join(VERIFIED).join(stem));
            if let Some(t) = record.and_then(|r| fs::metadata(r).ok()?.modified().ok()) {
                e.2 = e.2.max(t);
            }
        }
        let mut total: u64 = entries.iter().map(|e| e.1).sum();
        if total <= self.max_bytes {
            return Ok(());
        }
        entries.sort_by_key(|e| e.2);
        for (path, size, _) in entries {
            if total <= self.max_bytes {
                break;
            }
            // Another process may have evicted it first.
            if let Some(stem) = path.file_stem() {
                let _ = fs::remove_file(self.directory.join(VERIFIED).join(stem));
            }
            match fs::remove_file(&path) {
                Ok(()) => total -= size,
                Err(e) if e.kind() == io::ErrorKind::NotFound => total -= size,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

fn hex(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A verification record's MAC: it binds the artifact's key to its identity.
fn verified_mac(mac_key: &ArtifactKey, key: &[u8; 32], id: &[u8]) -> blake3::Hash {
    let mut h = blake3::Hasher::new_keyed(&mac_key.0);
    h.update(b"kiln verified artifact");
    h.update(key);
    h.update(id);
    h.finalize()
}

/// An index record's MAC: it binds the file identity to the module key.
fn index_mac(mac_key: &ArtifactKey, id: &[u8; 32], key: &[u8]) -> blake3::Hash {
    let mut h = blake3::Hasher::new_keyed(&mac_key.0);
    h.update(b"kiln index record");
    h.update(id);
    h.update(key);
    h.finalize()
}

/// Writes `bytes` to `path` through a fresh temporary file (mode 0600) in `dir`,
/// renamed into place: readers see the old file or the new one, never part of one.
fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// `(path, size, modified)` of each artifact in `dir`.
fn artifacts(dir: &Path) -> io::Result<Vec<(PathBuf, u64, SystemTime)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if path.extension().is_none_or(|e| e != EXTENSION) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_file() {
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            out.push((path, meta.len(), modified));
        }
    }
    Ok(out)
}

pub(super) fn stats(dir: &Path) -> io::Result<CacheStats> {
    let entries = match artifacts(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    Ok(CacheStats {
        entries: entries.len() as u64,
        bytes: entries.iter().map(|e| e.1).sum(),
    })
}

pub(super) fn clear(dir: &Path) -> io::Result<u64> {
    let entries = match artifacts(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut n = 0;
    for (path, _, _) in entries {
        if fs::remove_file(path).is_ok() {
            n += 1;
        }
    }
    // The index and the records only name modules that were there.
    let _ = fs::remove_dir_all(dir.join(INDEX));
    let _ = fs::remove_dir_all(dir.join(VERIFIED));
    Ok(n)
}

//! The key that authenticates artifacts: whoever holds it can make Kiln run code, so it
//! never leaves its owner. An engine's key is the one its `Config` gives, else the
//! installation's key file in the cache directory, else a key made for this process
//! (artifacts then load only in the process that wrote them).

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::OnceLock;

/// A 256-bit key for the artifacts' MAC (keyed BLAKE3).
#[derive(Clone, PartialEq, Eq)]
pub struct ArtifactKey(pub(crate) [u8; 32]);

impl std::fmt::Debug for ArtifactKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ArtifactKey(..)")
    }
}

/// The name of the key file in a cache directory.
pub const KEY_FILE: &str = "artifact.key";

impl ArtifactKey {
    /// A key from its bytes (keep them secret: they let their holder run code).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        ArtifactKey(bytes)
    }

    /// A fresh random key.
    pub fn random() -> Result<Self> {
        let mut key = [0; 32];
        File::open("/dev/urandom")?.read_exact(&mut key)?;
        Ok(ArtifactKey(key))
    }

    /// The key of this process, made on first use.
    pub(crate) fn process() -> Result<Self> {
        static KEY: OnceLock<ArtifactKey> = OnceLock::new();
        if let Some(k) = KEY.get() {
            return Ok(k.clone());
        }
        let k = ArtifactKey::random()?;
        Ok(KEY.get_or_init(|| k).clone())
    }

    /// The key in `dir/artifact.key`, created (mode 0600, atomically: two processes
    /// racing agree on one key) if it does not exist. A key file that is not a
    /// 32-byte regular file of ours, or that others may read, is refused.
    pub fn load_or_create(dir: &Path) -> Result<Self> {
        let path = dir.join(KEY_FILE);
        match read_key(&path) {
            Ok(k) => return Ok(k),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(key_error(&path, e)),
        }
        let key = ArtifactKey::random()?;
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = dir.join(format!(".{KEY_FILE}.{}.{n}.tmp", std::process::id()));
        let written = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&key.0)?;
            f.sync_all()?;
            // A hard link never replaces an existing file: the first process to link
            // wins, and everyone else reads its key.
            std::fs::hard_link(&tmp, &path)
        })();
        let _ = std::fs::remove_file(&tmp);
        match written {
            Ok(()) => Ok(key),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                read_key(&path).map_err(|e| key_error(&path, e))
            }
            Err(e) => Err(key_error(&path, e)),
        }
    }
}

fn key_error(path: &Path, e: std::io::Error) -> Error {
    Error::config(format!("artifact key {}: {e}", path.display()))
}

fn read_key(path: &Path) -> std::io::Result<ArtifactKey> {
    let mut f = File::open(path)?;
    let meta = f.metadata()?;
    let refuse = |why: &str| std::io::Error::new(std::io::ErrorKind::PermissionDenied, why);
    if !meta.is_file() || meta.len() != 32 {
        return Err(refuse("not a 32-byte regular file"));
    }
    if meta.uid() != crate::vm::artifact_file::effective_uid() {
        return Err(refuse("owned by another user"));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(refuse("readable or writable by others (must be mode 0600)"));
    }
    let mut key = [0; 32];
    f.read_exact(&mut key)?;
    Ok(ArtifactKey(key))
}

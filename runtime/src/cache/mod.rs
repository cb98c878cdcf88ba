//! The code cache: compiled modules kept in memory (per engine) and on disk (per
//! installation), so the same bytes compile once.
//!
//! `Module::new` and friends, on an engine configured with [`CacheConfig`], look up the
//! module's key (a hash of Kiln's build, the engine's fingerprint and the module's
//! binary bytes) in the memory tier, then on disk, and only then compile, storing the
//! result in both. The disk tier holds artifacts (`Module::serialize`) authenticated
//! with the installation's key; a damaged or foreign entry is deleted, reported with a
//! `tracing` warning, and compiled again. A directory that cannot be used leaves the
//! memory tier working, with a warning.

mod disk;
mod memory;

pub use disk::CacheStats;

use crate::engine::Engine;
use crate::error::Result;
use crate::module::{CompiledParts, Module};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Where and how much to cache. `Config::cache` turns the cache on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// The disk tier's directory (`None`: memory only).
    pub directory: Option<PathBuf>,
    /// The disk tier's bound: least recently used artifacts are deleted past it.
    pub max_bytes: u64,
    /// The memory tier's bound, in bytes of code and data (0: no memory tier).
    pub memory_bytes: u64,
}

impl CacheConfig {
    /// Both tiers, on disk in `directory`, with the default bounds (4 GiB on disk,
    /// 512 MiB in memory).
    pub fn new(directory: impl Into<PathBuf>) -> Self {
        CacheConfig {
            directory: Some(directory.into()),
            ..CacheConfig::memory_only()
        }
    }

    /// The memory tier alone.
    pub fn memory_only() -> Self {
        CacheConfig {
            directory: None,
            max_bytes: 4 << 30,
            memory_bytes: 512 << 20,
        }
    }

    /// The default directory: `$XDG_CACHE_HOME/kiln`, else `$HOME/.cache/kiln`.
    pub fn default_directory() -> Option<PathBuf> {
        let absolute = |v: std::ffi::OsString| {
            let p = PathBuf::from(v);
            p.is_absolute().then_some(p)
        };
        std::env::var_os("XDG_CACHE_HOME")
            .and_then(absolute)
            .map(|d| d.join("kiln"))
            .or_else(|| {
                std::env::var_os("HOME")
                    .and_then(absolute)
                    .map(|h| h.join(".cache").join("kiln"))
            })
    }

    /// What the disk tier in `directory` holds.
    pub fn stats(directory: &Path) -> Result<CacheStats> {
        Ok(disk::stats(directory)?)
    }

    /// Deletes every artifact in `directory` (not the key). Returns how many.
    pub fn clear(directory: &Path) -> Result<u64> {
        Ok(disk::clear(directory)?)
    }
}

/// How an engine's cache has been used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheUse {
    /// Modules found in memory.
    pub memory_hits: u64,
    /// Modules loaded from disk.
    pub disk_hits: u64,
    /// Modules compiled.
    pub misses: u64,
    /// Disk entries refused (damaged, foreign) and deleted.
    pub refused: u64,
    /// Artifacts written to disk.
    pub writes: u64,
}

/// An engine's cache.
pub(crate) struct ModuleCache {
    memory: memory::MemoryTier,
    disk: Option<disk::DiskTier>,
    counts: [AtomicU64; 5],
    /// [`engine_hasher`]'s state, made on first use (the engine's fingerprint never
    /// changes).
    hasher: std::sync::OnceLock<blake3::Hasher>,
}

impl std::fmt::Debug for ModuleCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModuleCache")
            .field("disk", &self.disk.as_ref().map(|d| d.directory()))
            .finish_non_exhaustive()
    }
}

const MEMORY_HITS: usize = 0;
const DISK_HITS: usize = 1;
const MISSES: usize = 2;
const REFUSED: usize = 3;
const WRITES: usize = 4;

impl ModuleCache {
    /// The cache `config` describes, and the artifact key its directory holds (when
    /// the directory is usable).
    pub fn new(config: &CacheConfig) -> (ModuleCache, Option<crate::ArtifactKey>) {
        let (disk, key) = match &config.directory {
            Some(dir) => match disk::DiskTier::open(dir, config.max_bytes) {
                Ok((tier, key)) => (Some(tier), Some(key)),
                Err(e) => {
                    tracing::warn!(
                        target: "kiln::cache",
                        directory = %dir.display(),
                        "code cache directory unusable, caching in memory only: {e}"
                    );
                    (None, None)
                }
            },
            None => (None, None),
        };
        let cache = ModuleCache {
            memory: memory::MemoryTier::new(config.memory_bytes),
            disk,
            counts: Default::default(),
            hasher: std::sync::OnceLock::new(),
        };
        (cache, key)
    }

    /// The cache key of `wasm` on `engine`: BLAKE3 of Kiln's build, the fingerprint, the
    /// bytes, and `salt` (what else decides the code: the inlined host function bodies,
    /// `inline::ImportInlines::salt`; empty for none).
    fn cache_key(&self, engine: &Engine, wasm: &[u8], salt: &[u8]) -> [u8; 32] {
        let mut h = self.hasher(engine);
        if !salt.is_empty() {
            h.update(&(salt.len() as u64).to_le_bytes());
            h.update(salt);
        }
        h.update(&(wasm.len() as u64).to_le_bytes());
        if wasm.len() >= 1 << 20 {
            h.update_rayon(wasm);
        } else {
            h.update(wasm);
        }
        *h.finalize().as_bytes()
    }

    /// A hasher that has taken in Kiln's build and `engine`'s fingerprint.
    fn hasher(&self, engine: &Engine) -> blake3::Hasher {
        self.hasher.get_or_init(|| engine_hasher(engine)).clone()
    }

    fn count(&self, i: usize) {
        self.counts[i].fetch_add(1, Ordering::Relaxed);
    }

    pub fn usage(&self) -> CacheUse {
        let c = |i: usize| self.counts[i].load(Ordering::Relaxed);
        CacheUse {
            memory_hits: c(MEMORY_HITS),
            disk_hits: c(DISK_HITS),
            misses: c(MISSES),
            refused: c(REFUSED),
            writes: c(WRITES),
        }
    }

    /// The module stored under `key`, from memory or disk. A disk entry that is refused
    /// is deleted, with a warning, and counted.
    fn lookup(&self, engine: &Engine, key: &[u8; 32]) -> Option<Module> {
        if let Some(parts) = self.memory.get(key) {
            self.count(MEMORY_HITS);
            return Some(Module::from_parts(engine, parts));
        }
        let disk = self.disk.as_ref()?;
        match disk.load(engine, key) {
            Ok(Some(module)) => {
                self.count(DISK_HITS);
                self.memory.insert(*key, module.0.compiled.clone());
                Some(module)
            }
            Ok(None) => None,
            Err(e) => {
                self.count(REFUSED);
                tracing::warn!(
                    target: "kiln::cache",
                    entry = %disk.entry(key).display(),
                    "deleted a code cache entry that could not be used, compiling again: {e}"
                );
                disk.remove(key);
                None
            }
        }
    }

    /// The module for `wasm` (binary bytes): from memory, from disk, or `compile`d and
    /// stored in both.
    pub fn get_or_compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
        salt: &[u8],
        compile: impl FnOnce() -> Result<Module>,
    ) -> Result<Module> {
        let key = self.cache_key(engine, wasm, salt);
        if let Some(module) = self.lookup(engine, &key) {
            return Ok(module);
        }
        self.count(MISSES);
        let module = compile()?;
        self.memory.insert(key, module.0.compiled.clone());
        if let Some(disk) = &self.disk {
            match module
                .serialize()
                .and_then(|bytes| Ok(disk.store(engine.artifact_key(), &key, &bytes)?))
            {
                Ok(()) => self.count(WRITES),
                Err(e) => tracing::warn!(
                    target: "kiln::cache",
                    directory = %disk.directory().display(),
                    "could not write to the code cache: {e}"
                ),
            }
        }
        Ok(module)
    }
}

/// A module file's identity on `engine`: a hash of Kiln's build, the fingerprint, the
/// file's absolute path (not resolved: one more spelling of a path costs one more
/// entry, not a wrong answer), device, inode, size, and modification and change times. The
/// change time cannot be set back by anyone but root, so a file whose identity is
/// unchanged has unchanged contents.
pub(crate) struct FileId([u8; 32]);

impl ModuleCache {
    /// The identity of the file at `path`, when there is a disk tier to index it in.
    pub fn file_identity(&self, engine: &Engine, path: &Path, salt: &[u8]) -> Option<FileId> {
        self.disk.as_ref()?;
        let absolute = std::path::absolute(path).ok()?;
        let meta = std::fs::metadata(&absolute).ok()?;
        if !meta.is_file() {
            return None;
        }
        let mut h = self.hasher(engine);
        if !salt.is_empty() {
            h.update(&(salt.len() as u64).to_le_bytes());
            h.update(salt);
        }
        let name = absolute.as_os_str().as_encoded_bytes();
        h.update(&(name.len() as u64).to_le_bytes());
        h.update(name);
        for v in crate::artifact::identity(&meta) {
            h.update(&v.to_le_bytes());
        }
        Some(FileId(*h.finalize().as_bytes()))
    }

    /// The module of a file seen before with this identity, from memory or disk, or
    /// `None` (then the caller reads and compiles the file, or finds it by content).
    pub fn load_seen_file(&self, engine: &Engine, id: &FileId) -> Option<Module> {
        let key = self
            .disk
            .as_ref()?
            .read_index(engine.artifact_key(), &id.0)?;
        self.lookup(engine, &key)
    }

    /// Records that the file at `path`, with identity `id` before it was read, holds
    /// `wasm` (if its identity is still `id`: it did not change while being read).
    pub fn remember_file(
        &self,
        engine: &Engine,
        path: &Path,
        id: &FileId,
        wasm: &[u8],
        salt: &[u8],
    ) {
        let Some(disk) = &self.disk else { return };
        let still = self.file_identity(engine, path, salt);
        if still.is_some_and(|now| now.0 == id.0) {
            let key = self.cache_key(engine, wasm, salt);
            if let Err(e) = disk.write_index(engine.artifact_key(), &id.0, &key) {
                tracing::warn!(
                    target: "kiln::cache",
                    directory = %disk.directory().display(),
                    "could not write to the code cache's index: {e}"
                );
            }
        }
    }
}

/// A hasher that has taken in Kiln's build and `engine`'s fingerprint: what every
/// cache key starts with.
fn engine_hasher(engine: &Engine) -> blake3::Hasher {
    let mut h = blake3::Hasher::new();
    h.update(crate::artifact::KILN_BUILD.as_bytes());
    for (k, v) in engine.fingerprint() {
        h.update(&(k.len() as u64).to_le_bytes());
        h.update(k.as_bytes());
        h.update(&(v.len() as u64).to_le_bytes());
        h.update(v.as_bytes());
    }
    h
}

/// The bytes a compiled module keeps alive, for the memory tier's bound.
fn footprint(parts: &CompiledParts) -> u64 {
    let image = parts.memory_image.as_ref().map_or(0, |i| i.len());
    (parts.code.text_len() + parts.info.bytes.len() + image) as u64
}

/// Shared for the tiers.
type Parts = Arc<CompiledParts>;

//! The plugin registry: `ROOT/NAME/VERSION/` per installed plugin. Installing checks
//! the plugin completely before anything is written (manifest, digests, signature,
//! module), refuses a version already installed, and moves the plugin in with one
//! rename, so a registry never holds half a plugin.

use super::manifest::{FileRef, Manifest, SIGNATURE};
use super::sign::{self, SignatureError};
use super::{Entry, PluginError};
use crate::hex::{hex, parse_hex32, random_hex};
use kiln::{ExternType, FuncType, Module, ValType};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The keys whose signatures the registry accepts.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    /// Trusted ed25519 public keys.
    pub keys: Vec<[u8; 32]>,
    /// Whether an unsigned plugin is accepted (a wrongly signed one never is).
    pub allow_unsigned: bool,
}

impl Trust {
    /// The keys in hex (`keys`), refusing any that is not 64 hex digits.
    pub fn new(keys: &[String], allow_unsigned: bool) -> Result<Trust, PluginError> {
        let keys = keys
            .iter()
            .map(|k| {
                parse_hex32(k).ok_or_else(|| {
                    PluginError(format!(
                        "trusted key `{k}`: an ed25519 public key is 64 hexadecimal digits"
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Trust {
            keys,
            allow_unsigned,
        })
    }
}

/// A plugin that passed every check: its manifest, where it is, and who signed it.
#[derive(Debug, Clone)]
pub struct Installed {
    /// The manifest.
    pub manifest: Manifest,
    /// Its directory.
    pub dir: PathBuf,
    /// The signer's public key in hex (`None`: unsigned, allowed by the trust).
    pub signer: Option<String>,
}

impl Installed {
    /// The module's path.
    pub fn module_path(&self) -> PathBuf {
        self.dir.join(&self.manifest.module.file)
    }
}

/// The most bytes of a manifest or a signature file.
const MAX_SMALL_FILE: u64 = 64 << 10;

/// The most bytes one plugin may hold (all files).
const MAX_PLUGIN_BYTES: u64 = 1 << 30;

fn read_small(path: &Path) -> Result<Option<Vec<u8>>, PluginError> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(PluginError::context(path.display(), e)),
        Ok(m) if !m.is_file() => {
            return Err(PluginError(format!(
                "{} is not a regular file",
                path.display()
            )))
        }
        Ok(m) if m.len() > MAX_SMALL_FILE => {
            return Err(PluginError(format!(
                "{} is larger than 64 KiB",
                path.display()
            )))
        }
        Ok(_) => {}
    }
    std::fs::read(path)
        .map(Some)
        .map_err(|e| PluginError::context(path.display(), e))
}

/// The SHA-256 of the regular file `path` (a symbolic link is refused).
fn digest(path: &Path) -> Result<[u8; 32], PluginError> {
    let meta =
        std::fs::symlink_metadata(path).map_err(|e| PluginError::context(path.display(), e))?;
    if !meta.is_file() {
        return Err(PluginError(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    let mut f = std::fs::File::open(path).map_err(|e| PluginError::context(path.display(), e))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(|e| PluginError::context(path.display(), e))?;
    Ok(h.finalize().into())
}

/// Checks the plugin in `dir`: its manifest, its signature under `trust`, and the
/// digest of every file it lists.
pub fn check_dir(dir: &Path, trust: &Trust) -> Result<Installed, PluginError> {
    let text = read_small(&dir.join("plugin.toml"))?
        .ok_or_else(|| PluginError(format!("{}: no plugin.toml", dir.display())))?;
    let manifest = std::str::from_utf8(&text)
        .map_err(|_| PluginError("plugin.toml is not UTF-8".into()))
        .and_then(|t| Manifest::parse(t).map_err(|e| PluginError(e.to_string())))?;
    let sig = read_small(&dir.join(SIGNATURE))?;
    let sig = sig
        .as_deref()
        .map(std::str::from_utf8)
        .transpose()
        .map_err(|_| PluginError("plugin.sig is not UTF-8".into()))?;
    let signer = match sign::verify(&text, sig, &trust.keys) {
        Ok(key) => Some(key),
        Err(SignatureError::Unsigned) if trust.allow_unsigned => None,
        Err(e) => return Err(PluginError(format!("plugin `{}`: {e}", manifest.name))),
    };
    let mut total = 0u64;
    for FileRef { file, sha256 } in manifest.all_files() {
        let path = dir.join(file);
        let have = digest(&path)?;
        if hex(&have) != sha256.trim().to_ascii_lowercase() {
            return Err(PluginError(format!(
                "plugin `{}`: `{file}` does not match its sha256 in plugin.toml (have {})",
                manifest.name,
                hex(&have)
            )));
        }
        total += std::fs::metadata(&path).map_or(0, |m| m.len());
    }
    if total > MAX_PLUGIN_BYTES {
        return Err(PluginError(format!(
            "plugin `{}` holds {total} bytes; at most 1 GiB",
            manifest.name
        )));
    }
    Ok(Installed {
        manifest,
        dir: dir.to_path_buf(),
        signer,
    })
}

/// Checks that `module` (compiled) suits `manifest`: it imports only WASI preview 1 and
/// the interfaces the manifest refuses, and exports what its entry kind calls, with the
/// types it calls them with.
pub fn check_module(manifest: &Manifest, module: &Module) -> Result<(), PluginError> {
    let refused = &manifest.capabilities.refused_imports;
    let canonical = matches!(manifest.entry, Entry::CanonicalEval { .. });
    for (m, n, _) in module.imports() {
        let resource = canonical && m == "canonical_abi" && resource_import(n).is_some();
        if m != "wasi_snapshot_preview1" && !resource && !refused.iter().any(|r| r == m) {
            return Err(PluginError(format!(
                "the module imports `{m}::{n}`: a plugin may import WASI preview 1, the \
                 resource functions of its entry kind, and interfaces it lists in \
                 capabilities.refused_imports"
            )));
        }
    }
    let func = |params: &[ValType], results: &[ValType]| {
        FuncType::new(params.iter().copied(), results.iter().copied())
    };
    let mut wanted: Vec<(&str, FuncType)> = Vec::new();
    match &manifest.entry {
        Entry::Command { .. } => wanted.push(("_start", func(&[], &[]))),
        Entry::ArgvReactor {
            init,
            call,
            alloc,
            finish,
            ..
        } => {
            for e in init.iter().chain(finish) {
                wanted.push((e, func(&[], &[])));
            }
            wanted.push((call, func(&[ValType::I32, ValType::I32], &[ValType::I32])));
            wanted.push((alloc, func(&[ValType::I32], &[ValType::I32])));
        }
        Entry::CanonicalEval {
            init,
            init_args,
            then,
            eval,
            realloc,
            ..
        } => {
            for e in init.iter().chain(then) {
                wanted.push((e, func(&[], &[])));
            }
            let i32s = |n| vec![ValType::I32; n];
            wanted.push((init_args, func(&i32s(2), &[])));
            wanted.push((eval, func(&i32s(2), &i32s(1))));
            wanted.push((realloc, func(&i32s(4), &i32s(1))));
        }
    }
    if !module
        .exports()
        .any(|(n, t)| n == "memory" && matches!(t, ExternType::Memory(_)))
    {
        return Err(PluginError("the module exports no `memory`".into()));
    }
    for (name, ty) in wanted {
        match module.exports().find(|(n, _)| *n == name) {
            Some((_, ExternType::Func(t))) if t == ty => {}
            Some((_, t)) => {
                return Err(PluginError(format!(
                    "the export `{name}` is {t:?}; the entry kind calls it as {ty:?}"
                )))
            }
            None => {
                return Err(PluginError(format!(
                    "the module does not export `{name}`, which the entry kind calls"
                )))
            }
        }
    }
    Ok(())
}

/// An installed plugin's directory, and the outcome of its checks.
pub type Checked = (PathBuf, Result<Installed, PluginError>);

/// What a `canonical_abi` import is: `resource_new_NAME`, `resource_get_NAME` or
/// `resource_drop_NAME`, with the resource's name.
pub fn resource_import(name: &str) -> Option<(ResourceOp, &str)> {
    [
        ("resource_new_", ResourceOp::New),
        ("resource_get_", ResourceOp::Get),
        ("resource_drop_", ResourceOp::Drop),
    ]
    .into_iter()
    .find_map(|(prefix, op)| name.strip_prefix(prefix).map(|r| (op, r)))
}

/// A canonical-ABI resource operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceOp {
    /// `(rep) -> handle`.
    New,
    /// `(handle) -> rep`.
    Get,
    /// `(handle) -> ()`.
    Drop,
}

/// A registry directory.
pub struct Registry {
    root: PathBuf,
}

/// A plugin's source: a directory, or a `.tar.gz` unpacked into a temporary one
/// (removed on drop).
struct Source {
    dir: PathBuf,
    temporary: bool,
}

impl Drop for Source {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn random_name(prefix: &str) -> Result<String, PluginError> {
    let name = random_hex(8).map_err(|e| PluginError(e.to_string()))?;
    Ok(format!("{prefix}-{name}"))
}

impl Registry {
    /// The registry at `root` (made when something is installed).
    pub fn new(root: impl Into<PathBuf>) -> Registry {
        Registry { root: root.into() }
    }

    /// Its directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Unpacks `archive` (`.tar.gz`) into a new directory of the registry's: only
    /// regular files and directories, with names inside it.
    fn unpack(&self, archive: &Path) -> Result<Source, PluginError> {
        let file =
            std::fs::File::open(archive).map_err(|e| PluginError::context(archive.display(), e))?;
        std::fs::create_dir_all(&self.root)
            .map_err(|e| PluginError::context(self.root.display(), e))?;
        let dir = self.root.join(random_name(".unpack")?);
        std::fs::create_dir(&dir).map_err(|e| PluginError::context(dir.display(), e))?;
        let source = Source {
            dir,
            temporary: true,
        };
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
        let bad = |e: std::io::Error| PluginError::context(archive.display(), e);
        let mut total = 0u64;
        for entry in tar.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            let path = entry.path().map_err(bad)?.into_owned();
            let name = path.to_string_lossy().trim_end_matches('/').to_string();
            let name = name.strip_prefix("./").unwrap_or(&name).to_string();
            if name.is_empty() || name == "." {
                continue;
            }
            crate::scratch::check_name(&name)
                .map_err(|e| PluginError(format!("{}: {e}", archive.display())))?;
            let to = source.dir.join(&name);
            match entry.header().entry_type() {
                tar::EntryType::Directory => {
                    std::fs::create_dir_all(&to).map_err(bad)?;
                }
                tar::EntryType::Regular => {
                    total += entry.header().size().map_err(bad)?;
                    if total > MAX_PLUGIN_BYTES {
                        return Err(PluginError(format!(
                            "{}: more than 1 GiB unpacked",
                            archive.display()
                        )));
                    }
                    if let Some(parent) = to.parent() {
                        std::fs::create_dir_all(parent).map_err(bad)?;
                    }
                    let mut out = std::fs::File::create(&to).map_err(bad)?;
                    std::io::copy(&mut entry, &mut out).map_err(bad)?;
                }
                other => {
                    return Err(PluginError(format!(
                        "{}: `{name}` is a {other:?}; a plugin archive holds only files and \
                         directories",
                        archive.display()
                    )))
                }
            }
        }
        // An archive of one top-level directory holds the plugin in it.
        let entries: Vec<_> = std::fs::read_dir(&source.dir)
            .map_err(bad)?
            .filter_map(Result::ok)
            .collect();
        if let [only] = entries.as_slice() {
            if only.path().is_dir() && !source.dir.join("plugin.toml").exists() {
                let inner = only.path();
                let moved = self.root.join(random_name(".unpack")?);
                std::fs::rename(&inner, &moved).map_err(bad)?;
                return Ok(Source {
                    dir: moved,
                    temporary: true,
                });
            }
        }
        Ok(source)
    }

    /// Installs the plugin at `path` (a directory or a `.tar.gz`), trusted by `trust`,
    /// after `accept` (which compiles the module, checks it with [`check_module`], and
    /// may precompile it) agrees. Refuses a name and version already installed.
    pub fn install(
        &self,
        path: &Path,
        trust: &Trust,
        accept: impl FnOnce(&Installed, &[u8]) -> Result<(), PluginError>,
    ) -> Result<Installed, PluginError> {
        let source = if path.is_dir() {
            Source {
                dir: path.to_path_buf(),
                temporary: false,
            }
        } else {
            self.unpack(path)?
        };
        let checked = check_dir(&source.dir, trust)?;
        let m = &checked.manifest;
        let target = self.root.join(&m.name).join(&m.version);
        if target.exists() {
            return Err(PluginError(format!(
                "{} {} is installed already; remove it first (kiln plugin remove {}@{})",
                m.name, m.version, m.name, m.version
            )));
        }
        let module = std::fs::read(checked.module_path())
            .map_err(|e| PluginError::context(checked.module_path().display(), e))?;
        accept(&checked, &module)?;
        // Copy what the manifest names (nothing else) into a new directory, then
        // move it in with one rename.
        std::fs::create_dir_all(&self.root)
            .map_err(|e| PluginError::context(self.root.display(), e))?;
        let staging = self.root.join(random_name(".install")?);
        let copied = (|| -> std::io::Result<()> {
            std::fs::create_dir(&staging)?;
            let mut names = vec!["plugin.toml".to_string()];
            if checked.signer.is_some() {
                names.push(SIGNATURE.to_string());
            }
            names.extend(m.all_files().map(|f| f.file.clone()));
            for name in names {
                let to = staging.join(&name);
                if let Some(parent) = to.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::copy(source.dir.join(&name), &to)?;
            }
            std::fs::create_dir_all(self.root.join(&m.name))?;
            std::fs::rename(&staging, &target)
        })();
        if let Err(e) = copied {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(PluginError::context(
                format!("installing into {}", target.display()),
                e,
            ));
        }
        // The copy is what is installed: check it once more.
        check_dir(&target, trust).inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&target);
        })
    }

    /// Every installed plugin's directory, by name then version.
    fn dirs(&self) -> Result<Vec<PathBuf>, PluginError> {
        let mut out = Vec::new();
        let names = match std::fs::read_dir(&self.root) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(PluginError::context(self.root.display(), e)),
        };
        for name in names.filter_map(Result::ok) {
            if name.file_name().to_string_lossy().starts_with('.') || !name.path().is_dir() {
                continue;
            }
            let versions = std::fs::read_dir(name.path())
                .map_err(|e| PluginError::context(name.path().display(), e))?;
            out.extend(
                versions
                    .filter_map(Result::ok)
                    .map(|v| v.path())
                    .filter(|p| p.is_dir()),
            );
        }
        out.sort();
        Ok(out)
    }

    /// Every installed plugin, each checked under `trust` (its result on its own).
    pub fn verify(&self, trust: &Trust) -> Result<Vec<Checked>, PluginError> {
        Ok(self
            .dirs()?
            .into_iter()
            .map(|d| {
                let r = check_dir(&d, trust);
                (d, r)
            })
            .collect())
    }

    /// The newest version of each installed plugin, every one checked under `trust`:
    /// any plugin that fails its checks fails the whole load (the server does not
    /// start with a plugin it cannot trust).
    pub fn load(&self, trust: &Trust) -> Result<Vec<Installed>, PluginError> {
        let mut newest: Vec<Installed> = Vec::new();
        for (dir, checked) in self.verify(trust)? {
            let p = checked.map_err(|e| PluginError(format!("{}: {e}", dir.display())))?;
            match newest
                .iter_mut()
                .find(|n| n.manifest.name == p.manifest.name)
            {
                Some(n) if version_order(&p.manifest.version, &n.manifest.version).is_gt() => {
                    *n = p
                }
                Some(_) => {}
                None => newest.push(p),
            }
        }
        Ok(newest)
    }

    /// Removes `name` (every version), or `name@version`. Returns what it removed.
    pub fn remove(&self, spec: &str) -> Result<Vec<PathBuf>, PluginError> {
        let (name, version) = match spec.split_once('@') {
            Some((n, v)) => (n, Some(v)),
            None => (spec, None),
        };
        if crate::scratch::check_name(name).is_err() || name.contains('/') {
            return Err(PluginError(format!("`{spec}` is not a plugin name")));
        }
        let dirs: Vec<_> = self
            .dirs()?
            .into_iter()
            .filter(|d| {
                d.parent()
                    .and_then(Path::file_name)
                    .is_some_and(|n| n == name)
                    && version.is_none_or(|v| d.file_name().is_some_and(|f| f == v))
            })
            .collect();
        if dirs.is_empty() {
            return Err(PluginError(format!("no plugin `{spec}` is installed")));
        }
        for d in &dirs {
            std::fs::remove_dir_all(d).map_err(|e| PluginError::context(d.display(), e))?;
        }
        let _ = std::fs::remove_dir(self.root.join(name));
        Ok(dirs)
    }
}

/// Versions compared part by part (split on `.`, `-` and `+`), numerically where both
/// parts are numbers.
pub fn version_order(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |s: &str| {
        s.split(['.', '-', '+'])
            .map(|p| p.parse::<u64>().map_err(|_| p.to_string()))
            .collect::<Vec<_>>()
    };
    let (a, b) = (parts(a), parts(b));
    for (x, y) in a.iter().zip(&b) {
        let o = match (x, y) {
            (Ok(x), Ok(y)) => x.cmp(y),
            (Ok(_), Err(_)) => std::cmp::Ordering::Greater,
            (Err(_), Ok(_)) => std::cmp::Ordering::Less,
            (Err(x), Err(y)) => x.cmp(y),
        };
        if o.is_ne() {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

#[cfg(test)]
mod tests {
    use super::version_order;
    use std::cmp::Ordering::*;

    #[test]
    fn versions_compare_by_their_numbers() {
        assert_eq!(version_order("3.12.0", "3.9.9"), Greater);
        assert_eq!(version_order("1.0", "1.0.1"), Less);
        assert_eq!(version_order("2.0-rc1", "2.0-rc1"), Equal);
    }
}

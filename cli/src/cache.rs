//! The code cache from the command line: where it lives (`--cache`), the installation
//! key that artifacts are authenticated with, `kiln compile` and `kiln cache`.

use crate::args::{CacheAction, CacheArgs, CompileArgs};
use crate::Failure;
use kiln::{ArtifactKey, CacheConfig, Config, Engine, Module};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The directory `--cache CHOICE` names: `None` for `off`.
pub fn directory(choice: &str) -> Result<Option<PathBuf>, Failure> {
    match choice {
        "off" => Ok(None),
        "on" => CacheConfig::default_directory().map(Some).ok_or_else(|| {
            Failure::Usage(
                "no cache directory: set XDG_CACHE_HOME or HOME, or pass --cache off".into(),
            )
        }),
        dir => Ok(Some(PathBuf::from(dir))),
    }
}

/// The installation's artifact key, in the default cache directory (created 0700, the
/// key 0600, if missing).
pub fn installation_key() -> Result<ArtifactKey, Failure> {
    let dir = directory("on")?.unwrap_or_default();
    std::fs::create_dir_all(&dir).map_err(|e| {
        Failure::Usage(format!(
            "cannot create the cache directory {}: {e}",
            dir.display()
        ))
    })?;
    Ok(ArtifactKey::load_or_create(&dir)?)
}

/// Whether the file at `path` is an artifact (by its magic).
pub fn is_artifact(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && kiln::artifact::is_artifact(&head)
}

/// `kiln compile`.
pub fn compile(a: &CompileArgs) -> Result<(), Failure> {
    let mut config = Config::new();
    config
        .consume_fuel(a.consume_fuel)
        .epoch_interruption(a.interruptible)
        .artifact_key(installation_key()?);
    if a.warm_cache {
        if let Some(dir) = directory("on")? {
            config.cache(CacheConfig::new(dir));
        }
    }
    let engine = Engine::new(&config)?;
    let module = Module::from_file(&engine, &a.file)?;
    let bytes = module.serialize()?;
    let out = a
        .output
        .clone()
        .unwrap_or_else(|| a.file.with_extension("kwasm"));
    write_atomically(&out, &bytes)
        .map_err(|e| Failure::Usage(format!("cannot write {}: {e}", out.display())))?;
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file in the same directory, so that
/// a reader never sees half an artifact.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("not a file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `kiln cache`.
pub fn run(a: &CacheArgs) -> Result<(), Failure> {
    let dir = directory("on")?.unwrap_or_default();
    let mut out = std::io::stdout().lock();
    match a.action {
        CacheAction::Dir => {
            let _ = writeln!(out, "{}", dir.display());
        }
        CacheAction::Stats => {
            let s = CacheConfig::stats(&dir)?;
            let _ = writeln!(out, "directory: {}", dir.display());
            let _ = writeln!(out, "modules:   {}", s.entries);
            let _ = writeln!(
                out,
                "bytes:     {} ({:.1} MiB)",
                s.bytes,
                s.bytes as f64 / (1 << 20) as f64
            );
        }
        CacheAction::Clear => {
            let n = CacheConfig::clear(&dir)?;
            let _ = writeln!(
                out,
                "removed {n} cached module{}",
                if n == 1 { "" } else { "s" }
            );
        }
    }
    Ok(())
}

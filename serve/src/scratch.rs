//! Each job's scratch directory: made empty under the server's scratch root, filled
//! with the request's files, given to the guest as `/` (and `.`), and removed when the
//! job ends. What the guest may add to it is capped by the WASI context (bytes written,
//! entries created); this module only checks the request's own file names, which must
//! stay inside the directory.

use std::path::{Component, Path, PathBuf};

/// The longest file name a request may give, in bytes.
pub const MAX_NAME: usize = 255;

/// A request's file name that is not a plain relative path inside the directory.
pub fn check_name(name: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("file name `{name}`: {why}"));
    if name.is_empty() || name.len() > MAX_NAME {
        return bad("must have 1 to 255 bytes");
    }
    if name.contains('\0') || name.contains('\\') {
        return bad("must not contain NUL or `\\`");
    }
    let path = Path::new(name);
    if path.is_absolute() {
        return bad("absolute paths are refused; names are relative to the job's directory");
    }
    for c in path.components() {
        match c {
            Component::Normal(_) => {}
            Component::ParentDir => return bad("`..` is refused"),
            Component::CurDir => return bad("`.` components are refused"),
            _ => return bad("must be a relative path"),
        }
    }
    Ok(())
}

/// This server's part of the scratch root: `root/NAME/`, with a `lock` file the
/// server holds locked while it lives. Opening it removes the parts of servers that
/// died (their locks are free), so several servers can share one root.
pub struct ScratchRoot {
    dir: PathBuf,
    _lock: std::fs::File,
}

/// The lock file in each server's part of the root.
const LOCK: &str = ".lock";

impl ScratchRoot {
    /// Removes what dead servers left in `root` (returns how many of their parts), then
    /// makes this server's part.
    pub fn open(root: &Path) -> std::io::Result<(ScratchRoot, usize)> {
        std::fs::create_dir_all(root)?;
        let mut cleaned = 0;
        for entry in std::fs::read_dir(root)? {
            let entry = entry?;
            if !entry.file_type()?.is_dir() {
                continue;
            }
            let lock = match std::fs::File::open(entry.path().join(LOCK)) {
                Ok(f) => f,
                // Not a server's part (or one that died before it locked): leave it.
                Err(_) => continue,
            };
            if lock.try_lock().is_ok() {
                std::fs::remove_dir_all(entry.path())?;
                cleaned += 1;
            }
        }
        let name = crate::hex::random_hex(8)?;
        let dir = root.join(format!("server-{}-{name}", std::process::id()));
        std::fs::create_dir(&dir)?;
        let lock = std::fs::File::create(dir.join(LOCK))?;
        lock.try_lock().map_err(std::io::Error::other)?;
        Ok((ScratchRoot { dir, _lock: lock }, cleaned))
    }

    /// Makes the directory of job `id` and writes `files` into it, their names checked
    /// by [`check_name`] when the request was read.
    pub fn job(&self, id: &str, files: &[(String, Vec<u8>)]) -> std::io::Result<Scratch> {
        let path = self.dir.join(id);
        std::fs::create_dir(&path)?;
        let scratch = Scratch { path };
        for (name, bytes) in files {
            let to = scratch.path.join(name);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&to, bytes)?;
        }
        Ok(scratch)
    }
}

impl Drop for ScratchRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A job's directory, removed on drop.
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    /// Its path on the host.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // `remove_dir_all` does not follow the symbolic links a guest may have made.
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            tracing::error!(target: "kiln_serve", path = %self.path.display(), "cannot remove a job's directory: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_inside_the_directory() {
        for ok in ["main.py", "lib/util.py", "a b.txt", "deep/er/file"] {
            assert_eq!(check_name(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("", "1 to 255"),
            ("/etc/passwd", "absolute"),
            ("../x", "`..`"),
            ("a/../../x", "`..`"),
            ("./x", "`.`"),
            ("a\\b", "NUL"),
            ("a\0b", "NUL"),
        ] {
            let e = check_name(bad).expect_err(bad);
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(check_name(&"x".repeat(256)).is_err());
    }

    #[test]
    fn a_directory_holds_the_files_and_is_gone_after() {
        let root = tempfile::tempdir().expect("tempdir");
        let (mine, cleaned) = ScratchRoot::open(root.path()).expect("root");
        assert_eq!(cleaned, 0);
        let files = [
            ("a.txt".to_string(), b"A".to_vec()),
            ("sub/b.txt".to_string(), b"B".to_vec()),
        ];
        let s = mine.job("job1", &files).expect("scratch");
        assert_eq!(std::fs::read(s.path().join("sub/b.txt")).expect("b"), b"B");
        let path = s.path().to_path_buf();
        drop(s);
        assert!(!path.exists());
        // A second server leaves the first's part alone while the first lives, and
        // cleans the part of one that died (its lock free).
        let dead = root.path().join("server-1-dead");
        std::fs::create_dir_all(dead.join("job")).expect("dead job");
        std::fs::write(dead.join(LOCK), b"").expect("dead lock");
        let running = mine.job("running", &[]).expect("job");
        let (other, cleaned) = ScratchRoot::open(root.path()).expect("root 2");
        assert_eq!(cleaned, 1);
        assert!(!dead.exists());
        assert!(running.path().exists());
        drop(running);
        drop(mine);
        drop(other);
    }
}

//! Builds the one C file Kiln needs (`sigsetjmp`/`siglongjmp`, which Rust cannot call
//! soundly), and stamps the build with `KILN_BUILD_ID`: a hash of the sources that
//! decide generated code and its runtime contract (frontend, jit and runtime). A
//! compiled artifact records it, so a development build never runs code that another
//! build of the same version compiled.

use std::collections::hash_map::DefaultHasher;
use std::hash::Hasher;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=src/vm/setjmp.c");
    cc::Build::new()
        .file("src/vm/setjmp.c")
        .warnings(true)
        .compile("kiln_setjmp");

    let mut hasher = DefaultHasher::new();
    for dir in ["../frontend/src", "../jit/src", "src"] {
        println!("cargo:rerun-if-changed={dir}");
        hash_dir(Path::new(dir), &mut hasher);
    }
    println!("cargo:rustc-env=KILN_BUILD_ID={:016x}", hasher.finish());
}

/// Hashes every file under `dir` (names and contents, in sorted order).
fn hash_dir(dir: &Path, hasher: &mut DefaultHasher) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            hash_dir(&path, hasher);
        } else if let Ok(bytes) = std::fs::read(&path) {
            hasher.write(path.to_string_lossy().as_bytes());
            hasher.write(&bytes);
        }
    }
}

//! Runs every sightglass program from a compiled artifact, as a program would that
//! ships one: the program is compiled by one engine, `Module::serialize`d to a file in a
//! fresh temporary folder, and loaded from that file with `Module::deserialize_file`
//! (memory-mapped: only our user can write the file) by a second engine with the same
//! (default) settings, which shares the first one's per-process artifact key. It then
//! runs exactly as in `sightglass.rs` (WASI `_start`, folder pre-opened as `.`) and
//! its stdout and stderr must equal the expected ones line for line, with exit status
//! 0. One trial per program (`artifact/<program>`); each prints the artifact's size,
//! its load time and the total time.

mod workloads;

use kiln::{Engine, Module};
use libtest_mimic::{Arguments, Failed, Trial};
use std::path::Path;
use std::time::Instant;

fn run(compiler: &Engine, loader: &Engine, wasm: &Path, name: &str) -> Result<(), Failed> {
    let t0 = Instant::now();
    let artifact = Module::from_file(compiler, wasm)?.serialize()?;
    if !kiln::artifact::is_artifact(&artifact) {
        return Err("serialize did not write an artifact".into());
    }
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("program.kwasm");
    std::fs::write(&path, &artifact)?;

    let t1 = Instant::now();
    let module = Module::deserialize_file(loader, &path)?;
    let loaded = t1.elapsed();
    let ran = workloads::run(loader, &module, wasm)?;
    let elapsed = t0.elapsed();
    eprintln!(
        "sightglass artifact/{name}: {} bytes, exit {}, output {}, load {:.3}s, total {:.2}s",
        artifact.len(),
        ran.status,
        ran.output(),
        loaded.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    ran.check_status()
}

fn main() {
    let args = Arguments::from_args();
    // Two engines with the same settings: the artifact must load in another engine than
    // the one that compiled it.
    let (compiler, loader) = (Engine::default(), Engine::default());
    let trials = workloads::programs(&args)
        .into_iter()
        .map(|(name, wasm)| {
            let (compiler, loader) = (compiler.clone(), loader.clone());
            Trial::test(format!("artifact/{name}"), move || {
                run(&compiler, &loader, &wasm, &name)
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

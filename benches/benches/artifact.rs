//! Starting the largest sightglass program (regex, 882 KB of Wasm) from compiled code:
//! `artifact_start/kiln` times `Module::deserialize_file` of a `kiln compile`d
//! artifact plus a WASI instance with `_start` found (the way `compare` instantiates);
//! `artifact_start/wasmtime` times Wasmtime 48's `Module::deserialize_file` of a
//! precompiled module plus the same instantiation. regex exports no function that
//! does nothing (only `_start` and `__main_void`, which run the program), so nothing
//! is called. Each sample loads the module afresh: no in-process cache is involved.
//! `artifact_start/kiln-cache` does the same through the code cache's disk tier
//! (`Module::from_file` on an engine with `CacheConfig`, memory tier off).
//!
//! ```text
//! cargo bench -p kiln-benches --bench artifact
//! ```
//!
//! The one `unsafe` here is Wasmtime's: its `Module::deserialize_file` is `unsafe` (it
//! trusts the file); the file is one this bench wrote with `Engine::precompile_module`
//! just before.

#![deny(unsafe_code)]

use criterion::{criterion_group, criterion_main, Criterion};
use kiln_benches::kiln_runner::KilnHost;
use kiln_benches::wasmtime_runner::{chain, WasmtimeHost};
use kiln_benches::Workload;
use std::hint::black_box;
use std::path::Path;

#[allow(unsafe_code)]
fn wasmtime_load(engine: &wasmtime::Engine, path: &Path) -> Result<wasmtime::Module, String> {
    // SAFETY: `path` holds `Engine::precompile_module`'s output for this same engine
    // configuration and Wasmtime build, written by `setup` below.
    unsafe { wasmtime::Module::deserialize_file(engine, path) }.map_err(|e| chain(&e))
}

struct Setup {
    workload: Workload,
    kiln: KilnHost,
    kiln_artifact: std::path::PathBuf,
    wasmtime: WasmtimeHost,
    wasmtime_artifact: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn setup() -> Result<Setup, String> {
    let workload = kiln_benches::workloads("regex", None)
        .map_err(|e| e.to_string())?
        .into_iter()
        .next()
        .ok_or("no regex workload")?;
    let wasm = std::fs::read(&workload.wasm).map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let kiln = KilnHost::new(kiln::OptLevel::Speed)?;
    let kiln_artifact = dir.path().join("regex.kwasm");
    let bytes = kiln
        .compile(&wasm)?
        .serialize()
        .map_err(|e| e.to_string())?;
    std::fs::write(&kiln_artifact, bytes).map_err(|e| e.to_string())?;
    let wasmtime = WasmtimeHost::new()?;
    let wasmtime_artifact = dir.path().join("regex.cwasm");
    let bytes = wasmtime
        .engine()
        .precompile_module(&wasm)
        .map_err(|e| chain(&e))?;
    std::fs::write(&wasmtime_artifact, bytes).map_err(|e| e.to_string())?;
    Ok(Setup {
        workload,
        kiln,
        kiln_artifact,
        wasmtime,
        wasmtime_artifact,
        _dir: dir,
    })
}

fn artifact_start(c: &mut Criterion) {
    let s = match setup() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot set up: {e}");
            return;
        }
    };
    // Both start, and the program then runs correctly from the loaded code.
    let checked = kiln::Module::deserialize_file(s.kiln.engine(), &s.kiln_artifact)
        .map_err(|e| e.to_string())
        .and_then(|m| s.kiln.instantiate(&m, &s.workload))
        .and_then(|r| r.run())
        .and_then(|out| {
            kiln_benches::check::Expected::load(&s.workload.wasm)
                .map_err(|e| e.to_string())?
                .check(&out)
        });
    if let Err(e) = checked {
        eprintln!("kiln's artifact does not run regex: {e}");
        return;
    }
    let mut g = c.benchmark_group("artifact_start");
    g.bench_function("kiln", |b| {
        b.iter(|| {
            let m = kiln::Module::deserialize_file(s.kiln.engine(), &s.kiln_artifact);
            let run = m.map(|m| s.kiln.instantiate(&m, &s.workload));
            black_box(run.is_ok())
        })
    });
    // Through the code cache's disk tier (memory tier off): the file index finds the
    // artifact, whose verification record spares hashing it again.
    let cache_dir = s._dir.path().join("cache");
    let cached = kiln::Engine::new(kiln::Config::new().cache(kiln::CacheConfig {
        directory: Some(cache_dir),
        max_bytes: 1 << 30,
        memory_bytes: 0,
    }));
    if let Ok(engine) = cached {
        let host = KilnHost::with_engine(&engine);
        let warm = kiln::Module::from_file(&engine, &s.workload.wasm);
        if let (Ok(host), Ok(_)) = (host, warm) {
            g.bench_function("kiln-cache", |b| {
                b.iter(|| {
                    let m = kiln::Module::from_file(&engine, &s.workload.wasm);
                    let run = m.map(|m| host.instantiate(&m, &s.workload));
                    black_box(run.is_ok())
                })
            });
        }
    }
    g.bench_function("wasmtime", |b| {
        b.iter(|| {
            let m = wasmtime_load(s.wasmtime.engine(), &s.wasmtime_artifact);
            let run = m.map(|m| s.wasmtime.instantiate(&m, &s.workload));
            black_box(run.is_ok())
        })
    });
    g.finish();
}

criterion_group!(benches, artifact_start);
criterion_main!(benches);

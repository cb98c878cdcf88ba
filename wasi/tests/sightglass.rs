//! Runs every sightglass program (`shared/workloads/sightglass`, or `$KILN_WORKLOADS`)
//! as the workloads README says: `_start` with no arguments and empty stdin, the
//! module's folder pre-opened as `.` (read-only), `bench.start`/`bench.end` as no-ops;
//! stdout and stderr must equal `<name>.std{out,err}.expected` (else
//! `default.*.expected`) line for line, as sightglass compares them (libsodium's
//! expected `0` has no final newline; the programs print `0\n`), and the exit status
//! must be 0. One trial per program; each prints its time and whether the output was
//! byte-identical too. Modules are compiled by a WASI linker, with the WASI fast paths
//! inlined. (`sightglass_artifacts.rs` runs them again from artifact files;
//! the shared pieces are in `workloads/mod.rs`.)

mod workloads;

use kiln::{Engine, Linker};
use libtest_mimic::{Arguments, Failed, Trial};
use std::path::Path;
use std::time::Instant;

fn run(engine: &Engine, wasm: &Path, name: &str) -> Result<(), Failed> {
    let t0 = Instant::now();
    // Compiled by a WASI linker: the clock and `sched_yield` fast paths are inlined
    // (the artifact and tiered runs take the generic paths).
    let mut linker = Linker::<kiln_wasi::WasiCtx>::new(engine);
    kiln_wasi::add_to_linker(&mut linker, |c| c)?;
    let module = linker.module_from_file(wasm, None)?;
    let compiled = t0.elapsed();
    let ran = workloads::run(engine, &module, wasm)?;
    let elapsed = t0.elapsed();
    eprintln!(
        "sightglass {name}: exit {}, output {}, compile {:.2}s, total {:.2}s",
        ran.status,
        ran.output(),
        compiled.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    ran.check_status()
}

fn main() {
    let args = Arguments::from_args();
    let engine = Engine::default();
    let trials = workloads::programs(&args)
        .into_iter()
        .map(|(name, wasm)| {
            let engine = engine.clone();
            Trial::test(name.clone(), move || run(&engine, &wasm, &name))
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

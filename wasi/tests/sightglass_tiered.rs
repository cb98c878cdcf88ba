//! Runs every sightglass program as `sightglass.rs` does, with `Strategy::Tiered` and
//! low tier-up thresholds (100 calls, 1,000 loop iterations), so that functions are
//! compiled at their first call, optimized in the background and replaced on the
//! stack in their loops while the program runs; the output must still be exact. One
//! trial per program.

mod workloads;

use kiln::{Config, Engine, Module, Strategy, TierUpPolicy};
use libtest_mimic::{Arguments, Failed, Trial};
use std::path::Path;

fn run(engine: &Engine, wasm: &Path, name: &str) -> Result<(), Failed> {
    let module = Module::from_file(engine, wasm)?;
    let ran = workloads::run(engine, &module, wasm)?;
    eprintln!(
        "sightglass tiered {name}: exit {}, output {}",
        ran.status,
        ran.output()
    );
    ran.check_status()
}

fn main() {
    let args = Arguments::from_args();
    let mut config = Config::new();
    config
        .strategy(Strategy::Tiered)
        .tier_up_policy(TierUpPolicy {
            call_threshold: 100,
            loop_threshold: 1_000,
            ..TierUpPolicy::default()
        });
    let engine = match Engine::new(&config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("cannot make a tiered engine: {e}");
            std::process::exit(2);
        }
    };
    let trials = workloads::programs(&args)
        .into_iter()
        .map(|(name, wasm)| {
            let engine = engine.clone();
            Trial::test(format!("tiered/{name}"), move || run(&engine, &wasm, &name))
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

//! `shapes [FILE.wasm ...]`: the shape of every function (locals, blocks, operators) of
//! the sightglass programs, or of the given modules, and the largest `locals² × blocks`
//! of each: what the compile budget's SSA threshold is chosen against.

#![forbid(unsafe_code)]

use kiln_frontend::{DefinedFuncIndex, Features};
use std::path::PathBuf;

fn main() {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let files: Vec<(String, PathBuf)> = if args.is_empty() {
        match kiln_benches::all_workloads(None) {
            Ok(ws) => ws
                .into_iter()
                .map(|w| (w.name.clone(), w.wasm.clone()))
                .collect(),
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(2);
            }
        }
    } else {
        args.iter()
            .map(|p| (p.display().to_string(), p.clone()))
            .collect()
    };
    println!(
        "{:<40} {:>6} {:>12} {:>8} {:>8} {:>9} {:>14}",
        "module", "funcs", "max l²×b", "locals", "blocks", "max ops", "sum l²×b"
    );
    let mut overall = 0u64;
    for (name, path) in files {
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{name}: {e}");
                continue;
            }
        };
        let info = match kiln_frontend::parse(&bytes, Features::default()) {
            Ok(i) => i,
            Err(e) => {
                eprintln!("{name}: {e}");
                continue;
            }
        };
        let mut worst = kiln_jit::FunctionShape::default();
        let mut max_ops = 0;
        let mut total = 0u64;
        for d in 0..info.num_defined_funcs() {
            let s = kiln_jit::function_shape(&info, DefinedFuncIndex::from_u32(d))
                .expect("validated body");
            max_ops = max_ops.max(s.operators);
            total = total.saturating_add(s.ssa_cost());
            if s.ssa_cost() > worst.ssa_cost() {
                worst = s;
            }
        }
        overall = overall.max(worst.ssa_cost());
        println!(
            "{:<40} {:>6} {:>12} {:>8} {:>8} {:>9} {:>14}",
            name,
            info.num_defined_funcs(),
            worst.ssa_cost(),
            worst.locals,
            worst.blocks,
            max_ops,
            total
        );
    }
    println!(
        "largest locals² × blocks: {overall} (budget {})",
        kiln_jit::DEFAULT_MAX_SSA_COST
    );
}

//! Writes the smoke test's inputs (`seed_input(0..N)`) into a directory, as a starting
//! corpus for a fuzz target: `cargo run -p kiln-fuzz-oracle --example seed_corpus --
//! fuzz/corpus/differential 500`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first() else {
        eprintln!("usage: seed_corpus DIR [COUNT]");
        return ExitCode::from(2);
    };
    let count: u64 = match args.get(1).map(|n| n.parse()) {
        None => 500,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("bad count: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("cannot create {dir}: {e}");
        return ExitCode::FAILURE;
    }
    for seed in 0..count {
        let path = std::path::Path::new(dir).join(format!("seed-{seed}"));
        if let Err(e) = std::fs::write(&path, kiln_fuzz_oracle::seed_input(seed)) {
            eprintln!("cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    println!("wrote {count} inputs to {dir}");
    ExitCode::SUCCESS
}

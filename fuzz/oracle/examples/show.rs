//! Shows what a fuzz input does: the module a target makes of it (as text) and the
//! target's verdict.
//!
//! ```sh
//! cargo run -p kiln-fuzz-oracle --example show -- TARGET FILE|seed:N [--wasm OUT.wasm]
//! ```

use kiln_fuzz_oracle::{seed_input, Target};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(target), Some(input)) = (args.first(), args.get(1)) else {
        eprintln!("usage: show TARGET FILE|seed:N [--wasm OUT.wasm]");
        return ExitCode::from(2);
    };
    let Some(target) = Target::from_name(target) else {
        eprintln!(
            "unknown target {target}: one of differential, validate, compile, limits, artifact"
        );
        return ExitCode::from(2);
    };
    let data = match input.strip_prefix("seed:") {
        Some(n) => match n.parse() {
            Ok(n) => seed_input(n),
            Err(e) => {
                eprintln!("bad seed {n}: {e}");
                return ExitCode::from(2);
            }
        },
        None => match std::fs::read(input) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("cannot read {input}: {e}");
                return ExitCode::from(2);
            }
        },
    };
    match target.module_of(&data) {
        Some(wasm) => {
            match wasmprinter::print_bytes(&wasm) {
                Ok(text) => println!("{text}"),
                Err(e) => println!(";; {} bytes, not printable: {e}", wasm.len()),
            }
            if let Some(out) = args
                .iter()
                .position(|a| a == "--wasm")
                .and_then(|i| args.get(i + 1))
            {
                if let Err(e) = std::fs::write(out, &wasm) {
                    eprintln!("cannot write {out}: {e}");
                }
            }
        }
        None => println!(";; the input is too short to make a module"),
    }
    match target.check(&data) {
        Ok(()) => {
            println!(";; {target}: passes");
            ExitCode::SUCCESS
        }
        Err(f) => {
            println!(";; {f}");
            ExitCode::FAILURE
        }
    }
}

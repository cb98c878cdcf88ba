//! The `kiln` command line: `kiln [run] [OPTIONS] FILE [ARGS]...`, `kiln wast`,
//! `kiln compile`, `kiln cache`, `kiln settings`, `kiln completion`, `kiln help`, `kiln --version`. See `args.rs` for
//! the grammar and `kiln help run` for the options.
//!
//! Exit status: the guest's exit code (`proc_exit`, or 0 when `_start` returns); 134 when
//! wasm traps (the trap and its backtrace go to stderr); 3 when a resource limit stops
//! it, naming the limit, its value and the use; 2 for anything that stops the program
//! from running (a missing file, a malformed module, a missing import, bad arguments).

#![forbid(unsafe_code)]

mod args;
mod cache;
mod limits;
mod plugin;
mod profile;
mod run;
mod serve;
mod settings;
mod wast;

use args::{Cli, Command};
use clap::{CommandFactory, Parser};
use kiln::Error;
use kiln_wasi::I32Exit;
use std::process::ExitCode;

/// Exit status of a trap, as for a process killed by SIGABRT.
const TRAP_STATUS: u8 = 134;
/// Exit status when the program could not be run.
const ERROR_STATUS: u8 = 2;
/// Exit status when a resource limit stopped the guest.
const LIMIT_STATUS: u8 = 3;

/// Why a command did not finish normally.
pub enum Failure {
    /// The command line or the module could not be used.
    Usage(String),
    /// Kiln reported an error (a trap, a link error, ...).
    Kiln(Error),
    /// A resource limit stopped the guest; the message names it, its value and the use.
    Limit(String),
    /// The command ran and reported its own failure (e.g. a spec check failed).
    Failed,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Kiln(e)
    }
}

fn main() -> ExitCode {
    let argv = args::with_implied_run(std::env::args().collect());
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        // Help and version go to stdout with status 0; usage errors to stderr with 2.
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { ERROR_STATUS } else { 0 });
        }
    };
    let result = match cli.command {
        Command::Run(a) => run::run_on_sized_thread(*a),
        Command::Wast(a) => wast::run(&a),
        Command::Compile(a) => cache::compile(&a),
        Command::Cache(a) => cache::run(&a),
        Command::Profile(a) => profile::run(&a),
        Command::Settings(a) => settings::print(&a),
        Command::Serve(a) => serve::run(&a),
        Command::Plugin(a) => plugin::run(&a),
        Command::Completion(a) => {
            clap_complete::generate(a.shell, &mut Cli::command(), "kiln", &mut std::io::stdout());
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Failed) => ExitCode::FAILURE,
        Err(Failure::Usage(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(ERROR_STATUS)
        }
        Err(Failure::Limit(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(LIMIT_STATUS)
        }
        Err(Failure::Kiln(e)) => {
            if let Some(exit) = e.downcast_ref::<I32Exit>() {
                // The guest's own exit status; WASI exit codes above 255 are truncated by
                // the OS, so clamp them to a failure.
                return ExitCode::from(u8::try_from(exit.0).unwrap_or(1));
            }
            eprintln!("error: {e}");
            ExitCode::from(if e.as_trap().is_some() {
                TRAP_STATUS
            } else {
                ERROR_STATUS
            })
        }
    }
}

//! Runs the directives of one `.wast` file against Kiln.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use wast::lexer::Lexer;
use wast::parser::{self, ParseBuffer};
use wast::Wast;

use crate::count;
use crate::error::{panic_message, SpecError};
use crate::session::{Session, Status};
use crate::suite;
use crate::RunOptions;

/// One failed check, at a 1-based line and column of the `.wast` file.
#[derive(Debug, Clone)]
pub(crate) struct CheckFailure {
    pub(crate) line: usize,
    pub(crate) col: usize,
    pub(crate) message: String,
}

/// The raw outcome of running one file, before expected failures are applied.
#[derive(Debug, Default)]
pub(crate) struct FileOutcome {
    /// 1-based lines of the checks that passed.
    pub(crate) passed_lines: Vec<usize>,
    pub(crate) failures: Vec<CheckFailure>,
    pub(crate) skipped: usize,
    /// Modules used deserialized ([`crate::RunOptions::round_trip`]).
    pub(crate) round_trips: usize,
}

impl FileOutcome {
    /// An outcome with a single failed check that concerns the whole file.
    pub(crate) fn whole_file_failure(message: String) -> Self {
        FileOutcome {
            failures: vec![CheckFailure {
                line: 0,
                col: 0,
                message,
            }],
            ..FileOutcome::default()
        }
    }
}

/// Runs the file at `path` on the current thread.
pub(crate) fn run_file_on_this_thread(path: &Path, opts: &RunOptions) -> FileOutcome {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => return FileOutcome::whole_file_failure(format!("cannot read file: {e}")),
    };
    // names.wast deliberately uses bidirectional-override characters in names.
    let mut lexer = Lexer::new(&text);
    lexer.allow_confusing_unicode(true);
    let buf = match ParseBuffer::new_with_lexer(lexer) {
        Ok(buf) => buf,
        Err(e) => return parse_failure(&e, &text),
    };
    let wast = match parser::parse::<Wast<'_>>(&buf) {
        Ok(wast) => wast,
        Err(e) => return parse_failure(&e, &text),
    };

    if !opts.simd && suite::is_simd_file(&suite::file_name(path)) {
        return FileOutcome {
            skipped: count::count_checks(&wast.directives),
            ..FileOutcome::default()
        };
    }

    // The Wasm 2.0 suite checks that later proposals are refused: its files run with
    // Wasm 2.0 only, every other directory's with what Kiln implements.
    let wasm2_only = suite::is_wasm2(path) || !opts.wasm3;
    let mut session = match catch_unwind(|| Session::new(opts, wasm2_only)) {
        Ok(Ok(session)) => session,
        Ok(Err(e)) => {
            return FileOutcome::whole_file_failure(format!("cannot set up the store: {e}"))
        }
        Err(payload) => {
            return FileOutcome::whole_file_failure(format!(
                "panic while setting up the store: {}",
                panic_message(payload.as_ref())
            ))
        }
    };

    let mut outcome = FileOutcome::default();
    for directive in wast.directives {
        let (line0, col0) = directive.span().linecol_in(&text);
        let (line, col) = (line0 + 1, col0 + 1);
        let is_check = count::is_check(&directive);
        let result = catch_unwind(AssertUnwindSafe(|| session.run(directive)));
        let result = match result {
            Ok(result) => result,
            Err(payload) => Err(SpecError::new(format!(
                "panic: {}",
                panic_message(payload.as_ref())
            ))),
        };
        match result {
            Ok(Status::Passed) if is_check => outcome.passed_lines.push(line),
            Ok(Status::Passed) => {}
            Ok(Status::Skipped) => outcome.skipped += 1,
            Err(e) => outcome.failures.push(CheckFailure {
                line,
                col,
                message: e.message().to_string(),
            }),
        }
    }
    outcome.round_trips = session.round_trips;
    outcome
}

fn parse_failure(err: &wast::Error, text: &str) -> FileOutcome {
    let (line, col) = err.span().linecol_in(text);
    FileOutcome {
        failures: vec![CheckFailure {
            line: line + 1,
            col: col + 1,
            message: format!("cannot parse the file: {}", err.message()),
        }],
        ..FileOutcome::default()
    }
}

//! Per-file reports, with the expected-failures list applied.

use std::fmt;

use crate::error::one_line;
use crate::runner::FileOutcome;

/// The result of running one `.wast` file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileReport {
    /// The file's base name.
    pub file: String,
    /// Checks that passed.
    pub passed: usize,
    /// Checks that failed, including expected failures.
    pub failed: usize,
    /// Checks that were not run (SIMD files, unsupported directives).
    pub skipped: usize,
    /// How many of the `failed` checks are in the expected-failures list.
    pub expected_failures: usize,
    /// One `"line:col: description"` per failed check. Expected failures end with
    /// `" [expected failure: <reason>]"`.
    pub failures: Vec<String>,
    /// Expected-failures entries for this file whose checks did not fail: errors.
    pub unexpected_passes: Vec<String>,
    /// Modules that were serialized and used deserialized (only with
    /// [`crate::RunOptions::round_trip`]).
    pub round_trips: usize,
}

impl FileReport {
    /// Failed checks that are not in the expected-failures list.
    pub fn unexpected_failures(&self) -> usize {
        self.failed.saturating_sub(self.expected_failures)
    }

    /// Whether the file is fine: every failure is expected and no listed entry passes.
    pub fn is_ok(&self) -> bool {
        self.unexpected_failures() == 0 && self.unexpected_passes.is_empty()
    }
}

impl fmt::Display for FileReport {
    /// `align.wast: 120 passed, 0 failed, 0 skipped`, plus the number of expected failures
    /// when there are any.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} passed, {} failed, {} skipped",
            self.file, self.passed, self.failed, self.skipped
        )?;
        if self.expected_failures > 0 {
            write!(f, " ({} expected failures)", self.expected_failures)?;
        }
        if self.round_trips > 0 {
            write!(f, "; {} modules deserialized", self.round_trips)?;
        }
        Ok(())
    }
}

/// Builds the report of `file` from its raw outcome and the expected-failures `list`.
pub(crate) fn build(file: &str, outcome: FileOutcome, list: &[(&str, &str, &str)]) -> FileReport {
    let entries: Vec<(&str, &str)> = list
        .iter()
        .filter(|(f, _, _)| *f == file)
        .map(|(_, line, reason)| (*line, *reason))
        .collect();
    let listed_reason = |line: usize| {
        entries
            .iter()
            .find(|(l, _)| *l == "*" || l.parse::<usize>().ok() == Some(line))
            .map(|(_, reason)| *reason)
    };

    let mut report = FileReport {
        file: file.to_string(),
        passed: outcome.passed_lines.len(),
        failed: outcome.failures.len(),
        skipped: outcome.skipped,
        round_trips: outcome.round_trips,
        ..FileReport::default()
    };
    for failure in &outcome.failures {
        let mut text = format!(
            "{}:{}: {}",
            failure.line,
            failure.col,
            one_line(&failure.message)
        );
        if let Some(reason) = listed_reason(failure.line) {
            report.expected_failures += 1;
            text.push_str(&format!(" [expected failure: {reason}]"));
        }
        report.failures.push(text);
    }
    for (line, reason) in entries {
        let still_fails = if line == "*" {
            !outcome.failures.is_empty()
        } else {
            outcome
                .failures
                .iter()
                .any(|f| line.parse::<usize>().ok() == Some(f.line))
        };
        if !still_fails {
            report.unexpected_passes.push(format!(
                "{file}:{line}: unexpected pass: remove it from the list (listed reason: {reason})"
            ));
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::CheckFailure;

    fn outcome(passed: &[usize], failed: &[usize]) -> FileOutcome {
        FileOutcome {
            passed_lines: passed.to_vec(),
            failures: failed
                .iter()
                .map(|&line| CheckFailure {
                    line,
                    col: 1,
                    message: "boom".to_string(),
                })
                .collect(),
            skipped: 0,
            round_trips: 0,
        }
    }

    #[test]
    fn unlisted_failure_is_not_ok() {
        let r = build("a.wast", outcome(&[1], &[2]), &[]);
        assert_eq!((r.passed, r.failed, r.expected_failures), (1, 1, 0));
        assert_eq!(r.failures, vec!["2:1: boom".to_string()]);
        assert!(!r.is_ok());
    }

    #[test]
    fn listed_failure_is_ok() {
        let list = [("a.wast", "2", "reason"), ("b.wast", "*", "other file")];
        let r = build("a.wast", outcome(&[1], &[2]), &list);
        assert_eq!(r.expected_failures, 1);
        assert!(r.is_ok());
        assert!(r.failures[0].contains("expected failure: reason"));
    }

    #[test]
    fn whole_file_entry() {
        let list = [("a.wast", "*", "reason")];
        assert!(build("a.wast", outcome(&[], &[2, 5]), &list).is_ok());
        let r = build("a.wast", outcome(&[1, 2], &[]), &list);
        assert!(!r.is_ok());
        assert_eq!(r.unexpected_passes.len(), 1);
    }

    #[test]
    fn listed_line_that_passes_is_an_error() {
        let list = [("a.wast", "1", "reason")];
        let r = build("a.wast", outcome(&[1], &[]), &list);
        assert!(!r.is_ok());
        assert!(r.unexpected_passes[0].contains("unexpected pass: remove it from the list"));
    }

    #[test]
    fn display() {
        let r = build("a.wast", outcome(&[1, 3], &[2]), &[]);
        assert_eq!(r.to_string(), "a.wast: 2 passed, 1 failed, 0 skipped");
        let r = build(
            "a.wast",
            FileOutcome {
                round_trips: 4,
                ..outcome(&[1], &[])
            },
            &[],
        );
        assert_eq!(
            r.to_string(),
            "a.wast: 1 passed, 0 failed, 0 skipped; 4 modules deserialized"
        );
    }
}

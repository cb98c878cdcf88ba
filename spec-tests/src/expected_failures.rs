//! Spec checks that are known to fail with Kiln today.
//!
//! RULES: this list may only shrink. Every entry needs a one-line reason. An entry whose
//! check now passes is reported as an error ("unexpected pass: remove it from the list"), so
//! fixes force the list to be kept up to date.
//!
//! Each entry is `(file, line, reason)`:
//! - `file` is the `.wast` file's base name, e.g. `"align.wast"`;
//! - `line` is the 1-based line of the failing directive as a string, e.g. `"123"`, or `"*"`
//!   for every check in the file;
//! - `reason` says why it fails (one line).

/// The expected failures (see the module docs). Keep it sorted by file, then line.
pub const EXPECTED_FAILURES: &[(&str, &str, &str)] = &[];

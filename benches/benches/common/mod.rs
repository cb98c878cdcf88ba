//! Pieces shared by the criterion benches.
//!
//! The benches over sightglass programs check each program (its output, or that it
//! compiles) before timing it, which costs a run per engine; [`Selection`] reads
//! criterion's own filter argument from the command line so that only the benchmarks
//! criterion will run are checked. `cargo bench -p kiln-benches --bench execute --
//! fib2` checks and times only the shootout-fib2 benchmarks.

use std::time::Duration;

/// Criterion options that take a value (criterion 0.5's command line).
const VALUE_OPTIONS: &[&str] = &[
    "-c",
    "--color",
    "-s",
    "--save-baseline",
    "-b",
    "--baseline",
    "--baseline-lenient",
    "--format",
    "--profile-time",
    "--load-baseline",
    "--sample-size",
    "--warm-up-time",
    "--measurement-time",
    "--nresamples",
    "--noise-threshold",
    "--confidence-level",
    "--significance-level",
    "--plotting-backend",
    "--output-format",
];

enum Filter {
    All,
    None,
    Regex(regex::Regex),
    Exact(String),
}

/// Which benchmarks criterion will run, as its command line says.
pub struct Selection {
    filter: Filter,
    /// `--list`: criterion names the benchmarks and runs none.
    pub listing: bool,
}

impl Selection {
    /// Reads the filter from this process's arguments the way criterion does: the
    /// first positional argument is a regular expression (an exact name with
    /// `--exact`); `--ignored` runs nothing, `--list` only names them.
    pub fn from_args() -> Selection {
        let mut positional = None;
        let (mut exact, mut none, mut listing) = (false, false, false);
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            if VALUE_OPTIONS.contains(&a.as_str()) {
                args.next();
            } else if a == "--exact" {
                exact = true;
            } else if a == "--ignored" {
                none = true;
            } else if a == "--list" {
                listing = true;
            } else if !a.starts_with('-') && positional.is_none() {
                positional = Some(a);
            }
        }
        let filter = match positional {
            _ if none => Filter::None,
            None => Filter::All,
            Some(f) if exact => Filter::Exact(f),
            // Criterion refuses a bad expression itself; check everything meanwhile.
            Some(f) => regex::Regex::new(&f).map_or(Filter::All, Filter::Regex),
        };
        Selection { filter, listing }
    }

    /// Whether criterion will run any of the benchmarks `ids`.
    pub fn any(&self, ids: &[String]) -> bool {
        ids.iter().any(|id| match &self.filter {
            Filter::All => true,
            Filter::None => false,
            Filter::Regex(r) => r.is_match(id),
            Filter::Exact(e) => id == e,
        })
    }
}

/// Every sightglass workload, or none (with a note) if they cannot be listed.
pub fn workloads() -> Vec<kiln_benches::Workload> {
    match kiln_benches::all_workloads(None) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("no sightglass workloads ({e}); set KILN_WORKLOADS to the sightglass folder");
            Vec::new()
        }
    }
}

/// Warm-up for the benches over sightglass programs.
pub const WARM_UP: Duration = Duration::from_secs(1);

//! `kiln profile report`: what a profile written by `kiln run --profile` says.

use crate::args::{ProfileAction, ProfileArgs};
use crate::Failure;

pub fn run(a: &ProfileArgs) -> Result<(), Failure> {
    match &a.action {
        ProfileAction::Report { file, top, folded } => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", file.display())))?;
            let profile = kiln::Profile::from_json(&text)
                .map_err(|e| Failure::Usage(format!("{}: {e}", file.display())))?;
            let out = if *folded {
                kiln_profiler::report::folded(&profile)
            } else {
                kiln_profiler::report::text(&profile, *top)
            };
            // A reader that stops early (`| head`) is not an error.
            use std::io::Write;
            let _ = std::io::stdout().write_all(out.as_bytes());
            Ok(())
        }
    }
}

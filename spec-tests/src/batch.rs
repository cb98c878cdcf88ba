//! Running many files on a few worker threads, reporting in input order.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use crate::{run_file, FileReport, RunOptions};

/// Runs `files` with up to `jobs` files at a time and calls `on_report` for each report in
/// the order of `files`, as soon as it and all earlier ones are done.
pub fn run_files(
    files: &[PathBuf],
    opts: &RunOptions,
    jobs: usize,
    mut on_report: impl FnMut(&FileReport),
) {
    let jobs = jobs.clamp(1, files.len().max(1));
    let next = AtomicUsize::new(0);
    let (sender, receiver) = mpsc::channel::<(usize, FileReport)>();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let sender = sender.clone();
            let next = &next;
            scope.spawn(move || loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(path) = files.get(index) else {
                    break;
                };
                // `run_file` runs the file on its own thread and never panics.
                if sender.send((index, run_file(path, opts))).is_err() {
                    break;
                }
            });
        }
        drop(sender);

        let mut pending = BTreeMap::new();
        let mut next_to_print = 0;
        for (index, report) in receiver {
            pending.insert(index, report);
            while let Some(report) = pending.remove(&next_to_print) {
                on_report(&report);
                next_to_print += 1;
            }
        }
    });
}

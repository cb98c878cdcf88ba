//! Linux `perf` map files: `/tmp/perf-<pid>.map` lists generated code as
//! `START SIZE NAME` lines (hexadecimal), which `perf report` uses to name samples in
//! code it cannot otherwise attribute.

use crate::vm::code_memory::CodeMemory;
use std::io::Write;
use std::sync::Mutex;

static FILE: Mutex<()> = Mutex::new(());

/// Appends the functions of `code` to this process's perf map.
pub(crate) fn record(code: &CodeMemory) -> std::io::Result<()> {
    let mut text = String::new();
    for (start, size, name) in code.symbols() {
        text.push_str(&format!("{start:x} {size:x} {name}\n"));
    }
    let _guard = FILE.lock().unwrap_or_else(|e| e.into_inner());
    let path = format!("/tmp/perf-{}.map", std::process::id());
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(text.as_bytes())
}

//! `kiln settings`: the target, and every Cranelift setting generated code is compiled
//! with, CPU features included (`has_avx2`, ...), as a table or as JSON.

use crate::args::SettingsArgs;
use crate::Failure;
use kiln::{Config, CpuFeatures, Engine};
use std::io::Write;

pub fn print(a: &SettingsArgs) -> Result<(), Failure> {
    let mut config = Config::new();
    if a.baseline {
        config.cpu_features(CpuFeatures::Baseline);
    }
    let (triple, settings) = Engine::new(&config)?.settings();
    // A closed pipe (`kiln settings | head`) is not an error worth a panic.
    let mut out = std::io::stdout().lock();
    if a.json {
        let fields: Vec<String> = settings
            .iter()
            .map(|(k, v)| format!("    {}: {}", json_str(k), json_str(v)))
            .collect();
        let _ = writeln!(
            out,
            "{{\n  \"target\": {},\n  \"settings\": {{\n{}\n  }}\n}}",
            json_str(&triple),
            fields.join(",\n")
        );
    } else {
        let _ = writeln!(out, "target: {triple}");
        let width = settings.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (k, v) in &settings {
            let _ = writeln!(out, "  {k:<width$}  {v}");
        }
    }
    Ok(())
}

/// `s` as a JSON string (the settings are ASCII names and values; escape anyway).
fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

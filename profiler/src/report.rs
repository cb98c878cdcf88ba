//! What a profile says, for people and for flame-graph tools.

use crate::profile::{FunctionProfile, Profile};
use std::fmt::Write;

fn heat(f: &FunctionProfile) -> u64 {
    f.calls.saturating_add(f.loops)
}

fn name(f: &FunctionProfile) -> String {
    f.name
        .clone()
        .unwrap_or_else(|| format!("<func {}>", f.index))
}

fn micros(us: Option<u64>) -> String {
    us.map_or_else(
        || "-".to_string(),
        |us| format!("{:.3} ms", us as f64 / 1000.0),
    )
}

/// The `top` hottest functions (calls plus loop iterations), then the tier-up timeline.
pub fn text(profile: &Profile, top: usize) -> String {
    let mut out = String::new();
    let compiled = profile
        .functions
        .iter()
        .filter(|f| f.tier != crate::Tier::None)
        .count();
    let optimized = profile
        .functions
        .iter()
        .filter(|f| f.tier == crate::Tier::Optimized)
        .count();
    let _ = writeln!(
        out,
        "module {} ({}), strategy {}: {} of {} functions compiled, {} optimized",
        profile.module_name.as_deref().unwrap_or("<unnamed>"),
        &profile.module_hash[..profile.module_hash.len().min(12)],
        profile.strategy,
        compiled,
        profile.defined_functions,
        optimized
    );
    let mut hot: Vec<&FunctionProfile> = profile.functions.iter().collect();
    hot.sort_by_key(|f| std::cmp::Reverse(heat(f)));
    let _ = writeln!(out, "\nhottest functions:");
    let _ = writeln!(
        out,
        "{:>12} {:>12} {:>10} {:>11} {:>11}  function",
        "calls", "loops", "tier", "baseline", "optimized"
    );
    for f in hot.iter().take(top) {
        let _ = writeln!(
            out,
            "{:>12} {:>12} {:>10} {:>11} {:>11}  {}",
            f.calls,
            f.loops,
            f.tier.to_string(),
            micros(f.baseline_compile_us),
            micros(f.optimized_compile_us),
            name(f)
        );
    }
    let _ = writeln!(
        out,
        "\ntier-up timeline ({} compilations):",
        profile.timeline.len()
    );
    let by_index = |i: u32| {
        profile
            .functions
            .binary_search_by_key(&i, |f| f.index)
            .ok()
            .map(|k| name(&profile.functions[k]))
            .unwrap_or_else(|| format!("<func {i}>"))
    };
    for e in &profile.timeline {
        let tier = match e.osr_loop {
            Some(l) => format!("{} (entered at loop {l})", e.tier),
            None => e.tier.to_string(),
        };
        let _ = writeln!(
            out,
            "{:>10.3} ms  {:>9.3} ms  {}  {}",
            e.at_us as f64 / 1000.0,
            e.compile_us as f64 / 1000.0,
            by_index(e.function),
            tier
        );
    }
    out
}

/// Folded lines (`module;function count`) that flame-graph tools read: one frame deep,
/// weighted by calls plus loop iterations (the counters see no stacks).
pub fn folded(profile: &Profile) -> String {
    let module = profile.module_name.as_deref().unwrap_or("wasm");
    let mut out = String::new();
    for f in &profile.functions {
        if heat(f) > 0 {
            let _ = writeln!(
                out,
                "{module};{} {}",
                name(f).replace([' ', ';'], "_"),
                heat(f)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::tests::sample;

    #[test]
    fn the_report_lists_the_hottest_first_and_the_timeline() {
        let r = text(&sample(), 10);
        let hot = r.find("hot").expect("hot listed");
        let cold = r.find("<func 2>").expect("unnamed listed");
        assert!(hot < cold, "{r}");
        assert!(r.contains("2 of 3 functions compiled, 1 optimized"), "{r}");
        assert!(r.contains("tier-up timeline (2 compilations)"), "{r}");
        assert!(r.contains("optimized (entered at loop 0)"), "{r}");
    }

    #[test]
    fn folded_output_weighs_by_counts() {
        assert_eq!(folded(&sample()), "m;hot 5070\nm;<func_2> 1\n");
    }
}

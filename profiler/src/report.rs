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

/// The `top` hottest functions (calls plus loop iterations), their indirect call sites
/// and inlining, then the tier-up timeline.
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
    let by_index = |i: u32| {
        profile
            .functions
            .binary_search_by_key(&i, |f| f.index)
            .ok()
            .map(|k| name(&profile.functions[k]))
            .unwrap_or_else(|| format!("<func {i}>"))
    };
    call_sites(&mut out, &hot[..top.min(hot.len())], &by_index);
    let _ = writeln!(
        out,
        "\ntier-up timeline ({} compilations):",
        profile.timeline.len()
    );
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

/// The feedback of the indirect call sites of `functions` (in that order), what
/// optimized code speculates on, what it inlined, and how one-sided their branches
/// were.
fn call_sites(out: &mut String, functions: &[&FunctionProfile], by_index: &dyn Fn(u32) -> String) {
    let with_sites: Vec<&&FunctionProfile> = functions
        .iter()
        .filter(|f| !f.call_sites.is_empty() || !f.inlined.is_empty() || !f.branches.is_empty())
        .collect();
    if with_sites.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\nindirect call sites, inlining and branches (of the hottest functions above):"
    );
    for f in with_sites {
        let _ = writeln!(out, "  {}", name(f));
        for site in &f.call_sites {
            let total: u64 = site.targets.iter().map(|t| t.1).sum::<u64>() + site.other;
            let mut seen: Vec<String> = site
                .targets
                .iter()
                .map(|&(t, n)| {
                    let share = if total == 0 {
                        0.0
                    } else {
                        n as f64 * 100.0 / total as f64
                    };
                    format!("{} {n} ({share:.1} %)", by_index(t))
                })
                .collect();
            if site.other > 0 {
                seen.push(format!("others {}", site.other));
            }
            let shape = match (site.megamorphic, site.targets.len()) {
                (true, _) => "megamorphic",
                (false, 0 | 1) => "monomorphic",
                _ => "polymorphic",
            };
            let decision = match site.speculated {
                Some(t) => format!("speculates on {}", by_index(t)),
                None => "no speculation".to_string(),
            };
            let _ = writeln!(
                out,
                "    call_indirect @{:#x}: {shape}, {}; {decision}",
                site.offset,
                if seen.is_empty() {
                    "no calls".to_string()
                } else {
                    seen.join(", ")
                }
            );
        }
        if !f.inlined.is_empty() {
            let names: Vec<String> = f.inlined.iter().map(|&i| by_index(i)).collect();
            let _ = writeln!(out, "    inlined: {}", names.join(", "));
        }
        if !f.branches.is_empty() {
            let one_sided = f
                .branches
                .iter()
                .filter(|b| b.taken == 0 || b.not_taken == 0)
                .count();
            let cold = f.branches.iter().filter(|b| b.cold.is_some()).count();
            let _ = writeln!(
                out,
                "    branches: {} reached, {one_sided} went one way only, {cold} laid out with a \
                 cold side",
                f.branches.len()
            );
        }
    }
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
    fn the_report_shows_call_site_feedback_and_decisions() {
        let mut p = sample();
        p.functions[0].call_sites = vec![crate::CallSite {
            offset: 0x40,
            targets: vec![(2, 90), (0, 10)],
            megamorphic: false,
            other: 0,
            speculated: Some(2),
        }];
        p.functions[0].inlined = vec![2];
        let branch = |offset, taken, not_taken, cold| crate::Branch {
            offset,
            taken,
            not_taken,
            cold,
        };
        p.functions[0].branches = vec![
            branch(0x50, 0, 700, Some(crate::ColdSide::Taken)),
            branch(0x58, 300, 400, None),
            branch(0x60, 9, 0, None),
        ];
        let r = text(&p, 10);
        assert!(
            r.contains("call_indirect @0x40: polymorphic, <func 2> 90 (90.0 %), <func 0> 10 (10.0 %); speculates on <func 2>"),
            "{r}"
        );
        assert!(r.contains("inlined: <func 2>"), "{r}");
        assert!(
            r.contains("branches: 3 reached, 2 went one way only, 1 laid out with a cold side"),
            "{r}"
        );
    }

    #[test]
    fn folded_output_weighs_by_counts() {
        assert_eq!(folded(&sample()), "m;hot 5070\nm;<func_2> 1\n");
    }
}

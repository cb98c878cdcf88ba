//! The runtime's layering, read from its sources:
//! - `vm` (the unsafe floor) imports nothing from the API modules above it;
//! - the only import cycle among the API modules is the one ARCHITECTURE.md lists.
//!
//! The check reads `use`/path syntax as text: comments and string literals are removed
//! first, `crate::{a, b::c}` groups are expanded, and `super::` chains are followed
//! through inline modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules `vm` may name with `crate::` besides itself: none.
const VM_MAY_IMPORT: &[&str] = &["vm"];

/// The strongly connected components of the API modules' import graph, each sorted.
/// Each is explained in ARCHITECTURE.md ("Cycles among the API modules").
const EXPECTED_CYCLES: &[&[&str]] = &[
    &["artifact", "cache", "engine", "module"],
    &["externals", "func", "instance", "typed", "values"],
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("source directory")
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// `text` without its unit tests: a `#[cfg(test)] mod` ends a file, by convention, and
/// tests may use the whole API without making the modules they test depend on it.
fn without_unit_tests(text: &str) -> &str {
    let mut from = 0;
    while let Some(i) = text[from..].find("#[cfg(test)]") {
        let at = from + i;
        let rest = text[at + "#[cfg(test)]".len()..].trim_start();
        if rest.starts_with("mod ") {
            return &text[..at];
        }
        from = at + 1;
    }
    text
}

/// The source with comments, string and char literals replaced by spaces.
fn strip(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.extend_from_slice(b"\"\"");
        } else if b[i] == b'\'' && i + 2 < b.len() && (b[i + 2] == b'\'' || b[i + 1] == b'\\') {
            // A char literal ('x' or '\n'); lifetimes have no closing quote.
            i += 1;
            while i < b.len() && b[i] != b'\'' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push(b' ');
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("stripping keeps UTF-8")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn ident_at(s: &str, at: usize) -> &str {
    let end = s[at..].find(|c| !is_ident(c)).map_or(s.len(), |n| at + n);
    &s[at..end]
}

/// Every first segment named after `crate::` (groups expanded).
fn crate_paths(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(n) = s[from..].find("crate::") {
        let at = from + n;
        from = at + "crate::".len();
        if at > 0 && (is_ident(s[..at].chars().last().unwrap_or(' ')) || s[..at].ends_with('$')) {
            continue; // `$crate::` or part of a longer identifier
        }
        let rest = s[from..].trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level items of the group: split at commas outside nested braces.
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push(ident_at(item.trim(), 0).to_string());
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            if !item.trim().is_empty() {
                out.push(ident_at(item.trim(), 0).to_string());
            }
        } else {
            out.push(ident_at(rest, 0).to_string());
        }
    }
    out.retain(|p| !p.is_empty() && p != "self");
    out
}

/// `super::` chains that climb out of the file's own module path into the crate root
/// or beyond: `file_depth` is how deep the file's module is (`vm/mod.rs` is 1,
/// `vm/x.rs` is 2). Inline `mod name {` blocks add depth where they are open.
fn super_escapes(s: &str, file_depth: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut braces = 0usize;
    let mut open_mods: Vec<usize> = Vec::new();
    let mut pending_mod = false;
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i] as char;
        if c == '{' {
            braces += 1;
            if pending_mod {
                open_mods.push(braces);
                pending_mod = false;
            }
        } else if c == '}' {
            if open_mods.last() == Some(&braces) {
                open_mods.pop();
            }
            braces = braces.saturating_sub(1);
        } else if c == ';' {
            pending_mod = false;
        } else if is_ident(c) && (i == 0 || !is_ident(bytes[i - 1] as char)) {
            let word = ident_at(s, i);
            if word == "mod" {
                pending_mod = true;
            } else if word == "super" && s[i..].starts_with("super::") {
                let mut ups = 0;
                let mut j = i;
                while s[j..].starts_with("super::") {
                    ups += 1;
                    j += "super::".len();
                }
                let depth = file_depth + open_mods.len();
                if ups >= depth {
                    out.push(format!("{}{}", "super::".repeat(ups), ident_at(s, j)));
                }
                i = j;
                continue;
            }
            i += word.len();
            continue;
        }
        i += 1;
    }
    out
}

#[test]
fn vm_imports_nothing_from_the_api_layer() {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root.join("vm"), &mut files);
    assert!(files.len() > 10, "found the vm sources");
    let mut offenders = Vec::new();
    for f in &files {
        let text = strip(&std::fs::read_to_string(f).expect("readable source"));
        let rel = f
            .strip_prefix(&root)
            .expect("under src")
            .display()
            .to_string();
        for p in crate_paths(&text) {
            if !VM_MAY_IMPORT.contains(&p.as_str()) {
                offenders.push(format!("{rel}: crate::{p}"));
            }
        }
        let depth = if rel.ends_with("mod.rs") { 1 } else { 2 };
        for p in super_escapes(&text, depth) {
            offenders.push(format!("{rel}: {p}"));
        }
    }
    assert!(
        offenders.is_empty(),
        "vm must not import from the API layer:\n{}",
        offenders.join("\n")
    );
}

/// Names `lib.rs` re-exports at the crate root, mapped to their modules
/// (`crate::ValType` means `crate::types`).
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for line in lib.lines() {
        let Some(rest) = line.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, items)) = rest.split_once("::") else {
            continue;
        };
        let items = items
            .trim_end_matches(';')
            .trim_matches(|c| c == '{' || c == '}');
        for item in items.split(',') {
            let name = item.split(" as ").last().unwrap_or(item).trim();
            if !name.is_empty() {
                map.insert(name.to_string(), module.to_string());
            }
        }
    }
    map
}

/// Tarjan's strongly connected components with more than one node, each sorted.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'g>(st: &mut State<'g>, v: &'g str) {
        let n = st.index.len();
        st.index.insert(v, n);
        st.low.insert(v, n);
        st.stack.push(v);
        st.on_stack.insert(v);
        for w in st.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !st.index.contains_key(w) {
                visit(st, w);
                let lw = st.low[w];
                let lv = st.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if st.on_stack.contains(w) {
                let iw = st.index[w];
                let lv = st.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if st.low[v] == st.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = st.stack.pop() {
                st.on_stack.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                st.out.push(comp);
            }
        }
    }
    let mut st = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !st.index.contains_key(v.as_str()) {
            visit(&mut st, v);
        }
    }
    st.out.sort();
    st.out
}

#[test]
fn api_module_cycles_are_the_documented_ones() {
    let root = src();
    let lib = strip(&std::fs::read_to_string(root.join("lib.rs")).expect("lib.rs"));
    let reexports = root_reexports(&lib);
    let modules: BTreeSet<String> = std::fs::read_dir(&root)
        .expect("src")
        .filter_map(|e| {
            let p = e.expect("entry").path();
            let stem = p.file_stem()?.to_str()?.to_string();
            (stem != "lib" && stem != "vm").then_some(stem)
        })
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for m in &modules {
        let path = if root.join(format!("{m}.rs")).exists() {
            root.join(format!("{m}.rs"))
        } else {
            root.join(m).join("mod.rs")
        };
        let text = strip(&std::fs::read_to_string(&path).expect("module source"));
        let text = without_unit_tests(&text);
        let edges = graph.entry(m.clone()).or_default();
        for p in crate_paths(text) {
            let target = reexports.get(&p).cloned().unwrap_or(p);
            if modules.contains(&target) && &target != m {
                edges.insert(target);
            }
        }
    }
    let found = cycles(&graph);
    let expected: Vec<Vec<String>> = EXPECTED_CYCLES
        .iter()
        .map(|c| c.iter().map(|s| s.to_string()).collect())
        .collect();
    assert_eq!(
        found, expected,
        "the API modules' import cycles changed; remove the new one, or explain it in \
         ARCHITECTURE.md and list it here"
    );
}

#[test]
fn the_checks_see_what_they_should() {
    let s = strip(
        "use crate::{a, b::{c, d}, self}; // crate::e\n let x = \"crate::f\"; crate::g::h();",
    );
    assert_eq!(crate_paths(&s), ["a", "b", "g"]);
    assert_eq!(crate_paths("$crate::x"), Vec::<String>::new());
    let nested = "use super::a; mod t { use super::super::b; } use super::super::c;";
    assert_eq!(super_escapes(nested, 2), ["super::super::c"]);
    assert_eq!(super_escapes("use super::x;", 1), ["super::x"]);
    assert!(super_escapes("pub(super) fn f() {}", 1).is_empty());
}

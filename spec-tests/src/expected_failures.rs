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

/// The expected failures of the `wasm-3.0` directory, by the same rules: whole files
/// (`"*"`) whose checks need a Wasm 3.0 proposal Kiln does not implement yet, which
/// the reason names.
pub const WASM3_EXPECTED_FAILURES: &[(&str, &str, &str)] = &[
    ("array.wast", "*", "needs GC"),
    ("array_copy.wast", "*", "needs GC"),
    ("array_fill.wast", "*", "needs GC"),
    ("array_init_data.wast", "*", "needs GC"),
    ("array_init_elem.wast", "*", "needs GC"),
    ("array_new_data.wast", "*", "needs GC"),
    ("array_new_elem.wast", "*", "needs GC"),
    ("br_on_cast.wast", "*", "needs GC"),
    ("br_on_cast_fail.wast", "*", "needs GC"),
    ("data.wast", "*", "needs GC"),
    ("elem.wast", "*", "needs GC"),
    ("extern.wast", "*", "needs GC"),
    ("global.wast", "*", "needs GC"),
    ("i31.wast", "*", "needs GC"),
    ("imports.wast", "*", "needs exception handling"),
    (
        "instance.wast",
        "*",
        "needs several Wasm 3.0 proposals together",
    ),
    ("ref_cast.wast", "*", "needs GC"),
    ("ref_eq.wast", "*", "needs GC"),
    (
        "ref_null.wast",
        "*",
        "needs several Wasm 3.0 proposals together",
    ),
    ("ref_test.wast", "*", "needs GC"),
    ("struct.wast", "*", "needs GC"),
    ("table_init.wast", "*", "needs GC"),
    ("table_init64.wast", "*", "needs GC"),
    (
        "tag.wast",
        "*",
        "needs exception handling, several Wasm 3.0 proposals together",
    ),
    ("throw.wast", "*", "needs exception handling"),
    ("throw_ref.wast", "*", "needs exception handling"),
    (
        "try_table.wast",
        "*",
        "needs exception handling, several Wasm 3.0 proposals together",
    ),
    ("type-canon.wast", "*", "needs GC"),
    ("type-equivalence.wast", "*", "needs GC"),
    ("type-rec.wast", "*", "needs GC"),
    ("type-subtyping.wast", "*", "needs GC"),
];

//! `plugin.toml`: what a language plugin is and how the service runs it.
//!
//! ```toml
//! name = "python"                 # [a-z0-9-], the registry's directory
//! version = "3.12.0"
//! language = "python"             # the name requests use
//! aliases = ["py", "python3"]
//! description = "CPython 3.12"
//!
//! [module]
//! file = "python.wasm"
//! sha256 = "e5dc…"                # of the file; the signature covers it
//!
//! [entry]                         # how code reaches the interpreter (`Entry`)
//! kind = "command"
//! argv = ["python", "{file}"]     # `{code}`: the program's text; `{file}`: its path
//! file = "main.py"                # the program's name in the job's directory
//!
//! [limits]                        # defaults for this language (within the server's maxima)
//! timeout_ms = 10000
//! memory_limit_mb = 256
//! ```
//!
//! Every field is checked when the manifest is read: unknown fields, names outside
//! their alphabet, digests that are not 64 hex digits, and file names that would leave
//! the plugin's directory are refused with the field named.

use crate::hex::parse_hex32;
use crate::scratch::check_name;
use serde::Deserialize;

/// A manifest, checked.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The plugin's name: its directory in the registry.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The language requests name.
    pub language: String,
    /// Other names for the language.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// What `GET /v1/languages` says of it.
    #[serde(default)]
    pub description: String,
    /// The interpreter.
    pub module: FileRef,
    /// Other files the plugin holds (checked like the module).
    #[serde(default)]
    pub files: Vec<FileRef>,
    /// How code reaches the interpreter.
    pub entry: Entry,
    /// What the module may import beyond WASI preview 1.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// The language's default limits.
    #[serde(default)]
    pub limits: Limits,
}

/// A file of the plugin and its digest.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRef {
    /// Its path in the plugin, relative.
    #[serde(alias = "path")]
    pub file: String,
    /// Its SHA-256, in hex.
    pub sha256: String,
}

/// How the service hands a program to the interpreter. One of a few kinds the service
/// implements generically; no language has code of its own in the service.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Entry {
    /// A WASI command: `_start` with `argv` (the request's arguments appended).
    Command {
        /// `argv`, with `{code}` and `{file}` replaced.
        argv: Vec<String>,
        /// The program's file name in the job's directory (`{file}` is `/` + it).
        #[serde(default)]
        file: Option<String>,
    },
    /// A reactor taking a C `argv`: the `init` exports are called, then `call(argc,
    /// argv)` with the strings placed by `alloc(size)`; a non-zero result is a failure
    /// (exit code 1); the `finish` exports are called last.
    ArgvReactor {
        /// Exports `() -> ()` to call first (e.g. `_initialize`).
        #[serde(default)]
        init: Vec<String>,
        /// The export `(i32, i32) -> i32` taking `argc, argv`.
        call: String,
        /// The export `(i32) -> i32` that allocates guest memory.
        alloc: String,
        /// `argv`, with `{code}` and `{file}` replaced (request arguments appended).
        argv: Vec<String>,
        /// The program's file name, as for a command.
        #[serde(default)]
        file: Option<String>,
        /// Exports `() -> ()` to call after (e.g. the interpreter's teardown).
        #[serde(default)]
        finish: Vec<String>,
        /// Run `init` once at the server's start and start every job from the
        /// resulting state (`preinit.rs`), instead of in every job.
        #[serde(default)]
        preinitialize: bool,
    },
    /// A reactor with canonical-ABI exports (wit-bindgen's `list<string>` and `string`
    /// lowering, strings placed by `realloc`): the `init` exports, then `init_args`
    /// with `args` (the request's arguments appended), then the `then` exports, then
    /// `eval` with the text `code` (`{file}` replaced); `eval` returns its return area,
    /// whose second word is a status (non-zero: a failure, exit code 1). The module's
    /// `canonical_abi` resource imports (`resource_new_*`, `resource_get_*`,
    /// `resource_drop_*`) are given a handle table of the job's.
    CanonicalEval {
        /// Exports `() -> ()` to call first (e.g. `_initialize`).
        #[serde(default)]
        init: Vec<String>,
        /// The export `(i32, i32) -> ()` taking a `list<string>`.
        init_args: String,
        /// The arguments `init_args` gets, with `{file}` replaced.
        #[serde(default)]
        args: Vec<String>,
        /// Exports `() -> ()` to call after `init_args`.
        #[serde(default)]
        then: Vec<String>,
        /// The export `(i32, i32) -> i32` taking a `string`.
        eval: String,
        /// The export `(i32, i32, i32, i32) -> i32` that allocates (`cabi_realloc`).
        realloc: String,
        /// The text `eval` gets, with `{file}` replaced by the program's path and
        /// `{args}` by the request's arguments as a JSON array of strings (never the
        /// program itself: it is read from the file).
        code: String,
        /// The program's file name in the job's directory.
        file: String,
        /// Run `init`, `init_args` and `then` once at the server's start and start every
        /// job from the resulting state (`preinit.rs`), instead of in every job.
        #[serde(default)]
        preinitialize: bool,
    },
}

impl Entry {
    /// The argument template.
    pub fn argv(&self) -> &[String] {
        match self {
            Entry::Command { argv, .. } | Entry::ArgvReactor { argv, .. } => argv,
            Entry::CanonicalEval { args, .. } => args,
        }
    }

    /// Whether jobs start from a pre-initialized state.
    pub fn preinitialize(&self) -> bool {
        match self {
            Entry::Command { .. } => false,
            Entry::ArgvReactor { preinitialize, .. }
            | Entry::CanonicalEval { preinitialize, .. } => *preinitialize,
        }
    }

    /// The program's file name, if the program is passed as a file.
    pub fn file(&self) -> Option<&str> {
        match self {
            Entry::Command { file, .. } | Entry::ArgvReactor { file, .. } => file.as_deref(),
            Entry::CanonicalEval { file, .. } => Some(file),
        }
    }
}

/// What a plugin's module may import beyond `wasi_snapshot_preview1`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// Import modules whose functions are defined as traps ("unsupported"): a module
    /// that imports a host interface the service does not offer can still run as long
    /// as it never calls them.
    #[serde(default)]
    pub refused_imports: Vec<String>,
}

/// A language's default limits (each optional).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Wall time.
    pub timeout_ms: Option<u64>,
    /// Linear memory.
    pub memory_limit_mb: Option<u64>,
    /// Fuel.
    pub fuel: Option<u64>,
}

/// A manifest that cannot be used, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError(pub String);

impl std::fmt::Display for ManifestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "plugin.toml: {}", self.0)
    }
}

impl std::error::Error for ManifestError {}

/// Whether `s` is 1 to 64 characters of `[a-z0-9]` and `extra`, starting with a
/// letter or digit.
fn plain(s: &str, extra: &[char]) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || extra.contains(&c))
}

impl Manifest {
    /// Reads and checks the manifest text.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let m: Manifest = toml::from_str(text).map_err(|e| ManifestError(e.to_string()))?;
        m.check()?;
        Ok(m)
    }

    fn check(&self) -> Result<(), ManifestError> {
        let bad = |m: String| Err(ManifestError(m));
        if !plain(&self.name, &['-']) {
            return bad(format!("name `{}`: 1 to 64 of a-z, 0-9 and `-`", self.name));
        }
        if !plain(&self.version.to_ascii_lowercase(), &['.', '-', '+']) {
            return bad(format!(
                "version `{}`: 1 to 64 of letters, digits, `.`, `-` and `+`",
                self.version
            ));
        }
        for l in std::iter::once(&self.language).chain(&self.aliases) {
            if !plain(l, &['-', '+', '.', '_']) {
                return bad(format!(
                    "language `{l}`: 1 to 64 of a-z, 0-9, `-`, `+`, `.` and `_`"
                ));
            }
            if matches!(l.as_str(), "wasm" | "wat") {
                return bad(format!("language `{l}` is built into the service"));
            }
        }
        for f in std::iter::once(&self.module).chain(&self.files) {
            check_name(&f.file).map_err(|e| ManifestError(format!("file: {e}")))?;
            if parse_hex32(&f.sha256).is_none() {
                return bad(format!(
                    "`{}`: sha256 must be 64 hexadecimal digits",
                    f.file
                ));
            }
            if f.file == "plugin.toml" || f.file == SIGNATURE {
                return bad(format!(
                    "`{}` is the manifest's or the signature's name",
                    f.file
                ));
            }
        }
        if let Some(file) = self.entry.file() {
            check_name(file).map_err(|e| ManifestError(format!("entry.file: {e}")))?;
        }
        if let Entry::CanonicalEval { code, .. } = &self.entry {
            if code.contains("{code}") {
                return bad(
                    "entry.code takes `{file}`, never `{code}`: the program is read from its file"
                        .into(),
                );
            }
        }
        if self.entry.argv().is_empty() {
            return bad("entry.argv is empty: it needs at least the program's name".into());
        }
        if self.entry.argv().iter().any(|a| a.contains("{file}")) && self.entry.file().is_none() {
            return bad(
                "entry.argv uses `{file}`, so entry.file must name the program's file".into(),
            );
        }
        for m in &self.capabilities.refused_imports {
            if m == "wasi_snapshot_preview1" {
                return bad("capabilities.refused_imports cannot refuse WASI".into());
            }
        }
        Ok(())
    }

    /// Every file of the plugin: the module first.
    pub fn all_files(&self) -> impl Iterator<Item = &FileRef> {
        std::iter::once(&self.module).chain(&self.files)
    }
}

/// The name of a plugin's signature file, beside `plugin.toml`.
pub const SIGNATURE: &str = "plugin.sig";

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(extra: &str) -> String {
        format!(
            "name = \"demo\"\nversion = \"1.0\"\nlanguage = \"demo\"\n\
             [module]\nfile = \"demo.wasm\"\nsha256 = \"{}\"\n{extra}",
            "ab".repeat(32)
        )
    }

    #[test]
    fn a_manifest_is_checked_field_by_field() {
        let ok = Manifest::parse(&manifest(
            "[entry]\nkind = \"command\"\nargv = [\"demo\", \"{file}\"]\nfile = \"main.demo\"\n",
        ))
        .expect("valid");
        assert_eq!(ok.entry.file(), Some("main.demo"));
        for (extra, want) in [
            ("[entry]\nkind = \"command\"\nargv = [\"d\", \"{file}\"]\n", "entry.file must name"),
            ("[entry]\nkind = \"command\"\nargv = []\n", "argv is empty"),
            ("[entry]\nkind = \"shell\"\nargv = [\"d\"]\n", "unknown variant"),
            ("[entry]\nkind = \"command\"\nargv = [\"d\"]\nfile = \"../x\"\n", "`..`"),
            ("[entry]\nkind = \"command\"\nargv = [\"d\"]\n[[files]]\nfile = \"/etc/passwd\"\nsha256 = \"00\"\n", "absolute"),
            ("[entry]\nkind = \"command\"\nargv = [\"d\"]\ncolour = 1\n", "unknown field"),
        ] {
            let e = Manifest::parse(&manifest(extra)).expect_err(extra);
            assert!(e.0.contains(want), "{extra}: {e}");
        }
        let e = Manifest::parse(&manifest("").replace("\"demo\"\nversion", "\"Demo!\"\nversion"))
            .expect_err("a bad name");
        assert!(e.0.contains("name"), "{e}");
        let e = Manifest::parse(
            &manifest("[entry]\nkind = \"command\"\nargv = [\"d\"]\n")
                .replace("language = \"demo\"", "language = \"wat\""),
        )
        .expect_err("a built-in language");
        assert!(e.0.contains("built into"), "{e}");
    }
}

//! Language plugins: an interpreter compiled to Wasm, with a manifest that says how
//! code reaches it. A plugin is a directory (or a `.tar.gz` of one) holding
//! `plugin.toml` (`manifest.rs`), the module and any files, and `plugin.sig`
//! (`sign.rs`). The registry (`registry.rs`) installs plugins into
//! `$KILN_HOME/plugins/NAME/VERSION` after checking the manifest, every digest, the
//! signature against the trusted keys, and the module (it validates, imports only WASI
//! preview 1 and the interfaces it declares refused, and exports what its entry kind
//! calls). The service verifies them again when it starts, and runs them through the
//! generic entry kinds of `manifest::Entry`.

pub mod manifest;
pub mod preinit;
pub mod registry;
pub mod sign;

pub use manifest::{Entry, Manifest};
pub use registry::{Installed, Registry, Trust};
pub use sign::PublisherKey;

/// A plugin that cannot be installed, loaded or used, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginError(pub String);

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PluginError {}

impl PluginError {
    /// `what: e`.
    pub fn context(what: impl std::fmt::Display, e: impl std::fmt::Display) -> PluginError {
        PluginError(format!("{what}: {e}"))
    }
}

/// `$KILN_HOME`, else `~/.kiln`.
pub fn kiln_home() -> Option<std::path::PathBuf> {
    match std::env::var_os("KILN_HOME") {
        Some(h) if !h.is_empty() => Some(h.into()),
        _ => std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| std::path::PathBuf::from(h).join(".kiln")),
    }
}

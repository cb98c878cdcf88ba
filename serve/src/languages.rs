//! The languages a server runs: the built-in `wasm` and `wat`, and the plugins it
//! loaded at start (each verified, its module compiled once and kept).

use crate::api::Language;
use crate::plugin::{Installed, PluginError};
use std::sync::Arc;

/// A loaded plugin: what was verified, and its compiled module.
pub struct Plugin {
    /// The verified plugin.
    pub installed: Installed,
    /// Its module, compiled by the runner's linker (instantiated by every job): the
    /// pre-initialized one if its entry asks for it.
    pub module: kiln::Module,
    /// Whether `module` starts initialized (its entry's initialization is skipped).
    pub preinitialized: bool,
}

/// A language of a request.
#[derive(Clone)]
pub enum Lang {
    /// `wasm` or `wat`.
    Builtin(Language),
    /// A plugin's language.
    Plugin(Arc<Plugin>),
}

impl Lang {
    /// The language's name.
    pub fn name(&self) -> &str {
        match self {
            Lang::Builtin(l) => l.name(),
            Lang::Plugin(p) => &p.installed.manifest.language,
        }
    }
}

/// Every language.
#[derive(Default)]
pub struct Languages {
    plugins: Vec<Arc<Plugin>>,
}

impl Languages {
    /// The built-in languages and `plugins`; refuses two plugins claiming one name.
    pub fn new(plugins: Vec<Plugin>) -> Result<Languages, PluginError> {
        let mut taken: Vec<(String, String)> = Language::ALL
            .iter()
            .map(|l| (l.name().to_string(), "the service".to_string()))
            .collect();
        for p in &plugins {
            let m = &p.installed.manifest;
            for name in std::iter::once(&m.language).chain(&m.aliases) {
                if let Some((_, owner)) = taken.iter().find(|(n, _)| n == name) {
                    return Err(PluginError(format!(
                        "plugins `{owner}` and `{}` both name the language `{name}`",
                        m.name
                    )));
                }
                taken.push((name.clone(), m.name.clone()));
            }
        }
        Ok(Languages {
            plugins: plugins.into_iter().map(Arc::new).collect(),
        })
    }

    /// The language named `name` (or aliased so).
    pub fn find(&self, name: &str) -> Option<Lang> {
        if let Some(l) = Language::from_name(name) {
            return Some(Lang::Builtin(l));
        }
        self.plugins
            .iter()
            .find(|p| {
                let m = &p.installed.manifest;
                m.language == name || m.aliases.iter().any(|a| a == name)
            })
            .map(|p| Lang::Plugin(p.clone()))
    }

    /// Every language's name.
    pub fn names(&self) -> Vec<&str> {
        let builtin = Language::ALL.iter().map(|l| l.name());
        let plugins = self
            .plugins
            .iter()
            .map(|p| p.installed.manifest.language.as_str());
        builtin.chain(plugins).collect()
    }

    /// What `GET /v1/languages` lists.
    pub fn describe(&self) -> Vec<serde_json::Value> {
        let builtin = Language::ALL.iter().map(|l| {
            let d = l.describe();
            serde_json::json!({ "name": d.name, "description": d.description, "plugin": null })
        });
        let plugins = self.plugins.iter().map(|p| {
            let m = &p.installed.manifest;
            serde_json::json!({
                "name": m.language,
                "aliases": m.aliases,
                "version": m.version,
                "description": m.description,
                "plugin": m.name,
                "signed_by": p.installed.signer,
            })
        });
        builtin.chain(plugins).collect()
    }
}

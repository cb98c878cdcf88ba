//! `kiln plugin`: the language plugin registry of `kiln serve` (kiln-serve's
//! `plugin` module does the checking; this is its command line).

use crate::args::{PluginAction, PluginArgs};
use crate::Failure;
use kiln_serve::plugin::registry::check_module;
use kiln_serve::plugin::{kiln_home, PluginError, PublisherKey, Registry, Trust};
use kiln_serve::ServeConfig;
use std::path::PathBuf;

fn failed(e: PluginError) -> Failure {
    Failure::Usage(e.0)
}

/// The configuration `--config` names (or the defaults).
fn config(a: &PluginArgs) -> Result<ServeConfig, Failure> {
    match &a.config {
        Some(path) => ServeConfig::from_file(path).map_err(|e| Failure::Usage(e.0)),
        None => Ok(ServeConfig {
            no_auth: true,
            ..ServeConfig::default()
        }),
    }
}

/// The registry: `--registry`, the configuration's, or `$KILN_HOME/plugins`.
fn registry_dir(a: &PluginArgs, config: &ServeConfig) -> Result<PathBuf, Failure> {
    a.registry
        .clone()
        .or_else(|| config.plugins.directory.clone())
        .or_else(|| kiln_home().map(|h| h.join("plugins")))
        .ok_or_else(|| {
            Failure::Usage("no registry: set KILN_HOME or HOME, or pass --registry".into())
        })
}

/// The configuration's trusted keys and `--trusted-key`s.
fn trust(a: &PluginArgs, config: &ServeConfig) -> Result<Trust, Failure> {
    let keys: Vec<String> = config
        .plugins
        .trusted_keys
        .iter()
        .chain(&a.trusted_keys)
        .cloned()
        .collect();
    Trust::new(&keys, a.allow_unsigned || config.plugins.allow_unsigned).map_err(failed)
}

/// Runs `kiln plugin`.
pub fn run(a: &PluginArgs) -> Result<(), Failure> {
    let mut config = config(a)?;
    let registry = Registry::new(registry_dir(a, &config)?);
    match &a.action {
        PluginAction::Install { path, cache } => {
            let trust = trust(a, &config)?;
            match cache.as_deref() {
                None | Some("on") if config.cache_directory.is_some() => {}
                None | Some("on") => config.cache_directory = crate::cache::directory("on")?,
                Some(choice) => config.cache_directory = crate::cache::directory(choice)?,
            }
            let runner =
                kiln_serve::runner::Runner::new(&config).map_err(|e| Failure::Usage(e.0))?;
            let installed = registry
                .install(path, &trust, |p, bytes| {
                    let module = runner
                        .compile_plugin(bytes)
                        .map_err(|e| PluginError::context("the module does not compile", e))?;
                    check_module(&p.manifest, &module)?;
                    // Warm the code cache with the pre-initialized module too.
                    if p.manifest.entry.preinitialize() {
                        let image = runner.preinitialize(p, bytes)?;
                        runner
                            .compile_plugin(&image)
                            .map_err(|e| PluginError::context("the pre-initialized module", e))?;
                    }
                    Ok(())
                })
                .map_err(failed)?;
            let m = &installed.manifest;
            println!(
                "installed {} {} (language `{}`) into {}, {}",
                m.name,
                m.version,
                m.language,
                installed.dir.display(),
                installed
                    .signer
                    .as_deref()
                    .map_or("unsigned".to_string(), |k| format!("signed by {k}"))
            );
            Ok(())
        }
        PluginAction::List => {
            for (dir, checked) in registry.verify(&trust(a, &config)?).map_err(failed)? {
                match checked {
                    Ok(p) => {
                        let m = &p.manifest;
                        println!(
                            "{} {}\t{}\t{}",
                            m.name, m.version, m.language, m.description
                        );
                    }
                    Err(e) => println!("{}\tNOT VALID: {e}", dir.display()),
                }
            }
            Ok(())
        }
        PluginAction::Remove { spec } => {
            for d in registry.remove(spec).map_err(failed)? {
                println!("removed {}", d.display());
            }
            Ok(())
        }
        PluginAction::Verify => {
            let mut bad = 0;
            for (dir, checked) in registry.verify(&trust(a, &config)?).map_err(failed)? {
                match checked {
                    Ok(p) => println!(
                        "ok {} {} ({})",
                        p.manifest.name,
                        p.manifest.version,
                        p.signer.as_deref().unwrap_or("unsigned, allowed")
                    ),
                    Err(e) => {
                        bad += 1;
                        println!("FAILED {}: {e}", dir.display());
                    }
                }
            }
            match bad {
                0 => Ok(()),
                n => Err(Failure::Usage(format!("{n} plugin(s) failed verification"))),
            }
        }
        PluginAction::Sign { dir, key } => {
            let text = std::fs::read_to_string(key)
                .map_err(|e| Failure::Usage(format!("{}: {e}", key.display())))?;
            let key = PublisherKey::from_hex(&text).map_err(failed)?;
            let manifest = dir.join("plugin.toml");
            let bytes = std::fs::read(&manifest)
                .map_err(|e| Failure::Usage(format!("{}: {e}", manifest.display())))?;
            let sig = dir.join(kiln_serve::plugin::manifest::SIGNATURE);
            std::fs::write(&sig, key.sign(&bytes))
                .map_err(|e| Failure::Usage(format!("{}: {e}", sig.display())))?;
            println!("signed {} with {}", manifest.display(), key.public_hex());
            Ok(())
        }
        PluginAction::Keygen { out } => {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let key = PublisherKey::generate().map_err(failed)?;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(out)
                .map_err(|e| Failure::Usage(format!("{}: {e}", out.display())))?;
            writeln!(f, "{}", key.secret_hex())
                .map_err(|e| Failure::Usage(format!("{}: {e}", out.display())))?;
            println!("{}", key.public_hex());
            Ok(())
        }
    }
}

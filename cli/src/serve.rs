//! `kiln serve`: the code-execution service (kiln-serve) with its configuration from a
//! file and flags, until Ctrl-C or SIGTERM.

use crate::args::ServeArgs;
use crate::Failure;
use kiln_serve::ServeConfig;

/// Builds the configuration and serves until a signal.
pub fn run(a: &ServeArgs) -> Result<(), Failure> {
    let mut config = match &a.config {
        Some(path) => ServeConfig::from_file(path).map_err(|e| Failure::Usage(e.0))?,
        None => ServeConfig::default(),
    };
    if let Some(l) = a.listen {
        config.listen = l;
    }
    if let Some(w) = a.workers {
        config.workers = w;
    }
    if let Some(d) = a.queue_depth {
        config.queue_depth = d;
    }
    if let Some(db) = &a.database {
        config.database = db.clone();
    }
    match a.cache.as_deref() {
        None | Some("on") if config.cache_directory.is_some() => {}
        None | Some("on") => config.cache_directory = crate::cache::directory("on")?,
        Some(choice) => config.cache_directory = crate::cache::directory(choice)?,
    }
    config.no_auth |= a.no_auth;
    if config.plugins.directory.is_none() {
        config.plugins.directory = kiln_serve::plugin::kiln_home().map(|h| h.join("plugins"));
    }
    if let Some(dir) = &a.scratch_dir {
        config.scratch_directory = dir.clone();
    }
    if let Some(ms) = a.shutdown_grace_ms {
        config.shutdown_grace_ms = ms;
    }
    if let Some(path) = &a.audit_log {
        config.audit_log = Some(path.clone());
    }
    config.check().map_err(|e| Failure::Usage(e.0))?;
    install_logs(config.audit_log.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Usage(format!("cannot start the async runtime: {e}")))?;
    runtime
        .block_on(kiln_serve::serve(
            config,
            |addr| eprintln!("kiln serve: listening on http://{addr}"),
            stop_signal(),
        ))
        .map_err(|e| Failure::Usage(e.0))
}

/// The server's log on standard error (warnings and its start and stop), and the audit
/// log as JSON lines, to `audit` or standard error.
fn install_logs(audit: Option<&std::path::Path>) -> Result<(), Failure> {
    use std::io::IsTerminal;
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let log = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(
            Targets::new()
                .with_target("kiln_serve", LevelFilter::INFO)
                .with_target(kiln_serve::audit::TARGET, LevelFilter::OFF),
        );
    let registry = tracing_subscriber::registry().with(log);
    let installed = match audit {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| {
                    Failure::Usage(format!(
                        "cannot open the audit log `{}`: {e}",
                        path.display()
                    ))
                })?;
            registry
                .with(kiln_serve::audit::json_layer(std::sync::Mutex::new(file)))
                .try_init()
        }
        None => registry
            .with(kiln_serve::audit::json_layer(std::io::stderr))
            .try_init(),
    };
    installed.map_err(|e| Failure::Usage(format!("cannot install the logs: {e}")))
}

/// Ctrl-C or SIGTERM.
async fn stop_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

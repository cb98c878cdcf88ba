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
    if let Some(dir) = &a.cache_dir {
        config.cache_directory = Some(dir.clone());
    }
    config.no_auth |= a.no_auth;
    config.check().map_err(|e| Failure::Usage(e.0))?;
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

//! Running until told to stop: the admin API and the signal handlers on a small tokio
//! runtime, the engine on its own thread. SIGTERM or SIGINT asks the engine thread to stop
//! consuming, deliver, write the final checkpoint and return (exit 0); a second one exits
//! at once. SIGHUP reloads the rules.
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;

use tokio::signal::unix::{SignalKind, signal};

use super::admin::{self, AdminState};
use super::reload::{self, ReloadRequest};
use super::runner::EngineThread;

/// Exit status when a second signal cuts the graceful stop short.
const EXIT_NOW: i32 = 130;

pub fn serve(
    address: SocketAddr,
    admin: AdminState,
    engine: EngineThread,
    stop: Arc<AtomicBool>,
    reload_tx: SyncSender<ReloadRequest>,
) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("admin")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the admin runtime: {e}"))?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(address))
        .map_err(|e| {
            format!("cannot listen on {address} for the admin API: {e}; pick another --admin")
        })?;
    let bound = listener.local_addr().unwrap_or(address);
    tracing::info!(address = %bound, "Admin API listening.");
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let engine_thread = std::thread::Builder::new()
        .name("engine".into())
        .spawn(move || {
            let result = engine.run();
            let _ = done_tx.send(());
            result
        })
        .map_err(|e| format!("cannot start the engine thread: {e}"))?;
    runtime.block_on(async move {
        tokio::spawn(handle_signals(stop, reload_tx));
        let app = admin::router(admin);
        let server = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = done_rx.await;
        });
        if let Err(e) = server.await {
            tracing::error!(error = %e, "The admin API failed.");
        }
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match engine_thread.join() {
        Ok(result) => result,
        Err(_) => Err("the engine thread panicked".into()),
    }
}

async fn handle_signals(stop: Arc<AtomicBool>, reload_tx: SyncSender<ReloadRequest>) {
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("Cannot install the signal handlers; stop the daemon with SIGKILL.");
        return;
    };
    loop {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
            _ = hup.recv() => {
                if !reload::request(&reload_tx, "sighup") {
                    tracing::info!("SIGHUP: a reload is already queued.");
                }
                continue;
            }
        };
        if stop.swap(true, Ordering::SeqCst) {
            tracing::warn!(signal = name, "Second stop signal; exiting at once.");
            std::process::exit(EXIT_NOW);
        }
        tracing::info!(
            signal = name,
            "Stopping: draining, flushing sinks, writing the final checkpoint (send it again to exit at once)."
        );
    }
}

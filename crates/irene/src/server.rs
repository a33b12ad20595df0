//! `irene serve`: opens the store, starts the intake writer, the pipeline and the expiry job,
//! serves the API, and shuts all of it down in order on SIGTERM/SIGINT. No request logic here.

use crate::api::{router, AppState};
use crate::auth::Tokens;
use crate::config::Config;
use crate::intake::Intake;
use crate::pipeline::{run_expiry, Pipeline};
use crate::telemetry::metrics_handle;
use anyhow::{bail, Context};
use axum::extract::DefaultBodyLimit;
use irene_rules::TriageRules;
use irene_sources::Limits;
use irene_store::{SqliteStore, Store};
use std::sync::Arc;
use tokio::sync::{watch, Notify};

/// A name for this process's leases: unique per run.
fn worker_name() -> String {
    format!("{}-{}", std::process::id(), uuid::Uuid::now_v7())
}

pub async fn serve(cfg: Config, rules: TriageRules) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("listening on {}", cfg.listen))?;
    run(listener, cfg, rules, shutdown_signal()).await
}

/// Serves on a bound listener until `shutdown` completes (tests and the bench use this directly).
pub async fn run(
    listener: tokio::net::TcpListener,
    cfg: Config,
    rules: TriageRules,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let tokens = Tokens::from_config(&cfg.tokens)?;
    if tokens.is_open() && !listener.local_addr()?.ip().is_loopback() {
        bail!(
            "refusing to listen on {} without API tokens: configure [[tokens]] or listen on 127.0.0.1",
            listener.local_addr()?
        );
    }
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&cfg.data_dir)
            .await
            .with_context(|| format!("opening the store in {}", cfg.data_dir.display()))?,
    );
    let addr = listener.local_addr()?;
    if tokens.is_open() {
        tracing::warn!(%addr, "no API tokens configured: the API is open to anyone on this machine (loopback only)");
    }
    tracing::info!(%addr, data_dir = %cfg.data_dir.display(), rules = rules.len(), "irene is serving");
    println!("irene: listening on http://{addr}");

    let wake = Arc::new(Notify::new());
    let (intake, intake_task) = Intake::start(store.clone(), wake.clone());
    let (stop_tx, stop_rx) = watch::channel(false);
    let rules = Arc::new(rules);
    let limits = Arc::new(Limits {
        max_depth: cfg.intake.max_depth,
    });
    let pipeline = Pipeline {
        store: store.clone(),
        rules: rules.clone(),
        limits: limits.clone(),
        cfg: cfg.pipeline.clone(),
        owner: worker_name(),
        wake: wake.clone(),
    };
    let pipeline_task = tokio::spawn(pipeline.run(stop_rx.clone()));
    let expiry_task = tokio::spawn(run_expiry(store.clone(), cfg.expiries(), stop_rx.clone()));

    let state = AppState {
        store: store.clone(),
        rules,
        tokens: Arc::new(tokens),
        intake,
        limits,
        max_body: cfg.intake.max_body_bytes,
        metrics: metrics_handle(),
        wake: wake.clone(),
    };
    let app = router(state).layer(DefaultBodyLimit::max(cfg.intake.max_body_bytes));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP")?;

    tracing::info!("shutting down: finishing in-flight work");
    // The router (and with it every Intake handle) is gone: the writer drains and stops.
    let _ = intake_task.await;
    let _ = stop_tx.send(true);
    let _ = pipeline_task.await;
    let _ = expiry_task.await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

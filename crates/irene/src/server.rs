//! `irene serve`: opens the store, builds the outputs, starts the intake writer and every
//! background worker (pipeline, delivery, investigations, jobs, expiry, retention, `[[sqs]]`),
//! serves the API, and shuts it all down in order on SIGTERM/SIGINT. No request logic and no
//! work loops here.

use crate::api::webhooks::GithubHook;
use crate::api::{router, AppState};
use crate::app::App;
use crate::auth::Tokens;
use crate::config::Config;
use crate::deliver::Deliverer;
use crate::expiry::ExpiryWorker;
use crate::intake::Intake;
use crate::investigate::{InvestigationSetup, InvestigationWorker};
use crate::investigation_policy::{InvestigatingPlanner, Policies};
use crate::jobs::Jobs;
use crate::leader::{Leader, Scheduled};
use crate::pipeline::Pipeline;
use crate::retention::RetentionWorker;
use crate::telemetry::metrics_handle;
use crate::worker::Workers;
use anyhow::{bail, Context};
use axum::extract::DefaultBodyLimit;
use irene_rules::sigma::SigmaRules;
use irene_rules::TriageRules;
use irene_sources::Limits;
use irene_store::Store;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{watch, Notify};

/// A name for this process's leases: unique per run.
fn worker_name() -> String {
    format!("{}-{}", std::process::id(), uuid::Uuid::now_v7())
}

pub async fn serve(cfg: Config, rules: TriageRules, sigma: SigmaRules) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("listening on {}", cfg.listen))?;
    run(listener, cfg, rules, sigma, shutdown_signal()).await
}

/// Serves on a bound listener until `shutdown` completes (tests and the bench use this directly).
pub async fn run(
    listener: tokio::net::TcpListener,
    cfg: Config,
    rules: TriageRules,
    sigma: SigmaRules,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // the recorder first: a worker's first counts (a feed's first download) must not be lost
    let metrics = metrics_handle();
    let tokens = Tokens::from_config(&cfg.tokens)?;
    if tokens.is_open() && !listener.local_addr()?.ip().is_loopback() {
        bail!(
            "refusing to listen on {} without API tokens: configure [[tokens]] or listen on 127.0.0.1",
            listener.local_addr()?
        );
    }
    let templates = irene_outputs::templates::shared(irene_outputs::TemplateSet::builtin());
    // The settings every worker reads: the config's files until the store's documents are read.
    let live = Arc::new(crate::settings::live::Live::start(
        crate::settings::compile::Base {
            outputs: cfg.outputs.clone(),
            max_silence: chrono::Duration::from_std(cfg.settings.max_silence)
                .context("[settings] max_silence")?,
        },
        rules,
        sigma,
        templates.clone(),
    )?);
    let files = Arc::new(crate::files::links(&cfg)?);
    let github_hooks: Vec<GithubHook> = cfg
        .outputs
        .iter()
        .filter_map(|o| match o.github_inbound() {
            Some((repository, Some(secret))) => Some(GithubHook {
                output: o.name().to_string(),
                repository: repository.to_string(),
                secret: secret.clone(),
            }),
            _ => None,
        })
        .collect();
    let correlator = Arc::new(crate::detect::SigmaCorrelator { live: live.clone() });
    // The feed set the investigators read, refreshed in place by the feed worker; the GeoIP
    // databases, if configured (without them `geoip` is not available).
    let feeds = irene_investigate::SharedFeeds::new(Arc::new(irene_investigate::FeedSet::new()));
    let geo = cfg.geoip.load()?.map(Arc::new);
    let mut investigate_ctx = irene_investigate::Context::shared(feeds.clone(), geo);
    // The exposure probes (`exposure` is available only with them), the screenshots (every
    // request Chromium makes checked by the same policy) and the cloud lookup (without it,
    // `exposure` probes the alert's own addresses and says so).
    if let Some(probe) = cfg.probe.build()? {
        if cfg.probe.screenshots {
            let policy = probe.policy().clone();
            investigate_ctx.screenshots = Some(Arc::new(irene_browser::Browser::new(
                cfg.browser.clone(),
                Arc::new(move |ip| policy.check(ip).map_err(|d| d.to_string())),
            )));
        }
        investigate_ctx.prober = Some(Arc::new(probe));
        investigate_ctx.targets = irene_cloud::build(&cfg.cloud);
    }
    investigate_ctx.watching = !cfg.watch.is_empty();
    // Which investigators can run does not depend on the reputation providers, which need the
    // store (their cache and daily counts), which needs the planner: names first.
    let available_names: Vec<String> = if cfg.investigate.enabled {
        irene_investigate::registry(&investigate_ctx)
            .iter()
            .map(|i| i.name().to_string())
            .collect()
    } else {
        Vec::new()
    };
    let available: Vec<&str> = available_names.iter().map(String::as_str).collect();
    let policies = if !cfg.investigate.enabled {
        Policies::none()
    } else if cfg.investigations.is_empty() {
        Policies::defaults(&available)
    } else {
        Policies::compile(&cfg.investigations, &irene_investigate::names(), &available).map_err(
            |errors| {
                let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
                anyhow::anyhow!("invalid [[investigations]]:\n{}", lines.join("\n"))
            },
        )?
    };
    let policies = Arc::new(policies);
    let planner = Arc::new(InvestigatingPlanner {
        outputs: crate::settings::planner::LivePlanner(live.clone()),
        policies: policies.clone(),
    });
    let store: Arc<dyn Store> =
        irene_store::open(&cfg.store_location(), planner.clone(), correlator)
            .await
            .with_context(|| format!("opening the store in {}", cfg.store_name()))?;
    let outputs = irene_outputs::build(
        &cfg.outputs,
        &irene_outputs::Context {
            public_url: cfg.public_url(),
            user_agent: format!("irene/{}", env!("CARGO_PKG_VERSION")),
            files: Some((*files).clone()),
            templates,
            // GitHub's pacing and budget, and providers' holds, hold across instances
            pacing: Some(Arc::new(crate::shared_limits::StorePacing(store.clone()))),
        },
    )
    .map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
        anyhow::anyhow!("invalid [[outputs]]:\n{}", lines.join("\n"))
    })?;
    let outputs: HashMap<String, Arc<dyn irene_outputs::Output>> = outputs
        .into_iter()
        .map(|o| (o.name().to_string(), o))
        .collect();
    // the files named in config become documents (when they changed), then the documents run
    crate::settings::sync::sync(&*store, &cfg)
        .await
        .context("loading the settings files")?;
    live.reload(&*store).await?;
    investigate_ctx.providers = irene_intel::build(
        &cfg.reputation,
        store.clone(),
        &format!("irene/{}", env!("CARGO_PKG_VERSION")),
    )?;
    if !investigate_ctx.providers.is_empty() {
        let names: Vec<&str> = investigate_ctx.providers.iter().map(|p| p.name()).collect();
        tracing::info!(providers = ?names, "reputation APIs configured");
    }
    let investigators = if cfg.investigate.enabled {
        irene_investigate::registry(&investigate_ctx)
    } else {
        Vec::new()
    };
    let addr = listener.local_addr()?;
    if tokens.is_open() {
        tracing::warn!(%addr, "no API tokens configured: the API is open to anyone on this machine (loopback only)");
    }
    {
        let snap = live.load();
        tracing::info!(%addr, data_dir = %cfg.data_dir.display(), rules = snap.triage.len(), sigma = snap.sigma.len(), "irene is serving");
    }
    println!("irene: listening on http://{addr}");

    if outputs.is_empty() {
        tracing::info!("no [[outputs]] configured: case changes are recorded on the cases and logged, not delivered");
    } else {
        let names: Vec<&str> = outputs.keys().map(String::as_str).collect();
        tracing::info!(outputs = ?names, "delivering to outputs");
    }
    let wake = Arc::new(Notify::new());
    let deliver_wake = Arc::new(Notify::new());
    let investigate_wake = Arc::new(Notify::new());
    let intake_activity = Arc::new(crate::intake::Activity::default());
    let (intake, intake_task) = Intake::start(store.clone(), wake.clone(), intake_activity.clone());
    let (stop_tx, stop_rx) = watch::channel(false);
    let limits = Arc::new(Limits {
        max_depth: cfg.intake.max_depth,
    });
    let pipeline = Pipeline {
        store: store.clone(),
        settings: live.clone(),
        limits: limits.clone(),
        cfg: cfg.pipeline.clone(),
        owner: worker_name(),
        wake: wake.clone(),
        deliver_wake: deliver_wake.clone(),
        investigate_wake: investigate_wake.clone(),
        log_changes: outputs.is_empty(),
    };
    let workers = Workers::new();
    // Scheduled work runs once per period for the whole deployment: on the leader only.
    let leader = Leader::new(store.clone());
    let mut tasks = vec![workers.spawn(pipeline, stop_rx.clone())];
    tasks.push(workers.spawn(
        Scheduled {
            worker: ExpiryWorker {
                store: store.clone(),
                expiries: cfg.expiries(),
                deliver_wake: deliver_wake.clone(),
            },
            leader: leader.clone(),
        },
        stop_rx.clone(),
    ));
    tasks.push(workers.spawn(
        Scheduled {
            worker: RetentionWorker {
                store: store.clone(),
                retention: cfg.events.retention,
            },
            leader: leader.clone(),
        },
        stop_rx.clone(),
    ));
    let feed_defs = cfg
        .feeds
        .iter()
        .zip(cfg.feed_defs()?)
        .map(|(c, d)| (d, c.max_bytes))
        .collect();
    tasks.push(workers.spawn(
        Scheduled {
            worker: crate::feeds::FeedWorker::new(
                store.clone(),
                feed_defs,
                feeds.clone(),
                &format!("irene/{}", env!("CARGO_PKG_VERSION")),
            )?,
            leader: leader.clone(),
        },
        stop_rx.clone(),
    ));
    tasks.push(workers.spawn(
        InvestigationWorker::new(InvestigationSetup {
            store: store.clone(),
            investigators,
            policies: policies.clone(),
            cfg: cfg.investigate.clone(),
            owner: worker_name(),
            wake: investigate_wake.clone(),
            deliver_wake: deliver_wake.clone(),
            intake: intake_activity,
            leader: leader.clone(),
        }),
        stop_rx.clone(),
    ));
    let deliverer = Deliverer {
        store: store.clone(),
        outputs: Arc::new(outputs),
        cfg: cfg.delivery.clone(),
        owner: worker_name(),
        wake: deliver_wake.clone(),
    };
    tasks.push(workers.spawn(deliverer.worker(), stop_rx.clone()));
    let jobs = Jobs {
        store: store.clone(),
        outputs: cfg.outputs.clone(),
        every: cfg.delivery.jobs_every,
        keep_done: cfg.delivery.keep_done,
        public_url: cfg.public_url(),
        wake: deliver_wake.clone(),
    };
    tasks.push(workers.spawn(
        Scheduled {
            worker: jobs,
            leader: leader.clone(),
        },
        stop_rx.clone(),
    ));
    tasks.push(workers.spawn(
        crate::settings_worker::SettingsWorker::new(
            store.clone(),
            live.clone(),
            planner.clone(),
            Arc::new(cfg.clone()),
            deliver_wake.clone(),
        ),
        stop_rx.clone(),
    ));

    let application = App {
        store: store.clone(),
        intake,
        limits,
        max_body: cfg.intake.max_body_bytes,
        settings: live.clone(),
        wake: wake.clone(),
        deliver_wake,
        investigate_wake,
        policies,
        investigators: Arc::new(available_names),
        watches: Arc::new(cfg.watch.clone()),
    };
    // Workers that feed the intake (they hold an `App`, and with it an Intake handle) stop on
    // their own signal, before the intake drains: the tamper watch and the `[[sqs]]` consumers.
    let (feeders_stop_tx, feeders_stop_rx) = watch::channel(false);
    let mut feeders = vec![workers.spawn(
        Scheduled {
            worker: crate::tamper::TamperWorker::new(
                application.clone(),
                cfg.watch.clone(),
                &format!("irene/{}", env!("CARGO_PKG_VERSION")),
                investigate_ctx.screenshots.clone(),
            )?,
            leader: leader.clone(),
        },
        feeders_stop_rx.clone(),
    )];
    let max_object_bytes = u64::try_from(cfg.intake.max_body_bytes).unwrap_or(u64::MAX);
    for worker in crate::sqs_intake::SqsWorker::all(
        &cfg.sqs,
        &application,
        max_object_bytes,
        &feeders_stop_rx,
    )
    .await?
    {
        feeders.push(workers.spawn(worker, feeders_stop_rx.clone()));
    }
    let state = AppState {
        app: application,
        tokens: Arc::new(tokens),
        metrics,
        github_hooks: Arc::new(github_hooks),
        workers,
        files,
        public_url: cfg.public_url(),
        console: Arc::new(cfg.console.clone()),
        push: Arc::new(irene_push::Verifiers::new(
            &cfg.intake.sns,
            &cfg.intake.pubsub,
        )?),
    };
    let app = router(state).layer(DefaultBodyLimit::max(cfg.intake.max_body_bytes));
    // the peer's address: the console's sign-in rate limit counts failures per address
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .context("serving HTTP")?;

    tracing::info!("shutting down: finishing in-flight work");
    // The feeders finish what they hold (an SQS long poll ends at once, a page check ends) and
    // let go of their Intake handles.
    let _ = feeders_stop_tx.send(true);
    for task in feeders {
        let _ = task.await;
    }
    // The router (and with it every Intake handle) is gone: the writer drains and stops.
    let _ = intake_task.await;
    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = task.await;
    }
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

//! Logging (tracing) and metrics (Prometheus) set-up, once per process.
//! Nothing here records a payload, a token or a URL with credentials.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("IRENE_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,sqlx=warn,chromiumoxide=error")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The process-wide Prometheus recorder (installed on first use).
pub fn metrics_handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            let _ = metrics::set_global_recorder(recorder);
            describe();
            handle
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!("irene_ingest_requests_total", "Ingest requests received");
    metrics::describe_counter!(
        "irene_ingest_accepted_total",
        "Items accepted durably by the intake"
    );
    metrics::describe_counter!(
        "irene_ingest_rejected_total",
        "Ingest requests rejected, by reason"
    );
    metrics::describe_counter!("irene_decoded_total", "Alerts decoded, by source");
    metrics::describe_counter!("irene_quarantined_total", "Items quarantined, by source");
    metrics::describe_counter!(
        "irene_case_transitions_total",
        "Case changes: opened, occurrence, reopened, resolved, severity_changed"
    );
    metrics::describe_histogram!("irene_stage_seconds", "Time per pipeline stage and batch");
}

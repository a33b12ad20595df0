//! The application layer between transports and the store: what Irene does when asked
//! (accept a payload, resolve a case, follow a ticket, replay a delivery or a quarantined item),
//! each with its wake-up and metrics done once, whatever the transport (HTTP handler, SQS poller,
//! Pub/Sub push, Lambda, CLI). It must not speak HTTP: handlers translate to and from it.

mod accept;
mod actions;

pub use actions::{CaseOutcome, RequestError, Requested};

pub use accept::{count_rejected, AcceptError, Accepted, Payload};

use crate::intake::Intake;
use irene_sources::Limits;
use irene_store::Store;
use std::sync::Arc;
use tokio::sync::Notify;

/// Everything the application's actions need; cheap to clone.
#[derive(Clone)]
pub struct App {
    pub store: Arc<dyn Store>,
    pub intake: Intake,
    pub limits: Arc<Limits>,
    /// Largest payload accepted, after gzip (bytes).
    pub max_body: usize,
    /// The live settings (rules, routes, silences, templates); dry runs use its rules when no
    /// draft is given; applying a document swaps them for every worker.
    pub settings: Arc<crate::settings::live::Live>,
    /// Wakes the pipeline when something was put in the inbox.
    pub wake: Arc<Notify>,
    /// Wakes the delivery worker when deliveries were planned or replayed.
    pub deliver_wake: Arc<Notify>,
    /// Wakes the investigation worker when investigations were asked for.
    pub investigate_wake: Arc<Notify>,
    /// When investigations run; what a run by hand runs.
    pub policies: Arc<crate::investigation_policy::Policies>,
    /// The investigators this configuration can run (empty: investigations are disabled).
    pub investigators: Arc<Vec<String>>,
    /// The watched pages (`[[watch]]`).
    pub watches: Arc<Vec<crate::config::WatchConfig>>,
}

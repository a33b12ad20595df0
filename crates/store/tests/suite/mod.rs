//! The Store conformance suite: checks every backend must pass, each a `pub async fn` taking
//! a [`Backend`] that opens fresh stores. A backend runs them all from its own test file
//! (`tests/sqlite.rs`); what only one backend has lives beside it (`tests/sqlite_only.rs`).
#![allow(dead_code)]

pub mod accounts;
pub mod counts;
pub mod events;
pub mod intel;
pub mod investigations;
pub mod outbox;
pub mod pacing;
pub mod pipeline;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use irene_core::{
    Alert, AlertState, Correlator, Judged, NoCorrelations, NoOutputs, Planner, Severity,
};
use irene_store::{ClaimLimit, CommitSummary, NewInbox, Processed, Store};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// A store under test and whatever must outlive it (a temporary directory, a database).
pub struct Opened {
    pub store: Arc<dyn Store>,
    pub keep: Box<dyn std::any::Any + Send>,
}

/// Opens fresh, empty stores of one backend.
#[async_trait]
pub trait Backend: Sync {
    async fn open(&self, planner: Arc<dyn Planner>, correlator: Arc<dyn Correlator>) -> Opened;
}

/// A fresh store without outputs or correlations.
pub async fn fresh(b: &dyn Backend) -> Opened {
    b.open(Arc::new(NoOutputs), Arc::new(NoCorrelations)).await
}

pub fn judged(key: &str, state: AlertState, sev: Severity) -> Judged {
    let mut a = Alert::new(
        "generic",
        "test.kind",
        key,
        format!("Title of {key}"),
        sev,
        json!({"key": key, "detail": "raw"}),
    );
    a.state = state;
    a.account = Some("111111111111".into());
    Judged::unjudged(a)
}

pub fn payload(source: &str) -> NewInbox {
    NewInbox {
        id: Uuid::now_v7(),
        source: source.into(),
        received_at: Utc::now(),
        body: b"{}".to_vec(),
        items: 1,
        idempotency_key: None,
        complete_scan: false,
    }
}

/// Appends one payload of `source`, claims it as `w` and commits `fill` of it (at `now`).
pub async fn commit_one(
    store: &dyn Store,
    source: &str,
    now: DateTime<Utc>,
    fill: impl FnOnce(&mut Processed),
) -> CommitSummary {
    store
        .inbox_append(&[payload(source)])
        .await
        .expect("append");
    let rows = store
        .inbox_claim("w", ClaimLimit::payloads(10), Duration::from_secs(30), now)
        .await
        .expect("claim");
    assert_eq!(rows.len(), 1);
    let mut processed = Processed {
        inbox_id: rows[0].id,
        received_at: rows[0].received_at,
        alerts: vec![],
        events: vec![],
        quarantine: vec![],
        complete_scan: rows[0].complete_scan,
    };
    fill(&mut processed);
    store
        .commit_processed("w", vec![processed], now)
        .await
        .expect("commit")
}

/// Appends one payload, claims it and commits the given verdicts for it.
pub async fn run_through(store: &dyn Store, alerts: Vec<Judged>) -> CommitSummary {
    commit_one(store, "generic", Utc::now(), |p| {
        p.alerts = alerts
            .into_iter()
            .enumerate()
            .map(|(i, j)| (i as i64, j))
            .collect();
    })
    .await
}

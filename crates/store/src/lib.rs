//! The Store: everything Irene keeps (inbox, alerts, cases, timelines, quarantine), behind one
//! trait with an SQLite implementation. It must not decode, judge or decide: callers pass verdicts.

mod error;
mod model;
mod sqlite;
mod time;

pub use error::StoreError;
pub use model::*;
pub use sqlite::SqliteStore;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use irene_core::{Case, Change};
use std::time::Duration;
use uuid::Uuid;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// One store, many implementations (SQLite now, PostgreSQL next). Every method is one
/// transaction unless it says otherwise; the pipeline never holds a transaction open itself.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Appends payloads to the inbox in ONE durable transaction (group commit). When it returns
    /// Ok, every payload is on disk.
    async fn inbox_append(&self, items: &[NewInbox]) -> Result<()>;

    /// Claims pending inbox rows, oldest first and within `limit`, for `owner` until
    /// `now + lease`. Rows whose lease expired (a crashed worker) are claimed again.
    async fn inbox_claim(
        &self,
        owner: &str,
        limit: ClaimLimit,
        lease: Duration,
    ) -> Result<Vec<InboxRow>>;

    /// Gives back the rows `owner` holds, unprocessed (graceful shutdown).
    async fn inbox_release(&self, owner: &str) -> Result<u64>;

    /// Writes the outcome of claimed rows in one transaction: alerts, case changes with their
    /// timelines, quarantined items, and the rows marked done. Rows no longer leased by `owner`
    /// are skipped whole (another worker owns them now), so nothing is written twice.
    async fn commit_processed(&self, owner: &str, batch: Vec<Processed>) -> Result<CommitSummary>;

    async fn cases_list(&self, filter: &CaseFilter) -> Result<Page<Case>>;
    async fn case_get(&self, id: Uuid) -> Result<Option<CaseDetail>>;
    /// Resolves by hand. `Ok(None)`: no such case. A case already resolved is returned unchanged.
    async fn case_resolve(
        &self,
        id: Uuid,
        by: &str,
        reason: &str,
    ) -> Result<Option<(Case, Option<Change>)>>;
    /// Resolves open cases of `source` silent since before `now - expiry`.
    async fn cases_expire(
        &self,
        source: &str,
        expiry: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<Change>>;

    async fn alert_get(&self, id: Uuid) -> Result<Option<StoredAlert>>;

    async fn quarantine_list(
        &self,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<QuarantineEntry>>;
    /// Puts a quarantined item back into the inbox as a new payload (after a fix).
    /// `Ok(None)`: no such entry or already requeued.
    async fn quarantine_requeue(&self, id: Uuid, now: DateTime<Utc>) -> Result<Option<Uuid>>;

    async fn status(&self) -> Result<StatusCounts>;
    /// Readiness: the database answers.
    async fn ping(&self) -> Result<()>;
}

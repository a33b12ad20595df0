//! The Store: everything Irene keeps (inbox, alerts, cases, timelines, quarantine), behind one
//! trait with an SQLite implementation. It must not decode, judge or decide: callers pass verdicts.

mod error;
mod model;
mod sqlite;
mod sqlite_events;
mod sqlite_outbox;
mod time;

pub use error::StoreError;
pub use model::*;
pub use sqlite::SqliteStore;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use irene_core::{Case, Change, Delivery, Severity, TicketState};
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
    async fn commit_processed(&self, owner: &str, batch: Vec<Processed>) -> Result<CommitSummary> {
        self.commit_processed_with(owner, batch, None).await
    }

    /// `commit_processed`, also saving the Sigma correlation windows as they are after this
    /// batch (`windows`, JSON) in the same transaction: a restart resumes from exactly the
    /// state of the last committed payload. Saved only when no row of the batch was skipped
    /// (another worker's payloads must not move this worker's windows).
    async fn commit_processed_with(
        &self,
        owner: &str,
        batch: Vec<Processed>,
        windows: Option<&str>,
    ) -> Result<CommitSummary>;

    /// The Sigma correlation windows saved by the last commit, if any.
    async fn sigma_windows(&self) -> Result<Option<String>>;

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

    /// Audit-log events matching every filter, newest first.
    async fn events_list(&self, filter: &EventFilter) -> Result<Page<StoredEvent>>;
    /// Forgets events received before `before` (the retention).
    async fn events_prune(&self, before: DateTime<Utc>) -> Result<u64>;

    async fn quarantine_list(
        &self,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<QuarantineEntry>>;
    /// Puts a quarantined item back into the inbox as a new payload (after a fix).
    /// `Ok(None)`: no such entry or already requeued.
    async fn quarantine_requeue(&self, id: Uuid, now: DateTime<Utc>) -> Result<Option<Uuid>>;

    /// Claims up to `limit` due deliveries for `owner` until `now + lease`, oldest first. A
    /// delivery waits while an earlier one of its lane (same case and output) is pending, so a
    /// lane goes strictly in order; folded repeats never hold a lane up.
    async fn outbox_claim(
        &self,
        owner: &str,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Delivery>>;
    /// Records how an attempt ended (with the ticket, a timeline entry on the case, and the
    /// repeats a resolve absorbed). `Ok(false)`: `owner` no longer holds the delivery.
    async fn outbox_finish(&self, owner: &str, id: i64, finish: Finish) -> Result<bool>;
    /// Gives back the deliveries `owner` holds (graceful shutdown).
    async fn outbox_release(&self, owner: &str) -> Result<u64>;
    /// When the earliest pending delivery falls due (the worker's sleep).
    async fn outbox_next_due(&self) -> Result<Option<DateTime<Utc>>>;
    async fn outbox_list(&self, filter: &DeliveryFilter) -> Result<Page<DeliveryRow>>;
    /// Replays a dead letter (attempts start again, due now). `Ok(None)`: no such dead letter.
    async fn outbox_retry(&self, id: i64) -> Result<Option<DeliveryRow>>;
    /// Forgets deliveries sent before `before` (the case timelines keep their notes).
    async fn outbox_prune(&self, before: DateTime<Utc>) -> Result<u64>;
    /// Adds deliveries that no case change implies (batch jobs), durably.
    async fn outbox_enqueue(&self, items: &[NewDelivery]) -> Result<()>;
    /// Durably records an output's ticket for a case before a call whose effect a crash could
    /// lose (the intent to create a GitHub issue).
    async fn ticket_record(
        &self,
        case_id: Uuid,
        output: &str,
        kind: &str,
        ticket: &TicketState,
    ) -> Result<()>;
    /// The case and ticket that `output` knows as `reference` (an issue number).
    async fn ticket_find(
        &self,
        output: &str,
        reference: &str,
    ) -> Result<Option<(Uuid, TicketState)>>;
    /// A person opened (`open`) or closed the ticket `reference` on `output`: reopens or
    /// resolves its case by hand, planning deliveries to every output but that one.
    /// `Ok(None)`: no case has that ticket.
    async fn case_set_by_ticket(
        &self,
        output: &str,
        reference: &str,
        open: bool,
        by: &str,
    ) -> Result<Option<(Case, Option<Change>)>>;
    /// Whether the job `name` is due (last run at least `every` ago), marking it run if so.
    /// The first call only starts the clock.
    async fn job_due(&self, name: &str, every: Duration, now: DateTime<Utc>) -> Result<bool>;
    /// Open cases of at least `min` severity whose ticket on `output` has been left untouched
    /// since before `untouched_before`, and with no reminder pending.
    async fn cases_to_remind(
        &self,
        output: &str,
        min: Severity,
        untouched_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Case>>;
    /// Open cases per severity.
    async fn open_counts(&self) -> Result<Vec<(Severity, i64)>>;

    async fn status(&self) -> Result<StatusCounts>;
    /// Readiness: the database answers.
    async fn ping(&self) -> Result<()>;
}

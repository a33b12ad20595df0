//! The transaction a backend gives the neutral flow: SQL primitives over one transaction
//! (read rows, write rows, commit) and the rows they take. It must not decide anything.

use crate::{InvestigationRecord, InvestigationResult, Quarantined, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use irene_core::{Action, Case, Event, Judged, TicketState, TimelineEntry, WindowKey, WindowRow};
use std::collections::HashSet;
use uuid::Uuid;

/// One transaction of a backend. Dropped without [`commit`](StoreTx::commit), it is rolled
/// back. Every method is a statement (or a few) of that transaction; none reads a clock.
#[async_trait]
pub trait StoreTx: Send {
    /// Marks the inbox rows `ids` done if `owner` still leases them; returns those it marked.
    async fn inbox_mark_done(
        &mut self,
        owner: &str,
        ids: &[Uuid],
        now: DateTime<Utc>,
    ) -> Result<HashSet<Uuid>>;
    /// Inserts events, skipping a record already stored under its source id; returns the ids
    /// of the rows stored (the new events).
    async fn events_insert(&mut self, rows: &[EventRow<'_>]) -> Result<HashSet<String>>;
    /// The correlation window rows of `keys` that exist (locked for this transaction where the
    /// backend locks rows).
    async fn windows_load(&mut self, keys: &[WindowKey]) -> Result<Vec<WindowRow>>;
    /// Inserts or replaces window rows.
    async fn windows_save(&mut self, rows: &[WindowRow], now: DateTime<Utc>) -> Result<()>;
    async fn windows_delete(&mut self, keys: &[WindowKey]) -> Result<()>;
    /// The cases with these keys (those that exist).
    async fn cases_by_keys(&mut self, keys: &[&str]) -> Result<Vec<Case>>;
    async fn case_by_id(&mut self, id: Uuid) -> Result<Option<Case>>;
    /// Up to `limit` open cases whose case fields (JSON paths) equal these values, most
    /// severe first.
    async fn cases_open_matching(
        &mut self,
        equal: &[(String, String)],
        limit: u32,
    ) -> Result<Vec<Case>>;
    /// The case whose ticket on `output` is `reference`.
    async fn case_by_ticket(&mut self, output: &str, reference: &str) -> Result<Option<Case>>;
    /// Up to `limit` open cases of `source` last seen before `before`.
    async fn cases_silent(
        &mut self,
        source: &str,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Case>>;
    /// Inserts or replaces cases (by id), as they are.
    async fn cases_upsert(&mut self, cases: &[&Case]) -> Result<()>;
    async fn alerts_insert(&mut self, rows: &[AlertRow<'_>]) -> Result<()>;
    async fn quarantine_insert(&mut self, rows: &[QuarantineRow<'_>]) -> Result<()>;
    async fn timeline_insert(&mut self, rows: &[(Uuid, &TimelineEntry)]) -> Result<()>;
    /// Inserts deliveries due `now`; a pending repeat of the same case and output takes the
    /// new detail instead (folding).
    async fn outbox_insert(&mut self, rows: &[OutboxRow], now: DateTime<Utc>) -> Result<()>;
    /// Releases the deliveries `by` held: those of open cases become due now, the others are
    /// dropped. The cases released, and the cases dropped.
    async fn outbox_release_held(
        &mut self,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<(Vec<Uuid>, Vec<Uuid>)>;
    /// The delivery `id` if `owner` holds it (state sending).
    async fn outbox_leased(&mut self, id: i64, owner: &str) -> Result<Option<LeasedDelivery>>;
    /// Ends the attempt on delivery `id` (its lease released).
    async fn outbox_set(&mut self, id: i64, set: &OutboxSet<'_>, now: DateTime<Utc>) -> Result<()>;
    /// Marks done the pending repeats of a lane older than delivery `before` (a resolve says
    /// all they would have said).
    async fn outbox_fold_repeats(
        &mut self,
        case_id: Uuid,
        output: &str,
        before: i64,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// Inserts or replaces an output's ticket for a case, touched `now`.
    async fn ticket_save(
        &mut self,
        case_id: Uuid,
        output: &str,
        kind: &str,
        ticket: &TicketState,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// Records a successful delivery on the ticket (its `touched` time).
    async fn ticket_touch(&mut self, case_id: Uuid, output: &str, now: DateTime<Utc>)
        -> Result<()>;
    /// Inserts investigation jobs, due `now`.
    async fn investigations_insert(
        &mut self,
        rows: &[InvestigationRow],
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// The investigation `id` if `owner` holds it (state running).
    async fn investigation_leased(
        &mut self,
        id: Uuid,
        owner: &str,
    ) -> Result<Option<LeasedInvestigation>>;
    /// Marks the investigation `id` done with its result and attachments (its lease released).
    async fn investigation_record(
        &mut self,
        id: Uuid,
        case_id: Uuid,
        result: &InvestigationResult,
        same_since: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// Puts the held investigation `id` back to pending until `at`, noting `reason`.
    async fn investigation_retry(
        &mut self,
        id: Uuid,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<()>;
    /// The finished runs of a case, newest first, except those of batch `excluding`.
    async fn investigations_finished(
        &mut self,
        case_id: Uuid,
        excluding: Option<Uuid>,
    ) -> Result<Vec<InvestigationRecord>>;
    /// The alert `id`, as judged when it arrived.
    async fn alert_by_id(&mut self, id: Uuid) -> Result<Option<irene_core::Alert>>;
    /// The jobs of one batch, in the order they were planned.
    async fn investigations_of_batch(&mut self, batch: Uuid) -> Result<Vec<InvestigationRecord>>;
    async fn commit(self: Box<Self>) -> Result<()>;
}

/// An investigation job about to be inserted.
pub struct InvestigationRow {
    pub id: Uuid,
    pub case_id: Uuid,
    pub investigator: String,
    pub trigger: String,
    pub batch: Uuid,
}

/// An investigation held by a worker, as `investigation_leased` finds it.
pub struct LeasedInvestigation {
    pub case_id: Uuid,
    pub investigator: String,
    pub trigger: String,
    pub batch: Uuid,
}

/// An event about to be written.
pub struct EventRow<'a> {
    /// The new row's id (a UUIDv7, as text).
    pub id: String,
    pub inbox_id: Uuid,
    pub index: i64,
    pub received_at: DateTime<Utc>,
    pub event: &'a Event,
    pub detections: &'a [String],
}

/// An alert about to be inserted.
pub struct AlertRow<'a> {
    pub id: Uuid,
    pub inbox_id: Uuid,
    pub index: i64,
    pub case_id: Option<Uuid>,
    pub received_at: DateTime<Utc>,
    /// The judged alert as JSON.
    pub doc: String,
    pub judged: &'a Judged,
}

/// A quarantined item about to be inserted.
pub struct QuarantineRow<'a> {
    pub id: Uuid,
    pub inbox_id: Uuid,
    pub received_at: DateTime<Utc>,
    pub item: &'a Quarantined,
}

/// A delivery about to be inserted.
pub struct OutboxRow {
    pub case_id: Option<Uuid>,
    pub output: String,
    pub action: Action,
    /// The case as JSON (none for repeats: they read the case when claimed).
    pub case_doc: Option<String>,
    /// The detail as JSON.
    pub detail: String,
    /// Held back by this (a silence): stored as `held`, not sent until released.
    pub held_by: Option<String>,
}

/// A delivery held by a worker, as `outbox_leased` finds it.
pub struct LeasedDelivery {
    pub case_id: Option<Uuid>,
    pub output: String,
    pub action: Action,
}

/// How an attempt ends on the row: its new state, whether it counts as an attempt, and what
/// it sets (fields left `None` keep their value).
pub struct OutboxSet<'a> {
    /// pending | done | dead
    pub state: &'a str,
    pub attempt: bool,
    pub next_at: Option<DateTime<Utc>>,
    pub error: Option<&'a str>,
    pub note: Option<&'a str>,
}

//! The values the Store takes and gives back (rows, pages, filters, counts).
//! Plain data; the SQL lives in the implementations.

use chrono::{DateTime, Utc};
use irene_core::{
    Action, Case, CaseStatus, Change, Event, Judged, Severity, TicketState, TimelineEntry,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A payload accepted by the intake.
#[derive(Debug, Clone)]
pub struct NewInbox {
    pub id: Uuid,
    pub source: String,
    pub received_at: DateTime<Utc>,
    pub body: Vec<u8>,
    pub items: i64,
    /// The transport's id of this delivery: a payload whose key is already in the inbox is not
    /// stored again (see `Store::inbox_append`).
    pub idempotency_key: Option<String>,
    /// The payload is a complete scan of its scope: committing it resolves, by scan, the open
    /// cases of its source and scope (account, region) whose finding it does not contain.
    pub complete_scan: bool,
}

/// How much one claim may take: at most `payloads` rows, and rows only while the items of
/// the rows before them stay under `items` (the first row is always taken), so that one
/// transaction never swallows thousands of large payloads at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimLimit {
    pub payloads: usize,
    pub items: i64,
}

impl ClaimLimit {
    /// At most `n` payloads, whatever their size.
    pub fn payloads(n: usize) -> Self {
        ClaimLimit {
            payloads: n,
            items: i64::MAX,
        }
    }
}

/// A claimed inbox row.
#[derive(Debug, Clone)]
pub struct InboxRow {
    pub id: Uuid,
    pub source: String,
    pub received_at: DateTime<Utc>,
    pub body: Vec<u8>,
    /// Items the intake counted in the body.
    pub items: i64,
    pub attempts: i64,
    /// Marked as a complete scan of its scope (see [`NewInbox::complete_scan`]).
    pub complete_scan: bool,
}

/// An item no decoder could use, with the decoder's error.
#[derive(Debug, Clone)]
pub struct Quarantined {
    pub item_index: i64,
    pub source: String,
    pub error: String,
    /// The item as JSON text (or the whole payload when it could not be split).
    pub raw: String,
}

/// What the pipeline made of one claimed inbox row.
#[derive(Debug, Clone)]
pub struct Processed {
    pub inbox_id: Uuid,
    pub received_at: DateTime<Utc>,
    /// (item index, verdict) in payload order.
    pub alerts: Vec<(i64, Judged)>,
    /// Audit-log events in payload order, with what the Sigma rules made of them.
    pub events: Vec<ProcessedEvent>,
    pub quarantine: Vec<Quarantined>,
    /// A complete scan of its scope (see [`NewInbox::complete_scan`]).
    pub complete_scan: bool,
}

/// One audit-log event of a payload and its detections.
#[derive(Debug, Clone)]
pub struct ProcessedEvent {
    pub index: i64,
    pub event: Event,
    /// The ids of the Sigma rules it matched (fed to the store's `Correlator` if it is new).
    pub detections: Vec<String>,
    /// Those hits as judged alerts. They count only if the event is new: a record delivered
    /// twice (same source id) is stored once and its hits are not counted again.
    pub hits: Vec<Judged>,
}

/// An audit-log event as stored and listed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StoredEvent {
    pub id: Uuid,
    #[serde(flatten)]
    pub event: Event,
    pub received_at: DateTime<Utc>,
    /// The ids of the Sigma rules it matched.
    pub detections: Vec<String>,
}

/// Which events to list; every filter set must hold. Newest (by the event's time) first.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub source: Option<String>,
    pub source_ip: Option<String>,
    pub principal: Option<String>,
    pub account: Option<String>,
    pub name: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub limit: u32,
    pub cursor: Option<String>,
}

#[derive(Debug, Default)]
pub struct CommitSummary {
    pub rows_done: usize,
    pub rows_skipped: usize,
    pub alerts: usize,
    /// Events stored (a record already stored under its source id is not stored twice).
    pub events: usize,
    pub quarantined: usize,
    pub changes: Vec<Change>,
}

#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub severity: Option<Severity>,
    pub status: Option<CaseStatus>,
    pub source: Option<String>,
    /// The cloud account or project, exactly.
    pub account: Option<String>,
    /// One of the case's labels, exactly.
    pub label: Option<String>,
    pub q: Option<String>,
    pub sort: CaseSort,
    pub limit: u32,
    /// From the previous page of the same filter and sort.
    pub cursor: Option<String>,
}

/// The order of a case list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CaseSort {
    /// Most recently seen first.
    #[default]
    LastSeen,
    /// Most severe first, then most recently seen.
    Severity,
}

impl CaseSort {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseSort::LastSeen => "last_seen",
            CaseSort::Severity => "severity",
        }
    }

    pub fn parse(s: &str) -> Option<CaseSort> {
        [CaseSort::LastSeen, CaseSort::Severity]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// One occurrence of a case: an alert folded into it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Occurrence {
    pub alert_id: Uuid,
    pub received_at: DateTime<Utc>,
    pub severity: Severity,
    pub state: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseDetail {
    #[serde(flatten)]
    pub case: Case,
    pub occurrences: Vec<Occurrence>,
    pub timeline: Vec<TimelineEntry>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StoredAlert {
    pub id: Uuid,
    pub case_id: Option<Uuid>,
    pub inbox_id: Uuid,
    pub received_at: DateTime<Utc>,
    #[serde(flatten)]
    pub judged: Judged,
}

#[derive(Debug, Clone, Serialize)]
pub struct QuarantineEntry {
    pub id: Uuid,
    pub inbox_id: Uuid,
    pub item_index: i64,
    pub source: String,
    pub received_at: DateTime<Utc>,
    pub error: String,
    pub raw: serde_json::Value,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct StatusCounts {
    pub inbox_pending: i64,
    pub outbox_pending: i64,
    pub quarantined: i64,
    pub dead_letters: i64,
}

/// How a delivery attempt is recorded (the worker turns an `Outcome` into this, having
/// chosen the retry time and whether the attempts are exhausted).
#[derive(Debug, Clone, PartialEq)]
pub enum Finish {
    /// Delivered. `ticket` (when set) replaces the case's ticket on this output.
    Done {
        kind: String,
        ticket: Option<TicketState>,
        note: String,
    },
    /// Failed; try again at `next_at`.
    Retry {
        error: String,
        next_at: DateTime<Utc>,
    },
    /// Failed for good: a dead letter, visible and replayable.
    Dead { error: String },
    /// Not yet; try again at `until`, not counted as an attempt.
    Defer { until: DateTime<Utc> },
}

/// A delivery as listed by the API (without the case snapshot).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeliveryRow {
    pub id: i64,
    pub case_id: Option<Uuid>,
    pub output: String,
    pub action: Action,
    /// pending | sending | done | dead | held
    pub state: String,
    pub attempts: i64,
    pub next_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub note: Option<String>,
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub state: Option<String>,
    pub case_id: Option<Uuid>,
    pub output: Option<String>,
    /// Held back by this silence or inhibition (`silence:3`, `inhibit:<case id>`).
    pub held_by: Option<String>,
    pub limit: u32,
    pub cursor: Option<String>,
}

/// A delivery a batch job asks for (digest, reminder).
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub case: Option<Case>,
    pub output: String,
    pub action: Action,
    pub detail: serde_json::Value,
}

/// A reputation API's cached answer about one subject.
#[derive(Debug, Clone, PartialEq)]
pub struct IntelAnswer {
    pub answer: serde_json::Value,
    pub fetched_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A threat-intel feed's last good copy and the state of its last download.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedCopy {
    pub name: String,
    pub url: String,
    /// `ip-lines`, `cidr-lines`, `csv:COLUMN`, `jsonl:FIELD`.
    pub format: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// The body as downloaded (empty when listed without bodies, or before a first copy).
    #[serde(skip)]
    pub body: Vec<u8>,
    pub entries: i64,
    /// When the copy was last known current (a 200, or a 304 Not Modified).
    pub fetched_at: Option<DateTime<Utc>>,
    pub checked_at: DateTime<Utc>,
    pub last_error: Option<String>,
}

/// A claimed investigation: the job, its case as it is now and the case's latest alert.
#[derive(Debug, Clone)]
pub struct InvestigationJob {
    pub id: Uuid,
    pub case_id: Uuid,
    pub investigator: String,
    pub trigger: String,
    pub batch: Uuid,
    /// Attempts made, this one included.
    pub attempts: u32,
    pub case: Case,
    pub alert: Option<irene_core::Alert>,
}

/// A file an investigation attaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAttachment {
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// How an investigation ended, as the store records it.
#[derive(Debug, Clone, PartialEq)]
pub struct InvestigationResult {
    /// done | nothing_found | failed
    pub status: String,
    /// Why it failed (status failed).
    pub reason: Option<String>,
    pub findings: serde_json::Value,
    /// Markdown: the investigator's section of the batch's note.
    pub summary: String,
    pub attachments: Vec<NewAttachment>,
    /// Set: not recorded; the job goes back to pending until then (its answer was partial for
    /// a reason that may pass, and attempts remain). `reason` says why.
    pub retry_at: Option<DateTime<Utc>>,
    /// The problem was found fixed: when the batch has finished, the case resolves with
    /// resolution `scan` and this reason.
    pub fixed: Option<String>,
}

/// What finishing an investigation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// `owner` no longer held the job: nothing was written.
    NotHeld,
    /// Put back to pending until its `retry_at`.
    Retrying,
    /// Recorded; `notes` deliveries were enqueued (the batch's last job: one per output).
    Recorded { notes: usize },
}

/// An investigation as the API lists it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct InvestigationRecord {
    pub id: Uuid,
    pub case_id: Uuid,
    pub investigator: String,
    pub trigger: String,
    pub batch: Uuid,
    /// pending | running | done
    pub state: String,
    pub attempts: i64,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// done | nothing_found | failed (when done)
    pub status: Option<String>,
    pub reason: Option<String>,
    pub findings: Option<serde_json::Value>,
    pub summary: Option<String>,
    pub attachments: Vec<Uuid>,
    /// When this result equals the previous run's (status and findings): since when the
    /// answer has been the same (the note then says "unchanged since …").
    pub same_since: Option<DateTime<Utc>>,
    /// The problem was found fixed, and why (the case was then resolved by scan).
    pub fixed: Option<String>,
}

/// A file an investigation attached, as `GET /api/v1/attachments/{id}` serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAttachment {
    pub id: Uuid,
    pub investigation_id: Uuid,
    pub case_id: Uuid,
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, Default)]
pub struct InvestigationFilter {
    pub case_id: Option<Uuid>,
    pub state: Option<String>,
    pub investigator: Option<String>,
    pub limit: u32,
    pub cursor: Option<String>,
}

/// One file of a settings document (a rule file, a template, `routes.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsFile {
    pub name: String,
    pub text: String,
}

/// One version of a settings document. `files` is empty in version lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettingsVersion {
    pub kind: String,
    pub version: u32,
    pub author: String,
    pub created_at: DateTime<Utc>,
    pub comment: String,
    pub files: Vec<SettingsFile>,
}

/// A new text for one kind; `expect`: write only if the current version is still this one
/// (0: none yet), else [`crate::StoreError::Conflict`]; `None`: whatever is current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsChange {
    pub kind: String,
    pub files: Vec<SettingsFile>,
    pub expect: Option<u32>,
}

/// Which screenshot of a watched page: its baseline's, or the change's that raised its alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchImageKind {
    Baseline,
    Current,
}

impl WatchImageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WatchImageKind::Baseline => "baseline",
            WatchImageKind::Current => "current",
        }
    }
}

/// A screenshot of a watched page (PNG) and when it was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchImage {
    pub taken_at: DateTime<Utc>,
    pub png: Vec<u8>,
}

/// A watched page as the store keeps it (the snapshots are JSON text, opaque to the store).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WatchRow {
    pub name: String,
    pub url: String,
    pub baseline: Option<String>,
    pub baseline_at: Option<DateTime<Utc>>,
    pub current: Option<String>,
    pub checked_at: Option<DateTime<Utc>>,
    /// The latest check differed from the baseline (an `irene.tamper` alert is active).
    pub changed: bool,
    pub last_error: Option<String>,
}

/// One action a person or a token took, as the audit log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    /// What was done, a short verb phrase (`case.resolve`, `silence.add`, `sign_in`).
    pub action: String,
    /// What it was done to (a case id, a delivery id, a settings kind), or empty.
    pub target: String,
    /// Free text: a reason, a count. Never a secret.
    pub detail: String,
}

/// An action to record in the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAudit {
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

/// Which audit entries to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub limit: u32,
    pub cursor: Option<String>,
}

/// A local console account. `hash` is an argon2id PHC string (never the password); it is
/// left out of `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    /// `viewer`, `responder` or `admin` (the console decides what each may do).
    pub role: String,
    pub hash: String,
    pub created_at: DateTime<Utc>,
    pub disabled: bool,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("hash", &"<redacted>")
            .field("created_at", &self.created_at)
            .field("disabled", &self.disabled)
            .finish()
    }
}

/// A console session to keep: `id_hash` is the SHA-256 (hex) of the cookie's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub id_hash: String,
    pub user: String,
    /// The token every form of this session carries.
    pub csrf: String,
    pub created_at: DateTime<Utc>,
    /// The absolute expiry: past it the session is over, however active.
    pub expires_at: DateTime<Utc>,
}

/// A live session and its user's role, as [`Store::session_touch`](crate::Store::session_touch)
/// gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    pub user: String,
    pub role: String,
    pub csrf: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Failed sign-ins counted since a time, by the name tried and by the address it came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoginFailures {
    pub by_name: u32,
    pub by_ip: u32,
}

/// What one intake source (`POST /api/v1/ingest/{source}`) received lately.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceStats {
    pub source: String,
    pub last_received: Option<DateTime<Utc>>,
    /// Payloads over the last 24 hours and the last 7 days.
    pub last_day: i64,
    pub last_week: i64,
}

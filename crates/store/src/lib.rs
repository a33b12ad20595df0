//! The Store: what Irene keeps, and the flow of every write (`flow.rs`) over a backend's `StoreTx`.
//! It decides no verdict, plan or window (core, Planner, Correlator do) and reads no clock (`now`).

mod counts;
mod error;
mod flow;
mod model;
mod page;
mod pg;
mod pg_accounts;
mod pg_counts;
mod pg_events;
mod pg_intel;
mod pg_investigations;
mod pg_outbox;
mod pg_pacing;
mod pg_settings;
mod pg_sources;
mod pg_tx;
mod sqlite;
mod sqlite_accounts;
mod sqlite_counts;
mod sqlite_events;
mod sqlite_intel;
mod sqlite_investigations;
mod sqlite_outbox;
mod sqlite_pacing;
mod sqlite_settings;
mod sqlite_sources;
mod sqlite_tx;
mod time;
mod tx;

pub use counts::{HourCount, NameCount, ResolveTime, RuleCount};
pub use error::StoreError;
pub use model::*;
pub use pg::PgStore;
pub use sqlite::SqliteStore;
pub use tx::{
    AlertRow, EventRow, InvestigationRow, LeasedDelivery, LeasedInvestigation, OutboxRow,
    OutboxSet, QuarantineRow, StoreTx,
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use irene_core::{Case, Change, Correlator, Delivery, PaceTurn, Planner, Severity, TicketState};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Where a store keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// An embedded SQLite database in this data directory (locked for this process).
    Sqlite(PathBuf),
    /// A PostgreSQL database (`postgres://` or `postgresql://` URL), shared by several instances.
    Postgres(String),
}

/// Opens the store at `location`, creating and migrating it if needed. `planner` says which
/// deliveries a case change implies and `correlator` counts new events in correlation
/// windows; both are called inside the store's transactions.
pub async fn open(
    location: &Location,
    planner: Arc<dyn Planner>,
    correlator: Arc<dyn Correlator>,
) -> Result<Arc<dyn Store>> {
    match location {
        Location::Sqlite(dir) => Ok(Arc::new(
            SqliteStore::open(dir)
                .await?
                .with_planner(planner)
                .with_correlator(correlator),
        )),
        Location::Postgres(url) => Ok(Arc::new(
            PgStore::open(url)
                .await?
                .with_planner(planner)
                .with_correlator(correlator),
        )),
    }
}

/// One store, many backends (SQLite, PostgreSQL). A backend implements the reads, a
/// few statements of its own (claims, lists, prunes) and [`begin`](Store::begin), which gives
/// a [`StoreTx`]; the methods that change cases are provided here, over that transaction, so
/// every backend runs the same flow. Every method is one transaction unless it says otherwise;
/// the pipeline never holds a transaction open itself. No method reads a clock: time-dependent
/// ones take `now`.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Starts a transaction. `durable`: its commit is on disk when it returns (a client is
    /// answered about it); otherwise a crash may roll it back whole, which the inbox replays.
    async fn begin(&self, durable: bool) -> Result<Box<dyn StoreTx + '_>>;
    /// Says which deliveries a case change implies (called inside the change's transaction).
    fn planner(&self) -> &dyn Planner;
    /// Counts new events in correlation windows (called inside the commit).
    fn correlator(&self) -> &dyn Correlator;

    /// Appends payloads to the inbox in ONE durable transaction (group commit). When it returns
    /// Ok, every payload is on disk. Per item, in order: `None` when it was stored, or the id of
    /// the payload that already holds its idempotency key (then nothing of it is stored; a key
    /// repeated within `items` is stored once, the first time).
    async fn inbox_append(&self, items: &[NewInbox]) -> Result<Vec<Option<Uuid>>>;

    /// Claims pending inbox rows, oldest first and within `limit`, for `owner` until
    /// `now + lease`. Rows whose lease expired (a crashed worker) are claimed again.
    async fn inbox_claim(
        &self,
        owner: &str,
        limit: ClaimLimit,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<InboxRow>>;

    /// Gives back the rows `owner` holds, unprocessed (graceful shutdown).
    async fn inbox_release(&self, owner: &str) -> Result<u64>;

    /// Writes the outcome of claimed rows in one transaction: alerts, events (once per source
    /// id), the correlation windows the new events move and the alerts they fire, case changes
    /// with their timelines and deliveries, quarantined items, and the rows marked done. Rows
    /// no longer leased by `owner` are skipped whole (another worker owns them now), so nothing
    /// is written twice.
    async fn commit_processed(
        &self,
        owner: &str,
        batch: Vec<Processed>,
        now: DateTime<Utc>,
    ) -> Result<CommitSummary> {
        flow::commit_processed(self, owner, batch, now).await
    }

    async fn cases_list(&self, filter: &CaseFilter) -> Result<Page<Case>>;
    /// How many cases match `filter` (its cursor, sort and limit aside), counting at most `cap`.
    async fn cases_count(&self, filter: &CaseFilter, cap: u32) -> Result<u64>;
    async fn case_get(&self, id: Uuid) -> Result<Option<CaseDetail>>;
    /// Resolves by hand. `Ok(None)`: no such case. A case already resolved is returned unchanged.
    async fn case_resolve(
        &self,
        id: Uuid,
        by: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(Case, Option<Change>)>> {
        flow::case_resolve(self, id, by, reason, now).await
    }
    /// Reopens by hand. `Ok(None)`: no such case. A case already open is returned unchanged.
    async fn case_reopen(
        &self,
        id: Uuid,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(Case, Option<Change>)>> {
        flow::case_reopen(self, id, by, now).await
    }
    /// Resolves open cases of `source` silent since before `now - expiry`.
    async fn cases_expire(
        &self,
        source: &str,
        expiry: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<Change>> {
        flow::cases_expire(self, source, expiry, now).await
    }

    async fn alert_get(&self, id: Uuid) -> Result<Option<StoredAlert>>;
    /// Alerts received in `[since, until)`, oldest first by `(received_at, id)`, strictly after
    /// `after` when given, at most `limit`: one page of a scan, read on its own snapshot (the
    /// read pool; it never holds the writer up). A rule replay pages through a window with it.
    async fn alerts_scan(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: u32,
    ) -> Result<Vec<StoredAlert>>;
    /// How many alerts were received in `[since, until)`.
    async fn alerts_count(&self, since: DateTime<Utc>, until: DateTime<Utc>) -> Result<u64>;

    /// Audit-log events matching every filter, newest first.
    async fn events_list(&self, filter: &EventFilter) -> Result<Page<StoredEvent>>;
    /// Forgets events received before `before` (the retention).
    async fn events_prune(&self, before: DateTime<Utc>) -> Result<u64>;
    /// Forgets correlation windows that expired (in event time) more than a day before `now`
    /// and that no commit wrote for a day: a window past its expiry counts nothing more for
    /// events in time; the day leaves room for late events, and for replays of old logs.
    async fn windows_prune(&self, now: DateTime<Utc>) -> Result<u64>;

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
        now: DateTime<Utc>,
    ) -> Result<Vec<Delivery>>;
    /// Records how an attempt ended (with the ticket, a timeline entry on the case, and the
    /// repeats a resolve absorbed). `Ok(false)`: `owner` no longer holds the delivery.
    async fn outbox_finish(
        &self,
        owner: &str,
        id: i64,
        finish: Finish,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        flow::outbox_finish(self, owner, id, finish, now).await
    }
    /// Gives back the deliveries `owner` holds (graceful shutdown).
    async fn outbox_release(&self, owner: &str) -> Result<u64>;
    /// When the earliest pending delivery falls due (the worker's sleep).
    async fn outbox_next_due(&self) -> Result<Option<DateTime<Utc>>>;
    async fn outbox_list(&self, filter: &DeliveryFilter) -> Result<Page<DeliveryRow>>;
    /// Replays a dead letter (attempts start again, due now). `Ok(None)`: no such dead letter.
    async fn outbox_retry(&self, id: i64, now: DateTime<Utc>) -> Result<Option<DeliveryRow>>;
    /// Forgets deliveries sent before `before` (the case timelines keep their notes).
    async fn outbox_prune(&self, before: DateTime<Utc>) -> Result<u64>;
    /// What holds deliveries back now (each hold's `by`, e.g. `silence:12`).
    async fn outbox_held_by(&self) -> Result<Vec<String>>;
    /// How many deliveries each silence or inhibition (`held_by`) holds back now.
    async fn outbox_held_counts(&self) -> Result<Vec<(String, i64)>>;
    /// Per intake source named, its last payload's time and its payloads over a day and a week.
    async fn source_stats(
        &self,
        sources: &[String],
        now: DateTime<Utc>,
    ) -> Result<Vec<SourceStats>>;
    /// Releases what `by` held (see [`StoreTx::outbox_release_held`]), with a timeline entry on
    /// each case: the number of cases released and dropped.
    async fn held_release(&self, by: &str, now: DateTime<Utc>) -> Result<(usize, usize)> {
        flow::held_release(self, by, now).await
    }
    /// Quarantines, durably, an item that never reached the inbox (an SQS message or S3 object
    /// that cannot be taken), with the reason; the entry's id.
    async fn quarantine_add(&self, item: &Quarantined, now: DateTime<Utc>) -> Result<Uuid> {
        flow::quarantine_add(self, item, now).await
    }
    /// Adds deliveries that no case change implies (batch jobs), durably.
    async fn outbox_enqueue(&self, items: &[NewDelivery], now: DateTime<Utc>) -> Result<()> {
        flow::outbox_enqueue(self, items, now).await
    }
    /// Durably records an output's ticket for a case before a call whose effect a crash could
    /// lose (the intent to create a GitHub issue).
    async fn ticket_record(
        &self,
        case_id: Uuid,
        output: &str,
        kind: &str,
        ticket: &TicketState,
        now: DateTime<Utc>,
    ) -> Result<()> {
        flow::ticket_record(self, case_id, output, kind, ticket, now).await
    }
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
        now: DateTime<Utc>,
    ) -> Result<Option<(Case, Option<Change>)>> {
        flow::case_set_by_ticket(self, output, reference, open, by, now).await
    }
    /// Claims up to `limit` due investigations for `owner` until `now + lease`, oldest first,
    /// each with its case and the case's latest alert. A job whose lease expired (a crashed
    /// worker) is claimed again.
    async fn investigations_claim(
        &self,
        owner: &str,
        limit: usize,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<InvestigationJob>>;
    /// Records an investigation's result if `owner` still holds it, in one transaction: the
    /// result and attachments, a timeline entry on the case, and when it was the last job of
    /// its batch, ONE note per output (the planner's `plan_note`) with a section per job.
    async fn investigation_finish(
        &self,
        owner: &str,
        id: Uuid,
        result: InvestigationResult,
        now: DateTime<Utc>,
    ) -> Result<Finished> {
        flow::investigation_finish(self, owner, id, result, now).await
    }
    /// Records several results as [`investigation_finish`](Store::investigation_finish) does,
    /// in ONE transaction; one `Finished` per result, in order.
    async fn investigations_finish(
        &self,
        owner: &str,
        results: Vec<(Uuid, InvestigationResult)>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Finished>> {
        flow::investigations_finish(self, owner, results, now).await
    }
    /// Gives back the investigations `owner` holds (graceful shutdown).
    async fn investigation_release(&self, owner: &str) -> Result<u64>;
    /// Asks for `investigators` to run on a case now, as one batch with `trigger` (`manual`,
    /// `every`), durably. `Ok(None)`: no such case.
    async fn investigations_request(
        &self,
        case_id: Uuid,
        investigators: &[String],
        trigger: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Uuid>> {
        flow::investigations_request(self, case_id, investigators, trigger, now).await
    }
    /// Open cases `investigator` ran on before and with no run of it created since `since`
    /// (the candidates of a periodic re-run), by id after `after`, at most `limit`.
    async fn investigations_stale(
        &self,
        investigator: &str,
        since: DateTime<Utc>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Uuid>>;
    /// A file an investigation attached.
    async fn attachment_get(&self, id: Uuid) -> Result<Option<StoredAttachment>>;
    /// Every watched page's state, by name.
    async fn watches_list(&self) -> Result<Vec<WatchRow>>;
    /// Writes a watched page's state (inserted or replaced, by name).
    async fn watch_save(&self, row: &WatchRow) -> Result<()>;
    /// Writes new versions of settings documents, all or none: a change whose files equal the
    /// current version's writes nothing. The versions written, by kind.
    async fn settings_apply(
        &self,
        changes: &[SettingsChange],
        author: &str,
        comment: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, u32)>>;
    /// The current version of a kind, if any was written.
    async fn settings_current(&self, kind: &str) -> Result<Option<SettingsVersion>>;
    /// Every version of a kind, newest first, without their files.
    async fn settings_versions(&self, kind: &str) -> Result<Vec<SettingsVersion>>;
    /// One version of a kind.
    async fn settings_version(&self, kind: &str, version: u32) -> Result<Option<SettingsVersion>>;
    /// A number that grows with every settings version written (0: none): a worker that saw
    /// the same number last time has nothing to reload.
    async fn settings_generation(&self) -> Result<i64>;
    /// Records an action in the audit log; its id.
    async fn audit_add(&self, entry: &NewAudit, now: DateTime<Utc>) -> Result<i64>;
    /// The audit log, newest first.
    async fn audit_list(&self, filter: &AuditFilter) -> Result<Page<AuditEntry>>;
    /// Adds a console account; false (nothing written) when the name is taken.
    async fn user_add(&self, user: &User) -> Result<bool>;
    /// One account by name.
    async fn user_get(&self, name: &str) -> Result<Option<User>>;
    /// Every account, by name.
    async fn users_list(&self) -> Result<Vec<User>>;
    /// Whether any account exists (then the console is never open).
    async fn users_exist(&self) -> Result<bool>;
    /// Removes an account and all its sessions; false when there was none.
    async fn user_remove(&self, name: &str) -> Result<bool>;
    /// Sets an account's password hash and ends all its sessions; false when there is none.
    async fn user_set_hash(&self, name: &str, hash: &str) -> Result<bool>;
    /// Keeps a new session.
    async fn session_add(&self, session: &NewSession) -> Result<()>;
    /// The live session `id_hash` with its user's role, marked seen at `now`: none when it is
    /// unknown, past its absolute expiry, unseen since `idle_since`, or its user is gone or
    /// disabled.
    async fn session_touch(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
        idle_since: DateTime<Utc>,
    ) -> Result<Option<SessionUser>>;
    /// Ends one session (signing out); false when it was not there.
    async fn session_delete(&self, id_hash: &str) -> Result<bool>;
    /// Ends every session of a user (sign out everywhere); how many.
    async fn sessions_delete_user(&self, user: &str) -> Result<u64>;
    /// Records a sign-in attempt (attempts older than a day are pruned on the way).
    async fn login_attempt_add(
        &self,
        name: &str,
        ip: &str,
        ok: bool,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// Failed sign-ins since `since`, for this name and for this address.
    async fn login_failures(
        &self,
        name: &str,
        ip: &str,
        since: DateTime<Utc>,
    ) -> Result<LoginFailures>;
    /// Keeps a screenshot of a watched page (replacing the one of that kind).
    async fn watch_image_put(
        &self,
        name: &str,
        kind: WatchImageKind,
        image: &WatchImage,
    ) -> Result<()>;
    /// A watched page's screenshot of that kind, if one was taken.
    async fn watch_image_get(&self, name: &str, kind: WatchImageKind)
        -> Result<Option<WatchImage>>;
    /// The change's screenshot becomes the baseline's (a change accepted); none: nothing moves.
    async fn watch_image_promote(&self, name: &str) -> Result<()>;
    /// Investigations matching every filter, newest first.
    async fn investigations_list(
        &self,
        filter: &InvestigationFilter,
    ) -> Result<Page<InvestigationRecord>>;
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
    /// Open cases per source, most first (then by name).
    async fn open_counts_by_source(&self) -> Result<Vec<NameCount>>;
    /// Alerts received in `[since, until)` per UTC hour, hours with none left out, oldest first.
    async fn alerts_per_hour(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<HourCount>>;
    /// Alerts received in `[since, until)` per type, most first (then by type), at most `limit`.
    async fn alert_type_counts(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<NameCount>>;
    /// Alerts received in `[since, until)` per triage rule that decided them (`None`: none did),
    /// most first.
    async fn alert_rule_counts(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<RuleCount>>;
    /// Per case severity (most severe first): the resolves in `[since, until)` and their mean
    /// time from the case's (re)opening before each.
    async fn resolve_times(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<ResolveTime>>;
    /// The latest `limit` alerts received, newest first.
    async fn alerts_recent(&self, limit: u32) -> Result<Vec<StoredAlert>>;
    /// Other cases of the same type and resource, or with an alert from the actor (principal
    /// or IP) of this case's latest alert; most recently seen first, at most `limit`.
    async fn cases_similar(&self, case_id: Uuid, limit: u32) -> Result<Vec<Case>>;

    /// Every feed's copy and state; bodies only when `with_bodies`.
    async fn feeds_list(&self, with_bodies: bool) -> Result<Vec<FeedCopy>>;
    /// Stores a new good copy of a feed (it replaces the last; the error is cleared), durably.
    async fn feed_saved(&self, copy: &FeedCopy) -> Result<()>;
    /// Records a download that brought no new copy: `error` `None` means the copy is still
    /// current (304 Not Modified); otherwise the copy stays and the error is shown.
    async fn feed_checked(
        &self,
        name: &str,
        url: &str,
        format: &str,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()>;

    /// A reputation API's unexpired answer about `subject`, if cached.
    async fn intel_cache_get(
        &self,
        provider: &str,
        subject: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<IntelAnswer>>;
    /// Keeps an answer until `expires_at` (it replaces the last one).
    async fn intel_cache_put(
        &self,
        provider: &str,
        subject: &str,
        answer: &serde_json::Value,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<()>;
    /// Forgets expired answers (and daily counts older than yesterday); how many answers.
    async fn intel_cache_prune(&self, now: DateTime<Utc>) -> Result<u64>;
    /// Counts one request to `provider` on `now`'s UTC day if fewer than `daily` were counted;
    /// false (nothing counted) when the day's quota is used.
    async fn intel_usage_take(
        &self,
        provider: &str,
        daily: u32,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// Marks `now`'s UTC day as used up for `provider` (it said its quota is exceeded).
    async fn intel_usage_exhaust(
        &self,
        provider: &str,
        daily: u32,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// Requests counted for `provider` on `now`'s UTC day.
    async fn intel_usage(&self, provider: &str, now: DateTime<Utc>) -> Result<u32>;

    /// Takes the next turn of the shared rate limit `key` (e.g. a GitHub credential's hash):
    /// turns `pace` apart, at most `per_hour` in any hour, none while a hold lasts. Every
    /// instance on one database shares it. A turn given is counted; a turn further than `wait`
    /// from `now` is not given (`Later`).
    async fn pace_reserve(
        &self,
        key: &str,
        pace: Duration,
        per_hour: u32,
        wait: Duration,
        now: DateTime<Utc>,
    ) -> Result<PaceTurn>;
    /// Holds `key` until `until` (a provider said its limit lasts until then); the later of
    /// two holds wins.
    async fn pace_hold(&self, key: &str, until: DateTime<Utc>) -> Result<()>;
    /// Until when `key` is held, if that is after `now`.
    async fn pace_held(&self, key: &str, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>>;

    /// Whether this process leads the scheduled work (digest, reminders, expiry, retention,
    /// feed refresh, periodic re-runs, tamper watch), asking to lead when it does not. An
    /// embedded store has one process, which always leads; a shared database chooses one by a
    /// lock that moves when its holder dies.
    async fn lead(&self) -> Result<bool> {
        Ok(true)
    }

    async fn status(&self) -> Result<StatusCounts>;
    /// Readiness: the database answers.
    async fn ping(&self) -> Result<()>;
    /// Closes the connections (at exit); the store is not used after.
    async fn close(&self);
}

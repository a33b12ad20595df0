//! The SQLite store (WAL, one writer connection, a few readers), Irene's zero-set-up default.
//! Owns SQL for SQLite only; what the rows mean is decided by `irene-core` and the pipeline.

use crate::time::{from_micros, micros, now};
use crate::{sqlite_events, sqlite_outbox};
use crate::{
    CaseDetail, CaseFilter, ClaimLimit, CommitSummary, DeliveryFilter, DeliveryRow, EventFilter,
    Finish, InboxRow, NewDelivery, NewInbox, Occurrence, Page, Processed, QuarantineEntry,
    Quarantined, Result, StatusCounts, Store, StoreError, StoredAlert, StoredEvent,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use irene_core::{
    correlate, expire, reopen_by_hand, resolve_by_hand, Case, Change, Delivery, Judged, NoOutputs,
    Planner, Severity, TicketState, TimelineEntry,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool, Transaction};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// Says which deliveries a case change implies; they are written in the change's transaction.
    planner: Arc<dyn Planner>,
    /// Held for the store's life: one process per data directory.
    _lock: std::fs::File,
}

impl SqliteStore {
    /// Opens (creating if needed) `dir/irene.db` and applies the embedded migrations.
    ///
    /// The data directory is locked for this process: an embedded store has one owner, so
    /// leases left by a previous (crashed) run are released at once instead of waiting for
    /// them to expire.
    pub async fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::DataDir(format!("{}: {e}", dir.display())))?;
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("irene.lock"))
            .map_err(|e| StoreError::DataDir(format!("{}: {e}", dir.display())))?;
        lock.try_lock().map_err(|_| {
            StoreError::DataDir(format!(
                "{} is in use by another irene process",
                dir.display()
            ))
        })?;
        let opts = SqliteConnectOptions::new()
            .filename(dir.join("irene.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL by default: the pipeline's own writes (leases, verdicts, case changes)
            // can be replayed from the inbox, so they need not wait for fsync. Writes that
            // answer a client (the intake's 202) switch to FULL: see `durable`.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-8000")
            .pragma("wal_autocheckpoint", "4000");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts.read_only(true))
            .await?;
        sqlx::query("UPDATE inbox SET lease_owner = NULL, lease_until = NULL WHERE state = 'pending' AND lease_owner IS NOT NULL")
            .execute(&writer)
            .await?;
        sqlx::query("UPDATE outbox SET state = 'pending', lease_owner = NULL, lease_until = NULL WHERE state = 'sending'")
            .execute(&writer)
            .await?;
        Ok(SqliteStore {
            writer,
            reader,
            planner: Arc::new(NoOutputs),
            _lock: lock,
        })
    }

    /// Sets the planner whose deliveries every case change writes (default: no outputs).
    pub fn with_planner(mut self, planner: Arc<dyn Planner>) -> Self {
        self.planner = planner;
        self
    }

    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// Makes the writer connection's next commits fsync before returning (`on`) or not. In WAL
/// mode an fsync'd commit also makes every earlier commit durable, so only the writes a client
/// is answered about need it; a crash loses at most replayable pipeline work.
async fn durable(conn: &mut sqlx::SqliteConnection, on: bool) -> Result<()> {
    let pragma = if on {
        "PRAGMA synchronous = FULL"
    } else {
        "PRAGMA synchronous = NORMAL"
    };
    sqlx::query(pragma).execute(&mut *conn).await?;
    Ok(())
}

/// Inserts inbox rows with one statement. `fsync`: wrap it in `PRAGMA synchronous = FULL` …
/// `NORMAL` within the same call, so that the autocommit of this one INSERT is fsync'd without
/// two more round trips to SQLite's thread. (If the INSERT fails, the connection stays FULL:
/// slower, never less durable.)
async fn inbox_insert(
    conn: &mut sqlx::SqliteConnection,
    items: &[NewInbox],
    fsync: bool,
) -> Result<()> {
    let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(if fsync {
        "PRAGMA synchronous = FULL; INSERT INTO inbox (id, source, received_at, body, items) "
    } else {
        "INSERT INTO inbox (id, source, received_at, body, items) "
    });
    qb.push_values(items, |mut b, it| {
        b.push_bind(it.id.to_string())
            .push_bind(it.source.clone())
            .push_bind(micros(it.received_at))
            .push_bind(it.body.clone())
            .push_bind(it.items);
    });
    if fsync {
        qb.push("; PRAGMA synchronous = NORMAL");
    }
    qb.build().execute(&mut *conn).await?;
    Ok(())
}

// Reads use `fetch_all`, never `fetch_one`/`fetch_optional`: sqlx resets a statement whose
// rows were not all read only later, and until then it pins the connection's WAL snapshot,
// so the next read on that pooled connection would not see newer commits (sqlx #2543).

fn uuid(s: &str, what: &'static str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|e| StoreError::corrupt(what, e))
}

fn case_from_doc(doc: &str) -> Result<Case> {
    serde_json::from_str(doc).map_err(|e| StoreError::corrupt("case", e))
}

fn to_json<T: serde::Serialize>(v: &T, what: &'static str) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::corrupt(what, e))
}

fn severity_rank(s: Severity) -> i64 {
    s as i64
}

fn search_text(c: &Case) -> String {
    let mut s = String::with_capacity(c.title.len() + c.key.len() + c.kind.len() + 16);
    for part in [
        &c.title,
        &c.key,
        &c.kind,
        c.account.as_deref().unwrap_or(""),
        c.resource.id.as_deref().unwrap_or(""),
    ] {
        s.push_str(&part.to_lowercase());
        s.push('\n');
    }
    s
}

async fn load_case(tx: &mut Transaction<'_, Sqlite>, id: Uuid) -> Result<Option<Case>> {
    let row = sqlx::query("SELECT doc FROM cases WHERE id = ?")
        .bind(id.to_string())
        .fetch_all(&mut **tx)
        .await?;
    row.first()
        .map(|r| case_from_doc(r.get::<&str, _>(0)))
        .transpose()
}

/// Rows per multi-row statement (SQLite allows 32,766 bound values; alerts bind 11 each).
const CHUNK: usize = 500;

/// An alert about to be inserted.
struct AlertRow<'a> {
    id: String,
    inbox_id: String,
    index: i64,
    case_id: Option<String>,
    received_at: i64,
    doc: String,
    judged: &'a Judged,
}

/// Writes case changes, their timelines and the deliveries they imply: always together, in the
/// caller's transaction. A case changed several times is written once, in its last state;
/// every timeline entry stays. `skip`: an output that is told nothing.
async fn write_changes(
    tx: &mut Transaction<'_, Sqlite>,
    changes: &[Change],
    planner: &dyn Planner,
    skip: Option<&str>,
) -> Result<()> {
    let mut last: HashMap<Uuid, usize> = HashMap::with_capacity(changes.len());
    for (i, ch) in changes.iter().enumerate() {
        last.insert(ch.case.id, i);
    }
    let mut finals: Vec<&Case> = last.values().map(|&i| &changes[i].case).collect();
    finals.sort_by_key(|c| c.id);
    for chunk in finals.chunks(CHUNK) {
        let mut rows = Vec::with_capacity(chunk.len());
        for c in chunk {
            rows.push((c, to_json(c, "case")?, search_text(c)));
        }
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO cases (id, key, source, severity_rank, status, last_seen, search, doc) ",
        );
        qb.push_values(rows, |mut b, (c, doc, search)| {
            b.push_bind(c.id.to_string())
                .push_bind(c.key.clone())
                .push_bind(c.source.clone())
                .push_bind(severity_rank(c.severity))
                .push_bind(c.status.as_str())
                .push_bind(micros(c.last_seen))
                .push_bind(search)
                .push_bind(doc);
        });
        qb.push(
            " ON CONFLICT(id) DO UPDATE SET severity_rank = excluded.severity_rank, status = excluded.status,
              last_seen = excluded.last_seen, search = excluded.search, doc = excluded.doc",
        );
        qb.build().execute(&mut **tx).await?;
    }
    let entries: Vec<(Uuid, &TimelineEntry)> = changes
        .iter()
        .flat_map(|ch| ch.timeline.iter().map(move |t| (ch.case.id, t)))
        .collect();
    for chunk in entries.chunks(CHUNK) {
        let mut rows = Vec::with_capacity(chunk.len());
        for (case_id, t) in chunk {
            rows.push((case_id, t, to_json(&t.detail, "timeline")?));
        }
        let mut qb: QueryBuilder<Sqlite> =
            QueryBuilder::new("INSERT INTO timeline (case_id, at, kind, alert_id, detail) ");
        qb.push_values(rows, |mut b, (case_id, t, detail)| {
            b.push_bind(case_id.to_string())
                .push_bind(micros(t.at))
                .push_bind(t.kind.as_str())
                .push_bind(t.alert_id.map(|a| a.to_string()))
                .push_bind(detail);
        });
        qb.build().execute(&mut **tx).await?;
    }
    sqlite_outbox::enqueue_planned(&mut *tx, changes, planner, skip, now()).await?;
    Ok(())
}

/// A `<micros>.<uuid>` cursor (cases by last seen, events by time).
pub(crate) fn parse_time_cursor(cursor: &str) -> Result<(i64, String)> {
    let (t, id) = cursor.split_once('.').ok_or(StoreError::InvalidCursor)?;
    let t = t.parse::<i64>().map_err(|_| StoreError::InvalidCursor)?;
    Uuid::parse_str(id).map_err(|_| StoreError::InvalidCursor)?;
    Ok((t, id.to_string()))
}

#[async_trait]
impl Store for SqliteStore {
    async fn inbox_append(&self, items: &[NewInbox]) -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        let mut conn = self.writer.acquire().await?;
        // Every statement is a round trip to SQLite's thread, so a group that fits one
        // multi-row INSERT is written by that statement alone (atomic on its own).
        if items.len() <= CHUNK {
            return inbox_insert(&mut conn, items, true).await;
        }
        durable(&mut conn, true).await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        for chunk in items.chunks(CHUNK) {
            inbox_insert(&mut tx, chunk, false).await?;
        }
        tx.commit().await?;
        durable(&mut conn, false).await?;
        Ok(())
    }

    async fn inbox_claim(
        &self,
        owner: &str,
        limit: ClaimLimit,
        lease: Duration,
    ) -> Result<Vec<InboxRow>> {
        let now = micros(now());
        let until = now + i64::try_from(lease.as_micros()).unwrap_or(i64::MAX / 2);
        let rows = sqlx::query(
            "UPDATE inbox SET lease_owner = ?, lease_until = ?, attempts = attempts + 1
             WHERE id IN (SELECT id FROM (
                            SELECT id, SUM(items) OVER (ORDER BY id) - items AS before
                            FROM inbox WHERE state = 'pending'
                              AND (lease_until IS NULL OR lease_until < ?) ORDER BY id LIMIT ?)
                          WHERE before = 0 OR before < ?)
             RETURNING id, source, received_at, body, attempts, items",
        )
        .bind(owner)
        .bind(until)
        .bind(now)
        .bind(limit.payloads.max(1) as i64)
        .bind(limit.items)
        .fetch_all(&self.writer)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(InboxRow {
                id: uuid(r.get::<&str, _>(0), "inbox id")?,
                source: r.get(1),
                received_at: from_micros(r.get(2)),
                body: r.get(3),
                attempts: r.get(4),
                items: r.get(5),
            });
        }
        out.sort_by_key(|r| r.id);
        Ok(out)
    }

    async fn inbox_release(&self, owner: &str) -> Result<u64> {
        let r = sqlx::query(
            "UPDATE inbox SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ? AND state = 'pending'",
        )
        .bind(owner)
        .execute(&self.writer)
        .await?;
        Ok(r.rows_affected())
    }

    async fn sigma_windows(&self) -> Result<Option<String>> {
        let rows = sqlx::query("SELECT state FROM sigma_windows WHERE id = 1")
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.first().map(|r| r.get::<String, _>(0)))
    }

    async fn commit_processed_with(
        &self,
        owner: &str,
        batch: Vec<Processed>,
        windows: Option<&str>,
    ) -> Result<CommitSummary> {
        let mut summary = CommitSummary::default();
        let now = now();
        let mut tx = self.writer.begin().await?;

        // 1. Take the rows this worker still holds; the others are skipped whole.
        let mut done: HashSet<String> = HashSet::with_capacity(batch.len());
        let ids: Vec<String> = batch.iter().map(|p| p.inbox_id.to_string()).collect();
        for chunk in ids.chunks(CHUNK) {
            let mut qb: QueryBuilder<Sqlite> =
                QueryBuilder::new("UPDATE inbox SET state = 'done', processed_at = ");
            qb.push_bind(micros(now))
                .push(", lease_owner = NULL, lease_until = NULL WHERE state = 'pending' AND lease_owner = ")
                .push_bind(owner)
                .push(" AND id IN (");
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(id.clone());
            }
            qb.push(") RETURNING id");
            for row in qb.build().fetch_all(&mut *tx).await? {
                done.insert(row.get::<String, _>(0));
            }
        }
        let batch: Vec<Processed> = batch
            .into_iter()
            .filter(|p| done.contains(&p.inbox_id.to_string()))
            .collect();
        summary.rows_done = batch.len();
        summary.rows_skipped = ids.len() - batch.len();

        // 2. The events, each once per source id; the Sigma hits of the new ones join the
        //    payload's alerts, in item order.
        let mut event_rows = Vec::new();
        for p in &batch {
            for e in &p.events {
                event_rows.push(sqlite_events::EventRow {
                    id: Uuid::now_v7().to_string(),
                    inbox_id: p.inbox_id,
                    index: e.index,
                    received_at: p.received_at,
                    event: &e.event,
                    detections: &e.detections,
                });
            }
        }
        let stored = sqlite_events::insert(&mut tx, &event_rows).await?;
        summary.events = stored.len();
        let mut rows = event_rows.iter();
        let mut alert_lists: Vec<Vec<(i64, &Judged)>> = Vec::with_capacity(batch.len());
        for p in &batch {
            let mut list: Vec<(i64, &Judged)> = p.alerts.iter().map(|(i, j)| (*i, j)).collect();
            for e in &p.events {
                let new = rows.next().is_some_and(|r| stored.contains(&r.id));
                if new {
                    list.extend(e.hits.iter().map(|j| (e.index, j)));
                }
            }
            list.sort_by_key(|(i, _)| *i);
            alert_lists.push(list);
        }

        // 3. The cases these alerts touch, in one read.
        let mut keys: Vec<&str> = alert_lists
            .iter()
            .flat_map(|l| l.iter().map(|(_, j)| j.key.as_str()))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let mut cases: HashMap<String, Case> = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(CHUNK) {
            let mut qb: QueryBuilder<Sqlite> =
                QueryBuilder::new("SELECT doc FROM cases WHERE key IN (");
            let mut sep = qb.separated(", ");
            for k in chunk {
                sep.push_bind(k.to_string());
            }
            qb.push(")");
            for row in qb.build().fetch_all(&mut *tx).await? {
                let case = case_from_doc(row.get::<&str, _>(0))?;
                cases.insert(case.key.clone(), case);
            }
        }

        // 4. Correlate in payload order, against the cases as this batch leaves them.
        let mut alert_rows: Vec<AlertRow> = Vec::new();
        let mut quarantine_rows: Vec<(Uuid, &Quarantined, DateTime<Utc>)> = Vec::new();
        for (p, list) in batch.iter().zip(&alert_lists) {
            for q in &p.quarantine {
                quarantine_rows.push((p.inbox_id, q, p.received_at));
            }
            for &(index, judged) in list {
                let alert_id = Uuid::now_v7();
                let existing = cases.get(&judged.key);
                let change = correlate(existing, judged, alert_id, Uuid::now_v7(), now);
                let case_id = change
                    .as_ref()
                    .map(|c| c.case.id)
                    .or(existing.map(|c| c.id));
                alert_rows.push(AlertRow {
                    id: alert_id.to_string(),
                    inbox_id: p.inbox_id.to_string(),
                    index,
                    case_id: case_id.map(|c| c.to_string()),
                    received_at: micros(p.received_at),
                    doc: to_json(judged, "alert")?,
                    judged,
                });
                if let Some(change) = change {
                    cases.insert(change.case.key.clone(), change.case.clone());
                    summary.changes.push(change);
                }
            }
        }

        // 5. Write it all with multi-row statements.
        for chunk in alert_rows.chunks(CHUNK) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO alerts (id, inbox_id, item_index, source, type, case_key, case_id, severity, state, received_at, doc) ",
            );
            qb.push_values(chunk, |mut b, r| {
                b.push_bind(r.id.clone())
                    .push_bind(r.inbox_id.clone())
                    .push_bind(r.index)
                    .push_bind(r.judged.alert.source.clone())
                    .push_bind(r.judged.alert.kind.clone())
                    .push_bind(r.judged.key.clone())
                    .push_bind(r.case_id.clone())
                    .push_bind(r.judged.severity.as_str())
                    .push_bind(r.judged.alert.state.as_str())
                    .push_bind(r.received_at)
                    .push_bind(r.doc.clone());
            });
            qb.build().execute(&mut *tx).await?;
        }
        summary.alerts = alert_rows.len();
        for chunk in quarantine_rows.chunks(CHUNK) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO quarantine (id, inbox_id, item_index, source, received_at, error, raw) ",
            );
            qb.push_values(chunk, |mut b, (inbox_id, q, received_at)| {
                b.push_bind(Uuid::now_v7().to_string())
                    .push_bind(inbox_id.to_string())
                    .push_bind(q.item_index)
                    .push_bind(q.source.clone())
                    .push_bind(micros(*received_at))
                    .push_bind(q.error.clone())
                    .push_bind(q.raw.clone());
            });
            qb.build().execute(&mut *tx).await?;
        }
        summary.quarantined = quarantine_rows.len();
        write_changes(&mut tx, &summary.changes, &*self.planner, None).await?;
        if let (Some(state), true) = (windows, summary.rows_done > 0 && summary.rows_skipped == 0) {
            sqlx::query(
                "INSERT INTO sigma_windows (id, state, updated_at) VALUES (1, ?, ?)
                 ON CONFLICT (id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
            )
            .bind(state)
            .bind(micros(now))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(summary)
    }

    async fn cases_list(&self, f: &CaseFilter) -> Result<Page<Case>> {
        let limit = f.limit.clamp(1, 500) as i64;
        let mut qb: QueryBuilder<Sqlite> =
            QueryBuilder::new("SELECT doc, last_seen, id FROM cases WHERE 1 = 1");
        if let Some(s) = f.severity {
            qb.push(" AND severity_rank = ").push_bind(severity_rank(s));
        }
        if let Some(s) = f.status {
            qb.push(" AND status = ").push_bind(s.as_str());
        }
        if let Some(s) = &f.source {
            qb.push(" AND source = ").push_bind(s.clone());
        }
        if let Some(q) = f.q.as_deref().filter(|q| !q.trim().is_empty()) {
            let escaped = q
                .trim()
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            qb.push(" AND search LIKE ")
                .push_bind(format!("%{escaped}%"))
                .push(" ESCAPE '\\'");
        }
        if let Some(c) = &f.cursor {
            let (t, id) = parse_time_cursor(c)?;
            qb.push(" AND (last_seen < ").push_bind(t);
            qb.push(" OR (last_seen = ")
                .push_bind(t)
                .push(" AND id < ")
                .push_bind(id)
                .push("))");
        }
        qb.push(" ORDER BY last_seen DESC, id DESC LIMIT ")
            .push_bind(limit + 1);
        let rows = qb.build().fetch_all(&self.reader).await?;
        let mut items = Vec::with_capacity(rows.len());
        let mut next_cursor = None;
        for (i, r) in rows.iter().enumerate() {
            if i as i64 == limit {
                if let Some(prev) = rows.get(i - 1) {
                    next_cursor = Some(format!(
                        "{}.{}",
                        prev.get::<i64, _>(1),
                        prev.get::<&str, _>(2)
                    ));
                }
                break;
            }
            items.push(case_from_doc(r.get::<&str, _>(0))?);
        }
        Ok(Page { items, next_cursor })
    }

    async fn case_get(&self, id: Uuid) -> Result<Option<CaseDetail>> {
        let Some(row) = sqlx::query("SELECT doc FROM cases WHERE id = ?")
            .bind(id.to_string())
            .fetch_all(&self.reader)
            .await?
            .pop()
        else {
            return Ok(None);
        };
        let case = case_from_doc(row.get::<&str, _>(0))?;
        let timeline_rows = sqlx::query(
            "SELECT at, kind, alert_id, detail FROM timeline WHERE case_id = ? ORDER BY seq",
        )
        .bind(id.to_string())
        .fetch_all(&self.reader)
        .await?;
        let mut timeline = Vec::with_capacity(timeline_rows.len());
        for r in timeline_rows {
            timeline.push(TimelineEntry {
                at: from_micros(r.get(0)),
                kind: r
                    .get::<&str, _>(1)
                    .parse()
                    .map_err(|e: String| StoreError::corrupt("timeline", e))?,
                alert_id: r
                    .get::<Option<&str>, _>(2)
                    .map(|a| uuid(a, "timeline alert id"))
                    .transpose()?,
                detail: serde_json::from_str(r.get::<&str, _>(3))
                    .map_err(|e| StoreError::corrupt("timeline", e))?,
            });
        }
        let occ_rows = sqlx::query(
            "SELECT id, received_at, severity, state FROM alerts WHERE case_id = ?
             ORDER BY received_at DESC, id DESC LIMIT 200",
        )
        .bind(id.to_string())
        .fetch_all(&self.reader)
        .await?;
        let mut occurrences = Vec::with_capacity(occ_rows.len());
        for r in occ_rows {
            occurrences.push(Occurrence {
                alert_id: uuid(r.get::<&str, _>(0), "alert id")?,
                received_at: from_micros(r.get(1)),
                severity: Severity::from_str(r.get::<&str, _>(2))
                    .map_err(|e| StoreError::corrupt("alert", e))?,
                state: r.get(3),
            });
        }
        Ok(Some(CaseDetail {
            case,
            occurrences,
            timeline,
        }))
    }

    async fn case_resolve(
        &self,
        id: Uuid,
        by: &str,
        reason: &str,
    ) -> Result<Option<(Case, Option<Change>)>> {
        let mut conn = self.writer.acquire().await?;
        durable(&mut conn, true).await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let Some(case) = load_case(&mut tx, id).await? else {
            return Ok(None);
        };
        let change = resolve_by_hand(&case, now(), by, reason);
        if let Some(ch) = &change {
            write_changes(&mut tx, std::slice::from_ref(ch), &*self.planner, None).await?;
        }
        tx.commit().await?;
        durable(&mut conn, false).await?;
        let case = change.as_ref().map(|c| c.case.clone()).unwrap_or(case);
        Ok(Some((case, change)))
    }

    async fn cases_expire(
        &self,
        source: &str,
        expiry: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<Change>> {
        let mut tx = self.writer.begin().await?;
        let rows = sqlx::query("SELECT doc FROM cases WHERE status = 'open' AND source = ? AND last_seen < ? LIMIT 1000")
            .bind(source)
            .bind(micros(now - expiry))
            .fetch_all(&mut *tx)
            .await?;
        let mut changes = Vec::new();
        for r in rows {
            let case = case_from_doc(r.get::<&str, _>(0))?;
            if let Some(ch) = expire(&case, now, expiry) {
                changes.push(ch);
            }
        }
        write_changes(&mut tx, &changes, &*self.planner, None).await?;
        tx.commit().await?;
        Ok(changes)
    }

    async fn alert_get(&self, id: Uuid) -> Result<Option<StoredAlert>> {
        let Some(r) =
            sqlx::query("SELECT case_id, inbox_id, received_at, doc FROM alerts WHERE id = ?")
                .bind(id.to_string())
                .fetch_all(&self.reader)
                .await?
                .pop()
        else {
            return Ok(None);
        };
        let judged: Judged = serde_json::from_str(r.get::<&str, _>(3))
            .map_err(|e| StoreError::corrupt("alert", e))?;
        Ok(Some(StoredAlert {
            id,
            case_id: r
                .get::<Option<&str>, _>(0)
                .map(|c| uuid(c, "case id"))
                .transpose()?,
            inbox_id: uuid(r.get::<&str, _>(1), "inbox id")?,
            received_at: from_micros(r.get(2)),
            judged,
        }))
    }

    async fn events_list(&self, filter: &EventFilter) -> Result<Page<StoredEvent>> {
        sqlite_events::list(&self.reader, filter).await
    }

    async fn events_prune(&self, before: DateTime<Utc>) -> Result<u64> {
        sqlite_events::prune(&self.writer, before).await
    }

    async fn quarantine_list(
        &self,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<QuarantineEntry>> {
        let limit = limit.clamp(1, 500) as i64;
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT id, inbox_id, item_index, source, received_at, error, raw FROM quarantine WHERE state = 'quarantined'",
        );
        if let Some(c) = cursor {
            Uuid::parse_str(c).map_err(|_| StoreError::InvalidCursor)?;
            qb.push(" AND id < ").push_bind(c.to_string());
        }
        qb.push(" ORDER BY id DESC LIMIT ").push_bind(limit + 1);
        let rows = qb.build().fetch_all(&self.reader).await?;
        let mut items = Vec::new();
        let mut next_cursor = None;
        for (i, r) in rows.iter().enumerate() {
            if i as i64 == limit {
                next_cursor = items.last().map(|e: &QuarantineEntry| e.id.to_string());
                break;
            }
            let raw_text: &str = r.get(6);
            items.push(QuarantineEntry {
                id: uuid(r.get::<&str, _>(0), "quarantine id")?,
                inbox_id: uuid(r.get::<&str, _>(1), "inbox id")?,
                item_index: r.get(2),
                source: r.get(3),
                received_at: from_micros(r.get(4)),
                error: r.get(5),
                raw: serde_json::from_str(raw_text)
                    .unwrap_or_else(|_| serde_json::Value::String(raw_text.to_string())),
            });
        }
        Ok(Page { items, next_cursor })
    }

    async fn quarantine_requeue(&self, id: Uuid, now: DateTime<Utc>) -> Result<Option<Uuid>> {
        let mut conn = self.writer.acquire().await?;
        durable(&mut conn, true).await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let Some(r) = sqlx::query(
            "SELECT source, raw FROM quarantine WHERE id = ? AND state = 'quarantined'",
        )
        .bind(id.to_string())
        .fetch_all(&mut *tx)
        .await?
        .pop() else {
            return Ok(None);
        };
        let source: String = r.get(0);
        let raw: String = r.get(1);
        let inbox_id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO inbox (id, source, received_at, body, items) VALUES (?, ?, ?, ?, 1)",
        )
        .bind(inbox_id.to_string())
        .bind(source)
        .bind(micros(now))
        .bind(raw.into_bytes())
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE quarantine SET state = 'requeued' WHERE id = ?")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        durable(&mut conn, false).await?;
        Ok(Some(inbox_id))
    }

    async fn status(&self) -> Result<StatusCounts> {
        let r = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM inbox WHERE state = 'pending'),
                    (SELECT COUNT(*) FROM quarantine WHERE state = 'quarantined'),
                    (SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'sending')),
                    (SELECT COUNT(*) FROM outbox WHERE state = 'dead')",
        )
        .fetch_all(&self.reader)
        .await?;
        Ok(r.first()
            .map(|r| StatusCounts {
                inbox_pending: r.get(0),
                quarantined: r.get(1),
                outbox_pending: r.get(2),
                dead_letters: r.get(3),
            })
            .unwrap_or_default())
    }

    async fn outbox_claim(
        &self,
        owner: &str,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Delivery>> {
        let mut conn = self.writer.acquire().await?;
        sqlite_outbox::claim(&mut conn, owner, limit, lease, now()).await
    }

    async fn outbox_finish(&self, owner: &str, id: i64, finish: Finish) -> Result<bool> {
        let mut conn = self.writer.acquire().await?;
        sqlite_outbox::finish(&mut conn, owner, id, finish, now()).await
    }

    async fn outbox_release(&self, owner: &str) -> Result<u64> {
        let r = sqlx::query(
            "UPDATE outbox SET state = 'pending', lease_owner = NULL, lease_until = NULL
             WHERE state = 'sending' AND lease_owner = ?",
        )
        .bind(owner)
        .execute(&self.writer)
        .await?;
        Ok(r.rows_affected())
    }

    async fn outbox_next_due(&self) -> Result<Option<DateTime<Utc>>> {
        let rows = sqlx::query(
            "SELECT MIN(CASE WHEN state = 'sending' THEN lease_until ELSE next_at END)
             FROM outbox WHERE state IN ('pending', 'sending')",
        )
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .first()
            .and_then(|r| r.get::<Option<i64>, _>(0))
            .map(from_micros))
    }

    async fn outbox_list(&self, filter: &DeliveryFilter) -> Result<Page<DeliveryRow>> {
        sqlite_outbox::list(&self.reader, filter).await
    }

    async fn outbox_retry(&self, id: i64) -> Result<Option<DeliveryRow>> {
        let mut conn = self.writer.acquire().await?;
        durable(&mut conn, true).await?;
        let r = sqlite_outbox::retry(&mut conn, id, now()).await;
        durable(&mut conn, false).await?;
        r
    }

    async fn outbox_prune(&self, before: DateTime<Utc>) -> Result<u64> {
        let r = sqlx::query("DELETE FROM outbox WHERE state = 'done' AND updated_at < ?")
            .bind(micros(before))
            .execute(&self.writer)
            .await?;
        Ok(r.rows_affected())
    }

    async fn outbox_enqueue(&self, items: &[NewDelivery]) -> Result<()> {
        let mut conn = self.writer.acquire().await?;
        durable(&mut conn, true).await?;
        let r = sqlite_outbox::enqueue(&mut conn, items, now()).await;
        durable(&mut conn, false).await?;
        r
    }

    async fn ticket_record(
        &self,
        case_id: Uuid,
        output: &str,
        kind: &str,
        ticket: &TicketState,
    ) -> Result<()> {
        let mut conn = self.writer.acquire().await?;
        durable(&mut conn, true).await?;
        let r = sqlite_outbox::save_ticket(&mut conn, case_id, output, kind, ticket, now()).await;
        durable(&mut conn, false).await?;
        r
    }

    async fn ticket_find(
        &self,
        output: &str,
        reference: &str,
    ) -> Result<Option<(Uuid, TicketState)>> {
        let rows = sqlx::query(
            "SELECT case_id, url, data FROM tickets WHERE output = ? AND reference = ?",
        )
        .bind(output)
        .bind(reference)
        .fetch_all(&self.reader)
        .await?;
        let Some(r) = rows.first() else {
            return Ok(None);
        };
        let data = serde_json::from_str(r.get::<&str, _>(2))
            .map_err(|e| StoreError::corrupt("ticket", e))?;
        Ok(Some((
            uuid(r.get::<&str, _>(0), "ticket case id")?,
            TicketState {
                reference: reference.to_string(),
                url: r.get(1),
                data,
            },
        )))
    }

    async fn case_set_by_ticket(
        &self,
        output: &str,
        reference: &str,
        open: bool,
        by: &str,
    ) -> Result<Option<(Case, Option<Change>)>> {
        let mut conn = self.writer.acquire().await?;
        durable(&mut conn, true).await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let rows = sqlx::query("SELECT case_id FROM tickets WHERE output = ? AND reference = ?")
            .bind(output)
            .bind(reference)
            .fetch_all(&mut *tx)
            .await?;
        let Some(id) = rows.first().map(|r| r.get::<String, _>(0)) else {
            return Ok(None);
        };
        let Some(case) = load_case(&mut tx, uuid(&id, "ticket case id")?).await? else {
            return Ok(None);
        };
        let change = if open {
            reopen_by_hand(&case, now(), by)
        } else {
            resolve_by_hand(&case, now(), by, &format!("ticket closed on {output}"))
        };
        if let Some(ch) = &change {
            write_changes(
                &mut tx,
                std::slice::from_ref(ch),
                &*self.planner,
                Some(output),
            )
            .await?;
        }
        tx.commit().await?;
        durable(&mut conn, false).await?;
        let case = change.as_ref().map(|c| c.case.clone()).unwrap_or(case);
        Ok(Some((case, change)))
    }

    async fn job_due(&self, name: &str, every: Duration, now: DateTime<Utc>) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        let rows = sqlx::query("SELECT last_run FROM job_runs WHERE name = ?")
            .bind(name)
            .fetch_all(&mut *tx)
            .await?;
        let every = i64::try_from(every.as_micros()).unwrap_or(i64::MAX / 2);
        let due = match rows.first().map(|r| r.get::<i64, _>(0)) {
            None => {
                sqlx::query("INSERT INTO job_runs (name, last_run) VALUES (?, ?)")
                    .bind(name)
                    .bind(micros(now))
                    .execute(&mut *tx)
                    .await?;
                false
            }
            Some(last) if micros(now) - last >= every => {
                sqlx::query("UPDATE job_runs SET last_run = ? WHERE name = ?")
                    .bind(micros(now))
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
                true
            }
            Some(_) => false,
        };
        tx.commit().await?;
        Ok(due)
    }

    async fn cases_to_remind(
        &self,
        output: &str,
        min: Severity,
        untouched_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Case>> {
        let rows = sqlx::query(
            "SELECT c.doc FROM cases c JOIN tickets t ON t.case_id = c.id AND t.output = ?
             WHERE c.status = 'open' AND c.severity_rank >= ? AND t.reference <> ''
               AND t.touched_at < ?
               AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.case_id = c.id AND o.output = t.output
                               AND o.action = 'reminder' AND o.state IN ('pending', 'sending'))
             ORDER BY c.severity_rank DESC, c.last_seen DESC LIMIT ?",
        )
        .bind(output)
        .bind(severity_rank(min))
        .bind(micros(untouched_before))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| case_from_doc(r.get::<&str, _>(0)))
            .collect()
    }

    async fn open_counts(&self) -> Result<Vec<(Severity, i64)>> {
        let rows = sqlx::query(
            "SELECT severity_rank, COUNT(*) FROM cases WHERE status = 'open'
             GROUP BY severity_rank ORDER BY severity_rank DESC",
        )
        .fetch_all(&self.reader)
        .await?;
        let mut out = Vec::new();
        for r in rows {
            let rank: i64 = r.get(0);
            let sev = Severity::ALL
                .into_iter()
                .find(|s| severity_rank(*s) == rank)
                .ok_or_else(|| StoreError::corrupt("case severity", rank))?;
            out.push((sev, r.get(1)));
        }
        Ok(out)
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }
}

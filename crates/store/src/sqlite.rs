//! The SQLite store (WAL, one writer connection, a few readers), Irene's zero-set-up default.
//! Owns the SQL of reads, claims and lists for SQLite; what a write means is `flow.rs`'s.

use crate::page::{self, page};
use crate::sqlite_tx::SqliteTx;
use crate::time::{from_micros, micros};
use crate::tx::StoreTx;
use crate::{
    sqlite_accounts, sqlite_counts, sqlite_events, sqlite_intel, sqlite_investigations,
    sqlite_outbox, sqlite_pacing, sqlite_settings, sqlite_sources,
};
use crate::{
    AuditEntry, AuditFilter, CaseDetail, CaseFilter, CaseSort, ClaimLimit, DeliveryFilter,
    DeliveryRow, EventFilter, FeedCopy, InboxRow, IntelAnswer, InvestigationFilter,
    InvestigationJob, InvestigationRecord, LoginFailures, NewAudit, NewInbox, NewSession,
    Occurrence, Page, QuarantineEntry, Result, SessionUser, SettingsChange, SettingsVersion,
    SourceStats, StatusCounts, Store, StoreError, StoredAlert, StoredAttachment, StoredEvent, User,
    WatchImage, WatchImageKind, WatchRow,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use irene_core::{
    Case, Correlator, Delivery, Judged, NoCorrelations, NoOutputs, PaceTurn, Planner, Severity,
    TicketState, TimelineEntry,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};
use std::collections::HashMap;
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
    /// Counts new events in correlation windows inside the commit.
    correlator: Arc<dyn Correlator>,
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
        sqlite_investigations::release(&writer, None).await?;
        Ok(SqliteStore {
            writer,
            reader,
            planner: Arc::new(NoOutputs),
            correlator: Arc::new(NoCorrelations),
            _lock: lock,
        })
    }

    /// Sets the planner whose deliveries every case change writes (default: no outputs).
    pub fn with_planner(mut self, planner: Arc<dyn Planner>) -> Self {
        self.planner = planner;
        self
    }

    /// Sets the correlator the commit feeds new events to (default: no correlations).
    pub fn with_correlator(mut self, correlator: Arc<dyn Correlator>) -> Self {
        self.correlator = correlator;
        self
    }

    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
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
        "PRAGMA synchronous = FULL; INSERT INTO inbox (id, source, received_at, body, items, idempotency_key, complete_scan) "
    } else {
        "INSERT INTO inbox (id, source, received_at, body, items, idempotency_key, complete_scan) "
    });
    qb.push_values(items, |mut b, it| {
        b.push_bind(it.id.to_string())
            .push_bind(it.source.clone())
            .push_bind(micros(it.received_at))
            .push_bind(it.body.clone())
            .push_bind(it.items)
            .push_bind(it.idempotency_key.clone())
            .push_bind(it.complete_scan);
    });
    if fsync {
        qb.push("; PRAGMA synchronous = NORMAL");
    }
    qb.build().execute(&mut *conn).await?;
    Ok(())
}

/// The inbox ids that hold these idempotency keys.
async fn inbox_keys(
    conn: &mut sqlx::SqliteConnection,
    keys: &[&str],
) -> Result<HashMap<String, Uuid>> {
    let mut out = HashMap::new();
    for chunk in keys.chunks(CHUNK) {
        let mut qb: QueryBuilder<Sqlite> =
            QueryBuilder::new("SELECT idempotency_key, id FROM inbox WHERE idempotency_key IN (");
        let mut sep = qb.separated(", ");
        for k in chunk {
            sep.push_bind(k.to_string());
        }
        qb.push(")");
        for r in qb.build().fetch_all(&mut *conn).await? {
            out.insert(
                r.get::<String, _>(0),
                uuid(r.get::<&str, _>(1), "inbox id")?,
            );
        }
    }
    Ok(out)
}

// Reads use `fetch_all`, never `fetch_one`/`fetch_optional`: sqlx resets a statement whose
// rows were not all read only later, and until then it pins the connection's WAL snapshot,
// so the next read on that pooled connection would not see newer commits (sqlx #2543).

pub(crate) fn uuid(s: &str, what: &'static str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|e| StoreError::corrupt(what, e))
}

pub(crate) fn case_from_doc(doc: &str) -> Result<Case> {
    serde_json::from_str(doc).map_err(|e| StoreError::corrupt("case", e))
}

pub(crate) fn severity_rank(s: Severity) -> i64 {
    s as i64
}

pub(crate) fn search_text(c: &Case) -> String {
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

/// The case `id`, read on `conn` (a transaction's connection).
pub(crate) async fn case_by_id(
    conn: &mut sqlx::SqliteConnection,
    id: Uuid,
) -> Result<Option<Case>> {
    let rows = sqlx::query("SELECT doc FROM cases WHERE id = ?")
        .bind(id.to_string())
        .fetch_all(&mut *conn)
        .await?;
    rows.first()
        .map(|r| case_from_doc(r.get::<&str, _>(0)))
        .transpose()
}

/// Rows per multi-row statement (SQLite allows 32,766 bound values; alerts bind 11 each).
pub(crate) const CHUNK: usize = 500;

/// A `<micros>.<uuid>` cursor (cases by last seen, events by time).
pub(crate) fn parse_time_cursor(cursor: &str) -> Result<(i64, String)> {
    let (t, id) = cursor.split_once('.').ok_or(StoreError::InvalidCursor)?;
    let t = t.parse::<i64>().map_err(|_| StoreError::InvalidCursor)?;
    Uuid::parse_str(id).map_err(|_| StoreError::InvalidCursor)?;
    Ok((t, id.to_string()))
}

/// The conditions of a case filter (not its cursor, order or limit), after `WHERE 1 = 1`.
fn push_case_conditions(qb: &mut QueryBuilder<'_, Sqlite>, f: &CaseFilter) {
    if let Some(s) = f.severity {
        qb.push(" AND severity_rank = ").push_bind(severity_rank(s));
    }
    if let Some(s) = f.status {
        qb.push(" AND status = ").push_bind(s.as_str());
    }
    if let Some(s) = &f.source {
        qb.push(" AND source = ").push_bind(s.clone());
    }
    if let Some(a) = &f.account {
        qb.push(" AND json_extract(doc, '$.account') = ")
            .push_bind(a.clone());
    }
    if let Some(l) = &f.label {
        qb.push(" AND EXISTS (SELECT 1 FROM json_each(doc, '$.labels') WHERE value = ")
            .push_bind(l.clone())
            .push(")");
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
}

#[async_trait]
impl Store for SqliteStore {
    async fn begin(&self, durable: bool) -> Result<Box<dyn StoreTx + '_>> {
        Ok(Box::new(SqliteTx::begin(&self.writer, durable).await?))
    }

    fn planner(&self) -> &dyn Planner {
        &*self.planner
    }

    fn correlator(&self) -> &dyn Correlator {
        &*self.correlator
    }

    async fn inbox_append(&self, items: &[NewInbox]) -> Result<Vec<Option<Uuid>>> {
        let mut seen = vec![None; items.len()];
        if items.is_empty() {
            return Ok(seen);
        }
        let mut conn = self.writer.acquire().await?;
        // Keys already taken (the writer is this process's only inbox writer, so nothing can
        // take one between this read and the insert; the unique index holds regardless).
        let keyed: Vec<&str> = items
            .iter()
            .filter_map(|i| i.idempotency_key.as_deref())
            .collect();
        let owners = if keyed.is_empty() {
            HashMap::new()
        } else {
            inbox_keys(&mut conn, &keyed).await?
        };
        let mut fresh: Vec<NewInbox> = Vec::new();
        let mut taken: HashMap<&str, Uuid> = HashMap::new();
        for (i, it) in items.iter().enumerate() {
            if let Some(k) = it.idempotency_key.as_deref() {
                if let Some(id) = owners.get(k).or_else(|| taken.get(k)) {
                    seen[i] = Some(*id);
                    continue;
                }
                taken.insert(k, it.id);
            }
            fresh.push(it.clone());
        }
        let items = &fresh[..];
        if items.is_empty() {
            return Ok(seen);
        }
        // Every statement is a round trip to SQLite's thread, so a group that fits one
        // multi-row INSERT is written by that statement alone (atomic on its own).
        if items.len() <= CHUNK {
            inbox_insert(&mut conn, items, true).await?;
            return Ok(seen);
        }
        drop(conn);
        let mut tx = SqliteTx::begin(&self.writer, true).await?;
        for chunk in items.chunks(CHUNK) {
            inbox_insert(tx.conn(), chunk, false).await?;
        }
        Box::new(tx).commit().await?;
        Ok(seen)
    }

    async fn inbox_claim(
        &self,
        owner: &str,
        limit: ClaimLimit,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<InboxRow>> {
        let now = micros(now);
        let until = crate::time::lease_until(now, lease);
        let rows = sqlx::query(
            "UPDATE inbox SET lease_owner = ?, lease_until = ?, attempts = attempts + 1
             WHERE id IN (SELECT id FROM (
                            SELECT id, SUM(items) OVER (ORDER BY id) - items AS before
                            FROM inbox WHERE state = 'pending'
                              AND (lease_until IS NULL OR lease_until < ?) ORDER BY id LIMIT ?)
                          WHERE before = 0 OR before < ?)
             RETURNING id, source, received_at, body, attempts, items, complete_scan",
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
                complete_scan: r.get(6),
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

    async fn cases_list(&self, f: &CaseFilter) -> Result<Page<Case>> {
        let limit = page::limit(f.limit);
        let mut qb: QueryBuilder<Sqlite> =
            QueryBuilder::new("SELECT doc, last_seen, id, severity_rank FROM cases WHERE 1 = 1");
        push_case_conditions(&mut qb, f);
        let by_severity = f.sort == CaseSort::Severity;
        if let Some(c) = &f.cursor {
            // last_seen order: `t.id`; severity order: `rank.t.id`
            let (rank, rest) = if by_severity {
                let (r, rest) = c.split_once('.').ok_or(StoreError::InvalidCursor)?;
                (
                    Some(r.parse::<i64>().map_err(|_| StoreError::InvalidCursor)?),
                    rest,
                )
            } else {
                (None, c.as_str())
            };
            let (t, id) = parse_time_cursor(rest)?;
            qb.push(" AND (");
            if let Some(r) = rank {
                qb.push("severity_rank < ")
                    .push_bind(r)
                    .push(" OR (severity_rank = ")
                    .push_bind(r)
                    .push(" AND (");
            }
            qb.push("last_seen < ").push_bind(t);
            qb.push(" OR (last_seen = ")
                .push_bind(t)
                .push(" AND id < ")
                .push_bind(id)
                .push("))");
            if rank.is_some() {
                qb.push("))");
            }
        }
        qb.push(if by_severity {
            " ORDER BY severity_rank DESC, last_seen DESC, id DESC LIMIT "
        } else {
            " ORDER BY last_seen DESC, id DESC LIMIT "
        })
        .push_bind(limit + 1);
        let rows = qb.build().fetch_all(&self.reader).await?;
        page(
            &rows,
            limit,
            |r| case_from_doc(r.get::<&str, _>(0)),
            |r| {
                let t = format!("{}.{}", r.get::<i64, _>(1), r.get::<&str, _>(2));
                if by_severity {
                    format!("{}.{t}", r.get::<i64, _>(3))
                } else {
                    t
                }
            },
        )
    }

    async fn cases_count(&self, f: &CaseFilter, cap: u32) -> Result<u64> {
        let mut qb: QueryBuilder<Sqlite> =
            QueryBuilder::new("SELECT COUNT(*) FROM (SELECT 1 FROM cases WHERE 1 = 1");
        push_case_conditions(&mut qb, f);
        qb.push(" LIMIT ").push_bind(i64::from(cap)).push(")");
        let n: i64 = qb.build_query_scalar().fetch_one(&self.reader).await?;
        Ok(u64::try_from(n).unwrap_or(0))
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

    async fn alerts_scan(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: u32,
    ) -> Result<Vec<StoredAlert>> {
        // (received_at, id) is the index `alerts_received`: each page is a range read on it.
        let (after_t, after_id) = match after {
            Some((t, id)) => (micros(t), id.to_string()),
            None => (i64::MIN, String::new()),
        };
        let rows = sqlx::query(
            "SELECT id, case_id, inbox_id, received_at, doc FROM alerts
             WHERE received_at >= ? AND received_at < ? AND (received_at, id) > (?, ?)
             ORDER BY received_at, id LIMIT ?",
        )
        .bind(micros(since))
        .bind(micros(until))
        .bind(after_t)
        .bind(after_id)
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                let judged: Judged = serde_json::from_str(r.get::<&str, _>(4))
                    .map_err(|e| StoreError::corrupt("alert", e))?;
                Ok(StoredAlert {
                    id: uuid(r.get::<&str, _>(0), "alert id")?,
                    case_id: r
                        .get::<Option<&str>, _>(1)
                        .map(|c| uuid(c, "case id"))
                        .transpose()?,
                    inbox_id: uuid(r.get::<&str, _>(2), "inbox id")?,
                    received_at: from_micros(r.get(3)),
                    judged,
                })
            })
            .collect()
    }

    async fn alerts_count(&self, since: DateTime<Utc>, until: DateTime<Utc>) -> Result<u64> {
        let rows =
            sqlx::query("SELECT COUNT(*) FROM alerts WHERE received_at >= ? AND received_at < ?")
                .bind(micros(since))
                .bind(micros(until))
                .fetch_all(&self.reader)
                .await?;
        Ok(rows
            .first()
            .map(|r| u64::try_from(r.get::<i64, _>(0)).unwrap_or(0))
            .unwrap_or(0))
    }

    async fn events_list(&self, filter: &EventFilter) -> Result<Page<StoredEvent>> {
        sqlite_events::list(&self.reader, filter).await
    }

    async fn events_prune(&self, before: DateTime<Utc>) -> Result<u64> {
        sqlite_events::prune(&self.writer, before).await
    }

    async fn windows_prune(&self, now: DateTime<Utc>) -> Result<u64> {
        let day_ago = micros(now - chrono::Duration::days(1));
        let r =
            sqlx::query("DELETE FROM correlation_windows WHERE expires_at < ? AND updated_at < ?")
                .bind(day_ago)
                .bind(day_ago)
                .execute(&self.writer)
                .await?;
        Ok(r.rows_affected())
    }

    async fn quarantine_list(
        &self,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<QuarantineEntry>> {
        let limit = page::limit(limit);
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT id, inbox_id, item_index, source, received_at, error, raw FROM quarantine WHERE state = 'quarantined'",
        );
        if let Some(c) = cursor {
            Uuid::parse_str(c).map_err(|_| StoreError::InvalidCursor)?;
            qb.push(" AND id < ").push_bind(c.to_string());
        }
        qb.push(" ORDER BY id DESC LIMIT ").push_bind(limit + 1);
        let rows = qb.build().fetch_all(&self.reader).await?;
        page(
            &rows,
            limit,
            |r| {
                let raw_text: &str = r.get(6);
                Ok(QuarantineEntry {
                    id: uuid(r.get::<&str, _>(0), "quarantine id")?,
                    inbox_id: uuid(r.get::<&str, _>(1), "inbox id")?,
                    item_index: r.get(2),
                    source: r.get(3),
                    received_at: from_micros(r.get(4)),
                    error: r.get(5),
                    raw: serde_json::from_str(raw_text)
                        .unwrap_or_else(|_| serde_json::Value::String(raw_text.to_string())),
                })
            },
            |r| r.get::<String, _>(0),
        )
    }

    async fn quarantine_requeue(&self, id: Uuid, now: DateTime<Utc>) -> Result<Option<Uuid>> {
        let mut tx = SqliteTx::begin(&self.writer, true).await?;
        let Some(r) = sqlx::query(
            "SELECT source, raw FROM quarantine WHERE id = ? AND state = 'quarantined'",
        )
        .bind(id.to_string())
        .fetch_all(tx.conn())
        .await?
        .pop() else {
            Box::new(tx).commit().await?;
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
        .execute(tx.conn())
        .await?;
        sqlx::query("UPDATE quarantine SET state = 'requeued' WHERE id = ?")
            .bind(id.to_string())
            .execute(tx.conn())
            .await?;
        Box::new(tx).commit().await?;
        Ok(Some(inbox_id))
    }

    async fn feeds_list(&self, with_bodies: bool) -> Result<Vec<FeedCopy>> {
        let body = if with_bodies { "body" } else { "NULL" };
        let rows = sqlx::query(&format!(
            "SELECT name, url, format, etag, last_modified, {body}, entries, fetched_at,
                    checked_at, last_error FROM feeds ORDER BY name"
        ))
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .iter()
            .map(|r| FeedCopy {
                name: r.get(0),
                url: r.get(1),
                format: r.get(2),
                etag: r.get(3),
                last_modified: r.get(4),
                body: r.get::<Option<Vec<u8>>, _>(5).unwrap_or_default(),
                entries: r.get(6),
                fetched_at: r.get::<Option<i64>, _>(7).map(from_micros),
                checked_at: from_micros(r.get(8)),
                last_error: r.get(9),
            })
            .collect())
    }

    async fn feed_saved(&self, c: &FeedCopy) -> Result<()> {
        let mut tx = SqliteTx::begin(&self.writer, true).await?;
        sqlx::query(
            "INSERT INTO feeds (name, url, format, etag, last_modified, body, entries, fetched_at,
                                checked_at, last_error)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)
             ON CONFLICT (name) DO UPDATE SET url = excluded.url, format = excluded.format,
               etag = excluded.etag, last_modified = excluded.last_modified, body = excluded.body,
               entries = excluded.entries, fetched_at = excluded.fetched_at,
               checked_at = excluded.checked_at, last_error = NULL",
        )
        .bind(&c.name)
        .bind(&c.url)
        .bind(&c.format)
        .bind(&c.etag)
        .bind(&c.last_modified)
        .bind(&c.body)
        .bind(c.entries)
        .bind(c.fetched_at.map(micros))
        .bind(micros(c.checked_at))
        .execute(tx.conn())
        .await?;
        Box::new(tx).commit().await
    }

    async fn feed_checked(
        &self,
        name: &str,
        url: &str,
        format: &str,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        // not modified: the copy is current as of now; an error leaves fetched_at alone
        let fetched = if error.is_none() {
            Some(micros(now))
        } else {
            None
        };
        sqlx::query(
            "INSERT INTO feeds (name, url, format, fetched_at, checked_at, last_error)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET url = excluded.url, format = excluded.format,
               fetched_at = COALESCE(excluded.fetched_at, feeds.fetched_at),
               checked_at = excluded.checked_at, last_error = excluded.last_error",
        )
        .bind(name)
        .bind(url)
        .bind(format)
        .bind(fetched)
        .bind(micros(now))
        .bind(error)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn intel_cache_get(
        &self,
        provider: &str,
        subject: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<IntelAnswer>> {
        sqlite_intel::cache_get(&self.reader, provider, subject, now).await
    }

    async fn intel_cache_put(
        &self,
        provider: &str,
        subject: &str,
        answer: &serde_json::Value,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        sqlite_intel::cache_put(&self.writer, provider, subject, answer, now, expires_at).await
    }

    async fn intel_cache_prune(&self, now: DateTime<Utc>) -> Result<u64> {
        sqlite_intel::cache_prune(&self.writer, now).await
    }

    async fn intel_usage_take(
        &self,
        provider: &str,
        daily: u32,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        sqlite_intel::usage_take(&self.writer, provider, daily, now).await
    }

    async fn intel_usage_exhaust(
        &self,
        provider: &str,
        daily: u32,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlite_intel::usage_exhaust(&self.writer, provider, daily, now).await
    }

    async fn intel_usage(&self, provider: &str, now: DateTime<Utc>) -> Result<u32> {
        sqlite_intel::usage(&self.reader, provider, now).await
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
        now: DateTime<Utc>,
    ) -> Result<Vec<Delivery>> {
        let mut conn = self.writer.acquire().await?;
        sqlite_outbox::claim(&mut conn, owner, limit, lease, now).await
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

    async fn investigations_claim(
        &self,
        owner: &str,
        limit: usize,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<InvestigationJob>> {
        let mut conn = self.writer.acquire().await?;
        sqlite_investigations::claim(&mut conn, owner, limit, lease, now).await
    }

    async fn investigation_release(&self, owner: &str) -> Result<u64> {
        sqlite_investigations::release(&self.writer, Some(owner)).await
    }

    async fn investigations_stale(
        &self,
        investigator: &str,
        since: DateTime<Utc>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Uuid>> {
        sqlite_investigations::stale(&self.reader, investigator, since, after, limit).await
    }

    async fn attachment_get(&self, id: Uuid) -> Result<Option<StoredAttachment>> {
        sqlite_investigations::attachment(&self.reader, id).await
    }

    async fn watches_list(&self) -> Result<Vec<WatchRow>> {
        let rows = sqlx::query(
            "SELECT name, url, baseline, baseline_at, current, checked_at, changed, last_error
             FROM watches ORDER BY name",
        )
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .iter()
            .map(|r| WatchRow {
                name: r.get(0),
                url: r.get(1),
                baseline: r.get(2),
                baseline_at: r.get::<Option<i64>, _>(3).map(from_micros),
                current: r.get(4),
                checked_at: r.get::<Option<i64>, _>(5).map(from_micros),
                changed: r.get(6),
                last_error: r.get(7),
            })
            .collect())
    }

    async fn watch_save(&self, w: &WatchRow) -> Result<()> {
        sqlx::query(
            "INSERT OR REPLACE INTO watches
               (name, url, baseline, baseline_at, current, checked_at, changed, last_error)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&w.name)
        .bind(&w.url)
        .bind(&w.baseline)
        .bind(w.baseline_at.map(micros))
        .bind(&w.current)
        .bind(w.checked_at.map(micros))
        .bind(w.changed)
        .bind(&w.last_error)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn outbox_held_by(&self) -> Result<Vec<String>> {
        sqlite_outbox::held_by(&self.reader).await
    }

    async fn outbox_held_counts(&self) -> Result<Vec<(String, i64)>> {
        sqlite_outbox::held_counts(&self.reader).await
    }

    async fn source_stats(
        &self,
        sources: &[String],
        now: DateTime<Utc>,
    ) -> Result<Vec<SourceStats>> {
        sqlite_sources::stats(&self.reader, sources, now).await
    }

    async fn settings_apply(
        &self,
        changes: &[SettingsChange],
        author: &str,
        comment: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, u32)>> {
        sqlite_settings::apply(&self.writer, changes, author, comment, now).await
    }

    async fn settings_current(&self, kind: &str) -> Result<Option<SettingsVersion>> {
        sqlite_settings::current(&self.reader, kind).await
    }

    async fn settings_versions(&self, kind: &str) -> Result<Vec<SettingsVersion>> {
        sqlite_settings::versions(&self.reader, kind).await
    }

    async fn settings_version(&self, kind: &str, version: u32) -> Result<Option<SettingsVersion>> {
        sqlite_settings::version(&self.reader, kind, version).await
    }

    async fn settings_generation(&self) -> Result<i64> {
        sqlite_settings::generation(&self.reader).await
    }

    async fn audit_add(&self, entry: &NewAudit, now: DateTime<Utc>) -> Result<i64> {
        sqlite_accounts::audit_add(&self.writer, entry, now).await
    }

    async fn audit_list(&self, filter: &AuditFilter) -> Result<Page<AuditEntry>> {
        sqlite_accounts::audit_list(&self.reader, filter).await
    }

    async fn user_add(&self, user: &User) -> Result<bool> {
        sqlite_accounts::user_add(&self.writer, user).await
    }

    async fn user_get(&self, name: &str) -> Result<Option<User>> {
        sqlite_accounts::user_get(&self.reader, name).await
    }

    async fn users_list(&self) -> Result<Vec<User>> {
        sqlite_accounts::users_list(&self.reader).await
    }

    async fn users_exist(&self) -> Result<bool> {
        sqlite_accounts::users_exist(&self.reader).await
    }

    async fn user_remove(&self, name: &str) -> Result<bool> {
        sqlite_accounts::user_remove(&self.writer, name).await
    }

    async fn user_set_hash(&self, name: &str, hash: &str) -> Result<bool> {
        sqlite_accounts::user_set_hash(&self.writer, name, hash).await
    }

    async fn session_add(&self, session: &NewSession) -> Result<()> {
        sqlite_accounts::session_add(&self.writer, session).await
    }

    async fn session_touch(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
        idle_since: DateTime<Utc>,
    ) -> Result<Option<SessionUser>> {
        sqlite_accounts::session_touch(&self.writer, id_hash, now, idle_since).await
    }

    async fn session_delete(&self, id_hash: &str) -> Result<bool> {
        sqlite_accounts::session_delete(&self.writer, id_hash).await
    }

    async fn sessions_delete_user(&self, user: &str) -> Result<u64> {
        sqlite_accounts::sessions_delete_user(&self.writer, user).await
    }

    async fn login_attempt_add(
        &self,
        name: &str,
        ip: &str,
        ok: bool,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlite_accounts::login_attempt_add(&self.writer, name, ip, ok, now).await
    }

    async fn login_failures(
        &self,
        name: &str,
        ip: &str,
        since: DateTime<Utc>,
    ) -> Result<LoginFailures> {
        sqlite_accounts::login_failures(&self.reader, name, ip, since).await
    }

    async fn watch_image_put(
        &self,
        name: &str,
        kind: WatchImageKind,
        image: &WatchImage,
    ) -> Result<()> {
        sqlx::query(
            "INSERT OR REPLACE INTO watch_images (name, kind, taken_at, png) VALUES (?, ?, ?, ?)",
        )
        .bind(name)
        .bind(kind.as_str())
        .bind(micros(image.taken_at))
        .bind(&image.png)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn watch_image_get(
        &self,
        name: &str,
        kind: WatchImageKind,
    ) -> Result<Option<WatchImage>> {
        let row = sqlx::query("SELECT taken_at, png FROM watch_images WHERE name = ? AND kind = ?")
            .bind(name)
            .bind(kind.as_str())
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.map(|r| WatchImage {
            taken_at: from_micros(r.get(0)),
            png: r.get(1),
        }))
    }

    async fn watch_image_promote(&self, name: &str) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        let moved = sqlx::query("SELECT 1 FROM watch_images WHERE name = ? AND kind = 'current'")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        if moved.is_some() {
            sqlx::query("DELETE FROM watch_images WHERE name = ? AND kind = 'baseline'")
                .bind(name)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE watch_images SET kind = 'baseline' WHERE name = ? AND kind = 'current'",
            )
            .bind(name)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn investigations_list(
        &self,
        filter: &InvestigationFilter,
    ) -> Result<Page<InvestigationRecord>> {
        sqlite_investigations::list(&self.reader, filter).await
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

    async fn outbox_retry(&self, id: i64, now: DateTime<Utc>) -> Result<Option<DeliveryRow>> {
        let mut tx = SqliteTx::begin(&self.writer, true).await?;
        let row = sqlite_outbox::retry(tx.conn(), id, now).await?;
        Box::new(tx).commit().await?;
        Ok(row)
    }

    async fn outbox_prune(&self, before: DateTime<Utc>) -> Result<u64> {
        let r = sqlx::query("DELETE FROM outbox WHERE state = 'done' AND updated_at < ?")
            .bind(micros(before))
            .execute(&self.writer)
            .await?;
        Ok(r.rows_affected())
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

    async fn open_counts_by_source(&self) -> Result<Vec<crate::NameCount>> {
        sqlite_counts::open_counts_by_source(&self.reader).await
    }

    async fn alerts_per_hour(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<crate::HourCount>> {
        sqlite_counts::alerts_per_hour(&self.reader, since, until).await
    }

    async fn alert_type_counts(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<crate::NameCount>> {
        sqlite_counts::alert_type_counts(&self.reader, since, until, limit).await
    }

    async fn alert_rule_counts(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<crate::RuleCount>> {
        sqlite_counts::alert_rule_counts(&self.reader, since, until).await
    }

    async fn resolve_times(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<crate::ResolveTime>> {
        sqlite_counts::resolve_times(&self.reader, since, until).await
    }

    async fn alerts_recent(&self, limit: u32) -> Result<Vec<StoredAlert>> {
        sqlite_counts::alerts_recent(&self.reader, limit).await
    }

    async fn cases_similar(&self, case_id: Uuid, limit: u32) -> Result<Vec<Case>> {
        sqlite_counts::cases_similar(&self.reader, case_id, limit).await
    }

    async fn pace_reserve(
        &self,
        key: &str,
        pace: Duration,
        per_hour: u32,
        wait: Duration,
        now: DateTime<Utc>,
    ) -> Result<PaceTurn> {
        sqlite_pacing::reserve(&self.writer, key, pace, per_hour, wait, now).await
    }

    async fn pace_hold(&self, key: &str, until: DateTime<Utc>) -> Result<()> {
        sqlite_pacing::hold(&self.writer, key, until).await
    }

    async fn pace_held(&self, key: &str, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        sqlite_pacing::held(&self.reader, key, now).await
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn close(&self) {
        SqliteStore::close(self).await
    }
}

//! The SQLite transaction: `StoreTx` over the writer connection, with the durability asked
//! for set before BEGIN and reset after COMMIT. SQL only; the flow that drives it is `flow.rs`.

use crate::sqlite::{case_by_id, case_from_doc, search_text, severity_rank, uuid, CHUNK};
use crate::time::{from_micros, micros};
use crate::tx::{
    AlertRow, EventRow, InvestigationRow, LeasedDelivery, LeasedInvestigation, OutboxRow,
    OutboxSet, QuarantineRow, StoreTx,
};
use crate::{
    sqlite_events, sqlite_investigations, sqlite_outbox, InvestigationRecord, InvestigationResult,
    Result, StoreError,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use irene_core::{Action, Case, TicketState, TimelineEntry, WindowKey, WindowRow};
use sqlx::pool::PoolConnection;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};
use std::collections::HashSet;
use std::str::FromStr;
use uuid::Uuid;

/// A transaction on the writer connection. SQLite refuses to change `synchronous` inside a
/// transaction, so a durable one sets FULL before BEGIN and NORMAL again after COMMIT (the
/// writer pool has one connection: nothing else runs in between). Dropped before its commit
/// (an error on the way), the connection is closed instead of going back to the pool, which
/// rolls the transaction back and forgets the FULL.
pub(crate) struct SqliteTx {
    conn: PoolConnection<Sqlite>,
    durable: bool,
    open: bool,
}

impl SqliteTx {
    pub(crate) async fn begin(writer: &SqlitePool, durable: bool) -> Result<SqliteTx> {
        let sql = if durable {
            "PRAGMA synchronous = FULL; BEGIN"
        } else {
            "BEGIN"
        };
        // `open` from the start: if BEGIN fails, the connection is closed, not reused
        let mut tx = SqliteTx {
            conn: writer.acquire().await?,
            durable,
            open: true,
        };
        sqlx::query(sql).execute(tx.conn()).await?;
        Ok(tx)
    }

    pub(crate) fn conn(&mut self) -> &mut SqliteConnection {
        &mut self.conn
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        if self.open {
            self.conn.close_on_drop();
        }
    }
}

#[async_trait]
impl StoreTx for SqliteTx {
    async fn inbox_mark_done(
        &mut self,
        owner: &str,
        ids: &[Uuid],
        now: DateTime<Utc>,
    ) -> Result<HashSet<Uuid>> {
        let mut done = HashSet::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let mut qb: QueryBuilder<Sqlite> =
                QueryBuilder::new("UPDATE inbox SET state = 'done', processed_at = ");
            qb.push_bind(micros(now))
                .push(", lease_owner = NULL, lease_until = NULL WHERE state = 'pending' AND lease_owner = ")
                .push_bind(owner)
                .push(" AND id IN (");
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(id.to_string());
            }
            qb.push(") RETURNING id");
            for row in qb.build().fetch_all(self.conn()).await? {
                done.insert(uuid(row.get::<&str, _>(0), "inbox id")?);
            }
        }
        Ok(done)
    }

    async fn events_insert(&mut self, rows: &[EventRow<'_>]) -> Result<HashSet<String>> {
        sqlite_events::insert(self.conn(), rows).await
    }

    async fn windows_load(&mut self, keys: &[WindowKey]) -> Result<Vec<WindowRow>> {
        let mut out = Vec::new();
        // two bound values per key
        for chunk in keys.chunks(CHUNK) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "SELECT correlation, grp, state, expires_at FROM correlation_windows WHERE (correlation, grp) IN (VALUES ",
            );
            push_keys(&mut qb, chunk);
            for r in qb.build().fetch_all(self.conn()).await? {
                out.push(WindowRow {
                    key: WindowKey {
                        correlation: r.get(0),
                        group: r.get(1),
                    },
                    state: r.get(2),
                    expires_at: from_micros(r.get(3)),
                });
            }
        }
        Ok(out)
    }

    async fn windows_save(&mut self, rows: &[WindowRow], now: DateTime<Utc>) -> Result<()> {
        for chunk in rows.chunks(CHUNK) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO correlation_windows (correlation, grp, state, expires_at, updated_at) ",
            );
            qb.push_values(chunk, |mut b, r| {
                b.push_bind(r.key.correlation.clone())
                    .push_bind(r.key.group.clone())
                    .push_bind(r.state.clone())
                    .push_bind(micros(r.expires_at))
                    .push_bind(micros(now));
            });
            qb.push(
                " ON CONFLICT (correlation, grp) DO UPDATE SET state = excluded.state,
                  expires_at = excluded.expires_at, updated_at = excluded.updated_at",
            );
            qb.build().execute(self.conn()).await?;
        }
        Ok(())
    }

    async fn windows_delete(&mut self, keys: &[WindowKey]) -> Result<()> {
        for chunk in keys.chunks(CHUNK) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "DELETE FROM correlation_windows WHERE (correlation, grp) IN (VALUES ",
            );
            push_keys(&mut qb, chunk);
            qb.build().execute(self.conn()).await?;
        }
        Ok(())
    }

    async fn cases_by_keys(&mut self, keys: &[&str]) -> Result<Vec<Case>> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(CHUNK) {
            let mut qb: QueryBuilder<Sqlite> =
                QueryBuilder::new("SELECT doc FROM cases WHERE key IN (");
            let mut sep = qb.separated(", ");
            for k in chunk {
                sep.push_bind(k.to_string());
            }
            qb.push(")");
            for row in qb.build().fetch_all(self.conn()).await? {
                out.push(case_from_doc(row.get::<&str, _>(0))?);
            }
        }
        Ok(out)
    }

    async fn case_by_id(&mut self, id: Uuid) -> Result<Option<Case>> {
        case_by_id(self.conn(), id).await
    }

    async fn cases_open_matching(
        &mut self,
        equal: &[(String, String)],
        limit: u32,
    ) -> Result<Vec<Case>> {
        let mut qb: sqlx::QueryBuilder<sqlx::Sqlite> =
            sqlx::QueryBuilder::new("SELECT doc FROM cases WHERE status = 'open'");
        for (path, value) in equal {
            // paths are checked by the caller (dotted names); bound, never spliced
            qb.push(" AND json_extract(doc, ")
                .push_bind(format!("$.{path}"))
                .push(") = ")
                .push_bind(value.clone());
        }
        qb.push(" ORDER BY severity_rank DESC LIMIT ")
            .push_bind(i64::from(limit));
        let rows = qb.build().fetch_all(self.conn()).await?;
        rows.iter()
            .map(|r| case_from_doc(r.get::<&str, _>(0)))
            .collect()
    }

    async fn case_by_ticket(&mut self, output: &str, reference: &str) -> Result<Option<Case>> {
        let rows = sqlx::query(
            "SELECT c.doc FROM tickets t JOIN cases c ON c.id = t.case_id
             WHERE t.output = ? AND t.reference = ?",
        )
        .bind(output)
        .bind(reference)
        .fetch_all(self.conn())
        .await?;
        rows.first()
            .map(|r| case_from_doc(r.get::<&str, _>(0)))
            .transpose()
    }

    async fn cases_silent(
        &mut self,
        source: &str,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Case>> {
        let rows = sqlx::query(
            "SELECT doc FROM cases WHERE status = 'open' AND source = ? AND last_seen < ? LIMIT ?",
        )
        .bind(source)
        .bind(micros(before))
        .bind(i64::from(limit))
        .fetch_all(self.conn())
        .await?;
        rows.iter()
            .map(|r| case_from_doc(r.get::<&str, _>(0)))
            .collect()
    }

    async fn cases_upsert(&mut self, cases: &[&Case]) -> Result<()> {
        for chunk in cases.chunks(CHUNK) {
            let mut rows = Vec::with_capacity(chunk.len());
            for c in chunk {
                rows.push((c, crate::flow::to_json(c, "case")?, search_text(c)));
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
            qb.build().execute(self.conn()).await?;
        }
        Ok(())
    }

    async fn alerts_insert(&mut self, rows: &[AlertRow<'_>]) -> Result<()> {
        for chunk in rows.chunks(CHUNK) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO alerts (id, inbox_id, item_index, source, type, case_key, case_id, severity, state, received_at, doc) ",
            );
            qb.push_values(chunk, |mut b, r| {
                b.push_bind(r.id.to_string())
                    .push_bind(r.inbox_id.to_string())
                    .push_bind(r.index)
                    .push_bind(r.judged.alert.source.clone())
                    .push_bind(r.judged.alert.kind.clone())
                    .push_bind(r.judged.key.clone())
                    .push_bind(r.case_id.map(|c| c.to_string()))
                    .push_bind(r.judged.severity.as_str())
                    .push_bind(r.judged.alert.state.as_str())
                    .push_bind(micros(r.received_at))
                    .push_bind(r.doc.clone());
            });
            qb.build().execute(self.conn()).await?;
        }
        Ok(())
    }

    async fn quarantine_insert(&mut self, rows: &[QuarantineRow<'_>]) -> Result<()> {
        for chunk in rows.chunks(CHUNK) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO quarantine (id, inbox_id, item_index, source, received_at, error, raw) ",
            );
            qb.push_values(chunk, |mut b, r| {
                b.push_bind(r.id.to_string())
                    .push_bind(r.inbox_id.to_string())
                    .push_bind(r.item.item_index)
                    .push_bind(r.item.source.clone())
                    .push_bind(micros(r.received_at))
                    .push_bind(r.item.error.clone())
                    .push_bind(r.item.raw.clone());
            });
            qb.build().execute(self.conn()).await?;
        }
        Ok(())
    }

    async fn timeline_insert(&mut self, rows: &[(Uuid, &TimelineEntry)]) -> Result<()> {
        for chunk in rows.chunks(CHUNK) {
            let mut prepared = Vec::with_capacity(chunk.len());
            for (case_id, t) in chunk {
                prepared.push((case_id, t, crate::flow::to_json(&t.detail, "timeline")?));
            }
            let mut qb: QueryBuilder<Sqlite> =
                QueryBuilder::new("INSERT INTO timeline (case_id, at, kind, alert_id, detail) ");
            qb.push_values(prepared, |mut b, (case_id, t, detail)| {
                b.push_bind(case_id.to_string())
                    .push_bind(micros(t.at))
                    .push_bind(t.kind.as_str())
                    .push_bind(t.alert_id.map(|a| a.to_string()))
                    .push_bind(detail);
            });
            qb.build().execute(self.conn()).await?;
        }
        Ok(())
    }

    async fn outbox_insert(&mut self, rows: &[OutboxRow], now: DateTime<Utc>) -> Result<()> {
        sqlite_outbox::insert_rows(self.conn(), rows, now).await
    }

    async fn outbox_release_held(
        &mut self,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<(Vec<Uuid>, Vec<Uuid>)> {
        sqlite_outbox::release(self.conn(), by, now).await
    }

    async fn outbox_leased(&mut self, id: i64, owner: &str) -> Result<Option<LeasedDelivery>> {
        let rows = sqlx::query(
            "SELECT case_id, output, action FROM outbox WHERE seq = ? AND state = 'sending' AND lease_owner = ?",
        )
        .bind(id)
        .bind(owner)
        .fetch_all(self.conn())
        .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        Ok(Some(LeasedDelivery {
            case_id: row
                .get::<Option<&str>, _>(0)
                .map(|c| uuid(c, "delivery case id"))
                .transpose()?,
            output: row.get(1),
            action: Action::from_str(row.get::<&str, _>(2))
                .map_err(|e| StoreError::corrupt("delivery action", e))?,
        }))
    }

    async fn outbox_set(&mut self, id: i64, set: &OutboxSet<'_>, now: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "UPDATE outbox SET state = ?, attempts = attempts + ?, updated_at = ?,
               next_at = COALESCE(?, next_at), last_error = COALESCE(?, last_error),
               note = COALESCE(?, note), lease_owner = NULL, lease_until = NULL WHERE seq = ?",
        )
        .bind(set.state)
        .bind(i64::from(set.attempt))
        .bind(micros(now))
        .bind(set.next_at.map(micros))
        .bind(set.error)
        .bind(set.note)
        .bind(id)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn outbox_fold_repeats(
        &mut self,
        case_id: Uuid,
        output: &str,
        before: i64,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE outbox SET state = 'done', updated_at = ?, note = 'folded into resolve'
             WHERE case_id = ? AND output = ? AND action = 'repeat' AND state = 'pending' AND seq < ?",
        )
        .bind(micros(now))
        .bind(case_id.to_string())
        .bind(output)
        .bind(before)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn ticket_save(
        &mut self,
        case_id: Uuid,
        output: &str,
        kind: &str,
        ticket: &TicketState,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO tickets (case_id, output, kind, reference, url, data, touched_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (case_id, output) DO UPDATE SET kind = excluded.kind,
               reference = excluded.reference, url = excluded.url, data = excluded.data,
               touched_at = excluded.touched_at",
        )
        .bind(case_id.to_string())
        .bind(output)
        .bind(kind)
        .bind(&ticket.reference)
        .bind(&ticket.url)
        .bind(crate::flow::to_json(&ticket.data, "ticket")?)
        .bind(micros(now))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn ticket_touch(
        &mut self,
        case_id: Uuid,
        output: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query("UPDATE tickets SET touched_at = ? WHERE case_id = ? AND output = ?")
            .bind(micros(now))
            .bind(case_id.to_string())
            .bind(output)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    async fn investigations_insert(
        &mut self,
        rows: &[InvestigationRow],
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlite_investigations::insert(self.conn(), rows, now).await
    }

    async fn investigation_leased(
        &mut self,
        id: Uuid,
        owner: &str,
    ) -> Result<Option<LeasedInvestigation>> {
        sqlite_investigations::leased(self.conn(), id, owner).await
    }

    async fn investigation_record(
        &mut self,
        id: Uuid,
        case_id: Uuid,
        result: &InvestigationResult,
        same_since: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlite_investigations::record(self.conn(), id, case_id, result, same_since, now).await
    }

    async fn investigation_retry(
        &mut self,
        id: Uuid,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<()> {
        sqlite_investigations::retry(self.conn(), id, at, reason).await
    }

    async fn investigations_finished(
        &mut self,
        case_id: Uuid,
        excluding: Option<Uuid>,
    ) -> Result<Vec<InvestigationRecord>> {
        sqlite_investigations::finished_of_case(self.conn(), case_id, excluding).await
    }

    async fn alert_by_id(&mut self, id: Uuid) -> Result<Option<irene_core::Alert>> {
        sqlite_outbox::load_alert(self.conn(), id).await
    }

    async fn investigations_of_batch(&mut self, batch: Uuid) -> Result<Vec<InvestigationRecord>> {
        sqlite_investigations::of_batch(self.conn(), batch).await
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        sqlx::query("COMMIT").execute(self.conn()).await?;
        if self.durable {
            // committed: a failure to reset leaves `open` set, so the connection (still FULL)
            // is closed rather than reused
            if sqlx::query("PRAGMA synchronous = NORMAL")
                .execute(self.conn())
                .await
                .is_err()
            {
                return Ok(());
            }
        }
        self.open = false;
        Ok(())
    }
}

/// `(correlation, grp), …)`: the keys of a `(correlation, grp) IN (VALUES ` list, closed.
fn push_keys(qb: &mut QueryBuilder<'_, Sqlite>, keys: &[WindowKey]) {
    let mut sep = qb.separated(", ");
    for k in keys {
        sep.push("(")
            .push_bind_unseparated(k.correlation.clone())
            .push_unseparated(", ")
            .push_bind_unseparated(k.group.clone())
            .push_unseparated(")");
    }
    qb.push(")");
}

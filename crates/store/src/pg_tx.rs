//! The PostgreSQL transaction: `StoreTx` over a pooled connection, locking the case and window
//! rows a change reads and reporting collisions as contention. SQL only; the flow is `flow.rs`.

use crate::pg::{case_from_doc, search_text, severity_rank, uuid, CHUNK};
use crate::time::{from_micros, micros};
use crate::tx::{
    AlertRow, EventRow, InvestigationRow, LeasedDelivery, LeasedInvestigation, OutboxRow,
    OutboxSet, QuarantineRow, StoreTx,
};
use crate::{
    pg_events, pg_investigations, pg_outbox, InvestigationRecord, InvestigationResult, Result,
    StoreError,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use irene_core::{Action, Case, TicketState, TimelineEntry, WindowKey, WindowRow};
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder, Row, Transaction};
use std::collections::HashSet;
use std::str::FromStr;
use uuid::Uuid;

/// A transaction on a pooled connection, at READ COMMITTED. Not durable: its commit does not
/// wait for the WAL flush (`synchronous_commit = off` for it alone; the inbox replays a lost
/// one). The rows a change reads (cases, windows) are locked until it ends, so that two
/// instances' changes of one case serialize; a collision (a unique key, a deadlock, a
/// serialization failure) is [`StoreError::Contention`], and the flow retries it whole.
/// Dropped before its commit, it is rolled back.
pub(crate) struct PgTx {
    tx: Transaction<'static, Postgres>,
    /// The window rows `windows_load` found (and locked): saved again by UPDATE; the others
    /// by INSERT, so that two commits creating one row collide instead of one overwriting.
    loaded: HashSet<(String, String)>,
}

impl PgTx {
    pub(crate) async fn begin(pool: &PgPool, durable: bool) -> Result<PgTx> {
        let mut tx = pool.begin().await?;
        if !durable {
            sqlx::query("SET LOCAL synchronous_commit = off")
                .execute(&mut *tx)
                .await?;
        }
        Ok(PgTx {
            tx,
            loaded: HashSet::new(),
        })
    }

    pub(crate) fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}

/// What makes a transaction collide with another's (PostgreSQL's SQLSTATE): a unique key
/// taken meanwhile, a serialization failure, a deadlock.
const CONTENTION: [&str; 3] = ["23505", "40001", "40P01"];

fn db(e: sqlx::Error) -> StoreError {
    contended(StoreError::Database(e))
}

/// Turns a collision with another transaction into [`StoreError::Contention`] (retryable).
pub(crate) fn contended(e: StoreError) -> StoreError {
    match e {
        StoreError::Database(db) => {
            let code = db
                .as_database_error()
                .and_then(|d| d.code())
                .map(|c| c.to_string());
            match code {
                Some(c) if CONTENTION.contains(&c.as_str()) => {
                    StoreError::Contention(format!("SQLSTATE {c}"))
                }
                _ => StoreError::Database(db),
            }
        }
        other => other,
    }
}

#[async_trait]
impl StoreTx for PgTx {
    async fn inbox_mark_done(
        &mut self,
        owner: &str,
        ids: &[Uuid],
        now: DateTime<Utc>,
    ) -> Result<HashSet<Uuid>> {
        let mut done = HashSet::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let mut qb: QueryBuilder<Postgres> =
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
            for row in qb.build().fetch_all(self.conn()).await.map_err(db)? {
                done.insert(uuid(row.get::<&str, _>(0), "inbox id")?);
            }
        }
        Ok(done)
    }

    async fn events_insert(&mut self, rows: &[EventRow<'_>]) -> Result<HashSet<String>> {
        pg_events::insert(self.conn(), rows)
            .await
            .map_err(contended)
    }

    async fn windows_load(&mut self, keys: &[WindowKey]) -> Result<Vec<WindowRow>> {
        let mut out = Vec::new();
        // locked in key order, so that two commits touching the same windows do not deadlock
        let mut sorted: Vec<&WindowKey> = keys.iter().collect();
        sorted.sort_by(|a, b| (&a.correlation, &a.group).cmp(&(&b.correlation, &b.group)));
        sorted.dedup();
        for chunk in sorted.chunks(CHUNK) {
            let (correlations, groups) = key_columns(chunk);
            let rows = sqlx::query(
                "SELECT w.correlation, w.grp, w.state, w.expires_at FROM correlation_windows w
                 JOIN UNNEST($1::text[], $2::text[]) AS k (correlation, grp)
                   ON w.correlation = k.correlation AND w.grp = k.grp
                 ORDER BY w.correlation, w.grp FOR UPDATE OF w",
            )
            .bind(correlations)
            .bind(groups)
            .fetch_all(self.conn())
            .await
            .map_err(db)?;
            for r in rows {
                let row = WindowRow {
                    key: WindowKey {
                        correlation: r.get(0),
                        group: r.get(1),
                    },
                    state: r.get(2),
                    expires_at: from_micros(r.get(3)),
                };
                self.loaded
                    .insert((row.key.correlation.clone(), row.key.group.clone()));
                out.push(row);
            }
        }
        Ok(out)
    }

    async fn windows_save(&mut self, rows: &[WindowRow], now: DateTime<Utc>) -> Result<()> {
        let (known, new): (Vec<&WindowRow>, Vec<&WindowRow>) = rows.iter().partition(|r| {
            self.loaded
                .contains(&(r.key.correlation.clone(), r.key.group.clone()))
        });
        for chunk in known.chunks(CHUNK) {
            let keys: Vec<&WindowKey> = chunk.iter().map(|r| &r.key).collect();
            let (correlations, groups) = key_columns(&keys);
            let states: Vec<&str> = chunk.iter().map(|r| r.state.as_str()).collect();
            let expiries: Vec<i64> = chunk.iter().map(|r| micros(r.expires_at)).collect();
            sqlx::query(
                "UPDATE correlation_windows w
                 SET state = k.state, expires_at = k.expires_at, updated_at = $5
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[])
                   AS k (correlation, grp, state, expires_at)
                 WHERE w.correlation = k.correlation AND w.grp = k.grp",
            )
            .bind(correlations)
            .bind(groups)
            .bind(states)
            .bind(expiries)
            .bind(micros(now))
            .execute(self.conn())
            .await
            .map_err(db)?;
        }
        // rows this transaction did not find: INSERT, no upsert (another commit that created
        // one meanwhile makes this one collide and run again over its counts)
        for chunk in new.chunks(CHUNK) {
            let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(
                "INSERT INTO correlation_windows (correlation, grp, state, expires_at, updated_at) ",
            );
            qb.push_values(chunk, |mut b, r| {
                b.push_bind(r.key.correlation.clone())
                    .push_bind(r.key.group.clone())
                    .push_bind(r.state.clone())
                    .push_bind(micros(r.expires_at))
                    .push_bind(micros(now));
            });
            qb.build().execute(self.conn()).await.map_err(db)?;
            for r in chunk {
                self.loaded
                    .insert((r.key.correlation.clone(), r.key.group.clone()));
            }
        }
        Ok(())
    }

    async fn windows_delete(&mut self, keys: &[WindowKey]) -> Result<()> {
        for chunk in keys.chunks(CHUNK) {
            let refs: Vec<&WindowKey> = chunk.iter().collect();
            let (correlations, groups) = key_columns(&refs);
            sqlx::query(
                "DELETE FROM correlation_windows w USING UNNEST($1::text[], $2::text[]) AS k (correlation, grp)
                 WHERE w.correlation = k.correlation AND w.grp = k.grp",
            )
            .bind(correlations)
            .bind(groups)
            .execute(self.conn())
            .await.map_err(db)?;
            for k in chunk {
                self.loaded
                    .remove(&(k.correlation.clone(), k.group.clone()));
            }
        }
        Ok(())
    }

    async fn cases_by_keys(&mut self, keys: &[&str]) -> Result<Vec<Case>> {
        // locked in key order (no deadlock between two commits sharing keys)
        let mut sorted: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        sorted.sort_unstable();
        sorted.dedup();
        let mut out = Vec::with_capacity(sorted.len());
        for chunk in sorted.chunks(CHUNK) {
            let rows =
                sqlx::query("SELECT doc FROM cases WHERE key = ANY($1) ORDER BY key FOR UPDATE")
                    .bind(chunk)
                    .fetch_all(self.conn())
                    .await
                    .map_err(db)?;
            for row in rows {
                out.push(case_from_doc(row.get::<&str, _>(0))?);
            }
        }
        Ok(out)
    }

    async fn case_by_id(&mut self, id: Uuid) -> Result<Option<Case>> {
        let rows = sqlx::query("SELECT doc FROM cases WHERE id = $1 FOR UPDATE")
            .bind(id.to_string())
            .fetch_all(self.conn())
            .await
            .map_err(db)?;
        rows.first()
            .map(|r| case_from_doc(r.get::<&str, _>(0)))
            .transpose()
    }

    async fn cases_open_matching(
        &mut self,
        equal: &[(String, String)],
        limit: u32,
    ) -> Result<Vec<Case>> {
        let mut qb: QueryBuilder<Postgres> =
            QueryBuilder::new("SELECT doc FROM cases WHERE status = 'open'");
        for (path, value) in equal {
            // paths are checked by the caller (dotted names); bound, never spliced
            let parts: Vec<String> = path.split('.').map(str::to_string).collect();
            qb.push(" AND (doc::jsonb #>> ")
                .push_bind(parts)
                .push(") = ")
                .push_bind(value.clone());
        }
        qb.push(" ORDER BY severity_rank DESC, id LIMIT ")
            .push_bind(i64::from(limit))
            .push(" FOR UPDATE");
        let rows = qb.build().fetch_all(self.conn()).await.map_err(db)?;
        rows.iter()
            .map(|r| case_from_doc(r.get::<&str, _>(0)))
            .collect()
    }

    async fn case_by_ticket(&mut self, output: &str, reference: &str) -> Result<Option<Case>> {
        let rows = sqlx::query(
            "SELECT c.doc FROM tickets t JOIN cases c ON c.id = t.case_id
             WHERE t.output = $1 AND t.reference = $2 FOR UPDATE OF c",
        )
        .bind(output)
        .bind(reference)
        .fetch_all(self.conn())
        .await
        .map_err(db)?;
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
            "SELECT doc FROM cases WHERE status = 'open' AND source = $1 AND last_seen < $2
             ORDER BY id LIMIT $3 FOR UPDATE",
        )
        .bind(source)
        .bind(micros(before))
        .bind(i64::from(limit))
        .fetch_all(self.conn())
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| case_from_doc(r.get::<&str, _>(0)))
            .collect()
    }

    async fn cases_upsert(&mut self, cases: &[&Case]) -> Result<()> {
        // one row per case, as it is last (an upsert may not touch a row twice in a statement)
        let mut last: Vec<&Case> = Vec::with_capacity(cases.len());
        let mut at: std::collections::HashMap<Uuid, usize> = Default::default();
        for c in cases {
            match at.get(&c.id) {
                Some(&i) => last[i] = c,
                None => {
                    at.insert(c.id, last.len());
                    last.push(c);
                }
            }
        }
        for chunk in last.chunks(CHUNK) {
            let mut rows = Vec::with_capacity(chunk.len());
            for c in chunk {
                rows.push((c, crate::flow::to_json(c, "case")?, search_text(c)));
            }
            let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(
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
            qb.build().execute(self.conn()).await.map_err(db)?;
        }
        Ok(())
    }

    async fn alerts_insert(&mut self, rows: &[AlertRow<'_>]) -> Result<()> {
        for chunk in rows.chunks(CHUNK) {
            let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(
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
            qb.build().execute(self.conn()).await.map_err(db)?;
        }
        Ok(())
    }

    async fn quarantine_insert(&mut self, rows: &[QuarantineRow<'_>]) -> Result<()> {
        for chunk in rows.chunks(CHUNK) {
            let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(
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
            qb.build().execute(self.conn()).await.map_err(db)?;
        }
        Ok(())
    }

    async fn timeline_insert(&mut self, rows: &[(Uuid, &TimelineEntry)]) -> Result<()> {
        for chunk in rows.chunks(CHUNK) {
            let mut prepared = Vec::with_capacity(chunk.len());
            for (case_id, t) in chunk {
                prepared.push((case_id, t, crate::flow::to_json(&t.detail, "timeline")?));
            }
            let mut qb: QueryBuilder<Postgres> =
                QueryBuilder::new("INSERT INTO timeline (case_id, at, kind, alert_id, detail) ");
            qb.push_values(prepared, |mut b, (case_id, t, detail)| {
                b.push_bind(case_id.to_string())
                    .push_bind(micros(t.at))
                    .push_bind(t.kind.as_str())
                    .push_bind(t.alert_id.map(|a| a.to_string()))
                    .push_bind(detail);
            });
            qb.build().execute(self.conn()).await.map_err(db)?;
        }
        Ok(())
    }

    async fn outbox_insert(&mut self, rows: &[OutboxRow], now: DateTime<Utc>) -> Result<()> {
        pg_outbox::insert_rows(self.conn(), rows, now)
            .await
            .map_err(contended)
    }

    async fn outbox_release_held(
        &mut self,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<(Vec<Uuid>, Vec<Uuid>)> {
        pg_outbox::release(self.conn(), by, now)
            .await
            .map_err(contended)
    }

    async fn outbox_leased(&mut self, id: i64, owner: &str) -> Result<Option<LeasedDelivery>> {
        let rows = sqlx::query(
            "SELECT case_id, output, action FROM outbox WHERE seq = $1 AND state = 'sending' AND lease_owner = $2",
        )
        .bind(id)
        .bind(owner)
        .fetch_all(self.conn())
        .await.map_err(db)?;
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
            "UPDATE outbox SET state = $1, attempts = attempts + $2, updated_at = $3,
               next_at = COALESCE($4, next_at), last_error = COALESCE($5, last_error),
               note = COALESCE($6, note), lease_owner = NULL, lease_until = NULL WHERE seq = $7",
        )
        .bind(set.state)
        .bind(i64::from(set.attempt))
        .bind(micros(now))
        .bind(set.next_at.map(micros))
        .bind(set.error)
        .bind(set.note)
        .bind(id)
        .execute(self.conn())
        .await
        .map_err(db)?;
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
            "UPDATE outbox SET state = 'done', updated_at = $1, note = 'folded into resolve'
             WHERE case_id = $2 AND output = $3 AND action = 'repeat' AND state = 'pending' AND seq < $4",
        )
        .bind(micros(now))
        .bind(case_id.to_string())
        .bind(output)
        .bind(before)
        .execute(self.conn())
        .await.map_err(db)?;
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
             VALUES ($1, $2, $3, $4, $5, $6, $7)
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
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn ticket_touch(
        &mut self,
        case_id: Uuid,
        output: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query("UPDATE tickets SET touched_at = $1 WHERE case_id = $2 AND output = $3")
            .bind(micros(now))
            .bind(case_id.to_string())
            .bind(output)
            .execute(self.conn())
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn investigations_insert(
        &mut self,
        rows: &[InvestigationRow],
        now: DateTime<Utc>,
    ) -> Result<()> {
        pg_investigations::insert(self.conn(), rows, now)
            .await
            .map_err(contended)
    }

    async fn investigation_leased(
        &mut self,
        id: Uuid,
        owner: &str,
    ) -> Result<Option<LeasedInvestigation>> {
        pg_investigations::leased(self.conn(), id, owner)
            .await
            .map_err(contended)
    }

    async fn investigation_record(
        &mut self,
        id: Uuid,
        case_id: Uuid,
        result: &InvestigationResult,
        same_since: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        pg_investigations::record(self.conn(), id, case_id, result, same_since, now)
            .await
            .map_err(contended)
    }

    async fn investigation_retry(
        &mut self,
        id: Uuid,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<()> {
        pg_investigations::retry(self.conn(), id, at, reason)
            .await
            .map_err(contended)
    }

    async fn investigations_finished(
        &mut self,
        case_id: Uuid,
        excluding: Option<Uuid>,
    ) -> Result<Vec<InvestigationRecord>> {
        pg_investigations::finished_of_case(self.conn(), case_id, excluding)
            .await
            .map_err(contended)
    }

    async fn alert_by_id(&mut self, id: Uuid) -> Result<Option<irene_core::Alert>> {
        pg_outbox::load_alert(self.conn(), id)
            .await
            .map_err(contended)
    }

    async fn investigations_of_batch(&mut self, batch: Uuid) -> Result<Vec<InvestigationRecord>> {
        pg_investigations::of_batch(self.conn(), batch)
            .await
            .map_err(contended)
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        self.tx.commit().await.map_err(db)
    }
}

/// The keys as two columns (correlations, groups), for `UNNEST`.
fn key_columns(keys: &[&WindowKey]) -> (Vec<String>, Vec<String>) {
    keys.iter()
        .map(|k| (k.correlation.clone(), k.group.clone()))
        .unzip()
}

//! The PostgreSQL investigation jobs: inserted with their case change, claimed with a lease (with
//! the case and its latest alert), recorded with their attachments, listed. SQL only.

use crate::page::{self, page};
use crate::pg::{case_by_id, parse_time_cursor, uuid};
use crate::pg_outbox::load_alert;
use crate::time::{from_micros, micros};
use crate::tx::{InvestigationRow, LeasedInvestigation};
use crate::{
    InvestigationFilter, InvestigationJob, InvestigationRecord, InvestigationResult, Page, Result,
    StoreError, StoredAttachment,
};
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};
use std::time::Duration;
use uuid::Uuid;

/// Rows per statement (7 bound values each).
const CHUNK: usize = 500;

/// The columns `record` reads, in order.
const COLUMNS: &str = "i.id, i.case_id, i.investigator, i.trigger, i.batch, i.state, i.attempts,
    i.created_at, i.started_at, i.finished_at, i.status, i.reason, i.findings, i.summary,
    (SELECT string_agg(a.id, ',' ORDER BY a.id) FROM attachments a WHERE a.investigation_id = i.id),
    i.same_since, i.fixed";

pub(crate) async fn insert(
    conn: &mut PgConnection,
    rows: &[InvestigationRow],
    now: DateTime<Utc>,
) -> Result<()> {
    for chunk in rows.chunks(CHUNK) {
        let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(
            "INSERT INTO investigations (id, case_id, investigator, trigger, batch, next_at, created_at) ",
        );
        qb.push_values(chunk, |mut b, r| {
            b.push_bind(r.id.to_string())
                .push_bind(r.case_id.to_string())
                .push_bind(r.investigator.clone())
                .push_bind(r.trigger.clone())
                .push_bind(r.batch.to_string())
                .push_bind(micros(now))
                .push_bind(micros(now));
        });
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

pub(crate) async fn claim(
    conn: &mut PgConnection,
    owner: &str,
    limit: usize,
    lease: Duration,
    now: DateTime<Utc>,
) -> Result<Vec<InvestigationJob>> {
    let now_us = micros(now);
    let until = crate::time::lease_until(now_us, lease);
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let rows = sqlx::query(
        "WITH picked AS (
           SELECT id FROM investigations
           WHERE state IN ('pending', 'running') AND next_at <= $4
             AND (state = 'pending' OR lease_until < $5)
           ORDER BY next_at, id LIMIT $6 FOR UPDATE SKIP LOCKED)
         UPDATE investigations i SET state = 'running', lease_owner = $1, lease_until = $2,
           attempts = i.attempts + 1, started_at = COALESCE(i.started_at, $3)
         FROM picked WHERE i.id = picked.id
         RETURNING i.id, i.case_id, i.investigator, i.trigger, i.batch, i.attempts",
    )
    .bind(owner)
    .bind(until)
    .bind(now_us)
    .bind(now_us)
    .bind(now_us)
    .bind(limit.max(1) as i64)
    .fetch_all(&mut *tx)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let case_id = uuid(r.get::<&str, _>(1), "investigation case id")?;
        let Some(case) = case_by_id(&mut tx, case_id).await? else {
            return Err(StoreError::corrupt(
                "investigation",
                format!("case {case_id} not found"),
            ));
        };
        let alert = load_alert(&mut tx, case.last_alert_id).await?;
        out.push(InvestigationJob {
            id: uuid(r.get::<&str, _>(0), "investigation id")?,
            case_id,
            investigator: r.get(2),
            trigger: r.get(3),
            batch: uuid(r.get::<&str, _>(4), "investigation batch")?,
            attempts: u32::try_from(r.get::<i64, _>(5)).unwrap_or(u32::MAX),
            case,
            alert,
        });
    }
    tx.commit().await?;
    out.sort_by_key(|j| j.id);
    Ok(out)
}

pub(crate) async fn leased(
    conn: &mut PgConnection,
    id: Uuid,
    owner: &str,
) -> Result<Option<LeasedInvestigation>> {
    let rows = sqlx::query(
        "SELECT case_id, investigator, trigger, batch FROM investigations
         WHERE id = $1 AND state = 'running' AND lease_owner = $2",
    )
    .bind(id.to_string())
    .bind(owner)
    .fetch_all(&mut *conn)
    .await?;
    let Some(r) = rows.first() else {
        return Ok(None);
    };
    let batch: &str = r.get(3);
    // the batch's jobs, locked in order: two instances finishing jobs of one batch take turns,
    // so that exactly one of them sees the batch done and writes its note
    sqlx::query("SELECT 1 FROM investigations WHERE batch = $1 ORDER BY id FOR UPDATE")
        .bind(batch)
        .fetch_all(&mut *conn)
        .await?;
    Ok(Some(LeasedInvestigation {
        case_id: uuid(r.get::<&str, _>(0), "investigation case id")?,
        investigator: r.get(1),
        trigger: r.get(2),
        batch: uuid(batch, "investigation batch")?,
    }))
}

pub(crate) async fn record(
    conn: &mut PgConnection,
    id: Uuid,
    case_id: Uuid,
    result: &InvestigationResult,
    same_since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<()> {
    let ids: Vec<Uuid> = result.attachments.iter().map(|_| Uuid::now_v7()).collect();
    let named: Vec<(&str, Uuid)> = result
        .attachments
        .iter()
        .zip(&ids)
        .map(|(a, id)| (a.name.as_str(), *id))
        .collect();
    let summary = crate::flow::attachment_ids(&result.summary, &named);
    sqlx::query(
        "UPDATE investigations SET state = 'done', lease_owner = NULL, lease_until = NULL,
           finished_at = $1, status = $2, reason = $3, findings = $4, summary = $5, same_since = $6,
           fixed = $7
         WHERE id = $8",
    )
    .bind(micros(now))
    .bind(&result.status)
    .bind(&result.reason)
    .bind(crate::flow::to_json(
        &result.findings,
        "investigation findings",
    )?)
    .bind(summary.as_ref())
    .bind(same_since.map(micros))
    .bind(&result.fixed)
    .bind(id.to_string())
    .execute(&mut *conn)
    .await?;
    for (a, attachment_id) in result.attachments.iter().zip(&ids) {
        sqlx::query(
            "INSERT INTO attachments (id, investigation_id, case_id, name, content_type, bytes)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(attachment_id.to_string())
        .bind(id.to_string())
        .bind(case_id.to_string())
        .bind(&a.name)
        .bind(&a.content_type)
        .bind(&a.bytes)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

pub(crate) async fn of_batch(
    conn: &mut PgConnection,
    batch: Uuid,
) -> Result<Vec<InvestigationRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM investigations i WHERE i.batch = $1 ORDER BY i.id"
    ))
    .bind(batch.to_string())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(record_row).collect()
}

/// Puts a held job back to pending until `at`, noting why (its lease released).
pub(crate) async fn retry(
    conn: &mut PgConnection,
    id: Uuid,
    at: DateTime<Utc>,
    reason: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE investigations SET state = 'pending', lease_owner = NULL, lease_until = NULL,
           next_at = $1, reason = $2 WHERE id = $3",
    )
    .bind(micros(at))
    .bind(reason)
    .bind(id.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The finished runs of a case, newest first (at most 500), except those of `excluding`.
pub(crate) async fn finished_of_case(
    conn: &mut PgConnection,
    case_id: Uuid,
    excluding: Option<Uuid>,
) -> Result<Vec<InvestigationRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM investigations i
         WHERE i.case_id = $1 AND i.state = 'done' AND ($2 IS NULL OR i.batch <> $3)
         ORDER BY i.finished_at DESC, i.id DESC LIMIT 500"
    ))
    .bind(case_id.to_string())
    .bind(excluding.map(|b| b.to_string()))
    .bind(excluding.map(|b| b.to_string()))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(record_row).collect()
}

/// Open cases `investigator` ran on before, with no run of it created since `since`, after
/// case `after`, by id.
pub(crate) async fn stale(
    pool: &sqlx::PgPool,
    investigator: &str,
    since: DateTime<Utc>,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<Uuid>> {
    let rows = sqlx::query(
        "SELECT c.id FROM cases c
         WHERE c.status = 'open' AND ($1 IS NULL OR c.id > $2)
           AND EXISTS (SELECT 1 FROM investigations i
                       WHERE i.case_id = c.id AND i.investigator = $3)
           AND NOT EXISTS (SELECT 1 FROM investigations i
                           WHERE i.case_id = c.id AND i.investigator = $4 AND i.created_at >= $5)
         ORDER BY c.id LIMIT $6",
    )
    .bind(after.map(|a| a.to_string()))
    .bind(after.map(|a| a.to_string()))
    .bind(investigator)
    .bind(investigator)
    .bind(micros(since))
    .bind(i64::from(limit.max(1)))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| uuid(r.get::<&str, _>(0), "case id"))
        .collect()
}

pub(crate) async fn attachment(pool: &sqlx::PgPool, id: Uuid) -> Result<Option<StoredAttachment>> {
    let rows = sqlx::query(
        "SELECT id, investigation_id, case_id, name, content_type, bytes FROM attachments
         WHERE id = $1",
    )
    .bind(id.to_string())
    .fetch_all(pool)
    .await?;
    let Some(r) = rows.first() else {
        return Ok(None);
    };
    Ok(Some(StoredAttachment {
        id: uuid(r.get::<&str, _>(0), "attachment id")?,
        investigation_id: uuid(r.get::<&str, _>(1), "attachment investigation")?,
        case_id: uuid(r.get::<&str, _>(2), "attachment case")?,
        name: r.get(3),
        content_type: r.get(4),
        bytes: r.get(5),
    }))
}

pub(crate) async fn release(pool: &sqlx::PgPool, owner: Option<&str>) -> Result<u64> {
    let r = sqlx::query(
        "UPDATE investigations SET state = 'pending', lease_owner = NULL, lease_until = NULL
         WHERE state = 'running' AND ($1 IS NULL OR lease_owner = $2)",
    )
    .bind(owner)
    .bind(owner)
    .execute(pool)
    .await?;
    Ok(r.rows_affected())
}

pub(crate) async fn list(
    pool: &sqlx::PgPool,
    f: &InvestigationFilter,
) -> Result<Page<InvestigationRecord>> {
    let limit = page::limit(f.limit);
    let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(format!(
        "SELECT {COLUMNS} FROM investigations i WHERE 1 = 1"
    ));
    if let Some(c) = f.case_id {
        qb.push(" AND i.case_id = ").push_bind(c.to_string());
    }
    if let Some(s) = &f.state {
        qb.push(" AND i.state = ").push_bind(s.clone());
    }
    if let Some(s) = &f.investigator {
        qb.push(" AND i.investigator = ").push_bind(s.clone());
    }
    if let Some(c) = &f.cursor {
        let (t, id) = parse_time_cursor(c)?;
        qb.push(" AND (i.created_at < ").push_bind(t);
        qb.push(" OR (i.created_at = ")
            .push_bind(t)
            .push(" AND i.id < ")
            .push_bind(id)
            .push("))");
    }
    qb.push(" ORDER BY i.created_at DESC, i.id DESC LIMIT ")
        .push_bind(limit + 1);
    let rows = qb.build().fetch_all(pool).await?;
    page(&rows, limit, record_row, |r| {
        format!("{}.{}", r.get::<i64, _>(7), r.get::<&str, _>(0))
    })
}

fn record_row(r: &PgRow) -> Result<InvestigationRecord> {
    let findings = r
        .get::<Option<&str>, _>(12)
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| StoreError::corrupt("investigation findings", e))?;
    let attachments = r
        .get::<Option<&str>, _>(14)
        .unwrap_or("")
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| uuid(s, "attachment id"))
        .collect::<Result<Vec<_>>>()?;
    Ok(InvestigationRecord {
        id: uuid(r.get::<&str, _>(0), "investigation id")?,
        case_id: uuid(r.get::<&str, _>(1), "investigation case id")?,
        investigator: r.get(2),
        trigger: r.get(3),
        batch: uuid(r.get::<&str, _>(4), "investigation batch")?,
        state: r.get(5),
        attempts: r.get(6),
        created_at: from_micros(r.get(7)),
        started_at: r.get::<Option<i64>, _>(8).map(from_micros),
        finished_at: r.get::<Option<i64>, _>(9).map(from_micros),
        status: r.get(10),
        reason: r.get(11),
        findings,
        summary: r.get(13),
        attachments,
        same_since: r.get::<Option<i64>, _>(15).map(from_micros),
        fixed: r.get(16),
    })
}

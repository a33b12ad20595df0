//! The PostgreSQL outbox: deliveries inserted (folding repeats), claimed in lane order, listed and
//! replayed. SQL only: what a finished delivery writes is decided in `flow.rs`.

use crate::page::{self, page};
use crate::pg::case_by_id;
use crate::time::{from_micros, micros};
use crate::tx::OutboxRow;
use crate::{DeliveryFilter, DeliveryRow, Page, Result, StoreError};
use chrono::{DateTime, Utc};
use irene_core::{Action, Alert, Case, Delivery, Judged, TicketState};
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder, Row};
use std::collections::HashSet;
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;

const CHUNK: usize = 500;

/// Inserts deliveries due `now`; a pending repeat of one case to one output takes the new
/// detail instead (folding into the one not yet claimed).
pub(crate) async fn insert_rows(
    conn: &mut PgConnection,
    rows: &[OutboxRow],
    now: DateTime<Utc>,
) -> Result<()> {
    let t = micros(now);
    // a held repeat replaces the one held before it (a repeat tells how the case is now)
    for r in rows
        .iter()
        .filter(|r| r.held_by.is_some() && r.action == Action::Repeat)
    {
        sqlx::query(
            "DELETE FROM outbox WHERE state = 'held' AND action = 'repeat' AND case_id = $1 AND output = $2",
        )
        .bind(r.case_id.map(|c| c.to_string()))
        .bind(&r.output)
        .execute(&mut *conn)
        .await?;
    }
    for chunk in fold_chunks(rows) {
        let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(
            "INSERT INTO outbox (case_id, output, action, case_doc, detail, next_at, created_at, updated_at, state, held_by) ",
        );
        qb.push_values(chunk, |mut b, r| {
            b.push_bind(r.case_id.map(|c| c.to_string()))
                .push_bind(r.output.clone())
                .push_bind(r.action.as_str())
                .push_bind(r.case_doc.clone())
                .push_bind(r.detail.clone())
                .push_bind(t)
                .push_bind(t)
                .push_bind(t)
                .push_bind(if r.held_by.is_some() {
                    "held"
                } else {
                    "pending"
                })
                .push_bind(r.held_by.clone());
        });
        qb.push(
            " ON CONFLICT (case_id, output) WHERE state = 'pending' AND action = 'repeat'
              DO UPDATE SET detail = excluded.detail, updated_at = excluded.updated_at",
        );
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Cuts `rows` into statements of at most `CHUNK` rows in which no two pending repeats share
/// a lane: PostgreSQL's upsert may not fold a row into one the same statement inserted.
fn fold_chunks(rows: &[OutboxRow]) -> Vec<&[OutboxRow]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut lanes: HashSet<(Option<Uuid>, &str)> = HashSet::new();
    for (i, r) in rows.iter().enumerate() {
        let folds = r.held_by.is_none() && r.action == Action::Repeat;
        if i - start == CHUNK || (folds && lanes.contains(&(r.case_id, r.output.as_str()))) {
            out.push(&rows[start..i]);
            start = i;
            lanes.clear();
        }
        if folds {
            lanes.insert((r.case_id, r.output.as_str()));
        }
    }
    if start < rows.len() {
        out.push(&rows[start..]);
    }
    out
}

/// What holds deliveries back now (each `held_by` with held rows).
pub(crate) async fn held_by(conn: &PgPool) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT held_by FROM outbox WHERE state = 'held' AND held_by IS NOT NULL",
    )
    .fetch_all(conn)
    .await?)
}

pub(crate) async fn held_counts(conn: &PgPool) -> Result<Vec<(String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT held_by, COUNT(*) FROM outbox WHERE state = 'held' AND held_by IS NOT NULL
         GROUP BY held_by ORDER BY held_by",
    )
    .fetch_all(conn)
    .await?)
}

/// Releases what `by` held: rows of open cases go out now (a held repeat only if none is
/// pending), the others are dropped. The cases released and the cases dropped.
pub(crate) async fn release(
    conn: &mut PgConnection,
    by: &str,
    now: DateTime<Utc>,
) -> Result<(Vec<Uuid>, Vec<Uuid>)> {
    let t = micros(now);
    let cases = |rows: Vec<Option<String>>| -> Result<Vec<Uuid>> {
        let mut out: Vec<Uuid> = Vec::new();
        for r in rows {
            if let Some(c) = parse_uuid(r.as_deref(), "held delivery case id")? {
                if !out.contains(&c) {
                    out.push(c);
                }
            }
        }
        Ok(out)
    };
    sqlx::query(
        "DELETE FROM outbox WHERE state = 'held' AND held_by = $1 AND action = 'repeat'
           AND EXISTS (SELECT 1 FROM outbox p WHERE p.case_id = outbox.case_id
                       AND p.output = outbox.output AND p.state = 'pending' AND p.action = 'repeat')",
    )
    .bind(by)
    .execute(&mut *conn)
    .await?;
    let released: Vec<Option<String>> = sqlx::query_scalar(
        "UPDATE outbox SET state = 'pending', next_at = $1, updated_at = $2
         WHERE state = 'held' AND held_by = $3
           AND case_id IN (SELECT id FROM cases WHERE status = 'open')
         RETURNING case_id",
    )
    .bind(t)
    .bind(t)
    .bind(by)
    .fetch_all(&mut *conn)
    .await?;
    let dropped: Vec<Option<String>> = sqlx::query_scalar(
        "UPDATE outbox SET state = 'dropped', updated_at = $1,
           note = 'held back, and the case was no longer open when the hold ended'
         WHERE state = 'held' AND held_by = $2 RETURNING case_id",
    )
    .bind(t)
    .bind(by)
    .fetch_all(&mut *conn)
    .await?;
    Ok((cases(released)?, cases(dropped)?))
}

fn parse_uuid(s: Option<&str>, what: &'static str) -> Result<Option<Uuid>> {
    s.map(|s| Uuid::parse_str(s).map_err(|e| StoreError::corrupt(what, e)))
        .transpose()
}

fn parse_action(s: &str) -> Result<Action> {
    Action::from_str(s).map_err(|e| StoreError::corrupt("delivery action", e))
}

pub(crate) async fn claim(
    conn: &mut PgConnection,
    owner: &str,
    limit: usize,
    lease: Duration,
    now: DateTime<Utc>,
) -> Result<Vec<Delivery>> {
    let now_us = micros(now);
    let until = crate::time::lease_until(now_us, lease);
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let rows = sqlx::query(
        // a row another instance is claiming is skipped (SKIP LOCKED), and it still holds the
        // rows after it in its lane back (the NOT EXISTS sees it pending or sending)
        "WITH picked AS (
           SELECT o.seq FROM outbox o
           WHERE o.state IN ('pending', 'sending') AND o.next_at <= $3
             AND (o.state = 'pending' OR o.lease_until < $4)
             AND NOT EXISTS (
               SELECT 1 FROM outbox p
               WHERE p.case_id = o.case_id AND p.output = o.output AND p.seq < o.seq
                 AND p.state IN ('pending', 'sending') AND p.action <> 'repeat')
           ORDER BY o.seq LIMIT $5 FOR UPDATE OF o SKIP LOCKED)
         UPDATE outbox SET state = 'sending', lease_owner = $1, lease_until = $2
         FROM picked WHERE outbox.seq = picked.seq
         RETURNING outbox.seq, outbox.case_id, outbox.output, outbox.action, outbox.case_doc,
                   outbox.detail, outbox.attempts, outbox.created_at",
    )
    .bind(owner)
    .bind(until)
    .bind(now_us)
    .bind(now_us)
    .bind(limit.max(1) as i64)
    .fetch_all(&mut *tx)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let case_id = parse_uuid(r.get::<Option<&str>, _>(1), "delivery case id")?;
        let output: String = r.get(2);
        let case: Option<Case> = match (r.get::<Option<&str>, _>(4), case_id) {
            (Some(d), _) => {
                Some(serde_json::from_str(d).map_err(|e| StoreError::corrupt("case", e))?)
            }
            (None, Some(id)) => case_by_id(&mut tx, id).await?,
            (None, None) => None,
        };
        let alert = match &case {
            Some(c) => load_alert(&mut tx, c.last_alert_id).await?,
            None => None,
        };
        let ticket = match case_id {
            Some(id) => load_ticket(&mut tx, id, &output).await?,
            None => None,
        };
        out.push(Delivery {
            id: r.get(0),
            case_id,
            output,
            action: parse_action(r.get::<&str, _>(3))?,
            case,
            detail: serde_json::from_str(r.get::<&str, _>(5))
                .map_err(|e| StoreError::corrupt("delivery detail", e))?,
            alert,
            attempts: u32::try_from(r.get::<i64, _>(6)).unwrap_or(u32::MAX),
            created_at: from_micros(r.get(7)),
            ticket,
        });
    }
    tx.commit().await?;
    out.sort_by_key(|d| d.id);
    Ok(out)
}

pub(crate) async fn load_alert(conn: &mut PgConnection, id: Uuid) -> Result<Option<Alert>> {
    let rows = sqlx::query("SELECT doc FROM alerts WHERE id = $1")
        .bind(id.to_string())
        .fetch_all(&mut *conn)
        .await?;
    rows.first()
        .map(|r| {
            serde_json::from_str::<Judged>(r.get::<&str, _>(0))
                .map(|j| j.alert)
                .map_err(|e| StoreError::corrupt("alert", e))
        })
        .transpose()
}

async fn load_ticket(
    conn: &mut PgConnection,
    case_id: Uuid,
    output: &str,
) -> Result<Option<TicketState>> {
    let rows =
        sqlx::query("SELECT reference, url, data FROM tickets WHERE case_id = $1 AND output = $2")
            .bind(case_id.to_string())
            .bind(output)
            .fetch_all(&mut *conn)
            .await?;
    rows.first()
        .map(|r| {
            Ok(TicketState {
                reference: r.get(0),
                url: r.get(1),
                data: serde_json::from_str(r.get::<&str, _>(2))
                    .map_err(|e| StoreError::corrupt("ticket", e))?,
            })
        })
        .transpose()
}

const ROW_COLUMNS: &str = "seq, case_id, output, action, state, attempts, next_at, created_at, updated_at, last_error, note, detail";

fn delivery_row(r: &sqlx::postgres::PgRow) -> Result<DeliveryRow> {
    Ok(DeliveryRow {
        id: r.get(0),
        case_id: parse_uuid(r.get::<Option<&str>, _>(1), "delivery case id")?,
        output: r.get(2),
        action: parse_action(r.get::<&str, _>(3))?,
        state: r.get(4),
        attempts: r.get(5),
        next_at: from_micros(r.get(6)),
        created_at: from_micros(r.get(7)),
        updated_at: from_micros(r.get(8)),
        last_error: r.get(9),
        note: r.get(10),
        detail: serde_json::from_str(r.get::<&str, _>(11))
            .map_err(|e| StoreError::corrupt("delivery detail", e))?,
    })
}

pub(crate) async fn list(pool: &sqlx::PgPool, f: &DeliveryFilter) -> Result<Page<DeliveryRow>> {
    let limit = page::limit(f.limit);
    let mut qb: QueryBuilder<Postgres> =
        QueryBuilder::new(format!("SELECT {ROW_COLUMNS} FROM outbox WHERE 1 = 1"));
    if let Some(s) = &f.state {
        qb.push(" AND state = ").push_bind(s.clone());
    }
    if let Some(c) = f.case_id {
        qb.push(" AND case_id = ").push_bind(c.to_string());
    }
    if let Some(o) = &f.output {
        qb.push(" AND output = ").push_bind(o.clone());
    }
    if let Some(h) = &f.held_by {
        qb.push(" AND held_by = ").push_bind(h.clone());
    }
    if let Some(c) = &f.cursor {
        let seq: i64 = c.parse().map_err(|_| StoreError::InvalidCursor)?;
        qb.push(" AND seq < ").push_bind(seq);
    }
    qb.push(" ORDER BY seq DESC LIMIT ").push_bind(limit + 1);
    let rows = qb.build().fetch_all(pool).await?;
    page(&rows, limit, delivery_row, |r| {
        r.get::<i64, _>(0).to_string()
    })
}

pub(crate) async fn retry(
    conn: &mut PgConnection,
    id: i64,
    now: DateTime<Utc>,
) -> Result<Option<DeliveryRow>> {
    let rows = sqlx::query(&format!(
        "UPDATE outbox SET state = 'pending', attempts = 0, next_at = $1, updated_at = $2
         WHERE seq = $3 AND state = 'dead' RETURNING {ROW_COLUMNS}"
    ))
    .bind(micros(now))
    .bind(micros(now))
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    rows.first().map(delivery_row).transpose()
}

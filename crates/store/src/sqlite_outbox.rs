//! The SQLite outbox: deliveries planned in the case change's own transaction, claimed in lane
//! order, finished with their tickets and timeline entries; batch-job bookkeeping. SQL only.

use crate::time::{from_micros, micros};
use crate::{DeliveryFilter, DeliveryRow, Finish, NewDelivery, Page, Result, StoreError};
use chrono::{DateTime, Utc};
use irene_core::{
    Action, Alert, Case, Change, Delivery, Judged, Planner, Ticket, TicketState, TimelineKind,
};
use serde_json::json;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;

const CHUNK: usize = 500;

struct OutRow {
    case_id: Option<String>,
    output: String,
    action: Action,
    case_doc: Option<String>,
    detail: String,
}

fn json_text<T: serde::Serialize>(v: &T, what: &'static str) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::corrupt(what, e))
}

/// Plans the deliveries of `changes` and writes them in the caller's transaction. Repeats of
/// one case to one output fold into the one not yet claimed. `skip`: an output told nothing
/// (the one whose ticket a person changed).
pub(crate) async fn enqueue_planned(
    conn: &mut SqliteConnection,
    changes: &[Change],
    planner: &dyn Planner,
    skip: Option<&str>,
    now: DateTime<Utc>,
) -> Result<()> {
    let mut rows = Vec::new();
    for ch in changes {
        let planned = planner.plan(ch);
        if planned.is_empty() {
            continue;
        }
        let mut doc = None;
        for p in planned {
            if Some(p.output.as_str()) == skip {
                continue;
            }
            // A repeat says how the case is when it is sent (it folds later repeats), so it
            // keeps no snapshot and reads the case at claim time: most case changes are
            // repeats, and this keeps their cost to one small row.
            let case_doc = if p.action == Action::Repeat {
                None
            } else {
                if doc.is_none() {
                    doc = Some(json_text(&ch.case, "case")?);
                }
                doc.clone()
            };
            rows.push(OutRow {
                case_id: Some(ch.case.id.to_string()),
                output: p.output,
                action: p.action,
                case_doc,
                detail: json_text(&p.detail, "delivery detail")?,
            });
        }
    }
    insert_rows(conn, &rows, now).await
}

async fn insert_rows(
    conn: &mut SqliteConnection,
    rows: &[OutRow],
    now: DateTime<Utc>,
) -> Result<()> {
    let t = micros(now);
    for chunk in rows.chunks(CHUNK) {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO outbox (case_id, output, action, case_doc, detail, next_at, created_at, updated_at) ",
        );
        qb.push_values(chunk, |mut b, r| {
            b.push_bind(r.case_id.clone())
                .push_bind(r.output.clone())
                .push_bind(r.action.as_str())
                .push_bind(r.case_doc.clone())
                .push_bind(r.detail.clone())
                .push_bind(t)
                .push_bind(t)
                .push_bind(t);
        });
        qb.push(
            " ON CONFLICT (case_id, output) WHERE state = 'pending' AND action = 'repeat'
              DO UPDATE SET detail = excluded.detail, updated_at = excluded.updated_at",
        );
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

pub(crate) async fn enqueue(
    conn: &mut SqliteConnection,
    items: &[NewDelivery],
    now: DateTime<Utc>,
) -> Result<()> {
    let mut rows = Vec::with_capacity(items.len());
    for it in items {
        rows.push(OutRow {
            case_id: it.case.as_ref().map(|c| c.id.to_string()),
            output: it.output.clone(),
            action: it.action,
            case_doc: it.case.as_ref().map(|c| json_text(c, "case")).transpose()?,
            detail: json_text(&it.detail, "delivery detail")?,
        });
    }
    insert_rows(conn, &rows, now).await
}

fn parse_uuid(s: Option<&str>, what: &'static str) -> Result<Option<Uuid>> {
    s.map(|s| Uuid::parse_str(s).map_err(|e| StoreError::corrupt(what, e)))
        .transpose()
}

fn parse_action(s: &str) -> Result<Action> {
    Action::from_str(s).map_err(|e| StoreError::corrupt("delivery action", e))
}

pub(crate) async fn claim(
    conn: &mut SqliteConnection,
    owner: &str,
    limit: usize,
    lease: Duration,
    now: DateTime<Utc>,
) -> Result<Vec<Delivery>> {
    let now_us = micros(now);
    let until = now_us + i64::try_from(lease.as_micros()).unwrap_or(i64::MAX / 2);
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let rows = sqlx::query(
        "UPDATE outbox SET state = 'sending', lease_owner = ?, lease_until = ?
         WHERE seq IN (
           SELECT o.seq FROM outbox o
           WHERE o.state IN ('pending', 'sending') AND o.next_at <= ?
             AND (o.state = 'pending' OR o.lease_until < ?)
             AND NOT EXISTS (
               SELECT 1 FROM outbox p
               WHERE p.case_id = o.case_id AND p.output = o.output AND p.seq < o.seq
                 AND p.state IN ('pending', 'sending') AND p.action <> 'repeat')
           ORDER BY o.seq LIMIT ?)
         RETURNING seq, case_id, output, action, case_doc, detail, attempts, created_at",
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
            (None, Some(id)) => load_case_doc(&mut tx, id).await?,
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

async fn load_case_doc(conn: &mut SqliteConnection, id: Uuid) -> Result<Option<Case>> {
    let rows = sqlx::query("SELECT doc FROM cases WHERE id = ?")
        .bind(id.to_string())
        .fetch_all(&mut *conn)
        .await?;
    rows.first()
        .map(|r| {
            serde_json::from_str(r.get::<&str, _>(0)).map_err(|e| StoreError::corrupt("case", e))
        })
        .transpose()
}

async fn load_alert(conn: &mut SqliteConnection, id: Uuid) -> Result<Option<Alert>> {
    let rows = sqlx::query("SELECT doc FROM alerts WHERE id = ?")
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
    conn: &mut SqliteConnection,
    case_id: Uuid,
    output: &str,
) -> Result<Option<TicketState>> {
    let rows =
        sqlx::query("SELECT reference, url, data FROM tickets WHERE case_id = ? AND output = ?")
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

/// Writes an output's ticket for a case, and mirrors a made ticket onto the case document so
/// the API shows it.
pub(crate) async fn save_ticket(
    conn: &mut SqliteConnection,
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
    .bind(json_text(&ticket.data, "ticket")?)
    .bind(micros(now))
    .execute(&mut *conn)
    .await?;
    if ticket.reference.is_empty() {
        return Ok(());
    }
    let rows = sqlx::query("SELECT doc FROM cases WHERE id = ?")
        .bind(case_id.to_string())
        .fetch_all(&mut *conn)
        .await?;
    let Some(row) = rows.first() else {
        return Ok(());
    };
    let mut case: Case =
        serde_json::from_str(row.get::<&str, _>(0)).map_err(|e| StoreError::corrupt("case", e))?;
    let t = Ticket {
        output: output.to_string(),
        kind: kind.to_string(),
        reference: ticket.reference.clone(),
        url: ticket.url.clone(),
    };
    match case.tickets.iter_mut().find(|x| x.output == output) {
        Some(existing) if *existing == t => return Ok(()),
        Some(existing) => *existing = t,
        None => case.tickets.push(t),
    }
    sqlx::query("UPDATE cases SET doc = ? WHERE id = ?")
        .bind(json_text(&case, "case")?)
        .bind(case_id.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn timeline_note(
    conn: &mut SqliteConnection,
    case_id: &str,
    now: DateTime<Utc>,
    detail: serde_json::Value,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO timeline (case_id, at, kind, alert_id, detail) VALUES (?, ?, ?, NULL, ?)",
    )
    .bind(case_id)
    .bind(micros(now))
    .bind(TimelineKind::Notification.as_str())
    .bind(json_text(&detail, "timeline")?)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(crate) async fn finish(
    conn: &mut SqliteConnection,
    owner: &str,
    id: i64,
    finish: Finish,
    now: DateTime<Utc>,
) -> Result<bool> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let rows = sqlx::query(
        "SELECT case_id, output, action FROM outbox WHERE seq = ? AND state = 'sending' AND lease_owner = ?",
    )
    .bind(id)
    .bind(owner)
    .fetch_all(&mut *tx)
    .await?;
    let Some(row) = rows.first() else {
        return Ok(false);
    };
    let case_id: Option<String> = row.get(0);
    let output: String = row.get(1);
    let action = parse_action(row.get::<&str, _>(2))?;
    let t = micros(now);
    match finish {
        Finish::Done { kind, ticket, note } => {
            sqlx::query(
                "UPDATE outbox SET state = 'done', attempts = attempts + 1, updated_at = ?, note = ?,
                   lease_owner = NULL, lease_until = NULL WHERE seq = ?",
            )
            .bind(t)
            .bind(&note)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if let Some(cid) = &case_id {
                let uuid = Uuid::parse_str(cid).map_err(|e| StoreError::corrupt("case id", e))?;
                match &ticket {
                    Some(ticket) => save_ticket(&mut tx, uuid, &output, &kind, ticket, now).await?,
                    None => {
                        sqlx::query(
                            "UPDATE tickets SET touched_at = ? WHERE case_id = ? AND output = ?",
                        )
                        .bind(t)
                        .bind(cid)
                        .bind(&output)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                if action == Action::Resolve {
                    // A close says everything the repeats before it would have said.
                    sqlx::query(
                        "UPDATE outbox SET state = 'done', updated_at = ?, note = 'folded into resolve'
                         WHERE case_id = ? AND output = ? AND action = 'repeat' AND state = 'pending' AND seq < ?",
                    )
                    .bind(t)
                    .bind(cid)
                    .bind(&output)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                }
                timeline_note(
                    &mut tx,
                    cid,
                    now,
                    json!({"output": output, "action": action, "delivery": id, "result": "sent",
                           "note": note, "reference": ticket.as_ref().map(|t| &t.reference),
                           "url": ticket.as_ref().and_then(|t| t.url.as_ref())}),
                )
                .await?;
            }
        }
        Finish::Retry { error, next_at } => {
            sqlx::query(
                "UPDATE outbox SET state = 'pending', attempts = attempts + 1, updated_at = ?,
                   next_at = ?, last_error = ?, lease_owner = NULL, lease_until = NULL WHERE seq = ?",
            )
            .bind(t)
            .bind(micros(next_at))
            .bind(&error)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        Finish::Dead { error } => {
            sqlx::query(
                "UPDATE outbox SET state = 'dead', attempts = attempts + 1, updated_at = ?,
                   last_error = ?, lease_owner = NULL, lease_until = NULL WHERE seq = ?",
            )
            .bind(t)
            .bind(&error)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if let Some(cid) = &case_id {
                timeline_note(
                    &mut tx,
                    cid,
                    now,
                    json!({"output": output, "action": action, "delivery": id,
                           "result": "dead", "error": error}),
                )
                .await?;
            }
        }
        Finish::Defer { until } => {
            sqlx::query(
                "UPDATE outbox SET state = 'pending', updated_at = ?, next_at = ?,
                   lease_owner = NULL, lease_until = NULL WHERE seq = ?",
            )
            .bind(t)
            .bind(micros(until))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(true)
}

const ROW_COLUMNS: &str = "seq, case_id, output, action, state, attempts, next_at, created_at, updated_at, last_error, note, detail";

fn delivery_row(r: &sqlx::sqlite::SqliteRow) -> Result<DeliveryRow> {
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

pub(crate) async fn list(pool: &sqlx::SqlitePool, f: &DeliveryFilter) -> Result<Page<DeliveryRow>> {
    let limit = f.limit.clamp(1, 500) as i64;
    let mut qb: QueryBuilder<Sqlite> =
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
    if let Some(c) = &f.cursor {
        let seq: i64 = c.parse().map_err(|_| StoreError::InvalidCursor)?;
        qb.push(" AND seq < ").push_bind(seq);
    }
    qb.push(" ORDER BY seq DESC LIMIT ").push_bind(limit + 1);
    let rows = qb.build().fetch_all(pool).await?;
    let mut items = Vec::with_capacity(rows.len());
    let mut next_cursor = None;
    for (i, r) in rows.iter().enumerate() {
        if i as i64 == limit {
            next_cursor = items.last().map(|d: &DeliveryRow| d.id.to_string());
            break;
        }
        items.push(delivery_row(r)?);
    }
    Ok(Page { items, next_cursor })
}

pub(crate) async fn retry(
    conn: &mut SqliteConnection,
    id: i64,
    now: DateTime<Utc>,
) -> Result<Option<DeliveryRow>> {
    let rows = sqlx::query(&format!(
        "UPDATE outbox SET state = 'pending', attempts = 0, next_at = ?, updated_at = ?
         WHERE seq = ? AND state = 'dead' RETURNING {ROW_COLUMNS}"
    ))
    .bind(micros(now))
    .bind(micros(now))
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    rows.first().map(delivery_row).transpose()
}

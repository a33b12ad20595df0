//! The PostgreSQL event store: audit-log records written with their payload's commit, listed by
//! the investigator's filters with a cursor, and pruned after the retention. SQL only.

use crate::page::{self, page};
use crate::time::{from_micros, micros};
use crate::tx::EventRow;
use crate::{EventFilter, Page, Result, StoreError, StoredEvent};
use chrono::{DateTime, Utc};
use irene_core::{Actor, Event};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};
use std::collections::HashSet;
use uuid::Uuid;

/// Rows per statement (15 bound values each).
const CHUNK: usize = 400;

/// Inserts events; a record already stored under the same source id is skipped.
/// Returns the ids of the rows stored.
pub(crate) async fn insert(
    conn: &mut PgConnection,
    rows: &[EventRow<'_>],
) -> Result<HashSet<String>> {
    let mut stored = HashSet::with_capacity(rows.len());
    for chunk in rows.chunks(CHUNK) {
        let mut prepared = Vec::with_capacity(chunk.len());
        for r in chunk {
            let raw =
                serde_json::to_string(&r.event.raw).map_err(|e| StoreError::corrupt("event", e))?;
            let detections = serde_json::to_string(r.detections)
                .map_err(|e| StoreError::corrupt("event detections", e))?;
            prepared.push((r, raw, detections));
        }
        let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(
            "INSERT INTO events (id, inbox_id, item_index, source, source_id, name, account, region,
               principal, source_ip, user_agent, observed_at, received_at, detections, raw) ",
        );
        qb.push_values(prepared, |mut b, (r, raw, detections)| {
            let e = r.event;
            b.push_bind(r.id.clone())
                .push_bind(r.inbox_id.to_string())
                .push_bind(r.index)
                .push_bind(e.source.clone())
                .push_bind(e.source_id.clone())
                .push_bind(e.name.clone())
                .push_bind(e.account.clone())
                .push_bind(e.region.clone())
                .push_bind(e.actor.principal.clone())
                .push_bind(e.actor.ip.clone())
                .push_bind(e.actor.user_agent.clone())
                .push_bind(micros(e.observed_at.unwrap_or(r.received_at)))
                .push_bind(micros(r.received_at))
                .push_bind(detections)
                .push_bind(raw);
        });
        qb.push(
            " ON CONFLICT (source, source_id) WHERE source_id IS NOT NULL DO NOTHING RETURNING id",
        );
        for row in qb.build().fetch_all(&mut *conn).await? {
            stored.insert(row.get::<String, _>(0));
        }
    }
    Ok(stored)
}

pub(crate) async fn list(pool: &sqlx::PgPool, f: &EventFilter) -> Result<Page<StoredEvent>> {
    let limit = page::limit(f.limit);
    let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(
        "SELECT id, source, source_id, name, account, region, principal, source_ip, user_agent,
                observed_at, received_at, detections, raw FROM events WHERE 1 = 1",
    );
    for (column, value) in [
        ("source", &f.source),
        ("source_ip", &f.source_ip),
        ("principal", &f.principal),
        ("account", &f.account),
        ("name", &f.name),
    ] {
        if let Some(v) = value {
            qb.push(format!(" AND {column} = ")).push_bind(v.clone());
        }
    }
    if let Some(t) = f.since {
        qb.push(" AND observed_at >= ").push_bind(micros(t));
    }
    if let Some(t) = f.until {
        qb.push(" AND observed_at < ").push_bind(micros(t));
    }
    if let Some(c) = &f.cursor {
        let (t, id) = crate::pg::parse_time_cursor(c)?;
        qb.push(" AND (observed_at < ").push_bind(t);
        qb.push(" OR (observed_at = ")
            .push_bind(t)
            .push(" AND id < ")
            .push_bind(id)
            .push("))");
    }
    qb.push(" ORDER BY observed_at DESC, id DESC LIMIT ")
        .push_bind(limit + 1);
    let rows = qb.build().fetch_all(pool).await?;
    page(&rows, limit, stored_event, |r| {
        format!("{}.{}", r.get::<i64, _>(9), r.get::<&str, _>(0))
    })
}

fn stored_event(r: &PgRow) -> Result<StoredEvent> {
    let corrupt = |e: &dyn std::fmt::Display| StoreError::corrupt("event", e);
    Ok(StoredEvent {
        id: Uuid::parse_str(r.get::<&str, _>(0)).map_err(|e| corrupt(&e))?,
        event: Event {
            source: r.get(1),
            source_id: r.get(2),
            name: r.get(3),
            account: r.get(4),
            region: r.get(5),
            actor: Actor {
                principal: r.get(6),
                ip: r.get(7),
                user_agent: r.get(8),
            },
            observed_at: Some(from_micros(r.get(9))),
            raw: serde_json::from_str(r.get::<&str, _>(12)).map_err(|e| corrupt(&e))?,
        },
        received_at: from_micros(r.get(10)),
        detections: serde_json::from_str(r.get::<&str, _>(11)).map_err(|e| corrupt(&e))?,
    })
}

pub(crate) async fn prune(pool: &sqlx::PgPool, before: DateTime<Utc>) -> Result<u64> {
    let r = sqlx::query("DELETE FROM events WHERE received_at < $1")
        .bind(micros(before))
        .execute(pool)
        .await?;
    Ok(r.rows_affected())
}

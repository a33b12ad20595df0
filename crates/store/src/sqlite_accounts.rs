//! The SQLite console records: the audit log (`audit_log`, migration 0017). SQL only: who may
//! do what, and what an action means, is the caller's.

use crate::time::{from_micros, micros};
use crate::{page, AuditEntry, NewAudit, Page, Result, StoreError};
use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};

pub(crate) async fn audit_add(
    writer: &SqlitePool,
    entry: &NewAudit,
    now: DateTime<Utc>,
) -> Result<i64> {
    let id = sqlx::query(
        "INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(micros(now))
    .bind(&entry.actor)
    .bind(&entry.action)
    .bind(&entry.target)
    .bind(&entry.detail)
    .execute(writer)
    .await?
    .last_insert_rowid();
    Ok(id)
}

fn audit_of(r: &SqliteRow) -> Result<AuditEntry> {
    Ok(AuditEntry {
        id: r.get("id"),
        at: from_micros(r.get("at")),
        actor: r.get("actor"),
        action: r.get("action"),
        target: r.get("target"),
        detail: r.get("detail"),
    })
}

pub(crate) async fn audit_list(
    reader: &SqlitePool,
    filter: &crate::AuditFilter,
) -> Result<Page<AuditEntry>> {
    let limit = page::limit(filter.limit);
    let before = match filter.cursor.as_deref() {
        Some(c) => c.parse::<i64>().map_err(|_| StoreError::InvalidCursor)?,
        None => i64::MAX,
    };
    let rows = sqlx::query(
        "SELECT id, at, actor, action, target, detail FROM audit_log
         WHERE id < ? AND (? IS NULL OR actor = ?) ORDER BY id DESC LIMIT ?",
    )
    .bind(before)
    .bind(filter.actor.as_deref())
    .bind(filter.actor.as_deref())
    .bind(limit + 1)
    .fetch_all(reader)
    .await?;
    page::page(&rows, limit, audit_of, |r| {
        r.get::<i64, _>("id").to_string()
    })
}

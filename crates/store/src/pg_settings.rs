//! The PostgreSQL settings documents (`settings_versions`, migration 0014): versions written whole,
//! all of one apply in one transaction. SQL only: what a document means is the caller's.

use crate::time::{from_micros, micros};
use crate::{Result, SettingsChange, SettingsFile, SettingsVersion, StoreError};
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

fn version_of(r: &PgRow, with_files: bool) -> Result<SettingsVersion> {
    let files: Vec<SettingsFile> = if with_files {
        let text: String = r.get("files");
        serde_json::from_str(&text).map_err(|e| StoreError::corrupt("settings files", e))?
    } else {
        Vec::new()
    };
    Ok(SettingsVersion {
        kind: r.get("kind"),
        version: u32::try_from(r.get::<i64, _>("version"))
            .map_err(|e| StoreError::corrupt("settings version", e))?,
        author: r.get("author"),
        created_at: from_micros(r.get("created_at")),
        comment: r.get("comment"),
        files,
    })
}

pub(crate) async fn apply(
    pool: &PgPool,
    changes: &[SettingsChange],
    author: &str,
    comment: &str,
    now: DateTime<Utc>,
) -> Result<Vec<(String, u32)>> {
    let mut tx = pool.begin().await?;
    let mut written = Vec::new();
    for ch in changes {
        let current = sqlx::query(
            "SELECT kind, version, author, created_at, comment, files FROM settings_versions
             WHERE kind = $1 ORDER BY version DESC LIMIT 1",
        )
        .bind(&ch.kind)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| version_of(&r, true))
        .transpose()?;
        let at = current.as_ref().map_or(0, |c| c.version);
        if let Some(expected) = ch.expect {
            if expected != at {
                return Err(StoreError::Conflict {
                    kind: ch.kind.clone(),
                    expected,
                    current: at,
                });
            }
        }
        if current.is_some_and(|c| c.files == ch.files) {
            continue;
        }
        let files = serde_json::to_string(&ch.files)
            .map_err(|e| StoreError::corrupt("settings files", e))?;
        sqlx::query(
            "INSERT INTO settings_versions (kind, version, author, created_at, comment, files)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&ch.kind)
        .bind(i64::from(at) + 1)
        .bind(author)
        .bind(micros(now))
        .bind(comment)
        .bind(files)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            // another instance wrote the next version meanwhile
            if e.as_database_error().and_then(|d| d.code()).as_deref() == Some("23505") {
                StoreError::Conflict {
                    kind: ch.kind.clone(),
                    expected: ch.expect.unwrap_or(at),
                    current: at + 1,
                }
            } else {
                StoreError::Database(e)
            }
        })?;
        written.push((ch.kind.clone(), at + 1));
    }
    tx.commit().await?;
    Ok(written)
}

pub(crate) async fn current(pool: &PgPool, kind: &str) -> Result<Option<SettingsVersion>> {
    sqlx::query(
        "SELECT kind, version, author, created_at, comment, files FROM settings_versions
         WHERE kind = $1 ORDER BY version DESC LIMIT 1",
    )
    .bind(kind)
    .fetch_optional(pool)
    .await?
    .map(|r| version_of(&r, true))
    .transpose()
}

pub(crate) async fn versions(pool: &PgPool, kind: &str) -> Result<Vec<SettingsVersion>> {
    sqlx::query(
        "SELECT kind, version, author, created_at, comment FROM settings_versions
         WHERE kind = $1 ORDER BY version DESC",
    )
    .bind(kind)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| version_of(r, false))
    .collect()
}

pub(crate) async fn version(
    pool: &PgPool,
    kind: &str,
    version: u32,
) -> Result<Option<SettingsVersion>> {
    sqlx::query(
        "SELECT kind, version, author, created_at, comment, files FROM settings_versions
         WHERE kind = $1 AND version = $2",
    )
    .bind(kind)
    .bind(i64::from(version))
    .fetch_optional(pool)
    .await?
    .map(|r| version_of(&r, true))
    .transpose()
}

pub(crate) async fn generation(pool: &PgPool) -> Result<i64> {
    let n: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM settings_versions")
        .fetch_one(pool)
        .await?;
    Ok(n.unwrap_or(0))
}

//! The PostgreSQL console records: the audit log (`audit_log`, migration 0017), accounts, sessions
//! and sign-in attempts (0018). SQL only: who may do what, and what an action means, is the caller's.

use crate::time::{from_micros, micros};
use crate::{
    page, AuditEntry, LoginFailures, NewAudit, NewSession, Page, Result, SessionUser, StoreError,
    User,
};
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

pub(crate) async fn audit_add(pool: &PgPool, entry: &NewAudit, now: DateTime<Utc>) -> Result<i64> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO audit_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)
         RETURNING id",
    )
    .bind(micros(now))
    .bind(&entry.actor)
    .bind(&entry.action)
    .bind(&entry.target)
    .bind(&entry.detail)
    .fetch_one(pool)
    .await?;
    Ok(id)
}

fn audit_of(r: &PgRow) -> Result<AuditEntry> {
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
    pool: &PgPool,
    filter: &crate::AuditFilter,
) -> Result<Page<AuditEntry>> {
    let limit = page::limit(filter.limit);
    let before = match filter.cursor.as_deref() {
        Some(c) => c.parse::<i64>().map_err(|_| StoreError::InvalidCursor)?,
        None => i64::MAX,
    };
    let rows = sqlx::query(
        "SELECT id, at, actor, action, target, detail FROM audit_log
         WHERE id < $1 AND ($2 IS NULL OR actor = $3) ORDER BY id DESC LIMIT $4",
    )
    .bind(before)
    .bind(filter.actor.as_deref())
    .bind(filter.actor.as_deref())
    .bind(limit + 1)
    .fetch_all(pool)
    .await?;
    page::page(&rows, limit, audit_of, |r| {
        r.get::<i64, _>("id").to_string()
    })
}

fn user_of(r: &PgRow) -> User {
    User {
        name: r.get("name"),
        role: r.get("role"),
        hash: r.get("hash"),
        created_at: from_micros(r.get("created_at")),
        disabled: r.get::<i64, _>("disabled") != 0,
    }
}

pub(crate) async fn user_add(pool: &PgPool, user: &User) -> Result<bool> {
    let n = sqlx::query(
        "INSERT INTO users (name, role, hash, created_at, disabled) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(&user.name)
    .bind(&user.role)
    .bind(&user.hash)
    .bind(micros(user.created_at))
    .bind(i64::from(user.disabled))
    .execute(pool)
    .await?
    .rows_affected();
    Ok(n > 0)
}

pub(crate) async fn user_get(pool: &PgPool, name: &str) -> Result<Option<User>> {
    let row =
        sqlx::query("SELECT name, role, hash, created_at, disabled FROM users WHERE name = $1")
            .bind(name)
            .fetch_optional(pool)
            .await?;
    Ok(row.as_ref().map(user_of))
}

pub(crate) async fn users_list(pool: &PgPool) -> Result<Vec<User>> {
    let rows =
        sqlx::query("SELECT name, role, hash, created_at, disabled FROM users ORDER BY name")
            .fetch_all(pool)
            .await?;
    Ok(rows.iter().map(user_of).collect())
}

pub(crate) async fn users_exist(pool: &PgPool) -> Result<bool> {
    let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users)")
        .fetch_one(pool)
        .await?;
    Ok(any)
}

pub(crate) async fn user_remove(pool: &PgPool, name: &str) -> Result<bool> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM sessions WHERE user_name = $1")
        .bind(name)
        .execute(&mut *tx)
        .await?;
    let n = sqlx::query("DELETE FROM users WHERE name = $1")
        .bind(name)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(n > 0)
}

pub(crate) async fn user_set_hash(pool: &PgPool, name: &str, hash: &str) -> Result<bool> {
    let mut tx = pool.begin().await?;
    let n = sqlx::query("UPDATE users SET hash = $1 WHERE name = $2")
        .bind(hash)
        .bind(name)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    sqlx::query("DELETE FROM sessions WHERE user_name = $1")
        .bind(name)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(n > 0)
}

pub(crate) async fn session_add(pool: &PgPool, s: &NewSession) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (id_hash, user_name, csrf, created_at, last_seen, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&s.id_hash)
    .bind(&s.user)
    .bind(&s.csrf)
    .bind(micros(s.created_at))
    .bind(micros(s.created_at))
    .bind(micros(s.expires_at))
    .execute(pool)
    .await?;
    Ok(())
}

pub(crate) async fn session_touch(
    pool: &PgPool,
    id_hash: &str,
    now: DateTime<Utc>,
    idle_since: DateTime<Utc>,
) -> Result<Option<SessionUser>> {
    let row = sqlx::query(
        "UPDATE sessions SET last_seen = $1
         WHERE id_hash = $2 AND expires_at > $3 AND last_seen >= $4
           AND user_name IN (SELECT name FROM users WHERE disabled = 0)
         RETURNING user_name, csrf, created_at, expires_at,
           (SELECT role FROM users WHERE users.name = sessions.user_name) AS role",
    )
    .bind(micros(now))
    .bind(id_hash)
    .bind(micros(now))
    .bind(micros(idle_since))
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| SessionUser {
        user: r.get("user_name"),
        role: r.get::<Option<String>, _>("role").unwrap_or_default(),
        csrf: r.get("csrf"),
        created_at: from_micros(r.get("created_at")),
        expires_at: from_micros(r.get("expires_at")),
    }))
}

pub(crate) async fn session_delete(pool: &PgPool, id_hash: &str) -> Result<bool> {
    let n = sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(n > 0)
}

pub(crate) async fn sessions_delete_user(pool: &PgPool, user: &str) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM sessions WHERE user_name = $1")
        .bind(user)
        .execute(pool)
        .await?
        .rows_affected())
}

const DAY_MICROS: i64 = 24 * 3600 * 1_000_000;

pub(crate) async fn login_attempt_add(
    pool: &PgPool,
    name: &str,
    ip: &str,
    ok: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM login_attempts WHERE at < $1")
        .bind(micros(now).saturating_sub(DAY_MICROS))
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO login_attempts (at, name, ip, ok) VALUES ($1, $2, $3, $4)")
        .bind(micros(now))
        .bind(name)
        .bind(ip)
        .bind(i64::from(ok))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn login_failures(
    pool: &PgPool,
    name: &str,
    ip: &str,
    since: DateTime<Utc>,
) -> Result<LoginFailures> {
    let row = sqlx::query(
        "SELECT
           (SELECT COUNT(*) FROM login_attempts WHERE name = $1 AND at >= $2 AND ok = 0) AS by_name,
           (SELECT COUNT(*) FROM login_attempts WHERE ip = $3 AND at >= $4 AND ok = 0) AS by_ip",
    )
    .bind(name)
    .bind(micros(since))
    .bind(ip)
    .bind(micros(since))
    .fetch_one(pool)
    .await?;
    let count = |c: &str| u32::try_from(row.get::<i64, _>(c)).unwrap_or(u32::MAX);
    Ok(LoginFailures {
        by_name: count("by_name"),
        by_ip: count("by_ip"),
    })
}

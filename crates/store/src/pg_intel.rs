//! The PostgreSQL reputation-API cache and daily usage counts (`intel_cache`, `intel_usage`,
//! migration 0009). SQL only: which answer to keep and how long is the caller's decision.

use crate::time::{from_micros, micros};
use crate::{IntelAnswer, Result, StoreError};
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};

/// The UTC day a count belongs to.
fn day(now: DateTime<Utc>) -> String {
    now.format("%Y-%m-%d").to_string()
}

pub(crate) async fn cache_get(
    pool: &PgPool,
    provider: &str,
    subject: &str,
    now: DateTime<Utc>,
) -> Result<Option<IntelAnswer>> {
    let row = sqlx::query(
        "SELECT answer, fetched_at, expires_at FROM intel_cache
         WHERE provider = $1 AND subject = $2 AND expires_at > $3",
    )
    .bind(provider)
    .bind(subject)
    .bind(micros(now))
    .fetch_optional(pool)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let text: String = r.get(0);
    Ok(Some(IntelAnswer {
        answer: serde_json::from_str(&text)
            .map_err(|e| StoreError::corrupt("intel cache answer", e))?,
        fetched_at: from_micros(r.get(1)),
        expires_at: from_micros(r.get(2)),
    }))
}

pub(crate) async fn cache_put(
    pool: &PgPool,
    provider: &str,
    subject: &str,
    answer: &serde_json::Value,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO intel_cache (provider, subject, answer, fetched_at, expires_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (provider, subject) DO UPDATE SET answer = excluded.answer,
           fetched_at = excluded.fetched_at, expires_at = excluded.expires_at",
    )
    .bind(provider)
    .bind(subject)
    .bind(answer.to_string())
    .bind(micros(now))
    .bind(micros(expires_at))
    .execute(pool)
    .await?;
    Ok(())
}

pub(crate) async fn cache_prune(pool: &PgPool, now: DateTime<Utc>) -> Result<u64> {
    let done = sqlx::query("DELETE FROM intel_cache WHERE expires_at <= $1")
        .bind(micros(now))
        .execute(pool)
        .await?;
    // Counts of days before yesterday are no use to anyone.
    let old = day(now - chrono::Duration::days(2));
    sqlx::query("DELETE FROM intel_usage WHERE day < $1")
        .bind(old)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

pub(crate) async fn usage_take(
    pool: &PgPool,
    provider: &str,
    daily: u32,
    now: DateTime<Utc>,
) -> Result<bool> {
    if daily == 0 {
        return Ok(false);
    }
    let done = sqlx::query(
        "INSERT INTO intel_usage (provider, day, used) VALUES ($1, $2, 1)
         ON CONFLICT (provider, day) DO UPDATE SET used = intel_usage.used + 1
         WHERE intel_usage.used < $3",
    )
    .bind(provider)
    .bind(day(now))
    .bind(i64::from(daily))
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn usage_exhaust(
    pool: &PgPool,
    provider: &str,
    daily: u32,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO intel_usage (provider, day, used) VALUES ($1, $2, $3)
         ON CONFLICT (provider, day) DO UPDATE SET used = GREATEST(intel_usage.used, excluded.used)",
    )
    .bind(provider)
    .bind(day(now))
    .bind(i64::from(daily))
    .execute(pool)
    .await?;
    Ok(())
}

pub(crate) async fn usage(pool: &PgPool, provider: &str, now: DateTime<Utc>) -> Result<u32> {
    let used: Option<i64> =
        sqlx::query_scalar("SELECT used FROM intel_usage WHERE provider = $1 AND day = $2")
            .bind(provider)
            .bind(day(now))
            .fetch_optional(pool)
            .await?;
    Ok(u32::try_from(used.unwrap_or(0)).unwrap_or(u32::MAX))
}

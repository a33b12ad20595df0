//! The PostgreSQL shared rate limits (`pacing`, `pacing_turns`, migration 0002): turns `pace`
//! apart within an hourly budget, and holds; a key's row is locked while a turn is taken.
//! SQL only: what a key limits is the caller's.

use crate::time::{from_micros, lease_until, micros};
use crate::Result;
use chrono::{DateTime, Utc};
use irene_core::PaceTurn;
use sqlx::{PgPool, Row};
use std::time::Duration;

const HOUR_US: i64 = 3_600_000_000;

pub(crate) async fn reserve(
    writer: &PgPool,
    key: &str,
    pace: Duration,
    per_hour: u32,
    wait: Duration,
    now: DateTime<Utc>,
) -> Result<PaceTurn> {
    let now_us = micros(now);
    let mut tx = writer.begin().await?;
    sqlx::query("INSERT INTO pacing (key) VALUES ($1) ON CONFLICT (key) DO NOTHING")
        .bind(key)
        .execute(&mut *tx)
        .await?;
    let row = sqlx::query("SELECT next_at, held_until FROM pacing WHERE key = $1 FOR UPDATE")
        .bind(key)
        .fetch_one(&mut *tx)
        .await?;
    let (next_at, held_until): (i64, i64) = (row.get(0), row.get(1));
    if held_until > now_us {
        return Ok(PaceTurn::Held(from_micros(held_until)));
    }
    sqlx::query("DELETE FROM pacing_turns WHERE key = $1 AND at <= $2")
        .bind(key)
        .bind(now_us - HOUR_US)
        .execute(&mut *tx)
        .await?;
    let row = sqlx::query("SELECT count(*), min(at) FROM pacing_turns WHERE key = $1")
        .bind(key)
        .fetch_one(&mut *tx)
        .await?;
    let (taken, oldest): (i64, Option<i64>) = (row.get(0), row.get(1));
    if taken >= i64::from(per_hour.max(1)) {
        return Ok(PaceTurn::Budget {
            taken: u32::try_from(taken).unwrap_or(u32::MAX),
            until: from_micros(oldest.unwrap_or(now_us) + HOUR_US),
        });
    }
    let turn = now_us.max(next_at);
    if turn > lease_until(now_us, wait) {
        return Ok(PaceTurn::Later(from_micros(turn)));
    }
    sqlx::query("UPDATE pacing SET next_at = $1 WHERE key = $2")
        .bind(lease_until(turn, pace))
        .bind(key)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO pacing_turns (key, at) VALUES ($1, $2)")
        .bind(key)
        .bind(turn)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(PaceTurn::At(from_micros(turn)))
}

pub(crate) async fn hold(writer: &PgPool, key: &str, until: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "INSERT INTO pacing (key, held_until) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE SET held_until = GREATEST(pacing.held_until, excluded.held_until)",
    )
    .bind(key)
    .bind(micros(until))
    .execute(writer)
    .await?;
    Ok(())
}

pub(crate) async fn held(
    reader: &PgPool,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>> {
    let until: Option<i64> =
        sqlx::query_scalar("SELECT held_until FROM pacing WHERE key = $1 AND held_until > $2")
            .bind(key)
            .bind(micros(now))
            .fetch_optional(reader)
            .await?;
    Ok(until.map(from_micros))
}

//! The PostgreSQL intake figures per source (the console's sources page): last payload time and
//! counts over a day and a week, each an index range on `inbox_source` (migration 0020). SQL only.

use crate::time::{from_micros, micros};
use crate::{Result, SourceStats};
use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;

pub(crate) async fn stats(
    pool: &PgPool,
    sources: &[String],
    now: DateTime<Utc>,
) -> Result<Vec<SourceStats>> {
    let day = micros(now - Duration::days(1));
    let week = micros(now - Duration::days(7));
    let mut out = Vec::with_capacity(sources.len());
    for source in sources {
        let (last, last_day, last_week): (Option<i64>, i64, i64) = sqlx::query_as(
            "SELECT (SELECT MAX(received_at) FROM inbox WHERE source = $1),
                    (SELECT COUNT(*) FROM inbox WHERE source = $1 AND received_at >= $2),
                    (SELECT COUNT(*) FROM inbox WHERE source = $1 AND received_at >= $3)",
        )
        .bind(source)
        .bind(day)
        .bind(week)
        .fetch_one(pool)
        .await?;
        out.push(SourceStats {
            source: source.clone(),
            last_received: last.map(from_micros),
            last_day,
            last_week,
        });
    }
    Ok(out)
}

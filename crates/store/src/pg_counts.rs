//! The PostgreSQL console counts: open cases by source, alerts per hour, by type and by deciding
//! rule, mean time to resolve, and similar cases (indexes of migration 0019). SQL only.

use crate::pg::{case_from_doc, severity_rank, uuid};
use crate::time::{from_micros, micros};
use crate::{HourCount, NameCount, ResolveTime, Result, RuleCount, StoreError, StoredAlert};
use chrono::{DateTime, Utc};
use irene_core::{Case, Judged, Severity};
use sqlx::{PgPool, Row};
use uuid::Uuid;

const HOUR_US: i64 = 3_600_000_000;

pub(crate) async fn open_counts_by_source(pool: &PgPool) -> Result<Vec<NameCount>> {
    // the partial index `cases_open (source, last_seen)` covers it
    let rows = sqlx::query(
        "SELECT source, COUNT(*) FROM cases WHERE status = 'open'
         GROUP BY source ORDER BY COUNT(*) DESC, source",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| NameCount {
            name: r.get(0),
            count: r.get(1),
        })
        .collect())
}

pub(crate) async fn alerts_per_hour(
    pool: &PgPool,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<HourCount>> {
    let rows = sqlx::query(
        "SELECT received_at / $1 AS h, COUNT(*) FROM alerts
         WHERE received_at >= $2 AND received_at < $3 GROUP BY h ORDER BY h",
    )
    .bind(HOUR_US)
    .bind(micros(since))
    .bind(micros(until))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| HourCount {
            hour: from_micros(r.get::<i64, _>(0).saturating_mul(HOUR_US)),
            count: r.get(1),
        })
        .collect())
}

pub(crate) async fn alert_type_counts(
    pool: &PgPool,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<NameCount>> {
    let rows = sqlx::query(
        "SELECT type, COUNT(*) FROM alerts WHERE received_at >= $1 AND received_at < $2
         GROUP BY type ORDER BY COUNT(*) DESC, type LIMIT $3",
    )
    .bind(micros(since))
    .bind(micros(until))
    .bind(i64::from(limit.max(1)))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| NameCount {
            name: r.get(0),
            count: r.get(1),
        })
        .collect())
}

pub(crate) async fn alert_rule_counts(
    pool: &PgPool,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<RuleCount>> {
    let rows = sqlx::query(
        "SELECT doc::jsonb ->> 'rule' AS r, COUNT(*) FROM alerts
         WHERE received_at >= $1 AND received_at < $2 GROUP BY r ORDER BY COUNT(*) DESC, r",
    )
    .bind(micros(since))
    .bind(micros(until))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| RuleCount {
            rule: r.get(0),
            count: r.get(1),
        })
        .collect())
}

pub(crate) async fn resolve_times(
    pool: &PgPool,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<ResolveTime>> {
    // each resolve in the window, from the (re)opening just before it on the same case
    let rows = sqlx::query(
        "SELECT sev, COUNT(*), AVG(d)::float8 FROM (
           SELECT c.severity_rank AS sev,
                  t.at - (SELECT MAX(o.at) FROM timeline o WHERE o.case_id = t.case_id
                          AND o.kind IN ('opened', 'reopened') AND o.seq < t.seq) AS d
           FROM timeline t JOIN cases c ON c.id = t.case_id
           WHERE t.kind = 'resolved' AND t.at >= $1 AND t.at < $2) r
         WHERE d IS NOT NULL GROUP BY sev ORDER BY sev DESC",
    )
    .bind(micros(since))
    .bind(micros(until))
    .fetch_all(pool)
    .await?;
    let mut out = Vec::new();
    for r in rows {
        let rank: i64 = r.get(0);
        let severity = Severity::ALL
            .into_iter()
            .find(|s| severity_rank(*s) == rank)
            .ok_or_else(|| StoreError::corrupt("case severity", rank))?;
        let mean_us: f64 = r.get(2);
        out.push(ResolveTime {
            severity,
            resolves: r.get(1),
            mean_seconds: mean_us / 1e6,
        });
    }
    Ok(out)
}

pub(crate) async fn cases_similar(pool: &PgPool, case_id: Uuid, limit: u32) -> Result<Vec<Case>> {
    // same type and resource (index `cases_type_resource`), or a case with an alert from the
    // actor (principal or IP) of this case's latest alert (indexes `alerts_actor_*`)
    let rows = sqlx::query(
        "WITH me AS (SELECT doc::jsonb ->> 'type' AS ty,
                            doc::jsonb #>> '{resource,id}' AS res,
                            doc::jsonb ->> 'last_alert_id' AS last
                     FROM cases WHERE id = $1),
              actor AS (SELECT a.doc::jsonb #>> '{alert,actor,principal}' AS p,
                               a.doc::jsonb #>> '{alert,actor,ip}' AS ip
                        FROM alerts a WHERE a.id = (SELECT last FROM me))
         SELECT c.doc FROM cases c
         WHERE c.id <> $1 AND (
             ((c.doc::jsonb ->> 'type') = (SELECT ty FROM me)
              AND (c.doc::jsonb #>> '{resource,id}') = (SELECT res FROM me))
          OR c.id IN (SELECT a.case_id FROM alerts a
                      WHERE (a.doc::jsonb #>> '{alert,actor,principal}') IS NOT NULL
                        AND (a.doc::jsonb #>> '{alert,actor,principal}') = (SELECT p FROM actor))
          OR c.id IN (SELECT a.case_id FROM alerts a
                      WHERE (a.doc::jsonb #>> '{alert,actor,ip}') IS NOT NULL
                        AND (a.doc::jsonb #>> '{alert,actor,ip}') = (SELECT ip FROM actor)))
         ORDER BY c.last_seen DESC, c.id DESC LIMIT $2",
    )
    .bind(case_id.to_string())
    .bind(i64::from(limit.max(1)))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| case_from_doc(r.get::<&str, _>(0)))
        .collect()
}

pub(crate) async fn alerts_recent(pool: &PgPool, limit: u32) -> Result<Vec<StoredAlert>> {
    // the index `alerts_received (received_at, id)`, read backwards
    let rows = sqlx::query(
        "SELECT id, case_id, inbox_id, received_at, doc FROM alerts
         ORDER BY received_at DESC, id DESC LIMIT $1",
    )
    .bind(i64::from(limit.max(1)))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let judged: Judged = serde_json::from_str(r.get::<&str, _>(4))
                .map_err(|e| StoreError::corrupt("alert", e))?;
            Ok(StoredAlert {
                id: uuid(r.get::<&str, _>(0), "alert id")?,
                case_id: r
                    .get::<Option<&str>, _>(1)
                    .map(|c| uuid(c, "case id"))
                    .transpose()?,
                inbox_id: uuid(r.get::<&str, _>(2), "inbox id")?,
                received_at: from_micros(r.get(3)),
                judged,
            })
        })
        .collect()
}

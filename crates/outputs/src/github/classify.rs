//! GitHub's reply classification (contract §6): success, a rate limit (primary or secondary,
//! which holds back the whole credential) or another failure. Pure; the client acts on it.

use crate::http::{Hints, Verdict};
use chrono::{DateTime, Duration as ChronoDuration, Utc};

/// Classifies one GitHub reply.
pub(super) fn classify(status: u16, hints: &Hints, body: &str, now: DateTime<Utc>) -> Verdict {
    let limited = |at| Verdict::Retry {
        at: Some(at),
        limited: true,
    };
    if (200..300).contains(&status) {
        return Verdict::Success;
    }
    if status == 403 || status == 429 {
        // contract §6.2: retry-after, then x-ratelimit-reset, then "rate limit" → ≥ 60 s
        if let Some(at) = hints.retry_at(now) {
            return limited(at);
        }
        if let Some(at) = hints.primary_reset() {
            return limited(at.max(now));
        }
        if status == 429 || body.to_ascii_lowercase().contains("rate limit") {
            return limited(now + ChronoDuration::seconds(60));
        }
        return Verdict::Dead;
    }
    if status >= 500 {
        return Verdict::Retry {
            at: hints.retry_at(now),
            limited: false,
        };
    }
    Verdict::Dead
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::table::{check, hints, limited as lim, retry, secs, Row};
    use chrono::TimeZone;

    #[test]
    fn classification_table() {
        let reset = Utc
            .timestamp_opt(1_775_593_261, 0)
            .single()
            .unwrap_or_default();
        let none = Hints::default();
        let table: Vec<Row> = vec![
            ("gh 201", 201, none.clone(), "{}", Verdict::Success),
            (
                "gh primary 403",
                403,
                hints(None, Some("0"), Some("1775593261")),
                "{\"message\":\"API rate limit exceeded for user ID 1.\"}",
                lim(reset),
            ),
            (
                "gh primary 429",
                429,
                hints(None, Some("0"), Some("1775593261")),
                "{}",
                lim(reset),
            ),
            (
                "gh secondary 403 retry-after",
                403,
                hints(Some("60"), None, None),
                "{\"message\":\"You have exceeded a secondary rate limit.\"}",
                lim(secs(60)),
            ),
            (
                "gh secondary 429 retry-after",
                429,
                hints(Some("30"), None, None),
                "{}",
                lim(secs(30)),
            ),
            (
                "gh retry-after wins over reset",
                403,
                hints(Some("5"), Some("0"), Some("1775593261")),
                "{}",
                lim(secs(5)),
            ),
            (
                "gh 403 rate limit, no headers",
                403,
                none.clone(),
                "{\"message\":\"You have exceeded a secondary Rate Limit\"}",
                lim(secs(60)),
            ),
            ("gh 429 no headers", 429, none.clone(), "{}", lim(secs(60))),
            (
                "gh 403 permission",
                403,
                hints(None, Some("4000"), Some("1775593261")),
                "{\"message\":\"Resource not accessible by integration\"}",
                Verdict::Dead,
            ),
            (
                "gh 401",
                401,
                none.clone(),
                "{\"message\":\"Bad credentials\"}",
                Verdict::Dead,
            ),
            (
                "gh 404",
                404,
                none.clone(),
                "{\"message\":\"Not Found\"}",
                Verdict::Dead,
            ),
            (
                "gh 410",
                410,
                none.clone(),
                "{\"message\":\"Issues are disabled for this repo\"}",
                Verdict::Dead,
            ),
            (
                "gh 422",
                422,
                none.clone(),
                "{\"message\":\"Validation Failed\"}",
                Verdict::Dead,
            ),
            ("gh 502", 502, none.clone(), "bad gateway", retry(None)),
            (
                "gh 503 retry-after",
                503,
                hints(Some("7"), None, None),
                "",
                retry(Some(secs(7))),
            ),
        ];
        check(table, classify);
    }
}

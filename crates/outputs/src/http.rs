//! The one HTTP helper (send a request, read a bounded reply, never leak a secret) and the one
//! classifier (status + headers + body → success, retry or dead). Must not know any output's flow.

use crate::config::Secret;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use irene_core::Outcome;
use reqwest::header::HeaderMap;
use std::time::Duration;

/// Replies larger than this are cut (a page of 100 GitHub issues is well below).
const MAX_BODY: usize = 16 * 1024 * 1024;
/// How much of a response body an error keeps.
pub(crate) const ERROR_BODY: usize = 2048;

/// The service a reply comes from: each has its own success and failure rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    Github,
    PagerDuty,
    SlackWebhook,
    SlackApi,
    Webhook,
}

/// The headers the classifier reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Hints {
    pub retry_after: Option<String>,
    pub ratelimit_remaining: Option<String>,
    pub ratelimit_reset: Option<String>,
}

impl Hints {
    pub(crate) fn from_headers(h: &HeaderMap) -> Hints {
        let get = |name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.trim().to_string())
        };
        Hints {
            retry_after: get("retry-after"),
            ratelimit_remaining: get("x-ratelimit-remaining"),
            ratelimit_reset: get("x-ratelimit-reset"),
        }
    }

    /// `Retry-After` as seconds or an HTTP date.
    pub(crate) fn retry_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let v = self.retry_after.as_deref()?;
        if let Ok(secs) = v.parse::<u64>() {
            let secs = i64::try_from(secs.min(7 * 24 * 3600)).unwrap_or(0);
            return Some(now + ChronoDuration::seconds(secs));
        }
        DateTime::parse_from_rfc2822(v)
            .ok()
            .map(|t| t.with_timezone(&Utc).max(now))
    }

    /// GitHub's primary limit: `x-ratelimit-remaining: 0` until `x-ratelimit-reset`.
    pub(crate) fn primary_reset(&self) -> Option<DateTime<Utc>> {
        if self.ratelimit_remaining.as_deref() != Some("0") {
            return None;
        }
        let reset = self.ratelimit_reset.as_deref()?.parse::<i64>().ok()?;
        DateTime::from_timestamp(reset, 0)
    }
}

/// What a reply means.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    Success,
    /// A later attempt may work; `at` is the earliest the service allows. `limited`: a rate
    /// limit, which holds back every request of the client until `at`.
    Retry {
        at: Option<DateTime<Utc>>,
        limited: bool,
    },
    Dead,
}

/// Classifies one reply. Pure.
pub(crate) fn classify(
    service: Service,
    status: u16,
    hints: &Hints,
    body: &str,
    now: DateTime<Utc>,
) -> Verdict {
    let retry = |at| Verdict::Retry { at, limited: false };
    let limited = |at| Verdict::Retry {
        at: Some(at),
        limited: true,
    };
    match service {
        Service::Github => {
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
                return retry(hints.retry_at(now));
            }
            Verdict::Dead
        }
        Service::PagerDuty | Service::Webhook => {
            if (200..300).contains(&status) {
                return Verdict::Success;
            }
            if status == 429 || status == 408 || status >= 500 {
                return retry(hints.retry_at(now));
            }
            Verdict::Dead
        }
        Service::SlackWebhook => {
            if status == 200 && body.trim() == "ok" {
                return Verdict::Success;
            }
            if status == 429 || status >= 500 {
                return retry(hints.retry_at(now));
            }
            Verdict::Dead
        }
        Service::SlackApi => {
            if status == 429 {
                return retry(hints.retry_at(now));
            }
            if status >= 500 {
                return retry(hints.retry_at(now));
            }
            if status != 200 {
                return Verdict::Dead;
            }
            match slack_error(body) {
                Ok(None) => Verdict::Success,
                Ok(Some(code)) => match code.as_str() {
                    "ratelimited" => retry(hints.retry_at(now)),
                    "internal_error"
                    | "fatal_error"
                    | "service_unavailable"
                    | "request_timeout" => retry(None),
                    _ => Verdict::Dead,
                },
                Err(()) => Verdict::Dead,
            }
        }
    }
}

/// A Slack Web API envelope: `Ok(None)` when `ok: true`, `Ok(Some(code))` when `ok: false`,
/// `Err` when the body is not such an envelope.
pub(crate) fn slack_error(body: &str) -> Result<Option<String>, ()> {
    let v: serde_json::Value = serde_json::from_str(body).map_err(|_| ())?;
    match v.get("ok").and_then(serde_json::Value::as_bool) {
        Some(true) => Ok(None),
        Some(false) => Ok(Some(
            v.get("error")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("unknown_error")
                .to_string(),
        )),
        None => Err(()),
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary, marking the cut.
pub(crate) fn cut_bytes(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// One reply, read whole (bounded).
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub(crate) fn hints(&self) -> Hints {
        Hints::from_headers(&self.headers)
    }
    pub(crate) fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }
}

/// A client for one output: a reqwest client with its timeout, User-Agent and no automatic
/// redirects, and the secrets to scrub from every error text.
#[derive(Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    timeout: Duration,
    secrets: Vec<String>,
}

impl Http {
    pub(crate) fn new(
        user_agent: &str,
        timeout: Duration,
        secrets: &[&Secret],
    ) -> Result<Http, String> {
        let client = reqwest::Client::builder()
            .user_agent(user_agent.to_string())
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {}", e.without_url()))?;
        Ok(Http {
            client,
            timeout,
            secrets: secrets
                .iter()
                .map(|s| s.expose().to_string())
                .filter(|s| s.len() >= 4)
                .collect(),
        })
    }

    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Replaces every secret of this output in `text` by `***`.
    pub(crate) fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }

    /// Sends a request and reads the reply. A network failure or timeout is `Err(Retry)`,
    /// with an error text that holds no URL and no secret.
    pub(crate) async fn send(&self, req: reqwest::RequestBuilder) -> Result<Reply, Outcome> {
        let mut resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Err(self.network_error(e)),
        };
        let status = resp.status().as_u16();
        let headers = std::mem::take(resp.headers_mut());
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    let room = MAX_BODY.saturating_sub(body.len());
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    if room <= chunk.len() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => return Err(self.network_error(e)),
            }
        }
        Ok(Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }

    fn network_error(&self, e: reqwest::Error) -> Outcome {
        let e = e.without_url();
        let what = if e.is_timeout() {
            format!(
                "timed out after {}",
                humantime::format_duration(self.timeout)
            )
        } else if e.is_connect() {
            "could not connect".to_string()
        } else {
            "request failed".to_string()
        };
        // the chain says why (connection refused, reset…); reqwest's own text has no URL now
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            detail.push_str(": ");
            detail.push_str(&s.to_string());
            source = s.source();
        }
        Outcome::Retry {
            error: self.redact(&cut_bytes(&format!("{what}: {detail}"), ERROR_BODY)),
            at: None,
        }
    }

    /// The outcome of a reply that is not a success, per `verdict`: `HTTP <status>: <body>`.
    pub(crate) fn failure(&self, verdict: &Verdict, reply: &Reply) -> Outcome {
        let error = self.redact(&format!(
            "HTTP {}: {}",
            reply.status,
            cut_bytes(reply.body.trim(), ERROR_BODY)
        ));
        match verdict {
            Verdict::Retry { at, .. } => Outcome::Retry { error, at: *at },
            Verdict::Dead | Verdict::Success => Outcome::Dead { error },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_775_593_000, 0)
            .single()
            .unwrap_or_default()
    }

    fn hints(retry_after: Option<&str>, remaining: Option<&str>, reset: Option<&str>) -> Hints {
        Hints {
            retry_after: retry_after.map(str::to_string),
            ratelimit_remaining: remaining.map(str::to_string),
            ratelimit_reset: reset.map(str::to_string),
        }
    }

    #[test]
    fn classification_table() {
        use Service::*;
        let n = now();
        let secs = |s: i64| n + ChronoDuration::seconds(s);
        let reset = Utc
            .timestamp_opt(1_775_593_261, 0)
            .single()
            .unwrap_or_default();
        let lim = |at| Verdict::Retry {
            at: Some(at),
            limited: true,
        };
        let retry = |at| Verdict::Retry { at, limited: false };
        let none = Hints::default();
        let table: Vec<(&str, Service, u16, Hints, &str, Verdict)> = vec![
            ("gh 201", Github, 201, none.clone(), "{}", Verdict::Success),
            (
                "gh primary 403",
                Github,
                403,
                hints(None, Some("0"), Some("1775593261")),
                "{\"message\":\"API rate limit exceeded for user ID 1.\"}",
                lim(reset),
            ),
            (
                "gh primary 429",
                Github,
                429,
                hints(None, Some("0"), Some("1775593261")),
                "{}",
                lim(reset),
            ),
            (
                "gh secondary 403 retry-after",
                Github,
                403,
                hints(Some("60"), None, None),
                "{\"message\":\"You have exceeded a secondary rate limit.\"}",
                lim(secs(60)),
            ),
            (
                "gh secondary 429 retry-after",
                Github,
                429,
                hints(Some("30"), None, None),
                "{}",
                lim(secs(30)),
            ),
            (
                "gh retry-after wins over reset",
                Github,
                403,
                hints(Some("5"), Some("0"), Some("1775593261")),
                "{}",
                lim(secs(5)),
            ),
            (
                "gh 403 rate limit, no headers",
                Github,
                403,
                none.clone(),
                "{\"message\":\"You have exceeded a secondary Rate Limit\"}",
                lim(secs(60)),
            ),
            (
                "gh 429 no headers",
                Github,
                429,
                none.clone(),
                "{}",
                lim(secs(60)),
            ),
            (
                "gh 403 permission",
                Github,
                403,
                hints(None, Some("4000"), Some("1775593261")),
                "{\"message\":\"Resource not accessible by integration\"}",
                Verdict::Dead,
            ),
            (
                "gh 401",
                Github,
                401,
                none.clone(),
                "{\"message\":\"Bad credentials\"}",
                Verdict::Dead,
            ),
            (
                "gh 404",
                Github,
                404,
                none.clone(),
                "{\"message\":\"Not Found\"}",
                Verdict::Dead,
            ),
            (
                "gh 410",
                Github,
                410,
                none.clone(),
                "{\"message\":\"Issues are disabled for this repo\"}",
                Verdict::Dead,
            ),
            (
                "gh 422",
                Github,
                422,
                none.clone(),
                "{\"message\":\"Validation Failed\"}",
                Verdict::Dead,
            ),
            (
                "gh 502",
                Github,
                502,
                none.clone(),
                "bad gateway",
                retry(None),
            ),
            (
                "gh 503 retry-after",
                Github,
                503,
                hints(Some("7"), None, None),
                "",
                retry(Some(secs(7))),
            ),
            (
                "pd 202",
                PagerDuty,
                202,
                none.clone(),
                "{\"status\":\"success\"}",
                Verdict::Success,
            ),
            (
                "pd 400",
                PagerDuty,
                400,
                none.clone(),
                "{\"status\":\"invalid event\"}",
                Verdict::Dead,
            ),
            (
                "pd 429",
                PagerDuty,
                429,
                none.clone(),
                "{\"status\":\"throttle exceeded\"}",
                retry(None),
            ),
            (
                "pd 429 retry-after",
                PagerDuty,
                429,
                hints(Some("120"), None, None),
                "",
                retry(Some(secs(120))),
            ),
            ("pd 500", PagerDuty, 500, none.clone(), "", retry(None)),
            ("pd 403", PagerDuty, 403, none.clone(), "", Verdict::Dead),
            (
                "slack wh ok",
                SlackWebhook,
                200,
                none.clone(),
                "ok",
                Verdict::Success,
            ),
            (
                "slack wh 200 not ok",
                SlackWebhook,
                200,
                none.clone(),
                "invalid_payload",
                Verdict::Dead,
            ),
            (
                "slack wh 400",
                SlackWebhook,
                400,
                none.clone(),
                "invalid_payload",
                Verdict::Dead,
            ),
            (
                "slack wh 404",
                SlackWebhook,
                404,
                none.clone(),
                "no_service",
                Verdict::Dead,
            ),
            (
                "slack wh 410",
                SlackWebhook,
                410,
                none.clone(),
                "channel_is_archived",
                Verdict::Dead,
            ),
            (
                "slack wh 429",
                SlackWebhook,
                429,
                hints(Some("30"), None, None),
                "",
                retry(Some(secs(30))),
            ),
            (
                "slack wh 500",
                SlackWebhook,
                500,
                none.clone(),
                "rollup_error",
                retry(None),
            ),
            (
                "slack api ok",
                SlackApi,
                200,
                none.clone(),
                "{\"ok\":true,\"ts\":\"1.2\"}",
                Verdict::Success,
            ),
            (
                "slack api ratelimited",
                SlackApi,
                429,
                hints(Some("3"), None, None),
                "{\"ok\":false,\"error\":\"ratelimited\"}",
                retry(Some(secs(3))),
            ),
            (
                "slack api internal_error",
                SlackApi,
                200,
                none.clone(),
                "{\"ok\":false,\"error\":\"internal_error\"}",
                retry(None),
            ),
            (
                "slack api fatal_error",
                SlackApi,
                200,
                none.clone(),
                "{\"ok\":false,\"error\":\"fatal_error\"}",
                retry(None),
            ),
            (
                "slack api service_unavailable",
                SlackApi,
                200,
                none.clone(),
                "{\"ok\":false,\"error\":\"service_unavailable\"}",
                retry(None),
            ),
            (
                "slack api channel_not_found",
                SlackApi,
                200,
                none.clone(),
                "{\"ok\":false,\"error\":\"channel_not_found\"}",
                Verdict::Dead,
            ),
            (
                "slack api invalid_auth",
                SlackApi,
                200,
                none.clone(),
                "{\"ok\":false,\"error\":\"invalid_auth\"}",
                Verdict::Dead,
            ),
            (
                "slack api not json",
                SlackApi,
                200,
                none.clone(),
                "<html>",
                Verdict::Dead,
            ),
            (
                "slack api 503",
                SlackApi,
                503,
                none.clone(),
                "",
                retry(None),
            ),
            (
                "webhook 204",
                Webhook,
                204,
                none.clone(),
                "",
                Verdict::Success,
            ),
            ("webhook 408", Webhook, 408, none.clone(), "", retry(None)),
            (
                "webhook 429",
                Webhook,
                429,
                hints(Some("Wed, 21 Oct 2015 07:28:00 GMT"), None, None),
                "",
                retry(Some(n)),
            ),
            ("webhook 301", Webhook, 301, none.clone(), "", Verdict::Dead),
            ("webhook 404", Webhook, 404, none.clone(), "", Verdict::Dead),
        ];
        for (what, service, status, h, body, want) in table {
            assert_eq!(classify(service, status, &h, body, n), want, "{what}");
        }
    }

    #[test]
    fn retry_after_forms() {
        let n = now();
        assert_eq!(
            hints(Some("10"), None, None).retry_at(n),
            Some(n + ChronoDuration::seconds(10))
        );
        let future = "Tue, 07 Apr 2026 20:30:00 GMT";
        let at = hints(Some(future), None, None).retry_at(n);
        assert_eq!(at.map(|t| t.timestamp()), Some(1_775_593_800));
        assert_eq!(hints(Some("soon"), None, None).retry_at(n), None);
        assert_eq!(hints(None, Some("1"), Some("5")).primary_reset(), None);
    }

    #[test]
    fn failures_are_cut_and_redacted() {
        let http = Http::new(
            "irene-test",
            Duration::from_secs(1),
            &[&Secret::new("topsecret")],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let reply = Reply {
            status: 400,
            headers: HeaderMap::new(),
            body: format!("bad key topsecret {}", "é".repeat(3000)),
        };
        let Outcome::Dead { error } = http.failure(&Verdict::Dead, &reply) else {
            panic!("not dead")
        };
        assert!(error.starts_with("HTTP 400: bad key *** é"), "{error}");
        assert!(!error.contains("topsecret"));
        assert!(error.len() <= ERROR_BODY + 20, "{}", error.len());
        assert_eq!(cut_bytes("abc", 2), "ab…");
        assert_eq!(cut_bytes("éé", 3), "é…");
    }
}

//! The one HTTP helper (send a request, read a bounded reply, never leak a secret), the reply
//! hints and verdicts, and the plain HTTP rule. Each service's own classification is in its module.

use crate::config::Secret;
use crate::pacing::Pacing;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use irene_core::Outcome;
use reqwest::header::HeaderMap;
use std::sync::Arc;
use std::time::Duration;

/// Replies larger than this are cut (a page of 100 GitHub issues is well below).
const MAX_BODY: usize = 16 * 1024 * 1024;
/// How much of a response body an error keeps.
pub(crate) const ERROR_BODY: usize = 2048;

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

/// The plain HTTP rule (PagerDuty, webhooks): 2xx is a success; 408, 429 and 5xx are worth
/// a retry (at `Retry-After` when given); anything else is dead. Pure.
pub(crate) fn plain(status: u16, hints: &Hints, now: DateTime<Utc>) -> Verdict {
    if (200..300).contains(&status) {
        return Verdict::Success;
    }
    if status == 429 || status == 408 || status >= 500 {
        return Verdict::Retry {
            at: hints.retry_at(now),
            limited: false,
        };
    }
    Verdict::Dead
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
    /// The service's rate limit shared with the other instances, under this output's key: a
    /// 429's `Retry-After` holds every request of the output, wherever it is sent from.
    limits: Option<(Arc<dyn Pacing>, String)>,
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
            limits: None,
        })
    }

    /// Shares the service's rate limits of output `name` with the other instances.
    pub(crate) fn shared(mut self, pacing: Option<Arc<dyn Pacing>>, name: &str) -> Http {
        self.limits = pacing.map(|p| (p, format!("output:{name}")));
        self
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
        if let Some((pacing, key)) = &self.limits {
            match pacing.held(key).await {
                Ok(Some(until)) => {
                    return Err(Outcome::Retry {
                        error: format!(
                            "rate limited: the service asked for no requests until {}",
                            crate::render::time(until)
                        ),
                        at: Some(until),
                    })
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot read the shared rate limits"),
            }
        }
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
        let reply = Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        if let (429, Some((pacing, key))) = (status, &self.limits) {
            if let Some(until) = reply.hints().retry_at(Utc::now()) {
                if let Err(e) = pacing.hold(key, until).await {
                    tracing::warn!(error = %e, "cannot share a rate limit");
                }
            }
        }
        Ok(reply)
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

/// What every service's classification table uses.
#[cfg(test)]
pub(crate) mod table {
    use super::*;
    use chrono::TimeZone;

    /// One row: what, status, hints, body, the verdict wanted.
    pub(crate) type Row = (&'static str, u16, Hints, &'static str, Verdict);

    pub(crate) fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_775_593_000, 0)
            .single()
            .unwrap_or_default()
    }

    pub(crate) fn secs(s: i64) -> DateTime<Utc> {
        now() + ChronoDuration::seconds(s)
    }

    pub(crate) fn hints(
        retry_after: Option<&str>,
        remaining: Option<&str>,
        reset: Option<&str>,
    ) -> Hints {
        Hints {
            retry_after: retry_after.map(str::to_string),
            ratelimit_remaining: remaining.map(str::to_string),
            ratelimit_reset: reset.map(str::to_string),
        }
    }

    pub(crate) fn retry(at: Option<DateTime<Utc>>) -> Verdict {
        Verdict::Retry { at, limited: false }
    }

    pub(crate) fn limited(at: DateTime<Utc>) -> Verdict {
        Verdict::Retry {
            at: Some(at),
            limited: true,
        }
    }

    /// Checks `classify` against every row.
    pub(crate) fn check(
        rows: Vec<Row>,
        classify: impl Fn(u16, &Hints, &str, DateTime<Utc>) -> Verdict,
    ) {
        for (what, status, h, body, want) in rows {
            assert_eq!(classify(status, &h, body, now()), want, "{what}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::table::{hints, now};
    use super::*;

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

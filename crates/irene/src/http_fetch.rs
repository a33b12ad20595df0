//! Downloads Irene makes on its own from configured URLs (threat-intel feeds, watched pages):
//! one client shape (timeouts, redirects only within the first host) and a size-capped read.
//! It decides nothing about what is fetched; callers handle status and content.

use anyhow::Context as _;
use std::time::Duration;

/// Redirects followed at most.
pub const MAX_REDIRECTS: usize = 5;

/// A client with `timeout` that follows redirects only within the first request's host.
pub fn same_host_client(user_agent: &str, timeout: Duration) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(user_agent)
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10).min(timeout))
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let same_host = attempt
                .previous()
                .first()
                .is_some_and(|first| first.host_str() == attempt.url().host_str());
            if attempt.previous().len() > MAX_REDIRECTS || !same_host {
                attempt.stop()
            } else {
                attempt.follow()
            }
        }))
        .build()
        .context("building an HTTP client")
}

/// The body, at most `max` bytes (more: an error saying so).
pub async fn read_capped(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(format!("larger than max_bytes ({max} bytes)"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| describe(&e))? {
        if body.len() + chunk.len() > max {
            return Err(format!("larger than max_bytes ({max} bytes)"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// What went wrong with a request, in words (never the URL: it may carry a secret).
pub fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_redirect() {
        "too many redirects"
    } else if e.is_body() || e.is_decode() {
        "the body could not be read"
    } else {
        "the request failed"
    };
    let cause = std::error::Error::source(e)
        .map(|s| format!(": {s}"))
        .unwrap_or_default();
    format!("{what}{cause}")
}

//! The one HTTP GET of this crate (signing certificates, JWKS, SNS subscription confirmations):
//! a timeout, no redirects, a size cap, and `Cache-Control: max-age` read. It must not follow a
//! redirect, read past the cap, or put a URL's query (SNS confirmation tokens) in an error.

use std::sync::OnceLock;
use std::time::Duration;

/// A successful answer.
pub(crate) struct Fetched {
    pub body: Vec<u8>,
    /// `Cache-Control: max-age`, when the server gave one.
    pub max_age: Option<Duration>,
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("irene/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default()
    })
}

/// `url` without its query and fragment, for messages.
pub(crate) fn shown(url: &str) -> String {
    let cut = url.find(['?', '#']).unwrap_or(url.len());
    url[..cut].chars().take(200).collect()
}

/// GETs `url`: a 2xx body of at most `cap` bytes, else why not (without the query).
pub(crate) async fn get(url: &str, cap: usize) -> Result<Fetched, String> {
    let mut resp = client()
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET {}: {}", shown(url), e.without_url()))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("GET {}: HTTP {status}", shown(url)));
    }
    if resp.content_length().is_some_and(|n| n > cap as u64) {
        return Err(format!("GET {}: larger than {cap} bytes", shown(url)));
    }
    let max_age = resp
        .headers()
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .and_then(max_age);
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("GET {}: {}", shown(url), e.without_url()))?
    {
        if body.len() + chunk.len() > cap {
            return Err(format!("GET {}: larger than {cap} bytes", shown(url)));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched { body, max_age })
}

/// The `max-age` of a `Cache-Control` value (`no-store`/`no-cache` count as 0).
fn max_age(value: &str) -> Option<Duration> {
    let mut age = None;
    for part in value.split(',').map(str::trim) {
        let lower = part.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Some(Duration::ZERO);
        }
        if let Some(n) = lower.strip_prefix("max-age=") {
            age = n
                .trim_matches('"')
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs);
        }
    }
    age
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(
            max_age("public, max-age=19427, must-revalidate, no-transform"),
            Some(Duration::from_secs(19427))
        );
        assert_eq!(max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(max_age("public"), None);
    }

    #[test]
    fn shown_urls_lose_their_query() {
        assert_eq!(
            shown("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=secret"),
            "https://sns.us-east-1.amazonaws.com/"
        );
    }
}

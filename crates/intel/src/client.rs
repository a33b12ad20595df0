//! The one HTTP client of the reputation providers: timeouts, a response size cap, redirects
//! only within the configured host, and keys sent only as sensitive headers. Never logs.

use irene_investigate::ProviderError;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use std::fmt;
use std::time::Duration;

/// Redirects followed, all within the provider's own host.
const MAX_REDIRECTS: usize = 3;

/// An API key. Prints as `***`; read only by [`Secret::expose`] when the header is built.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// One reply: status, headers, and the body (at most the cap).
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

pub(crate) struct Client {
    http: reqwest::Client,
    base: String,
    max_bytes: usize,
    /// The key header, marked sensitive (absent when the provider is used without a key).
    auth: Option<(HeaderName, HeaderValue)>,
}

impl Client {
    pub(crate) fn new(
        base: &str,
        key_header: &'static str,
        key: Option<&Secret>,
        timeout: Duration,
        max_bytes: usize,
        user_agent: &str,
    ) -> Result<Client, String> {
        let http = reqwest::Client::builder()
            .user_agent(user_agent)
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                let same_host = attempt.previous().first().is_some_and(|first| {
                    first.host_str() == attempt.url().host_str()
                        && first.port_or_known_default() == attempt.url().port_or_known_default()
                });
                if attempt.previous().len() > MAX_REDIRECTS || !same_host {
                    attempt.stop()
                } else {
                    attempt.follow()
                }
            }))
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        let auth = match key {
            Some(k) => {
                let mut v = HeaderValue::from_str(k.expose())
                    .map_err(|_| "the key is not a valid header value".to_string())?;
                v.set_sensitive(true);
                Some((HeaderName::from_static(key_header), v))
            }
            None => None,
        };
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_string(),
            max_bytes,
            auth,
        })
    }

    /// GET `base + path` with `query`. `path` is built by the provider from a parsed IP or a
    /// checked host name, never from alert text as such.
    pub(crate) async fn get(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Reply, ProviderError> {
        let mut req = self
            .http
            .get(format!("{}{path}", self.base))
            .header(reqwest::header::ACCEPT, "application/json");
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some((name, value)) = &self.auth {
            req = req.header(name.clone(), value.clone());
        }
        let mut resp = req
            .send()
            .await
            .map_err(|e| ProviderError::Unavailable(describe(&e)))?;
        let status = resp.status();
        if status.is_redirection() {
            return Err(ProviderError::Failed(format!(
                "{}: redirected to another host (only same-host redirects are followed)",
                status.as_u16()
            )));
        }
        if resp
            .content_length()
            .is_some_and(|n| n > self.max_bytes as u64)
        {
            return Err(ProviderError::Failed(format!(
                "the answer is larger than {} bytes",
                self.max_bytes
            )));
        }
        let headers = resp.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| ProviderError::Unavailable(describe(&e)))?
        {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(ProviderError::Failed(format!(
                    "the answer is larger than {} bytes",
                    self.max_bytes
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Reply {
            status: status.as_u16(),
            headers,
            body,
        })
    }
}

/// A transport error without the URL (and so without anything the request carried).
fn describe(e: &reqwest::Error) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints() {
        let s = Secret::new("abc123supersecret");
        assert_eq!(format!("{s:?}"), "\"***\"");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(s.expose(), "abc123supersecret");
        let c = Client::new(
            "http://127.0.0.1:1/",
            "key",
            Some(&s),
            Duration::from_secs(1),
            1024,
            "irene-test",
        )
        .expect("client");
        let (_, v) = c.auth.as_ref().expect("auth");
        assert!(v.is_sensitive());
        assert!(!format!("{v:?}").contains("supersecret"));
    }
}

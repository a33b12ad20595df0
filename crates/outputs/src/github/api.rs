//! The one way the GitHub client calls the REST API: its headers, the gate, the current token,
//! redirects of moved issues (same origin only) and `Link` pages. Must not know any action's flow.

use super::auth::Auth;
use super::classify::classify;
use super::GithubOutput;
use crate::http::{Reply, Verdict};
use chrono::Utc;
use irene_core::Outcome;
use reqwest::Method;
use serde_json::Value;

const API_VERSION: &str = "2022-11-28";
const ACCEPT: &str = "application/vnd.github+json";
/// Redirect hops followed for one request (a transferred issue is one).
const MAX_HOPS: usize = 3;

impl GithubOutput {
    pub(super) fn repo_url(&self, rest: &str) -> String {
        format!("{}/repos/{}/{}{rest}", self.api, self.owner, self.repo)
    }

    /// Whether `url` points at the configured API (same scheme, host and port): the token
    /// is never sent anywhere else, whatever a `Location` or `Link` says.
    pub(super) fn same_origin(&self, url: &reqwest::Url) -> bool {
        url.scheme() == self.api_url.scheme()
            && url.host_str() == self.api_url.host_str()
            && url.port_or_known_default() == self.api_url.port_or_known_default()
    }

    /// Sends one request with GitHub's headers and `bearer`, and notes a primary limit the
    /// reply announces (`x-ratelimit-remaining: 0`) for every later request.
    pub(super) async fn send(
        &self,
        method: &Method,
        url: &str,
        bearer: &str,
        body: Option<&Value>,
    ) -> Result<Reply, Outcome> {
        let mut req = self
            .http
            .client()
            .request(method.clone(), url)
            .bearer_auth(bearer)
            .header(reqwest::header::ACCEPT, ACCEPT)
            .header("X-GitHub-Api-Version", API_VERSION);
        if let Some(b) = body {
            req = req.json(b);
        }
        let reply = self.http.send(req).await?;
        if let Some(reset) = reply.hints().primary_reset() {
            if reset > Utc::now() {
                self.gate.hold_until(reset);
            }
        }
        Ok(reply)
    }

    /// One API request: waits for the gate (mutative requests in turn, `pace` apart), uses
    /// the current token (an app re-mints once on a 401) and repeats the request at the
    /// `Location` of a redirect (a transferred issue).
    pub(super) async fn request(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Reply, Outcome> {
        self.gate.check(Utc::now()).await?;
        let _turn = if method == Method::GET {
            None
        } else {
            Some(self.gate.turn().await?)
        };
        let mut url = url.to_string();
        let mut reminted = false;
        let mut hops = 0;
        loop {
            let token = self.token().await?;
            let reply = self.send(&method, &url, token.expose(), body).await?;
            match reply.status {
                401 if matches!(self.auth, Auth::App(_)) && !reminted => {
                    reminted = true;
                    self.forget_token().await;
                }
                301 | 302 | 307 | 308 if hops < MAX_HOPS => {
                    let next = reply
                        .headers
                        .get(reqwest::header::LOCATION)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|loc| reqwest::Url::parse(&url).ok()?.join(loc).ok())
                        .map(|to| keep_subresource(&url, to))
                        .filter(|u| self.same_origin(u));
                    match next {
                        Some(next) => {
                            hops += 1;
                            url = next.to_string();
                        }
                        None => return Ok(reply),
                    }
                }
                _ => return Ok(reply),
            }
        }
    }

    /// The outcome of a reply that is not what the caller wanted; a rate limit holds back
    /// every later request of this credential.
    pub(super) fn failure(&self, reply: &Reply) -> Outcome {
        let verdict = match classify(reply.status, &reply.hints(), &reply.body, Utc::now()) {
            // a success the caller did not expect (a 3xx not followed, a 204 for a 201)
            Verdict::Success => Verdict::Dead,
            v => v,
        };
        if let Verdict::Retry {
            at: Some(at),
            limited: true,
        } = verdict
        {
            self.gate.hold_until(at);
        }
        self.http.failure(&verdict, reply)
    }

    /// Requests and expects a 2xx with a JSON body.
    pub(super) async fn call(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Value, Outcome> {
        let reply = self.request(method, url, body).await?;
        if !(200..300).contains(&reply.status) {
            return Err(self.failure(&reply));
        }
        Ok(reply.json().unwrap_or(Value::Null))
    }
}

/// The part of an issue URL's path after `/issues/{number}` (`/comments`, or empty).
fn issue_suffix(path: &str) -> Option<(&str, &str)> {
    let at = path.rfind("/issues/")?;
    let rest = &path[at + "/issues/".len()..];
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    (digits > 0).then(|| (&path[..at + "/issues/".len() + digits], &rest[digits..]))
}

/// A `Location` that names a moved issue, for a request on one of its sub-resources
/// (`…/issues/7/comments`), keeps the sub-resource: the comment goes to the moved issue.
fn keep_subresource(from: &str, mut to: reqwest::Url) -> reqwest::Url {
    let Some(from) = reqwest::Url::parse(from).ok() else {
        return to;
    };
    let Some((_, suffix)) = issue_suffix(from.path()) else {
        return to;
    };
    if suffix.is_empty() {
        return to;
    }
    let moved = match issue_suffix(to.path()) {
        Some((issue, "")) => format!("{issue}{suffix}"),
        _ => return to,
    };
    to.set_path(&moved);
    to
}

/// The `rel="next"` URL of a `Link` header, verbatim.
pub(super) fn next_link(headers: &reqwest::header::HeaderMap) -> Option<String> {
    for value in headers.get_all(reqwest::header::LINK) {
        let Ok(v) = value.to_str() else { continue };
        let mut rest = v;
        while let Some(open) = rest.find('<') {
            let after = &rest[open + 1..];
            let close = after.find('>')?;
            let url = &after[..close];
            let params_end = after[close..].find('<').map_or(after.len(), |i| close + i);
            let params = &after[close + 1..params_end];
            if params.split(';').any(|p| {
                matches!(
                    p.trim().trim_end_matches(',').trim(),
                    "rel=\"next\"" | "rel=next"
                )
            }) {
                return Some(url.to_string());
            }
            rest = &after[params_end..];
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn redirects_keep_the_subresource() {
        let url = |s: &str| reqwest::Url::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        let table = [
            (
                "https://a/repos/o/r/issues/1/comments",
                "https://a/repos/o/x/issues/9",
                "https://a/repos/o/x/issues/9/comments",
            ),
            (
                "https://a/repos/o/r/issues/1/comments",
                "https://a/repositories/5/issues/9/comments",
                "https://a/repositories/5/issues/9/comments",
            ),
            (
                "https://a/repos/o/r/issues/1",
                "https://a/repos/o/x/issues/9",
                "https://a/repos/o/x/issues/9",
            ),
            (
                "https://a/repos/o/r/labels",
                "https://a/repos/o/x/labels",
                "https://a/repos/o/x/labels",
            ),
        ];
        for (from, to, want) in table {
            assert_eq!(
                keep_subresource(from, url(to)).as_str(),
                want,
                "{from} → {to}"
            );
        }
    }

    #[test]
    fn link_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            reqwest::header::LINK,
            HeaderValue::from_static("<https://api.github.com/repositories/1300192/issues?page=2>; rel=\"prev\", <https://api.github.com/repositories/1300192/issues?page=4&after=Y3Vy,c29y>; rel=\"next\", <https://api.github.com/repositories/1300192/issues?page=515>; rel=\"last\""),
        );
        assert_eq!(
            next_link(&h).as_deref(),
            Some("https://api.github.com/repositories/1300192/issues?page=4&after=Y3Vy,c29y")
        );
        let mut h = HeaderMap::new();
        h.insert(
            reqwest::header::LINK,
            HeaderValue::from_static("<https://x/issues?page=1>; rel=\"first\""),
        );
        assert_eq!(next_link(&h), None);
        assert_eq!(next_link(&HeaderMap::new()), None);
    }
}

//! Who is using the console and what they may do: the viewer (from a session cookie, a bearer
//! token, or anyone on loopback when no account and no token exist), its role, its forms' CSRF
//! token, and the audit log of its actions. It decides access only; it must not render pages
//! or change cases.

use crate::api::error::ApiError;
use crate::api::AppState;
use crate::auth::{AuthError, Scope};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::OnceLock;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "irene_session";

/// What a viewer may do: read (viewer), act on cases, silences and dead letters (responder),
/// change settings and accounts (admin). Each role can do what the ones before it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Responder,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Responder => "responder",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "responder" => Some(Role::Responder),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The person or machine behind a console request.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// The account or token name (`anonymous` when the console is open); shown and audited.
    pub name: String,
    pub role: Role,
    /// The value every form of this viewer carries; a form posted without it is refused.
    pub csrf: String,
    /// Nothing is configured: the console is open to anyone on this machine (loopback only).
    pub open: bool,
    /// Signed in with a session cookie (so it can sign out).
    pub signed_in: bool,
}

impl Viewer {
    /// No one known (an error page before or instead of signing in).
    pub fn nobody(open: bool) -> Viewer {
        Viewer {
            name: String::new(),
            role: Role::Viewer,
            csrf: String::new(),
            open,
            signed_in: false,
        }
    }

    /// Whether this viewer may do what `role` may.
    pub fn can(&self, role: Role) -> bool {
        self.role >= role
    }

    /// Whether this viewer may see the admin pages (the nav's audit link).
    pub fn is_admin(&self) -> bool {
        self.can(Role::Admin)
    }
}

/// A live session, as found from the request's cookie.
#[derive(Debug, Clone)]
pub(super) struct Session {
    pub name: String,
    pub role: Role,
    pub csrf: String,
    /// The SHA-256 (hex) of the cookie's value: the store's key for it.
    pub id_hash: String,
}

/// What [`layer`] learned about a request before its handler runs.
#[derive(Debug, Clone)]
pub(super) struct Seen {
    /// Some console account exists or OIDC sign-in is configured: the console is never open.
    pub accounts: bool,
    pub session: Option<Session>,
    /// The peer's address (what the sign-in rate limit counts), or empty.
    pub ip: String,
}

impl Seen {
    /// Outside the layer: as if accounts existed (closed rather than open).
    fn closed() -> Seen {
        Seen {
            accounts: true,
            session: None,
            ip: String::new(),
        }
    }
}

tokio::task_local! {
    static SEEN: Seen;
}

/// What the layer learned about the current request.
pub(super) fn seen() -> Seen {
    SEEN.try_with(Clone::clone)
        .unwrap_or_else(|_| Seen::closed())
}

/// Whether the console is open to anyone on loopback: no token, no account and no OIDC issuer.
pub fn is_open(state: &AppState) -> bool {
    state.tokens.is_open() && !seen().accounts
}

/// The SHA-256 (hex) of a session cookie's value: what the store keeps of it.
pub(super) fn session_hash(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// The value of the session cookie in a request's `Cookie` headers.
pub(super) fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, v)| *k == SESSION_COOKIE && !v.is_empty())
        .map(|(_, v)| v.trim_matches('"').to_string())
}

/// Pages reachable without a session when accounts exist (the sign-in form, the stylesheet).
fn is_public(path: &str) -> bool {
    path == "/signin" || path.starts_with("/signin/") || path == "/console.css"
}

/// Runs before every console route: finds the session of the request's cookie (marking it
/// seen), whether accounts exist, and the peer's address, for [`require`] and the sign-in
/// pages. A browser (no `Authorization`) asking for a page without a session while accounts
/// exist is sent to the sign-in form (303), with where it wanted to go.
pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let store = &state.app.store;
    // An OIDC issuer is a way to sign in even before anyone has: the console is not open.
    let accounts = state.console.oidc.is_some()
        || match store.users_exist().await {
            Ok(any) => any,
            Err(e) => {
                tracing::error!(error = %e, "could not read the console accounts");
                true
            }
        };
    let session = match session_cookie(req.headers()) {
        Some(value) if accounts => {
            let id_hash = session_hash(&value);
            let now = chrono::Utc::now();
            let idle = chrono::Duration::from_std(state.console.session_idle)
                .unwrap_or(chrono::Duration::hours(8));
            match store.session_touch(&id_hash, now, now - idle).await {
                Ok(Some(s)) => Role::parse(&s.role).map(|role| Session {
                    name: s.user,
                    role,
                    csrf: s.csrf,
                    id_hash,
                }),
                Ok(None) => None,
                Err(e) => {
                    tracing::error!(error = %e, "could not read a console session");
                    None
                }
            }
        }
        _ => None,
    };
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    let path = req.uri().path();
    if accounts
        && session.is_none()
        && req.method() == Method::GET
        && !req.headers().contains_key(header::AUTHORIZATION)
        && !is_public(path)
    {
        let wanted = req
            .uri()
            .path_and_query()
            .map_or(path, |pq| pq.as_str())
            .to_string();
        let to = format!(
            "/signin?{}",
            serde_urlencoded::to_string([("next", safe_next(&wanted))]).unwrap_or_default()
        );
        return (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, to),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
        )
            .into_response();
    }
    let seen = Seen {
        accounts,
        session,
        ip,
    };
    SEEN.scope(seen, next.run(req)).await
}

/// Where to go after signing in: a local path only (never another site); else the overview.
pub fn safe_next(next: &str) -> &str {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control() || c == '\\');
    if local {
        next
    } else {
        "/"
    }
}

/// The role a bearer token's scopes give in the console.
fn token_role(state: &AppState, authorization: Option<&str>) -> Result<(String, Role), AuthError> {
    match state.tokens.check(authorization, Scope::Admin) {
        Ok(name) => Ok((name, Role::Admin)),
        Err(AuthError::Forbidden { .. }) => state
            .tokens
            .check(authorization, Scope::Read)
            .map(|name| (name, Role::Viewer)),
        Err(e) => Err(e),
    }
}

/// The viewer of a request, who must have at least `role`: its session first, else its bearer
/// token, else anyone when the console is open. 401 without credentials, 403 when the role is
/// too small.
pub fn require(state: &AppState, headers: &HeaderMap, role: Role) -> Result<Viewer, ApiError> {
    let seen = seen();
    let viewer = match seen.session {
        Some(s) => Viewer {
            name: s.name,
            role: s.role,
            csrf: s.csrf,
            open: false,
            signed_in: true,
        },
        None => {
            if seen.accounts && state.tokens.is_open() {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "sign in to use the console",
                ));
            }
            let authorization = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            let (name, has) = token_role(state, authorization)?;
            Viewer {
                csrf: csrf_for(&name),
                open: state.tokens.is_open() && !seen.accounts,
                name,
                role: has,
                signed_in: false,
            }
        }
    };
    if !viewer.can(role) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this needs the {role} role; you have {}", viewer.role),
        ));
    }
    Ok(viewer)
}

/// The key behind CSRF tokens of viewers without a session: made at random per process.
fn csrf_key() -> &'static [u8; 32] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    KEY.get_or_init(|| {
        let mut k = [0u8; 32];
        rand::rng().fill_bytes(&mut k);
        k
    })
}

pub(super) fn csrf_for(name: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(csrf_key()) else {
        return String::new();
    };
    mac.update(b"irene-console-csrf\0");
    mac.update(name.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Whether a form may act: its CSRF token is this viewer's, and the browser does not say the
/// request came from another site (`Sec-Fetch-Site`, `Origin`). 403 otherwise.
pub fn check_form(viewer: &Viewer, headers: &HeaderMap, csrf: &str) -> Result<(), ApiError> {
    let forbidden = |why: &str| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf",
            format!("{why}: reload the page and try again"),
        )
    };
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if site == "cross-site" || site == "same-site" {
            return Err(forbidden("the form was posted from another site"));
        }
    }
    if let (Some(origin), Some(host)) = (
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) {
        let origin_host = origin.split_once("://").map_or(origin, |(_, h)| h);
        if origin != "null" && origin_host != host {
            return Err(forbidden("the form was posted from another origin"));
        }
    }
    let want = viewer.csrf.as_bytes();
    let got = csrf.as_bytes();
    let same = want.len() == got.len()
        && !want.is_empty()
        && want.iter().zip(got).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    if same {
        Ok(())
    } else {
        Err(forbidden("the form's token is missing or stale"))
    }
}

/// Records a viewer's action in the audit log. A failure to record is logged, not returned:
/// the action itself has happened.
pub async fn audit(state: &AppState, viewer: &Viewer, action: &str, target: &str, detail: &str) {
    let entry = irene_store::NewAudit {
        actor: viewer.name.clone(),
        action: action.to_string(),
        target: target.to_string(),
        detail: detail.to_string(),
    };
    if let Err(e) = state.app.store.audit_add(&entry, chrono::Utc::now()).await {
        tracing::error!(error = %e, action, target, "could not record an action in the audit log");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewer() -> Viewer {
        Viewer {
            name: "ana".into(),
            role: Role::Responder,
            csrf: csrf_for("ana"),
            open: false,
            signed_in: true,
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("header value"));
        }
        h
    }

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        let table = [
            ("/cases?status=open", "/cases?status=open"),
            ("/", "/"),
            ("//evil.test/x", "/"),
            ("/\\evil.test", "/"),
            ("https://evil.test/", "/"),
            ("javascript:alert(1)", "/"),
            ("", "/"),
            ("/a\nb", "/"),
        ];
        for (given, want) in table {
            assert_eq!(safe_next(given), want, "{given:?}");
        }
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let table: [(&[&str], Option<&str>); 5] = [
            (&["a=1; irene_session=abc; b=2"], Some("abc")),
            (&["a=1", "irene_session=xyz"], Some("xyz")),
            (&["irene_session="], None),
            (&["not_irene_session=abc"], None),
            (&[], None),
        ];
        for (cookies, want) in table {
            let mut h = HeaderMap::new();
            for c in cookies {
                h.append(header::COOKIE, c.parse().expect("cookie"));
            }
            assert_eq!(session_cookie(&h).as_deref(), want, "{cookies:?}");
        }
        assert_eq!(session_hash("abc").len(), 64);
    }

    #[test]
    fn roles_are_ordered() {
        let v = viewer();
        assert!(v.can(Role::Viewer) && v.can(Role::Responder) && !v.can(Role::Admin));
        for r in [Role::Viewer, Role::Responder, Role::Admin] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn forms_need_the_viewers_token_and_the_same_origin() {
        let v = viewer();
        let same = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
        ]);
        let table: Vec<(HeaderMap, String, bool)> = vec![
            (same.clone(), v.csrf.clone(), true),
            (HeaderMap::new(), v.csrf.clone(), true),
            (same.clone(), String::new(), false),
            (same.clone(), csrf_for("bo"), false),
            (same.clone(), v.csrf[..10].to_string(), false),
            (
                headers(&[("host", "127.0.0.1:8080"), ("origin", "https://evil.test")]),
                v.csrf.clone(),
                false,
            ),
            (
                headers(&[("sec-fetch-site", "cross-site")]),
                v.csrf.clone(),
                false,
            ),
            (
                headers(&[("sec-fetch-site", "same-origin")]),
                v.csrf.clone(),
                true,
            ),
        ];
        for (i, (h, token, ok)) in table.into_iter().enumerate() {
            assert_eq!(check_form(&v, &h, &token).is_ok(), ok, "case {i}");
        }
    }
}

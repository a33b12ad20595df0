//! Who is using the console and what they may do: the viewer (from a bearer token, or anyone on
//! loopback when nothing is configured), its role, its forms' CSRF token, and the audit log of
//! its actions. It decides access only; it must not render pages or change cases.

use crate::api::error::ApiError;
use crate::api::AppState;
use crate::auth::{AuthError, Scope};
use axum::http::{header, HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use std::sync::OnceLock;

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
}

impl Viewer {
    /// No one known (an error page before or instead of signing in).
    pub fn nobody(open: bool) -> Viewer {
        Viewer {
            name: String::new(),
            role: Role::Viewer,
            csrf: String::new(),
            open,
        }
    }

    /// Whether this viewer may do what `role` may.
    pub fn can(&self, role: Role) -> bool {
        self.role >= role
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

/// The viewer of a request, who must have at least `role`: 401 without credentials, 403 when
/// the role is too small.
pub fn require(state: &AppState, headers: &HeaderMap, role: Role) -> Result<Viewer, ApiError> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let (name, has) = token_role(state, authorization)?;
    let viewer = Viewer {
        csrf: csrf_for(&name),
        open: state.tokens.is_open(),
        name,
        role: has,
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

fn csrf_for(name: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(csrf_key()) else {
        return String::new();
    };
    mac.update(b"irene-console-csrf\0");
    mac.update(name.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Whether a form may act: its CSRF token is this viewer's, and the browser does not say the
/// request came from another site (`Sec-Fetch-Site`, `Origin`). 403 otherwise.
#[allow(dead_code)] // the action pages' (in progress)
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
#[allow(dead_code)] // the action pages' (in progress)
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

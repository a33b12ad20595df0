//! Signing in and out of the console: the sign-in form, its check (rate-limited, audited), the
//! session cookie, signing out here or everywhere. Who a request is stays `access`'s.

use super::access::{self, audit, check_form, csrf_for, require, safe_next, Role, Viewer};
use super::render;
use crate::api::error::ApiError;
use crate::api::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use chrono::Utc;
use irene_store::NewSession;
use rand::RngCore;
use serde::Deserialize;

/// Failed sign-ins that close the form for a name, and for an address, for [`WINDOW_MINUTES`].
const MAX_FAILURES_PER_NAME: u32 = 5;
const MAX_FAILURES_PER_IP: u32 = 20;
const WINDOW_MINUTES: i64 = 15;

#[derive(Template)]
#[template(path = "console/signin.html")]
struct SigninPage {
    viewer: Viewer,
    /// The sign-in form's own token (there is no session yet).
    form_csrf: String,
    next: String,
    error: String,
    notice: String,
    accounts: bool,
    /// `[console.oidc]` is set: the "Sign in with SSO" link.
    sso: bool,
}

#[derive(Deserialize, Default)]
pub struct SigninQuery {
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    signed_out: Option<String>,
}

/// The sign-in form's token: one per process, checked with the same-origin rules as any form.
fn form_csrf() -> String {
    csrf_for("\0signin")
}

fn page(state: &AppState, next: &str, error: &str, notice: &str) -> SigninPage {
    let seen = access::seen();
    SigninPage {
        viewer: Viewer::nobody(access::is_open(state)),
        form_csrf: form_csrf(),
        next: safe_next(next).to_string(),
        error: error.to_string(),
        notice: notice.to_string(),
        accounts: seen.accounts,
        sso: state.console.oidc.is_some(),
    }
}

fn page_with(state: &AppState, status: StatusCode, p: SigninPage) -> Response {
    let mut resp = render(state, Ok(p));
    if resp.status() == StatusCode::OK {
        *resp.status_mut() = status;
    }
    resp
}

/// The sign-in page with `status` and an error saying why (a refused sign-in of any kind).
pub(super) fn refused(state: &AppState, status: StatusCode, next: &str, error: &str) -> Response {
    page_with(state, status, page(state, next, error, ""))
}

/// `GET /signin`: the form (or, once signed in, on to where the viewer was going).
pub async fn form(State(state): State<AppState>, Query(q): Query<SigninQuery>) -> Response {
    let next = q.next.unwrap_or_default();
    if access::seen().session.is_some() {
        return see_other(safe_next(&next));
    }
    let notice = if q.signed_out.is_some() {
        "You are signed out."
    } else {
        ""
    };
    render(&state, Ok(page(&state, &next, "", notice)))
}

#[derive(Deserialize)]
pub struct SigninForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

pub(super) fn see_other(to: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, to.to_string()),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
    )
        .into_response()
}

/// `; Secure` when people reach Irene over https (the cookies' attribute), else nothing.
pub(super) fn secure_attr(state: &AppState) -> &'static str {
    if state
        .public_url
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("https://")
    {
        "; Secure"
    } else {
        ""
    }
}

fn cookie(state: &AppState, value: &str, max_age: u64) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{}={value}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}{}",
        access::SESSION_COOKIE,
        secure_attr(state)
    ))
    .ok()
}

pub(super) fn random_hex() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// The actor a failed attempt is audited as: the name tried, cut (it is attacker-controlled).
fn tried(name: &str) -> String {
    name.chars().take(64).collect()
}

/// `POST /signin`: checks the name and password; on success a new session and its cookie,
/// then on to `next`. Failures are counted, audited and answered alike whether the name
/// exists or not; too many → 429.
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<SigninForm>,
) -> Response {
    let gate = Viewer {
        csrf: form_csrf(),
        ..Viewer::nobody(false)
    };
    if let Err(e) = check_form(&gate, &headers, &f.csrf) {
        return page_with(&state, e.status, page(&state, &f.next, &e.message, ""));
    }
    match sign_in_checked(&state, &f).await {
        Ok(resp) => resp,
        Err((status, message)) => page_with(&state, status, page(&state, &f.next, &message, "")),
    }
}

async fn sign_in_checked(
    state: &AppState,
    f: &SigninForm,
) -> Result<Response, (StatusCode, String)> {
    let store = &state.app.store;
    let unavailable = |e: irene_store::StoreError| {
        tracing::error!(error = %e, "sign-in: the store failed");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "The store failed; try again.".to_string(),
        )
    };
    let ip = access::seen().ip;
    let name = f.name.trim().to_string();
    let now = Utc::now();
    let failures = store
        .login_failures(&name, &ip, now - chrono::Duration::minutes(WINDOW_MINUTES))
        .await
        .map_err(unavailable)?;
    let nobody = Viewer::nobody(false);
    if failures.by_name >= MAX_FAILURES_PER_NAME || failures.by_ip >= MAX_FAILURES_PER_IP {
        let actor = Viewer {
            name: tried(&name),
            ..nobody.clone()
        };
        audit(
            state,
            &actor,
            "sign_in.blocked",
            &tried(&name),
            &format!("from {ip}"),
        )
        .await;
        return Err((
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many failed sign-ins for this name or from this address: \
                 try again in {WINDOW_MINUTES} minutes."
            ),
        ));
    }
    let user = store.user_get(&name).await.map_err(unavailable)?;
    let password = f.password.clone();
    let ok = match user.clone() {
        Some(u) if !u.disabled => {
            tokio::task::spawn_blocking(move || crate::password::verify(&password, &u.hash))
                .await
                .unwrap_or(false)
        }
        _ => {
            let _ = tokio::task::spawn_blocking(move || crate::password::verify_nobody(&password))
                .await;
            false
        }
    };
    store
        .login_attempt_add(&name, &ip, ok, now)
        .await
        .map_err(unavailable)?;
    let Some(user) = user.filter(|_| ok) else {
        let actor = Viewer {
            name: tried(&name),
            ..nobody
        };
        audit(
            state,
            &actor,
            "sign_in.failed",
            &tried(&name),
            &format!("from {ip}"),
        )
        .await;
        return Err((
            StatusCode::UNAUTHORIZED,
            "Wrong name or password.".to_string(),
        ));
    };
    let role = Role::parse(&user.role).unwrap_or(Role::Viewer);
    start_session(state, &user.name, role, &format!("from {ip}"), &f.next)
        .await
        .map_err(unavailable)
}

/// Starts a session for `name` (an account in the store) with `role` — what every way of
/// signing in ends with: the session row, the `sign_in` audit entry (with `detail`), the
/// cookie, and on to `next` (a local path only).
pub(super) async fn start_session(
    state: &AppState,
    name: &str,
    role: Role,
    detail: &str,
    next: &str,
) -> Result<Response, irene_store::StoreError> {
    let value = random_hex();
    let now = Utc::now();
    let max =
        chrono::Duration::from_std(state.console.session_max).unwrap_or(chrono::Duration::days(7));
    state
        .app
        .store
        .session_add(&NewSession {
            id_hash: access::session_hash(&value),
            user: name.to_string(),
            csrf: random_hex(),
            created_at: now,
            expires_at: now + max,
        })
        .await?;
    let viewer = Viewer {
        name: name.to_string(),
        role,
        ..Viewer::nobody(false)
    };
    audit(state, &viewer, "sign_in", name, detail).await;
    let mut resp = see_other(safe_next(next));
    if let Some(c) = cookie(state, &value, state.console.session_max.as_secs()) {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    Ok(resp)
}

#[derive(Deserialize)]
pub struct SignoutForm {
    #[serde(default)]
    csrf: String,
}

/// The signed-in viewer of a sign-out form, its token checked; 401 for anyone else.
fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<(Viewer, access::Session), ApiError> {
    let viewer = require(state, headers, Role::Viewer)?;
    let session = access::seen()
        .session
        .filter(|_| viewer.signed_in)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "no_session",
                "only a signed-in browser can sign out",
            )
        })?;
    check_form(&viewer, headers, csrf)?;
    Ok((viewer, session))
}

fn signed_out(state: &AppState) -> Response {
    let mut resp = see_other("/signin?signed_out=1");
    if let Some(c) = cookie(state, "", 0) {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    resp
}

/// `POST /signout`: ends this session.
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<SignoutForm>,
) -> Response {
    let (viewer, session) = match signed_in(&state, &headers, &f.csrf) {
        Ok(v) => v,
        Err(e) => return super::error_page(&state, e),
    };
    if let Err(e) = state.app.store.session_delete(&session.id_hash).await {
        return super::error_page(&state, e.into());
    }
    audit(&state, &viewer, "sign_out", &viewer.name, "").await;
    signed_out(&state)
}

/// `POST /signout/everywhere`: ends every session of this user, in every browser.
pub async fn sign_out_everywhere(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<SignoutForm>,
) -> Response {
    let (viewer, _) = match signed_in(&state, &headers, &f.csrf) {
        Ok(v) => v,
        Err(e) => return super::error_page(&state, e),
    };
    match state.app.store.sessions_delete_user(&viewer.name).await {
        Ok(n) => {
            audit(
                &state,
                &viewer,
                "sign_out.everywhere",
                &viewer.name,
                &format!("{n} sessions ended"),
            )
            .await;
            signed_out(&state)
        }
        Err(e) => super::error_page(&state, e.into()),
    }
}

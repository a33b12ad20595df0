//! OIDC sign-in for the console (`[console.oidc]`): the redirect to the issuer (state, nonce,
//! PKCE S256, kept in a signed short-lived cookie) and the callback (code exchange, ID token
//! checks, allow-list, group → role), ending in the same session start as a password. It must
//! never log, show or keep a token or the client secret.

use super::access::{self, audit, csrf_for, safe_next, Role, Viewer};
use super::signin;
use crate::api::AppState;
use crate::config::OidcConfig;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Utc;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The cookie that carries a sign-in in progress from the redirect to the callback.
const FLOW_COOKIE: &str = "irene_oidc";
/// How long a started sign-in may take at the issuer.
const FLOW_SECONDS: i64 = 600;
/// The hash of an account that OIDC sign-in made: no password ever matches it.
pub(super) const OIDC_HASH: &str = "!oidc";

/// A sign-in in progress, sealed in [`FLOW_COOKIE`].
#[derive(Debug, Serialize, Deserialize)]
struct Flow {
    state: String,
    nonce: String,
    verifier: String,
    next: String,
    /// Unix seconds after which the flow is refused.
    exp: i64,
}

/// Why a sign-in was refused: `shown` on the page, `why` in the audit log and the logs (neither
/// ever holds a token or the secret), `who` the address when it is known.
struct Failure {
    status: StatusCode,
    shown: String,
    why: String,
    who: String,
}

fn failure(status: StatusCode, shown: &str, why: impl Into<String>) -> Failure {
    Failure {
        status,
        shown: shown.to_string(),
        why: why.into(),
        who: String::new(),
    }
}

fn issuer_failed(why: impl Into<String>) -> Failure {
    failure(
        StatusCode::BAD_GATEWAY,
        "The identity provider could not be reached or answered wrongly; try again later.",
        why,
    )
}

#[derive(Clone, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

fn http() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("irene/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default()
    })
}

fn same_issuer(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// How long the issuer's documents are kept; a key the JWKS lacks fetches it again at once.
const KEEP_DOCUMENTS: Duration = Duration::from_secs(600);

/// A document fetched from `url` at `at`.
struct Kept<T> {
    at: Instant,
    url: String,
    value: T,
}

static DISCOVERY: Mutex<Option<Kept<Discovery>>> = Mutex::new(None);
static JWKS: Mutex<Option<Kept<JwkSet>>> = Mutex::new(None);

/// The document kept for `url` if it is younger than `max_age`.
fn kept<T: Clone>(slot: &Mutex<Option<Kept<T>>>, url: &str, max_age: Duration) -> Option<T> {
    let guard = slot.lock().ok()?;
    guard
        .as_ref()
        .filter(|k| k.url == url && k.at.elapsed() < max_age)
        .map(|k| k.value.clone())
}

fn keep<T>(slot: &Mutex<Option<Kept<T>>>, url: &str, value: T) {
    if let Ok(mut guard) = slot.lock() {
        *guard = Some(Kept {
            at: Instant::now(),
            url: url.to_string(),
            value,
        });
    }
}

/// The issuer's JWKS: kept for a while, fetched again when `fresh` (a key was missing).
async fn jwks(uri: &str, fresh: bool) -> Result<JwkSet, Failure> {
    if !fresh {
        if let Some(k) = kept(&JWKS, uri, KEEP_DOCUMENTS) {
            return Ok(k);
        }
    }
    let set: JwkSet = http()
        .get(uri)
        .send()
        .await
        .map_err(|e| issuer_failed(format!("jwks: {e}")))?
        .json()
        .await
        .map_err(|e| issuer_failed(format!("jwks: {e}")))?;
    keep(&JWKS, uri, set.clone());
    Ok(set)
}

/// The issuer's discovery document (kept for a while), which must name the configured issuer.
async fn discover(cfg: &OidcConfig) -> Result<Discovery, Failure> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        cfg.issuer.trim_end_matches('/')
    );
    if let Some(d) = kept(&DISCOVERY, &url, KEEP_DOCUMENTS) {
        return Ok(d);
    }
    let resp = http()
        .get(&url)
        .send()
        .await
        .map_err(|e| issuer_failed(format!("discovery: {e}")))?;
    if !resp.status().is_success() {
        return Err(issuer_failed(format!("discovery: HTTP {}", resp.status())));
    }
    let d: Discovery = resp
        .json()
        .await
        .map_err(|e| issuer_failed(format!("discovery: {e}")))?;
    if !same_issuer(&d.issuer, &cfg.issuer) {
        return Err(issuer_failed(
            "discovery: the document names another issuer",
        ));
    }
    keep(&DISCOVERY, &url, d.clone());
    Ok(d)
}

fn redirect_url(state: &AppState, cfg: &OidcConfig) -> String {
    cfg.redirect_url.clone().unwrap_or_else(|| {
        format!(
            "{}/signin/oidc/callback",
            state.public_url.trim_end_matches('/')
        )
    })
}

/// The sealed cookie value: the flow (base64url JSON) and its MAC under the process key.
fn seal(flow: &Flow) -> Option<String> {
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(flow).ok()?);
    let mac = csrf_for(&format!("\0oidc-flow\0{body}"));
    Some(format!("{body}.{mac}"))
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && !a.is_empty()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The flow of a sealed cookie value, if its MAC is ours and it has not expired.
fn unseal(value: &str, now: i64) -> Option<Flow> {
    let (body, mac) = value.split_once('.')?;
    if !same(&csrf_for(&format!("\0oidc-flow\0{body}")), mac) {
        return None;
    }
    let flow: Flow = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()?;
    (flow.exp > now).then_some(flow)
}

fn flow_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, v)| *k == FLOW_COOKIE && !v.is_empty())
        .map(|(_, v)| v.to_string())
}

fn set_flow_cookie(state: &AppState, value: &str, max_age: i64) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{FLOW_COOKIE}={value}; HttpOnly; SameSite=Lax; Path=/signin/oidc; Max-Age={max_age}{}",
        signin::secure_attr(state)
    ))
    .ok()
}

fn not_configured(state: &AppState) -> Response {
    signin::refused(
        state,
        StatusCode::NOT_FOUND,
        "/",
        "Single sign-on is not configured.",
    )
}

/// The page of a refused sign-in, audited `sign_in.failed` and logged (without any token).
async fn refuse(state: &AppState, f: Failure, next: &str) -> Response {
    let ip = access::seen().ip;
    let who: String = if f.who.is_empty() {
        "oidc".to_string()
    } else {
        f.who.chars().take(64).collect()
    };
    tracing::warn!(user = %who, reason = %f.why, "OIDC sign-in refused");
    let actor = Viewer {
        name: who.clone(),
        ..Viewer::nobody(false)
    };
    audit(
        state,
        &actor,
        "sign_in.failed",
        &who,
        &format!("oidc from {ip}: {}", f.why),
    )
    .await;
    signin::refused(state, f.status, next, &f.shown)
}

#[derive(Deserialize, Default)]
pub struct StartQuery {
    #[serde(default)]
    next: Option<String>,
}

/// `GET /signin/oidc`: on to the issuer's authorization endpoint, the flow in a sealed cookie.
pub async fn start(State(state): State<AppState>, Query(q): Query<StartQuery>) -> Response {
    let Some(cfg) = state.console.oidc.clone() else {
        return not_configured(&state);
    };
    let next = safe_next(q.next.as_deref().unwrap_or("/")).to_string();
    let d = match discover(&cfg).await {
        Ok(d) => d,
        Err(f) => return refuse(&state, f, &next).await,
    };
    let flow = Flow {
        state: signin::random_hex(),
        nonce: signin::random_hex(),
        verifier: signin::random_hex(),
        next,
        exp: Utc::now().timestamp() + FLOW_SECONDS,
    };
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(flow.verifier.as_bytes()));
    let redirect = redirect_url(&state, &cfg);
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", cfg.client_id.as_str()),
        ("redirect_uri", redirect.as_str()),
        ("scope", "openid email profile"),
        ("state", flow.state.as_str()),
        ("nonce", flow.nonce.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ])
    .unwrap_or_default();
    let sep = if d.authorization_endpoint.contains('?') {
        '&'
    } else {
        '?'
    };
    let Some(cookie) = seal(&flow).and_then(|v| set_flow_cookie(&state, &v, FLOW_SECONDS)) else {
        let f = failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The sign-in could not be started.",
            "could not seal the flow",
        );
        return refuse(&state, f, &flow.next).await;
    };
    let mut resp = signin::see_other(&format!("{}{sep}{query}", d.authorization_endpoint));
    resp.headers_mut().insert(header::SET_COOKIE, cookie);
    resp
}

#[derive(Deserialize, Default)]
pub struct CallbackQuery {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// `GET /signin/oidc/callback`: checks the flow, exchanges the code, checks the ID token and
/// the user, then starts a session; else a page that says why. The flow cookie is spent.
pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let Some(cfg) = state.console.oidc.clone() else {
        return not_configured(&state);
    };
    let flow = flow_cookie(&headers).and_then(|v| unseal(&v, Utc::now().timestamp()));
    let next = flow.as_ref().map_or("/", |f| f.next.as_str()).to_string();
    let mut resp = match finish(&state, &cfg, flow, q).await {
        Ok(resp) => resp,
        Err(f) => refuse(&state, f, &next).await,
    };
    if let Some(c) = set_flow_cookie(&state, "", 0) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

async fn finish(
    state: &AppState,
    cfg: &OidcConfig,
    flow: Option<Flow>,
    q: CallbackQuery,
) -> Result<Response, Failure> {
    if let Some(error) = q.error {
        let error: String = error.chars().take(80).collect();
        return Err(failure(
            StatusCode::FORBIDDEN,
            &format!("The identity provider did not sign you in ({error})."),
            format!("the issuer answered {error}"),
        ));
    }
    let Some(flow) = flow else {
        return Err(failure(
            StatusCode::BAD_REQUEST,
            "This sign-in expired or was started in another browser: start again.",
            "no valid flow cookie",
        ));
    };
    if !same(q.state.as_deref().unwrap_or_default(), &flow.state) {
        return Err(failure(
            StatusCode::BAD_REQUEST,
            "This sign-in's state does not match the one it was started with: start again.",
            "state mismatch",
        ));
    }
    let Some(code) = q.code.filter(|c| !c.is_empty()) else {
        return Err(failure(
            StatusCode::BAD_REQUEST,
            "The identity provider sent no code: start again.",
            "no code",
        ));
    };
    let d = discover(cfg).await?;
    let id_token = exchange(state, cfg, &d, &code, &flow.verifier).await?;
    let claims = verify(cfg, &d, &id_token, &flow.nonce).await?;
    let email = email_of(&claims)?;
    let who = |mut f: Failure| {
        f.who = email.clone();
        f
    };
    if !allowed(cfg, &email) {
        return Err(who(failure(
            StatusCode::FORBIDDEN,
            "This account may not use the console.",
            "not on the allow-list",
        )));
    }
    let role = role_of(cfg, &claims).ok_or_else(|| {
        who(failure(
            StatusCode::FORBIDDEN,
            "Your account is in no group that gives a console role.",
            "no mapped group and no default_role",
        ))
    })?;
    ensure_account(state, &email, role).await.map_err(who)?;
    let ip = access::seen().ip;
    signin::start_session(state, &email, role, &format!("oidc from {ip}"), &flow.next)
        .await
        .map_err(|e| {
            who(failure(
                StatusCode::SERVICE_UNAVAILABLE,
                "The store failed; try again.",
                format!("store: {e}"),
            ))
        })
}

#[derive(Deserialize)]
struct TokenReply {
    #[serde(default)]
    id_token: Option<String>,
}

#[derive(Deserialize)]
struct TokenError {
    #[serde(default)]
    error: String,
}

/// The ID token the token endpoint gives for `code` and `verifier` (client_secret_basic).
async fn exchange(
    state: &AppState,
    cfg: &OidcConfig,
    d: &Discovery,
    code: &str,
    verifier: &str,
) -> Result<String, Failure> {
    let redirect = redirect_url(state, cfg);
    let resp = http()
        .post(&d.token_endpoint)
        .basic_auth(&cfg.client_id, Some(cfg.client_secret.expose()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect.as_str()),
            ("code_verifier", verifier),
            ("client_id", cfg.client_id.as_str()),
        ])
        .send()
        .await
        .map_err(|e| issuer_failed(format!("token endpoint: {}", e.without_url())))?;
    let status = resp.status();
    if !status.is_success() {
        // Only the OAuth error code is kept: the rest of the body is the issuer's to fill.
        let error: String = resp
            .json::<TokenError>()
            .await
            .map(|e| e.error)
            .unwrap_or_default()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(40)
            .collect();
        return Err(failure(
            StatusCode::FORBIDDEN,
            "The identity provider refused the sign-in's code: start again.",
            format!("token endpoint: HTTP {status} {error}"),
        ));
    }
    resp.json::<TokenReply>()
        .await
        .ok()
        .and_then(|t| t.id_token)
        .ok_or_else(|| issuer_failed("token endpoint: no id_token"))
}

/// The ID token's claims, once its signature (the issuer's JWKS), `iss`, `aud`, `exp` and
/// `nonce` are checked.
async fn verify(
    cfg: &OidcConfig,
    d: &Discovery,
    id_token: &str,
    nonce: &str,
) -> Result<Map<String, Value>, Failure> {
    let invalid = |why: String| {
        failure(
            StatusCode::FORBIDDEN,
            "The identity provider's answer did not check out: start again.",
            format!("id token: {why}"),
        )
    };
    let head = jsonwebtoken::decode_header(id_token).map_err(|e| invalid(e.to_string()))?;
    const ASYMMETRIC: [Algorithm; 8] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
    ];
    if !ASYMMETRIC.contains(&head.alg) {
        return Err(invalid(format!("algorithm {:?} is not accepted", head.alg)));
    }
    let pick = |set: &JwkSet| {
        match head.kid.as_deref() {
            Some(kid) => set.find(kid),
            None if set.keys.len() == 1 => set.keys.first(),
            None => None,
        }
        .cloned()
    };
    // a key the kept set lacks may be a rotation: fetch the set again, once
    let jwk = match pick(&jwks(&d.jwks_uri, false).await?) {
        Some(k) => k,
        None => pick(&jwks(&d.jwks_uri, true).await?)
            .ok_or_else(|| invalid("no key in the issuer's JWKS matches".to_string()))?,
    };
    let key = DecodingKey::from_jwk(&jwk).map_err(|e| invalid(e.to_string()))?;
    let mut validation = Validation::new(head.alg);
    validation.set_issuer(&[cfg.issuer.as_str(), d.issuer.as_str()]);
    validation.set_audience(&[cfg.client_id.as_str()]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    let data = jsonwebtoken::decode::<Map<String, Value>>(id_token, &key, &validation)
        .map_err(|e| invalid(e.to_string()))?;
    let claims = data.claims;
    let got = claims
        .get("nonce")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !same(got, nonce) {
        return Err(invalid("nonce mismatch".to_string()));
    }
    Ok(claims)
}

/// The verified address of the claims, lower-cased.
fn email_of(claims: &Map<String, Value>) -> Result<String, Failure> {
    let email = claims
        .get("email")
        .and_then(Value::as_str)
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| e.contains('@'))
        .ok_or_else(|| {
            failure(
                StatusCode::FORBIDDEN,
                "The identity provider gave no email address for this account.",
                "no email claim",
            )
        })?;
    let verified = match claims.get("email_verified") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        Some(_) => false,
    };
    if !verified {
        return Err(Failure {
            who: email,
            ..failure(
                StatusCode::FORBIDDEN,
                "This account's email address is not verified at the identity provider.",
                "email not verified",
            )
        });
    }
    Ok(email)
}

/// Whether `email` (lower-case) is on the allow-list: named, or in a named domain.
fn allowed(cfg: &OidcConfig, email: &str) -> bool {
    let domain = email.rsplit_once('@').map_or("", |(_, d)| d);
    cfg.allowed_emails
        .iter()
        .any(|a| a.trim().eq_ignore_ascii_case(email))
        || cfg.allowed_domains.iter().any(|d| {
            d.trim()
                .trim_start_matches('@')
                .eq_ignore_ascii_case(domain)
        })
}

/// The largest role the user's groups give, else the default role.
fn role_of(cfg: &OidcConfig, claims: &Map<String, Value>) -> Option<Role> {
    let groups: Vec<&str> = match claims.get(&cfg.groups_claim) {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(s)) => vec![s.as_str()],
        _ => Vec::new(),
    };
    groups
        .iter()
        .filter_map(|g| cfg.roles.get(*g))
        .filter_map(|r| Role::parse(r))
        .max()
        .or_else(|| cfg.default_role.as_deref().and_then(Role::parse))
}

/// The store's account for an OIDC user (sessions belong to accounts): made on first sign-in,
/// its role brought up to date (which ends its other sessions). A local account of the same
/// name is never taken over.
async fn ensure_account(state: &AppState, email: &str, role: Role) -> Result<(), Failure> {
    let store = &state.app.store;
    let failed = |e: irene_store::StoreError| {
        failure(
            StatusCode::SERVICE_UNAVAILABLE,
            "The store failed; try again.",
            format!("store: {e}"),
        )
    };
    let account = irene_store::User {
        name: email.to_string(),
        role: role.as_str().to_string(),
        hash: OIDC_HASH.to_string(),
        created_at: Utc::now(),
        disabled: false,
    };
    match store.user_get(email).await.map_err(failed)? {
        None => {
            store.user_add(&account).await.map_err(failed)?;
        }
        Some(u) if u.hash != OIDC_HASH => {
            return Err(failure(
                StatusCode::FORBIDDEN,
                "A local account has this name: sign in with its password.",
                "a local account has this name",
            ));
        }
        Some(u) if u.disabled => {
            return Err(failure(
                StatusCode::FORBIDDEN,
                "This account is disabled.",
                "account disabled",
            ));
        }
        Some(u) if u.role != account.role => {
            store.user_remove(email).await.map_err(failed)?;
            store.user_add(&account).await.map_err(failed)?;
        }
        Some(_) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_documents_are_kept_per_address_for_a_while() {
        let slot: Mutex<Option<Kept<u32>>> = Mutex::new(None);
        let a = "https://a/jwks";
        assert_eq!(kept(&slot, a, KEEP_DOCUMENTS), None);
        keep(&slot, a, 7);
        assert_eq!(kept(&slot, a, KEEP_DOCUMENTS), Some(7));
        assert_eq!(
            kept(&slot, "https://b/jwks", KEEP_DOCUMENTS),
            None,
            "another issuer's"
        );
        assert_eq!(kept(&slot, a, Duration::ZERO), None, "too old");
    }

    fn cfg() -> OidcConfig {
        OidcConfig {
            issuer: "https://id.example".into(),
            client_id: "irene".into(),
            client_secret: irene_outputs::Secret::new("s3cret"),
            redirect_url: None,
            allowed_emails: vec!["Ana@Other.test".into()],
            allowed_domains: vec!["example.com".into()],
            groups_claim: "groups".into(),
            roles: [
                ("sec-team".to_string(), "responder".to_string()),
                ("sec-admins".to_string(), "admin".to_string()),
            ]
            .into(),
            default_role: None,
        }
    }

    #[test]
    fn the_allow_list_takes_addresses_and_whole_domains() {
        let c = cfg();
        let table = [
            ("bo@example.com", true),
            ("ana@other.test", true),
            ("bo@other.test", false),
            ("bo@evil-example.com", false),
            ("bo@example.com.evil.test", false),
        ];
        for (email, want) in table {
            assert_eq!(allowed(&c, email), want, "{email}");
        }
    }

    #[test]
    fn groups_give_the_largest_role_else_the_default() {
        let mut c = cfg();
        let claims = |v: Value| v.as_object().cloned().unwrap_or_default();
        let both = claims(serde_json::json!({"groups": ["sec-team", "sec-admins"]}));
        assert_eq!(role_of(&c, &both), Some(Role::Admin));
        let team = claims(serde_json::json!({"groups": ["x", "sec-team"]}));
        assert_eq!(role_of(&c, &team), Some(Role::Responder));
        let none = claims(serde_json::json!({"groups": ["x"]}));
        assert_eq!(role_of(&c, &none), None);
        c.default_role = Some("viewer".into());
        assert_eq!(role_of(&c, &none), Some(Role::Viewer));
    }

    #[test]
    fn a_flow_cookie_opens_only_unaltered_and_in_time() {
        let flow = Flow {
            state: "s".into(),
            nonce: "n".into(),
            verifier: "v".into(),
            next: "/cases".into(),
            exp: 1_000,
        };
        let sealed = seal(&flow).expect("seal");
        assert_eq!(unseal(&sealed, 999).map(|f| f.next), Some("/cases".into()));
        assert!(unseal(&sealed, 1_000).is_none(), "expired");
        let (body, mac) = sealed.split_once('.').expect("dot");
        let other = URL_SAFE_NO_PAD
            .encode(br#"{"state":"x","nonce":"n","verifier":"v","next":"/","exp":5000}"#);
        assert!(
            unseal(&format!("{other}.{mac}"), 999).is_none(),
            "body swapped"
        );
        assert!(unseal(&format!("{body}.00"), 999).is_none(), "mac altered");
    }
}

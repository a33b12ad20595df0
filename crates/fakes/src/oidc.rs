//! The fake OpenID Connect issuer: discovery, JWKS (a fixed test RSA key), `/authorize` that
//! signs in whoever the test chose, `/token` that checks the client and PKCE and gives RS256 ID tokens.
//! It keeps codes in memory and must never call a real identity provider.

use crate::fault::FaultKind;
use crate::server::{self, lock, query_pairs, Common, Running};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::distr::Alphanumeric;
use rand::Rng;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The test key (2048-bit RSA, made for these tests only) that signs every ID token.
const KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIIEugIBADANBgkqhkiG9w0BAQEFAASCBKQwggSgAgEAAoIBAQCXCg1GldSVJAdd
zjA6AsfGGoBnm5saKJR/qrlUbREsvJ9ldB9xFVPXrNtY3sx0LUsDatjs3CROohaU
jF4mrU/LLiXiL+t/K3zmsqTsfo5JTs+vgKMCtlpdNv1/mek5KDxf4+y9d8jyfbhH
GzkwKGWWRDcE8rco+oRZd8kTI3t9qjZX/30e3+r8x9ThceB8FZeswb6vmt3JKH/u
rwZFW6wOe7daERD8E6vrC8K5WI4NbfP2sQ9LXHvn17+7xzgNc6JDfJDzEu6l27Ls
mscMnIFU5Xn7SIVc3qrnBFuxixpN5zn09spS0BB5P0VGxMx+TKEx9AfLAQGm4wb7
d5AqZ/lDAgMBAAECgf99BTgY+1frEzoehFOpHGH+RjOPj0YVcYGa4RksCwsb03mI
eI4SLa32v4mGgkAVAvUc3wobeON78RIrHYEj/oLceiThgETA1am+2EF6FRXz6syT
Fd8zcBBUIHKLZl74+RMRAhTbIxohv4uX9TsWyv6V77/+HriFv1u9aHoH6eNOOP3m
Vowx+T4ibVyP/Jq7M8dQAg259pnSm8LAjmrSHR8jo8yP4CoWjZIWdZ5ko/NEk2qA
OAdbu96HyfZgaY3yM2/j1tkO7Hnsg2jaT+EC8WdUw55EaJUiJ1pCJNmzbaeDwFLU
IBRtKdxzVvkDsWCjtCx5s3EEKLrcuS8Z8ryqiEECgYEAzTgr7UnC3vU9XVYQUonf
PxB3sle1JbLArVAMXA/5on2vusR4TEjDjDDvse4/zZhVul9Kd2PzeUixGWnTBlsw
RvAHXDJp8ccpE7cVxyKe/efM3minBdYYDdc9C2rSTxb4eSPsb4p3PEHwFKzfAUwZ
43+tBJejpq2qFjM899SExuECgYEAvGnIz5tuKXpRv+MS05O/GkwwZEVTpn9V0JYR
hv2s7l68C04qk8v44/1qPsMlMoTnntK6F3+4+fZuHI2EMm610bAR1cmMcFR6/0w5
pGi+dqnOFBxmU7Ek4bK9XItxDD973hWr6/v2WlBH5cceQbvcuVlXXSLvEAG3TnI3
XGWAWKMCgYAJwEOGEN0rjueNictYwKhU7MljNfurgOTa11TfAvtPlz1EWJWGumZg
QOsCv1lUwYpBQsndBmjJOIUBuh+Gy8ptdHZFETgrftUa1LY6MhDv65W2c66L/nJC
JhoGctrvWx4PU3+mhSPJPzDTKqul+iG4x5ZHA5WJE/Ni/qhE9logwQKBgCXfxeQl
xHFGC2TdSo2JZ6LrqdaeMQCJHED/yaovGDIajQZgwiJPoEqESHUxWSrcmIrOpWXP
4OkuZlgLAoX4x0fNcuhcyYRTFx52vieUfqTv4WMdilxMgbN08KfHyAPERywPgy2+
ynjBJpLEAgsIrof7s5ofSZsYHTcBsqs6JCCtAoGADElo9TaF7hcfGYToV/jvwfs+
d0JuPfhNmzVe1o0DsLyHSmOOsDpISC201Fik49VoDWIp3KlnHTc8MKb8z24w2DrK
WpuEpbTu6bblZxBca45p1gOYFVzDuhn/JE6x0k8ok1v3BErp45z+RALn24E9hrIf
+hFdoAW8z+kIQZ35LPE=
-----END PRIVATE KEY-----";
/// Its modulus (base64url), as the JWKS publishes it; the exponent is 65537.
const KEY_N: &str = "lwoNRpXUlSQHXc4wOgLHxhqAZ5ubGiiUf6q5VG0RLLyfZXQfcRVT16zbWN7MdC1LA2rY7NwkTqIWlIxeJq1Pyy4l4i_rfyt85rKk7H6OSU7Pr4CjArZaXTb9f5npOSg8X-PsvXfI8n24Rxs5MChllkQ3BPK3KPqEWXfJEyN7fao2V_99Ht_q_MfU4XHgfBWXrMG-r5rdySh_7q8GRVusDnu3WhEQ_BOr6wvCuViODW3z9rEPS1x759e_u8c4DXOiQ3yQ8xLupduy7JrHDJyBVOV5-0iFXN6q5wRbsYsaTec59PbKUtAQeT9FRsTMfkyhMfQHywEBpuMG-3eQKmf5Qw";
const KID: &str = "fake-oidc-1";

/// Who the next code signs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcUser {
    pub email: String,
    /// The `email_verified` claim; `None` leaves it out.
    pub email_verified: Option<bool>,
    pub groups: Vec<String>,
}

impl OidcUser {
    /// A verified address in these groups.
    pub fn new(email: &str, groups: &[&str]) -> OidcUser {
        OidcUser {
            email: email.to_string(),
            email_verified: Some(true),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }
}

/// A flaw the next ID token is issued with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFlaw {
    /// `aud` names another client.
    WrongAudience,
    /// `exp` an hour ago.
    Expired,
}

/// A code handed out by `/authorize`, waiting for `/token`.
struct Grant {
    user: OidcUser,
    client_id: String,
    redirect_uri: String,
    challenge: String,
    nonce: String,
}

struct Issuer {
    client_id: String,
    client_secret: String,
    next_user: Option<OidcUser>,
    flaw: Option<TokenFlaw>,
    codes: HashMap<String, Grant>,
}

struct Shared {
    url: String,
    issuer: Mutex<Issuer>,
    key: jsonwebtoken::EncodingKey,
}

/// Local stand-in for an OpenID Connect provider (Google, Okta, Keycloak, …).
#[derive(Clone)]
pub struct FakeOidc {
    inner: Arc<Inner>,
}

struct Inner {
    running: Running,
    common: Arc<Common>,
    shared: Arc<Shared>,
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_response(
        status,
        &json!({"error": error, "error_description": description}),
    )
}

fn fault_response(kind: &FaultKind, _parts: &Parts) -> Response {
    let status = match kind {
        FaultKind::Status(s) => StatusCode::from_u16(*s).unwrap_or(StatusCode::BAD_GATEWAY),
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    oauth_error(status, "temporarily_unavailable", "injected fault")
}

async fn discovery(State(sh): State<Arc<Shared>>) -> Response {
    let u = &sh.url;
    json_response(
        StatusCode::OK,
        &json!({
            "issuer": u,
            "authorization_endpoint": format!("{u}/authorize"),
            "token_endpoint": format!("{u}/token"),
            "jwks_uri": format!("{u}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        }),
    )
}

async fn jwks() -> Response {
    json_response(
        StatusCode::OK,
        &json!({"keys": [{"kty": "RSA", "kid": KID, "use": "sig", "alg": "RS256", "n": KEY_N, "e": "AQAB"}]}),
    )
}

fn pair<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

fn back_to(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    let query = serde_urlencoded::to_string(params).unwrap_or_default();
    (
        StatusCode::FOUND,
        [(header::LOCATION, format!("{redirect_uri}{sep}{query}"))],
    )
        .into_response()
}

/// `GET /authorize`: no login page: straight back to `redirect_uri` with a code for the user
/// the test chose (or `access_denied` when it chose none), and the same `state`.
async fn authorize(State(sh): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    let p = query_pairs(q.as_deref());
    let redirect_uri = pair(&p, "redirect_uri");
    let state = pair(&p, "state");
    let mut iss = lock(&sh.issuer);
    if pair(&p, "client_id") != iss.client_id || redirect_uri.is_empty() {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "unknown client or no redirect_uri",
        );
    }
    if pair(&p, "response_type") != "code"
        || pair(&p, "code_challenge_method") != "S256"
        || pair(&p, "code_challenge").is_empty()
        || !pair(&p, "scope").split(' ').any(|s| s == "openid")
    {
        return back_to(
            redirect_uri,
            &[("error", "invalid_request"), ("state", state)],
        );
    }
    let Some(user) = iss.next_user.clone() else {
        return back_to(
            redirect_uri,
            &[("error", "access_denied"), ("state", state)],
        );
    };
    let code: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect();
    let client_id = iss.client_id.clone();
    iss.codes.insert(
        code.clone(),
        Grant {
            user,
            client_id,
            redirect_uri: redirect_uri.to_string(),
            challenge: pair(&p, "code_challenge").to_string(),
            nonce: pair(&p, "nonce").to_string(),
        },
    );
    back_to(redirect_uri, &[("code", &code), ("state", state)])
}

/// The client id and secret of a token request: HTTP Basic, else the form's.
fn client_of(headers: &HeaderMap, form: &[(String, String)]) -> (String, String) {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok());
    match basic.as_deref().and_then(|s| s.split_once(':')) {
        Some((id, secret)) => (id.to_string(), secret.to_string()),
        None => (
            pair(form, "client_id").to_string(),
            pair(form, "client_secret").to_string(),
        ),
    }
}

/// `POST /token`: the client's secret, a known unused code for that client and
/// `redirect_uri`, and `code_verifier` whose S256 is the code's challenge → an ID token.
async fn token(State(sh): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let mut iss = lock(&sh.issuer);
    let (id, secret) = client_of(&headers, &form);
    if id != iss.client_id || secret != iss.client_secret {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "wrong client credentials",
        );
    }
    if pair(&form, "grant_type") != "authorization_code" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "authorization_code only",
        );
    }
    // A code is spent by its first use, right or wrong.
    let Some(grant) = iss.codes.remove(pair(&form, "code")) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "unknown or used code",
        );
    };
    if grant.client_id != id || grant.redirect_uri != pair(&form, "redirect_uri") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "redirect_uri does not match",
        );
    }
    let verifier = pair(&form, "code_verifier");
    if verifier.is_empty()
        || URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != grant.challenge
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "PKCE verification failed",
        );
    }
    let flaw = iss.flaw.take();
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "iss": sh.url,
        "sub": grant.user.email,
        "aud": if flaw == Some(TokenFlaw::WrongAudience) { "another-client".to_string() } else { grant.client_id.clone() },
        "iat": now,
        "exp": if flaw == Some(TokenFlaw::Expired) { now - 3600 } else { now + 300 },
        "nonce": grant.nonce,
        "email": grant.user.email,
        "groups": grant.user.groups,
    });
    if let (Some(v), Some(o)) = (grant.user.email_verified, claims.as_object_mut()) {
        o.insert("email_verified".into(), Value::Bool(v));
    }
    let mut head = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    head.kid = Some(KID.to_string());
    match jsonwebtoken::encode(&head, &claims, &sh.key) {
        Ok(id_token) => json_response(
            StatusCode::OK,
            &json!({"access_token": "fake-access-token", "token_type": "Bearer", "expires_in": 300, "id_token": id_token}),
        ),
        Err(e) => oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            &e.to_string(),
        ),
    }
}

impl FakeOidc {
    /// Starts on 127.0.0.1 at a free port, knowing one client.
    ///
    /// # Panics
    /// If no port can be bound.
    pub async fn start(client_id: &str, client_secret: &str) -> Self {
        let (listener, url, addr) = server::bind(0)
            .await
            .unwrap_or_else(|e| panic!("FakeOidc: cannot bind 127.0.0.1: {e}"));
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(KEY_PEM.as_bytes())
            .unwrap_or_else(|e| panic!("FakeOidc: the test key does not load: {e}"));
        let shared = Arc::new(Shared {
            url: url.clone(),
            issuer: Mutex::new(Issuer {
                client_id: client_id.to_string(),
                client_secret: client_secret.to_string(),
                next_user: None,
                flaw: None,
                codes: HashMap::new(),
            }),
            key,
        });
        let common = Common::new(Box::new(fault_response));
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(shared.clone());
        let running = server::spawn(listener, url, addr, router, common.clone());
        FakeOidc {
            inner: Arc::new(Inner {
                running,
                common,
                shared,
            }),
        }
    }

    /// The issuer (`iss`), which is also the base URL.
    pub fn issuer(&self) -> String {
        self.url()
    }

    /// Who every following `/authorize` signs in (until changed).
    pub fn sign_in_as(&self, user: OidcUser) {
        lock(&self.inner.shared.issuer).next_user = Some(user);
    }

    /// The next ID token is issued with this flaw (once).
    pub fn flaw_next_token(&self, flaw: TokenFlaw) {
        lock(&self.inner.shared.issuer).flaw = Some(flaw);
    }

    /// Codes handed out and not yet exchanged.
    pub fn pending_codes(&self) -> usize {
        lock(&self.inner.shared.issuer).codes.len()
    }
}

crate::impl_common!(FakeOidc);

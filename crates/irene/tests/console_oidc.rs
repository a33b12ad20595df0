//! Console sign-in with OpenID Connect, against a real `irene serve` process and the fake issuer:
//! a browser-like client follows each redirect by hand, keeping cookies as a browser would.
// Tests may unwrap and expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{bin, Server};
use irene_fakes::{FakeOidc, OidcUser, TokenFlaw};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CLIENT_ID: &str = "irene-console";
const CLIENT_SECRET: &str = "oidc-client-secret-0123456789";

/// Starts `irene serve` on a port chosen first, so that the default redirect URL
/// (`{public_url}/signin/oidc/callback`) is the one the browser can reach.
fn start(dir: &Path, issuer: &str) -> Server {
    let cfg = dir.join("irene.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[console.oidc]
issuer = "{issuer}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
allowed_domains = ["example.com"]
allowed_emails = ["contractor@partner.test"]
roles = {{ "sec-team" = "responder", "sec-admins" = "admin" }}
"#
        ),
    )
    .expect("config");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut child = Command::new(bin())
        .env("IRENE_LOG", "info")
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--config")
        .arg(&cfg)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let logs = Arc::new(Mutex::new(String::new()));
    let stderr = child.stderr.take().expect("stderr");
    let sink = logs.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut l = sink.lock().expect("logs");
            l.push_str(&line);
            l.push('\n');
        }
    });
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("irene: listening on ") {
                let _ = tx.send(url.to_string());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("server did not start: {}", logs.lock().expect("logs")));
    Server {
        child,
        url,
        data_dir: dir.join("data"),
        client: reqwest::Client::new(),
        token: None,
        logs,
    }
}

struct Resp {
    status: u16,
    location: String,
    body: String,
}

/// A browser: follows nothing by itself; keeps the cookies Irene sets (and forgets the ones it
/// expires), and sends them back to Irene only.
struct Browser {
    irene: String,
    client: reqwest::Client,
    jar: HashMap<String, String>,
}

impl Browser {
    fn new(s: &Server) -> Browser {
        Browser {
            irene: s.url.clone(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            jar: HashMap::new(),
        }
    }

    /// GET an absolute URL or a path on Irene.
    async fn get(&mut self, url: &str) -> Resp {
        let url = if url.starts_with('/') {
            format!("{}{url}", self.irene)
        } else {
            url.to_string()
        };
        let mut req = self.client.get(&url);
        if url.starts_with(&self.irene) && !self.jar.is_empty() {
            let cookies: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            req = req.header("cookie", cookies.join("; "));
        }
        let resp = req.send().await.expect("request");
        for c in resp.headers().get_all("set-cookie") {
            let c = c.to_str().expect("ascii cookie");
            let (kv, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = kv.split_once('=').expect("name=value");
            if v.is_empty() || attrs.contains("Max-Age=0") {
                self.jar.remove(k);
            } else {
                self.jar.insert(k.to_string(), v.to_string());
            }
        }
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        Resp {
            status: resp.status().as_u16(),
            location,
            body: resp.text().await.expect("body"),
        }
    }

    /// Starts a sign-in: Irene's redirect to the issuer (its URL).
    async fn begin(&mut self, next: &str) -> String {
        let r = self.get(&format!("/signin/oidc?next={next}")).await;
        assert_eq!(r.status, 303, "{}", r.body);
        assert!(
            self.jar.contains_key("irene_oidc"),
            "the flow cookie is set"
        );
        r.location
    }

    /// The issuer's redirect back to Irene (the callback URL with code and state).
    async fn at_issuer(&mut self, authorize: &str) -> String {
        let r = self.get(authorize).await;
        assert_eq!(r.status, 302, "{}", r.body);
        r.location
    }

    /// The whole round trip; Irene's answer to the callback.
    async fn sign_in(&mut self, next: &str) -> Resp {
        let authorize = self.begin(next).await;
        let callback = self.at_issuer(&authorize).await;
        self.get(&callback).await
    }
}

fn param(url: &str, name: &str) -> String {
    let q = url.split_once('?').map_or("", |(_, q)| q);
    serde_urlencoded::from_str::<Vec<(String, String)>>(q)
        .expect("query")
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
        .unwrap_or_default()
}

fn assert_no_secret(s: &Server, page: &str) {
    let logs = s.logs();
    for text in [page, logs.as_str()] {
        assert!(!text.contains(CLIENT_SECRET), "the client secret leaked");
        assert!(!text.contains("eyJ"), "a token leaked");
    }
}

#[tokio::test]
async fn a_responder_in_an_allowed_domain_signs_in_with_sso() {
    let dir = tempfile::tempdir().expect("tempdir");
    let idp = FakeOidc::start(CLIENT_ID, CLIENT_SECRET).await;
    let s = start(dir.path(), &idp.issuer());
    let mut b = Browser::new(&s);

    // No local account, yet the console is closed: OIDC is a way in.
    let r = b.get("/cases").await;
    assert_eq!(r.status, 303);
    assert!(r.location.starts_with("/signin?"), "{}", r.location);
    let page = b.get(&r.location).await;
    assert!(page.body.contains("Sign in with SSO"), "{}", page.body);

    idp.sign_in_as(OidcUser::new("Ana@Example.com", &["staff", "sec-team"]));
    let authorize = b.begin("/cases").await;
    assert!(authorize.starts_with(&format!("{}/authorize?", idp.issuer())));
    assert_eq!(param(&authorize, "code_challenge_method"), "S256");
    assert_eq!(
        param(&authorize, "redirect_uri"),
        format!("{}/signin/oidc/callback", s.url)
    );
    let callback = b.at_issuer(&authorize).await;
    let r = b.get(&callback).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location, "/cases");
    assert!(b.jar.contains_key("irene_session"), "a session started");
    assert!(
        !b.jar.contains_key("irene_oidc"),
        "the flow cookie is spent"
    );

    let cases = b.get("/cases").await;
    assert_eq!(cases.status, 200, "{}", cases.body);
    assert!(
        cases.body.contains("ana@example.com · responder"),
        "{}",
        cases.body
    );
    // Replaying the callback does not sign in again: the flow is spent.
    let again = b.get(&callback).await;
    assert_eq!(again.status, 400, "{}", again.body);
    assert_no_secret(&s, &cases.body);
}

#[tokio::test]
async fn people_outside_the_allow_list_or_any_group_are_refused_and_audited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let idp = FakeOidc::start(CLIENT_ID, CLIENT_SECRET).await;
    let s = start(dir.path(), &idp.issuer());

    let mut eve = Browser::new(&s);
    idp.sign_in_as(OidcUser::new("eve@evil.test", &["sec-admins"]));
    let r = eve.sign_in("/").await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("may not use the console"), "{}", r.body);
    assert!(!eve.jar.contains_key("irene_session"));
    assert_eq!(eve.get("/").await.status, 303, "still signed out");

    let mut bo = Browser::new(&s);
    idp.sign_in_as(OidcUser::new("bo@example.com", &["staff"]));
    let r = bo.sign_in("/").await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body.contains("no group that gives a console role"),
        "{}",
        r.body
    );

    let mut unverified = Browser::new(&s);
    idp.sign_in_as(OidcUser {
        email_verified: Some(false),
        ..OidcUser::new("cy@example.com", &["sec-team"])
    });
    let r = unverified.sign_in("/").await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("not verified"), "{}", r.body);

    // An allowed address (not domain) in the admin group gets in as admin, and sees the refusals.
    let mut admin = Browser::new(&s);
    idp.sign_in_as(OidcUser::new("contractor@partner.test", &["sec-admins"]));
    let r = admin.sign_in("/audit").await;
    assert_eq!(r.status, 303, "{}", r.body);
    let audit = admin.get("/audit").await;
    assert_eq!(audit.status, 200, "{}", audit.body);
    assert!(audit.body.contains("contractor@partner.test · admin"));
    assert!(audit.body.contains("sign_in.failed"));
    assert!(audit.body.contains("eve@evil.test"));
    assert!(audit.body.contains("not on the allow-list"));
    assert!(audit.body.contains("oidc from"));
    assert_no_secret(&s, &audit.body);
}

#[tokio::test]
async fn a_wrong_state_or_a_flow_from_another_browser_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let idp = FakeOidc::start(CLIENT_ID, CLIENT_SECRET).await;
    let s = start(dir.path(), &idp.issuer());
    idp.sign_in_as(OidcUser::new("ana@example.com", &["sec-team"]));

    let mut b = Browser::new(&s);
    let authorize = b.begin("/").await;
    let callback = b.at_issuer(&authorize).await;
    let forged = callback.replace(&param(&callback, "state"), "forged-state");
    let r = b.get(&forged).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("state does not match"), "{}", r.body);
    assert!(!b.jar.contains_key("irene_session"));
    assert_eq!(idp.pending_codes(), 1, "no code was exchanged");

    // A callback URL opened in a browser that did not start the sign-in (no flow cookie).
    let mut other = Browser::new(&s);
    let authorize = b.begin("/").await;
    let callback = b.at_issuer(&authorize).await;
    let r = other.get(&callback).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("start again"), "{}", r.body);
    assert!(!other.jar.contains_key("irene_session"));
}

#[tokio::test]
async fn id_tokens_for_another_client_or_expired_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let idp = FakeOidc::start(CLIENT_ID, CLIENT_SECRET).await;
    let s = start(dir.path(), &idp.issuer());
    idp.sign_in_as(OidcUser::new("ana@example.com", &["sec-team"]));

    for flaw in [TokenFlaw::WrongAudience, TokenFlaw::Expired] {
        let mut b = Browser::new(&s);
        idp.flaw_next_token(flaw);
        let r = b.sign_in("/").await;
        assert_eq!(r.status, 403, "{flaw:?}: {}", r.body);
        assert!(r.body.contains("did not check out"), "{flaw:?}: {}", r.body);
        assert!(!b.jar.contains_key("irene_session"), "{flaw:?}");
        assert_no_secret(&s, &r.body);
    }
    // The same flow with a sound token works (the refusals were the flaws').
    let mut b = Browser::new(&s);
    assert_eq!(b.sign_in("/").await.status, 303);
}

#[tokio::test]
async fn a_code_from_another_flow_fails_the_pkce_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let idp = FakeOidc::start(CLIENT_ID, CLIENT_SECRET).await;
    let s = start(dir.path(), &idp.issuer());
    idp.sign_in_as(OidcUser::new("ana@example.com", &["sec-team"]));

    // The victim starts a sign-in; the attacker gets a code from a flow of their own and
    // injects it into the victim's callback (with the victim's own state and cookie).
    let mut victim = Browser::new(&s);
    let victim_callback = {
        let authorize = victim.begin("/").await;
        victim.at_issuer(&authorize).await
    };
    let mut attacker = Browser::new(&s);
    let attacker_callback = {
        let authorize = attacker.begin("/").await;
        attacker.at_issuer(&authorize).await
    };
    let injected = victim_callback.replace(
        &param(&victim_callback, "code"),
        &param(&attacker_callback, "code"),
    );
    let r = victim.get(&injected).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("refused the sign-in"), "{}", r.body);
    assert!(!victim.jar.contains_key("irene_session"));
    let token_calls: Vec<_> = idp
        .requests()
        .into_iter()
        .filter(|r| r.path == "/token")
        .collect();
    assert_eq!(token_calls.len(), 1);
    assert_eq!(
        token_calls[0].status, 400,
        "the issuer refused the verifier"
    );
    assert!(token_calls[0].body.contains("code_verifier="));
}

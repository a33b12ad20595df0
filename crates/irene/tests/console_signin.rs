//! Console sign-in, sessions and roles, against a real `irene serve` process whose accounts
//! were added with the `irene user` command.
// Tests may unwrap and expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{bin, Server};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

const ADMIN_TOKEN: &str = "admin-secret-0123456789";

/// Runs `irene user …` on a data directory with `stdin`; exit success and what it printed.
fn user_cmd(data: &Path, args: &[&str], stdin: &str) -> (bool, String) {
    let mut child = Command::new(bin())
        .env("IRENE_LOG", "warn")
        .arg("user")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

struct Resp {
    status: u16,
    location: String,
    set_cookie: String,
    body: String,
}

/// A browser-like client: no redirects followed, cookies given by hand.
struct Browser {
    url: String,
    client: reqwest::Client,
}

impl Browser {
    fn new(s: &Server) -> Browser {
        Browser {
            url: s.url.clone(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder, cookie: Option<&str>) -> Resp {
        let req = match cookie {
            Some(c) => req.header("cookie", format!("irene_session={c}")),
            None => req,
        };
        let resp = req.send().await.expect("request");
        let header = |n: &str| {
            resp.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        Resp {
            status: resp.status().as_u16(),
            location: header("location"),
            set_cookie: header("set-cookie"),
            body: resp.text().await.expect("body"),
        }
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> Resp {
        self.send(self.client.get(format!("{}{path}", self.url)), cookie)
            .await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)], cookie: Option<&str>) -> Resp {
        let req = self
            .client
            .post(format!("{}{path}", self.url))
            .header("origin", self.url.clone())
            .form(form);
        self.send(req, cookie).await
    }

    /// The sign-in form's token.
    async fn signin_csrf(&self) -> String {
        let r = self.get("/signin", None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        hidden(&r.body, "csrf")
    }

    async fn sign_in(&self, name: &str, password: &str, next: &str) -> Resp {
        let csrf = self.signin_csrf().await;
        self.post(
            "/signin",
            &[
                ("name", name),
                ("password", password),
                ("csrf", &csrf),
                ("next", next),
            ],
            None,
        )
        .await
    }

    /// Signs in and gives the session cookie's value.
    async fn session(&self, name: &str, password: &str) -> String {
        let r = self.sign_in(name, password, "/").await;
        assert_eq!(r.status, 303, "{}", r.body);
        cookie_value(&r.set_cookie)
    }
}

/// The value of the first hidden input named `name`.
fn hidden(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body.find(&marker).expect("hidden input") + marker.len();
    body[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_string()
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .and_then(|kv| kv.strip_prefix("irene_session="))
        .expect("a session cookie")
        .to_string()
}

/// A data directory with an admin `ana` and a viewer `vic`, and a server with an admin token.
fn setup(dir: &Path) -> Server {
    let data = dir.join("data");
    let (ok, out) = user_cmd(
        &data,
        &["add", "ana", "--role", "admin"],
        "ana-password-123\n",
    );
    assert!(ok, "{out}");
    let (ok, out) = user_cmd(
        &data,
        &["add", "vic", "--role", "viewer", "--password-stdin"],
        "vic-password-123\n",
    );
    assert!(ok, "{out}");
    let (ok, out) = user_cmd(
        &data,
        &["add", "ana", "--role", "viewer"],
        "whatever-12345\n",
    );
    assert!(!ok && out.contains("already exists"), "{out}");
    let (ok, out) = user_cmd(&data, &["add", "bo", "--role", "viewer"], "short\n");
    assert!(!ok && out.contains("at least 12"), "{out}");
    let (ok, out) = user_cmd(
        &data,
        &["add", "bo", "--role", "root"],
        "long-enough-pass\n",
    );
    assert!(!ok && out.contains("unknown role"), "{out}");
    let (ok, out) = user_cmd(&data, &["list"], "");
    assert!(ok, "{out}");
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split('\t').take(2).collect())
        .collect();
    assert_eq!(lines, [vec!["ana", "admin"], vec!["vic", "viewer"]]);
    assert!(!out.contains("argon2"), "no hash printed: {out}");
    let cfg = dir.join("irene.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[tokens]]\nname = \"ops\"\ntoken = \"{ADMIN_TOKEN}\"\nscopes = [\"admin\"]\n\
             [console]\nsession_idle = \"1h\"\nsession_max = \"1d\"\n"
        ),
    )
    .expect("cfg");
    Server::start(&data, &["--config", cfg.to_str().unwrap_or_default()])
}

#[tokio::test]
async fn accounts_sign_in_see_the_console_by_role_and_are_audited() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = setup(dir.path());
    let b = Browser::new(&s);

    // without a session a browser is sent to the form, with where it was going
    let r = b.get("/cases?status=open", None).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location, "/signin?next=%2Fcases%3Fstatus%3Dopen");
    let r = b.get("/", Some("not-a-session")).await;
    assert_eq!((r.status, r.location.as_str()), (303, "/signin?next=%2F"));

    // a wrong password: the form again, an error, no cookie
    let r = b.sign_in("ana", "not-the-password", "/").await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("Wrong name or password."), "{}", r.body);
    assert!(r.set_cookie.is_empty());
    // a form posted without the sign-in form's token is refused
    let r = b
        .post(
            "/signin",
            &[
                ("name", "ana"),
                ("password", "ana-password-123"),
                ("csrf", "x"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);

    // the right one: a session cookie, on to `next` (only a local path)
    let r = b
        .sign_in("ana", "ana-password-123", "/cases?status=open")
        .await;
    assert_eq!((r.status, r.location.as_str()), (303, "/cases?status=open"));
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=86400"] {
        assert!(r.set_cookie.contains(attr), "{attr}: {}", r.set_cookie);
    }
    assert!(
        !r.set_cookie.contains("Secure"),
        "plain http: {}",
        r.set_cookie
    );
    let ana = cookie_value(&r.set_cookie);
    let r = b.sign_in("ana", "ana-password-123", "//evil.test/").await;
    assert_eq!(r.location, "/");

    let home = b.get("/", Some(&ana)).await;
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(home.body.contains("ana · admin"), "{}", home.body);
    assert!(!home.body.contains("No accounts configured"));
    assert!(home.body.contains("href=\"/audit\""));
    assert!(home.body.contains("action=\"/signout\""));
    // signed in, the form page goes on
    let r = b.get("/signin?next=/events", Some(&ana)).await;
    assert_eq!((r.status, r.location.as_str()), (303, "/events"));

    let audit = b.get("/audit", Some(&ana)).await;
    assert_eq!(audit.status, 200, "{}", audit.body);
    for action in ["sign_in.failed", "sign_in", "user.add"] {
        assert!(
            audit.body.contains(&format!("<code>{action}</code>")),
            "{action}: {}",
            audit.body
        );
    }
    let by_cli = b.get("/audit?actor=cli", Some(&ana)).await;
    assert!(by_cli.body.contains("user.add") && !by_cli.body.contains("sign_in"));

    // a viewer reads but is refused the admin page, and sees no link to it
    let vic = b.session("vic", "vic-password-123").await;
    let home = b.get("/", Some(&vic)).await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("vic · viewer"));
    assert!(!home.body.contains("href=\"/audit\""));
    assert_eq!(b.get("/audit", Some(&vic)).await.status, 403);

    // machines: bearer tokens still work on the API and the console, and only they on the API
    let api = reqwest::Client::new();
    let r = api
        .get(format!("{}/api/v1/cases", s.url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("api");
    assert_eq!(r.status(), 200);
    let r = api
        .get(format!("{}/api/v1/cases", s.url))
        .header("cookie", format!("irene_session={ana}"))
        .send()
        .await
        .expect("api");
    assert_eq!(r.status(), 401, "the API takes no session cookie");
    let r = b
        .send(
            b.client
                .get(format!("{}/audit", s.url))
                .bearer_auth(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn too_many_failures_are_refused_with_429() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = setup(dir.path());
    let b = Browser::new(&s);
    for i in 0..5 {
        let r = b.sign_in("vic", "wrong-password-x", "/").await;
        assert_eq!(r.status, 401, "attempt {i}: {}", r.body);
    }
    let r = b.sign_in("vic", "vic-password-123", "/").await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.body.contains("Too many failed sign-ins"), "{}", r.body);
    assert!(r.set_cookie.is_empty(), "even with the right password");
    // another name is not locked out by them
    let ana = b.session("ana", "ana-password-123").await;
    let audit = b.get("/audit?actor=vic", Some(&ana)).await;
    assert_eq!(audit.body.matches("<code>sign_in.failed</code>").count(), 5);
    assert!(audit.body.contains("<code>sign_in.blocked</code>"));
}

#[tokio::test]
async fn signing_out_ends_the_session_here_or_everywhere() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = setup(dir.path());
    let b = Browser::new(&s);
    let one = b.session("ana", "ana-password-123").await;
    let two = b.session("ana", "ana-password-123").await;
    let other = b.session("vic", "vic-password-123").await;
    let home = b.get("/", Some(&one)).await;
    let csrf = hidden(&home.body, "csrf");

    // a stale or missing token does nothing
    let r = b.post("/signout", &[("csrf", "stale")], Some(&one)).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(b.get("/", Some(&one)).await.status, 200);

    let r = b.post("/signout", &[("csrf", &csrf)], Some(&one)).await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (303, "/signin?signed_out=1")
    );
    assert!(r.set_cookie.contains("Max-Age=0"), "{}", r.set_cookie);
    assert_eq!(b.get("/", Some(&one)).await.status, 303, "signed out");
    assert_eq!(
        b.get("/", Some(&two)).await.status,
        200,
        "the other one lives"
    );
    let r = b.get("/signin?signed_out=1", None).await;
    assert!(r.body.contains("You are signed out."));

    let three = b.session("ana", "ana-password-123").await;
    let csrf = hidden(&b.get("/", Some(&two)).await.body, "csrf");
    let r = b
        .post("/signout/everywhere", &[("csrf", &csrf)], Some(&two))
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    for c in [&two, &three] {
        assert_eq!(b.get("/", Some(c)).await.status, 303);
    }
    assert_eq!(b.get("/", Some(&other)).await.status, 200, "vic is not ana");
    let ana = b.session("ana", "ana-password-123").await;
    let audit = b.get("/audit?actor=ana", Some(&ana)).await;
    assert!(audit.body.contains("<code>sign_out</code>"));
    assert!(audit.body.contains("2 sessions ended"), "{}", audit.body);
}

#[tokio::test]
async fn without_tokens_one_account_closes_the_open_console() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let open = Server::start(&data, &[]);
    let b = Browser::new(&open);
    let r = b.get("/", None).await;
    assert_eq!(r.status, 200, "no account, no token: open on loopback");
    assert!(r.body.contains("No accounts configured"));
    drop(open);
    let (ok, out) = user_cmd(
        &data,
        &["add", "ana", "--role", "responder"],
        "ana-password-123\n",
    );
    assert!(ok, "{out}");
    let s = Server::start(&data, &[]);
    let b = Browser::new(&s);
    let r = b.get("/cases", None).await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (303, "/signin?next=%2Fcases")
    );
    let form = b.get("/signin", None).await;
    assert!(
        !form.body.contains("No accounts configured"),
        "{}",
        form.body
    );
    let ana = b.session("ana", "ana-password-123").await;
    let home = b.get("/", Some(&ana)).await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("ana · responder"));
    assert!(!home.body.contains("No accounts configured"));
    let r = b.post("/signout", &[("csrf", "")], None).await;
    assert_eq!(r.status, 401, "no anonymous admin once an account exists");
}

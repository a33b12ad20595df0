//! Threat-intel feeds against the real binary and a real HTTP server standing in for the list's
//! host: a first copy, conditional requests, and the last good copy kept through failures, empty
//! bodies, cross-host redirects and a restart; failures visible in the status and the metrics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use common::Server;
use serde_json::Value;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the list host does: 0 serve v1 (ETag "v1"), 1 answer 500, 2 serve an empty list,
/// 3 redirect to another host.
#[derive(Default)]
struct Host {
    mode: AtomicU8,
    conditional: AtomicU32,
    port: AtomicU32,
}

const TOR_V1: &str = "185.220.101.18\n185.220.101.33\n# a comment\n2001:db8::7\n";

async fn tor(State(h): State<Arc<Host>>, headers: HeaderMap) -> Response {
    match h.mode.load(Ordering::SeqCst) {
        0 => {
            if headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some("\"v1\"") {
                h.conditional.fetch_add(1, Ordering::SeqCst);
                return StatusCode::NOT_MODIFIED.into_response();
            }
            ([("etag", "\"v1\"")], TOR_V1).into_response()
        }
        1 => (StatusCode::INTERNAL_SERVER_ERROR, "down").into_response(),
        2 => ([("etag", "\"v2\"")], "# nothing today\n").into_response(),
        _ => {
            let to = format!("http://localhost:{}/tor", h.port.load(Ordering::SeqCst));
            (StatusCode::FOUND, [("location", to)]).into_response()
        }
    }
}

async fn host() -> (Arc<Host>, String) {
    let h = Arc::new(Host::default());
    let app = axum::Router::new()
        .route("/tor", get(tor))
        .with_state(h.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    h.port.store(u32::from(port), Ordering::SeqCst);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (h, format!("http://127.0.0.1:{port}/tor"))
}

/// Waits until the status' `tor` feed satisfies `ok`.
async fn feed_until(s: &Server, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, st) = s.get("/api/v1/status").await;
        let feed = st["feeds"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["name"] == "tor").cloned())
            .unwrap_or(Value::Null);
        if ok(&feed) {
            return feed;
        }
        assert!(Instant::now() < deadline, "{what}: {st}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_feed_keeps_its_last_good_copy_through_failures_and_restarts() {
    let (h, url) = host().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("irene.toml");
    std::fs::write(
        &cfg,
        format!("[[feeds]]\nname = \"tor\"\nurl = \"{url}\"\nevery = \"300ms\"\n"),
    )
    .unwrap();
    let data = dir.path().join("data");
    let cfg_arg = cfg.to_str().unwrap();
    let s = Server::start(&data, &["--config", cfg_arg]);

    let first = feed_until(&s, "first copy", |f| f["entries"] == 3).await;
    assert_eq!(first["last_error"], Value::Null, "{first}");
    assert_eq!(first["format"], "ip-lines");
    assert!(first["age_seconds"].as_i64().is_some(), "{first}");
    // Later downloads ask whether it changed (If-None-Match) and keep the copy current.
    let deadline = Instant::now() + Duration::from_secs(20);
    while h.conditional.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "no conditional request");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The host fails: the copy stays, the failure shows.
    h.mode.store(1, Ordering::SeqCst);
    let failed = feed_until(&s, "a failure shown", |f| {
        f["last_error"].as_str().is_some_and(|e| e.contains("500"))
    })
    .await;
    assert_eq!(failed["entries"], 3, "{failed}");
    // An empty list is a failure too, never a new copy.
    h.mode.store(2, Ordering::SeqCst);
    let empty = feed_until(&s, "an empty list refused", |f| {
        f["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("parsed to nothing"))
    })
    .await;
    assert_eq!(empty["entries"], 3, "{empty}");
    // A redirect to another host is not followed.
    h.mode.store(3, Ordering::SeqCst);
    let moved = feed_until(&s, "a cross-host redirect refused", |f| {
        f["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("another host"))
    })
    .await;
    assert_eq!(moved["entries"], 3, "{moved}");
    let metrics = s
        .client
        .get(format!("{}/metrics", s.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for want in [
        "irene_feed_downloads_total{feed=\"tor\",result=\"ok\"}",
        "irene_feed_downloads_total{feed=\"tor\",result=\"failed\"}",
        "irene_feed_downloads_total{feed=\"tor\",result=\"empty\"}",
        "irene_feed_age_seconds{feed=\"tor\"}",
        "irene_feed_entries{feed=\"tor\"} 3",
    ] {
        assert!(metrics.contains(want), "{want} missing from\n{metrics}");
    }
    assert!(
        !s.logs().contains(&url),
        "feed URLs may carry keys and are not logged"
    );

    // A restart starts from the stored copy, even while the host still fails.
    let (code, _) = s.terminate();
    assert_eq!(code, Some(0));
    h.mode.store(1, Ordering::SeqCst);
    let s = Server::start(&data, &["--config", cfg_arg]);
    let again = feed_until(&s, "the copy after a restart", |f| f["entries"] == 3).await;
    assert!(again["fetched_at"].is_string(), "{again}");
}

#[tokio::test]
async fn a_feed_needs_a_url_and_format_unless_built_in() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("irene.toml");
    for (text, want) in [
        (
            "[[feeds]]\nname = \"mine\"\nformat = \"ip-lines\"\n",
            "url is required",
        ),
        (
            "[[feeds]]\nname = \"mine\"\nurl = \"http://127.0.0.1:9/x\"\n",
            "format is required",
        ),
        (
            "[[feeds]]\nname = \"mine\"\nurl = \"http://127.0.0.1:9/x\"\nformat = \"xml\"\n",
            "unknown feed format",
        ),
        (
            "[[feeds]]\nname = \"tor\"\nevery = \"soon\"\n",
            "not a duration",
        ),
        (
            "[[feeds]]\nname = \"tor\"\n[[feeds]]\nname = \"tor\"\n",
            "used twice",
        ),
    ] {
        std::fs::write(&cfg, text).unwrap();
        let err = Server::try_start(
            &dir.path().join("data"),
            &["--config", cfg.to_str().unwrap()],
            &[],
        )
        .err()
        .unwrap_or_else(|| panic!("{text:?} was accepted"));
        assert!(err.contains(want), "{text:?}: {err}");
    }
}

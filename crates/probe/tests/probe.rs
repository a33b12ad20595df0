//! The prober against real listeners on loopback: a banner service, plain HTTP with a title and
//! redirects, HTTPS with a self-signed certificate, a closed port; and the policy refusing
//! loopback, private, metadata addresses and a redirect to a denied address without connecting.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use irene_investigate::exposure_seams::{PortState, Prober};
use irene_probe::{Probe, ProbeConfig};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

fn config(allow: &[&str]) -> ProbeConfig {
    ProbeConfig {
        connect_timeout_ms: 1000,
        banner_wait_ms: 500,
        http_timeout_ms: 2000,
        allow: allow.iter().map(|s| s.to_string()).collect(),
        ..ProbeConfig::default()
    }
}

fn probe(allow: &[&str]) -> Probe {
    Probe::new(config(allow)).unwrap()
}

/// A listener that counts the connections it accepted and answers each with `respond`.
struct Listener {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

async fn read_request<S: AsyncRead + Unpin>(s: &mut S) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

fn http_response(status: &str, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nServer: test-server/1.0\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n{body}",
        body.len()
    )
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, routes: &[(String, String)]) {
    let req = read_request(&mut s).await;
    let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
    let resp = routes
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, r)| r.clone())
        .unwrap_or_else(|| http_response("404 Not Found", "", "<title>nope</title>"));
    let _ = s.write_all(resp.as_bytes()).await;
    let _ = s.shutdown().await;
}

async fn bind(ip: &str) -> TcpListener {
    TcpListener::bind((ip.parse::<IpAddr>().unwrap(), 0))
        .await
        .unwrap()
}

/// Plain HTTP: `routes` are (path, whole response).
async fn http_server(ip: &str, routes: Vec<(String, String)>) -> Listener {
    let l = bind(ip).await;
    let addr = l.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    let routes = Arc::new(routes);
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let routes = routes.clone();
            tokio::spawn(async move { serve(s, &routes).await });
        }
    });
    Listener { addr, accepted }
}

async fn banner_server(banner: &'static [u8]) -> Listener {
    let l = bind("127.0.0.1").await;
    let addr = l.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let _ = s.write_all(banner).await;
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    });
    Listener { addr, accepted }
}

async fn https_server(title: &str) -> Listener {
    let ck = rcgen::generate_simple_self_signed(vec!["probe.test".to_string()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        ck.signing_key.serialize_der(),
    ));
    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![ck.cert.der().clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let l = bind("127.0.0.1").await;
    let addr = l.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    let routes = Arc::new(vec![(
        "/".to_string(),
        http_response("200 OK", "", &format!("<title>{title}</title>")),
    )]);
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            let routes = routes.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(s).await {
                    serve(tls, &routes).await;
                }
            });
        }
    });
    Listener { addr, accepted }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[tokio::test]
async fn a_banner_service_is_open_with_its_banner() {
    let l = banner_server(b"SSH-2.0-OpenSSH_9.6 irene-test\r\n").await;
    let p = probe(&["127.0.0.0/8"])
        .probe(ip("127.0.0.1"), l.addr.port())
        .await;
    assert_eq!(p.state, PortState::Open, "{p:?}");
    assert_eq!(p.banner.as_deref(), Some("SSH-2.0-OpenSSH_9.6 irene-test"));
    assert_eq!(p.service.as_deref(), Some("ssh"));
    assert!(p.http.is_none());
}

#[tokio::test]
async fn a_closed_port_is_closed() {
    let port = {
        let l = bind("127.0.0.1").await;
        l.local_addr().unwrap().port()
    };
    let p = probe(&["127.0.0.0/8"]).probe(ip("127.0.0.1"), port).await;
    assert_eq!(p.state, PortState::Closed, "{p:?}");
}

#[tokio::test]
async fn http_gives_status_title_server_and_follows_redirects_within_the_policy() {
    let page = http_server(
        "127.0.0.1",
        vec![(
            "/".into(),
            http_response("200 OK", "", "<html><head><title> Admin  Console </title>"),
        )],
    )
    .await;
    let p = probe(&["127.0.0.0/8"])
        .probe(ip("127.0.0.1"), page.addr.port())
        .await;
    assert_eq!(p.state, PortState::Open, "{p:?}");
    assert_eq!(p.service.as_deref(), Some("http"));
    let h = p.http.expect("http");
    assert_eq!(h.status, 200);
    assert_eq!(h.title.as_deref(), Some("Admin Console"));
    assert_eq!(h.server.as_deref(), Some("test-server/1.0"));
    assert!(h.tls.is_none());

    let target = format!("http://{}/home", page.addr);
    let moved = http_server(
        "127.0.0.1",
        vec![
            (
                "/".into(),
                http_response("302 Found", "Location: /next\r\n", ""),
            ),
            (
                "/next".into(),
                http_response("301 Moved", &format!("Location: {target}\r\n"), ""),
            ),
        ],
    )
    .await;
    let page_routes_hit_before = page.accepted.load(Ordering::SeqCst);
    let p = probe(&["127.0.0.0/8"])
        .probe(ip("127.0.0.1"), moved.addr.port())
        .await;
    let h = p.http.expect("http");
    assert_eq!(h.redirects.len(), 2, "{h:?}");
    assert_eq!(h.redirects[1], target);
    // `/home` is a 404 with its own title: the last hop's answer is what is reported.
    assert_eq!(h.status, 404);
    assert_eq!(h.title.as_deref(), Some("nope"));
    assert_eq!(
        page.accepted.load(Ordering::SeqCst),
        page_routes_hit_before + 1
    );
}

#[tokio::test]
async fn https_with_a_self_signed_certificate_is_observed_not_trusted() {
    let l = https_server("Secure Thing").await;
    let p = probe(&["127.0.0.0/8"])
        .probe(ip("127.0.0.1"), l.addr.port())
        .await;
    assert_eq!(p.state, PortState::Open, "{p:?}");
    assert_eq!(p.service.as_deref(), Some("https"), "{p:?}");
    let h = p.http.expect("http");
    assert_eq!(h.status, 200);
    assert_eq!(h.title.as_deref(), Some("Secure Thing"));
    let tls = h.tls.expect("tls");
    assert!(tls.self_signed, "{tls:?}");
    assert_eq!(tls.sans, vec!["probe.test".to_string()]);
    assert!(
        tls.not_after.ends_with('Z') && tls.not_after.len() == 20,
        "{tls:?}"
    );
    assert_eq!(tls.subject, tls.issuer);
}

#[tokio::test]
async fn without_the_allow_loopback_private_and_metadata_are_refused_unconnected() {
    let l = http_server(
        "127.0.0.1",
        vec![("/".into(), http_response("200 OK", "", "<title>x</title>"))],
    )
    .await;
    let p = probe(&[]);
    let cases = [
        ("127.0.0.1", l.addr.port(), "loopback"),
        ("::ffff:127.0.0.1", l.addr.port(), "loopback"),
        ("10.0.0.1", 80, "private"),
        ("169.254.169.254", 80, "cloud metadata"),
        ("fd00:ec2::254", 80, "cloud metadata"),
    ];
    for (addr, port, why) in cases {
        let r = p.probe(ip(addr), port).await;
        assert_eq!(r.state, PortState::Denied, "{addr}: {r:?}");
        assert!(
            r.reason.as_deref().is_some_and(|r| r.contains(why)),
            "{addr}: {r:?}"
        );
        assert!(r.http.is_none() && r.banner.is_none());
    }
    assert_eq!(l.accepted.load(Ordering::SeqCst), 0, "nothing connected");
}

#[tokio::test]
async fn a_redirect_to_a_denied_address_is_not_followed() {
    // The denied listener lives on 127.0.0.2 (loopback, denied: only 127.0.0.1 is allowed).
    let denied = http_server(
        "127.0.0.2",
        vec![(
            "/".into(),
            http_response("200 OK", "", "<title>internal</title>"),
        )],
    )
    .await;
    for location in [
        format!("http://{}/", denied.addr),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://10.0.0.1:8080/".to_string(),
    ] {
        let start = http_server(
            "127.0.0.1",
            vec![(
                "/".into(),
                http_response("302 Found", &format!("Location: {location}\r\n"), ""),
            )],
        )
        .await;
        let p = probe(&["127.0.0.1"])
            .probe(ip("127.0.0.1"), start.addr.port())
            .await;
        assert_eq!(p.state, PortState::Open, "{p:?}");
        let reason = p.reason.clone().unwrap_or_default();
        assert!(reason.contains("redirect refused"), "{location}: {p:?}");
        assert!(reason.contains("is denied"), "{location}: {p:?}");
        let h = p.http.expect("http");
        assert_eq!(h.status, 302);
        assert!(h.redirects.is_empty(), "{h:?}");
        assert!(start.accepted.load(Ordering::SeqCst) >= 1);
    }
    assert_eq!(denied.accepted.load(Ordering::SeqCst), 0, "never connected");
}

#[tokio::test]
async fn probe_all_keeps_the_order_and_the_deny_list_beats_the_allow() {
    let a = banner_server(b"220 ftp.test FTP ready\r\n").await;
    let b = banner_server(b"SSH-2.0-x\r\n").await;
    let cfg = ProbeConfig {
        deny: vec![format!("{}", ip("127.0.0.3"))],
        ..config(&["127.0.0.0/8"])
    };
    let p = Probe::new(cfg).unwrap();
    let out = p
        .probe_all(&[
            (ip("127.0.0.1"), a.addr.port()),
            (ip("127.0.0.3"), 22),
            (ip("127.0.0.1"), b.addr.port()),
        ])
        .await;
    assert_eq!(out.len(), 3);
    assert_eq!(out[0].service.as_deref(), Some("ftp"));
    assert_eq!(out[1].state, PortState::Denied);
    assert!(out[1].reason.as_deref().unwrap().contains("deny list"));
    assert_eq!(out[2].service.as_deref(), Some("ssh"));
}

#[test]
fn bad_config_is_refused() {
    let bad = ProbeConfig {
        allow: vec!["not-a-cidr".into()],
        ..ProbeConfig::default()
    };
    assert!(Probe::new(bad).unwrap_err().to_string().contains("allow"));
    let zero = ProbeConfig {
        concurrency: 0,
        ..ProbeConfig::default()
    };
    assert!(Probe::new(zero).is_err());
}

#[tokio::test]
async fn probe_all_stops_at_the_total_time() {
    // A service that accepts and never speaks: each probe waits out the banner and HTTP.
    let l = bind("127.0.0.1").await;
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    let cfg = ProbeConfig {
        banner_wait_ms: 800,
        http_timeout_ms: 1000,
        total_secs: 1,
        concurrency: 1,
        ..config(&["127.0.0.0/8"])
    };
    let p = Probe::new(cfg).unwrap();
    let started = std::time::Instant::now();
    let out = p
        .probe_all(&[
            (ip("127.0.0.1"), port),
            (ip("127.0.0.1"), port),
            (ip("127.0.0.1"), port),
        ])
        .await;
    assert!(out.len() < 3, "{out:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
}

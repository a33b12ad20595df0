//! Screenshots in a real Chromium (Debian's `chromium`; `scripts/chromium.sh` installs it):
//! a page on 127.0.0.1 rendered and decoded; a script from a denied address never requested;
//! a redirect to a denied address blocked. No Chromium: these tests fail, they do not skip.
// Tests may unwrap and expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use irene_browser::{Browser, BrowserConfig, Policy};
use irene_investigate::exposure_seams::Screenshotter;
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A tiny HTTP server: `routes(path)` gives (status line, extra headers, body); every request
/// is counted.
struct Site {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

type Route = Arc<dyn Fn(&str) -> (String, String, String) + Send + Sync>;

async fn site(ip: &str, routes: Route) -> Site {
    let listener = TcpListener::bind((ip, 0)).await.expect("bind");
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let routes = routes.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let text = String::from_utf8_lossy(&buf);
                let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
                let (status, headers, body) = routes(&path);
                let resp = format!(
                    "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Site { addr, hits }
}

fn html(body: &str) -> (String, String, String) {
    (
        "200 OK".into(),
        "Content-Type: text/html; charset=utf-8\r\n".into(),
        body.to_string(),
    )
}

/// Allows 127.0.0.1 only.
fn policy() -> Policy {
    Arc::new(|a: IpAddr| {
        if a == IpAddr::from([127, 0, 0, 1]) {
            Ok(())
        } else {
            Err(format!("{a} is denied"))
        }
    })
}

fn browser() -> Browser {
    let chromium = std::env::var("IRENE_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    assert!(
        std::process::Command::new(&chromium)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "Chromium ({chromium}) is needed for these tests: run scripts/chromium.sh"
    );
    Browser::new(
        BrowserConfig {
            chromium,
            page_timeout: Duration::from_secs(10),
            ..BrowserConfig::default()
        },
        policy(),
    )
}

/// (width, height, RGB pixels)
fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<[u8; 3]>) {
    assert!(png_bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().expect("PNG header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("PNG frame");
    let samples = info.color_type.samples();
    assert!(samples >= 3, "{:?}", info.color_type);
    let pixels = buf[..info.buffer_size()]
        .chunks(samples)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width, info.height, pixels)
}

fn near(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 8)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshots_render_the_page_and_every_request_obeys_the_policy() {
    let denied = site(
        "127.0.0.2",
        Arc::new(|_: &str| html("document.body.style.background = '#00ff00';")),
    )
    .await;
    let denied_addr = denied.addr;
    let page = site(
        "127.0.0.1",
        Arc::new(move |path: &str| match path {
            "/" => html(
                "<!doctype html><html><head><title>Irene test page</title></head>\
                 <body style=\"margin:0;background:#ff0000\">\
                 <div style=\"width:640px;height:400px;background:#0000ff\"></div>\
                 <p style=\"font-size:48px;color:#ffffff\">Hello from the target</p></body></html>",
            ),
            "/script" => html(&format!(
                "<!doctype html><html><head><title>With a script</title>\
                 <script src=\"http://{denied_addr}/evil.js\"></script></head>\
                 <body style=\"margin:0;background:#ffff00\">\
                 <img src=\"http://{denied_addr}/pixel.png\"></body></html>"
            )),
            "/redirect" => (
                "302 Found".into(),
                format!("Location: http://{denied_addr}/\r\n"),
                String::new(),
            ),
            _ => ("404 Not Found".into(), String::new(), String::new()),
        }),
    )
    .await;
    let b = browser();

    // the page, rendered in the fixed viewport
    let png = b
        .screenshot(&format!("http://{}/", page.addr))
        .await
        .expect("screenshot");
    let (w, h, pixels) = decode(&png);
    assert_eq!((w, h), (1280, 800));
    let at = |x: u32, y: u32| pixels[(y * w + x) as usize];
    assert!(near(at(10, 10), [0, 0, 255]), "blue box: {:?}", at(10, 10));
    assert!(
        near(at(1200, 700), [255, 0, 0]),
        "red page: {:?}",
        at(1200, 700)
    );
    let distinct: HashSet<[u8; 3]> = pixels.iter().copied().collect();
    assert!(distinct.len() >= 3, "blank? {} colours", distinct.len());

    // a script and an image from a denied address: never requested; the screenshot still comes
    let png = b
        .screenshot(&format!("http://{}/script", page.addr))
        .await
        .expect("screenshot with blocked subresources");
    let (_, _, pixels) = decode(&png);
    assert!(
        near(pixels[(700 * 1280 + 1200) as usize], [255, 255, 0]),
        "the page's own yellow, not the script's green"
    );
    assert_eq!(
        denied.hits.load(Ordering::SeqCst),
        0,
        "the denied listener was reached"
    );

    // a redirect to a denied address is blocked
    let err = b
        .screenshot(&format!("http://{}/redirect", page.addr))
        .await
        .expect_err("a redirect to a denied address");
    assert!(err.contains("blocked"), "{err}");
    assert_eq!(
        denied.hits.load(Ordering::SeqCst),
        0,
        "the denied listener was reached"
    );

    // a denied page is refused before Chromium sees it; other schemes are refused
    for url in [
        format!("http://{denied_addr}/"),
        "file:///etc/passwd".to_string(),
        "http://169.254.169.254/latest/meta-data/".to_string(),
    ] {
        let err = b.screenshot(&url).await.expect_err(&url);
        assert!(err.contains("blocked"), "{url}: {err}");
    }
    assert_eq!(denied.hits.load(Ordering::SeqCst), 0);
    assert!(page.hits.load(Ordering::SeqCst) >= 3);

    // the one Chromium is reused: another screenshot works, several at once too
    b.screenshot(&format!("http://{}/", page.addr))
        .await
        .expect("again");
    let url = format!("http://{}/", page.addr);
    let at_once = futures_util::future::join_all((0..6).map(|_| b.screenshot(&url))).await;
    let failed: Vec<&String> = at_once.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(failed.is_empty(), "{failed:?}");
    // and every tab is closed after its screenshot
    // (Chromium drops a closed target from its list shortly after the close returns)
    let mut open = b.open_pages().await;
    for _ in 0..20 {
        if open.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        open = b.open_pages().await;
    }
    assert!(open.is_empty(), "tabs left open: {open:?}");
}

/// The control: with 127.0.0.2 allowed, the same page does reach it (so the test above shows
/// the policy at work, not something else keeping Chromium away).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_address_allowed_the_script_is_fetched() {
    let other = site("127.0.0.2", Arc::new(|_: &str| html("/* ok */"))).await;
    let other_addr = other.addr;
    let page = site(
        "127.0.0.1",
        Arc::new(move |_: &str| {
            html(&format!(
                "<!doctype html><html><head><title>t</title>\
                 <script src=\"http://{other_addr}/ok.js\"></script></head><body>x</body></html>"
            ))
        }),
    )
    .await;
    let chromium = std::env::var("IRENE_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let b = Browser::new(
        BrowserConfig {
            chromium,
            ..BrowserConfig::default()
        },
        Arc::new(|a: IpAddr| {
            if a.is_loopback() {
                Ok(())
            } else {
                Err("denied".into())
            }
        }),
    );
    b.screenshot(&format!("http://{}/", page.addr))
        .await
        .expect("screenshot");
    assert!(
        other.hits.load(Ordering::SeqCst) >= 1,
        "the allowed script was not fetched"
    );
}

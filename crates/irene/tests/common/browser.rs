//! A real headless Chromium for the console's browser tests: `chromedriver` on a free loopback
//! port (its process group killed on drop), a WebDriver session on it, and PNG screenshots. Drives
//! the browser only; what a page must show is for the tests to assert.
#![allow(dead_code)]

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The viewport every page is looked at (and screenshotted) in.
pub const WIDTH: u32 = 1280;
pub const HEIGHT: u32 = 900;

/// `$IRENE_CHROMEDRIVER`, else `/usr/bin/chromedriver`, else `chromedriver` in `PATH`. Panics
/// (fails the test) when there is none: CI installs it (`scripts/chromedriver.sh`).
pub fn chromedriver() -> PathBuf {
    if let Ok(p) = std::env::var("IRENE_CHROMEDRIVER") {
        if !p.is_empty() {
            return PathBuf::from(p);
        }
    }
    let debian = PathBuf::from("/usr/bin/chromedriver");
    if debian.exists() {
        return debian;
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("chromedriver"))
            .find(|p| p.exists())
    });
    found.unwrap_or_else(|| {
        panic!(
            "chromedriver not found (not at $IRENE_CHROMEDRIVER, /usr/bin/chromedriver or in PATH): \
             run scripts/chromedriver.sh to install Debian's chromium-driver"
        )
    })
}

/// `$IRENE_CHROMIUM`, else `/usr/bin/chromium`.
pub fn chromium() -> String {
    std::env::var("IRENE_CHROMIUM")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/usr/bin/chromium".into())
}

/// A running chromedriver, in a process group of its own so that the browsers it started go
/// with it.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start() -> Driver {
        use std::os::unix::process::CommandExt;
        let path = chromedriver();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let child = Command::new(&path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Waits (20 s) until the driver answers `/status`.
    async fn ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = reqwest::Client::new();
        loop {
            if let Ok(r) = client.get(format!("{}/status", self.url)).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("chromedriver exited at start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer at {}",
                self.url
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // the whole group: chromedriver and the Chromium processes it started
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium session at 1280×900.
pub struct Browser {
    pub client: Client,
    _driver: Driver,
}

impl Browser {
    pub async fn start() -> Browser {
        let mut driver = Driver::start();
        driver.ready().await;
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium(),
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    format!("--window-size={WIDTH},{HEIGHT}"),
                ],
            },
        });
        let Value::Object(caps) = caps else {
            unreachable!("an object")
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .unwrap_or_else(|e| panic!("no WebDriver session with {}: {e}", chromium()));
        Browser {
            client,
            _driver: driver,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page; its return value.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script {script:?}: {e}"))
    }

    /// The `textContent` of the first element matching `css` (fails when there is none).
    pub async fn text(&self, css: &str) -> String {
        let v = self
            .js(
                "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;",
                vec![json!(css)],
            )
            .await;
        match v {
            Value::String(s) => s,
            _ => panic!("no element {css:?} on {}", self.url().await),
        }
    }

    /// The `textContent` of every element matching `css`.
    pub async fn texts(&self, css: &str) -> Vec<String> {
        let v = self
            .js(
                "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.textContent);",
                vec![json!(css)],
            )
            .await;
        serde_json::from_value(v).expect("strings")
    }

    /// How many elements match `css`.
    pub async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .map(|v| v.len())
            .unwrap_or_else(|e| panic!("find {css:?}: {e}"))
    }

    pub async fn url(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    /// Whether an alert/confirm/prompt dialog is open.
    pub async fn dialog_open(&self) -> bool {
        self.client.get_alert_text().await.is_ok()
    }

    /// A screenshot of the viewport, checked to be a real PNG at least a phone wide, written
    /// to `path`.
    pub async fn shot_to(&self, path: &std::path::Path) -> Vec<u8> {
        let png = self.client.screenshot().await.expect("screenshot");
        let (w, h) = png_size(&png).unwrap_or_else(|| panic!("not a PNG ({} bytes)", png.len()));
        assert!(
            w >= 300 && h >= 300 && png.len() > 5_000,
            "a trivial screenshot: {w}×{h}, {} bytes",
            png.len()
        );
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, &png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        png
    }

    /// A screenshot of the page the test ends on, as `<shots dir>/<name>.png`.
    pub async fn shot(&self, name: &str) -> PathBuf {
        let path = shots_dir().join(format!("{name}.png"));
        self.shot_to(&path).await;
        path
    }

    /// Ends the session (Chromium exits); the driver goes on drop.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

/// `$CARGO_TARGET_DIR/console-shots`, else the workspace's `target/console-shots`.
pub fn shots_dir() -> PathBuf {
    match std::env::var("CARGO_TARGET_DIR") {
        Ok(d) if !d.is_empty() => PathBuf::from(d).join("console-shots"),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/console-shots"),
    }
}

/// Width and height from a PNG's header (signature, then the IHDR chunk).
pub fn png_size(png: &[u8]) -> Option<(u32, u32)> {
    if !png.starts_with(b"\x89PNG\r\n\x1a\n") || png.get(12..16)? != b"IHDR" {
        return None;
    }
    let w = u32::from_be_bytes(png.get(16..20)?.try_into().ok()?);
    let h = u32::from_be_bytes(png.get(20..24)?.try_into().ok()?);
    Some((w, h))
}

//! Headless Chromium over the DevTools protocol: screenshots of pages (`Screenshotter`) in which
//! every request the page makes is paused, its host resolved and checked by the probe policy.
//!
//! One Chromium process, launched on first use, shared by the screenshots and relaunched when it
//! died. Each screenshot gets a fresh page (tab) with `Fetch` interception on `*`: a paused
//! request continues only when its scheme is http(s) (or `data:`) and every address its host
//! resolves to passes the policy closure; otherwise it fails with `BlockedByClient`. Redirect
//! hops are paused like any request, so a redirect to a denied address is blocked too.
//!
//! What request interception does not see is switched off in the page before its scripts run
//! (WebSocket, WebTransport, WebRTC, workers and service workers), and Chromium runs without
//! background networking, prefetching or site-per-process (so that frames stay in the page's
//! session and their requests are paused too). A limit remains: Chromium resolves the host again
//! after the check, so a DNS answer that changes between the two (rebinding) is not seen; the
//! probe policy's deny list covers the addresses this matters for only as well as DNS is honest.

use async_trait::async_trait;
use chromiumoxide::cdp::browser_protocol::fetch::{
    ContinueRequestParams, EventRequestPaused, FailRequestParams,
};
use chromiumoxide::cdp::browser_protocol::network::{ErrorReason, ResourceType};
use chromiumoxide::cdp::browser_protocol::page::{
    AddScriptToEvaluateOnNewDocumentParams, CaptureScreenshotFormat,
};
use chromiumoxide::handler::viewport::Viewport;
use chromiumoxide::page::ScreenshotParams;
use futures_util::StreamExt;
use irene_investigate::exposure_seams::Screenshotter;
use serde::{Deserialize, Deserializer};
use std::net::IpAddr;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;
use tokio::sync::{Mutex, Semaphore};
use tokio::task::JoinHandle;

/// The probe policy: `Ok(())` when a connection to the address is allowed, else why not.
pub type Policy = Arc<dyn Fn(IpAddr) -> Result<(), String> + Send + Sync>;

/// `[browser]`: where Chromium is and how long and large a screenshot may be.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrowserConfig {
    /// The Chromium binary: a path, or a name looked up in `PATH` (Debian's `chromium`).
    pub chromium: String,
    /// How long a page may take to load; the screenshot shows what was there by then.
    #[serde(deserialize_with = "duration")]
    pub page_timeout: Duration,
    /// How long Chromium may take to start.
    #[serde(deserialize_with = "duration")]
    pub launch_timeout: Duration,
    pub width: u32,
    pub height: u32,
    /// A larger PNG is refused.
    pub max_screenshot_bytes: usize,
    /// Pages open at once (more screenshots wait).
    pub max_pages: usize,
}

impl Default for BrowserConfig {
    fn default() -> Self {
        BrowserConfig {
            chromium: "chromium".into(),
            page_timeout: Duration::from_secs(15),
            launch_timeout: Duration::from_secs(20),
            width: 1280,
            height: 800,
            max_screenshot_bytes: 8 * 1024 * 1024,
            max_pages: 4,
        }
    }
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(s.trim()).map_err(|e| {
        serde::de::Error::custom(format!("duration {s:?}: {e} (e.g. \"10s\", \"1m\")"))
    })
}

/// Why a screenshot could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    #[error("blocked by the probe policy: {0}")]
    Blocked(String),
    #[error("could not start Chromium ({0}); is it installed? (scripts/chromium.sh)")]
    Launch(String),
    #[error("browser: {0}")]
    Cdp(String),
    #[error("the page did not load: {0}")]
    Navigation(String),
    #[error("the screenshot is {0} bytes, more than the {1} allowed")]
    TooLarge(usize, usize),
    #[error("the screenshot took too long")]
    Timeout,
}

/// Headless Chromium taking screenshots under the probe policy.
pub struct Browser {
    config: BrowserConfig,
    policy: Policy,
    running: Mutex<Option<Running>>,
    pages: Semaphore,
}

struct Running {
    browser: Arc<chromiumoxide::Browser>,
    handler: JoinHandle<()>,
    /// Chromium's profile, removed with it.
    _profile: tempfile::TempDir,
}

impl Running {
    fn alive(&self) -> bool {
        !self.handler.is_finished()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.handler.abort();
    }
}

/// Scripts run in every frame before the page's own: the ways out that request interception
/// does not see are removed.
const LOCKDOWN: &str = r#"(() => {
  for (const name of ["WebSocket", "WebTransport", "RTCPeerConnection", "webkitRTCPeerConnection",
                      "RTCDataChannel", "Worker", "SharedWorker"]) {
    try { Object.defineProperty(window, name, { value: undefined, configurable: false }); } catch (e) {}
  }
  try {
    Object.defineProperty(Navigator.prototype, "serviceWorker", { get: () => undefined });
  } catch (e) {}
})();"#;

impl Browser {
    /// A browser that will launch Chromium on first use; `policy` decides every request.
    pub fn new(config: BrowserConfig, policy: Policy) -> Browser {
        let pages = Semaphore::new(config.max_pages.max(1));
        Browser {
            config,
            policy,
            running: Mutex::new(None),
            pages,
        }
    }

    pub fn config(&self) -> &BrowserConfig {
        &self.config
    }

    /// The pages Chromium has open now, by URL (none when it is not running; its own start
    /// tab not counted): each screenshot closes its own, so this is empty between them.
    pub async fn open_pages(&self) -> Vec<String> {
        let browser = match self.running.lock().await.as_ref() {
            Some(r) if r.alive() => Arc::clone(&r.browser),
            _ => return Vec::new(),
        };
        let Ok(pages) = browser.pages().await else {
            return Vec::new();
        };
        let mut open = Vec::new();
        for p in pages {
            let url = p.url().await.ok().flatten().unwrap_or_default();
            // a target without a URL yet is not a screenshot's page
            if !url.is_empty() && url != "about:blank" && !url.starts_with("chrome://") {
                open.push(url);
            }
        }
        open
    }

    /// A PNG of `url` as Chromium renders it in the configured viewport.
    pub async fn capture(&self, url: &str) -> Result<Vec<u8>, BrowserError> {
        // the page itself first: a denied target never reaches Chromium
        check_url(url, &self.policy).await?;
        let _slot = self
            .pages
            .acquire()
            .await
            .map_err(|_| BrowserError::Cdp("closed".into()))?;
        let limit = self.config.page_timeout + self.config.launch_timeout + Duration::from_secs(10);
        match tokio::time::timeout(limit, self.capture_inner(url)).await {
            Ok(r) => r,
            Err(_) => Err(BrowserError::Timeout),
        }
    }

    async fn capture_inner(&self, url: &str) -> Result<Vec<u8>, BrowserError> {
        let browser = self.browser().await?;
        let page = match browser.new_page("about:blank").await {
            Ok(p) => p,
            Err(e) => {
                // the process may have died since the last check: once more on a new one
                tracing::debug!(error = %e, "new page failed; relaunching Chromium");
                self.forget(&browser).await;
                let browser = self.browser().await?;
                browser
                    .new_page("about:blank")
                    .await
                    .map_err(|e| BrowserError::Cdp(e.to_string()))?
            }
        };
        let page = Arc::new(page);
        let result = self.shoot(&page, url).await;
        match Arc::try_unwrap(page) {
            Ok(page) => {
                if let Err(e) = page.close().await {
                    tracing::debug!(error = %e, "closing the page failed");
                }
            }
            Err(_) => tracing::warn!("a page is still in use after its screenshot: left open"),
        }
        result
    }

    async fn shoot(
        &self,
        page: &Arc<chromiumoxide::Page>,
        url: &str,
    ) -> Result<Vec<u8>, BrowserError> {
        let cdp = |e: chromiumoxide::error::CdpError| BrowserError::Cdp(e.to_string());
        let mut paused = page
            .event_listener::<EventRequestPaused>()
            .await
            .map_err(cdp)?;
        page.execute(AddScriptToEvaluateOnNewDocumentParams::new(LOCKDOWN))
            .await
            .map_err(cdp)?;
        let main_frame = page.mainframe().await.map_err(cdp)?;
        // the main document's blocks, to say why the page did not load
        let blocked_document: Arc<StdMutex<Option<String>>> = Arc::default();
        let interceptor = {
            let page = Arc::clone(page);
            let policy = Arc::clone(&self.policy);
            let blocked_document = Arc::clone(&blocked_document);
            tokio::spawn(async move {
                while let Some(event) = paused.next().await {
                    let verdict = check_url(&event.request.url, &policy).await;
                    let sent = match verdict {
                        Ok(()) => page
                            .execute(ContinueRequestParams::new(event.request_id.clone()))
                            .await
                            .map(|_| ()),
                        Err(e) => {
                            tracing::debug!(url = %event.request.url, reason = %e, "request blocked");
                            if event.resource_type == ResourceType::Document
                                && main_frame.as_ref() == Some(&event.frame_id)
                            {
                                let reason = match &e {
                                    BrowserError::Blocked(r) => r.clone(),
                                    other => other.to_string(),
                                };
                                if let Ok(mut b) = blocked_document.lock() {
                                    b.get_or_insert(reason);
                                }
                            }
                            page.execute(FailRequestParams::new(
                                event.request_id.clone(),
                                ErrorReason::BlockedByClient,
                            ))
                            .await
                            .map(|_| ())
                        }
                    };
                    if let Err(e) = sent {
                        tracing::debug!(error = %e, "answering a paused request failed");
                    }
                }
            })
        };
        let loaded = tokio::time::timeout(self.config.page_timeout, page.goto(url)).await;
        let blocked = blocked_document.lock().ok().and_then(|b| b.clone());
        let result = match (blocked, loaded) {
            (Some(reason), _) => Err(BrowserError::Blocked(reason)),
            (None, Ok(Err(e))) => Err(BrowserError::Navigation(e.to_string())),
            // loaded, or still loading at the deadline: what is there is the screenshot
            (None, Ok(Ok(_)) | Err(_)) => {
                let params = ScreenshotParams::builder()
                    .format(CaptureScreenshotFormat::Png)
                    .full_page(false)
                    .build();
                match tokio::time::timeout(Duration::from_secs(10), page.screenshot(params)).await {
                    Ok(Ok(png)) if png.len() > self.config.max_screenshot_bytes => Err(
                        BrowserError::TooLarge(png.len(), self.config.max_screenshot_bytes),
                    ),
                    Ok(Ok(png)) => Ok(png),
                    Ok(Err(e)) => Err(cdp(e)),
                    Err(_) => Err(BrowserError::Timeout),
                }
            }
        };
        // awaited, so that its handle on the page is dropped and the tab can be closed
        interceptor.abort();
        let _ = interceptor.await;
        result
    }

    /// The running browser, launched when there is none or it died.
    async fn browser(&self) -> Result<Arc<chromiumoxide::Browser>, BrowserError> {
        let mut running = self.running.lock().await;
        if let Some(r) = running.as_ref() {
            if r.alive() {
                return Ok(Arc::clone(&r.browser));
            }
            tracing::info!("Chromium is gone; launching it again");
        }
        *running = None;
        let r = self.launch().await?;
        let browser = Arc::clone(&r.browser);
        *running = Some(r);
        Ok(browser)
    }

    /// Drops `browser` if it is still the running one (its process is then killed).
    async fn forget(&self, browser: &Arc<chromiumoxide::Browser>) {
        let mut running = self.running.lock().await;
        if running
            .as_ref()
            .is_some_and(|r| Arc::ptr_eq(&r.browser, browser))
        {
            *running = None;
        }
    }

    async fn launch(&self) -> Result<Running, BrowserError> {
        let c = &self.config;
        let profile = tempfile::Builder::new()
            .prefix("irene-chromium-")
            .tempdir()
            .map_err(|e| BrowserError::Launch(format!("profile directory: {e}")))?;
        let executable = find_executable(&c.chromium)
            .ok_or_else(|| BrowserError::Launch(format!("{:?} not found", c.chromium)))?;
        let mut builder = chromiumoxide::BrowserConfig::builder()
            .chrome_executable(executable)
            .user_data_dir(profile.path())
            .launch_timeout(c.launch_timeout)
            .request_timeout(c.page_timeout + Duration::from_secs(5))
            .window_size(c.width, c.height)
            .viewport(Viewport {
                width: c.width,
                height: c.height,
                device_scale_factor: Some(1.0),
                emulating_mobile: false,
                is_landscape: true,
                has_touch: false,
            })
            .enable_request_intercept()
            .disable_cache()
            .args([
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-domain-reliability",
                "--disable-sync",
                "--dns-prefetch-disable",
                "--no-pings",
                "--no-first-run",
                "--disable-dev-shm-usage",
                "--disable-gpu",
                "--hide-scrollbars",
                "--mute-audio",
                "--disable-site-isolation-trials",
                "--disable-features=IsolateOrigins,site-per-process,NetworkPrediction",
                "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
            ])
            // renderers are what cost memory: no more of them than pages at once
            .arg(format!("--renderer-process-limit={}", c.max_pages.max(1)));
        // Chromium's sandbox refuses to start as root; there (containers, CI) it runs without
        // it. As any other user the sandbox stays on.
        if running_as_root() {
            builder = builder.no_sandbox();
        }
        let config = builder.build().map_err(BrowserError::Launch)?;
        let (browser, mut handler) = chromiumoxide::Browser::launch(config)
            .await
            .map_err(|e| BrowserError::Launch(e.to_string()))?;
        let handler = tokio::spawn(async move {
            while let Some(event) = handler.next().await {
                if let Err(e) = event {
                    if matches!(
                        e,
                        chromiumoxide::error::CdpError::Ws(_)
                            | chromiumoxide::error::CdpError::ChannelSendError(_)
                    ) {
                        tracing::debug!(error = %e, "Chromium connection lost");
                        break;
                    }
                }
            }
        });
        Ok(Running {
            browser: Arc::new(browser),
            handler,
            _profile: profile,
        })
    }
}

/// `name` itself when it is a path, else the first executable of that name in `PATH`.
fn find_executable(name: &str) -> Option<std::path::PathBuf> {
    if name.contains('/') {
        return Some(name.into());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// Whether a request to `url` may go: `data:` always; http(s) when every address its host
/// resolves to passes the policy; any other scheme never.
pub async fn check_url(url: &str, policy: &Policy) -> Result<(), BrowserError> {
    if url.starts_with("data:") {
        return Ok(());
    }
    let parsed =
        url::Url::parse(url).map_err(|e| BrowserError::Blocked(format!("bad URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(BrowserError::Blocked(format!(
            "scheme {:?} is not allowed",
            parsed.scheme()
        )));
    }
    let port = parsed.port_or_known_default().unwrap_or(80);
    let addresses: Vec<IpAddr> = match parsed.host() {
        Some(url::Host::Ipv4(a)) => vec![IpAddr::V4(a)],
        Some(url::Host::Ipv6(a)) => vec![IpAddr::V6(a)],
        Some(url::Host::Domain(d)) => tokio::net::lookup_host((d, port))
            .await
            .map_err(|e| BrowserError::Blocked(format!("{d} does not resolve: {e}")))?
            .map(|s| s.ip())
            .collect(),
        None => return Err(BrowserError::Blocked("no host".into())),
    };
    if addresses.is_empty() {
        return Err(BrowserError::Blocked("the host has no address".into()));
    }
    for a in addresses {
        policy(a).map_err(|reason| BrowserError::Blocked(format!("{a}: {reason}")))?;
    }
    Ok(())
}

#[async_trait]
impl Screenshotter for Browser {
    async fn screenshot(&self, url: &str) -> Result<Vec<u8>, String> {
        self.capture(url).await.map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only_loopback_1() -> Policy {
        Arc::new(|a: IpAddr| {
            if a == IpAddr::from([127, 0, 0, 1]) {
                Ok(())
            } else {
                Err("denied".into())
            }
        })
    }

    #[tokio::test]
    async fn urls_are_checked_by_scheme_and_address() {
        let p = only_loopback_1();
        let cases = [
            ("http://127.0.0.1:8080/x", true),
            ("https://127.0.0.1/", true),
            ("data:text/plain,hi", true),
            ("http://127.0.0.2/", false),
            ("http://[::1]/", false),
            ("file:///etc/passwd", false),
            ("ftp://127.0.0.1/", false),
            ("chrome://settings", false),
            ("ws://127.0.0.1/", false),
            ("not a url", false),
        ];
        for (url, ok) in cases {
            let got = check_url(url, &p).await;
            assert_eq!(got.is_ok(), ok, "{url}: {got:?}");
        }
    }

    #[test]
    fn config_reads_durations_and_refuses_unknown_fields() {
        #[derive(Deserialize)]
        struct W {
            browser: BrowserConfig,
        }
        let w: W = toml_like(r#"{"browser": {"page_timeout": "5s", "width": 800}}"#);
        assert_eq!(w.browser.page_timeout, Duration::from_secs(5));
        assert_eq!(w.browser.width, 800);
        assert_eq!(w.browser.chromium, "chromium");
        assert!(serde_json_from::<W>(r#"{"browser": {"colour": 1}}"#).is_err());
    }

    fn toml_like<T: serde::de::DeserializeOwned>(s: &str) -> T {
        serde_json_from(s).unwrap()
    }

    fn serde_json_from<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
        serde_json::from_str(s).map_err(|e| e.to_string())
    }
}

//! Test harness: runs the real `irene` binary as a separate process on a free port with its own
//! data directory, and speaks HTTP to it. No part of the server is mocked.
#![allow(dead_code)]

pub mod investigation;
pub mod postgres;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_irene")
}

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sources/tests/fixtures")
        .join(rel)
}

pub struct Server {
    pub child: Child,
    pub url: String,
    pub data_dir: PathBuf,
    pub client: reqwest::Client,
    pub token: Option<String>,
    /// Everything the server wrote to stderr (its logs), read as it comes so the pipe never fills.
    pub logs: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `irene serve` with a fresh data dir inside `dir` and extra arguments.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Server {
        Self::start_env(data_dir, extra, &[])
    }

    pub fn start_env(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        Self::try_start(data_dir, extra, env)
            .unwrap_or_else(|e| panic!("server did not start: {e}"))
    }

    pub fn try_start(
        data_dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Server, String> {
        let mut child = Command::new(bin())
            .env("IRENE_LOG", "warn")
            .envs(env.iter().copied())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let logs = Arc::new(Mutex::new(String::new()));
        if let Some(stderr) = child.stderr.take() {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Ok(mut l) = logs.lock() {
                        l.push_str(&line);
                        l.push('\n');
                    }
                }
            });
        }
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("irene: listening on ") {
                    let _ = tx.send(url.to_string());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(url) => Ok(Server {
                child,
                url,
                data_dir: data_dir.to_path_buf(),
                client: reqwest::Client::new(),
                token: None,
                logs,
            }),
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().map_err(|e| e.to_string())?;
                std::thread::sleep(Duration::from_millis(100));
                Err(format!(
                    "exit {:?}: {}",
                    status.code(),
                    Self::read_logs(&logs)
                ))
            }
        }
    }

    fn read_logs(logs: &Arc<Mutex<String>>) -> String {
        logs.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// What the server has logged so far.
    pub fn logs(&self) -> String {
        Self::read_logs(&self.logs)
    }

    pub fn with_token(mut self, token: &str) -> Self {
        self.token = Some(token.to_string());
        self
    }

    fn auth(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    pub async fn post_raw(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut req = self
            .auth(self.client.post(format!("{}{path}", self.url)))
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn ingest(&self, source: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
        self.post_raw(&format!("/api/v1/ingest/{source}"), body, &[])
            .await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self
            .auth(self.client.get(format!("{}{path}", self.url)))
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Waits until the pipeline has processed everything accepted so far.
    pub async fn drained(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, body) = self.get("/api/v1/status").await;
            assert_eq!(status, 200, "{body}");
            if body["inbox_pending"] == 0 {
                return;
            }
            assert!(Instant::now() < deadline, "pipeline did not drain: {body}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every case, following cursors.
    pub async fn all_cases(&self, query: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor = String::new();
        loop {
            let (status, body) = self
                .get(&format!("/api/v1/cases?limit=500&{query}&cursor={cursor}"))
                .await;
            assert_eq!(status, 200, "{body}");
            out.extend(body["cases"].as_array().cloned().unwrap_or_default());
            match body["next_cursor"].as_str() {
                Some(c) => cursor = c.to_string(),
                None => return out,
            }
        }
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then the exit status and what the process wrote to stderr.
    pub fn terminate(mut self) -> (Option<i32>, String) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                // Let the reader thread take the last lines.
                std::thread::sleep(Duration::from_millis(100));
                return (status.code(), self.logs());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return (None, "did not stop within 30s of SIGTERM".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn generic_alert(key: &str, severity: &str) -> Value {
    serde_json::json!({"key": key, "title": format!("Alert {key}"), "type": "test.kind", "severity": severity, "account": "111111111111"})
}

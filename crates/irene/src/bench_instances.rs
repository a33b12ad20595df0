//! `irene bench --instances`: intake and pipeline alerts/s for one SQLite instance, one
//! PostgreSQL instance and three on one PostgreSQL database, each a real `irene serve` started
//! from this executable, alerts posted round-robin over HTTP. Measures only; asserts nothing.
//! [`ScratchDb`] is also the tests' way to get a database of their own.

use crate::bench::{alert, BenchArgs, ServerProcess};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A database created beside `admin` (a PostgreSQL URL) with `psql`, dropped when dropped.
pub struct ScratchDb {
    /// The new database's URL, for `database_url`.
    pub url: String,
    admin: String,
    name: String,
}

fn psql(url: &str, sql: &str) -> anyhow::Result<()> {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .map_err(|e| anyhow::anyhow!("psql: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        anyhow::bail!("{}", String::from_utf8_lossy(&out.stderr).trim())
    }
}

impl ScratchDb {
    pub fn create(admin: &str) -> anyhow::Result<ScratchDb> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let name = format!("irene_scratch_{}_{nanos}", std::process::id());
        psql(admin, &format!("CREATE DATABASE {name}"))
            .map_err(|e| anyhow::anyhow!("cannot create a scratch database: {e}"))?;
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin);
        Ok(ScratchDb {
            url: format!("{base}/{name}"),
            admin: admin.to_string(),
            name,
        })
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        let _ = psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

pub async fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let n = args.instances_alerts;
    println!(
        "instances: {n} alerts over {} keys, {} per request, {} clients",
        args.keys.min(n),
        args.batch,
        args.clients
    );
    for (label, postgres, count) in [
        ("SQLite, 1 instance", false, 1),
        ("PostgreSQL, 1 instance", true, 1),
        ("PostgreSQL, 3 instances", true, 3),
    ] {
        let dir = tempfile::tempdir()?;
        let db = if postgres {
            Some(ScratchDb::create(&args.database_url)?)
        } else {
            None
        };
        let config = dir.path().join("irene.toml");
        let mut text = String::from("[investigate]\nenabled = false\n");
        if let Some(db) = &db {
            text = format!("database_url = \"{}\"\n{text}", db.url);
        }
        std::fs::write(&config, text)?;
        let servers = (0..count)
            .map(|i| ServerProcess::start_with(&dir.path().join(format!("d{i}")), Some(&config)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let urls: Vec<String> = servers.iter().map(|s| s.url.clone()).collect();
        let (intake, done) = post_and_drain(&urls, args, n).await?;
        println!(
            "  {label}: intake {:.0} alerts/s ({intake:.1} s); pipeline {:.0} alerts/s end to end ({done:.1} s)",
            n as f64 / intake,
            n as f64 / done,
        );
        for s in servers {
            s.stop();
        }
        drop(db);
    }
    Ok(())
}

/// Posts `n` alerts round-robin to `urls`; the seconds until the last was accepted and until
/// the inbox was empty.
async fn post_and_drain(urls: &[String], args: &BenchArgs, n: usize) -> anyhow::Result<(f64, f64)> {
    let batch = args.batch.max(1);
    let requests = n.div_ceil(batch);
    let next = Arc::new(AtomicUsize::new(0));
    let keys = args.keys.min(n).max(1);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients.max(1) {
        let (next, urls) = (next.clone(), urls.to_vec());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            loop {
                let r = next.fetch_add(1, Ordering::Relaxed);
                if r >= requests {
                    return Ok::<(), anyhow::Error>(());
                }
                let body: Vec<serde_json::Value> = (r * batch..((r + 1) * batch).min(n))
                    .map(|i| alert(i, keys))
                    .collect();
                let url = format!("{}/api/v1/ingest/generic", urls[r % urls.len()]);
                let resp = client
                    .post(url)
                    .body(serde_json::Value::Array(body).to_string())
                    .send()
                    .await?;
                if !resp.status().is_success() {
                    anyhow::bail!("intake answered {}", resp.status());
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let intake = started.elapsed().as_secs_f64();
    let client = reqwest::Client::new();
    loop {
        let st: serde_json::Value = client
            .get(format!("{}/api/v1/status", urls[0]))
            .send()
            .await?
            .json()
            .await?;
        if st["inbox_pending"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok((intake, started.elapsed().as_secs_f64()))
}

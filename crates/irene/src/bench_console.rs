//! `irene bench --console`: fills a temporary store with `--console-cases` cases and `--events`
//! audit-log events through the pipeline's commit, serves it with `irene serve`, and times the
//! console's pages over HTTP (p50/p95/max ms each). Measures only; asserts nothing.

use crate::bench::{BenchArgs, ServerProcess};
use crate::bench_investigations::{load_events, Population};
use crate::bench_replay::{compile, live_rules, load, templates};
use chrono::Utc;
use irene_core::{NoCorrelations, NoOutputs};
use irene_store::Location;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub async fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = irene_store::open(
        &Location::Sqlite(dir.path().to_path_buf()),
        Arc::new(NoOutputs),
        Arc::new(NoCorrelations),
    )
    .await?;
    // two alerts per case: a case with an occurrence, every 20th alert a resolution
    let templates = templates();
    let keys = args.console_cases.div_ceil(templates.len().max(1));
    let alerts = 2 * keys * templates.len();
    let rules = compile("live", live_rules(&templates))?;
    let started = Instant::now();
    load(&*store, &rules, &templates, alerts, keys).await?;
    println!(
        "console: {alerts} alerts into {} cases stored in {:.1} s through the pipeline's commit",
        keys * templates.len(),
        started.elapsed().as_secs_f64()
    );
    let population = Population { now: Utc::now() };
    load_events(&*store, &population, args.events).await?;
    store.close().await;
    // the data directory's lock goes with the store: `irene serve` takes it next
    drop(store);

    let server = ServerProcess::start(dir.path())?;
    let client = reqwest::Client::new();
    let base = server.url.clone();
    let first = get(&client, &format!("{base}/api/v1/cases?limit=1")).await?;
    let first: serde_json::Value = serde_json::from_str(&first)?;
    let case_id = first["cases"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let list = get(&client, &format!("{base}/cases")).await?;
    let next = next_href(&list).unwrap_or_else(|| "/cases".into());
    let events = get(&client, &format!("{base}/events")).await?;
    let events_next = next_href(&events).unwrap_or_else(|| "/events".into());
    let ip = Population::ip(0);
    let principal = Population::principal(0);
    let pages = [
        ("overview", "/".to_string()),
        ("cases, first page", "/cases".into()),
        (
            "cases, filtered (high, open)",
            "/cases?severity=high&status=open".into(),
        ),
        ("cases, a source with none", "/cases?source=gcp.scc".into()),
        ("cases, text search", "/cases?q=firewall".into()),
        ("cases, next page (cursor)", next),
        ("case", format!("/cases/{case_id}")),
        ("events, first page", "/events".into()),
        ("events, next page (cursor)", events_next),
        ("events, by IP", format!("/events?ip={ip}")),
        (
            "events, by principal",
            format!(
                "/events?{}",
                serde_urlencoded::to_string([("principal", principal.as_str())])?
            ),
        ),
    ];
    println!(
        "console: {} requests per page, one at a time, whole body read",
        args.console_runs
    );
    for (name, path) in &pages {
        let url = format!("{base}{path}");
        let mut times = Vec::with_capacity(args.console_runs);
        let mut bytes = 0;
        for _ in 0..args.console_runs.max(1) {
            let t = Instant::now();
            bytes = get(&client, &url).await?.len();
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "  {name:<30} p50 {:>8} p95 {:>8} max {:>8} ms  ({} KiB)  {path}",
            ms(percentile(&times, 0.50)),
            ms(percentile(&times, 0.95)),
            ms(times.last().copied().unwrap_or_default()),
            bytes / 1024,
        );
    }
    if let Some(kib) = server.peak_rss_kib() {
        println!("irene serve peak RSS: {:.1} MiB", kib as f64 / 1024.0);
    }
    server.stop();
    Ok(())
}

/// The body of a 200 answer; an error for anything else.
async fn get(client: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    let resp = client.get(url).send().await?;
    let status = resp.status();
    let body = resp.text().await?;
    if !status.is_success() {
        anyhow::bail!(
            "GET {url}: {status}: {}",
            body.chars().take(300).collect::<String>()
        );
    }
    Ok(body)
}

/// A page's `rel="next"` link, unescaped.
fn next_href(body: &str) -> Option<String> {
    let at = body.find(r#"rel="next" href=""#)? + r#"rel="next" href=""#.len();
    let end = body[at..].find('"')?;
    Some(
        body[at..at + end]
            .replace("&#38;", "&")
            .replace("&amp;", "&"),
    )
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

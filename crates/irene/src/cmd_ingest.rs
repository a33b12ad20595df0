//! `irene ingest`: posts payload files (or folders of them) to a running server, with a progress
//! bar and a summary of what was accepted or refused. It never decodes locally.

use crate::remote::ServerArgs;
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct IngestArgs {
    /// Decoder name (`aws.guardduty`, `gcp.scc`, …) or `auto`.
    #[arg(long, default_value = "auto")]
    pub source: String,
    #[command(flatten)]
    pub server: ServerArgs,
    /// Files or folders (folders: every file below, in name order). `.gz` files are sent gzipped.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

fn expand(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut inner: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("reading {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            inner.sort();
            out.extend(expand(&inner)?);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

enum Outcome {
    Accepted(u64),
    Refused(String),
}

async fn post_one(client: &reqwest::Client, args: &IngestArgs, path: &Path) -> Outcome {
    let body = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return Outcome::Refused(format!("cannot read: {e}")),
    };
    let mut req = args
        .server
        .request(
            client,
            reqwest::Method::POST,
            &format!("/api/v1/ingest/{}", args.source),
        )
        .header("content-type", "application/json")
        .body(body);
    if path.extension().and_then(|e| e.to_str()) == Some("gz") {
        req = req.header("content-encoding", "gzip");
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            return Outcome::Refused(format!(
                "cannot reach {}: {}",
                args.server.url,
                e.without_url()
            ))
        }
    };
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if status.as_u16() == 202 {
        Outcome::Accepted(body.get("accepted").and_then(Value::as_u64).unwrap_or(0))
    } else {
        let code = body
            .pointer("/error/code")
            .and_then(Value::as_str)
            .unwrap_or("");
        let msg = body
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("");
        Outcome::Refused(format!("{} {code}: {msg}", status.as_u16()))
    }
}

pub async fn run(args: IngestArgs) -> anyhow::Result<ExitCode> {
    let files = expand(&args.files)?;
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(120))
        .build()?;
    let bar = ProgressBar::new(files.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} files {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let (mut accepted_files, mut items) = (0u64, 0u64);
    let mut refused = Vec::new();
    for path in &files {
        match post_one(&client, &args, path).await {
            Outcome::Accepted(n) => {
                accepted_files += 1;
                items += n;
            }
            Outcome::Refused(why) => refused.push((path.clone(), why)),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    println!(
        "{accepted_files} of {} file(s) accepted ({items} item(s)); {} refused",
        files.len(),
        refused.len()
    );
    for (path, why) in &refused {
        println!("  refused {}: {why}", path.display());
    }
    Ok(if refused.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

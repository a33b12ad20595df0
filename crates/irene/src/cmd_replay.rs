//! `irene rules replay`: sends draft rule files to a running server's replay
//! (`POST /api/v1/rules/replay`), shows its progress on stderr and the report on stdout.
//! It reads rule files and prints; the server does the replay, which changes nothing.

use crate::remote::ServerArgs;
use crate::rulefiles::{read_rule_files, read_sigma_files};
use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Draft triage rule files or folders (default: the server's own rules).
    #[arg(long)]
    pub triage: Vec<PathBuf>,
    /// Draft Sigma rule files or folders, replayed over the window's stored events.
    #[arg(long)]
    pub sigma: Vec<PathBuf>,
    /// The window's start: `30d` back from now, or an RFC 3339 time.
    #[arg(long)]
    pub since: String,
    /// The window's end (default now).
    #[arg(long)]
    pub until: Option<String>,
    /// Changed alerts shown.
    #[arg(long, default_value_t = 20)]
    pub examples: usize,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

fn files(files: Vec<irene_rules::RuleFile>) -> Value {
    Value::Array(
        files
            .into_iter()
            .map(|f| json!({"name": f.name, "text": f.text}))
            .collect(),
    )
}

pub async fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    if args.triage.is_empty() && args.sigma.is_empty() {
        bail!("give draft rules: --triage and/or --sigma");
    }
    let mut body = json!({"since": args.since, "examples": args.examples});
    if !args.triage.is_empty() {
        body["triage"] = files(read_rule_files(&args.triage)?);
    }
    if !args.sigma.is_empty() {
        body["sigma"] = files(read_sigma_files(&args.sigma)?);
    }
    if let Some(u) = &args.until {
        body["until"] = json!(u);
    }
    let client = reqwest::Client::new();
    let mut resp = args
        .server
        .request(&client, reqwest::Method::POST, "/api/v1/rules/replay")
        .json(&body)
        .send()
        .await
        .with_context(|| format!("reaching {}", args.server.url))?;
    if !resp.status().is_success() {
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        let errors = body
            .pointer("/error/errors")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if !errors.is_empty() {
            eprintln!("the draft does not compile ({} error(s)):", errors.len());
            for e in errors {
                eprintln!("  {}", e.as_str().unwrap_or_default());
            }
            return Ok(ExitCode::from(1));
        }
        let msg = body
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("no message");
        bail!("the server answered {status}: {msg}");
    }
    let mut pending: Vec<u8> = Vec::new();
    let mut report = None;
    while let Some(chunk) = resp.chunk().await.context("reading the replay")? {
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let v: Value = serde_json::from_slice(&line).context("a replay line")?;
            if let Some(p) = v.get("progress") {
                eprintln!(
                    "{}: {} of {}",
                    p["phase"].as_str().unwrap_or("alerts"),
                    p["scanned"],
                    p["total"]
                        .as_u64()
                        .map_or("?".to_string(), |t| t.to_string())
                );
            } else if let Some(r) = v.get("report") {
                report = Some(r.clone());
            } else if let Some(e) = v.get("error") {
                bail!(
                    "the replay failed: {}",
                    e["message"].as_str().unwrap_or("?")
                );
            }
        }
    }
    let Some(report) = report else {
        bail!("the server ended the replay without a report");
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(ExitCode::SUCCESS)
}

/// The report as readable tables.
pub fn render(r: &Value) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let n = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    let t = &r["totals"];
    let _ = writeln!(
        o,
        "alerts scanned {}, events scanned {}, verdicts changed {} (severity {}, key {}, rule {})",
        n(t, "alerts_scanned"),
        n(t, "events_scanned"),
        n(t, "verdicts_changed"),
        n(t, "severity_changed"),
        n(t, "key_changed"),
        n(t, "rule_changed"),
    );
    let _ = writeln!(
        o,
        "cases {} -> {}, deliveries {} -> {}\n",
        n(t, "cases_before"),
        n(t, "cases_after"),
        n(t, "deliveries_before"),
        n(t, "deliveries_after"),
    );
    let _ = writeln!(o, "{:<40} {:>10} {:>10}", "RULE", "BEFORE", "AFTER");
    for rule in r["rules"].as_array().into_iter().flatten() {
        let name = rule["rule"]
            .as_str()
            .unwrap_or("(no rule: source severity)");
        let _ = writeln!(
            o,
            "{name:<40} {:>10} {:>10}",
            n(rule, "before"),
            n(rule, "after")
        );
    }
    let _ = writeln!(
        o,
        "\n{:<30} {:<10} {:>10} {:>10}",
        "OUTPUT", "ACTION", "BEFORE", "AFTER"
    );
    for d in r["deliveries"].as_array().into_iter().flatten() {
        let _ = writeln!(
            o,
            "{:<30} {:<10} {:>10} {:>10}",
            d["output"].as_str().unwrap_or("?"),
            d["action"].as_str().unwrap_or("?"),
            n(d, "before"),
            n(d, "after")
        );
    }
    if let Some(sigma) = r["sigma"].as_array().filter(|s| !s.is_empty()) {
        let _ = writeln!(o, "\n{:<40} {:>10} {:>10}", "SIGMA RULE", "BEFORE", "AFTER");
        for s in sigma {
            let _ = writeln!(
                o,
                "{:<40} {:>10} {:>10}",
                s["title"].as_str().unwrap_or("?"),
                n(s, "before"),
                n(s, "after")
            );
        }
    }
    let c = &r["cases"];
    let _ = writeln!(
        o,
        "\ncases: {} opened, {} gone, {} merged, {} split, {} severity changed, {} closed, {} reopened",
        n(c, "opened"),
        n(c, "gone"),
        n(c, "merged"),
        n(c, "split"),
        n(c, "severity_changed"),
        n(c, "closed"),
        n(c, "reopened"),
    );
    let state = |s: &Value| {
        if s.is_null() {
            "-".to_string()
        } else {
            format!(
                "{} {} x{}",
                s["severity"].as_str().unwrap_or("?"),
                s["status"].as_str().unwrap_or("?"),
                s["count"]
            )
        }
    };
    for e in c["examples"].as_array().into_iter().flatten() {
        let keys: Vec<&str> = e["keys"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let _ = writeln!(
            o,
            "  {:<9} {}  {} -> {}{}",
            e["change"].as_str().unwrap_or("?"),
            e["key"].as_str().unwrap_or("?"),
            state(&e["before"]),
            state(&e["after"]),
            if keys.is_empty() {
                String::new()
            } else {
                format!("  [{}]", keys.join(", "))
            }
        );
    }
    let verdict = |v: &Value| {
        if v.is_null() {
            "-".to_string()
        } else {
            format!(
                "{} by {} key {}",
                v["severity"].as_str().unwrap_or("?"),
                v["rule"].as_str().unwrap_or("(no rule)"),
                v["key"].as_str().unwrap_or("?")
            )
        }
    };
    if let Some(ex) = r["examples"].as_array().filter(|e| !e.is_empty()) {
        let _ = writeln!(o, "\nchanged alerts (first {}):", ex.len());
        for e in ex {
            let _ = writeln!(
                o,
                "  {}  {}  ->  {}",
                e["alert_id"].as_str().unwrap_or("?"),
                verdict(&e["before"]),
                verdict(&e["after"])
            );
        }
    }
    o
}

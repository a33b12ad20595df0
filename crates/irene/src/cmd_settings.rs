//! `irene apply -f DIR`, `irene export DIR` and `irene silence add|list|expire`: settings
//! documents and silences on a running server, over its API. The server validates and writes.

use crate::remote::{answer, ServerArgs};
use crate::settings::{dir, Kind};
use anyhow::Context;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// The folder: `triage/`, `sigma/`, `routes.toml`, `templates/`, `silences.yaml` (only
    /// the kinds present are changed).
    #[arg(short = 'f', long = "file")]
    pub dir: PathBuf,
    /// Validate and print the diff; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Why (kept with each version).
    #[arg(long, short = 'm', default_value = "")]
    pub comment: String,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// A new or empty folder.
    pub dir: PathBuf,
}

#[derive(clap::Subcommand, Debug)]
pub enum SilenceCommand {
    /// Holds back the notifications of matching alerts for a while.
    Add {
        #[command(flatten)]
        server: ServerArgs,
        /// A CEL condition over `alert` and `case`.
        #[arg(long = "match")]
        condition: Option<String>,
        /// `field=value` or `field!=value` (repeatable; `type=…` means `alert.type`).
        #[arg(long = "matcher")]
        matchers: Vec<String>,
        /// How long (`2h`, `3d`), from now or from `--starts-at`.
        #[arg(long = "for", conflicts_with = "ends_at")]
        duration: Option<String>,
        /// When it ends (RFC 3339).
        #[arg(long)]
        ends_at: Option<String>,
        /// When it starts (RFC 3339; default now).
        #[arg(long)]
        starts_at: Option<String>,
        #[arg(long, short = 'm', default_value = "")]
        comment: String,
        /// Accept a silence that matches every alert.
        #[arg(long)]
        force: bool,
    },
    /// Lists silences (all, or by state).
    List {
        #[command(flatten)]
        server: ServerArgs,
        /// active, pending or expired
        #[arg(long)]
        state: Option<String>,
    },
    /// Ends a silence now.
    Expire {
        #[command(flatten)]
        server: ServerArgs,
        id: u64,
    },
}

async fn send(server: &ServerArgs, req: reqwest::RequestBuilder) -> anyhow::Result<Value> {
    let resp = req
        .send()
        .await
        .with_context(|| format!("reaching {}", server.url))?;
    answer(resp).await
}

pub async fn apply(args: ApplyArgs) -> anyhow::Result<ExitCode> {
    let docs = dir::read(&args.dir)?;
    let documents: BTreeMap<&str, _> = docs.iter().map(|(k, f)| (k.as_str(), f)).collect();
    let client = reqwest::Client::new();
    let req = args
        .server
        .request(&client, reqwest::Method::POST, "/api/v1/settings/apply")
        .json(&json!({"documents": documents, "comment": args.comment, "dry_run": args.dry_run}));
    let body = send(&args.server, req).await?;
    let diff = body["diff"].as_str().unwrap_or_default();
    if diff.is_empty() {
        println!("no change");
    } else {
        print!("{diff}");
    }
    if args.dry_run {
        eprintln!("dry run: valid, nothing applied");
    } else if let Some(v) = body["versions"].as_object() {
        for (kind, n) in v {
            eprintln!("{kind}: version {n}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let client = reqwest::Client::new();
    let mut docs = BTreeMap::new();
    for kind in Kind::ALL {
        let path = format!("/api/v1/settings/{}", kind.as_str());
        let resp = args
            .server
            .request(&client, reqwest::Method::GET, &path)
            .send()
            .await
            .with_context(|| format!("reaching {}", args.server.url))?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            continue;
        }
        let body = answer(resp).await?;
        let files: Vec<irene_store::SettingsFile> =
            serde_json::from_value(body["files"].clone())
                .with_context(|| format!("the server's {} document", kind.as_str()))?;
        docs.insert(kind, files);
    }
    dir::write(&args.dir, &docs)?;
    for (kind, files) in &docs {
        eprintln!("{}: {} file(s)", kind.as_str(), files.len());
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn silence(cmd: SilenceCommand) -> anyhow::Result<ExitCode> {
    let client = reqwest::Client::new();
    match cmd {
        SilenceCommand::Add {
            server,
            condition,
            matchers,
            duration,
            ends_at,
            starts_at,
            comment,
            force,
        } => {
            let req = server
                .request(&client, reqwest::Method::POST, "/api/v1/silences")
                .json(
                    &json!({"match": condition, "matchers": matchers, "duration": duration,
                              "ends_at": ends_at, "starts_at": starts_at, "comment": comment,
                              "force": force}),
                );
            let s = send(&server, req).await?;
            println!(
                "silence #{} {} until {}",
                s["id"],
                s["state"].as_str().unwrap_or("?"),
                s["ends_at"].as_str().unwrap_or("?")
            );
        }
        SilenceCommand::List { server, state } => {
            let mut req = server.request(&client, reqwest::Method::GET, "/api/v1/silences");
            if let Some(s) = &state {
                req = req.query(&[("state", s)]);
            }
            let body = send(&server, req).await?;
            for s in body["silences"].as_array().into_iter().flatten() {
                let what = s["match"].as_str().map(str::to_string).unwrap_or_else(|| {
                    s["matchers"]
                        .as_array()
                        .map(|m| {
                            m.iter()
                                .filter_map(|v| v.as_str())
                                .collect::<Vec<_>>()
                                .join(" ")
                        })
                        .unwrap_or_default()
                });
                println!(
                    "#{}\t{}\t{} → {}\t{}\t{}\t{}",
                    s["id"],
                    s["state"].as_str().unwrap_or(""),
                    s["starts_at"].as_str().unwrap_or(""),
                    s["ends_at"].as_str().unwrap_or(""),
                    s["author"].as_str().unwrap_or(""),
                    what,
                    s["comment"].as_str().unwrap_or("")
                );
            }
        }
        SilenceCommand::Expire { server, id } => {
            let path = format!("/api/v1/silences/{id}/expire");
            let s = send(
                &server,
                server.request(&client, reqwest::Method::POST, &path),
            )
            .await?;
            println!(
                "silence #{} ended at {}",
                s["id"],
                s["ends_at"].as_str().unwrap_or("?")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

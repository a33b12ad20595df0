//! `irene deliveries`: lists deliveries and replays dead letters on a running server, over its
//! API (the server owns the data directory). It never sends to an output itself.

use crate::remote::{answer, ServerArgs};
use anyhow::{bail, Context};
use serde_json::Value;
use std::process::ExitCode;

#[derive(clap::Subcommand, Debug)]
pub enum DeliveriesCommand {
    /// List deliveries, newest first (default: the dead letters).
    List {
        #[command(flatten)]
        server: ServerArgs,
        /// pending, sending, done or dead.
        #[arg(long, default_value = "dead")]
        state: String,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Replay dead letters: the given delivery ids, or every dead letter with --all-dead.
    Retry {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long)]
        all_dead: bool,
        ids: Vec<i64>,
    },
}

async fn list(
    client: &reqwest::Client,
    server: &ServerArgs,
    state: &str,
    limit: u32,
) -> anyhow::Result<Vec<Value>> {
    let resp = server
        .request(
            client,
            reqwest::Method::GET,
            &format!("/api/v1/deliveries?state={state}&limit={limit}"),
        )
        .send()
        .await
        .with_context(|| format!("reaching {}", server.url))?;
    let body = answer(resp).await?;
    Ok(body
        .get("deliveries")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}

fn line(d: &Value) -> String {
    let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
    format!(
        "{}\t{}\t{}\t{}\tcase {}\tattempts {}\t{}",
        d.get("id").and_then(Value::as_i64).unwrap_or(0),
        s("state"),
        s("output"),
        s("action"),
        s("case_id"),
        d.get("attempts").and_then(Value::as_i64).unwrap_or(0),
        d.get("last_error")
            .and_then(Value::as_str)
            .or_else(|| d.get("note").and_then(Value::as_str))
            .unwrap_or(""),
    )
}

pub async fn run(cmd: DeliveriesCommand) -> anyhow::Result<ExitCode> {
    let client = reqwest::Client::new();
    match cmd {
        DeliveriesCommand::List {
            server,
            state,
            limit,
        } => {
            for d in list(&client, &server, &state, limit).await? {
                println!("{}", line(&d));
            }
            Ok(ExitCode::SUCCESS)
        }
        DeliveriesCommand::Retry {
            server,
            all_dead,
            mut ids,
        } => {
            if all_dead {
                ids.extend(
                    list(&client, &server, "dead", 500)
                        .await?
                        .iter()
                        .filter_map(|d| d.get("id").and_then(Value::as_i64)),
                );
            }
            if ids.is_empty() {
                bail!("name the deliveries to retry, or pass --all-dead");
            }
            let mut failed = 0;
            for id in ids {
                let resp = server
                    .request(
                        &client,
                        reqwest::Method::POST,
                        &format!("/api/v1/deliveries/{id}/retry"),
                    )
                    .send()
                    .await
                    .with_context(|| format!("reaching {}", server.url))?;
                match answer(resp).await {
                    Ok(_) => println!("{id}\trequeued"),
                    Err(e) => {
                        failed += 1;
                        println!("{id}\tnot requeued: {e}");
                    }
                }
            }
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

//! `irene investigate CASE_ID`: runs a case's investigations again on a running server, over
//! its API (admin token). It runs no investigator itself; the server posts the note when done.

use crate::remote::{answer, ServerArgs};
use anyhow::Context;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct InvestigateArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Only this investigator (default: every one the configuration runs).
    #[arg(long)]
    pub only: Option<String>,
    /// The case's id.
    pub case_id: String,
}

pub async fn run(args: InvestigateArgs) -> anyhow::Result<ExitCode> {
    let client = reqwest::Client::new();
    let path = format!("/api/v1/cases/{}/investigate", args.case_id.trim());
    let mut req = args.server.request(&client, reqwest::Method::POST, &path);
    if let Some(only) = &args.only {
        req = req.query(&[("only", only)]);
    }
    let resp = req
        .send()
        .await
        .with_context(|| format!("reaching {}", args.server.url))?;
    let body = answer(resp).await?;
    let names: Vec<&str> = body["investigators"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    println!(
        "asked for {} on case {} (batch {}); the ticket gets the results when they finish",
        names.join(", "),
        args.case_id.trim(),
        body["batch"].as_str().unwrap_or("?")
    );
    Ok(ExitCode::SUCCESS)
}

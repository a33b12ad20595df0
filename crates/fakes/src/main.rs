//! `irene-fakes`: runs all four fakes with demo data until Ctrl-C, printing their URLs one per line.
//! For people poking at Irene by hand; tests start the fakes in-process instead.

use clap::Parser;
use irene_fakes::{FakeGitHub, FakePagerDuty, FakeReceiver, FakeSlack};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "irene-fakes",
    about = "Local fake GitHub, PagerDuty, Slack and webhook receiver"
)]
struct Cli {
    /// Port for the fake GitHub (0 = any free port).
    #[arg(long, default_value_t = 0)]
    github_port: u16,
    /// Port for the fake PagerDuty (0 = any free port).
    #[arg(long, default_value_t = 0)]
    pagerduty_port: u16,
    /// Port for the fake Slack (0 = any free port).
    #[arg(long, default_value_t = 0)]
    slack_port: u16,
    /// Port for the generic webhook receiver (0 = any free port).
    #[arg(long, default_value_t = 0)]
    receiver_port: u16,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let started = async {
        Ok::<_, std::io::Error>((
            FakeGitHub::start_on_port(cli.github_port).await?,
            FakePagerDuty::start_on_port(cli.pagerduty_port).await?,
            FakeSlack::start_on_port(cli.slack_port).await?,
            FakeReceiver::start_on_port(cli.receiver_port).await?,
        ))
    };
    let (github, pagerduty, slack, receiver) = match started.await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("irene-fakes: cannot bind: {e}");
            return ExitCode::FAILURE;
        }
    };
    github.add_repo("acme/security-alerts");
    github.add_token("ghp_demo");
    let channel = slack.add_channel("secops");
    let hook = slack.add_webhook(&channel);
    slack.add_bot_token("xoxb-demo");

    println!("github={}", github.url());
    println!("github_repo=acme/security-alerts");
    println!("github_token=ghp_demo");
    println!("pagerduty={}", pagerduty.url());
    println!("slack={}", slack.url());
    println!("slack_channel={channel}");
    println!("slack_webhook={hook}");
    println!("slack_bot_token=xoxb-demo");
    println!("receiver={}", receiver.url());
    println!("# inspect: GET <url>/_fake/state on each; Ctrl-C to stop");

    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("irene-fakes: cannot wait for Ctrl-C: {e}");
        return ExitCode::FAILURE;
    }
    github.shutdown();
    pagerduty.shutdown();
    slack.shutdown();
    receiver.shutdown();
    ExitCode::SUCCESS
}

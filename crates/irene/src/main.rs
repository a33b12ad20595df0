//! `irene`: the command line. Parses arguments and hands over to the library's commands;
//! the only place where errors become exit codes.

use clap::{Parser, Subcommand};
use irene::config::{Config, Overrides};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc: the pipeline allocates many small short-lived values across threads, where glibc's
/// allocator spent a quarter of the time (perf, `irene bench`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "irene",
    version,
    about = "Security alert manager for public-cloud estates"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: intake, pipeline and API.
    Serve {
        #[arg(long)]
        config: Option<PathBuf>,
        /// Address to listen on (default 127.0.0.1:8080; env IRENE_LISTEN).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Data directory (default ./irene-data; env IRENE_DATA_DIR).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Triage rule file or folder (repeatable; replaces the config's list).
        #[arg(long)]
        triage: Vec<PathBuf>,
        /// Sigma rule file or folder, searched recursively (repeatable; replaces the config's list).
        #[arg(long)]
        sigma: Vec<PathBuf>,
    },
    /// Post payload files to a running server.
    Ingest(irene::cmd_ingest::IngestArgs),
    /// Check and try rules without a server (and replay drafts on one).
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// List deliveries and replay dead letters on a running server.
    Deliveries {
        #[command(subcommand)]
        command: irene::cmd_deliveries::DeliveriesCommand,
    },
    /// Run a case's investigations again now, on a running server (needs an admin token).
    Investigate(irene::cmd_investigate::InvestigateArgs),
    /// Apply a folder of settings (triage/, sigma/, routes.toml, templates/, silences.yaml) to
    /// a running server: all validated first, a diff printed, then switched at once.
    Apply(irene::cmd_settings::ApplyArgs),
    /// Write a running server's current settings documents into a new folder (apply reads it).
    Export(irene::cmd_settings::ExportArgs),
    /// Silence notifications for a while, list and expire silences.
    Silence {
        #[command(subcommand)]
        command: irene::cmd_settings::SilenceCommand,
    },
    /// Console accounts (add, list, remove, passwd), in the data directory's store: run while
    /// no server is running on it.
    User {
        #[command(subcommand)]
        command: irene::cmd_user::UserCommand,
    },
    /// Measure intake and pipeline throughput on this machine.
    Bench(irene::bench::BenchArgs),
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Compile rule files and report every error.
    Check {
        #[arg(long, required_unless_present = "sigma")]
        triage: Vec<PathBuf>,
        /// Sigma rule files or folders: prints `sigma: N loaded, M rejected` and each rejection.
        #[arg(long)]
        sigma: Vec<PathBuf>,
    },
    /// Decode payload files and show which rule decides each alert (and which Sigma rules
    /// match each audit-log event).
    Test {
        #[arg(long)]
        triage: Vec<PathBuf>,
        #[arg(long)]
        sigma: Vec<PathBuf>,
        #[arg(long, default_value = "auto")]
        source: String,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Replay draft rules over a stored window on a running server (needs an admin token):
    /// what they would change in verdicts, cases and deliveries. Changes nothing.
    Replay(irene::cmd_replay::ReplayArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    irene::telemetry::init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("irene: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("irene: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve {
            config,
            listen,
            data_dir,
            triage,
            sigma,
        } => {
            let cfg = Config::load(
                config.as_deref(),
                &Overrides {
                    listen,
                    data_dir,
                    triage,
                    sigma,
                },
            )?;
            let rules = irene::rulefiles::load_triage(&cfg.triage)?;
            let sigma = irene::rulefiles::load_sigma(&cfg.sigma)?;
            irene::server::serve(cfg, rules, sigma).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Ingest(args) => irene::cmd_ingest::run(args).await,
        Command::Investigate(args) => irene::cmd_investigate::run(args).await,
        Command::Apply(args) => irene::cmd_settings::apply(args).await,
        Command::Export(args) => irene::cmd_settings::export(args).await,
        Command::Silence { command } => irene::cmd_settings::silence(command).await,
        Command::Rules {
            command: RulesCommand::Check { triage, sigma },
        } => irene::cmd_rules::check(&triage, &sigma),
        Command::Rules {
            command:
                RulesCommand::Test {
                    triage,
                    sigma,
                    source,
                    files,
                },
        } => irene::cmd_rules::test(&triage, &sigma, &source, &files),
        Command::Rules {
            command: RulesCommand::Replay(args),
        } => irene::cmd_replay::run(args).await,
        Command::Deliveries { command } => irene::cmd_deliveries::run(command).await,
        Command::User { command } => irene::cmd_user::run(command).await,
        Command::Bench(args) => irene::bench::run(args).await,
    }
}

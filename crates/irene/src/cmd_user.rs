//! `irene user add|list|remove|passwd`: console accounts, written straight into the data
//! directory's store (while no server holds it). It never prints or logs a password or hash.

use crate::config::{Config, Overrides};
use crate::console::Role;
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use irene_store::{NewAudit, Store, User};
use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Where the store is: the config's data directory, or the flag's.
#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Data directory (default ./irene-data; env IRENE_DATA_DIR).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Add an account; its password is the first line of standard input (no prompt).
    Add {
        name: String,
        /// viewer (reads), responder (acts on cases), admin (settings, accounts, audit log).
        #[arg(long)]
        role: String,
        /// Read the password from standard input (what happens anyway; for scripts' clarity).
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List accounts: name, role, created, disabled.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Remove an account and end its sessions.
    Remove {
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Set an account's password (first line of standard input) and end its sessions.
    Passwd {
        name: String,
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Whether an account name is one we accept: 1 to 64 of letters, digits, `.`, `_`, `-`, `@`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

async fn open(args: &StoreArgs) -> anyhow::Result<Arc<dyn Store>> {
    let cfg = Config::load(
        args.config.as_deref(),
        &Overrides {
            data_dir: args.data_dir.clone(),
            ..Default::default()
        },
    )?;
    irene_store::open(
        &cfg.store_location(),
        Arc::new(irene_core::NoOutputs),
        Arc::new(irene_core::NoCorrelations),
    )
    .await
    .with_context(|| {
        format!(
            "opening the store in {} (is a server running on it?)",
            cfg.store_name()
        )
    })
}

fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let pw = line.trim_end_matches(['\n', '\r']).to_string();
    if pw.is_empty() {
        bail!("no password on standard input (give it as the first line)");
    }
    Ok(pw)
}

async fn audit(store: &dyn Store, action: &str, target: &str, detail: &str) {
    let entry = NewAudit {
        actor: "cli".into(),
        action: action.into(),
        target: target.into(),
        detail: detail.into(),
    };
    if let Err(e) = store.audit_add(&entry, chrono::Utc::now()).await {
        tracing::error!(error = %e, action, "could not record an action in the audit log");
    }
}

pub async fn run(command: UserCommand) -> anyhow::Result<ExitCode> {
    match command {
        UserCommand::Add {
            name, role, store, ..
        } => {
            if !valid_name(&name) {
                bail!(
                    "{name:?} is not a valid account name (letters, digits, . _ - @; at most 64)"
                );
            }
            let Some(role) = Role::parse(&role) else {
                bail!("unknown role {role:?} (viewer, responder, admin)");
            };
            let hash = crate::password::hash(&read_password()?)?;
            let s = open(&store).await?;
            let added = s
                .user_add(&User {
                    name: name.clone(),
                    role: role.as_str().to_string(),
                    hash,
                    created_at: chrono::Utc::now(),
                    disabled: false,
                })
                .await?;
            if !added {
                s.close().await;
                bail!("an account named {name:?} already exists");
            }
            audit(&*s, "user.add", &name, role.as_str()).await;
            s.close().await;
            println!("added {name} ({role})");
        }
        UserCommand::List { store } => {
            let s = open(&store).await?;
            let users = s.users_list().await?;
            s.close().await;
            for u in users {
                println!(
                    "{}\t{}\t{}{}",
                    u.name,
                    u.role,
                    u.created_at.format("%Y-%m-%d %H:%M UTC"),
                    if u.disabled { "\tdisabled" } else { "" }
                );
            }
        }
        UserCommand::Remove { name, store } => {
            let s = open(&store).await?;
            let removed = s.user_remove(&name).await?;
            if removed {
                audit(&*s, "user.remove", &name, "").await;
            }
            s.close().await;
            if !removed {
                bail!("no account named {name:?}");
            }
            println!("removed {name}");
        }
        UserCommand::Passwd { name, store, .. } => {
            let hash = crate::password::hash(&read_password()?)?;
            let s = open(&store).await?;
            let changed = s.user_set_hash(&name, &hash).await?;
            if changed {
                audit(&*s, "user.passwd", &name, "sessions ended").await;
            }
            s.close().await;
            if !changed {
                bail!("no account named {name:?}");
            }
            println!("password of {name} changed; its sessions are ended");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names_are_plain() {
        for ok in ["ana", "ana.b-c_d@example.com", "A1"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "ana b", "<img>", "ana/..", &"x".repeat(65)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}

//! At start, the files named in config become documents: each kind's files are stored as a
//! new version (author `file:<path>`) when they differ from what was last read from them.
//! A version applied through the API since stays current until the file itself changes.

use super::{dir, routes, sorted, Kind};
use crate::config::Config;
use chrono::Utc;
use irene_store::{SettingsChange, SettingsFile, Store};
use std::path::{Path, PathBuf};

/// A rule file's document name: its path under the configured folder (`/`-separated), or
/// its file name for a configured file.
fn named(files: Vec<irene_rules::RuleFile>, roots: &[PathBuf]) -> Vec<SettingsFile> {
    files
        .into_iter()
        .map(|f| {
            let path = Path::new(&f.name);
            let rel = roots
                .iter()
                .filter(|r| r.is_dir())
                .find_map(|r| path.strip_prefix(r).ok())
                .map(|p| {
                    p.components()
                        .map(|c| c.as_os_str().to_string_lossy())
                        .collect::<Vec<_>>()
                        .join("/")
                })
                .or_else(|| path.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| f.name.clone());
            SettingsFile {
                name: rel,
                text: f.text,
            }
        })
        .collect()
}

/// The documents the config's files make, each with its author.
pub fn from_config(cfg: &Config) -> anyhow::Result<Vec<(Kind, String, Vec<SettingsFile>)>> {
    let mut out = Vec::new();
    let list = |paths: &[PathBuf]| {
        paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    if !cfg.triage.is_empty() {
        let files = crate::rulefiles::read_rule_files(&cfg.triage)?;
        out.push((
            Kind::Triage,
            format!("file:{}", list(&cfg.triage)),
            sorted(named(files, &cfg.triage)),
        ));
    }
    if !cfg.sigma.is_empty() {
        let files = crate::rulefiles::read_sigma_files(&cfg.sigma)?;
        out.push((
            Kind::Sigma,
            format!("file:{}", list(&cfg.sigma)),
            sorted(named(files, &cfg.sigma)),
        ));
    }
    if let Some(t) = &cfg.settings.templates {
        let files = dir::read_folder(t, &[])?;
        out.push((Kind::Templates, format!("file:{}", t.display()), files));
    }
    if let Some(r) = &cfg.settings.runbooks {
        let files = dir::read_folder(r, &["md"])?;
        out.push((Kind::Runbooks, format!("file:{}", r.display()), files));
    }
    let config = cfg
        .source
        .as_ref()
        .map_or("config".to_string(), |p| p.display().to_string());
    let text = routes::to_text(&routes::from_config(&cfg.outputs)).map_err(anyhow::Error::msg)?;
    out.push((
        Kind::Routes,
        format!("file:{config}"),
        vec![SettingsFile {
            name: "routes.toml".into(),
            text,
        }],
    ));
    Ok(out)
}

/// Stores each config document that changed since it was last read from its files.
pub async fn sync(store: &dyn Store, cfg: &Config) -> anyhow::Result<()> {
    for (kind, author, files) in from_config(cfg)? {
        let versions = store.settings_versions(kind.as_str()).await?;
        let last_from_file = versions.iter().find(|v| v.author == author);
        let unchanged = match last_from_file {
            Some(v) => store
                .settings_version(kind.as_str(), v.version)
                .await?
                .is_some_and(|v| v.files == files),
            None => false,
        };
        if unchanged {
            continue;
        }
        let written = store
            .settings_apply(
                &[SettingsChange {
                    kind: kind.as_str().to_string(),
                    files,
                    expect: None,
                }],
                &author,
                "read from the files named in config at start",
                Utc::now(),
            )
            .await?;
        for (k, v) in written {
            tracing::info!(kind = %k, version = v, %author, "settings loaded from files");
        }
    }
    Ok(())
}

//! Reads rule files from disk (triage: a file, or a folder's `.yaml`/`.yml` files in name
//! order; Sigma: folders searched recursively) and compiles them. `irene-rules` stays pure.

use anyhow::{bail, Context};
use irene_rules::sigma::SigmaRules;
use irene_rules::{RuleFile, TriageRules};
use std::path::{Path, PathBuf};

pub fn read_rule_files(paths: &[PathBuf]) -> anyhow::Result<Vec<RuleFile>> {
    let mut files = Vec::new();
    for path in paths {
        let meta =
            std::fs::metadata(path).with_context(|| format!("triage rules {}", path.display()))?;
        if meta.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("reading folder {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file()
                        && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
                })
                .collect();
            entries.sort();
            for p in entries {
                files.push(read_one(&p)?);
            }
        } else {
            files.push(read_one(path)?);
        }
    }
    Ok(files)
}

fn read_one(path: &Path) -> anyhow::Result<RuleFile> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(RuleFile {
        name: path.display().to_string(),
        text,
    })
}

/// Reads and compiles; every compile error is listed, one per line.
pub fn load_triage(paths: &[PathBuf]) -> anyhow::Result<TriageRules> {
    let files = read_rule_files(paths)?;
    match TriageRules::compile(&files) {
        Ok(rules) => Ok(rules),
        Err(errors) => {
            let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
            bail!(
                "{} error(s) in triage rules:\n{}",
                errors.len(),
                lines.join("\n")
            )
        }
    }
}

/// Every `.yml`/`.yaml` file under `paths` (folders recursively, in name order), as published
/// in SigmaHQ's tree.
pub fn read_sigma_files(paths: &[PathBuf]) -> anyhow::Result<Vec<RuleFile>> {
    fn walk(path: &Path, out: &mut Vec<RuleFile>) -> anyhow::Result<()> {
        let meta =
            std::fs::metadata(path).with_context(|| format!("sigma rules {}", path.display()))?;
        if !meta.is_dir() {
            out.push(read_one(path)?);
            return Ok(());
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("reading folder {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out)?;
            } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
                out.push(read_one(&p)?);
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    for p in paths {
        walk(p, &mut files)?;
    }
    Ok(files)
}

/// Reads and compiles Sigma rules. Rejected rules do not stop the server: each is logged with
/// its file and reason (`irene rules check --sigma` lists them), and the good ones run.
pub fn load_sigma(paths: &[PathBuf]) -> anyhow::Result<SigmaRules> {
    let files = read_sigma_files(paths)?;
    let (rules, rejected) = SigmaRules::compile(&files);
    if !files.is_empty() {
        tracing::info!(
            loaded = rules.len(),
            rejected = rejected.len(),
            "sigma: {} loaded, {} rejected",
            rules.len(),
            rejected.len()
        );
    }
    for e in &rejected {
        tracing::warn!("sigma rule rejected: {e}");
    }
    Ok(rules)
}

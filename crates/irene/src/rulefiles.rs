//! Reads triage rule files from disk (a file, or a folder's `.yaml`/`.yml` files in name order)
//! and compiles them. The only place rules touch the filesystem; `irene-rules` stays pure.

use anyhow::{bail, Context};
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

//! `irene rules check` and `irene rules test`: compile rule files and try them on payload files,
//! offline. Prints to stdout; changes nothing.

use crate::rulefiles::{load_triage, read_rule_files};
use anyhow::Context;
use irene_rules::TriageRules;
use irene_sources::{decoder, names, split_payload, Limits};
use std::path::PathBuf;
use std::process::ExitCode;

pub fn check(triage: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let files = read_rule_files(triage)?;
    match TriageRules::compile(&files) {
        Ok(rules) => {
            println!(
                "triage: {} rule(s) loaded from {} file(s)",
                rules.len(),
                files.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            println!("triage: {} error(s)", errors.len());
            for e in errors {
                println!("  {e}");
            }
            Ok(ExitCode::from(1))
        }
    }
}

pub fn test(triage: &[PathBuf], source: &str, files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let rules = if triage.is_empty() {
        TriageRules::empty()
    } else {
        load_triage(triage)?
    };
    let dec = decoder(source)
        .with_context(|| format!("unknown source {source:?}; known: {}", names().join(", ")))?;
    let mut failed = false;
    for path in files {
        let body = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let items = match split_payload(&body, &Limits::default()) {
            Ok(items) => items,
            Err(e) => {
                println!("{}: not usable JSON: {e}", path.display());
                failed = true;
                continue;
            }
        };
        for (i, item) in items.iter().enumerate() {
            match dec.decode(item) {
                Ok(decoded) => {
                    for mut alert in decoded.alerts {
                        let verdict = rules.explain(&alert);
                        alert.raw = serde_json::Value::Null;
                        println!("{} item {i}:", path.display());
                        println!(
                            "{}",
                            serde_json::to_string_pretty(&alert).unwrap_or_default()
                        );
                        match &verdict.rule {
                            Some(rule) => println!(
                                "=> severity {} decided by rule {rule:?}",
                                verdict.severity
                            ),
                            None => println!(
                                "=> no rule matched: source severity {} stands",
                                verdict.severity
                            ),
                        }
                        println!("   key {:?}, labels {:?}", verdict.key, verdict.labels);
                        for e in &verdict.errors {
                            println!("   rule {:?} could not be evaluated: {}", e.rule, e.message);
                        }
                    }
                }
                Err(e) => {
                    println!(
                        "{} item {i}: not decodable as {source}: {e}",
                        path.display()
                    );
                    failed = true;
                }
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

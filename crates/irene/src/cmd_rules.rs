//! `irene rules check` and `irene rules test`: compile rule files and try them on payload files,
//! offline. Prints to stdout; changes nothing.

use crate::evaluate::evaluate;
use crate::rulefiles::{load_triage, read_rule_files, read_sigma_files};
use anyhow::Context;
use irene_core::Alert;
use irene_rules::sigma::SigmaRules;
use irene_rules::{TriageRules, Verdict};
use irene_sources::{decoder, names, split_payload, Limits};
use std::path::PathBuf;
use std::process::ExitCode;

pub fn check(triage: &[PathBuf], sigma: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let mut ok = true;
    if !triage.is_empty() {
        let files = read_rule_files(triage)?;
        match TriageRules::compile(&files) {
            Ok(rules) => println!(
                "triage: {} rule(s) loaded from {} file(s)",
                rules.len(),
                files.len()
            ),
            Err(errors) => {
                ok = false;
                println!("triage: {} error(s)", errors.len());
                for e in errors {
                    println!("  {e}");
                }
            }
        }
    }
    if !sigma.is_empty() {
        let files = read_sigma_files(sigma)?;
        let (rules, rejected) = SigmaRules::compile(&files);
        println!("sigma: {} loaded, {} rejected", rules.len(), rejected.len());
        for e in &rejected {
            println!("  {e}");
        }
        ok &= rejected.is_empty();
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn test(
    triage: &[PathBuf],
    sigma: &[PathBuf],
    source: &str,
    files: &[PathBuf],
) -> anyhow::Result<ExitCode> {
    let rules = if triage.is_empty() {
        TriageRules::empty()
    } else {
        load_triage(triage)?
    };
    let (sigma, rejected) = SigmaRules::compile(&read_sigma_files(sigma)?);
    if !rejected.is_empty() {
        println!(
            "sigma: {} loaded, {} rejected (see `irene rules check --sigma`)",
            sigma.len(),
            rejected.len()
        );
    }
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
        let now = chrono::Utc::now();
        let explain = |a: Alert| {
            let v = rules.explain(&a);
            (a, v)
        };
        for (i, item) in items.iter().enumerate() {
            let out = match evaluate(dec, item, now, &sigma, explain) {
                Ok(out) => out,
                Err(e) => {
                    println!(
                        "{} item {i}: not decodable as {source}: {e}",
                        path.display()
                    );
                    failed = true;
                    continue;
                }
            };
            for (j, e) in out.events.into_iter().enumerate() {
                let what = format!(
                    "{} item {i} event {j}: {} {}",
                    path.display(),
                    e.event.source,
                    e.event.name
                );
                if e.detections.is_empty() {
                    println!("{what}: no Sigma rule matches");
                    continue;
                }
                println!("{what}: {} Sigma rule(s) match", e.detections.len());
                println!("   {}", e.detections.join(", "));
                for (alert, verdict) in e.hits {
                    print_verdict(&format!("{what}: Sigma hit"), alert, &verdict);
                }
            }
            for (alert, verdict) in out.alerts {
                print_verdict(&format!("{} item {i}", path.display()), alert, &verdict);
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints a judged alert (without its raw payload) and what decided its severity.
fn print_verdict(what: &str, mut alert: Alert, verdict: &Verdict) {
    // a Sigma hit carries its rule (title, level, author, tags) in raw.rule
    let sigma_rule = alert.raw.get("rule").cloned();
    alert.raw = serde_json::Value::Null;
    println!("{what}:");
    if let Some(rule) = sigma_rule {
        println!("   sigma rule {rule}");
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&alert).unwrap_or_default()
    );
    match &verdict.rule {
        Some(rule) => println!("=> severity {} decided by rule {rule:?}", verdict.severity),
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

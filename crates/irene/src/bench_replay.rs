//! `irene bench --replay`: stores `--replay-alerts` alerts (a mix shaped like the sources'
//! fixtures) through the pipeline's commit, then times a rule replay of a draft that changes
//! verdicts and keys over them: alerts/s, total time, peak RSS. Measures only; asserts nothing.

use crate::bench::BenchArgs;
use crate::pipeline::process_row;
use crate::replay::{self, Plan};
use chrono::Utc;
use irene_core::{Alert, NoCorrelations, NoOutputs};
use irene_rules::sigma::SigmaRules;
use irene_rules::{RuleFile, TriageRules};
use irene_sources::Limits;
use irene_store::{ClaimLimit, Location, NewInbox, Store};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Findings of several sources, as the fixtures have them (decoded at start).
const FIXTURES: &[(&str, &str)] = &[
    (
        "aws.guardduty",
        include_str!("../../sources/tests/fixtures/guardduty/eventbridge_backdoor_ec2_cc_activity_dns_example.json"),
    ),
    (
        "aws.guardduty",
        include_str!("../../sources/tests/fixtures/guardduty/eventbridge_recon_ec2_portprobeunprotectedport_real.json"),
    ),
    (
        "aws.securityhub",
        include_str!("../../sources/tests/fixtures/securityhub/asff_fsbp_ec2.2_default_sg_failed_new.json"),
    ),
    (
        "aws.securityhub",
        include_str!("../../sources/tests/fixtures/securityhub/asff_cis_warning.json"),
    ),
    (
        "gcp.scc",
        include_str!("../../sources/tests/fixtures/gcp-scc/scc_sha_open_firewall_active.json"),
    ),
    (
        "gcp.scc",
        include_str!("../../sources/tests/fixtures/gcp-scc/scc_etd_ssh_brute_force_active.json"),
    ),
    (
        "falco",
        include_str!("../../sources/tests/fixtures/falco/falco_syscall_terminal_shell_in_container.json"),
    ),
];

/// The fixtures' findings as generic alerts (title, type, severity, account, resource, actor).
pub(crate) fn templates() -> Vec<Value> {
    let mut out = Vec::new();
    for (source, text) in FIXTURES {
        let Some(dec) = irene_sources::decoder(source).or_else(|| irene_sources::decoder("auto"))
        else {
            continue;
        };
        let Ok(item) = serde_json::from_str::<Value>(text) else {
            continue;
        };
        let Ok(decoded) = dec.decode(&item) else {
            continue;
        };
        for a in decoded.alerts {
            out.push(template(&a));
        }
    }
    if out.is_empty() {
        out.push(json!({"title": "Bench finding", "type": "Bench:Type", "severity": "medium"}));
    }
    out
}

fn template(a: &Alert) -> Value {
    without_nulls(json!({
        "title": a.title,
        "type": a.kind,
        "severity": a.source_severity.as_str(),
        "account": a.account.clone().unwrap_or_else(|| "111111111111".into()),
        "region": a.region,
        "resource": {"id": a.resource.id, "kind": a.resource.kind},
        "actor": {"ip": a.actor.ip},
    }))
}

/// The value with its null fields left out (the generic decoder wants text or nothing).
fn without_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Alert `i`: template `i % T`, one of `keys` cases per template, every 20th resolving.
fn alert(templates: &[Value], i: usize, keys: usize) -> Value {
    let n = templates.len().max(1);
    let mut a = templates.get(i % n).cloned().unwrap_or(Value::Null);
    let k = (i / n) % keys.max(1);
    a["key"] = json!(format!("bench/{}/{k}", i % n));
    a["account"] = json!(format!("{:012}", 100_000_000_000u64 + (k % 40) as u64));
    if i % 20 == 19 {
        a["state"] = json!("resolved");
    }
    a
}

/// The live rules: a few severity rules over the fixtures' types.
pub(crate) fn live_rules(templates: &[Value]) -> String {
    let mut y = String::new();
    for (i, t) in templates.iter().enumerate().take(4) {
        let kind = t["type"].as_str().unwrap_or("");
        y.push_str(&format!(
            "- name: live-{i}\n  when: 'alert.type == \"{}\"'\n  severity: high\n",
            kind.replace('"', "\\\"").replace('\'', "''")
        ));
    }
    y
}

/// The draft: the live rules, one of them lowered, plus a key template folding two types per
/// account and a raise on one account range.
fn draft_rules(templates: &[Value]) -> String {
    let mut y = live_rules(templates).replacen("severity: high", "severity: low", 1);
    let kinds: Vec<String> = templates
        .iter()
        .skip(4)
        .take(2)
        .filter_map(|t| t["type"].as_str())
        .map(|k| format!("\"{}\"", k.replace('"', "\\\"").replace('\'', "''")))
        .collect();
    if !kinds.is_empty() {
        y = format!(
            "- name: fold-per-account\n  when: 'alert.type in [{}]'\n  key: 'fold/{{{{alert.account}}}}'\n{y}",
            kinds.join(", ")
        );
    }
    y.push_str(
        "- name: raise-account-7\n  when: alert.account == \"100000000007\"\n  severity: urgent\n",
    );
    y
}

pub(crate) fn compile(name: &str, text: String) -> anyhow::Result<TriageRules> {
    TriageRules::compile(&[RuleFile::new(name, text)])
        .map_err(|e| anyhow::anyhow!("{name}: {:?}", e.first().map(|e| e.to_string())))
}

pub async fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let templates = templates();
    let live = compile("live", live_rules(&templates))?;
    let draft = compile("draft", draft_rules(&templates))?;
    let dir = tempfile::tempdir()?;
    // loaded without outputs (the commit plans nothing); the replay plans with four outputs
    let store = irene_store::open(
        &Location::Sqlite(dir.path().to_path_buf()),
        Arc::new(NoOutputs),
        Arc::new(NoCorrelations),
    )
    .await?;
    let started = Instant::now();
    load(&*store, &live, &templates, args.replay_alerts, args.keys).await?;
    println!(
        "replay: {} alerts ({} fixture findings as templates, {} keys each) stored in {:.1} s",
        args.replay_alerts,
        templates.len(),
        args.keys,
        started.elapsed().as_secs_f64()
    );
    let routes = crate::bench::bench_routes()?;
    let plan = Plan {
        live: Arc::new(live),
        draft: Arc::new(draft),
        sigma: None,
        since: Utc::now() - chrono::Duration::days(1),
        until: Utc::now() + chrono::Duration::minutes(1),
        examples: 20,
    };
    let handle = tokio::runtime::Handle::current();
    let store2 = store.clone();
    let started = Instant::now();
    let report = tokio::task::spawn_blocking(move || {
        replay::run(&handle, store2, &routes, &plan, &mut |_| true)
    })
    .await??;
    let secs = started.elapsed().as_secs_f64();
    let t = &report.totals;
    println!(
        "replay: {} alerts in {secs:.1} s = {:.0} alerts/s; {} verdicts changed ({} keys), cases {} -> {}, deliveries {} -> {}",
        t.alerts_scanned,
        t.alerts_scanned as f64 / secs.max(1e-9),
        t.verdicts_changed,
        t.key_changed,
        t.cases_before,
        t.cases_after,
        t.deliveries_before,
        t.deliveries_after,
    );
    match crate::bench::peak_rss_kib() {
        Some(kib) => println!("bench process peak RSS: {:.1} MiB", kib as f64 / 1024.0),
        None => println!("peak RSS: unknown (no /proc)"),
    }
    store.close().await;
    Ok(())
}

/// Stores `n` alerts through the pipeline's path: inbox append, claim, `process_row`, commit.
pub(crate) async fn load(
    store: &dyn Store,
    rules: &TriageRules,
    templates: &[Value],
    n: usize,
    keys: usize,
) -> anyhow::Result<()> {
    let per_payload = 500;
    let (no_sigma, _) = SigmaRules::compile(&[]);
    let limits = Limits::default();
    let mut made = 0;
    while made < n {
        let mut batch = Vec::new();
        for _ in 0..10 {
            if made >= n {
                break;
            }
            let count = per_payload.min(n - made);
            let body = Value::Array(
                (made..made + count)
                    .map(|i| alert(templates, i, keys))
                    .collect(),
            );
            made += count;
            batch.push(NewInbox {
                id: uuid::Uuid::now_v7(),
                source: "generic".into(),
                received_at: Utc::now(),
                body: body.to_string().into_bytes(),
                items: count as i64,
                idempotency_key: None,
                complete_scan: false,
            });
        }
        store.inbox_append(&batch).await?;
        loop {
            let rows = store
                .inbox_claim(
                    "bench",
                    ClaimLimit {
                        payloads: 256,
                        items: 5_000,
                    },
                    Duration::from_secs(600),
                    Utc::now(),
                )
                .await?;
            if rows.is_empty() {
                break;
            }
            let processed: Vec<_> = rows
                .iter()
                .map(|r| process_row(r, rules, &no_sigma, &limits, 5))
                .collect();
            store
                .commit_processed("bench", processed, Utc::now())
                .await?;
        }
    }
    Ok(())
}

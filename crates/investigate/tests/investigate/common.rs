//! Test helpers: fixtures, decoding through irene-sources as the pipeline does, a case, feeds.

use chrono::{DateTime, TimeZone, Utc};
use irene_core::{Alert, Case, CaseStatus, Event};
use irene_investigate::events::NoEvents;
use irene_investigate::feeds::{builtin_feeds, FeedFormat};
use irene_investigate::{EventReader, FeedSet, Input, Investigator, Outcome};
use std::path::PathBuf;
use std::sync::Arc;

pub fn fixture(rel: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn json(rel: &str) -> serde_json::Value {
    serde_json::from_slice(&fixture(rel)).expect("fixture is JSON")
}

/// The alerts a decoder makes of one fixture item, as the pipeline sees them.
pub fn alerts_of(source: &str, item: &serde_json::Value) -> Vec<Alert> {
    let d = irene_sources::decoder(source).expect("decoder");
    d.decode(item).expect("decodes").alerts
}

pub fn alert(source: &str, rel: &str) -> Alert {
    alerts_of(source, &json(rel))
        .into_iter()
        .next()
        .expect("one alert")
}

/// The events a decoder makes of one fixture (a single record or an array of records).
pub fn events(source: &str, rel: &str) -> Vec<Event> {
    let d = irene_sources::decoder(source).expect("decoder");
    let v = json(rel);
    let items = match v {
        serde_json::Value::Array(items) => items,
        other => vec![other],
    };
    items
        .iter()
        .flat_map(|i| d.decode(i).expect("decodes").events)
        .collect()
}

/// A Sigma hit alert on `event`, shaped as `irene_rules::sigma::alert::hit_alert` makes it
/// (raw = `{rule, event}`, actor from the event, its IP an indicator).
pub fn sigma_hit(event: &Event) -> Alert {
    let raw = serde_json::json!({
        "rule": {"id": "test-rule", "title": "Test rule", "level": "high"},
        "event": event.raw,
    });
    let mut a = Alert::new(
        event.source.clone(),
        "test-rule",
        "sigma:test-rule",
        "Test rule",
        irene_core::Severity::High,
        raw,
    );
    a.actor = event.actor.clone();
    a.account = event.account.clone();
    a.observed_at = event.observed_at;
    if let Some(ip) = &event.actor.ip {
        a.add_indicator(irene_core::IndicatorKind::Ip, ip.clone());
    }
    a
}

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 15, 12, 0, 0)
        .single()
        .expect("time")
}

pub fn case_of(alert: &Alert) -> Case {
    Case {
        id: uuid::Uuid::nil(),
        key: alert.key.clone(),
        title: alert.title.clone(),
        source: alert.source.clone(),
        kind: alert.kind.clone(),
        severity: alert.source_severity,
        status: CaseStatus::Open,
        resolution: None,
        first_seen: now(),
        last_seen: now(),
        count: 1,
        account: alert.account.clone(),
        region: alert.region.clone(),
        resource: alert.resource.clone(),
        labels: Vec::new(),
        rule: None,
        last_alert_id: uuid::Uuid::nil(),
        tickets: Vec::new(),
        updated_at: now(),
        raised: None,
    }
}

/// The five built-in feeds loaded from their fixture excerpts (Feodo from both files).
pub fn fixture_feeds() -> FeedSet {
    let mut set = FeedSet::new();
    let files = [
        ("tor", "tor_bulk_exit_list_excerpt.txt"),
        ("spamhaus_drop", "spamhaus_drop_excerpt.txt"),
        ("spamhaus_asndrop", "spamhaus_asndrop_excerpt.jsonl"),
        ("feodo", "feodo_ipblocklist_recommended.txt"),
        ("firehol_level1", "firehol_level1_excerpt.netset"),
    ];
    let defs = builtin_feeds();
    for (name, file) in files {
        let def = defs.iter().find(|d| d.name == name).expect("builtin");
        set.add_body(name, &def.format, &fixture(&format!("threat-intel/{file}")))
            .expect("added");
    }
    let csv: FeedFormat = "csv:dst_ip".parse().expect("format");
    set.add_body(
        "feodo",
        &csv,
        &fixture("threat-intel/feodo_ipblocklist.csv"),
    )
    .expect("added");
    set
}

pub async fn run(inv: &dyn Investigator, alert: &Alert) -> Outcome {
    run_with(inv, alert, &NoEvents).await
}

pub async fn run_with(inv: &dyn Investigator, alert: &Alert, events: &dyn EventReader) -> Outcome {
    let case = case_of(alert);
    let input = Input {
        case: &case,
        alert,
        now: now(),
        events,
        watches: &irene_investigate::NoWatches,
    };
    inv.investigate(&input).await
}

pub fn feeds_arc() -> Arc<FeedSet> {
    Arc::new(fixture_feeds())
}

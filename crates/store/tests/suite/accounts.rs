//! Conformance checks for what the console reads and keeps: the audit log, intake figures per source.

use super::{fresh, Backend};
use chrono::{Duration, Utc};
use irene_store::{AuditFilter, NewAudit};

fn entry(actor: &str, action: &str, target: &str) -> NewAudit {
    NewAudit {
        actor: actor.into(),
        action: action.into(),
        target: target.into(),
        detail: format!("{action} by {actor}"),
    }
}

pub async fn audit_log_lists_newest_first_pages_and_filters_by_actor(b: &dyn Backend) {
    let o = fresh(b).await;
    let s = &o.store;
    let t0 = Utc::now();
    for i in 0..5 {
        let who = if i % 2 == 0 { "ana" } else { "bo" };
        s.audit_add(
            &entry(who, "case.resolve", &format!("c{i}")),
            t0 + Duration::seconds(i),
        )
        .await
        .expect("add");
    }
    let first = s
        .audit_list(&AuditFilter {
            limit: 3,
            ..Default::default()
        })
        .await
        .expect("list");
    let targets: Vec<&str> = first.items.iter().map(|e| e.target.as_str()).collect();
    assert_eq!(targets, ["c4", "c3", "c2"]);
    assert_eq!(first.items[0].detail, "case.resolve by ana");
    assert_eq!(
        first.items[0].at.timestamp(),
        (t0 + Duration::seconds(4)).timestamp()
    );
    let rest = s
        .audit_list(&AuditFilter {
            limit: 3,
            cursor: first.next_cursor.clone(),
            ..Default::default()
        })
        .await
        .expect("next page");
    let targets: Vec<&str> = rest.items.iter().map(|e| e.target.as_str()).collect();
    assert_eq!(targets, ["c1", "c0"]);
    assert!(rest.next_cursor.is_none());
    let bo = s
        .audit_list(&AuditFilter {
            actor: Some("bo".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("by actor");
    assert_eq!(bo.items.len(), 2);
    assert!(bo.items.iter().all(|e| e.actor == "bo"));
    assert!(s
        .audit_list(&AuditFilter {
            cursor: Some("not-a-cursor".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .is_err());
}

pub async fn source_stats_count_payloads_per_intake_source(b: &dyn Backend) {
    use irene_store::NewInbox;
    let o = fresh(b).await;
    let s = &o.store;
    let now = Utc::now();
    let item = |source: &str, at| NewInbox {
        id: uuid::Uuid::now_v7(),
        source: source.to_string(),
        received_at: at,
        body: b"{}".to_vec(),
        items: 1,
        idempotency_key: None,
        complete_scan: false,
    };
    s.inbox_append(&[
        item("aws.guardduty", now - Duration::hours(1)),
        item("aws.guardduty", now - Duration::days(3)),
        item("aws.guardduty", now - Duration::days(9)),
        item("gcp.scc", now - Duration::days(2)),
    ])
    .await
    .expect("append");
    let names = ["aws.guardduty", "gcp.scc", "falco"].map(String::from);
    let stats = s.source_stats(&names, now).await.expect("stats");
    let got: Vec<(&str, i64, i64, bool)> = stats
        .iter()
        .map(|x| {
            (
                x.source.as_str(),
                x.last_day,
                x.last_week,
                x.last_received.is_some(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("aws.guardduty", 1, 2, true),
            ("gcp.scc", 0, 1, true),
            ("falco", 0, 0, false)
        ]
    );
    let last = stats[0].last_received.expect("last");
    assert!((last - (now - Duration::hours(1))).num_seconds().abs() <= 1);
}

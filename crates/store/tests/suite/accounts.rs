//! Conformance checks for the console's records: the audit log.

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

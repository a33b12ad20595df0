//! Conformance checks of the console's counts: open cases by source, alerts per hour, by type
//! and by rule, mean time to resolve, similar cases.

use super::*;
use chrono::Duration as Days;
use irene_store::{HourCount, NameCount, RuleCount};

/// Commits `alerts` as one payload of `source` received at `at`.
async fn commit_at(store: &dyn Store, source: &str, at: DateTime<Utc>, alerts: Vec<Judged>) {
    let mut inbox = payload(source);
    inbox.received_at = at;
    store.inbox_append(&[inbox]).await.expect("append");
    let rows = store
        .inbox_claim("w", ClaimLimit::payloads(10), Duration::from_secs(30), at)
        .await
        .expect("claim");
    assert_eq!(rows.len(), 1);
    let processed = irene_store::Processed {
        inbox_id: rows[0].id,
        received_at: rows[0].received_at,
        alerts: alerts
            .into_iter()
            .enumerate()
            .map(|(i, j)| (i as i64, j))
            .collect(),
        events: vec![],
        quarantine: vec![],
        complete_scan: false,
    };
    store
        .commit_processed("w", vec![processed], at)
        .await
        .expect("commit");
}

fn alert(source: &str, kind: &str, key: &str, rule: Option<&str>) -> Judged {
    let mut j = judged(key, AlertState::Active, Severity::High);
    j.alert.source = source.into();
    j.alert.kind = kind.into();
    j.rule = rule.map(String::from);
    j
}

pub async fn counts_group_by_source_hour_type_and_rule(b: &dyn Backend) {
    let o = fresh(b).await;
    let store = &*o.store;
    // a whole hour, so that the hours below are the ones counted
    let t0 =
        DateTime::from_timestamp(Utc::now().timestamp() / 3600 * 3600 - 5 * 3600, 0).expect("time");
    let h1 = t0 + Days::minutes(70);
    commit_at(
        store,
        "aws.guardduty",
        t0 + Days::minutes(5),
        vec![
            alert("aws.guardduty", "Recon:EC2/Portscan", "g1", Some("noisy")),
            alert("aws.guardduty", "Recon:EC2/Portscan", "g2", Some("noisy")),
            alert("aws.guardduty", "UnauthorizedAccess", "g3", None),
        ],
    )
    .await;
    commit_at(
        store,
        "falco",
        h1,
        vec![alert("falco", "Terminal shell", "f1", Some("shells"))],
    )
    .await;
    let until = t0 + Days::hours(3);

    let by_source = store.open_counts_by_source().await.expect("by source");
    assert_eq!(
        by_source,
        vec![
            NameCount {
                name: "aws.guardduty".into(),
                count: 3
            },
            NameCount {
                name: "falco".into(),
                count: 1
            },
        ]
    );
    store
        .case_resolve(
            store
                .cases_list(&irene_store::CaseFilter {
                    limit: 100,
                    ..Default::default()
                })
                .await
                .expect("list")
                .items[0]
                .id,
            "ana",
            "done",
            until,
        )
        .await
        .expect("resolve");
    let total: i64 = store
        .open_counts_by_source()
        .await
        .expect("by source")
        .iter()
        .map(|c| c.count)
        .sum();
    assert_eq!(total, 3, "a resolved case is not open");

    let hours = store.alerts_per_hour(t0, until).await.expect("per hour");
    assert_eq!(
        hours,
        vec![
            HourCount { hour: t0, count: 3 },
            HourCount {
                hour: t0 + Days::hours(1),
                count: 1
            },
        ]
    );
    assert!(store
        .alerts_per_hour(t0 + Days::hours(2), until)
        .await
        .expect("per hour")
        .is_empty());

    let types = store.alert_type_counts(t0, until, 2).await.expect("types");
    assert_eq!(
        types,
        vec![
            NameCount {
                name: "Recon:EC2/Portscan".into(),
                count: 2
            },
            NameCount {
                name: "Terminal shell".into(),
                count: 1
            },
        ],
        "most first, then by name, cut at the limit"
    );
    let later = store.alert_type_counts(h1, until, 10).await.expect("types");
    assert_eq!(later.len(), 1, "the window's start excludes earlier alerts");

    let recent = store.alerts_recent(2).await.expect("recent");
    assert_eq!(recent.len(), 2);
    assert_eq!(recent[0].judged.alert.key, "f1", "newest first");
    assert_eq!(recent[0].judged.rule.as_deref(), Some("shells"));

    let mut rules = store.alert_rule_counts(t0, until).await.expect("rules");
    rules.sort_by(|a, b| a.rule.cmp(&b.rule));
    assert_eq!(
        rules,
        vec![
            RuleCount {
                rule: None,
                count: 1
            },
            RuleCount {
                rule: Some("noisy".into()),
                count: 2
            },
            RuleCount {
                rule: Some("shells".into()),
                count: 1
            },
        ]
    );
}

pub async fn resolve_times_run_from_the_opening_to_the_resolve(b: &dyn Backend) {
    let o = fresh(b).await;
    let store = &*o.store;
    let t0 = Utc::now() - Days::days(2);
    let mut low = alert("generic", "t", "low", None);
    low.severity = Severity::Low;
    commit_at(
        store,
        "generic",
        t0,
        vec![alert("generic", "t", "high", None), low],
    )
    .await;
    let cases = store
        .cases_list(&irene_store::CaseFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("list")
        .items;
    let id_of = |sev: Severity| {
        let key = if sev == Severity::High { "high" } else { "low" };
        cases
            .iter()
            .find(|c| c.title == format!("Title of {key}"))
            .expect("case")
            .id
    };
    store
        .case_resolve(id_of(Severity::High), "ana", "fixed", t0 + Days::hours(2))
        .await
        .expect("resolve");
    store
        .case_resolve(id_of(Severity::Low), "ana", "fixed", t0 + Days::minutes(30))
        .await
        .expect("resolve");

    let times = store
        .resolve_times(t0, t0 + Days::days(1))
        .await
        .expect("times");
    assert_eq!(times.len(), 2);
    assert_eq!(times[0].severity, Severity::High, "most severe first");
    assert_eq!(times[0].resolves, 1);
    assert!((times[0].mean_seconds - 7200.0).abs() < 1.0, "{times:?}");
    assert_eq!(times[1].severity, Severity::Low);
    assert!((times[1].mean_seconds - 1800.0).abs() < 1.0, "{times:?}");
    let none = store
        .resolve_times(t0 + Days::days(1), t0 + Days::days(2))
        .await
        .expect("times");
    assert!(
        none.is_empty(),
        "resolves outside the window are not counted"
    );
}

pub async fn similar_cases_share_type_and_resource_or_actor(b: &dyn Backend) {
    let o = fresh(b).await;
    let store = &*o.store;
    let t0 = Utc::now() - Days::hours(3);
    let on = |key: &str, kind: &str, resource: &str, ip: Option<&str>| {
        let mut j = alert("generic", kind, key, None);
        j.alert.resource.id = Some(resource.into());
        j.alert.actor.ip = ip.map(String::from);
        j
    };
    commit_at(
        store,
        "generic",
        t0,
        vec![on("me", "T", "r1", Some("203.0.113.9"))],
    )
    .await;
    commit_at(
        store,
        "generic",
        t0 + Days::minutes(1),
        vec![on("same-type-res", "T", "r1", None)],
    )
    .await;
    commit_at(
        store,
        "generic",
        t0 + Days::minutes(2),
        vec![on("same-ip", "Other", "r9", Some("203.0.113.9"))],
    )
    .await;
    commit_at(
        store,
        "generic",
        t0 + Days::minutes(3),
        vec![
            on("other-res", "T", "r2", None),
            on("other-ip", "T", "r3", Some("198.51.100.1")),
        ],
    )
    .await;
    let cases = store
        .cases_list(&irene_store::CaseFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("list")
        .items;
    let me = cases
        .iter()
        .find(|c| c.title == "Title of me")
        .expect("me")
        .id;

    let similar = store.cases_similar(me, 10).await.expect("similar");
    let keys: Vec<&str> = similar.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(
        keys,
        vec!["same-ip", "same-type-res"],
        "newest first, not itself"
    );
    let one = store.cases_similar(me, 1).await.expect("similar");
    assert_eq!(one.len(), 1);
    let lone = cases
        .iter()
        .find(|c| c.key == "other-res")
        .expect("case")
        .id;
    assert!(store
        .cases_similar(lone, 10)
        .await
        .expect("similar")
        .is_empty());
}

//! The pipeline part of the suite: the inbox and its leases, commits, cases and their
//! timelines, filters and pages, quarantine, expiry.

use super::{fresh, judged, payload, run_through, Backend};
use chrono::{Duration as CDuration, Utc};
use irene_core::{AlertState, CaseStatus, Resolution, Severity, TimelineKind, Transition};
use irene_store::{CaseFilter, CaseSort, ClaimLimit, NewInbox, Processed, Quarantined};
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

pub async fn leases_replay_without_doubling(b: &dyn Backend) {
    let s = fresh(b).await;
    let store = &*s.store;
    let p = payload("generic");
    store
        .inbox_append(std::slice::from_ref(&p))
        .await
        .expect("append");
    // Claimed by a worker that then "crashes": the lease is short.
    let t0 = Utc::now();
    let rows = store
        .inbox_claim(
            "crashed",
            ClaimLimit::payloads(10),
            Duration::from_secs(1),
            t0,
        )
        .await
        .expect("claim");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].body, b"{}");
    // Within the lease nobody else gets it…
    assert!(store
        .inbox_claim("w3", ClaimLimit::payloads(10), Duration::from_secs(30), t0)
        .await
        .expect("claim")
        .is_empty());
    // …after it (a stuck worker), it is claimed again.
    let t1 = t0 + CDuration::seconds(2);
    let rows = store
        .inbox_claim("w2", ClaimLimit::payloads(10), Duration::from_secs(30), t1)
        .await
        .expect("claim again");
    assert_eq!(rows.len(), 1, "an expired lease is claimed again");
    assert_eq!(rows[0].id, p.id);
    assert_eq!(rows[0].attempts, 2);
    let mk = |id| Processed {
        inbox_id: id,
        received_at: Utc::now(),
        alerts: vec![(0, judged("k-lease", AlertState::Active, Severity::High))],
        events: vec![],
        quarantine: vec![],
        complete_scan: false,
    };
    // The stuck worker's late commit is refused whole…
    let s = store
        .commit_processed("crashed", vec![mk(p.id)], t1)
        .await
        .expect("commit");
    assert_eq!((s.rows_done, s.rows_skipped, s.alerts), (0, 1, 0));
    // …the owner's goes through, once.
    let s = store
        .commit_processed("w2", vec![mk(p.id)], t1)
        .await
        .expect("commit");
    assert_eq!((s.rows_done, s.alerts, s.changes.len()), (1, 1, 1));
    let s = store
        .commit_processed("w2", vec![mk(p.id)], t1)
        .await
        .expect("commit");
    assert_eq!(s.rows_done, 0, "a row is done only once");
    let page = store
        .cases_list(&CaseFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].count, 1);
    assert_eq!(store.status().await.expect("status").inbox_pending, 0);
}

pub async fn a_transaction_dropped_without_commit_writes_nothing(b: &dyn Backend) {
    let s = fresh(b).await;
    let store = &*s.store;
    let made = run_through(
        store,
        vec![judged("k-tx", AlertState::Active, Severity::Low)],
    )
    .await;
    let mut case = made.changes[0].case.clone();
    for durable in [false, true] {
        let mut tx = store.begin(durable).await.expect("begin");
        case.title = format!("changed, durable {durable}");
        tx.cases_upsert(&[&case]).await.expect("upsert");
        drop(tx);
        let got = store.case_get(case.id).await.expect("get").expect("case");
        assert_eq!(got.case.title, "Title of k-tx", "durable {durable}");
    }
    // The store goes on working, durable writes included.
    let (resolved, change) = store
        .case_resolve(case.id, "alice", "done", Utc::now())
        .await
        .expect("resolve")
        .expect("found");
    assert_eq!(resolved.status, CaseStatus::Resolved);
    assert!(change.is_some());
    run_through(
        store,
        vec![judged("k-tx2", AlertState::Active, Severity::Low)],
    )
    .await;
}

pub async fn case_lifecycle_is_recorded_with_its_timeline(b: &dyn Backend) {
    let s = fresh(b).await;
    let store = &*s.store;
    let s = run_through(store, vec![judged("k1", AlertState::Active, Severity::Low)]).await;
    assert_eq!(s.changes[0].transitions, vec![Transition::Opened]);
    let id = s.changes[0].case.id;
    let s = run_through(
        store,
        vec![
            judged("k1", AlertState::Active, Severity::High),
            judged("k1", AlertState::Resolved, Severity::High),
        ],
    )
    .await;
    assert_eq!(s.changes.len(), 2);
    let s = run_through(
        store,
        vec![judged("k1", AlertState::Active, Severity::High)],
    )
    .await;
    assert_eq!(s.changes[0].transitions, vec![Transition::Reopened]);

    let detail = store.case_get(id).await.expect("get").expect("case exists");
    assert_eq!(detail.case.count, 3);
    assert_eq!(detail.case.status, CaseStatus::Open);
    assert_eq!(detail.case.severity, Severity::High);
    let kinds: Vec<TimelineKind> = detail.timeline.iter().map(|t| t.kind).collect();
    assert_eq!(
        kinds,
        vec![
            TimelineKind::Opened,
            TimelineKind::Occurrence,
            TimelineKind::SeverityChanged,
            TimelineKind::Resolved,
            TimelineKind::Reopened
        ]
    );
    assert_eq!(
        detail.occurrences.len(),
        4,
        "every alert of the key is an occurrence, resolving ones too"
    );
    let alert = store
        .alert_get(detail.occurrences[0].alert_id)
        .await
        .expect("alert")
        .expect("exists");
    assert_eq!(alert.case_id, Some(id));
    assert_eq!(
        alert.judged.alert.raw,
        json!({"key": "k1", "detail": "raw"})
    );

    let (case, change) = store
        .case_resolve(id, "alice", "fixed the bucket", Utc::now())
        .await
        .expect("resolve")
        .expect("found");
    assert_eq!(case.resolution, Some(Resolution::Manual));
    assert!(change.is_some());
    let (_, again) = store
        .case_resolve(id, "alice", "again", Utc::now())
        .await
        .expect("resolve")
        .expect("found");
    assert!(again.is_none(), "resolving a resolved case changes nothing");
    assert!(store
        .case_resolve(Uuid::now_v7(), "a", "b", Utc::now())
        .await
        .expect("resolve")
        .is_none());
}

pub async fn a_resolved_alert_for_an_unknown_key_opens_no_case(b: &dyn Backend) {
    let s = fresh(b).await;
    let store = &*s.store;
    let s = run_through(
        store,
        vec![judged("pass", AlertState::Resolved, Severity::Medium)],
    )
    .await;
    assert_eq!(s.alerts, 1);
    assert!(s.changes.is_empty());
    let page = store
        .cases_list(&CaseFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("list");
    assert!(page.items.is_empty());
}

pub async fn cases_filter_by_account_and_label_and_sort_by_severity(b: &dyn Backend) {
    let s = fresh(b).await;
    let store = &*s.store;
    let mut alerts = Vec::new();
    for (i, sev) in [
        Severity::Low,
        Severity::Urgent,
        Severity::Medium,
        Severity::Urgent,
        Severity::Info,
        Severity::High,
        Severity::Medium,
    ]
    .into_iter()
    .enumerate()
    {
        let mut j = judged(&format!("k{i}"), AlertState::Active, sev);
        if i % 2 == 1 {
            j.alert.account = Some("222222222222".into());
        }
        if i < 3 {
            j.labels = vec!["prod".into(), format!("l{i}")];
        }
        alerts.push(j);
    }
    run_through(store, alerts).await;
    let keys = |f: CaseFilter| async move {
        let mut out = Vec::new();
        let mut f = f;
        loop {
            let page = store.cases_list(&f).await.expect("list");
            out.extend(page.items.iter().map(|c| c.key.clone()));
            match page.next_cursor {
                Some(c) => f.cursor = Some(c),
                None => break,
            }
        }
        out
    };
    let mut by_account = keys(CaseFilter {
        account: Some("222222222222".into()),
        limit: 2,
        ..Default::default()
    })
    .await;
    by_account.sort();
    assert_eq!(by_account, ["k1", "k3", "k5"]);
    let account = CaseFilter {
        account: Some("222222222222".into()),
        cursor: Some("ignored".into()),
        ..Default::default()
    };
    assert_eq!(store.cases_count(&account, 100).await.expect("count"), 3);
    assert_eq!(
        store.cases_count(&account, 2).await.expect("count"),
        2,
        "capped"
    );
    assert_eq!(
        store
            .cases_count(&CaseFilter::default(), 100)
            .await
            .expect("count"),
        7
    );
    let mut by_label = keys(CaseFilter {
        label: Some("prod".into()),
        limit: 2,
        ..Default::default()
    })
    .await;
    by_label.sort();
    assert_eq!(by_label, ["k0", "k1", "k2"]);
    assert!(
        keys(CaseFilter {
            label: Some("pro".into()),
            limit: 2,
            ..Default::default()
        })
        .await
        .is_empty(),
        "a label matches whole"
    );
    // most severe first, pages of two across equal severities
    let sorted = keys(CaseFilter {
        sort: CaseSort::Severity,
        limit: 2,
        ..Default::default()
    })
    .await;
    let sev: Vec<Severity> = {
        let page = store
            .cases_list(&CaseFilter {
                limit: 100,
                ..Default::default()
            })
            .await
            .expect("all");
        sorted
            .iter()
            .map(|k| {
                page.items
                    .iter()
                    .find(|c| &c.key == k)
                    .expect("case")
                    .severity
            })
            .collect()
    };
    assert_eq!(sorted.len(), 7, "each case once: {sorted:?}");
    let mut want = sev.clone();
    want.sort_by(|a, b| b.cmp(a));
    assert_eq!(sev, want, "{sorted:?}");
    assert!(
        store
            .cases_list(&CaseFilter {
                sort: CaseSort::Severity,
                cursor: Some("1700000000.nope".into()),
                limit: 2,
                ..Default::default()
            })
            .await
            .is_err(),
        "a last_seen cursor is no severity cursor"
    );
}

pub async fn cases_filter_and_paginate(b: &dyn Backend) {
    let s = fresh(b).await;
    let store = &*s.store;
    let mut alerts = Vec::new();
    for i in 0..7 {
        let sev = if i % 2 == 0 {
            Severity::High
        } else {
            Severity::Low
        };
        alerts.push(judged(&format!("key-{i}"), AlertState::Active, sev));
    }
    alerts.push(judged("Needle_50%", AlertState::Active, Severity::Info));
    run_through(store, alerts).await;

    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .cases_list(&CaseFilter {
                limit: 3,
                cursor: cursor.clone(),
                ..Default::default()
            })
            .await
            .expect("list");
        seen.extend(page.items.iter().map(|c| c.key.clone()));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    seen.sort();
    let before = seen.len();
    seen.dedup();
    assert_eq!((before, seen.len()), (8, 8), "every case once across pages");

    let table: Vec<(CaseFilter, usize)> = vec![
        (
            CaseFilter {
                severity: Some(Severity::High),
                ..Default::default()
            },
            4,
        ),
        (
            CaseFilter {
                severity: Some(Severity::Low),
                ..Default::default()
            },
            3,
        ),
        (
            CaseFilter {
                status: Some(CaseStatus::Resolved),
                ..Default::default()
            },
            0,
        ),
        (
            CaseFilter {
                status: Some(CaseStatus::Open),
                ..Default::default()
            },
            8,
        ),
        (
            CaseFilter {
                source: Some("generic".into()),
                ..Default::default()
            },
            8,
        ),
        (
            CaseFilter {
                source: Some("aws.guardduty".into()),
                ..Default::default()
            },
            0,
        ),
        (
            CaseFilter {
                q: Some("KEY-3".into()),
                ..Default::default()
            },
            1,
        ),
        (
            CaseFilter {
                q: Some("needle_50%".into()),
                ..Default::default()
            },
            1,
        ),
        (
            CaseFilter {
                q: Some("_5".into()),
                ..Default::default()
            },
            1,
        ),
        (
            CaseFilter {
                q: Some("%".into()),
                ..Default::default()
            },
            1,
        ),
    ];
    for (mut f, want) in table {
        f.limit = 100;
        let got = store.cases_list(&f).await.expect("list").items.len();
        assert_eq!(got, want, "{f:?}");
    }
    assert!(store
        .cases_list(&CaseFilter {
            limit: 3,
            cursor: Some("garbage".into()),
            ..Default::default()
        })
        .await
        .is_err());
}

pub async fn quarantine_keeps_the_item_and_requeues_it(b: &dyn Backend) {
    let s = fresh(b).await;
    let store = &*s.store;
    let p = payload("aws.guardduty");
    store
        .inbox_append(std::slice::from_ref(&p))
        .await
        .expect("append");
    let rows = store
        .inbox_claim(
            "w",
            ClaimLimit::payloads(1),
            Duration::from_secs(30),
            Utc::now(),
        )
        .await
        .expect("claim");
    let q = Quarantined {
        item_index: 0,
        source: "aws.guardduty".into(),
        error: "at /severity: expected a number".into(),
        raw: r#"{"severity":"x"}"#.into(),
    };
    let processed = Processed {
        inbox_id: rows[0].id,
        received_at: rows[0].received_at,
        alerts: vec![],
        events: vec![],
        quarantine: vec![q],
        complete_scan: false,
    };
    store
        .commit_processed("w", vec![processed], Utc::now())
        .await
        .expect("commit");
    assert_eq!(store.status().await.expect("status").quarantined, 1);
    let page = store.quarantine_list(10, None).await.expect("list");
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].raw, json!({"severity": "x"}));
    assert!(page.items[0].error.contains("/severity"));
    let new_inbox = store
        .quarantine_requeue(page.items[0].id, Utc::now())
        .await
        .expect("requeue");
    assert!(new_inbox.is_some());
    assert!(store
        .quarantine_requeue(page.items[0].id, Utc::now())
        .await
        .expect("requeue")
        .is_none());
    let st = store.status().await.expect("status");
    assert_eq!((st.quarantined, st.inbox_pending), (0, 1));
    let rows = store
        .inbox_claim(
            "w",
            ClaimLimit::payloads(1),
            Duration::from_secs(30),
            Utc::now(),
        )
        .await
        .expect("claim");
    assert_eq!(rows[0].body, br#"{"severity":"x"}"#);
    assert_eq!(rows[0].source, "aws.guardduty");
}

pub async fn silent_cases_expire_per_source(b: &dyn Backend) {
    let s = fresh(b).await;
    let store = &*s.store;
    let mut old = judged("old", AlertState::Active, Severity::Medium);
    old.alert.observed_at = Some(Utc::now() - CDuration::days(10));
    let fresh = judged("fresh", AlertState::Active, Severity::Medium);
    run_through(store, vec![old, fresh]).await;
    let none = store
        .cases_expire("aws.guardduty", CDuration::days(7), Utc::now())
        .await
        .expect("expire");
    assert!(none.is_empty(), "other sources are untouched");
    let changes = store
        .cases_expire("generic", CDuration::days(7), Utc::now())
        .await
        .expect("expire");
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].case.key, "old");
    assert_eq!(changes[0].case.resolution, Some(Resolution::Expired));
}

pub async fn release_gives_back_claimed_rows(b: &dyn Backend) {
    let s = fresh(b).await;
    let store = &*s.store;
    store
        .inbox_append(&[payload("generic"), payload("generic")])
        .await
        .expect("append");
    assert_eq!(
        store
            .inbox_claim(
                "w",
                ClaimLimit::payloads(10),
                Duration::from_secs(300),
                Utc::now()
            )
            .await
            .expect("claim")
            .len(),
        2
    );
    assert_eq!(store.inbox_release("w").await.expect("release"), 2);
    assert_eq!(
        store
            .inbox_claim(
                "w2",
                ClaimLimit::payloads(10),
                Duration::from_secs(300),
                Utc::now()
            )
            .await
            .expect("claim")
            .len(),
        2
    );
}

pub async fn every_read_sees_the_latest_commit(b: &dyn Backend) {
    // Reads share pooled connections; a read that leaves its statement unfinished must not pin
    // an old snapshot for the next read on that connection.
    let s = fresh(b).await;
    let store = &*s.store;
    for i in 0..60 {
        run_through(
            store,
            vec![judged(
                &format!("rw-{i}"),
                AlertState::Active,
                Severity::Low,
            )],
        )
        .await;
        assert_eq!(
            store.status().await.expect("status").inbox_pending,
            0,
            "round {i}"
        );
        let page = store
            .cases_list(&CaseFilter {
                limit: 500,
                ..Default::default()
            })
            .await
            .expect("list");
        assert_eq!(
            page.items.len(),
            i + 1,
            "round {i}: a committed case is missing"
        );
        let id = page.items[0].id;
        assert!(
            store.case_get(id).await.expect("get").is_some(),
            "round {i}"
        );
    }
}

pub async fn a_claim_stops_at_its_item_budget(b: &dyn Backend) {
    let s = fresh(b).await;
    let store = &*s.store;
    let sized = |items: i64| NewInbox {
        items,
        ..payload("generic")
    };
    store
        .inbox_append(&[sized(3000), sized(3000), sized(10), sized(1)])
        .await
        .expect("append");
    let limit = ClaimLimit {
        payloads: 100,
        items: 5000,
    };
    let first = store
        .inbox_claim("w", limit, Duration::from_secs(60), Utc::now())
        .await
        .expect("claim");
    assert_eq!(
        first.len(),
        2,
        "3000 items before the third row: it waits for the next claim"
    );
    let second = store
        .inbox_claim("w", limit, Duration::from_secs(60), Utc::now())
        .await
        .expect("claim");
    assert_eq!(second.len(), 2);
    let huge = ClaimLimit {
        payloads: 100,
        items: 1,
    };
    store.inbox_append(&[sized(50_000)]).await.expect("append");
    let third = store
        .inbox_claim("w", huge, Duration::from_secs(60), Utc::now())
        .await
        .expect("claim");
    assert_eq!(
        third.len(),
        1,
        "a payload over the budget is still taken, alone"
    );
}

pub async fn an_idempotency_key_is_stored_once(b: &dyn Backend) {
    let s = fresh(b).await;
    let store = &*s.store;
    let keyed = |key: &str| NewInbox {
        idempotency_key: Some(key.to_string()),
        ..payload("generic")
    };
    let first = keyed("sqs:msg-1");
    let seen = store
        .inbox_append(&[first.clone(), payload("generic"), keyed("sqs:msg-2")])
        .await
        .expect("append");
    assert_eq!(seen, vec![None, None, None]);
    // Redelivered, alone and within a group that repeats a key: only the new key is stored.
    let again = keyed("sqs:msg-1");
    let seen = store
        .inbox_append(&[again, keyed("sqs:msg-3"), keyed("sqs:msg-3")])
        .await
        .expect("append");
    assert_eq!(seen[0], Some(first.id), "the first delivery's id");
    assert_eq!(seen[1], None);
    assert!(
        seen[2].is_some(),
        "a key repeated in one group is stored once"
    );
    let rows = store
        .inbox_claim(
            "w",
            ClaimLimit::payloads(100),
            Duration::from_secs(60),
            Utc::now(),
        )
        .await
        .expect("claim");
    assert_eq!(rows.len(), 4, "three keyed payloads and one without a key");
}

/// Commits one payload appended as `complete_scan`, with `alerts`.
async fn commit_scan(
    store: &dyn irene_store::Store,
    alerts: Vec<irene_core::Judged>,
) -> irene_store::CommitSummary {
    let mut p = payload("generic");
    p.complete_scan = true;
    store.inbox_append(&[p]).await.expect("append");
    let rows = store
        .inbox_claim(
            "w",
            ClaimLimit::payloads(10),
            Duration::from_secs(30),
            Utc::now(),
        )
        .await
        .expect("claim");
    assert_eq!(rows.len(), 1);
    assert!(rows[0].complete_scan, "the mark survives the inbox");
    let processed = Processed {
        inbox_id: rows[0].id,
        received_at: rows[0].received_at,
        alerts: alerts
            .into_iter()
            .enumerate()
            .map(|(i, j)| (i as i64, j))
            .collect(),
        events: vec![],
        quarantine: vec![],
        complete_scan: rows[0].complete_scan,
    };
    store
        .commit_processed("w", vec![processed], Utc::now())
        .await
        .expect("commit")
}

pub async fn a_complete_scan_resolves_the_cases_of_its_scope_it_no_longer_has(b: &dyn Backend) {
    let s = fresh(b).await;
    let store = &*s.store;
    let mut other_account = judged("k9", AlertState::Active, Severity::High);
    other_account.alert.account = Some("222222222222".into());
    run_through(
        store,
        vec![
            judged("k1", AlertState::Active, Severity::High),
            judged("k2", AlertState::Active, Severity::High),
            judged("k3", AlertState::Active, Severity::Low),
            other_account,
        ],
    )
    .await;
    // a scan with nothing in it names no scope: nothing resolves
    let none = commit_scan(store, vec![]).await;
    assert!(none.changes.is_empty());

    let summary = commit_scan(
        store,
        vec![judged("k1", AlertState::Active, Severity::High)],
    )
    .await;
    let mut resolved: Vec<&str> = summary
        .changes
        .iter()
        .filter(|c| c.case.resolution == Some(irene_core::Resolution::Scan))
        .map(|c| c.case.key.as_str())
        .collect();
    resolved.sort();
    assert_eq!(resolved, vec!["k2", "k3"], "{:?}", summary.changes);
    let status = |key: &'static str| async move {
        let page = store
            .cases_list(&CaseFilter {
                q: Some(key.into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .expect("list");
        page.items
            .into_iter()
            .find(|c| c.key == key)
            .map(|c| (c.status, c.resolution))
    };
    assert_eq!(status("k1").await, Some((CaseStatus::Open, None)));
    assert_eq!(
        status("k2").await,
        Some((CaseStatus::Resolved, Some(Resolution::Scan)))
    );
    assert_eq!(
        status("k9").await,
        Some((CaseStatus::Open, None)),
        "another account is another scope"
    );
    // what it says on the timeline
    let k2 = summary
        .changes
        .iter()
        .find(|c| c.case.key == "k2")
        .expect("k2");
    let reason = k2.timeline[0].detail["reason"].as_str().unwrap_or("");
    assert!(
        reason.contains("absent from a complete generic scan of account 111111111111"),
        "{reason}"
    );
}

/// `alerts_scan` pages a window in `(received_at, id)` order, each page after the last one's
/// end, and `alerts_count` counts the same window.
pub async fn alerts_scan_pages_a_window_in_received_order(b: &dyn Backend) {
    let o = fresh(b).await;
    let store = &*o.store;
    let t0 = Utc::now();
    // three payloads, received one second apart, of 3 alerts each
    for p in 0..3i64 {
        let at = t0 + chrono::Duration::seconds(p);
        let mut inbox = payload("generic");
        inbox.received_at = at;
        store.inbox_append(&[inbox]).await.expect("append");
        let rows = store
            .inbox_claim("w", ClaimLimit::payloads(10), Duration::from_secs(30), at)
            .await
            .expect("claim");
        let processed = Processed {
            inbox_id: rows[0].id,
            received_at: rows[0].received_at,
            alerts: (0..3)
                .map(|i| {
                    (
                        i,
                        judged(&format!("k{p}-{i}"), AlertState::Active, Severity::Low),
                    )
                })
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
    let until = t0 + chrono::Duration::seconds(10);
    assert_eq!(store.alerts_count(t0, until).await.expect("count"), 9);
    // the window's start excludes the first payload
    let later = t0 + chrono::Duration::seconds(1);
    assert_eq!(store.alerts_count(later, until).await.expect("count"), 6);
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.alerts_scan(t0, until, after, 2).await.expect("scan");
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        after = page.last().map(|a| (a.received_at, a.id));
        seen.extend(page);
    }
    assert_eq!(seen.len(), 9);
    let order: Vec<_> = seen.iter().map(|a| (a.received_at, a.id)).collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted, "received order, then id");
    let keys: std::collections::HashSet<_> =
        seen.iter().map(|a| a.judged.alert.key.clone()).collect();
    assert_eq!(keys.len(), 9, "every alert once");
    let tail = store
        .alerts_scan(later, t0 + chrono::Duration::seconds(2), None, 100)
        .await
        .expect("scan");
    assert_eq!(tail.len(), 3, "[since, until) holds one payload");
    assert!(tail.iter().all(|a| a.judged.alert.key.starts_with("k1-")));
}

pub async fn an_item_no_inbox_row_holds_is_quarantined_listed_and_requeued(b: &dyn Backend) {
    let s = fresh(b).await;
    let store = &*s.store;
    let q = Quarantined {
        item_index: 0,
        source: "aws.cloudtrail".into(),
        error: "s3://trail/a.json.gz is 90000000 bytes, over max_object_bytes".into(),
        raw: r#"{"bucket":"trail","key":"a.json.gz"}"#.into(),
    };
    let id = store
        .quarantine_add(&q, Utc::now())
        .await
        .expect("quarantine");
    let st = store.status().await.expect("status");
    assert_eq!((st.quarantined, st.inbox_pending), (1, 0));
    let page = store.quarantine_list(10, None).await.expect("list");
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].id, id);
    assert_eq!(page.items[0].source, "aws.cloudtrail");
    assert!(page.items[0].error.contains("max_object_bytes"));
    assert_eq!(
        page.items[0].raw,
        json!({"bucket": "trail", "key": "a.json.gz"})
    );
    // after a fix, it goes into the inbox like any quarantined item
    assert!(store
        .quarantine_requeue(id, Utc::now())
        .await
        .expect("requeue")
        .is_some());
    assert_eq!(store.status().await.expect("status").inbox_pending, 1);
}

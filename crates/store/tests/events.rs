//! The event part of the Store conformance suite: audit-log records stored with their payload,
//! kept once per source id, listed by the investigator's filters with cursors, pruned.

use chrono::{DateTime, Duration as CDuration, TimeZone, Utc};
use irene_core::{Actor, Event};
use irene_store::{
    ClaimLimit, EventFilter, NewInbox, Processed, ProcessedEvent, SqliteStore, Store,
};
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

fn at(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_750_000_000 + s, 0)
        .single()
        .unwrap_or_default()
}

fn event(id: &str, name: &str, principal: &str, ip: Option<&str>, account: &str, t: i64) -> Event {
    Event {
        source: "aws.cloudtrail".into(),
        source_id: Some(id.into()),
        name: name.into(),
        account: Some(account.into()),
        region: Some("us-east-1".into()),
        actor: Actor {
            principal: Some(principal.into()),
            ip: ip.map(str::to_string),
            user_agent: Some("aws-cli/2".into()),
        },
        observed_at: Some(at(t)),
        raw: json!({"eventID": id, "eventName": name}),
    }
}

async fn commit(store: &dyn Store, events: Vec<(Event, Vec<String>)>) -> usize {
    let p = NewInbox {
        id: Uuid::now_v7(),
        source: "aws.cloudtrail".into(),
        received_at: Utc::now(),
        body: b"{}".to_vec(),
        items: 1,
    };
    store.inbox_append(&[p]).await.expect("append");
    let rows = store
        .inbox_claim("w", ClaimLimit::payloads(1), Duration::from_secs(30))
        .await
        .expect("claim");
    let processed = Processed {
        inbox_id: rows[0].id,
        received_at: rows[0].received_at,
        alerts: vec![],
        events: events
            .into_iter()
            .enumerate()
            .map(|(i, (event, detections))| ProcessedEvent {
                index: i as i64,
                event,
                detections,
                hits: vec![],
            })
            .collect(),
        quarantine: vec![],
    };
    store
        .commit_processed("w", vec![processed])
        .await
        .expect("commit")
        .events
}

#[tokio::test]
async fn events_are_kept_once_and_found_by_the_investigators_questions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path()).await.expect("open");
    let stored = commit(
        &store,
        vec![
            (
                event(
                    "e1",
                    "iam.amazonaws.com:CreateUser",
                    "arn:alice",
                    Some("203.0.113.9"),
                    "111",
                    1,
                ),
                vec!["rule-a".into()],
            ),
            (
                event(
                    "e2",
                    "cloudtrail.amazonaws.com:StopLogging",
                    "arn:alice",
                    Some("203.0.113.9"),
                    "111",
                    2,
                ),
                vec!["rule-b".into(), "rule-c".into()],
            ),
            (
                event(
                    "e3",
                    "s3.amazonaws.com:GetObject",
                    "arn:bob",
                    Some("198.51.100.1"),
                    "222",
                    3,
                ),
                vec![],
            ),
            (
                event(
                    "e4",
                    "ec2.amazonaws.com:RunInstances",
                    "arn:bob",
                    None,
                    "111",
                    4,
                ),
                vec![],
            ),
        ],
    )
    .await;
    assert_eq!(stored, 4);
    // The same records delivered again are not stored twice.
    let again = commit(
        &store,
        vec![(
            event(
                "e1",
                "iam.amazonaws.com:CreateUser",
                "arn:alice",
                Some("203.0.113.9"),
                "111",
                1,
            ),
            vec!["rule-a".into()],
        )],
    )
    .await;
    assert_eq!(again, 0);

    let ids = |page: &irene_store::Page<irene_store::StoredEvent>| -> Vec<String> {
        page.items
            .iter()
            .filter_map(|e| e.event.source_id.clone())
            .collect()
    };
    let q = |f: EventFilter| EventFilter { limit: 50, ..f };
    let cases: Vec<(EventFilter, Vec<&str>)> = vec![
        (q(EventFilter::default()), vec!["e4", "e3", "e2", "e1"]),
        (
            q(EventFilter {
                source_ip: Some("203.0.113.9".into()),
                ..Default::default()
            }),
            vec!["e2", "e1"],
        ),
        (
            q(EventFilter {
                principal: Some("arn:bob".into()),
                ..Default::default()
            }),
            vec!["e4", "e3"],
        ),
        (
            q(EventFilter {
                account: Some("111".into()),
                ..Default::default()
            }),
            vec!["e4", "e2", "e1"],
        ),
        (
            q(EventFilter {
                name: Some("cloudtrail.amazonaws.com:StopLogging".into()),
                ..Default::default()
            }),
            vec!["e2"],
        ),
        (
            q(EventFilter {
                since: Some(at(2)),
                until: Some(at(4)),
                ..Default::default()
            }),
            vec!["e3", "e2"],
        ),
        (
            q(EventFilter {
                source: Some("gcp.audit".into()),
                ..Default::default()
            }),
            vec![],
        ),
        (
            q(EventFilter {
                principal: Some("arn:alice".into()),
                account: Some("222".into()),
                ..Default::default()
            }),
            vec![],
        ),
    ];
    for (filter, want) in cases {
        let page = store.events_list(&filter).await.expect("list");
        assert_eq!(ids(&page), want, "{filter:?}");
    }
    let page = store
        .events_list(&q(EventFilter {
            name: Some("cloudtrail.amazonaws.com:StopLogging".into()),
            ..Default::default()
        }))
        .await
        .expect("list");
    let e = &page.items[0];
    assert_eq!(e.detections, vec!["rule-b", "rule-c"]);
    assert_eq!(
        e.event.raw["eventName"],
        "cloudtrail.amazonaws.com:StopLogging"
    );
    assert_eq!(e.event.actor.ip.as_deref(), Some("203.0.113.9"));

    // Cursors walk every event once.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .events_list(&EventFilter {
                limit: 3,
                cursor: cursor.clone(),
                ..Default::default()
            })
            .await
            .expect("page");
        seen.extend(ids(&page));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, vec!["e4", "e3", "e2", "e1"]);
    assert!(store
        .events_list(&EventFilter {
            limit: 3,
            cursor: Some("garbage".into()),
            ..Default::default()
        })
        .await
        .is_err());

    // Retention: events received before the cut are forgotten.
    assert_eq!(
        store
            .events_prune(Utc::now() - CDuration::hours(1))
            .await
            .expect("prune"),
        0
    );
    assert_eq!(
        store
            .events_prune(Utc::now() + CDuration::seconds(1))
            .await
            .expect("prune"),
        4
    );
    assert!(store
        .events_list(&q(EventFilter::default()))
        .await
        .expect("list")
        .items
        .is_empty());
}

#[tokio::test]
async fn correlation_windows_are_saved_with_the_commit_that_made_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = SqliteStore::open(dir.path()).await.expect("open");
        assert_eq!(store.sigma_windows().await.expect("load"), None);
        for (n, state) in [(1, r#"{"w":1}"#), (2, r#"{"w":2}"#)] {
            let p = NewInbox {
                id: Uuid::now_v7(),
                source: "aws.cloudtrail".into(),
                received_at: Utc::now(),
                body: b"{}".to_vec(),
                items: 1,
            };
            store.inbox_append(&[p]).await.expect("append");
            let rows = store
                .inbox_claim("w", ClaimLimit::payloads(1), Duration::from_secs(30))
                .await
                .expect("claim");
            let processed = Processed {
                inbox_id: rows[0].id,
                received_at: rows[0].received_at,
                alerts: vec![],
                events: vec![],
                quarantine: vec![],
            };
            // A worker that lost its lease saves nothing.
            let s = store
                .commit_processed_with("other", vec![processed.clone()], Some("{\"stale\":true}"))
                .await
                .expect("commit");
            assert_eq!(s.rows_done, 0);
            store
                .commit_processed_with("w", vec![processed], Some(state))
                .await
                .expect("commit");
            assert_eq!(
                store.sigma_windows().await.expect("load").as_deref(),
                Some(state),
                "after {n}"
            );
        }
        store.close().await;
    }
    let store = SqliteStore::open(dir.path()).await.expect("reopen");
    assert_eq!(
        store.sigma_windows().await.expect("load").as_deref(),
        Some(r#"{"w":2}"#),
        "a restart finds the windows of the last commit"
    );
}

//! The event part of the suite: audit-log records stored with their payload, kept once per
//! source id, listed by the investigator's filters with cursors, pruned; and the correlation
//! windows only new events move, kept as rows in the commit's transaction.

use super::{commit_one, fresh, judged, Backend};
use chrono::{DateTime, Duration as CDuration, TimeZone, Utc};
use irene_core::{
    Actor, AlertState, Correlator, Event, Fed, NoOutputs, Severity, WindowKey, WindowRow,
};
use irene_store::{EventFilter, ProcessedEvent, Store};
use serde_json::json;
use std::sync::{Arc, Mutex};

pub fn at(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_750_000_000 + s, 0)
        .single()
        .unwrap_or_default()
}

pub fn event(
    id: &str,
    name: &str,
    principal: &str,
    ip: Option<&str>,
    account: &str,
    t: i64,
) -> Event {
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

/// Commits one payload of these events and detections; how many were new.
pub async fn commit(store: &dyn Store, events: Vec<(Event, Vec<String>)>) -> usize {
    commit_one(store, "aws.cloudtrail", Utc::now(), |p| {
        p.events = events
            .into_iter()
            .enumerate()
            .map(|(i, (event, detections))| ProcessedEvent {
                index: i as i64,
                event,
                detections,
                hits: vec![],
            })
            .collect();
    })
    .await
    .events
}

pub async fn events_are_kept_once_and_found_by_the_investigators_questions(b: &dyn Backend) {
    let s = fresh(b).await;
    let store = &*s.store;
    let stored = commit(
        store,
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
        store,
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

/// Counts events with detections per principal: two fire an alert keyed by the principal
/// (and empty the window). Records every event it is fed, in order.
#[derive(Default)]
struct PairCounter {
    fed: Mutex<Vec<String>>,
}

impl Correlator for PairCounter {
    fn keys(&self, event: &Event, detections: &[String]) -> Vec<WindowKey> {
        if detections.is_empty() {
            return vec![];
        }
        vec![WindowKey {
            correlation: "pair".into(),
            group: event.actor.principal.clone().unwrap_or_default(),
        }]
    }

    fn feed(
        &self,
        event: &Event,
        _detections: &[String],
        at: DateTime<Utc>,
        rows: &[WindowRow],
    ) -> Fed {
        if let Ok(mut fed) = self.fed.lock() {
            fed.push(event.source_id.clone().unwrap_or_default());
        }
        let key = self.keys(event, &["x".into()]).remove(0);
        let count = rows
            .iter()
            .find(|r| r.key == key)
            .and_then(|r| r.state.parse::<u32>().ok())
            .unwrap_or(0)
            + 1;
        if count >= 2 {
            Fed {
                alerts: vec![judged(
                    &format!("pair:{}", key.group),
                    AlertState::Active,
                    Severity::High,
                )],
                upsert: vec![],
                delete: vec![key],
            }
        } else {
            Fed {
                alerts: vec![],
                upsert: vec![WindowRow {
                    key,
                    state: count.to_string(),
                    expires_at: at + CDuration::hours(1),
                }],
                delete: vec![],
            }
        }
    }
}

pub async fn only_new_events_move_correlation_windows(b: &dyn Backend) {
    let counter = Arc::new(PairCounter::default());
    let s = b.open(Arc::new(NoOutputs), counter.clone()).await;
    let store = &*s.store;
    let e = |id: &str, who: &str, t: i64| event(id, "x:Y", who, None, "111", t);
    let hit = || vec!["rule-a".to_string()];
    let fed = || counter.fed.lock().map(|f| f.clone()).unwrap_or_default();
    let cases = || async {
        store
            .cases_list(&irene_store::CaseFilter {
                limit: 50,
                ..Default::default()
            })
            .await
            .expect("list")
            .items
            .into_iter()
            .map(|c| c.key)
            .collect::<Vec<_>>()
    };

    // An event without detections is not fed; one with is, and its window is a row.
    commit(
        store,
        vec![(e("n1", "alice", 1), vec![]), (e("a1", "alice", 2), hit())],
    )
    .await;
    assert_eq!(fed(), vec!["a1"]);
    assert!(cases().await.is_empty());
    // The same record again (a redelivery) is not new: it is not fed, it counts nothing.
    commit(store, vec![(e("a1", "alice", 2), hit())]).await;
    assert_eq!(fed(), vec!["a1"]);
    assert!(
        cases().await.is_empty(),
        "a duplicate must not complete the pair"
    );
    // A new one completes the pair, read from the row the first one left: the alert it fires
    // becomes a case in the same commit.
    let s2 = commit_one(store, "aws.cloudtrail", Utc::now(), |p| {
        for (i, (ev, det)) in [
            (e("a1", "alice", 2), hit()),
            (e("b1", "bob", 3), hit()),
            (e("a2", "alice", 4), hit()),
        ]
        .into_iter()
        .enumerate()
        {
            p.events.push(ProcessedEvent {
                index: i as i64,
                event: ev,
                detections: det,
                hits: vec![],
            });
        }
    })
    .await;
    assert_eq!(
        fed(),
        vec!["a1", "b1", "a2"],
        "only new events, in item order"
    );
    assert_eq!((s2.events, s2.alerts, s2.changes.len()), (2, 1, 1));
    assert_eq!(cases().await, vec!["pair:alice"]);
    // Bob's window is a row that expires an hour after his event (long ago); carol's, in ten
    // days. A row is pruned a day after its expiry, once no commit has written it for a day.
    let in_ten_days = (Utc::now() + CDuration::days(10)).timestamp() - at(0).timestamp();
    commit(store, vec![(e("c1", "carol", in_ten_days), hit())]).await;
    assert_eq!(
        store
            .windows_prune(Utc::now() + CDuration::hours(12))
            .await
            .expect("prune"),
        0,
        "written within the day"
    );
    assert_eq!(
        store
            .windows_prune(Utc::now() + CDuration::days(2))
            .await
            .expect("prune"),
        1,
        "bob's only: carol's has not expired"
    );
    // Pruned, bob starts again from nothing.
    commit(store, vec![(e("b2", "bob", 5), hit())]).await;
    assert_eq!(cases().await, vec!["pair:alice"]);
    commit(store, vec![(e("b3", "bob", 6), hit())]).await;
    let mut got = cases().await;
    got.sort();
    assert_eq!(got, vec!["pair:alice", "pair:bob"]);
}

pub async fn a_feed_keeps_its_last_good_copy(b: &dyn Backend) {
    let s = fresh(b).await;
    let store = &*s.store;
    let t0 = chrono::Utc::now();
    // A first attempt that fails leaves a row without a copy, and says why.
    store
        .feed_checked(
            "tor",
            "http://feeds.test/tor",
            "ip-lines",
            Some("502 Bad Gateway"),
            t0,
        )
        .await
        .expect("checked");
    let feeds = store.feeds_list(true).await.expect("list");
    assert_eq!(feeds.len(), 1);
    assert!(feeds[0].body.is_empty() && feeds[0].fetched_at.is_none());
    assert_eq!(feeds[0].last_error.as_deref(), Some("502 Bad Gateway"));
    let copy = irene_store::FeedCopy {
        name: "tor".into(),
        url: "http://feeds.test/tor".into(),
        format: "ip-lines".into(),
        etag: Some("\"v1\"".into()),
        last_modified: None,
        body: b"185.220.101.18\n".to_vec(),
        entries: 1,
        fetched_at: Some(t0),
        checked_at: t0,
        last_error: None,
    };
    store.feed_saved(&copy).await.expect("saved");
    // A later failure keeps the copy and its time; a 304 makes it current again.
    let t1 = t0 + chrono::Duration::minutes(10);
    store
        .feed_checked(
            "tor",
            "http://feeds.test/tor",
            "ip-lines",
            Some("timed out"),
            t1,
        )
        .await
        .expect("checked");
    let f = &store.feeds_list(true).await.expect("list")[0];
    assert_eq!(f.body, copy.body);
    assert_eq!(f.etag, copy.etag);
    assert_eq!(
        f.fetched_at.map(|t| t.timestamp_micros()),
        Some(t0.timestamp_micros())
    );
    assert_eq!(f.last_error.as_deref(), Some("timed out"));
    let t2 = t1 + chrono::Duration::minutes(10);
    store
        .feed_checked("tor", "http://feeds.test/tor", "ip-lines", None, t2)
        .await
        .expect("checked");
    let f = &store.feeds_list(false).await.expect("list")[0];
    assert!(f.body.is_empty(), "listed without bodies");
    assert_eq!(f.entries, 1);
    assert_eq!(
        f.fetched_at.map(|t| t.timestamp_micros()),
        Some(t2.timestamp_micros())
    );
    assert_eq!(f.last_error, None);
}

//! What only the PostgreSQL backend has: several instances (stores with their own pools) on one
//! database, committing and claiming at once; and leases that outlive a restart until they expire.
// Tests may unwrap and expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod postgres_db;
mod suite;

use chrono::{DateTime, Duration as CDuration, Utc};
use irene_core::{Action, AlertState, Correlator, Event, Fed, Severity, WindowKey, WindowRow};
use irene_store::{CaseFilter, ClaimLimit, NewDelivery, PgStore, Processed, ProcessedEvent, Store};
use sqlx::Connection;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use suite::{judged, payload};
use tokio::sync::Barrier;

/// Two instances on one fresh database (and the guard that drops it).
async fn two_instances() -> (Arc<PgStore>, Arc<PgStore>, postgres_db::TestDb) {
    let db = postgres_db::create().await;
    let a = PgStore::open(&db.url).await.expect("open a");
    let b = PgStore::open(&db.url).await.expect("open b");
    (Arc::new(a), Arc::new(b), db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_committing_the_same_new_key_open_one_case() {
    let (a, b, _db) = two_instances().await;
    const KEYS: usize = 20;
    let now = Utc::now();
    // three rounds of new keys, then the first round's keys again: existing cases that both
    // instances change at once (their rows are locked, so no occurrence is lost)
    for round in [0, 1, 2, 0] {
        // two payloads per key, claimed up front (the lease owner is a name, not a store)
        let items: Vec<_> = (0..2 * KEYS).map(|_| payload("generic")).collect();
        a.inbox_append(&items).await.expect("append");
        let rows = a
            .inbox_claim(
                "w",
                ClaimLimit::payloads(2 * KEYS),
                Duration::from_secs(300),
                now,
            )
            .await
            .expect("claim");
        assert_eq!(rows.len(), 2 * KEYS);
        let barrier = Arc::new(Barrier::new(2 * KEYS));
        let mut tasks = Vec::new();
        for (j, row) in rows.iter().enumerate() {
            let store = if j % 2 == 0 { a.clone() } else { b.clone() };
            let key = format!("r{round}-k{}", j / 2);
            let processed = Processed {
                inbox_id: row.id,
                received_at: row.received_at,
                alerts: vec![(0, judged(&key, AlertState::Active, Severity::High))],
                events: vec![],
                quarantine: vec![],
                complete_scan: false,
            };
            let barrier = barrier.clone();
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                store.commit_processed("w", vec![processed], now).await
            }));
        }
        for t in tasks {
            let summary = t.await.expect("task").expect("commit");
            assert_eq!(summary.rows_done, 1, "every payload is committed once");
        }
    }
    let mut cases = HashMap::new();
    let mut cursor = None;
    loop {
        let page = b
            .cases_list(&CaseFilter {
                limit: 500,
                cursor: cursor.clone(),
                ..CaseFilter::default()
            })
            .await
            .expect("list");
        for c in page.items {
            assert!(
                cases.insert(c.key.clone(), c.count).is_none(),
                "a second case for key {}",
                c.key
            );
        }
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(cases.len(), KEYS * 3, "exactly one case per key");
    for (key, count) in &cases {
        let expected = if key.starts_with("r0-") { 4 } else { 2 };
        assert_eq!(*count, expected, "every occurrence of {key} is counted");
    }
    assert_eq!(a.status().await.expect("status").inbox_pending, 0);
}

/// Counts every event with detections in one window row per principal (state: the count).
struct Counter;

impl Correlator for Counter {
    fn keys(&self, event: &Event, detections: &[String]) -> Vec<WindowKey> {
        if detections.is_empty() {
            return vec![];
        }
        vec![WindowKey {
            correlation: "count".into(),
            group: event.actor.principal.clone().unwrap_or_default(),
        }]
    }

    fn feed(&self, event: &Event, d: &[String], at: DateTime<Utc>, rows: &[WindowRow]) -> Fed {
        let key = self.keys(event, d).remove(0);
        let count = rows
            .iter()
            .find(|r| r.key == key)
            .and_then(|r| r.state.parse::<u32>().ok())
            .unwrap_or(0)
            + 1;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_creating_one_window_row_count_both_events() {
    let db = postgres_db::create().await;
    let open = || async {
        Arc::new(
            PgStore::open(&db.url)
                .await
                .expect("open")
                .with_correlator(Arc::new(Counter)),
        )
    };
    let (a, b) = (open().await, open().await);
    const PRINCIPALS: usize = 20;
    let now = Utc::now();
    let items: Vec<_> = (0..2 * PRINCIPALS)
        .map(|_| payload("aws.cloudtrail"))
        .collect();
    a.inbox_append(&items).await.expect("append");
    let rows = a
        .inbox_claim(
            "w",
            ClaimLimit::payloads(2 * PRINCIPALS),
            Duration::from_secs(300),
            now,
        )
        .await
        .expect("claim");
    assert_eq!(rows.len(), 2 * PRINCIPALS);
    let barrier = Arc::new(Barrier::new(2 * PRINCIPALS));
    let mut tasks = Vec::new();
    for (j, row) in rows.iter().enumerate() {
        let store = if j % 2 == 0 { a.clone() } else { b.clone() };
        let event = suite::events::event(
            &format!("e{j}"),
            "x:Y",
            &format!("p{}", j / 2),
            None,
            "111",
            0,
        );
        let processed = Processed {
            inbox_id: row.id,
            received_at: row.received_at,
            alerts: vec![],
            events: vec![ProcessedEvent {
                index: 0,
                event,
                detections: vec!["rule".into()],
                hits: vec![],
            }],
            quarantine: vec![],
            complete_scan: false,
        };
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.commit_processed("w", vec![processed], now).await
        }));
    }
    for t in tasks {
        t.await.expect("task").expect("commit");
    }
    let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    let windows: Vec<(String, String)> =
        sqlx::query_as("SELECT grp, state FROM correlation_windows ORDER BY grp")
            .fetch_all(&mut conn)
            .await
            .expect("windows");
    conn.close().await.ok();
    assert_eq!(windows.len(), PRINCIPALS, "one row per principal");
    for (grp, state) in windows {
        assert_eq!(state, "2", "both events of {grp} are counted");
    }
}

/// Claims in a loop from both instances at once until nothing is left; what each claimed.
async fn claim_all<F, Fut>(claim: F) -> (Vec<String>, Vec<String>)
where
    F: Fn(&'static str) -> Fut + Send + Sync + 'static + Clone,
    Fut: std::future::Future<Output = Vec<String>> + Send,
{
    let run = |owner: &'static str| {
        let claim = claim.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            let mut empty = 0;
            // a few empty claims in a row: the other instance holds the rest
            while empty < 3 {
                let got = claim(owner).await;
                if got.is_empty() {
                    empty += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                } else {
                    empty = 0;
                    mine.extend(got);
                }
            }
            mine
        })
    };
    let (x, y) = tokio::join!(run("x"), run("y"));
    (x.expect("x"), y.expect("y"))
}

fn assert_disjoint_and_whole(x: &[String], y: &[String], all: usize) {
    let xs: HashSet<&String> = x.iter().collect();
    let ys: HashSet<&String> = y.iter().collect();
    assert_eq!(xs.len(), x.len(), "an instance claimed a row twice");
    assert_eq!(ys.len(), y.len(), "an instance claimed a row twice");
    assert!(xs.is_disjoint(&ys), "two instances claimed the same row");
    assert_eq!(xs.len() + ys.len(), all, "every row was claimed");
    assert!(!x.is_empty() && !y.is_empty(), "both instances claimed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_never_claim_the_same_inbox_row() {
    let (a, b, _db) = two_instances().await;
    let items: Vec<_> = (0..300).map(|_| payload("generic")).collect();
    a.inbox_append(&items).await.expect("append");
    let now = Utc::now();
    let (x, y) = claim_all(move |owner| {
        let store = if owner == "x" { a.clone() } else { b.clone() };
        async move {
            store
                .inbox_claim(
                    owner,
                    ClaimLimit::payloads(7),
                    Duration::from_secs(300),
                    now,
                )
                .await
                .expect("claim")
                .into_iter()
                .map(|r| r.id.to_string())
                .collect()
        }
    })
    .await;
    assert_disjoint_and_whole(&x, &y, 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_never_claim_the_same_delivery() {
    let (a, b, _db) = two_instances().await;
    let now = Utc::now();
    let items: Vec<NewDelivery> = (0..300)
        .map(|i| NewDelivery {
            case: None,
            output: format!("out{}", i % 3),
            action: Action::Digest,
            detail: serde_json::json!({"n": i}),
        })
        .collect();
    a.outbox_enqueue(&items, now).await.expect("enqueue");
    let later = now + CDuration::seconds(1);
    let (x, y) = claim_all(move |owner| {
        let store = if owner == "x" { a.clone() } else { b.clone() };
        async move {
            store
                .outbox_claim(owner, 7, Duration::from_secs(300), later)
                .await
                .expect("claim")
                .into_iter()
                .map(|d| d.id.to_string())
                .collect()
        }
    })
    .await;
    assert_disjoint_and_whole(&x, &y, 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_send_one_delivery_of_a_lane_at_a_time() {
    let (a, b, _db) = two_instances().await;
    const CASES: usize = 10;
    for i in 0..CASES {
        suite::run_through(
            &*a,
            vec![judged(
                &format!("lane{i}"),
                AlertState::Active,
                Severity::High,
            )],
        )
        .await;
    }
    let cases = a
        .cases_list(&CaseFilter {
            limit: 100,
            ..CaseFilter::default()
        })
        .await
        .expect("list")
        .items;
    assert_eq!(cases.len(), CASES);
    let now = Utc::now();
    // five deliveries per lane (case x output), interleaved across lanes
    let items: Vec<NewDelivery> = (0..5)
        .flat_map(|n| {
            cases.iter().map(move |c| NewDelivery {
                case: Some(c.clone()),
                output: "chat".into(),
                action: Action::Reminder,
                detail: serde_json::json!({"n": n}),
            })
        })
        .collect();
    a.outbox_enqueue(&items, now).await.expect("enqueue");
    let later = now + CDuration::seconds(1);
    let (x, y) = claim_all(move |owner| {
        let store = if owner == "x" { a.clone() } else { b.clone() };
        async move {
            store
                .outbox_claim(owner, 3, Duration::from_secs(300), later)
                .await
                .expect("claim")
                .into_iter()
                .map(|d| {
                    format!(
                        "{}/{}",
                        d.case_id.map(|c| c.to_string()).unwrap_or_default(),
                        d.detail["n"]
                    )
                })
                .collect()
        }
    })
    .await;
    // nothing is finished: each lane's first delivery alone goes out, whoever claims it
    let mut claimed: Vec<String> = x.into_iter().chain(y).collect();
    claimed.sort();
    let mut expected: Vec<String> = cases.iter().map(|c| format!("{}/0", c.id)).collect();
    expected.sort();
    assert_eq!(claimed, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_never_claim_the_same_investigation() {
    let db = postgres_db::create().await;
    let open = || async {
        Arc::new(
            PgStore::open(&db.url)
                .await
                .expect("open")
                .with_planner(Arc::new(suite::investigations::InvestigatingPlanner)),
        )
    };
    let (a, b) = (open().await, open().await);
    const CASES: usize = 50;
    for i in 0..CASES {
        suite::run_through(
            &*a,
            vec![judged(
                &format!("job{i}"),
                AlertState::Active,
                Severity::High,
            )],
        )
        .await;
    }
    let now = Utc::now();
    let (x, y) = claim_all(move |owner| {
        let store = if owner == "x" { a.clone() } else { b.clone() };
        async move {
            store
                .investigations_claim(owner, 3, Duration::from_secs(300), now)
                .await
                .expect("claim")
                .into_iter()
                .map(|j| j.id.to_string())
                .collect()
        }
    })
    .await;
    assert_disjoint_and_whole(&x, &y, 2 * CASES);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_finishing_one_batch_at_once_write_one_note() {
    let db = postgres_db::create().await;
    let open = || async {
        Arc::new(
            PgStore::open(&db.url)
                .await
                .expect("open")
                .with_planner(Arc::new(suite::investigations::InvestigatingPlanner)),
        )
    };
    let (a, b) = (open().await, open().await);
    const CASES: usize = 10;
    for i in 0..CASES {
        suite::run_through(
            &*a,
            vec![judged(
                &format!("inv{i}"),
                AlertState::Active,
                Severity::High,
            )],
        )
        .await;
    }
    let now = Utc::now();
    // both jobs of every batch (investigators a and b), then each finished by another instance
    let jobs = a
        .investigations_claim("w", 100, Duration::from_secs(300), now)
        .await
        .expect("claim");
    assert_eq!(jobs.len(), 2 * CASES);
    let barrier = Arc::new(Barrier::new(jobs.len()));
    let mut tasks = Vec::new();
    for job in &jobs {
        let store = if job.investigator == "a" {
            a.clone()
        } else {
            b.clone()
        };
        let (id, barrier) = (job.id, barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store
                .investigation_finish(
                    "w",
                    id,
                    irene_store::InvestigationResult {
                        status: "done".into(),
                        reason: None,
                        findings: serde_json::json!({}),
                        summary: "ok".into(),
                        attachments: vec![],
                        retry_at: None,
                        fixed: None,
                    },
                    now,
                )
                .await
        }));
    }
    for t in tasks {
        t.await.expect("task").expect("finish");
    }
    let notes = a
        .outbox_list(&irene_store::DeliveryFilter {
            limit: 500,
            ..Default::default()
        })
        .await
        .expect("list")
        .items;
    let mut per_case: HashMap<String, usize> = HashMap::new();
    for d in notes.iter().filter(|d| d.action == Action::Note) {
        *per_case
            .entry(d.case_id.map(|c| c.to_string()).unwrap_or_default())
            .or_default() += 1;
    }
    assert_eq!(
        per_case.len(),
        CASES,
        "every batch wrote its note: {per_case:?}"
    );
    assert!(
        per_case.values().all(|n| *n == 1),
        "one note per batch: {per_case:?}"
    );
}

#[tokio::test]
async fn leases_survive_a_restart_until_they_expire() {
    let db = postgres_db::create().await;
    let p = payload("generic");
    let now: DateTime<Utc> = Utc::now();
    {
        let store = PgStore::open(&db.url).await.expect("open");
        store
            .inbox_append(std::slice::from_ref(&p))
            .await
            .expect("append");
        // claimed by an instance that then "crashes", with an hour's lease
        let rows = store
            .inbox_claim(
                "dead-instance",
                ClaimLimit::payloads(10),
                Duration::from_secs(3600),
                now,
            )
            .await
            .expect("claim");
        assert_eq!(rows.len(), 1);
        store.close().await;
    }
    // other instances share the database: opening it frees nobody's leases
    let store = PgStore::open(&db.url).await.expect("reopen");
    let rows = store
        .inbox_claim(
            "w",
            ClaimLimit::payloads(10),
            Duration::from_secs(30),
            now + CDuration::minutes(1),
        )
        .await
        .expect("claim after reopen");
    assert!(rows.is_empty(), "the lease still holds after a reopen");
    assert_eq!(store.status().await.expect("status").inbox_pending, 1);
    let rows = store
        .inbox_claim(
            "w",
            ClaimLimit::payloads(10),
            Duration::from_secs(30),
            now + CDuration::hours(2),
        )
        .await
        .expect("claim after expiry");
    assert_eq!(rows.len(), 1, "an expired lease is claimed again");
    assert_eq!((rows[0].id, rows[0].attempts), (p.id, 2));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_instance_alone_is_told_a_job_is_due() {
    let (a, b, _db) = two_instances().await;
    let now = Utc::now();
    let every = Duration::from_secs(3600);
    assert!(!a.job_due("digest", every, now).await.expect("job"));
    let later = now + CDuration::hours(2);
    let (x, y) = tokio::join!(
        a.job_due("digest", every, later),
        b.job_due("digest", every, later)
    );
    let due = [x.expect("a"), y.expect("b")];
    assert_eq!(due.iter().filter(|d| **d).count(), 1, "{due:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_instance_leads_and_the_lead_moves_when_it_goes() {
    let (a, b, db) = two_instances().await;
    assert!(a.lead().await.expect("a asks"), "the first to ask leads");
    assert!(a.lead().await.expect("a again"), "and keeps leading");
    assert!(!b.lead().await.expect("b asks"), "one leader at a time");
    // a third instance comes and goes: still b stands by
    let c = PgStore::open(&db.url).await.expect("open c");
    assert!(!c.lead().await.expect("c asks"));
    c.close().await;
    assert!(!b.lead().await.expect("b asks again"));
    // the leader goes (its sessions end): the next to ask leads
    a.close().await;
    assert!(
        b.lead().await.expect("b asks after a left"),
        "the lead moved"
    );
    assert!(b.lead().await.expect("b keeps it"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_taking_turns_at_once_get_distinct_turns_within_the_budget() {
    let (a, b, _db) = two_instances().await;
    // the store keeps microseconds
    let now = DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap();
    let pace = Duration::from_millis(100);
    let barrier = Arc::new(Barrier::new(20));
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store
                .pace_reserve("github:k", pace, 15, Duration::from_secs(60), now)
                .await
                .expect("reserve")
        }));
    }
    let mut at = Vec::new();
    let mut budget = 0;
    for t in tasks {
        match t.await.expect("task") {
            irene_core::PaceTurn::At(t) => at.push(t),
            irene_core::PaceTurn::Budget { taken, .. } => {
                assert_eq!(taken, 15);
                budget += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((at.len(), budget), (15, 5), "15 turns an hour, shared");
    at.sort();
    let want: Vec<DateTime<Utc>> = (0..15)
        .map(|i| now + CDuration::milliseconds(100 * i))
        .collect();
    assert_eq!(at, want, "one turn every 100 ms, none given twice");
}

//! The outbox part of the suite: deliveries written with their case change, lanes in order,
//! folded repeats, retries, dead letters, tickets, and batch-job bookkeeping.

use super::{judged, run_through, Backend, Opened};
use chrono::{Duration as CDuration, Utc};
use irene_core::{
    Action, AlertState, CaseStatus, Change, NoCorrelations, Planned, Planner, Severity,
    TicketState, TimelineKind, Transition,
};
use irene_store::{DeliveryFilter, Finish, NewDelivery, Store};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// Plans like a GitHub output with no conditions: one delivery per transition to "gh", and
/// opens and resolves also to "pd".
pub struct TestPlanner;

impl Planner for TestPlanner {
    fn plan(&self, change: &Change) -> Vec<Planned> {
        let mut out = Vec::new();
        for t in &change.transitions {
            let action = match t {
                Transition::Opened => Action::Open,
                Transition::Occurrence => Action::Repeat,
                Transition::Reopened => Action::Reopen,
                Transition::Resolved { .. } => Action::Resolve,
                Transition::SeverityChanged { .. } => Action::Severity,
            };
            out.push(Planned {
                output: "gh".into(),
                action,
                detail: json!({"count": change.case.count}),
            });
            if matches!(action, Action::Open | Action::Resolve) {
                out.push(Planned {
                    output: "pd".into(),
                    action,
                    detail: json!({}),
                });
            }
        }
        out
    }
}

/// A fresh store planning with [`TestPlanner`].
pub async fn open(b: &dyn Backend) -> Opened {
    b.open(Arc::new(TestPlanner), Arc::new(NoCorrelations))
        .await
}

pub fn lease() -> Duration {
    Duration::from_secs(60)
}

pub fn done(note: &str) -> Finish {
    Finish::Done {
        kind: "github".into(),
        ticket: None,
        note: note.into(),
    }
}

pub async fn claim(store: &dyn Store) -> Vec<(String, Action)> {
    store
        .outbox_claim("d", 100, lease(), Utc::now())
        .await
        .expect("claim")
        .into_iter()
        .map(|d| (d.output, d.action))
        .collect()
}

pub async fn a_case_change_writes_its_deliveries_and_lanes_go_in_order(b: &dyn Backend) {
    let s = open(b).await;
    let store = &*s.store;
    let s = run_through(
        store,
        vec![
            judged("k1", AlertState::Active, Severity::High),
            judged("k1", AlertState::Active, Severity::High),
            judged("k1", AlertState::Resolved, Severity::High),
        ],
    )
    .await;
    let case_id = s.changes[0].case.id;
    // open(gh), open(pd), repeat(gh), resolve(gh), resolve(pd): written with the change.
    assert_eq!(store.status().await.expect("status").outbox_pending, 5);

    // Only the head of each lane goes out first: the repeat and the resolve wait for the open.
    let first = store
        .outbox_claim("d", 100, lease(), Utc::now())
        .await
        .expect("claim");
    let got: Vec<(String, Action)> = first.iter().map(|d| (d.output.clone(), d.action)).collect();
    assert_eq!(
        got,
        vec![("gh".into(), Action::Open), ("pd".into(), Action::Open)]
    );
    let open_gh = &first[0];
    assert_eq!(open_gh.case_id, Some(case_id));
    let case = open_gh.case.as_ref().expect("case snapshot");
    assert_eq!((case.count, case.status), (1, CaseStatus::Open));
    let alert = open_gh.alert.as_ref().expect("the case's alert");
    assert_eq!(alert.raw["detail"], "raw");
    assert_eq!(open_gh.ticket, None);
    assert!(claim(store).await.is_empty(), "claimed rows are leased");

    // The GitHub open fails and will be retried later: its lane stays blocked.
    let later = Utc::now() + CDuration::seconds(60);
    assert!(store
        .outbox_finish(
            "d",
            first[0].id,
            Finish::Retry {
                error: "HTTP 502".into(),
                next_at: later
            },
            Utc::now()
        )
        .await
        .expect("finish"));
    assert!(store
        .outbox_finish("d", first[1].id, done("triggered"), Utc::now())
        .await
        .expect("finish"));
    assert_eq!(
        claim(store).await,
        vec![("pd".into(), Action::Resolve)],
        "the PagerDuty lane goes on; GitHub's waits for its open"
    );
    let due = store.outbox_next_due().await.expect("next due");
    assert!(due.is_some());
    let listed = store
        .outbox_list(&DeliveryFilter {
            case_id: Some(case_id),
            output: Some("gh".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("list");
    let open_row = listed
        .items
        .iter()
        .find(|d| d.action == Action::Open)
        .expect("the open is listed");
    assert_eq!((open_row.state.as_str(), open_row.attempts), ("pending", 1));
    assert_eq!(open_row.last_error.as_deref(), Some("HTTP 502"));
}

pub async fn repeats_fold_and_a_resolve_absorbs_them(b: &dyn Backend) {
    let s = open(b).await;
    let store = &*s.store;
    run_through(
        store,
        vec![judged("k2", AlertState::Active, Severity::Medium)],
    )
    .await;
    for _ in 0..5 {
        run_through(
            store,
            vec![judged("k2", AlertState::Active, Severity::Medium)],
        )
        .await;
    }
    let pending = store
        .outbox_list(&DeliveryFilter {
            state: Some("pending".into()),
            output: Some("gh".into()),
            limit: 50,
            ..Default::default()
        })
        .await
        .expect("list");
    let repeats: Vec<_> = pending
        .items
        .iter()
        .filter(|d| d.action == Action::Repeat)
        .collect();
    assert_eq!(repeats.len(), 1, "five repeats fold into one delivery");
    assert_eq!(repeats[0].detail["count"], 6, "carrying the latest count");

    // The open goes through; the repeat is deferred (its comment interval), the resolve still runs.
    let c = store
        .outbox_claim("d", 100, lease(), Utc::now())
        .await
        .expect("claim");
    for d in &c {
        store
            .outbox_finish("d", d.id, done("ok"), Utc::now())
            .await
            .expect("finish");
    }
    run_through(
        store,
        vec![judged("k2", AlertState::Resolved, Severity::Medium)],
    )
    .await;
    let c = store
        .outbox_claim("d", 100, lease(), Utc::now())
        .await
        .expect("claim");
    let repeat = c
        .iter()
        .find(|d| d.action == Action::Repeat)
        .expect("repeat");
    store
        .outbox_finish(
            "d",
            repeat.id,
            Finish::Defer {
                until: Utc::now() + CDuration::hours(1),
            },
            Utc::now(),
        )
        .await
        .expect("defer");
    for d in c.iter().filter(|d| d.action == Action::Resolve) {
        store
            .outbox_finish("d", d.id, done("closed"), Utc::now())
            .await
            .expect("finish");
    }
    let st = store.status().await.expect("status");
    assert_eq!(
        st.outbox_pending, 0,
        "the deferred repeat was folded into the resolve"
    );
}

pub async fn dead_letters_are_listed_and_replayed(b: &dyn Backend) {
    let s = open(b).await;
    let store = &*s.store;
    run_through(
        store,
        vec![judged("k3", AlertState::Active, Severity::High)],
    )
    .await;
    let c = store
        .outbox_claim("d", 100, lease(), Utc::now())
        .await
        .expect("claim");
    let gh = c.iter().find(|d| d.output == "gh").expect("gh");
    store
        .outbox_finish(
            "d",
            gh.id,
            Finish::Dead {
                error: "HTTP 404: Not Found".into(),
            },
            Utc::now(),
        )
        .await
        .expect("finish");
    // A finish by a worker that no longer holds the delivery changes nothing.
    assert!(!store
        .outbox_finish("other", gh.id, done("late"), Utc::now())
        .await
        .expect("finish"));
    let st = store.status().await.expect("status");
    assert_eq!(st.dead_letters, 1);
    let dead = store
        .outbox_list(&DeliveryFilter {
            state: Some("dead".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(dead.items.len(), 1);
    assert_eq!(
        dead.items[0].last_error.as_deref(),
        Some("HTTP 404: Not Found")
    );
    let detail = store
        .case_get(gh.case_id.expect("case"))
        .await
        .expect("get")
        .expect("case");
    assert!(
        detail
            .timeline
            .iter()
            .any(|t| t.kind == TimelineKind::Notification && t.detail["result"] == "dead"),
        "a dead letter shows on the case"
    );
    let again = store
        .outbox_retry(gh.id, Utc::now())
        .await
        .expect("retry")
        .expect("requeued");
    assert_eq!((again.state.as_str(), again.attempts), ("pending", 0));
    assert!(store
        .outbox_retry(gh.id, Utc::now())
        .await
        .expect("retry")
        .is_none());
    assert_eq!(store.status().await.expect("status").dead_letters, 0);
    let c = store
        .outbox_claim("d", 100, lease(), Utc::now())
        .await
        .expect("claim");
    assert!(
        c.iter().any(|d| d.id == gh.id),
        "the replayed delivery goes out again"
    );
}

pub async fn tickets_are_kept_shown_on_the_case_and_drive_manual_changes(b: &dyn Backend) {
    let s = open(b).await;
    let store = &*s.store;
    let s = run_through(
        store,
        vec![judged("k4", AlertState::Active, Severity::High)],
    )
    .await;
    let case_id = s.changes[0].case.id;
    let c = store
        .outbox_claim("d", 100, lease(), Utc::now())
        .await
        .expect("claim");
    let gh = c.iter().find(|d| d.output == "gh").expect("gh");
    // The intent is recorded before the call…
    let intent = TicketState {
        reference: String::new(),
        url: None,
        data: json!({"intent_at": "2026-12-01T00:00:00Z"}),
    };
    store
        .ticket_record(case_id, "gh", "github", &intent, Utc::now())
        .await
        .expect("intent");
    // …and the ticket after it.
    let ticket = TicketState {
        reference: "7".into(),
        url: Some("https://github.example/acme/sec/issues/7".into()),
        data: json!({"number": 7, "actor": "irene-bot"}),
    };
    store
        .outbox_finish(
            "d",
            gh.id,
            Finish::Done {
                kind: "github".into(),
                ticket: Some(ticket.clone()),
                note: "opened issue #7".into(),
            },
            Utc::now(),
        )
        .await
        .expect("finish");
    for d in c.iter().filter(|d| d.output != "gh") {
        store
            .outbox_finish("d", d.id, done("ok"), Utc::now())
            .await
            .expect("finish");
    }
    let detail = store.case_get(case_id).await.expect("get").expect("case");
    assert_eq!(detail.case.tickets.len(), 1);
    assert_eq!(detail.case.tickets[0].reference, "7");
    assert_eq!(detail.case.tickets[0].kind, "github");
    assert_eq!(
        store.ticket_find("gh", "7").await.expect("find"),
        Some((case_id, ticket.clone()))
    );
    assert_eq!(store.ticket_find("gh", "8").await.expect("find"), None);

    // The next delivery of the lane sees the ticket; the ticket survives later case changes.
    run_through(
        store,
        vec![judged("k4", AlertState::Active, Severity::Urgent)],
    )
    .await;
    let c = store
        .outbox_claim("d", 100, lease(), Utc::now())
        .await
        .expect("claim");
    let next = c.iter().find(|d| d.output == "gh").expect("gh");
    assert_eq!(next.ticket.as_ref(), Some(&ticket));
    assert_eq!(next.case.as_ref().map(|c| c.tickets.len()), Some(1));
    for d in &c {
        store
            .outbox_finish("d", d.id, done("ok"), Utc::now())
            .await
            .expect("finish");
    }

    // A person closes the issue: the case resolves by hand, and only the other outputs hear.
    let before = store.status().await.expect("status").outbox_pending;
    let (case, change) = store
        .case_set_by_ticket("gh", "7", false, "github:alice", Utc::now())
        .await
        .expect("set")
        .expect("found");
    assert_eq!(case.status, CaseStatus::Resolved);
    assert!(change.is_some());
    let c = store
        .outbox_claim("d", 100, lease(), Utc::now())
        .await
        .expect("claim");
    let outs: Vec<_> = c.iter().map(|d| (d.output.as_str(), d.action)).collect();
    assert_eq!(outs, vec![("pd", Action::Resolve)]);
    assert_eq!(
        store.status().await.expect("status").outbox_pending,
        before + 1
    );
    // Closing again changes nothing; reopening reopens.
    let (_, change) = store
        .case_set_by_ticket("gh", "7", false, "github:alice", Utc::now())
        .await
        .expect("set")
        .expect("found");
    assert!(change.is_none());
    let (case, _) = store
        .case_set_by_ticket("gh", "7", true, "github:bob", Utc::now())
        .await
        .expect("set")
        .expect("found");
    assert_eq!(case.status, CaseStatus::Open);
    assert!(store
        .case_set_by_ticket("gh", "99", true, "github:bob", Utc::now())
        .await
        .expect("set")
        .is_none());
}

pub async fn jobs_keep_their_clock_and_reminders_wait(b: &dyn Backend) {
    let s = open(b).await;
    let store = &*s.store;
    let made = run_through(
        store,
        vec![judged("k5", AlertState::Active, Severity::High)],
    )
    .await;
    let case_id = made.changes[0].case.id;
    let now = Utc::now();
    assert!(
        !store
            .job_due("digest:chat", Duration::from_secs(3600), now)
            .await
            .expect("job"),
        "the first call only starts the clock"
    );
    assert!(!store
        .job_due(
            "digest:chat",
            Duration::from_secs(3600),
            now + CDuration::minutes(30)
        )
        .await
        .expect("job"));
    assert!(store
        .job_due(
            "digest:chat",
            Duration::from_secs(3600),
            now + CDuration::hours(2)
        )
        .await
        .expect("job"));
    assert!(!store
        .job_due(
            "digest:chat",
            Duration::from_secs(3600),
            now + CDuration::hours(2)
        )
        .await
        .expect("job"));

    // Reminders: an urgent/high case whose ticket was left untouched, once until sent.
    let c = store
        .outbox_claim("d", 100, lease(), now)
        .await
        .expect("claim");
    let gh = c.iter().find(|d| d.output == "gh").expect("gh");
    store
        .outbox_finish(
            "d",
            gh.id,
            Finish::Done {
                kind: "github".into(),
                ticket: Some(TicketState {
                    reference: "1".into(),
                    url: None,
                    data: json!({}),
                }),
                note: "opened".into(),
            },
            now,
        )
        .await
        .expect("finish");
    let future = now + CDuration::hours(1);
    let due = store
        .cases_to_remind("gh", Severity::High, future, 10)
        .await
        .expect("remind");
    assert_eq!(due.iter().map(|c| c.id).collect::<Vec<_>>(), vec![case_id]);
    assert!(store
        .cases_to_remind("gh", Severity::Urgent, future, 10)
        .await
        .expect("remind")
        .is_empty());
    assert!(store
        .cases_to_remind("gh", Severity::High, now - CDuration::hours(1), 10)
        .await
        .expect("remind")
        .is_empty());
    store
        .outbox_enqueue(
            &[NewDelivery {
                case: due.first().cloned(),
                output: "gh".into(),
                action: Action::Reminder,
                detail: json!({}),
            }],
            now,
        )
        .await
        .expect("enqueue");
    assert!(
        store
            .cases_to_remind("gh", Severity::High, future, 10)
            .await
            .expect("remind")
            .is_empty(),
        "no second reminder while one is pending"
    );
    let counts = store.open_counts().await.expect("counts");
    assert_eq!(counts, vec![(Severity::High, 1)]);
}

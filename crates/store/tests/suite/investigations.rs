//! The investigation part of the suite: jobs written with the case change that calls for them,
//! claimed with a lease, finished once by the holder, and one note per batch.

use super::{judged, run_through, Backend, Opened};
use chrono::Utc;
use irene_core::{
    Action, AlertState, Case, Change, NoCorrelations, Planned, PlannedInvestigation, Planner,
    Severity, TimelineKind, Transition,
};
use irene_store::{
    DeliveryFilter, Finished, InvestigationFilter, InvestigationResult, NewAttachment,
};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// Plans two investigations ("a", "b") when a case opens or reopens, and notes to "gh".
pub struct InvestigatingPlanner;

impl Planner for InvestigatingPlanner {
    fn plan(&self, _change: &Change) -> Vec<Planned> {
        Vec::new()
    }

    fn investigations(&self, change: &Change) -> Vec<PlannedInvestigation> {
        let mut out = Vec::new();
        for t in &change.transitions {
            let trigger = match t {
                Transition::Opened => "open",
                Transition::Reopened => "reopen",
                _ => continue,
            };
            for name in ["a", "b"] {
                out.push(PlannedInvestigation {
                    investigator: name.into(),
                    trigger: trigger.into(),
                });
            }
        }
        out
    }

    fn plan_note(&self, _case: &Case, detail: &serde_json::Value) -> Vec<Planned> {
        vec![Planned {
            output: "gh".into(),
            action: Action::Note,
            detail: detail.clone(),
        }]
    }
}

async fn open(b: &dyn Backend) -> Opened {
    b.open(Arc::new(InvestigatingPlanner), Arc::new(NoCorrelations))
        .await
}

fn result(status: &str, summary: &str) -> InvestigationResult {
    InvestigationResult {
        status: status.into(),
        reason: (status == "failed").then(|| "no feeds".to_string()),
        findings: json!({"n": 1}),
        summary: summary.into(),
        attachments: vec![],
    }
}

pub async fn investigations_run_once_and_a_batch_ends_in_one_note(b: &dyn Backend) {
    let s = open(b).await;
    let store = &*s.store;
    let lease = Duration::from_secs(60);
    run_through(
        store,
        vec![judged("k1", AlertState::Active, Severity::High)],
    )
    .await;
    let now = Utc::now();
    let all = store
        .investigations_list(&InvestigationFilter {
            limit: 50,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(all.items.len(), 2);
    assert!(all
        .items
        .iter()
        .all(|i| i.state == "pending" && i.trigger == "open"));
    assert_eq!(
        all.items[0].batch, all.items[1].batch,
        "one batch per trigger"
    );
    let case_id = all.items[0].case_id;

    let jobs = store
        .investigations_claim("w1", 10, lease, now)
        .await
        .expect("claim");
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[0].case.id, case_id);
    assert!(
        jobs[0].alert.is_some(),
        "the case's latest alert comes along"
    );
    assert!(store
        .investigations_claim("w2", 10, lease, now)
        .await
        .expect("claim")
        .is_empty());

    // w1 dies; after its lease w2 runs the jobs again. Only the holder's result is written.
    let later = now + chrono::Duration::seconds(61);
    let again = store
        .investigations_claim("w2", 10, lease, later)
        .await
        .expect("claim again");
    assert_eq!(again.len(), 2);
    assert_eq!(again[0].attempts, 2);
    assert_eq!(
        store
            .investigation_finish("w1", jobs[0].id, result("done", "late"), later)
            .await
            .expect("finish"),
        Finished::NotHeld
    );
    let mut with_file = result("done", "Found **it**");
    with_file.attachments.push(NewAttachment {
        name: "events.csv".into(),
        content_type: "text/csv".into(),
        bytes: b"a,b\n".to_vec(),
    });
    assert_eq!(
        store
            .investigation_finish("w2", again[0].id, with_file, later)
            .await
            .expect("finish"),
        Finished::Recorded { notes: 0 },
        "the batch is not complete yet"
    );
    assert_eq!(
        store
            .investigation_finish("w2", again[0].id, result("done", "twice"), later)
            .await
            .expect("finish"),
        Finished::NotHeld,
        "a finished job is not finished again"
    );
    assert_eq!(
        store
            .investigation_finish("w2", again[1].id, result("failed", "Failed"), later)
            .await
            .expect("finish"),
        Finished::Recorded { notes: 1 }
    );

    let notes = store
        .outbox_list(&DeliveryFilter {
            case_id: Some(case_id),
            limit: 50,
            ..Default::default()
        })
        .await
        .expect("outbox");
    assert_eq!(notes.items.len(), 1, "{:?}", notes.items);
    let note = &notes.items[0];
    assert_eq!(note.action, Action::Note);
    assert_eq!(note.detail["title"], "Investigation");
    assert_eq!(note.detail["ref"], json!(again[0].batch));
    let md = note.detail["markdown"].as_str().expect("markdown");
    assert!(
        md.contains("### a (done)") && md.contains("Found **it**"),
        "{md}"
    );
    assert!(md.contains("### b (failed: no feeds)"), "{md}");
    assert!(!md.contains("late"), "{md}");
    // the same results as data, for receivers that use them
    assert_eq!(note.detail["kind"], "investigated");
    let data: Vec<(String, String)> = note.detail["investigations"]
        .as_array()
        .expect("investigations")
        .iter()
        .map(|i| {
            assert_eq!(i["findings"], json!({"n": 1}), "{i}");
            let text = |k: &str| i[k].as_str().unwrap_or("").to_string();
            (
                text("investigator"),
                format!("{} {} {}", text("status"), text("reason"), text("summary")),
            )
        })
        .collect();
    assert_eq!(
        data,
        vec![
            ("a".to_string(), "done  Found **it**".to_string()),
            ("b".to_string(), "failed no feeds Failed".to_string()),
        ]
    );

    let of_case = store
        .investigations_list(&InvestigationFilter {
            case_id: Some(case_id),
            state: Some("done".into()),
            limit: 50,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(of_case.items.len(), 2);
    let a = of_case
        .items
        .iter()
        .find(|i| i.investigator == "a")
        .expect("a");
    assert_eq!(a.status.as_deref(), Some("done"));
    assert_eq!(a.attachments.len(), 1);
    assert_eq!(a.findings, Some(json!({"n": 1})));
    assert!(a.started_at.is_some() && a.finished_at.is_some());
    let detail = store.case_get(case_id).await.expect("get").expect("case");
    let entries = detail
        .timeline
        .iter()
        .filter(|t| t.kind == TimelineKind::Investigation)
        .count();
    assert_eq!(entries, 2);

    // A release gives held jobs back; an occurrence plans nothing.
    run_through(
        store,
        vec![judged("k1", AlertState::Active, Severity::High)],
    )
    .await;
    run_through(store, vec![judged("k2", AlertState::Active, Severity::Low)]).await;
    let later = Utc::now() + chrono::Duration::seconds(61);
    let jobs = store
        .investigations_claim("w3", 10, lease, later)
        .await
        .expect("claim");
    assert_eq!(jobs.len(), 2, "only the new case's jobs");
    assert_eq!(store.investigation_release("w3").await.expect("release"), 2);
    assert_eq!(
        store
            .investigations_claim("w4", 10, lease, later)
            .await
            .expect("claim")
            .len(),
        2
    );
}

//! The investigation part of the suite: jobs written with the case change that calls for them,
//! claimed with a lease, finished once by the holder, and one note per batch.

use super::{judged, run_through, Backend, Opened};
use chrono::Utc;
use irene_core::{
    Action, Alert, AlertState, Case, Change, Correlator, Event, Fed, Judged, NoCorrelations,
    Planned, PlannedInvestigation, Planner, Severity, TimelineKind, Transition, WindowKey,
    WindowRow,
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

    fn investigations(&self, change: &Change, alert: Option<&Alert>) -> Vec<PlannedInvestigation> {
        assert!(
            alert.is_some(),
            "the planner is given the case's latest alert"
        );
        let mut out = Vec::new();
        for t in &change.transitions {
            let (trigger, names): (&str, &[&str]) = match t {
                Transition::Opened => ("open", &["a", "b"]),
                Transition::Reopened => ("reopen", &["a", "b"]),
                Transition::SeverityChanged { from, to } if to > from => {
                    ("severity_raised", &["a"])
                }
                _ => continue,
            };
            for name in names {
                out.push(PlannedInvestigation {
                    investigator: (*name).into(),
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
        retry_at: None,
        fixed: None,
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

/// Triage on findings: `enrichment.a.tor == true` makes a case urgent (rule "tor").
struct TorIsUrgent;

impl Correlator for TorIsUrgent {
    fn keys(&self, _event: &Event, _detections: &[String]) -> Vec<WindowKey> {
        Vec::new()
    }

    fn feed(
        &self,
        _event: &Event,
        _detections: &[String],
        _at: chrono::DateTime<Utc>,
        _rows: &[WindowRow],
    ) -> Fed {
        Fed::default()
    }

    fn rejudge(&self, alert: &Alert, enrichment: &serde_json::Value) -> Option<Judged> {
        let mut j = Judged::unjudged(alert.clone());
        if enrichment.pointer("/a/tor") == Some(&json!(true)) {
            j.severity = Severity::Urgent;
            j.rule = Some("tor".into());
        }
        Some(j)
    }
}

fn found(findings: serde_json::Value) -> InvestigationResult {
    InvestigationResult {
        findings,
        ..result("done", "Found")
    }
}

pub async fn findings_raise_the_case_and_a_rerun_equal_to_the_last_says_unchanged(b: &dyn Backend) {
    let s = b
        .open(Arc::new(InvestigatingPlanner), Arc::new(TorIsUrgent))
        .await;
    let store = &*s.store;
    let lease = Duration::from_secs(60);
    run_through(
        store,
        vec![judged("k1", AlertState::Active, Severity::High)],
    )
    .await;
    let t0 = Utc::now();
    let jobs = store
        .investigations_claim("w", 10, lease, t0)
        .await
        .expect("claim");
    assert_eq!(jobs.len(), 2);
    let case_id = jobs[0].case_id;

    // a partial answer goes back to pending until its retry time
    let mut partial = found(json!({"tor": true}));
    partial.reason = Some("abuseipdb answered 429".into());
    partial.retry_at = Some(t0 + chrono::Duration::seconds(30));
    assert_eq!(
        store
            .investigation_finish("w", jobs[0].id, partial, t0)
            .await
            .expect("retry"),
        Finished::Retrying
    );
    let early = store
        .investigations_claim("w", 10, lease, t0 + chrono::Duration::seconds(10))
        .await
        .expect("claim");
    assert!(early.is_empty(), "not before its retry time: {early:?}");
    let t1 = t0 + chrono::Duration::seconds(31);
    let retried = store
        .investigations_claim("w", 10, lease, t1)
        .await
        .expect("claim");
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].id, jobs[0].id);
    assert_eq!(retried[0].attempts, 2);

    let mut with_file = found(json!({"tor": true}));
    with_file.attachments.push(NewAttachment {
        name: "shot.png".into(),
        content_type: "image/png".into(),
        bytes: vec![0x89, b'P', b'N', b'G'],
    });
    store
        .investigation_finish("w", jobs[0].id, with_file, t1)
        .await
        .expect("finish a");
    assert_eq!(
        store
            .investigation_finish("w", jobs[1].id, found(json!({"n": 2})), t1)
            .await
            .expect("finish b"),
        Finished::Recorded { notes: 1 }
    );

    // the findings raised the case: timeline, and a severity_raised investigation
    let detail = store.case_get(case_id).await.expect("get").expect("case");
    assert_eq!(detail.case.severity, Severity::Urgent);
    assert_eq!(detail.case.rule.as_deref(), Some("tor"));
    let raised = detail
        .timeline
        .iter()
        .find(|t| t.kind == TimelineKind::SeverityChanged)
        .expect("a severity change on the timeline");
    assert_eq!(raised.detail["by"], "investigation");
    assert_eq!(raised.detail["to"], "urgent");
    let pending = store
        .investigations_list(&InvestigationFilter {
            case_id: Some(case_id),
            state: Some("pending".into()),
            limit: 50,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(pending.items.len(), 1);
    assert_eq!(pending.items[0].trigger, "severity_raised");

    // the attachment is served back as stored
    let a = store
        .investigations_list(&InvestigationFilter {
            case_id: Some(case_id),
            investigator: Some("a".into()),
            state: Some("done".into()),
            limit: 5,
            ..Default::default()
        })
        .await
        .expect("list");
    let file = store
        .attachment_get(a.items[0].attachments[0])
        .await
        .expect("get")
        .expect("attachment");
    assert_eq!(file.content_type, "image/png");
    assert_eq!(file.bytes, vec![0x89, b'P', b'N', b'G']);
    assert_eq!(file.case_id, case_id);
    assert!(store
        .attachment_get(uuid::Uuid::now_v7())
        .await
        .expect("get")
        .is_none());

    // by hand: one batch; a result equal to the last one says since when
    assert!(store
        .investigations_request(uuid::Uuid::now_v7(), &["a".into()], "manual", t1)
        .await
        .expect("request")
        .is_none());
    let batch = store
        .investigations_request(case_id, &["a".into(), "b".into()], "manual", t1)
        .await
        .expect("request")
        .expect("a case");
    let t2 = t1 + chrono::Duration::seconds(5);
    let jobs = store
        .investigations_claim("w", 10, lease, t2)
        .await
        .expect("claim");
    assert_eq!(jobs.len(), 3, "the severity_raised run and the two by hand");
    for j in &jobs {
        let r = match j.investigator.as_str() {
            "a" => found(json!({"tor": true})),
            _ => found(json!({"n": 3})),
        };
        store
            .investigation_finish("w", j.id, r, t2)
            .await
            .expect("finish");
    }
    let manual = store
        .investigations_list(&InvestigationFilter {
            case_id: Some(case_id),
            limit: 50,
            ..Default::default()
        })
        .await
        .expect("list");
    let manual: Vec<_> = manual.items.iter().filter(|i| i.batch == batch).collect();
    assert_eq!(manual.len(), 2);
    let a = manual.iter().find(|i| i.investigator == "a").expect("a");
    assert_eq!(a.trigger, "manual");
    assert!(a.same_since.is_some(), "equal to the run before");
    let b2 = manual.iter().find(|i| i.investigator == "b").expect("b");
    assert_eq!(b2.same_since, None, "findings changed");
    let notes = store
        .outbox_list(&DeliveryFilter {
            case_id: Some(case_id),
            limit: 50,
            ..Default::default()
        })
        .await
        .expect("outbox");
    let last = notes
        .items
        .iter()
        .find(|d| d.action == Action::Note && d.detail["ref"] == json!(batch))
        .expect("the manual batch's note");
    let md = last.detail["markdown"].as_str().expect("markdown");
    assert!(md.contains("### a (done)\n\nUnchanged since "), "{md}");
    assert!(md.contains("### b (done)\n\nFound"), "{md}");

    // periodic re-runs: the open cases without a recent run
    let stale = store
        .investigations_stale("a", t2 + chrono::Duration::hours(1), None, 10)
        .await
        .expect("stale");
    assert_eq!(stale, vec![case_id]);
    let fresh = store
        .investigations_stale("a", t0 - chrono::Duration::hours(1), None, 10)
        .await
        .expect("stale");
    assert!(fresh.is_empty());
    let never = store
        .investigations_stale("never-ran", t2 + chrono::Duration::hours(1), None, 10)
        .await
        .expect("stale");
    assert!(never.is_empty(), "only re-runs: {never:?}");

    // a re-check finds it fixed: after its note, the case resolves by scan with the reason
    store
        .investigations_request(case_id, &["a".into()], "every", t2)
        .await
        .expect("request")
        .expect("a case");
    let t3 = t2 + chrono::Duration::seconds(5);
    let jobs = store
        .investigations_claim("w", 10, lease, t3)
        .await
        .expect("claim");
    assert_eq!(jobs.len(), 1);
    let mut closed = found(json!({"tor": true, "open": false}));
    closed.fixed = Some("sg-0abc no longer allows 0.0.0.0/0 on 22".into());
    assert_eq!(
        store
            .investigation_finish("w", jobs[0].id, closed, t3)
            .await
            .expect("finish"),
        Finished::Recorded { notes: 1 }
    );
    let detail = store.case_get(case_id).await.expect("get").expect("case");
    assert_eq!(detail.case.status, irene_core::CaseStatus::Resolved);
    assert_eq!(detail.case.resolution, Some(irene_core::Resolution::Scan));
    let resolved = detail
        .timeline
        .iter()
        .find(|t| t.kind == TimelineKind::Resolved)
        .expect("resolved on the timeline");
    assert_eq!(resolved.detail["by"], "a");
    assert_eq!(
        resolved.detail["reason"],
        "a: sg-0abc no longer allows 0.0.0.0/0 on 22"
    );
    assert!(store
        .investigations_stale("a", t3 + chrono::Duration::hours(1), None, 10)
        .await
        .expect("stale")
        .is_empty());
}

pub async fn a_summary_links_its_own_attachments_by_id(b: &dyn Backend) {
    let s = open(b).await;
    let store = &*s.store;
    run_through(
        store,
        vec![judged("k1", AlertState::Active, Severity::High)],
    )
    .await;
    let now = Utc::now();
    let jobs = store
        .investigations_claim("w", 10, Duration::from_secs(60), now)
        .await
        .expect("claim");
    assert_eq!(jobs.len(), 2);
    let case_id = jobs[0].case_id;
    let mut with_files = result(
        "done",
        "![shot](attachment:shot.png)\n[data](attachment:data.csv) \
         [gone](attachment:missing.csv) attachment:shot.png",
    );
    for (name, content_type) in [("shot.png", "image/png"), ("data.csv", "text/csv")] {
        with_files.attachments.push(NewAttachment {
            name: name.into(),
            content_type: content_type.into(),
            bytes: name.as_bytes().to_vec(),
        });
    }
    store
        .investigation_finish("w", jobs[0].id, with_files, now)
        .await
        .expect("finish a");
    store
        .investigation_finish("w", jobs[1].id, result("done", "b"), now)
        .await
        .expect("finish b");

    let done = store
        .investigations_list(&InvestigationFilter {
            case_id: Some(case_id),
            investigator: Some("a".into()),
            limit: 5,
            ..Default::default()
        })
        .await
        .expect("list");
    let record = &done.items[0];
    let mut ids = std::collections::HashMap::new();
    for id in &record.attachments {
        let file = store
            .attachment_get(*id)
            .await
            .expect("get")
            .expect("attachment");
        ids.insert(file.name, *id);
    }
    let expected = format!(
        "![shot](attachment:{})\n[data](attachment:{}) [gone](attachment:missing.csv) \
         attachment:shot.png",
        ids["shot.png"], ids["data.csv"]
    );
    assert_eq!(record.summary.as_deref(), Some(expected.as_str()));
    // the note is made of the stored summaries
    let notes = store
        .outbox_list(&DeliveryFilter {
            case_id: Some(case_id),
            limit: 50,
            ..Default::default()
        })
        .await
        .expect("outbox");
    let md = notes.items[0].detail["markdown"]
        .as_str()
        .expect("markdown");
    assert!(md.contains(&expected), "{md}");
}

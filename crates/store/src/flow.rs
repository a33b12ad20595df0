//! The store's flow, the same on every backend: what a commit, a manual change, an expiry and
//! a finished delivery write, in which order, driving a backend's `StoreTx`. No SQL here.

use crate::tx::{
    AlertRow, EventRow, InvestigationRow, OutboxRow, OutboxSet, QuarantineRow, StoreTx,
};
use crate::{
    CommitSummary, Finish, Finished, InvestigationRecord, InvestigationResult, NewDelivery,
    Processed, Quarantined, Result, Store, StoreError,
};
use chrono::{DateTime, Utc};
use irene_core::{
    correlate, expire, raise, reopen_by_hand, resolve_by_hand, resolve_by_scan, Action, Alert,
    Case, Change, Correlator, Judged, Planner, Ticket, TicketState, TimelineEntry, TimelineKind,
    Transition, WindowKey, WindowRow,
};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use uuid::Uuid;

/// How many times a transaction that collided with another instance's is run again.
const RETRIES: u32 = 5;

/// Runs `attempt` (one whole transaction) again when it collided with a concurrent one
/// ([`StoreError::Contention`]: several instances on one database), up to [`RETRIES`] times
/// after a short jittered pause; then, or on any other error, returns what it returned. Run
/// again, a commit reads the cases the other one wrote: its new case becomes an occurrence.
async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut tries = 0;
    loop {
        match attempt().await {
            Err(StoreError::Contention(why)) if tries < RETRIES => {
                tries += 1;
                tracing::debug!(tries, %why, "transaction collided; running it again");
                // a UUIDv7's low bits are random: a jitter without a clock or another crate
                let jitter = (Uuid::now_v7().as_u128() & 0x0f) as u64;
                tokio::time::sleep(std::time::Duration::from_millis(
                    u64::from(tries) * 5 + jitter,
                ))
                .await;
            }
            other => return other,
        }
    }
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T, what: &'static str) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::corrupt(what, e))
}

/// [`commit_processed_once`], run again when it collided with another instance's transaction.
pub(crate) async fn commit_processed<S: Store + ?Sized>(
    store: &S,
    owner: &str,
    batch: Vec<Processed>,
    now: DateTime<Utc>,
) -> Result<CommitSummary> {
    retrying(|| commit_processed_once(store, owner, batch.clone(), now)).await
}

/// Writes the outcome of claimed rows in one transaction (see [`Store::commit_processed`]):
/// 1. the rows `owner` still leases are marked done, the others skipped whole;
/// 2. the events are stored once per source id; only the new ones count: their detection
///    hits join the payload's alerts, and they (alone, in payload and item order) are fed to
///    the correlator, whose window rows are loaded and written back in this transaction;
/// 3. the cases the alerts touch are read at once and every alert is correlated, in payload
///    order, against the cases as the batch leaves them;
/// 4. alerts, quarantined items, case changes, timelines and deliveries are written.
async fn commit_processed_once<S: Store + ?Sized>(
    store: &S,
    owner: &str,
    batch: Vec<Processed>,
    now: DateTime<Utc>,
) -> Result<CommitSummary> {
    let mut summary = CommitSummary::default();
    let mut tx = store.begin(false).await?;

    let ids: Vec<Uuid> = batch.iter().map(|p| p.inbox_id).collect();
    let done = tx.inbox_mark_done(owner, &ids, now).await?;
    let batch: Vec<Processed> = batch
        .into_iter()
        .filter(|p| done.contains(&p.inbox_id))
        .collect();
    summary.rows_done = batch.len();
    summary.rows_skipped = ids.len() - batch.len();

    let mut event_rows = Vec::new();
    for p in &batch {
        for e in &p.events {
            event_rows.push(EventRow {
                id: Uuid::now_v7().to_string(),
                inbox_id: p.inbox_id,
                index: e.index,
                received_at: p.received_at,
                event: &e.event,
                detections: &e.detections,
            });
        }
    }
    let stored = tx.events_insert(&event_rows).await?;
    summary.events = stored.len();
    let new: Vec<bool> = event_rows.iter().map(|r| stored.contains(&r.id)).collect();
    let fired = count_new_events(&mut *tx, store.correlator(), &batch, &new, now).await?;

    let mut news = new.iter();
    let mut fired = fired.iter();
    let mut alert_lists: Vec<Vec<(i64, &Judged)>> = Vec::with_capacity(batch.len());
    for p in &batch {
        let mut list: Vec<(i64, &Judged)> = p.alerts.iter().map(|(i, j)| (*i, j)).collect();
        for e in &p.events {
            let is_new = news.next().copied().unwrap_or(false);
            let more = fired.next();
            if is_new {
                list.extend(e.hits.iter().map(|j| (e.index, j)));
                list.extend(more.into_iter().flatten().map(|j| (e.index, j)));
            }
        }
        list.sort_by_key(|(i, _)| *i);
        alert_lists.push(list);
    }

    let mut keys: Vec<&str> = alert_lists
        .iter()
        .flat_map(|l| l.iter().map(|(_, j)| j.key.as_str()))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let mut cases: HashMap<String, Case> = tx
        .cases_by_keys(&keys)
        .await?
        .into_iter()
        .map(|c| (c.key.clone(), c))
        .collect();

    let mut alert_rows: Vec<AlertRow> = Vec::new();
    let mut quarantine_rows: Vec<QuarantineRow> = Vec::new();
    for (p, list) in batch.iter().zip(&alert_lists) {
        for q in &p.quarantine {
            quarantine_rows.push(QuarantineRow {
                id: Uuid::now_v7(),
                inbox_id: p.inbox_id,
                received_at: p.received_at,
                item: q,
            });
        }
        for &(index, judged) in list {
            let alert_id = Uuid::now_v7();
            let existing = cases.get(&judged.key);
            let change = correlate(existing, judged, alert_id, Uuid::now_v7(), now);
            let case_id = change
                .as_ref()
                .map(|c| c.case.id)
                .or(existing.map(|c| c.id));
            alert_rows.push(AlertRow {
                id: alert_id,
                inbox_id: p.inbox_id,
                index,
                case_id,
                received_at: p.received_at,
                doc: to_json(judged, "alert")?,
                judged,
            });
            if let Some(change) = change {
                cases.insert(change.case.key.clone(), change.case.clone());
                summary.changes.push(change);
            }
        }
    }
    resolve_absent_from_scans(
        &mut *tx,
        &batch,
        &alert_lists,
        &mut cases,
        &mut summary,
        now,
    )
    .await?;
    tx.alerts_insert(&alert_rows).await?;
    summary.alerts = alert_rows.len();
    tx.quarantine_insert(&quarantine_rows).await?;
    summary.quarantined = quarantine_rows.len();
    let alerts: HashMap<Uuid, &Alert> =
        alert_rows.iter().map(|r| (r.id, &r.judged.alert)).collect();
    write_changes(
        &mut *tx,
        &summary.changes,
        &alerts,
        store.planner(),
        None,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(summary)
}

/// Most open cases of one scope a complete scan may resolve in one commit.
const SCAN_SCOPE_MAX: u32 = 100_000;

/// For each payload marked as a complete scan: the open cases of its source and scopes
/// (account, region, as its alerts name them) whose key it does not contain are resolved by
/// scan. A scan with no alert names no scope and resolves nothing. `cases` is the batch's view
/// of the cases, kept current.
async fn resolve_absent_from_scans(
    tx: &mut dyn StoreTx,
    batch: &[Processed],
    alert_lists: &[Vec<(i64, &Judged)>],
    cases: &mut HashMap<String, Case>,
    summary: &mut CommitSummary,
    now: DateTime<Utc>,
) -> Result<()> {
    for (p, list) in batch.iter().zip(alert_lists) {
        if !p.complete_scan || list.is_empty() {
            continue;
        }
        let present: BTreeSet<&str> = list.iter().map(|(_, j)| j.key.as_str()).collect();
        let scopes: BTreeSet<(&str, Option<&str>, Option<&str>)> = list
            .iter()
            .map(|(_, j)| {
                let a = &j.alert;
                (a.source.as_str(), a.account.as_deref(), a.region.as_deref())
            })
            .collect();
        let sources: BTreeSet<&str> = scopes.iter().map(|(s, _, _)| *s).collect();
        let far = now + chrono::Duration::days(365 * 100);
        for source in sources {
            for stored in tx.cases_silent(source, far, SCAN_SCOPE_MAX).await? {
                let case = cases.get(&stored.key).cloned().unwrap_or(stored);
                let scope = (
                    case.source.as_str(),
                    case.account.as_deref(),
                    case.region.as_deref(),
                );
                if !scopes.contains(&scope) || present.contains(case.key.as_str()) {
                    continue;
                }
                let reason = format!(
                    "absent from a complete {} scan of account {} region {} ({} findings)",
                    case.source,
                    case.account.as_deref().unwrap_or("-"),
                    case.region.as_deref().unwrap_or("-"),
                    present.len()
                );
                if let Some(change) = resolve_by_scan(&case, now, "complete scan", &reason) {
                    cases.insert(change.case.key.clone(), change.case.clone());
                    summary.changes.push(change);
                }
            }
        }
    }
    Ok(())
}

/// Feeds the new events (`new`, one flag per event of `batch` in order) to the correlator, in
/// order, against the window rows they touch (loaded at once), and writes the rows back.
/// Returns, per event of the batch, the alerts its correlations fired.
async fn count_new_events(
    tx: &mut dyn StoreTx,
    correlator: &dyn Correlator,
    batch: &[Processed],
    new: &[bool],
    now: DateTime<Utc>,
) -> Result<Vec<Vec<Judged>>> {
    let events: Vec<(&Processed, &crate::ProcessedEvent)> = batch
        .iter()
        .flat_map(|p| p.events.iter().map(move |e| (p, e)))
        .collect();
    let mut fired = vec![Vec::new(); events.len()];
    let mut keys: Vec<Vec<WindowKey>> = Vec::with_capacity(events.len());
    let mut all: BTreeSet<WindowKey> = BTreeSet::new();
    for (&(_, e), &is_new) in events.iter().zip(new) {
        let k = if is_new && !e.detections.is_empty() {
            correlator.keys(&e.event, &e.detections)
        } else {
            Vec::new()
        };
        all.extend(k.iter().cloned());
        keys.push(k);
    }
    if all.is_empty() {
        return Ok(fired);
    }
    let wanted: Vec<WindowKey> = all.into_iter().collect();
    let mut windows: BTreeMap<WindowKey, WindowRow> = tx
        .windows_load(&wanted)
        .await?
        .into_iter()
        .map(|r| (r.key.clone(), r))
        .collect();
    let mut touched: BTreeSet<WindowKey> = BTreeSet::new();
    for (i, ((p, e), k)) in events.iter().zip(&keys).enumerate() {
        if k.is_empty() {
            continue;
        }
        let rows: Vec<WindowRow> = k.iter().filter_map(|k| windows.get(k).cloned()).collect();
        let at = e.event.observed_at.unwrap_or(p.received_at);
        let fed = correlator.feed(&e.event, &e.detections, at, &rows);
        for key in fed.delete {
            windows.remove(&key);
            touched.insert(key);
        }
        for row in fed.upsert {
            touched.insert(row.key.clone());
            windows.insert(row.key.clone(), row);
        }
        fired[i] = fed.alerts;
    }
    let (save, gone): (Vec<WindowKey>, Vec<WindowKey>) =
        touched.into_iter().partition(|k| windows.contains_key(k));
    let save: Vec<WindowRow> = save.iter().filter_map(|k| windows.remove(k)).collect();
    tx.windows_save(&save, now).await?;
    tx.windows_delete(&gone).await?;
    Ok(fired)
}

/// Writes case changes, their timelines and the deliveries they imply: always together, in the
/// caller's transaction. A case changed several times is written once, in its last state;
/// every timeline entry stays. `skip`: an output that is told nothing.
pub(crate) async fn write_changes(
    tx: &mut dyn StoreTx,
    changes: &[Change],
    alerts: &HashMap<Uuid, &Alert>,
    planner: &dyn Planner,
    skip: Option<&str>,
    now: DateTime<Utc>,
) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let mut last: HashMap<Uuid, usize> = HashMap::with_capacity(changes.len());
    for (i, ch) in changes.iter().enumerate() {
        last.insert(ch.case.id, i);
    }
    let mut finals: Vec<&Case> = last.values().map(|&i| &changes[i].case).collect();
    finals.sort_by_key(|c| c.id);
    tx.cases_upsert(&finals).await?;
    // the latest alert of each changed case that the caller did not hand over (a change by
    // hand): holds and the investigations' `when` may read it
    let mut loaded: HashMap<Uuid, Alert> = HashMap::new();
    for ch in changes {
        let id = ch.case.last_alert_id;
        if !alerts.contains_key(&id) && !loaded.contains_key(&id) && may_investigate(ch) {
            if let Some(a) = tx.alert_by_id(id).await? {
                loaded.insert(id, a);
            }
        }
    }
    let alert_of = |ch: &Change| {
        let id = ch.case.last_alert_id;
        alerts.get(&id).copied().or_else(|| loaded.get(&id))
    };
    let mut inhibitors: HashMap<Uuid, Vec<Case>> = HashMap::new();
    for ch in changes {
        for q in planner.inhibit_queries(ch) {
            let found = tx.cases_open_matching(&q.equal, 20).await?;
            inhibitors.entry(ch.case.id).or_default().extend(found);
        }
    }
    let planned = plan(changes, planner, skip, &alert_of, &inhibitors)?;
    let held: Vec<(Uuid, TimelineEntry)> = planned.iter().filter_map(|(_, h)| h.clone()).collect();
    let mut entries: Vec<(Uuid, &TimelineEntry)> = changes
        .iter()
        .flat_map(|ch| ch.timeline.iter().map(move |t| (ch.case.id, t)))
        .collect();
    entries.extend(held.iter().map(|(case, e)| (*case, e)));
    tx.timeline_insert(&entries).await?;
    let rows: Vec<OutboxRow> = planned.into_iter().flat_map(|(rows, _)| rows).collect();
    tx.outbox_insert(&rows, now).await?;
    tx.investigations_insert(&plan_investigations(changes, &alert_of, planner), now)
        .await
}

/// Whether a change has a transition that can call for investigations.
fn may_investigate(ch: &Change) -> bool {
    ch.transitions.iter().any(|t| {
        matches!(
            t,
            Transition::Opened | Transition::Reopened | Transition::SeverityChanged { .. }
        )
    })
}

/// The investigation jobs `changes` call for: one batch per change and trigger.
fn plan_investigations<'a>(
    changes: &[Change],
    alert_of: &dyn Fn(&Change) -> Option<&'a Alert>,
    planner: &dyn Planner,
) -> Vec<InvestigationRow> {
    let mut rows = Vec::new();
    for ch in changes {
        if !may_investigate(ch) {
            continue;
        }
        let mut batches: Vec<(String, Uuid)> = Vec::new();
        for p in planner.investigations(ch, alert_of(ch)) {
            let batch = match batches.iter().find(|(t, _)| *t == p.trigger) {
                Some((_, b)) => *b,
                None => {
                    let b = Uuid::now_v7();
                    batches.push((p.trigger.clone(), b));
                    b
                }
            };
            rows.push(InvestigationRow {
                id: Uuid::now_v7(),
                case_id: ch.case.id,
                investigator: p.investigator,
                trigger: p.trigger,
                batch,
            });
        }
    }
    rows
}

/// Records an investigation's result (see [`Store::investigation_finish`]): only while `owner`
/// holds the job, so a job that ran twice (a crashed worker's lease expired) is written once;
/// the batch's last job to finish enqueues its one note per output, in the same transaction.
pub(crate) async fn investigation_finish<S: Store + ?Sized>(
    store: &S,
    owner: &str,
    id: Uuid,
    result: InvestigationResult,
    now: DateTime<Utc>,
) -> Result<Finished> {
    let mut done = investigations_finish(store, owner, vec![(id, result)], now).await?;
    Ok(done.pop().unwrap_or(Finished::NotHeld))
}

/// [`investigations_finish_once`], run again when it collided with another instance's transaction.
pub(crate) async fn investigations_finish<S: Store + ?Sized>(
    store: &S,
    owner: &str,
    results: Vec<(Uuid, InvestigationResult)>,
    now: DateTime<Utc>,
) -> Result<Vec<Finished>> {
    retrying(|| investigations_finish_once(store, owner, results.clone(), now)).await
}

/// Records several investigations' results in ONE transaction (each as
/// [`investigation_finish`] would), so that a burst of cases does not cost the single writer a
/// transaction per investigator. One `Finished` per result, in order.
async fn investigations_finish_once<S: Store + ?Sized>(
    store: &S,
    owner: &str,
    results: Vec<(Uuid, InvestigationResult)>,
    now: DateTime<Utc>,
) -> Result<Vec<Finished>> {
    let mut tx = store.begin(false).await?;
    let mut out = Vec::with_capacity(results.len());
    for (id, result) in results {
        out.push(
            finish_one(
                &mut *tx,
                store.planner(),
                store.correlator(),
                owner,
                id,
                result,
                now,
            )
            .await?,
        );
    }
    tx.commit().await?;
    Ok(out)
}

/// One result in the caller's transaction.
async fn finish_one(
    tx: &mut dyn StoreTx,
    planner: &dyn Planner,
    correlator: &dyn Correlator,
    owner: &str,
    id: Uuid,
    result: InvestigationResult,
    now: DateTime<Utc>,
) -> Result<Finished> {
    let Some(job) = tx.investigation_leased(id, owner).await? else {
        return Ok(Finished::NotHeld);
    };
    if let Some(at) = result.retry_at {
        let reason = result.reason.as_deref().unwrap_or("incomplete");
        tx.investigation_retry(id, at, reason).await?;
        return Ok(Finished::Retrying);
    }
    // equal to the run before (same status and findings): since when it has been so
    let previous = tx
        .investigations_finished(job.case_id, Some(job.batch))
        .await?
        .into_iter()
        .find(|r| r.investigator == job.investigator);
    let same_since = previous
        .filter(|p| {
            p.status.as_deref() == Some(result.status.as_str())
                && p.findings.as_ref() == Some(&result.findings)
        })
        .and_then(|p| p.same_since.or(p.finished_at));
    tx.investigation_record(id, job.case_id, &result, same_since, now)
        .await?;
    let entry = TimelineEntry {
        at: now,
        kind: TimelineKind::Investigation,
        alert_id: None,
        detail: json!({"investigation": id, "investigator": job.investigator,
                       "trigger": job.trigger, "batch": job.batch, "status": result.status,
                       "reason": result.reason}),
    };
    tx.timeline_insert(&[(job.case_id, &entry)]).await?;
    let jobs = tx.investigations_of_batch(job.batch).await?;
    let mut notes = 0;
    if jobs.iter().all(|j| j.state == "done") {
        if let Some(case) = tx.case_by_id(job.case_id).await? {
            let detail = batch_note(job.batch, &jobs);
            let case_doc = to_json(&case, "case")?;
            let rows: Vec<OutboxRow> = planner
                .plan_note(&case, &detail)
                .into_iter()
                .map(|p| -> Result<OutboxRow> {
                    Ok(OutboxRow {
                        case_id: Some(case.id),
                        output: p.output,
                        action: p.action,
                        case_doc: Some(case_doc.clone()),
                        detail: to_json(&p.detail, "delivery detail")?,
                        held_by: None,
                    })
                })
                .collect::<Result<_>>()?;
            notes = rows.len();
            tx.outbox_insert(&rows, now).await?;
            // found fixed: resolved by the check (after its note); else triage again
            let fixed: Vec<String> = jobs
                .iter()
                .filter_map(|j| j.fixed.as_ref().map(|f| format!("{}: {f}", j.investigator)))
                .collect();
            let by_scan = if fixed.is_empty() {
                None
            } else {
                let by: Vec<&str> = jobs
                    .iter()
                    .filter(|j| j.fixed.is_some())
                    .map(|j| j.investigator.as_str())
                    .collect();
                resolve_by_scan(&case, now, &by.join(", "), &fixed.join("; "))
            };
            match by_scan {
                Some(change) => {
                    write_changes(tx, &[change], &HashMap::new(), planner, None, now).await?
                }
                None => retriage(tx, planner, correlator, &case, now).await?,
            }
        }
    }
    Ok(Finished::Recorded { notes })
}

/// Triage again on the case's latest alert with what its investigations found (the latest
/// finished run of each investigator that did not fail, `{investigator: findings}`); a more
/// severe verdict raises the case through the normal change path (timeline, deliveries, and
/// `severity_raised` investigations).
async fn retriage(
    tx: &mut dyn StoreTx,
    planner: &dyn Planner,
    correlator: &dyn Correlator,
    case: &Case,
    now: DateTime<Utc>,
) -> Result<()> {
    if case.status != irene_core::CaseStatus::Open {
        return Ok(());
    }
    let mut enrichment = serde_json::Map::new();
    for r in tx.investigations_finished(case.id, None).await? {
        if enrichment.contains_key(&r.investigator) || r.status.as_deref() == Some("failed") {
            continue;
        }
        if let Some(f) = r.findings {
            enrichment.insert(r.investigator, f);
        }
    }
    if enrichment.is_empty() {
        return Ok(());
    }
    let Some(alert) = tx.alert_by_id(case.last_alert_id).await? else {
        return Ok(());
    };
    let enrichment = serde_json::Value::Object(enrichment);
    let Some(judged) = correlator.rejudge(&alert, &enrichment) else {
        return Ok(());
    };
    let Some(change) = raise(case, &judged, now) else {
        return Ok(());
    };
    let alerts = HashMap::from([(case.last_alert_id, &alert)]);
    write_changes(tx, &[change], &alerts, planner, None, now).await
}

/// An investigator's summary with its own attachments' links made stable: `attachment:NAME`
/// (in a Markdown link or image target, `(attachment:NAME)`) becomes `attachment:ID` for each
/// attachment recorded with it; other text is left alone. Outputs turn `attachment:ID` into a
/// link they can reach (`irene_outputs::files`).
pub(crate) fn attachment_ids<'a>(
    summary: &'a str,
    named: &[(&str, Uuid)],
) -> std::borrow::Cow<'a, str> {
    let mut out = std::borrow::Cow::Borrowed(summary);
    for (name, id) in named {
        let from = format!("(attachment:{name})");
        if out.contains(&from) {
            out = std::borrow::Cow::Owned(out.replace(&from, &format!("(attachment:{id})")));
        }
    }
    out
}

/// The note of a finished batch (`Action::Note`'s detail): `kind: "investigated"` (a webhook
/// names its event after it), the title, the Markdown (one section per investigator), the batch
/// as `ref`, and `investigations`, the same results as data
/// (`{investigator, status, reason, findings, summary}`, in planning order) for receivers that
/// use them rather than show them.
fn batch_note(batch: Uuid, jobs: &[InvestigationRecord]) -> serde_json::Value {
    let investigations: Vec<serde_json::Value> = jobs
        .iter()
        .map(|j| {
            json!({"investigator": j.investigator, "status": j.status, "reason": j.reason,
                   "findings": j.findings, "summary": j.summary})
        })
        .collect();
    json!({"kind": "investigated", "title": "Investigation", "markdown": batch_markdown(jobs),
           "ref": batch, "investigations": investigations})
}

/// The note's Markdown: one section per investigator, in planning order.
fn batch_markdown(jobs: &[InvestigationRecord]) -> String {
    let mut md = String::new();
    for j in jobs {
        if !md.is_empty() {
            md.push_str("\n\n");
        }
        let status = match (j.status.as_deref(), j.reason.as_deref()) {
            (Some("failed"), Some(reason)) => format!("failed: {reason}"),
            (Some(s), _) => s.replace('_', " "),
            (None, _) => "unknown".to_string(),
        };
        md.push_str(&format!("### {} ({status})\n\n", j.investigator));
        match j.same_since {
            Some(since) => md.push_str(&format!(
                "Unchanged since {}.",
                since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )),
            None => md.push_str(j.summary.as_deref().unwrap_or("").trim()),
        }
    }
    md
}

/// The deliveries each change implies, and for a change whose deliveries are held back (a
/// silence), the timeline entry that says so. `skip`: an output told nothing (the one whose
/// ticket a person changed).
#[allow(clippy::type_complexity)]
fn plan<'a>(
    changes: &[Change],
    planner: &dyn Planner,
    skip: Option<&str>,
    alert_of: &dyn Fn(&Change) -> Option<&'a Alert>,
    inhibitors: &HashMap<Uuid, Vec<Case>>,
) -> Result<Vec<(Vec<OutboxRow>, Option<(Uuid, TimelineEntry)>)>> {
    let mut out = Vec::with_capacity(changes.len());
    for ch in changes {
        let planned = planner.plan(ch);
        let mut rows = Vec::with_capacity(planned.len());
        let mut doc = None;
        for p in planned {
            if Some(p.output.as_str()) == skip {
                continue;
            }
            // A repeat says how the case is when it is sent (it folds later repeats), so it
            // keeps no snapshot and reads the case at claim time: most case changes are
            // repeats, and this keeps their cost to one small row.
            let case_doc = if p.action == Action::Repeat {
                None
            } else {
                if doc.is_none() {
                    doc = Some(to_json(&ch.case, "case")?);
                }
                doc.clone()
            };
            rows.push(OutboxRow {
                case_id: Some(ch.case.id),
                output: p.output,
                action: p.action,
                case_doc,
                detail: to_json(&p.detail, "delivery detail")?,
                held_by: None,
            });
        }
        let mut entry = None;
        if !rows.is_empty() {
            let found = inhibitors.get(&ch.case.id).map_or(&[][..], Vec::as_slice);
            if let Some(hold) = planner.hold(ch, alert_of(ch), found) {
                for r in &mut rows {
                    r.held_by = Some(hold.by.clone());
                }
                entry = Some((
                    ch.case.id,
                    TimelineEntry {
                        at: ch.case.last_seen,
                        kind: TimelineKind::Notification,
                        alert_id: Some(ch.case.last_alert_id),
                        detail: json!({"held": hold.by, "reason": hold.reason,
                                       "outputs": rows.iter().map(|r| &r.output).collect::<Vec<_>>()}),
                    },
                ));
            }
        }
        out.push((rows, entry));
    }
    Ok(out)
}

/// [`investigations_request_once`], run again when it collided with another instance's transaction.
pub(crate) async fn investigations_request<S: Store + ?Sized>(
    store: &S,
    case_id: Uuid,
    investigators: &[String],
    trigger: &str,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>> {
    retrying(|| investigations_request_once(store, case_id, investigators, trigger, now)).await
}

/// Asks for investigations of a case now (see [`Store::investigations_request`]).
async fn investigations_request_once<S: Store + ?Sized>(
    store: &S,
    case_id: Uuid,
    investigators: &[String],
    trigger: &str,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>> {
    let mut tx = store.begin(true).await?;
    if tx.case_by_id(case_id).await?.is_none() {
        tx.commit().await?;
        return Ok(None);
    }
    let batch = Uuid::now_v7();
    let rows: Vec<InvestigationRow> = investigators
        .iter()
        .map(|name| InvestigationRow {
            id: Uuid::now_v7(),
            case_id,
            investigator: name.clone(),
            trigger: trigger.to_string(),
            batch,
        })
        .collect();
    tx.investigations_insert(&rows, now).await?;
    tx.commit().await?;
    Ok(Some(batch))
}

/// [`case_resolve_once`], run again when it collided with another instance's transaction.
pub(crate) async fn case_resolve<S: Store + ?Sized>(
    store: &S,
    id: Uuid,
    by: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Option<(Case, Option<Change>)>> {
    retrying(|| case_resolve_once(store, id, by, reason, now)).await
}

/// Resolves a case by hand (durably). `Ok(None)`: no such case.
async fn case_resolve_once<S: Store + ?Sized>(
    store: &S,
    id: Uuid,
    by: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Option<(Case, Option<Change>)>> {
    let mut tx = store.begin(true).await?;
    let Some(case) = tx.case_by_id(id).await? else {
        tx.commit().await?;
        return Ok(None);
    };
    let change = resolve_by_hand(&case, now, by, reason);
    commit_one(tx, store.planner(), case, change, None, now)
        .await
        .map(Some)
}

/// [`case_reopen_once`], run again when it collided with another instance's transaction.
pub(crate) async fn case_reopen<S: Store + ?Sized>(
    store: &S,
    id: Uuid,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Option<(Case, Option<Change>)>> {
    retrying(|| case_reopen_once(store, id, by, now)).await
}

/// Reopens a resolved case by hand (durably). `Ok(None)`: no such case.
async fn case_reopen_once<S: Store + ?Sized>(
    store: &S,
    id: Uuid,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Option<(Case, Option<Change>)>> {
    let mut tx = store.begin(true).await?;
    let Some(case) = tx.case_by_id(id).await? else {
        tx.commit().await?;
        return Ok(None);
    };
    let change = reopen_by_hand(&case, now, by);
    commit_one(tx, store.planner(), case, change, None, now)
        .await
        .map(Some)
}

/// [`cases_expire_once`], run again when it collided with another instance's transaction.
pub(crate) async fn cases_expire<S: Store + ?Sized>(
    store: &S,
    source: &str,
    expiry: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<Vec<Change>> {
    retrying(|| cases_expire_once(store, source, expiry, now)).await
}

/// Resolves open cases of `source` silent since before `now - expiry`.
async fn cases_expire_once<S: Store + ?Sized>(
    store: &S,
    source: &str,
    expiry: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<Vec<Change>> {
    let mut tx = store.begin(false).await?;
    let silent = tx.cases_silent(source, now - expiry, 1000).await?;
    let changes: Vec<Change> = silent
        .iter()
        .filter_map(|case| expire(case, now, expiry))
        .collect();
    write_changes(
        &mut *tx,
        &changes,
        &HashMap::new(),
        store.planner(),
        None,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(changes)
}

/// [`case_set_by_ticket_once`], run again when it collided with another instance's transaction.
pub(crate) async fn case_set_by_ticket<S: Store + ?Sized>(
    store: &S,
    output: &str,
    reference: &str,
    open: bool,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Option<(Case, Option<Change>)>> {
    retrying(|| case_set_by_ticket_once(store, output, reference, open, by, now)).await
}

/// A person opened or closed the ticket `reference` on `output` (durably).
async fn case_set_by_ticket_once<S: Store + ?Sized>(
    store: &S,
    output: &str,
    reference: &str,
    open: bool,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Option<(Case, Option<Change>)>> {
    let mut tx = store.begin(true).await?;
    let Some(case) = tx.case_by_ticket(output, reference).await? else {
        tx.commit().await?;
        return Ok(None);
    };
    let change = if open {
        reopen_by_hand(&case, now, by)
    } else {
        resolve_by_hand(&case, now, by, &format!("ticket closed on {output}"))
    };
    commit_one(tx, store.planner(), case, change, Some(output), now)
        .await
        .map(Some)
}

/// Writes one case's change (if any) with its deliveries (none to `skip`), commits, and gives
/// the case as it is now.
async fn commit_one(
    mut tx: Box<dyn StoreTx + '_>,
    planner: &dyn Planner,
    case: Case,
    change: Option<Change>,
    skip: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(Case, Option<Change>)> {
    if let Some(ch) = &change {
        write_changes(
            &mut *tx,
            std::slice::from_ref(ch),
            &HashMap::new(),
            planner,
            skip,
            now,
        )
        .await?;
    }
    tx.commit().await?;
    let case = change.as_ref().map(|c| c.case.clone()).unwrap_or(case);
    Ok((case, change))
}

/// [`held_release_once`], run again when it collided with another instance's transaction.
pub(crate) async fn held_release<S: Store + ?Sized>(
    store: &S,
    by: &str,
    now: DateTime<Utc>,
) -> Result<(usize, usize)> {
    retrying(|| held_release_once(store, by, now)).await
}

/// Releases what `by` held, with a timeline entry on each case it touched.
async fn held_release_once<S: Store + ?Sized>(
    store: &S,
    by: &str,
    now: DateTime<Utc>,
) -> Result<(usize, usize)> {
    let mut tx = store.begin(true).await?;
    let (released, dropped) = tx.outbox_release_held(by, now).await?;
    let entry = |what: &str| TimelineEntry {
        at: now,
        kind: TimelineKind::Notification,
        alert_id: None,
        detail: json!({"released": by, "what": what}),
    };
    let sent = entry("the notifications held back are sent now");
    let gone = entry("the notifications held back are dropped: the case is no longer open");
    let mut entries: Vec<(Uuid, &TimelineEntry)> = released.iter().map(|c| (*c, &sent)).collect();
    entries.extend(dropped.iter().map(|c| (*c, &gone)));
    tx.timeline_insert(&entries).await?;
    tx.commit().await?;
    Ok((released.len(), dropped.len()))
}

/// Adds deliveries no case change implies (batch jobs), durably.
/// Quarantines an item that no inbox row holds (a queue's message or object that cannot be
/// taken), durably: its own id ties the entry to nothing else. The entry's id.
pub(crate) async fn quarantine_add<S: Store + ?Sized>(
    store: &S,
    item: &Quarantined,
    now: DateTime<Utc>,
) -> Result<Uuid> {
    let id = Uuid::now_v7();
    let mut tx = store.begin(true).await?;
    tx.quarantine_insert(&[QuarantineRow {
        id,
        inbox_id: Uuid::now_v7(),
        received_at: now,
        item,
    }])
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub(crate) async fn outbox_enqueue<S: Store + ?Sized>(
    store: &S,
    items: &[NewDelivery],
    now: DateTime<Utc>,
) -> Result<()> {
    let mut rows = Vec::with_capacity(items.len());
    for it in items {
        rows.push(OutboxRow {
            case_id: it.case.as_ref().map(|c| c.id),
            output: it.output.clone(),
            action: it.action,
            case_doc: it.case.as_ref().map(|c| to_json(c, "case")).transpose()?,
            detail: to_json(&it.detail, "delivery detail")?,
            held_by: None,
        });
    }
    let mut tx = store.begin(true).await?;
    tx.outbox_insert(&rows, now).await?;
    tx.commit().await
}

/// Records an output's ticket for a case durably (an intent before a call a crash could lose).
pub(crate) async fn ticket_record<S: Store + ?Sized>(
    store: &S,
    case_id: Uuid,
    output: &str,
    kind: &str,
    ticket: &TicketState,
    now: DateTime<Utc>,
) -> Result<()> {
    let mut tx = store.begin(true).await?;
    save_ticket(&mut *tx, case_id, output, kind, ticket, now).await?;
    tx.commit().await
}

/// Writes an output's ticket for a case, and mirrors a made ticket onto the case document so
/// the API shows it.
async fn save_ticket(
    tx: &mut dyn StoreTx,
    case_id: Uuid,
    output: &str,
    kind: &str,
    ticket: &TicketState,
    now: DateTime<Utc>,
) -> Result<()> {
    tx.ticket_save(case_id, output, kind, ticket, now).await?;
    if ticket.reference.is_empty() {
        return Ok(());
    }
    let Some(mut case) = tx.case_by_id(case_id).await? else {
        return Ok(());
    };
    let t = Ticket {
        output: output.to_string(),
        kind: kind.to_string(),
        reference: ticket.reference.clone(),
        url: ticket.url.clone(),
    };
    match case.tickets.iter_mut().find(|x| x.output == output) {
        Some(existing) if *existing == t => return Ok(()),
        Some(existing) => *existing = t,
        None => case.tickets.push(t),
    }
    tx.cases_upsert(&[&case]).await
}

/// A note on a case's timeline about a delivery.
fn note(now: DateTime<Utc>, detail: serde_json::Value) -> TimelineEntry {
    TimelineEntry {
        at: now,
        kind: TimelineKind::Notification,
        alert_id: None,
        detail,
    }
}

/// [`outbox_finish_once`], run again when it collided with another instance's transaction.
pub(crate) async fn outbox_finish<S: Store + ?Sized>(
    store: &S,
    owner: &str,
    id: i64,
    finish: Finish,
    now: DateTime<Utc>,
) -> Result<bool> {
    retrying(|| outbox_finish_once(store, owner, id, finish.clone(), now)).await
}

/// Records how an attempt ended. `Ok(false)`: `owner` no longer holds the delivery.
async fn outbox_finish_once<S: Store + ?Sized>(
    store: &S,
    owner: &str,
    id: i64,
    finish: Finish,
    now: DateTime<Utc>,
) -> Result<bool> {
    let mut tx = store.begin(false).await?;
    let Some(d) = tx.outbox_leased(id, owner).await? else {
        tx.commit().await?;
        return Ok(false);
    };
    let output = d.output.as_str();
    let action = d.action;
    match finish {
        Finish::Done {
            kind,
            ticket,
            note: text,
        } => {
            let set = OutboxSet {
                state: "done",
                attempt: true,
                next_at: None,
                error: None,
                note: Some(&text),
            };
            tx.outbox_set(id, &set, now).await?;
            if let Some(case_id) = d.case_id {
                match &ticket {
                    Some(ticket) => {
                        save_ticket(&mut *tx, case_id, output, &kind, ticket, now).await?
                    }
                    None => tx.ticket_touch(case_id, output, now).await?,
                }
                if action == Action::Resolve {
                    // A close says everything the repeats before it would have said.
                    tx.outbox_fold_repeats(case_id, output, id, now).await?;
                }
                let entry = note(
                    now,
                    json!({"output": output, "action": action, "delivery": id, "result": "sent",
                           "note": text, "reference": ticket.as_ref().map(|t| &t.reference),
                           "url": ticket.as_ref().and_then(|t| t.url.as_ref())}),
                );
                tx.timeline_insert(&[(case_id, &entry)]).await?;
            }
        }
        Finish::Retry { error, next_at } => {
            let set = OutboxSet {
                state: "pending",
                attempt: true,
                next_at: Some(next_at),
                error: Some(&error),
                note: None,
            };
            tx.outbox_set(id, &set, now).await?;
        }
        Finish::Dead { error } => {
            let set = OutboxSet {
                state: "dead",
                attempt: true,
                next_at: None,
                error: Some(&error),
                note: None,
            };
            tx.outbox_set(id, &set, now).await?;
            if let Some(case_id) = d.case_id {
                let entry = note(
                    now,
                    json!({"output": output, "action": action, "delivery": id,
                           "result": "dead", "error": error}),
                );
                tx.timeline_insert(&[(case_id, &entry)]).await?;
            }
        }
        Finish::Defer { until } => {
            let set = OutboxSet {
                state: "pending",
                attempt: false,
                next_at: Some(until),
                error: None,
                note: None,
            };
            tx.outbox_set(id, &set, now).await?;
        }
    }
    tx.commit().await?;
    Ok(true)
}

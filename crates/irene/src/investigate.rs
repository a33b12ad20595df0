//! Investigations, wired: the event reader the investigators query (over the store's event
//! list), and the worker that schedules periodic re-runs, claims, runs (with a timeout, a few at
//! once) and finishes jobs. It decides no finding and posts nothing itself; when investigations
//! run is `investigation_policy.rs`.

use crate::config::InvestigateConfig;
use crate::investigation_policy::Policies;
use crate::worker::{Worker, WorkerState};
use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use irene_investigate::{
    EventReader, EventSummary, Input, Investigator, ReadError, Shot, Status, WatchReader,
    WatchShots,
};
use irene_store::{
    EventFilter, Finished, InvestigationJob, InvestigationResult, NewAttachment, Store,
    WatchImageKind,
};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinSet;

const IDLE_POLL: Duration = Duration::from_secs(5);
/// How often periodic re-runs (`every`) are looked for.
const SCHEDULE_EVERY: Duration = Duration::from_secs(60);
/// The intake wrote this recently: it is busy.
const INTAKE_BUSY: Duration = Duration::from_millis(500);
/// How long investigations pause between batches while the intake is busy.
const YIELD: Duration = Duration::from_millis(250);
/// Most jobs claimed at once (run `concurrency` at a time, recorded in one transaction).
const MAX_CLAIM: usize = 32;
/// A job that was claimed this many times without finishing (its worker kept dying) is
/// recorded as failed instead of run again.
const MAX_ATTEMPTS: u32 = 3;

/// What investigators read from the store: [`EventReader`] over its event list (its
/// `principal` and `source_ip` indexes, newest first, paging until the limit), and
/// [`WatchReader`] over the tamper watch's screenshots.
pub struct StoreReader(pub Arc<dyn Store>);

impl StoreReader {
    async fn read(
        &self,
        mut filter: EventFilter,
        limit: usize,
    ) -> Result<Vec<EventSummary>, ReadError> {
        let mut out = Vec::new();
        loop {
            filter.limit = u32::try_from(limit.saturating_sub(out.len())).unwrap_or(u32::MAX);
            if filter.limit == 0 {
                return Ok(out);
            }
            let page = self
                .0
                .events_list(&filter)
                .await
                .map_err(|e| ReadError(e.to_string()))?;
            out.extend(page.items.into_iter().map(|e| {
                let raw = &e.event.raw;
                let error_code = raw
                    .get("errorCode")
                    .and_then(|c| c.as_str())
                    .map(str::to_string)
                    .or_else(|| {
                        raw.pointer("/protoPayload/status/code")
                            .and_then(|c| c.as_i64())
                            .filter(|c| *c != 0)
                            .map(|c| c.to_string())
                    });
                EventSummary {
                    id: e.id.to_string(),
                    time: e.event.observed_at.unwrap_or(e.received_at),
                    name: e.event.name,
                    account: e.event.account,
                    principal: e.event.actor.principal,
                    source_ip: e.event.actor.ip,
                    user_agent: e.event.actor.user_agent,
                    error_code,
                }
            }));
            match page.next_cursor {
                Some(c) if out.len() < limit => filter.cursor = Some(c),
                _ => return Ok(out),
            }
        }
    }
}

#[async_trait]
impl EventReader for StoreReader {
    async fn events_by_principal(
        &self,
        principal: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<EventSummary>, ReadError> {
        let filter = EventFilter {
            principal: Some(principal.to_string()),
            since: Some(since),
            until: Some(until),
            ..Default::default()
        };
        self.read(filter, limit).await
    }

    async fn events_by_ip(
        &self,
        ip: IpAddr,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<EventSummary>, ReadError> {
        let filter = EventFilter {
            source_ip: Some(ip.to_string()),
            since: Some(since),
            until: Some(until),
            ..Default::default()
        };
        self.read(filter, limit).await
    }
}

#[async_trait]
impl WatchReader for StoreReader {
    async fn watch_shots(&self, watch: &str) -> Result<WatchShots, ReadError> {
        let get = |kind| async move {
            self.0
                .watch_image_get(watch, kind)
                .await
                .map(|i| {
                    i.map(|i| Shot {
                        taken_at: i.taken_at,
                        png: i.png,
                    })
                })
                .map_err(|e| ReadError(e.to_string()))
        };
        Ok(WatchShots {
            before: get(WatchImageKind::Baseline).await?,
            after: get(WatchImageKind::Current).await?,
        })
    }
}

struct Shared {
    store: Arc<dyn Store>,
    investigators: HashMap<String, Arc<dyn Investigator>>,
    policies: Arc<Policies>,
    reader: StoreReader,
    cfg: InvestigateConfig,
    owner: String,
    deliver_wake: Arc<Notify>,
    /// While payloads are arriving, investigations yield between batches.
    intake: Arc<crate::intake::Activity>,
}

/// The investigation worker: one unit claims a few due jobs, runs them and finishes them.
pub struct InvestigationWorker {
    shared: Arc<Shared>,
    /// Woken by the pipeline after commits that changed cases.
    wake: Arc<Notify>,
    /// When periodic re-runs were last looked for.
    scheduled: Option<std::time::Instant>,
    leader: crate::leader::Leader,
}

/// What the investigation worker is built from.
pub struct InvestigationSetup {
    pub store: Arc<dyn Store>,
    pub investigators: Vec<Arc<dyn Investigator>>,
    pub policies: Arc<Policies>,
    pub cfg: InvestigateConfig,
    /// Its name on leases.
    pub owner: String,
    /// Woken by the pipeline after commits that changed cases.
    pub wake: Arc<Notify>,
    /// Wakes the delivery worker after notes or raises were planned.
    pub deliver_wake: Arc<Notify>,
    /// While payloads are arriving, investigations yield between batches.
    pub intake: Arc<crate::intake::Activity>,
    /// Periodic re-runs are asked for by the leading instance only.
    pub leader: crate::leader::Leader,
}

impl InvestigationWorker {
    pub fn new(setup: InvestigationSetup) -> Self {
        let investigators = setup
            .investigators
            .into_iter()
            .map(|i| (i.name().to_string(), i))
            .collect();
        InvestigationWorker {
            shared: Arc::new(Shared {
                reader: StoreReader(setup.store.clone()),
                store: setup.store,
                investigators,
                policies: setup.policies,
                cfg: setup.cfg,
                owner: setup.owner,
                deliver_wake: setup.deliver_wake,
                intake: setup.intake,
            }),
            wake: setup.wake,
            scheduled: None,
            leader: setup.leader,
        }
    }

    /// Asks for the periodic re-runs that are due (`every`): for each such policy, the open
    /// cases it covers whose last run of its investigator is older than its period. Looked
    /// for at most once a minute. Returns how many were asked for.
    async fn schedule(&mut self) -> anyhow::Result<usize> {
        if self.scheduled.is_some_and(|t| t.elapsed() < SCHEDULE_EVERY)
            || !self.leader.leads().await
        {
            return Ok(0);
        }
        self.scheduled = Some(std::time::Instant::now());
        let s = &self.shared;
        let mut asked = 0;
        for policy in s.policies.periodic() {
            let Some(every) = policy.every else { continue };
            let now = Utc::now();
            let since = now - chrono::Duration::from_std(every).unwrap_or(chrono::Duration::MAX);
            let mut after = None;
            loop {
                let ids = s
                    .store
                    .investigations_stale(&policy.investigator, since, after, 200)
                    .await
                    .context("looking for periodic re-runs")?;
                let Some(last) = ids.last().copied() else {
                    break;
                };
                after = Some(last);
                for id in ids {
                    let Some(detail) = s.store.case_get(id).await? else {
                        continue;
                    };
                    let alert = s
                        .store
                        .alert_get(detail.case.last_alert_id)
                        .await?
                        .map(|a| a.judged.alert);
                    if !policy.covers(&detail.case, alert.as_ref()) {
                        continue;
                    }
                    let name = [policy.investigator.clone()];
                    if s.store
                        .investigations_request(id, &name, "every", now)
                        .await?
                        .is_some()
                    {
                        asked += 1;
                    }
                }
            }
        }
        if asked > 0 {
            tracing::info!(investigations = asked, "periodic re-runs due");
        }
        Ok(asked)
    }
}

/// What the store records of an investigator's outcome. A partial outcome
/// ([`Outcome::incomplete`](irene_investigate::Outcome)) is recorded as it is, its summary
/// saying what is missing; [`retry_or_record`] decides whether it is retried first.
pub fn result_of(outcome: irene_investigate::Outcome) -> InvestigationResult {
    let (status, reason) = match outcome.status {
        Status::Done => ("done", None),
        Status::NothingFound => ("nothing_found", None),
        Status::Failed { reason } => ("failed", Some(reason)),
    };
    let mut summary = outcome.summary;
    if let Some(why) = &outcome.incomplete {
        summary.push_str(&format!("\n\n_Partial: {why}._"));
    }
    InvestigationResult {
        status: status.to_string(),
        reason: reason.or(outcome.incomplete),
        retry_at: None,
        fixed: outcome.fixed,
        findings: outcome.findings,
        summary,
        attachments: outcome
            .attachments
            .into_iter()
            .map(|a| NewAttachment {
                name: a.name,
                content_type: a.content_type,
                bytes: a.bytes,
            })
            .collect(),
    }
}

/// How many jobs to claim at once: as many rounds of `concurrency` as fit twice in the lease
/// at the worst (every job timing out), so a claim is always finished while it is held.
fn claim_size(cfg: &InvestigateConfig) -> usize {
    let worst_round = cfg.timeout.as_secs_f64().max(0.001);
    let rounds = (cfg.lease.as_secs_f64() / (2.0 * worst_round))
        .floor()
        .max(1.0) as usize;
    (cfg.concurrency.max(1) * rounds).min(MAX_CLAIM)
}

/// Runs one investigator for at most `timeout` (then: failed, "timed out after …").
pub async fn investigate_within(
    investigator: &dyn Investigator,
    input: &Input<'_>,
    timeout: Duration,
) -> irene_investigate::Outcome {
    match tokio::time::timeout(timeout, investigator.investigate(input)).await {
        Ok(outcome) => outcome,
        Err(_) => irene_investigate::Outcome::failed(format!("timed out after {timeout:?}")),
    }
}

/// A partial outcome on attempt `attempts` (from 1): retried later (30 s, then 2 min) while
/// attempts remain, else recorded as it is.
pub fn retry_or_record(
    outcome: irene_investigate::Outcome,
    attempts: u32,
    now: DateTime<Utc>,
) -> InvestigationResult {
    match &outcome.incomplete {
        Some(why) if attempts < MAX_ATTEMPTS => {
            let wait = 30 * 4_i64.pow(attempts.saturating_sub(1).min(4));
            let mut r = result_of(outcome.clone());
            r.reason = Some(why.clone());
            r.retry_at = Some(now + chrono::Duration::seconds(wait));
            r
        }
        _ => result_of(outcome),
    }
}

fn failed(reason: String) -> InvestigationResult {
    result_of(irene_investigate::Outcome::failed(reason))
}

impl Shared {
    /// Runs one job to its result (never an error: a failure is the result).
    async fn run(&self, job: &InvestigationJob) -> InvestigationResult {
        if job.attempts > MAX_ATTEMPTS {
            return failed(format!(
                "gave up after {} attempts (the worker stopped each time)",
                job.attempts - 1
            ));
        }
        let Some(investigator) = self.investigators.get(&job.investigator) else {
            return failed(format!(
                "investigator {:?} is not available in this configuration",
                job.investigator
            ));
        };
        let Some(alert) = &job.alert else {
            return failed("the case has no alert to investigate".to_string());
        };
        let input = Input {
            case: &job.case,
            alert,
            now: Utc::now(),
            events: &self.reader,
            watches: &self.reader,
        };
        let outcome = investigate_within(&**investigator, &input, self.cfg.timeout).await;
        retry_or_record(outcome, job.attempts, Utc::now())
    }

    /// Records what one job's finish said: metrics, a log line, a wake-up for its notes.
    fn finished(&self, job: &InvestigationJob, status: &str, finished: Finished) {
        metrics::counter!("irene_investigations_total", "investigator" => job.investigator.clone(), "status" => status.to_string())
            .increment(1);
        match finished {
            Finished::NotHeld => {
                tracing::warn!(investigation = %job.id, "the investigation was taken over; its result is dropped")
            }
            Finished::Retrying => {
                tracing::info!(investigation = %job.id, case = %job.case_id, investigator = %job.investigator, attempts = job.attempts, "the answer was partial; it runs again later")
            }
            Finished::Recorded { notes } => {
                tracing::info!(investigation = %job.id, case = %job.case_id, investigator = %job.investigator, status, notes, "investigated");
                // notes, or a raise on the findings, may have been planned
                self.deliver_wake.notify_one();
            }
        }
    }
}

#[async_trait]
impl Worker for InvestigationWorker {
    fn name(&self) -> &'static str {
        "investigations"
    }

    async fn work(&mut self) -> anyhow::Result<WorkerState> {
        self.schedule().await?;
        let s = &self.shared;
        let jobs = s
            .store
            .investigations_claim(&s.owner, claim_size(&s.cfg), s.cfg.lease, Utc::now())
            .await
            .context("claiming investigations")?;
        if jobs.is_empty() {
            return Ok(WorkerState::Idle);
        }
        // At most `concurrency` run at once; their results are recorded together, in one
        // transaction, so a burst of cases does not cost the writer one per investigator.
        let permits = Arc::new(tokio::sync::Semaphore::new(s.cfg.concurrency.max(1)));
        let mut tasks = JoinSet::new();
        for job in jobs {
            let s = s.clone();
            let permits = permits.clone();
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await;
                let result = s.run(&job).await;
                (job, result)
            });
        }
        let mut ran = Vec::new();
        while let Some(r) = tasks.join_next().await {
            match r {
                Ok(done) => ran.push(done),
                // An investigator panicked: its job stays leased and comes back after the lease.
                Err(e) => tracing::error!(error = %e, "an investigation task failed"),
            }
        }
        let statuses: Vec<String> = ran.iter().map(|(_, r)| r.status.clone()).collect();
        let (jobs, results): (Vec<InvestigationJob>, Vec<InvestigationResult>) =
            ran.into_iter().unzip();
        let finished = s
            .store
            .investigations_finish(
                &s.owner,
                jobs.iter().map(|j| j.id).zip(results).collect(),
                Utc::now(),
            )
            .await
            .context("recording investigations")?;
        for ((job, status), f) in jobs.iter().zip(&statuses).zip(finished) {
            s.finished(job, status, f);
        }
        // Accepting alerts comes first: during a burst, investigations go on at a trickle.
        if s.intake.recent(INTAKE_BUSY) {
            return Ok(WorkerState::Throttled(YIELD));
        }
        Ok(WorkerState::Busy)
    }

    async fn wait_for_work(&mut self) {
        tokio::select! {
            _ = self.wake.notified() => {}
            _ = tokio::time::sleep(IDLE_POLL) => {}
        }
    }

    async fn stop(&mut self) {
        match self
            .shared
            .store
            .investigation_release(&self.shared.owner)
            .await
        {
            Ok(n) if n > 0 => {
                tracing::info!(investigations = n, "released unfinished investigations")
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "releasing investigations failed; their leases expire")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use irene_core::{correlate, Alert, AlertState, Judged, Severity};
    use irene_investigate::events::NoEvents;
    use irene_investigate::Outcome;
    use serde_json::json;
    use uuid::Uuid;

    fn judged(key: &str, sev: Severity, state: AlertState) -> Judged {
        let mut a = Alert::new("generic", "t", key, "title", sev, json!({}));
        a.state = state;
        Judged::unjudged(a)
    }

    #[test]
    fn a_claim_is_always_finished_within_its_lease() {
        let cfg = |timeout: u64, lease: u64, concurrency: usize| InvestigateConfig {
            enabled: true,
            timeout: Duration::from_secs(timeout),
            concurrency,
            lease: Duration::from_secs(lease),
        };
        // (timeout s, lease s, concurrency, claimed at once)
        for (t, l, c, want) in [
            (30, 120, 4, 8),
            (30, 60, 4, 4),
            (30, 20, 4, 4),
            (1, 120, 4, 32),
            (30, 120, 0, 2),
        ] {
            let got = claim_size(&cfg(t, l, c));
            assert_eq!(got, want, "timeout {t}s lease {l}s concurrency {c}");
            // worst case: every job times out, rounds of `concurrency`
            let rounds = got.div_ceil(c.max(1)) as u64;
            assert!(rounds * t <= l.max(t), "{t} {l} {c}: {got}");
        }
    }

    struct Slow;

    #[async_trait]
    impl Investigator for Slow {
        fn name(&self) -> &'static str {
            "slow"
        }
        async fn investigate(&self, _input: &Input<'_>) -> Outcome {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Outcome::done(json!({}), "never".into())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_investigator_that_runs_too_long_fails_with_the_time() {
        let j = judged("k", Severity::High, AlertState::Active);
        let change =
            correlate(None, &j, Uuid::now_v7(), Uuid::now_v7(), Utc::now()).expect("opens");
        let input = Input {
            case: &change.case,
            alert: &j.alert,
            now: Utc::now(),
            events: &NoEvents,
            watches: &irene_investigate::NoWatches,
        };
        let r = result_of(investigate_within(&Slow, &input, Duration::from_secs(30)).await);
        assert_eq!(r.status, "failed");
        assert_eq!(r.reason.as_deref(), Some("timed out after 30s"));
    }
}

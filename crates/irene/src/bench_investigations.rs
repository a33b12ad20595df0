//! `irene bench --investigations`: CloudTrail-like events loaded through the pipeline's own
//! commit into a temporary SQLite store, `actor_history` latency over them, and investigations/s
//! through the investigation worker (claim → run → batch finish). Measures only; asserts nothing.

use crate::bench::BenchArgs;
use crate::config::InvestigateConfig;
use crate::investigate::{InvestigationSetup, InvestigationWorker, StoreReader};
use crate::investigation_policy::{InvestigatingPlanner, Policies};
use crate::pipeline::process_row;
use crate::worker::{Worker, WorkerState};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use irene_core::{correlate, Alert, Judged, NoCorrelations, Severity};
use irene_investigate::feeds::{builtin_feeds, FeedSet};
use irene_investigate::{Context, GeoDb, Input, Investigator};
use irene_rules::sigma::SigmaRules;
use irene_rules::{RuleFile, TriageRules};
use irene_sources::Limits;
use irene_store::{ClaimLimit, Location, NewInbox, Store};
use serde_json::{json, Value};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PRINCIPALS: usize = 10_000;
const IPS: usize = 50_000;
/// The few principals with many events (a CI role, an automation user…).
const HOT: usize = 5;
/// Their share of all events.
const HOT_SHARE: f64 = 0.2;
const DAYS: i64 = 30;
const ACCOUNTS: usize = 40;
const RECORDS_PER_PAYLOAD: usize = 1_000;
const NAMES: [&str; 16] = [
    "ConsoleLogin",
    "GetObject",
    "PutObject",
    "ListBuckets",
    "DescribeInstances",
    "AssumeRole",
    "GetCallerIdentity",
    "CreateAccessKey",
    "DeleteTrail",
    "StopLogging",
    "AuthorizeSecurityGroupIngress",
    "RunInstances",
    "GetSecretValue",
    "Decrypt",
    "ListUsers",
    "PutBucketPolicy",
];

/// The built-in feeds' fixture excerpts, as the reputation investigator would have them loaded.
const FEED_FIXTURES: [(&str, &[u8]); 5] = [
    (
        irene_investigate::feeds::TOR,
        include_bytes!(
            "../../investigate/tests/fixtures/threat-intel/tor_bulk_exit_list_excerpt.txt"
        ),
    ),
    (
        irene_investigate::feeds::SPAMHAUS_DROP,
        include_bytes!("../../investigate/tests/fixtures/threat-intel/spamhaus_drop_excerpt.txt"),
    ),
    (
        irene_investigate::feeds::SPAMHAUS_ASNDROP,
        include_bytes!(
            "../../investigate/tests/fixtures/threat-intel/spamhaus_asndrop_excerpt.jsonl"
        ),
    ),
    (
        irene_investigate::feeds::FEODO,
        include_bytes!(
            "../../investigate/tests/fixtures/threat-intel/feodo_ipblocklist_recommended.txt"
        ),
    ),
    (
        irene_investigate::feeds::FIREHOL_LEVEL1,
        include_bytes!(
            "../../investigate/tests/fixtures/threat-intel/firehol_level1_excerpt.netset"
        ),
    ),
];

/// A small deterministic generator (xorshift), so that runs compare.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Who does what: principals (a few hot, the rest skewed), each mostly from its own few IPs.
pub(crate) struct Population {
    pub(crate) now: DateTime<Utc>,
}

impl Population {
    fn account(p: usize) -> String {
        format!("{:012}", 100_000_000_000u64 + (p % ACCOUNTS) as u64)
    }

    pub(crate) fn principal(p: usize) -> String {
        let who = if p < HOT {
            format!("role/bench-automation-{p}")
        } else {
            format!("user/bench-user-{p}")
        };
        format!("arn:aws:iam::{}:{who}", Self::account(p))
    }

    pub(crate) fn ip(i: usize) -> String {
        Ipv4Addr::from(0x2000_0000u32 + (i as u32).wrapping_mul(7_919)).to_string()
    }

    /// A principal: a hot one for `HOT_SHARE` of the events, else skewed towards low numbers.
    fn pick_principal(rng: &mut Rng) -> usize {
        if rng.unit() < HOT_SHARE {
            rng.below(HOT)
        } else {
            HOT + ((rng.unit().powi(2)) * (PRINCIPALS - HOT) as f64) as usize
        }
    }

    /// An IP of principal `p`: one of its five for most events, any of the 50,000 else.
    fn pick_ip(rng: &mut Rng, p: usize) -> usize {
        let own = if p < HOT { 0.5 } else { 0.8 };
        if rng.unit() < own {
            (p * 5 + rng.below(5)) % IPS
        } else {
            rng.below(IPS)
        }
    }

    fn time(&self, rng: &mut Rng) -> DateTime<Utc> {
        let secs = (rng.unit() * (DAYS * 86_400) as f64) as i64;
        self.now - ChronoDuration::seconds(secs)
    }

    /// One CloudTrail record.
    fn record(&self, rng: &mut Rng, n: usize) -> Value {
        let p = Self::pick_principal(rng);
        let ip = Self::pick_ip(rng, p);
        let name = NAMES[rng.below(NAMES.len())];
        let at = self.time(rng);
        let mut r = json!({
            "eventVersion": "1.08",
            "userIdentity": {
                "type": if p < HOT { "AssumedRole" } else { "IAMUser" },
                "principalId": format!("AIDA{p:016}"),
                "arn": Self::principal(p),
                "accountId": Self::account(p),
                "userName": format!("bench-user-{p}"),
            },
            "eventTime": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "eventSource": "iam.amazonaws.com",
            "eventName": name,
            "awsRegion": "eu-west-1",
            "sourceIPAddress": Self::ip(ip),
            "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1",
            "requestParameters": {"n": n},
            "responseElements": null,
            "eventID": format!("00000000-0000-4000-8000-{n:012}"),
            "eventType": "AwsApiCall",
            "recipientAccountId": Self::account(p),
        });
        if rng.below(20) == 0 {
            r["errorCode"] = json!("AccessDenied");
        }
        r
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn dir_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// The feed set of the built-in feeds' fixture excerpts.
fn feeds() -> anyhow::Result<FeedSet> {
    let mut set = FeedSet::new();
    for def in builtin_feeds() {
        if let Some((_, body)) = FEED_FIXTURES.iter().find(|(n, _)| *n == def.name) {
            set.add_body(&def.name, &def.format, body)
                .map_err(|e| anyhow::anyhow!("feed {}: {e}", def.name))?;
        }
    }
    Ok(set)
}

/// A small GeoLite2-shaped City and ASN pair (every /8 one country, one AS), so that `geoip`
/// is registered and reputation can match ASN lists.
fn geo() -> anyhow::Result<GeoDb> {
    #[derive(serde::Serialize)]
    struct City {
        country: std::collections::BTreeMap<&'static str, &'static str>,
    }
    #[derive(serde::Serialize)]
    struct Asn {
        autonomous_system_number: u32,
        autonomous_system_organization: &'static str,
    }
    let mut city = mmdb_writer::Writer::new("GeoLite2-City");
    let mut asn = mmdb_writer::Writer::new("GeoLite2-ASN");
    for a in 1..=223u32 {
        let net: ipnet::IpNet = format!("{a}.0.0.0/8").parse()?;
        let country = if a % 2 == 0 { "NL" } else { "US" };
        city.insert(
            net,
            &City {
                country: [("iso_code", country)].into(),
            },
        )
        .map_err(|e| anyhow::anyhow!("mmdb: {e:?}"))?;
        asn.insert(
            net,
            &Asn {
                autonomous_system_number: 64_000 + a,
                autonomous_system_organization: "Bench AS",
            },
        )
        .map_err(|e| anyhow::anyhow!("mmdb: {e:?}"))?;
    }
    let city = city
        .to_bytes()
        .map_err(|e| anyhow::anyhow!("mmdb: {e:?}"))?;
    let asn = asn.to_bytes().map_err(|e| anyhow::anyhow!("mmdb: {e:?}"))?;
    GeoDb::from_bytes(Some(city), Some(asn)).map_err(|e| anyhow::anyhow!("mmdb: {e:?}"))
}

pub async fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let feeds = feeds()?;
    let ctx = Context::new(Arc::new(feeds), Some(Arc::new(geo()?)));
    let investigators = irene_investigate::registry(&ctx);
    let names: Vec<String> = investigators.iter().map(|i| i.name().to_string()).collect();
    let named: Vec<&str> = names.iter().map(String::as_str).collect();
    let policies = Arc::new(Policies::defaults(&named));
    let planner = InvestigatingPlanner {
        outputs: crate::bench::bench_routes()?,
        policies: policies.clone(),
    };
    let dir = tempfile::tempdir()?;
    let store = irene_store::open(
        &Location::Sqlite(dir.path().to_path_buf()),
        Arc::new(planner),
        Arc::new(NoCorrelations),
    )
    .await?;
    let population = Population { now: Utc::now() };
    load_events(&*store, &population, args.events).await?;
    println!(
        "store: {:.0} MiB on disk (events with their raw records, and the inbox payloads they came in)",
        dir_size(dir.path()) as f64 / (1024.0 * 1024.0)
    );
    actor_history_latency(&store, &ctx, &population, args.history_runs).await?;
    worker_rate(
        &store,
        investigators,
        policies,
        &names,
        &population,
        args.cases,
    )
    .await?;
    store.close().await;
    Ok(())
}

/// Loads `n` events as CloudTrail payloads through the pipeline's path: inbox append, claim,
/// `process_row` (decode, Sigma), `commit_processed` (events stored once per event id).
pub(crate) async fn load_events(
    store: &dyn Store,
    population: &Population,
    n: usize,
) -> anyhow::Result<()> {
    let rules = TriageRules::compile(&[RuleFile {
        name: "none".into(),
        text: String::new(),
    }])
    .map_err(|e| anyhow::anyhow!("{:?}", e.first().map(|e| e.to_string())))?;
    let (no_sigma, _) = SigmaRules::compile(&[]);
    let limits = Limits::default();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut made, mut stored) = (0usize, 0usize);
    let (mut gen_secs, mut append_secs, mut cpu_secs, mut commit_secs) = (0f64, 0f64, 0f64, 0f64);
    let started = Instant::now();
    while made < n {
        // ten payloads at a time: appended, then claimed and committed as the pipeline does
        let t = Instant::now();
        let mut batch = Vec::new();
        for _ in 0..10 {
            if made >= n {
                break;
            }
            let count = RECORDS_PER_PAYLOAD.min(n - made);
            let records: Vec<Value> = (0..count)
                .map(|k| population.record(&mut rng, made + k))
                .collect();
            made += count;
            batch.push(NewInbox {
                id: uuid::Uuid::now_v7(),
                source: "aws.cloudtrail".into(),
                received_at: Utc::now(),
                body: json!({ "Records": records }).to_string().into_bytes(),
                items: count as i64,
                idempotency_key: None,
                complete_scan: false,
            });
        }
        gen_secs += t.elapsed().as_secs_f64();
        let t = Instant::now();
        store.inbox_append(&batch).await?;
        append_secs += t.elapsed().as_secs_f64();
        loop {
            // the pipeline's default claim: 256 payloads, 5,000 items
            let limit = ClaimLimit {
                payloads: 256,
                items: 5_000,
            };
            let rows = store
                .inbox_claim("bench", limit, Duration::from_secs(600), Utc::now())
                .await?;
            if rows.is_empty() {
                break;
            }
            let t = Instant::now();
            let processed: Vec<_> = rows
                .iter()
                .map(|r| process_row(r, &rules, &no_sigma, &limits, 5))
                .collect();
            cpu_secs += t.elapsed().as_secs_f64();
            let t = Instant::now();
            let summary = store
                .commit_processed("bench", processed, Utc::now())
                .await?;
            commit_secs += t.elapsed().as_secs_f64();
            stored += summary.events;
        }
    }
    let total = started.elapsed().as_secs_f64() - gen_secs;
    println!(
        "events: {stored} CloudTrail events ({PRINCIPALS} principals, {HOT} of them with {:.0}% of the events; {IPS} IPs; {DAYS} days) loaded in {total:.1} s through the pipeline's commit = {:.0} events/s (durable append {append_secs:.1} s, decode {cpu_secs:.1} s, commit {commit_secs:.1} s; generating them {gen_secs:.1} s, not counted)",
        HOT_SHARE * 100.0,
        stored as f64 / total.max(1e-9),
    );
    Ok(())
}

/// An alert as a detector would raise it about principal `p` from IP `ip` at `at`.
fn alert_of(p: usize, ip: usize, at: DateTime<Utc>, key: usize) -> Alert {
    let mut a = Alert::new(
        "generic",
        "Bench:IAMUser/Anomaly",
        format!("bench-{key}"),
        "Unusual API calls",
        Severity::High,
        json!({}),
    );
    a.actor.principal = Some(Population::principal(p));
    a.actor.ip = Some(Population::ip(ip));
    a.observed_at = Some(at);
    a
}

/// `actor_history` over the store's event reader (the binary's `StoreReader`), for random
/// alerts, every tenth about a hot principal.
async fn actor_history_latency(
    store: &Arc<dyn Store>,
    ctx: &Context,
    population: &Population,
    runs: usize,
) -> anyhow::Result<()> {
    let history = irene_investigate::investigator("actor_history", ctx)
        .ok_or_else(|| anyhow::anyhow!("actor_history is not registered"))?;
    let events = StoreReader(store.clone());
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let (mut all, mut hot) = (Vec::new(), Vec::new());
    let mut found = 0u64;
    let mut truncated = 0usize;
    for r in 0..runs {
        let is_hot = r % 10 == 0;
        let p = if is_hot {
            rng.below(HOT)
        } else {
            Population::pick_principal(&mut rng)
        };
        let ip = Population::pick_ip(&mut rng, p);
        let alert = alert_of(p, ip, population.time(&mut rng), r);
        let judged = Judged::unjudged(alert);
        let now = Utc::now();
        let case = correlate(
            None,
            &judged,
            uuid::Uuid::now_v7(),
            uuid::Uuid::now_v7(),
            now,
        )
        .map(|c| c.case)
        .ok_or_else(|| anyhow::anyhow!("the alert opened no case"))?;
        let input = Input {
            case: &case,
            alert: &judged.alert,
            now,
            events: &events,
            watches: &irene_investigate::NoWatches,
        };
        let t = Instant::now();
        let out = history.investigate(&input).await;
        let took = t.elapsed();
        found += out.findings["events"].as_u64().unwrap_or(0);
        if out.findings["truncated"] == true {
            truncated += 1;
        }
        all.push(took);
        if is_hot {
            hot.push(took);
        }
    }
    all.sort();
    hot.sort();
    println!(
        "actor_history over the stored events, {runs} alerts: p50 {} p95 {} p99 {} max {} (hot principals, {} runs: p50 {} p95 {} max {}); {:.0} events found on average, {truncated} runs at the limit",
        ms(percentile(&all, 0.50)),
        ms(percentile(&all, 0.95)),
        ms(percentile(&all, 0.99)),
        ms(percentile(&all, 1.0)),
        hot.len(),
        ms(percentile(&hot, 0.50)),
        ms(percentile(&hot, 0.95)),
        ms(percentile(&hot, 1.0)),
        found as f64 / runs.max(1) as f64,
    );
    Ok(())
}

/// Opens `cases` cases (high, so each gets a job per investigator) through the pipeline's
/// commit, then runs the investigation worker until it is idle: jobs/s end to end.
async fn worker_rate(
    store: &Arc<dyn Store>,
    investigators: Vec<Arc<dyn Investigator>>,
    policies: Arc<Policies>,
    names: &[String],
    population: &Population,
    cases: usize,
) -> anyhow::Result<()> {
    let rules = TriageRules::compile(&[RuleFile {
        name: "none".into(),
        text: String::new(),
    }])
    .map_err(|e| anyhow::anyhow!("{:?}", e.first().map(|e| e.to_string())))?;
    let (no_sigma, _) = SigmaRules::compile(&[]);
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let alerts: Vec<Value> = (0..cases)
        .map(|k| {
            let p = Population::pick_principal(&mut rng);
            let ip = Population::pick_ip(&mut rng, p);
            let at = population.time(&mut rng);
            json!({
                "key": format!("bench-case-{k}"),
                "title": format!("Unusual API calls by {}", Population::principal(p)),
                "type": "Bench:IAMUser/Anomaly",
                "severity": "high",
                "account": Population::account(p),
                "observed_at": at.to_rfc3339(),
                "actor": {"principal": Population::principal(p), "ip": Population::ip(ip)},
            })
        })
        .collect();
    store
        .inbox_append(&[NewInbox {
            id: uuid::Uuid::now_v7(),
            source: "generic".into(),
            received_at: Utc::now(),
            body: Value::Array(alerts).to_string().into_bytes(),
            items: cases as i64,
            idempotency_key: None,
            complete_scan: false,
        }])
        .await?;
    let rows = store
        .inbox_claim(
            "bench",
            ClaimLimit::payloads(1),
            Duration::from_secs(600),
            Utc::now(),
        )
        .await?;
    let processed: Vec<_> = rows
        .iter()
        .map(|r| process_row(r, &rules, &no_sigma, &Limits::default(), 5))
        .collect();
    let summary = store
        .commit_processed("bench", processed, Utc::now())
        .await?;
    let jobs = summary.alerts * names.len();
    let mut worker = InvestigationWorker::new(InvestigationSetup {
        store: store.clone(),
        investigators,
        policies,
        cfg: InvestigateConfig::default(),
        owner: "bench-investigations".into(),
        wake: Arc::new(tokio::sync::Notify::new()),
        deliver_wake: Arc::new(tokio::sync::Notify::new()),
        intake: Arc::new(crate::intake::Activity::default()),
        leader: crate::leader::Leader::new(store.clone()),
    });
    let started = Instant::now();
    let mut units = 0;
    loop {
        match worker.work().await? {
            WorkerState::Idle | WorkerState::Done => break,
            _ => units += 1,
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let notes = store
        .outbox_list(&irene_store::DeliveryFilter {
            limit: 1,
            ..Default::default()
        })
        .await
        .map(|p| !p.items.is_empty())
        .unwrap_or(false);
    println!(
        "investigations through the worker (claim, run, record a batch per transaction, notes enqueued{}): {} cases x {} ({}) = {jobs} jobs in {secs:.2} s = {:.0} investigations/s ({:.0} cases/s; {units} claims, {} jobs at once)",
        if notes { "" } else { ": none seen!" },
        summary.alerts,
        names.len(),
        names.join(", "),
        jobs as f64 / secs.max(1e-9),
        summary.alerts as f64 / secs.max(1e-9),
        InvestigateConfig::default().concurrency,
    );
    Ok(())
}

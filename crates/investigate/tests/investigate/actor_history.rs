use super::common::*;
use chrono::{DateTime, Duration, Utc};
use irene_investigate::actor_history::ActorHistory;
use irene_investigate::{EventReader, EventSummary, ReadError, Status};
use std::net::IpAddr;

/// The narrow trait over a vector: the SQLite implementation comes with the wiring.
struct Memory(Vec<EventSummary>);

#[async_trait::async_trait]
impl EventReader for Memory {
    async fn events_by_principal(
        &self,
        principal: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<EventSummary>, ReadError> {
        Ok(self.pick(
            |e| e.principal.as_deref() == Some(principal),
            since,
            until,
            limit,
        ))
    }

    async fn events_by_ip(
        &self,
        ip: IpAddr,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<EventSummary>, ReadError> {
        let ip = ip.to_string();
        Ok(self.pick(|e| e.source_ip.as_deref() == Some(&ip), since, until, limit))
    }
}

impl Memory {
    fn pick(
        &self,
        f: impl Fn(&EventSummary) -> bool,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Vec<EventSummary> {
        let mut v: Vec<EventSummary> = self
            .0
            .iter()
            .filter(|e| f(e) && e.time >= since && e.time < until)
            .cloned()
            .collect();
        v.sort_by_key(|e| std::cmp::Reverse(e.time));
        v.truncate(limit);
        v
    }
}

struct Broken;

#[async_trait::async_trait]
impl EventReader for Broken {
    async fn events_by_principal(
        &self,
        _: &str,
        _: DateTime<Utc>,
        _: DateTime<Utc>,
        _: usize,
    ) -> Result<Vec<EventSummary>, ReadError> {
        Err(ReadError("database is locked".into()))
    }
    async fn events_by_ip(
        &self,
        _: IpAddr,
        _: DateTime<Utc>,
        _: DateTime<Utc>,
        _: usize,
    ) -> Result<Vec<EventSummary>, ReadError> {
        Err(ReadError("database is locked".into()))
    }
}

fn ev(
    id: &str,
    hours: i64,
    name: &str,
    principal: &str,
    ip: &str,
    ua: &str,
    err: Option<&str>,
) -> EventSummary {
    EventSummary {
        id: id.into(),
        time: now() - Duration::hours(hours),
        name: name.into(),
        account: Some("123456789012".into()),
        principal: Some(principal.into()),
        source_ip: Some(ip.into()),
        user_agent: Some(ua.into()),
        error_code: err.map(str::to_string),
    }
}

fn hit() -> irene_core::Alert {
    let ev = events(
        "aws.cloudtrail",
        "cloudtrail/panther_record_rds_modify_deletion_protection_disabled_from_tor_range_ip.json",
    );
    let mut a = sigma_hit(&ev[0]);
    a.observed_at = Some(now() - Duration::hours(1));
    a
}

#[tokio::test]
async fn counts_failures_and_listed_ips_of_the_principal_and_its_ip() {
    let a = hit();
    let principal = a.actor.principal.clone().expect("principal");
    let p = principal.as_str();
    let store = Memory(vec![
        ev(
            "1",
            2,
            "rds:DescribeDBInstances",
            p,
            "185.220.101.50",
            "aws-cli/2",
            None,
        ),
        ev(
            "2",
            3,
            "rds:ModifyDBInstance",
            p,
            "185.220.101.50",
            "aws-cli/2",
            Some("AccessDenied"),
        ),
        ev(
            "3",
            4,
            "rds:ModifyDBInstance",
            p,
            "185.220.101.18",
            "boto3",
            Some("AccessDenied"),
        ),
        ev("4", 5, "s3:ListBuckets", p, "198.51.100.7", "console", None),
        // another principal from the same IP: counted once, shown in `principals`
        ev(
            "5",
            6,
            "sts:GetCallerIdentity",
            "other",
            "185.220.101.50",
            "curl",
            None,
        ),
        // outside the ±7 day window
        ev(
            "6",
            24 * 9,
            "s3:ListBuckets",
            p,
            "198.51.100.7",
            "console",
            None,
        ),
    ]);
    let inv = ActorHistory::new(feeds_arc(), None, Duration::days(7), 100);
    let out = run_with(&inv, &a, &store).await;
    assert_eq!(out.status, Status::Done, "{}", out.summary);
    let f = &out.findings;
    assert_eq!(f["events"], 5, "{f}");
    assert_eq!(f["by_name"]["rds:ModifyDBInstance"], 2);
    assert_eq!(f["by_account"]["123456789012"], 5);
    assert_eq!(f["failed"], 2);
    assert_eq!(f["failed_by_code"]["AccessDenied"], 2);
    assert_eq!(
        f["source_ips"],
        serde_json::json!(["185.220.101.18", "185.220.101.50", "198.51.100.7"])
    );
    assert_eq!(
        f["user_agents"],
        serde_json::json!(["aws-cli/2", "boto3", "console"])
    );
    assert_eq!(f["principals"], serde_json::json!([p, "other"]));
    assert_eq!(
        f["listed_ips"],
        serde_json::json!({"185.220.101.18": ["tor"]})
    );
    assert_eq!(f["first_seen"], "2026-01-15T06:00:00Z");
    assert_eq!(f["last_seen"], "2026-01-15T10:00:00Z");
    assert_eq!(f["truncated"], false);
    assert!(out.summary.contains("| Event | Count |"), "{}", out.summary);

    // every event it counted, as CSV, newest first
    assert_eq!(out.attachments.len(), 1);
    let csv = &out.attachments[0];
    assert_eq!(csv.name, "actor-events.csv");
    assert!(csv.content_type.starts_with("text/csv"));
    let text = String::from_utf8(csv.bytes.clone()).expect("utf-8");
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines[0],
        "time,name,account,principal,source_ip,user_agent,error_code"
    );
    assert_eq!(lines.len(), 6, "{text}");
    assert!(
        lines[1].starts_with("2026-01-15T10:00:00Z,rds:DescribeDBInstances,"),
        "{text}"
    );
    assert!(
        lines.iter().any(|l| l.ends_with(",boto3,AccessDenied")),
        "{text}"
    );
}

#[tokio::test]
async fn limits_nothing_and_failures() {
    let a = hit();
    let p = a.actor.principal.clone().expect("principal");
    let many: Vec<EventSummary> = (0..10)
        .map(|i| {
            ev(
                &i.to_string(),
                i,
                "s3:GetObject",
                &p,
                "198.51.100.7",
                "ua",
                None,
            )
        })
        .collect();
    let inv = ActorHistory::new(feeds_arc(), None, Duration::days(7), 3);
    let out = run_with(&inv, &a, &Memory(many)).await;
    assert_eq!(out.findings["truncated"], true);
    assert!(out.summary.contains("at least"));

    let out = run_with(&inv, &a, &Memory(Vec::new())).await;
    assert_eq!(out.status, Status::NothingFound);
    let out = run_with(&inv, &a, &Broken).await;
    assert_eq!(
        out.status,
        Status::Failed {
            reason: "reading events: database is locked".into()
        }
    );
    let mut anonymous = a.clone();
    anonymous.actor = Default::default();
    assert_eq!(
        run_with(&inv, &anonymous, &Broken).await.status,
        Status::NothingFound
    );
}

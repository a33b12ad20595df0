//! The providers against the reputation API stand-ins (`irene-fakes`, `CONTRACT.md`) over a
//! real SQLite store: answers, the cache, daily quotas, 429s waited out or honoured, keys.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Utc;
use irene_fakes::{FakeIntel, Fault, FaultKind, IntelApi};
use irene_intel::{build, ProviderConfig, ReputationConfig, Secret};
use irene_investigate::{Provider, ProviderError, Subject};
use irene_store::{Location, Store};
use std::sync::Arc;
use std::time::Duration;

const KEY: &str = "abuse-key-0123456789abcdef";

struct Setup {
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

async fn store() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = irene_store::open(
        &Location::Sqlite(dir.path().to_path_buf()),
        Arc::new(irene_core::NoOutputs),
        Arc::new(irene_core::NoCorrelations),
    )
    .await
    .unwrap();
    Setup { store, _dir: dir }
}

fn table(fake: &FakeIntel, key: Option<&str>) -> ProviderConfig {
    ProviderConfig {
        key: key.map(Secret::new),
        url: Some(fake.url()),
        timeout: Some(Duration::from_secs(2)),
        max_wait: Some(Duration::from_secs(2)),
        per_minute: Some(600),
        enabled: true,
        ..Default::default()
    }
}

fn one(providers: Vec<Arc<dyn Provider>>) -> Arc<dyn Provider> {
    assert_eq!(providers.len(), 1);
    providers.into_iter().next().unwrap()
}

fn ip(s: &str) -> Subject {
    Subject::Ip(s.parse().unwrap())
}

#[tokio::test]
async fn abuseipdb_429_then_200_is_answered_then_cached_and_the_quota_holds() {
    let fake = FakeIntel::start().await;
    fake.set_key(IntelApi::AbuseIpDb, KEY);
    fake.set_abuse("185.220.101.33", 87, 112);
    fake.fault(
        Fault::new(FaultKind::RateLimited {
            retry_after: Some(1),
        })
        .on("GET", "/api/v2/check"),
    );
    let s = store().await;
    let mut t = table(&fake, Some(KEY));
    t.daily = Some(3);
    let cfg = ReputationConfig {
        abuseipdb: Some(t),
        ..Default::default()
    };
    let p = one(build(&cfg, s.store.clone(), "irene-test").unwrap());
    assert_eq!(p.name(), "abuseipdb");
    let now = Utc::now();

    let v = p
        .lookup(&ip("185.220.101.33"), now)
        .await
        .expect("answered");
    assert_eq!(v.score, Some(87));
    assert_eq!(v.malicious, Some(true));
    assert!(!v.cached);
    let reqs = fake.requests_to(IntelApi::AbuseIpDb);
    assert_eq!(
        reqs.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![429, 200]
    );
    for r in &reqs {
        assert_eq!(r.header("key"), Some(KEY));
        assert_eq!(r.header("accept"), Some("application/json"));
        assert!(
            r.query.contains("ipAddress=185.220.101.33") && r.query.contains("maxAgeInDays=90")
        );
        assert!(!r.query.contains(KEY), "the key only travels as a header");
    }
    assert_eq!(s.store.intel_usage("abuseipdb", now).await.unwrap(), 2);

    // The same IP again: from the cache, no request.
    let again = p.lookup(&ip("185.220.101.33"), now).await.unwrap();
    assert!(again.cached);
    assert_eq!(again.score, Some(87));
    assert_eq!(fake.requests_to(IntelApi::AbuseIpDb).len(), 2);

    // One request left today, then the quota refuses without asking.
    assert_eq!(p.lookup(&ip("8.8.8.8"), now).await.unwrap().score, Some(0));
    let e = p.lookup(&ip("8.8.4.4"), now).await.expect_err("quota");
    assert!(matches!(e, ProviderError::QuotaExhausted { .. }), "{e:?}");
    assert!(!e.is_transient());
    assert_eq!(fake.requests_to(IntelApi::AbuseIpDb).len(), 3);
}

#[tokio::test]
async fn long_429s_block_the_provider_and_abuseipdb_takes_them_as_the_day() {
    let fake = FakeIntel::start().await;
    fake.set_daily_limit(IntelApi::AbuseIpDb, 0);
    fake.fault(
        Fault::new(FaultKind::Status(429))
            .on("GET", "/api/v3/")
            .times(1),
    );
    let s = store().await;
    let cfg = ReputationConfig {
        abuseipdb: Some(table(&fake, Some(KEY))),
        virustotal: Some(table(&fake, Some("vt-key"))),
        ..Default::default()
    };
    let ps = build(&cfg, s.store.clone(), "irene-test").unwrap();
    let now = Utc::now();
    // AbuseIPDB's own daily limit (Retry-After 3600): the day is over, here and in the store.
    let e = ps[0]
        .lookup(&ip("1.1.1.1"), now)
        .await
        .expect_err("limited");
    assert!(matches!(e, ProviderError::QuotaExhausted { .. }), "{e:?}");
    assert_eq!(s.store.intel_usage("abuseipdb", now).await.unwrap(), 1000);
    assert!(matches!(
        ps[0].lookup(&ip("1.0.0.1"), now).await,
        Err(ProviderError::QuotaExhausted { .. })
    ));
    assert_eq!(fake.requests_to(IntelApi::AbuseIpDb).len(), 1);
    // VirusTotal's QuotaExceededError without Retry-After: rate-limited for a minute, no more asking.
    let e = ps[1]
        .lookup(&ip("1.1.1.1"), now)
        .await
        .expect_err("limited");
    match e {
        ProviderError::RateLimited { retry_after } => {
            assert!(
                retry_after > now + chrono::Duration::seconds(50),
                "{retry_after}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(ps[1]
        .lookup(&ip("9.9.9.9"), now)
        .await
        .unwrap_err()
        .is_transient());
    assert_eq!(fake.requests_to(IntelApi::VirusTotal).len(), 1);
}

#[tokio::test]
async fn keys_outages_and_the_other_providers_answers() {
    let fake = FakeIntel::start().await;
    fake.set_key(IntelApi::VirusTotal, "vt-right-key");
    fake.set_key(IntelApi::Otx, "otx-key");
    fake.set_virustotal("evil.example.com", 9);
    fake.set_greynoise("45.83.66.10", "malicious", "unknown", true, false);
    fake.set_otx("45.83.66.10", &["Mirai scanners", "SSH brute force"]);
    let s = store().await;
    let now = Utc::now();

    // A wrong key: refused, and no message names it.
    let cfg = ReputationConfig {
        virustotal: Some(table(&fake, Some("vt-wrong-key-SECRET"))),
        ..Default::default()
    };
    let vt_wrong = one(build(&cfg, s.store.clone(), "t").unwrap());
    let e = vt_wrong.lookup(&ip("8.8.8.8"), now).await.unwrap_err();
    assert_eq!(e, ProviderError::Unauthorized);
    assert!(!format!("{e} {e:?}").contains("SECRET"));

    let cfg = ReputationConfig {
        virustotal: Some(table(&fake, Some("vt-right-key"))),
        greynoise: Some(table(&fake, None)),
        otx: Some(table(&fake, Some("otx-key"))),
        ..Default::default()
    };
    let ps = build(&cfg, s.store.clone(), "t").unwrap();
    let (vt, gn, otx) = (&ps[0], &ps[1], &ps[2]);
    let d = Subject::Domain("evil.example.com".into());
    let v = vt.lookup(&d, now).await.unwrap();
    assert_eq!(
        (v.malicious, v.details["malicious"].as_u64()),
        (Some(true), Some(9))
    );
    let unknown = vt
        .lookup(&Subject::Domain("nx.example.org".into()), now)
        .await
        .unwrap();
    assert_eq!(unknown.details["found"], false);
    assert_eq!(
        fake.requests_to(IntelApi::VirusTotal)
            .last()
            .unwrap()
            .header("x-apikey"),
        Some("vt-right-key")
    );

    let g = gn.lookup(&ip("45.83.66.10"), now).await.unwrap();
    assert_eq!(g.details["classification"], "malicious");
    let not_seen = gn.lookup(&ip("8.8.8.8"), now).await.unwrap();
    assert_eq!(not_seen.details["seen"], false);
    assert!(!gn.handles(&d));
    assert!(
        gn.lookup(&ip("8.8.8.8"), now).await.unwrap().cached,
        "a 404 is an answer, cached"
    );

    let o = otx.lookup(&ip("45.83.66.10"), now).await.unwrap();
    assert_eq!(o.details["pulse_count"], 2);
    assert_eq!(
        fake.requests_to(IntelApi::Otx)[0].path,
        "/api/v1/indicators/IPv4/45.83.66.10/general"
    );

    // A 503: unavailable for now (transient), nothing cached.
    fake.fault(Fault::new(FaultKind::Status(503)).on("GET", "/api/v1/"));
    let e = otx.lookup(&ip("9.9.9.9"), now).await.unwrap_err();
    assert!(
        matches!(e, ProviderError::Unavailable(_)) && e.is_transient(),
        "{e:?}"
    );
    assert_eq!(
        otx.lookup(&ip("9.9.9.9"), now).await.unwrap().details["pulse_count"],
        0
    );
}

#[tokio::test]
async fn the_pace_refuses_what_it_cannot_wait_for() {
    let fake = FakeIntel::start().await;
    let s = store().await;
    let mut t = table(&fake, None);
    t.per_minute = Some(1);
    let cfg = ReputationConfig {
        greynoise: Some(t),
        ..Default::default()
    };
    let gn = one(build(&cfg, s.store.clone(), "t").unwrap());
    let now = Utc::now();
    gn.lookup(&ip("8.8.8.8"), now).await.unwrap();
    let e = gn.lookup(&ip("8.8.4.4"), now).await.unwrap_err();
    assert!(matches!(e, ProviderError::RateLimited { .. }), "{e:?}");
    assert_eq!(fake.requests_to(IntelApi::GreyNoise).len(), 1);
}

//! The reputation-API part of the suite: answers kept until they expire, and daily counts that
//! stop at the quota, survive as rows, and start again the next UTC day.

use super::{fresh, Backend};
use chrono::{Duration, TimeZone, Utc};
use serde_json::json;

pub async fn intel_answers_expire_and_daily_quotas_hold(b: &dyn Backend) {
    let o = fresh(b).await;
    let s = &o.store;
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 23, 0, 0).unwrap();

    // The cache: nothing, then the answer until it expires, replaced by a newer one.
    assert_eq!(
        s.intel_cache_get("abuseipdb", "8.8.8.8", t0).await.unwrap(),
        None
    );
    let a1 = json!({"score": 10, "label": "first"});
    s.intel_cache_put("abuseipdb", "8.8.8.8", &a1, t0, t0 + Duration::hours(1))
        .await
        .unwrap();
    let got = s
        .intel_cache_get("abuseipdb", "8.8.8.8", t0 + Duration::minutes(59))
        .await
        .unwrap()
        .expect("cached");
    assert_eq!(got.answer, a1);
    assert_eq!(got.fetched_at, t0);
    assert_eq!(got.expires_at, t0 + Duration::hours(1));
    assert_eq!(
        s.intel_cache_get("virustotal", "8.8.8.8", t0)
            .await
            .unwrap(),
        None,
        "per provider"
    );
    assert_eq!(
        s.intel_cache_get("abuseipdb", "8.8.8.8", t0 + Duration::hours(1))
            .await
            .unwrap(),
        None,
        "expired at expires_at"
    );
    let a2 = json!({"score": 90});
    let t1 = t0 + Duration::hours(2);
    s.intel_cache_put("abuseipdb", "8.8.8.8", &a2, t1, t1 + Duration::days(1))
        .await
        .unwrap();
    s.intel_cache_put("otx", "evil.example.com", &a1, t1, t1 + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(
        s.intel_cache_get("abuseipdb", "8.8.8.8", t1)
            .await
            .unwrap()
            .unwrap()
            .answer,
        a2
    );
    // Pruning forgets only what expired.
    assert_eq!(
        s.intel_cache_prune(t1 + Duration::hours(2)).await.unwrap(),
        1
    );
    assert!(s
        .intel_cache_get("abuseipdb", "8.8.8.8", t1 + Duration::hours(2))
        .await
        .unwrap()
        .is_some());

    // Daily usage: up to the quota, per provider and per UTC day.
    for i in 0..3 {
        assert!(
            s.intel_usage_take("abuseipdb", 3, t0).await.unwrap(),
            "take {i}"
        );
    }
    assert!(
        !s.intel_usage_take("abuseipdb", 3, t0).await.unwrap(),
        "quota used"
    );
    assert_eq!(s.intel_usage("abuseipdb", t0).await.unwrap(), 3);
    assert!(
        !s.intel_usage_take("greynoise", 0, t0).await.unwrap(),
        "no quota at all"
    );
    assert_eq!(s.intel_usage("greynoise", t0).await.unwrap(), 0);
    // The provider says its quota is exceeded: the day is used up at our count too.
    assert!(s.intel_usage_take("otx", 10, t0).await.unwrap());
    s.intel_usage_exhaust("otx", 10, t0).await.unwrap();
    assert_eq!(s.intel_usage("otx", t0).await.unwrap(), 10);
    assert!(!s.intel_usage_take("otx", 10, t0).await.unwrap());
    // The next UTC day (an hour later) starts again.
    let tomorrow = t0 + Duration::hours(1);
    assert!(s.intel_usage_take("abuseipdb", 3, tomorrow).await.unwrap());
    assert_eq!(s.intel_usage("abuseipdb", tomorrow).await.unwrap(), 1);
    assert_eq!(s.intel_usage("abuseipdb", t0).await.unwrap(), 3);
}

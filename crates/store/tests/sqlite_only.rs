//! What only the SQLite backend has: one process per data directory (a lock file), so a
//! restart frees the leases a crashed run left at once; and what survives a restart on disk.
// Tests may unwrap and expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod suite;

use chrono::{Duration as CDuration, Utc};
use irene_core::{AlertState, NoCorrelations, Severity};
use irene_store::{ClaimLimit, SqliteStore, Store};
use std::sync::Arc;
use std::time::Duration;
use suite::outbox::{lease, TestPlanner};
use suite::{judged, payload, run_through};

#[tokio::test]
async fn one_process_per_data_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _store = SqliteStore::open(dir.path()).await.expect("open");
    let second = SqliteStore::open(dir.path()).await;
    let err = second.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("in use by another irene process"), "{err}");
}

#[tokio::test]
async fn the_inbox_survives_a_restart_which_frees_its_leases() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = payload("generic");
    {
        let store = SqliteStore::open(dir.path()).await.expect("open");
        store
            .inbox_append(std::slice::from_ref(&p))
            .await
            .expect("append");
        // Claimed by a worker that then "crashes", with a long lease.
        let rows = store
            .inbox_claim(
                "dead-worker",
                ClaimLimit::payloads(10),
                Duration::from_secs(3600),
                Utc::now(),
            )
            .await
            .expect("claim");
        assert_eq!(rows.len(), 1);
        store.close().await;
    }
    let store = SqliteStore::open(dir.path()).await.expect("reopen");
    assert_eq!(
        store.status().await.expect("status").inbox_pending,
        1,
        "the payload survived the restart"
    );
    // The embedded store has one process per data directory, so a restart frees old leases.
    let rows = store
        .inbox_claim(
            "w",
            ClaimLimit::payloads(10),
            Duration::from_secs(30),
            Utc::now(),
        )
        .await
        .expect("claim after restart");
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].id, rows[0].attempts), (p.id, 2));
}

#[tokio::test]
async fn deliveries_and_job_clocks_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let open = || async {
        SqliteStore::open(dir.path())
            .await
            .expect("open")
            .with_planner(Arc::new(TestPlanner))
            .with_correlator(Arc::new(NoCorrelations))
    };
    // after the commit below: its deliveries are due
    let now = Utc::now() + CDuration::seconds(5);
    {
        let store = open().await;
        run_through(
            &store,
            vec![judged("k5", AlertState::Active, Severity::High)],
        )
        .await;
        assert_eq!(
            store
                .outbox_claim("d", 100, lease(), now)
                .await
                .expect("claim")
                .len(),
            2
        );
        assert!(!store
            .job_due("digest:chat", Duration::from_secs(3600), now)
            .await
            .expect("job"));
        store.close().await;
    }
    let store = open().await;
    let c = store
        .outbox_claim("d2", 100, lease(), now)
        .await
        .expect("claim");
    assert_eq!(
        c.len(),
        2,
        "deliveries held by a crashed process go out again at once"
    );
    // The job's clock started before the restart: not due yet, due after its period.
    assert!(!store
        .job_due("digest:chat", Duration::from_secs(3600), now)
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
}

#[tokio::test]
async fn a_restart_frees_the_investigations_a_crashed_run_held() {
    let dir = tempfile::tempdir().expect("tempdir");
    let planner = Arc::new(suite::investigations::InvestigatingPlanner);
    let first;
    {
        let store = SqliteStore::open(dir.path())
            .await
            .expect("open")
            .with_planner(planner.clone());
        run_through(
            &store,
            vec![judged("k", AlertState::Active, Severity::High)],
        )
        .await;
        first = store
            .investigations_claim("dead-worker", 10, Duration::from_secs(3600), Utc::now())
            .await
            .expect("claim");
        assert_eq!(first.len(), 2);
        store.close().await;
    }
    let store = SqliteStore::open(dir.path())
        .await
        .expect("reopen")
        .with_planner(planner);
    let jobs = store
        .investigations_claim("w", 10, Duration::from_secs(30), Utc::now())
        .await
        .expect("claim after restart");
    assert_eq!(jobs.len(), 2, "the crashed run's jobs run again at once");
    assert!(jobs.iter().all(|j| j.attempts == 2));
    let stale = store
        .investigation_finish(
            "dead-worker",
            first[0].id,
            irene_store::InvestigationResult {
                status: "done".into(),
                reason: None,
                findings: serde_json::json!({}),
                summary: "stale".into(),
                attachments: vec![],
                retry_at: None,
                fixed: None,
            },
            Utc::now(),
        )
        .await
        .expect("finish");
    assert_eq!(stale, irene_store::Finished::NotHeld);
}

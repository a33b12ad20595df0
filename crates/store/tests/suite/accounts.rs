//! Conformance checks for what the console reads and keeps: the audit log, accounts, sessions,
//! sign-in attempts, and intake figures per source.

use super::{fresh, Backend};
use chrono::{Duration, Utc};
use irene_store::{AuditFilter, LoginFailures, NewAudit, NewSession, User};

fn entry(actor: &str, action: &str, target: &str) -> NewAudit {
    NewAudit {
        actor: actor.into(),
        action: action.into(),
        target: target.into(),
        detail: format!("{action} by {actor}"),
    }
}

pub async fn audit_log_lists_newest_first_pages_and_filters_by_actor(b: &dyn Backend) {
    let o = fresh(b).await;
    let s = &o.store;
    let t0 = Utc::now();
    for i in 0..5 {
        let who = if i % 2 == 0 { "ana" } else { "bo" };
        s.audit_add(
            &entry(who, "case.resolve", &format!("c{i}")),
            t0 + Duration::seconds(i),
        )
        .await
        .expect("add");
    }
    let first = s
        .audit_list(&AuditFilter {
            limit: 3,
            ..Default::default()
        })
        .await
        .expect("list");
    let targets: Vec<&str> = first.items.iter().map(|e| e.target.as_str()).collect();
    assert_eq!(targets, ["c4", "c3", "c2"]);
    assert_eq!(first.items[0].detail, "case.resolve by ana");
    assert_eq!(
        first.items[0].at.timestamp(),
        (t0 + Duration::seconds(4)).timestamp()
    );
    let rest = s
        .audit_list(&AuditFilter {
            limit: 3,
            cursor: first.next_cursor.clone(),
            ..Default::default()
        })
        .await
        .expect("next page");
    let targets: Vec<&str> = rest.items.iter().map(|e| e.target.as_str()).collect();
    assert_eq!(targets, ["c1", "c0"]);
    assert!(rest.next_cursor.is_none());
    let bo = s
        .audit_list(&AuditFilter {
            actor: Some("bo".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("by actor");
    assert_eq!(bo.items.len(), 2);
    assert!(bo.items.iter().all(|e| e.actor == "bo"));
    assert!(s
        .audit_list(&AuditFilter {
            cursor: Some("not-a-cursor".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .is_err());
}

fn user(name: &str, role: &str) -> User {
    User {
        name: name.into(),
        role: role.into(),
        hash: format!("$argon2id$hash-of-{name}"),
        created_at: Utc::now(),
        disabled: false,
    }
}

pub async fn accounts_are_added_once_listed_changed_and_removed(b: &dyn Backend) {
    let o = fresh(b).await;
    let s = &o.store;
    assert!(!s.users_exist().await.expect("exist"));
    assert!(s.user_add(&user("bo", "viewer")).await.expect("add"));
    assert!(s.user_add(&user("ana", "admin")).await.expect("add"));
    assert!(!s.user_add(&user("ana", "viewer")).await.expect("taken"));
    assert!(s.users_exist().await.expect("exist"));
    let names: Vec<String> = s
        .users_list()
        .await
        .expect("list")
        .into_iter()
        .map(|u| format!("{}:{}", u.name, u.role))
        .collect();
    assert_eq!(names, ["ana:admin", "bo:viewer"]);
    assert!(!format!("{:?}", s.user_get("ana").await.expect("get")).contains("hash-of"));
    assert!(s.user_set_hash("ana", "new").await.expect("passwd"));
    assert_eq!(
        s.user_get("ana").await.expect("get").expect("ana").hash,
        "new"
    );
    assert!(!s.user_set_hash("zed", "x").await.expect("passwd"));
    assert!(s.user_remove("bo").await.expect("remove"));
    assert!(!s.user_remove("bo").await.expect("again"));
    assert!(s.user_get("bo").await.expect("get").is_none());
}

pub async fn sessions_expire_when_idle_or_old_and_end_with_their_user(b: &dyn Backend) {
    let o = fresh(b).await;
    let s = &o.store;
    let t0 = Utc::now();
    s.user_add(&user("ana", "responder")).await.expect("add");
    s.user_add(&user("bo", "viewer")).await.expect("add");
    for (id, who) in [("s1", "ana"), ("s2", "ana"), ("s3", "bo")] {
        s.session_add(&NewSession {
            id_hash: id.into(),
            user: who.into(),
            csrf: format!("csrf-{id}"),
            created_at: t0,
            expires_at: t0 + Duration::hours(10),
        })
        .await
        .expect("session");
    }
    let idle = Duration::hours(1);
    let touch = |id: &'static str, at: chrono::DateTime<Utc>| {
        let s = s.clone();
        async move { s.session_touch(id, at, at - idle).await.expect("touch") }
    };
    let live = touch("s1", t0 + Duration::minutes(50)).await.expect("live");
    assert_eq!(
        (live.user.as_str(), live.role.as_str(), live.csrf.as_str()),
        ("ana", "responder", "csrf-s1")
    );
    // seen at 0:50, so alive at 1:40 but not at 2:00 if untouched since 0:50
    assert!(touch("s1", t0 + Duration::minutes(100)).await.is_some());
    assert!(
        touch("s2", t0 + Duration::minutes(61)).await.is_none(),
        "idle"
    );
    assert!(
        touch("s1", t0 + Duration::hours(10)).await.is_none(),
        "absolute expiry"
    );
    assert!(touch("nope", t0).await.is_none());
    assert!(touch("s3", t0).await.is_some());
    assert!(s.session_delete("s3").await.expect("delete"));
    assert!(touch("s3", t0).await.is_none(), "signed out");

    for id in ["s4", "s5"] {
        s.session_add(&NewSession {
            id_hash: id.into(),
            user: "ana".into(),
            csrf: "c".into(),
            created_at: t0,
            expires_at: t0 + Duration::hours(10),
        })
        .await
        .expect("session");
    }
    assert_eq!(s.sessions_delete_user("ana").await.expect("everywhere"), 4);
    assert!(touch("s4", t0).await.is_none());
    s.session_add(&NewSession {
        id_hash: "s6".into(),
        user: "bo".into(),
        csrf: "c".into(),
        created_at: t0,
        expires_at: t0 + Duration::hours(10),
    })
    .await
    .expect("session");
    assert!(s.user_set_hash("bo", "h2").await.expect("passwd"));
    assert!(
        touch("s6", t0).await.is_none(),
        "a new password ends sessions"
    );
}

pub async fn failed_sign_ins_are_counted_by_name_and_address_in_a_window(b: &dyn Backend) {
    let o = fresh(b).await;
    let s = &o.store;
    let t0 = Utc::now();
    let add = |name: &'static str, ip: &'static str, ok: bool, minutes: i64| {
        let s = s.clone();
        async move {
            s.login_attempt_add(name, ip, ok, t0 + Duration::minutes(minutes))
                .await
                .expect("attempt")
        }
    };
    add("ana", "10.0.0.1", false, 0).await;
    add("ana", "10.0.0.2", false, 10).await;
    add("bo", "10.0.0.1", false, 12).await;
    add("ana", "10.0.0.1", true, 13).await;
    let since = |m: i64| t0 + Duration::minutes(m);
    assert_eq!(
        s.login_failures("ana", "10.0.0.1", since(0))
            .await
            .expect("count"),
        LoginFailures {
            by_name: 2,
            by_ip: 2
        }
    );
    assert_eq!(
        s.login_failures("ana", "10.0.0.1", since(5))
            .await
            .expect("count"),
        LoginFailures {
            by_name: 1,
            by_ip: 1
        }
    );
    assert_eq!(
        s.login_failures("zed", "10.9.9.9", since(0))
            .await
            .expect("count"),
        LoginFailures::default()
    );
}

pub async fn source_stats_count_payloads_per_intake_source(b: &dyn Backend) {
    use irene_store::NewInbox;
    let o = fresh(b).await;
    let s = &o.store;
    let now = Utc::now();
    let item = |source: &str, at| NewInbox {
        id: uuid::Uuid::now_v7(),
        source: source.to_string(),
        received_at: at,
        body: b"{}".to_vec(),
        items: 1,
        idempotency_key: None,
        complete_scan: false,
    };
    s.inbox_append(&[
        item("aws.guardduty", now - Duration::hours(1)),
        item("aws.guardduty", now - Duration::days(3)),
        item("aws.guardduty", now - Duration::days(9)),
        item("gcp.scc", now - Duration::days(2)),
    ])
    .await
    .expect("append");
    let names = ["aws.guardduty", "gcp.scc", "falco"].map(String::from);
    let stats = s.source_stats(&names, now).await.expect("stats");
    let got: Vec<(&str, i64, i64, bool)> = stats
        .iter()
        .map(|x| {
            (
                x.source.as_str(),
                x.last_day,
                x.last_week,
                x.last_received.is_some(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("aws.guardduty", 1, 2, true),
            ("gcp.scc", 0, 1, true),
            ("falco", 0, 0, false)
        ]
    );
    let last = stats[0].last_received.expect("last");
    assert!((last - (now - Duration::hours(1))).num_seconds().abs() <= 1);
}

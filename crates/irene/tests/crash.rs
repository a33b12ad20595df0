//! Promise 1 and 2 under a crash: SIGKILL the server while clients post concurrently; after a
//! restart every alert that got a 202 has its case, and none has two.
// Tests may unwrap and expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{generic_alert, Server};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_concurrent_ingest_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut server = Server::start(dir.path(), &[]);
    let url = format!("{}/api/v1/ingest/generic", server.url);
    let accepted: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut clients = Vec::new();
    for c in 0..8 {
        let (url, accepted) = (url.clone(), accepted.clone());
        clients.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("client");
            for i in 0.. {
                // Some requests carry two alerts, one of them a repeat of an earlier key.
                let key = format!("crash-{c}-{i}");
                let body = if i % 5 == 0 && i > 0 {
                    serde_json::json!([
                        generic_alert(&key, "high"),
                        generic_alert(&format!("crash-{c}-{}", i - 1), "high")
                    ])
                    .to_string()
                } else {
                    generic_alert(&key, "high").to_string()
                };
                match client.post(&url).body(body).send().await {
                    Ok(r) if r.status().as_u16() == 202 => accepted.lock().expect("lock").push(key),
                    Ok(r) => panic!("unexpected status {}", r.status()),
                    Err(_) => return i, // the server is gone
                }
            }
            0
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill9();
    for c in clients {
        let _ = c.await;
    }
    let accepted: Vec<String> = accepted.lock().expect("lock").clone();
    assert!(
        accepted.len() > 50,
        "the clients posted too little before the kill: {}",
        accepted.len()
    );

    let server = Server::start(dir.path(), &[]);
    server.drained().await;
    let cases = server.all_cases("").await;
    let mut by_key: HashMap<String, u32> = HashMap::new();
    for c in &cases {
        *by_key
            .entry(c["key"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
    }
    let doubled: Vec<_> = by_key.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "keys with two cases: {doubled:?}");
    let have: HashSet<&String> = by_key.keys().collect();
    let missing: Vec<_> = accepted.iter().filter(|k| !have.contains(k)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} accepted alerts have no case, e.g. {:?}",
        missing.len(),
        accepted.len(),
        missing.first()
    );
    // Occurrences are not doubled by a replay either: a key is sent once, or twice when the
    // next request repeats it (every fifth), and its count says exactly that at most.
    for c in &cases {
        let key = c["key"].as_str().unwrap_or_default();
        let i: u64 = key
            .rsplit('-')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let most = if (i + 1).is_multiple_of(5) { 2 } else { 1 };
        let n = c["count"].as_i64().unwrap_or(0);
        assert!(
            n >= 1 && n <= most,
            "case {key} has count {n}, at most {most} were sent"
        );
    }
}

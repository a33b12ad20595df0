//! Capability links end to end: the real `irene` process investigates a case, its GitHub
//! comment links `actor-events.csv` as `{public_url}/files/{token}`, and that link serves the
//! file without a bearer token; a tampered token is 404; the API route still needs the token.
// Tests may unwrap and expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::investigation::{all_done, cloudtrail, comment_with, finding, the_case, wait_for, IP};
use common::Server;
use irene_fakes::github::FakeGitHub;
use std::time::Duration;

const REPO: &str = "acme/files";
const GH_TOKEN: &str = "ghp_filestesttoken0123456789";
const API_TOKEN: &str = "irene-files-test-token";
const FILES_SECRET: &str = "files-test-secret-0123456789";
const PUBLIC: &str = "https://irene.example";

#[tokio::test]
async fn an_attachment_is_linked_from_the_comment_and_served_by_its_capability_url() {
    let gh = FakeGitHub::start().await;
    gh.add_repo(REPO);
    gh.add_token(GH_TOKEN);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        r#"public_url = "{PUBLIC}"

[files]
secret = "${{FILES_SECRET}}"
expire = "1h"

[[tokens]]
name = "ops"
token = "${{API_TOKEN}}"
scopes = ["ingest", "read", "admin"]

[delivery]
backoff_base = "50ms"
backoff_max = "1s"

[[outputs]]
name = "security-issues"
type = "github"
repository = "{REPO}"
token = "${{GH_TOKEN}}"
api_url = "{url}"
min_severity = "medium"
pace = "5ms"
timeout = "2s"
"#,
        url = gh.url(),
    );
    let path = dir.path().join("irene.toml");
    std::fs::write(&path, config).unwrap();
    let s = Server::start_env(
        &dir.path().join("data"),
        &["--config", path.to_str().unwrap()],
        &[
            ("GH_TOKEN", GH_TOKEN),
            ("API_TOKEN", API_TOKEN),
            ("FILES_SECRET", FILES_SECRET),
        ],
    )
    .with_token(API_TOKEN);

    let (st, body) = s.ingest("aws.cloudtrail", cloudtrail().to_string()).await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;
    let (st, body) = s.ingest("aws.guardduty", finding().to_string()).await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;
    let case_id = the_case(&s).await;
    let case = wait_for(
        &s,
        "the investigations",
        Duration::from_secs(30),
        all_done,
        &format!("/api/v1/cases/{case_id}"),
    )
    .await;
    let history = case["investigations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["investigator"] == "actor_history")
        .cloned()
        .expect("actor_history");
    let attachment = history["attachments"][0].as_str().expect("an attachment");
    assert!(
        history["summary"]
            .as_str()
            .unwrap()
            .contains(&format!("[events as CSV](attachment:{attachment})")),
        "the stored summary names its attachment by id: {history}"
    );

    // the comment links the CSV under the public URL
    let prefix = format!("[events as CSV]({PUBLIC}/files/");
    let comment = comment_with(&s, &gh, REPO, &prefix).await;
    let start = comment.find(&prefix).unwrap() + prefix.len();
    let token: String = comment[start..].chars().take_while(|c| *c != ')').collect();
    let links = irene_outputs::files::FileLinks::new(
        FILES_SECRET.as_bytes(),
        Duration::from_secs(3600),
        Some(PUBLIC),
    );
    assert_eq!(
        links
            .verify(&token, chrono::Utc::now())
            .map(|u| u.to_string()),
        Some(attachment.to_string())
    );

    // served without a bearer token
    let client = reqwest::Client::new();
    let resp = client
        .get(format!("{}/files/{token}", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    assert!(
        header("content-type").starts_with("text/csv"),
        "{:?}",
        resp.headers()
    );
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert!(header("content-security-policy").contains("default-src 'none'"));
    assert!(header("content-security-policy").contains("sandbox"));
    let csv = resp.text().await.unwrap();
    assert!(csv.contains(IP), "{csv}");

    // tampered, truncated, expired (signed for the past) or another secret's: all 404
    let mut tampered = token.clone().into_bytes();
    tampered[5] = if tampered[5] == b'A' { b'B' } else { b'A' };
    let expired = links.token_until(
        attachment.parse().unwrap(),
        chrono::Utc::now() - chrono::Duration::seconds(1),
    );
    let other = irene_outputs::files::FileLinks::new(b"other", Duration::from_secs(3600), None)
        .token(attachment.parse().unwrap(), chrono::Utc::now());
    for bad in [
        String::from_utf8(tampered).unwrap(),
        token[..40].to_string(),
        expired,
        other,
        "nothing".to_string(),
    ] {
        let resp = client
            .get(format!("{}/files/{bad}", s.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 404, "{bad}");
        let text = resp.text().await.unwrap();
        assert!(
            !text.contains("expired") && !text.contains("signature"),
            "{text}"
        );
    }

    // the API's own route still wants the bearer token
    let resp = client
        .get(format!("{}/api/v1/attachments/{attachment}", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let resp = client
        .get(format!("{}/api/v1/attachments/{attachment}", s.url))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

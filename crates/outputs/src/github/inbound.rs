//! GitHub's inbound `issues` webhook, pure: the `X-Hub-Signature-256` check and the event reduced
//! to what Irene acts on. Must not look up cases or change them (the binary does).

use crate::render;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// Checks GitHub's `X-Hub-Signature-256: sha256=<hex>` over the raw body, in constant time.
pub fn verify_signature(secret: &str, body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// An inbound `issues` event, reduced to what Irene acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueEvent {
    /// `closed`, `reopened`, `edited`, `labeled`…
    pub action: String,
    /// `owner/repo` (`repository.full_name`).
    pub repository: String,
    pub number: u64,
    /// Who did it (`sender.login`).
    pub sender: String,
    /// The case in the issue body's marker, when the issue is one of Irene's.
    pub marker_case_id: Option<uuid::Uuid>,
}

/// Parses an `issues` webhook body.
pub fn parse_issue_event(body: &[u8]) -> Result<IssueEvent, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let text = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
    Ok(IssueEvent {
        action: text("/action").ok_or("no action")?,
        repository: text("/repository/full_name").ok_or("no repository.full_name")?,
        number: v
            .pointer("/issue/number")
            .and_then(Value::as_u64)
            .ok_or("no issue.number (not an issues event?)")?,
        sender: text("/sender/login").unwrap_or_default(),
        marker_case_id: v
            .pointer("/issue/body")
            .and_then(Value::as_str)
            .and_then(render::parse_marker),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn signatures() {
        // GitHub's documented example: secret "It's a Secret to Everybody", payload "Hello, World!"
        let secret = "It's a Secret to Everybody";
        let body = b"Hello, World!";
        let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let table = [
            (secret, &body[..], good, true),
            (secret, &b"Hello, World?"[..], good, false),
            ("other", &body[..], good, false),
            (secret, &body[..], "sha1=757107ea", false),
            (secret, &body[..], "sha256=zz", false),
            (secret, &body[..], "", false),
            (
                secret,
                &body[..],
                "sha256=757107ea0eb2509fc211221cce984b8a",
                false,
            ),
        ];
        for (s, b, h, want) in table {
            assert_eq!(verify_signature(s, b, h), want, "{h}");
        }
    }

    #[test]
    fn issue_events() {
        let id = uuid::Uuid::from_u128(99);
        let body = json!({
            "action": "closed",
            "issue": {"number": 12, "body": format!("text\n{}", render::marker(id))},
            "repository": {"full_name": "octo/sec"},
            "sender": {"login": "alice"}
        });
        let ev = parse_issue_event(body.to_string().as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            ev,
            IssueEvent {
                action: "closed".into(),
                repository: "octo/sec".into(),
                number: 12,
                sender: "alice".into(),
                marker_case_id: Some(id),
            }
        );
        let no_marker = json!({"action": "edited", "issue": {"number": 1, "body": null},
            "repository": {"full_name": "o/r"}, "sender": {"login": "b"}});
        let ev =
            parse_issue_event(no_marker.to_string().as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ev.marker_case_id, None);
        assert!(parse_issue_event(b"{").is_err());
        assert!(parse_issue_event(br#"{"action":"created","comment":{}}"#).is_err());
    }
}

//! `auto` must pick, for every fixture item, exactly the decoder named for the fixture, and
//! must leave payloads of other sources (CloudTrail, GCP audit logs) alone.

mod common;

use common::{decode, files, items, DIRS, FOREIGN_DIRS};
use irene_sources::{decoder, names};
use serde_json::json;

fn recognizers(item: &serde_json::Value) -> Vec<&'static str> {
    names()
        .into_iter()
        .filter(|n| *n != "auto")
        .filter(|n| decoder(n).unwrap().recognizes(item))
        .collect()
}

#[test]
fn auto_gives_the_named_decoders_result_for_every_fixture() {
    let mut checked = 0;
    for (dir, name) in DIRS {
        for path in files(dir) {
            for (i, item) in items(&path).iter().enumerate() {
                let what = format!("{} item {i}", path.display());
                assert_eq!(decode("auto", item), decode(name, item), "{what}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 50, "only {checked} items checked");
}

#[test]
fn exactly_one_decoder_recognizes_each_fixture_item() {
    for (dir, name) in DIRS {
        for path in files(dir) {
            for (i, item) in items(&path).iter().enumerate() {
                assert_eq!(
                    recognizers(item),
                    vec![*name],
                    "{} item {i}",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn auto_leaves_other_sources_alone() {
    let mut checked = 0;
    for dir in FOREIGN_DIRS {
        for path in files(dir) {
            for (i, item) in items(&path).iter().enumerate() {
                let what = format!("{} item {i}", path.display());
                assert_eq!(recognizers(item), Vec::<&str>::new(), "{what}");
                let err = decode("auto", item).expect_err(&what);
                assert_eq!(err.path, "", "{what}");
                assert!(
                    err.message
                        .starts_with("no decoder recognizes this payload"),
                    "{what}: {err}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 30, "only {checked} items checked");
}

#[test]
fn scc_leaves_pubsub_envelopes_of_audit_logs_alone() {
    use base64::Engine;
    for path in files("gcp-audit") {
        for item in items(&path) {
            let data = base64::engine::general_purpose::STANDARD.encode(item.to_string());
            let push = json!({"message": {"data": data, "messageId": "1"}, "subscription": "projects/p/subscriptions/s"});
            assert_eq!(recognizers(&push), Vec::<&str>::new(), "{}", path.display());
        }
    }
    // Data that is not JSON at all is claimed, so that the sender learns what is wrong with it.
    let text = json!({"message": {"data": "dGVzdA=="}});
    assert_eq!(recognizers(&text), vec!["gcp.scc"]);
}

#[test]
fn auto_error_names_the_keys_it_saw() {
    let table = [
        (
            json!({"zeta": 1, "alpha": {"key": "k"}}),
            "at the top level: no decoder recognizes this payload (top-level keys: \"alpha\", \"zeta\"); name the source in the URL instead of auto",
        ),
        (
            json!({}),
            "at the top level: no decoder recognizes this payload (no keys); name the source in the URL instead of auto",
        ),
        (
            json!({"Records": [{"eventVersion": "1.08", "eventSource": "iam.amazonaws.com"}]}),
            "at the top level: no decoder recognizes this payload (top-level keys: \"Records\"); name the source in the URL instead of auto",
        ),
        (
            json!(["not", "an", "object"]),
            "at the top level: no decoder recognizes this payload: expected an object, found an array",
        ),
    ];
    for (item, want) in table {
        assert_eq!(
            decode("auto", &item).map(|_| ()).unwrap_err().to_string(),
            want
        );
    }
    let many: serde_json::Map<String, serde_json::Value> =
        (0..25).map(|i| (format!("k{i:02}"), json!(i))).collect();
    let err = decode("auto", &serde_json::Value::Object(many)).unwrap_err();
    assert!(err.message.contains("\"k19\", … 5 more"), "{err}");
}

#[test]
fn registry_names() {
    assert_eq!(
        names(),
        vec![
            "aws.guardduty",
            "aws.securityhub",
            "gcp.scc",
            "aws.config",
            "prowler",
            "falco",
            "generic",
            "auto"
        ]
    );
    for name in names() {
        assert_eq!(decoder(name).map(|d| d.name()), Some(name));
    }
    assert!(decoder("aws.nope").is_none());
    assert!(decoder("").is_none());
    assert!(decoder("AUTO").is_none());
}

use super::common::*;
use irene_investigate::{names, registry, Context};
use std::sync::Arc;

#[test]
fn one_list_geoip_only_with_a_database() {
    assert_eq!(
        names(),
        [
            "reputation",
            "geoip",
            "actor_history",
            "threat_context",
            "exposure",
            "tamper"
        ]
    );
    let without = registry(&Context::new(feeds_arc(), None));
    let got: Vec<&str> = without.iter().map(|i| i.name()).collect();
    assert_eq!(got, ["reputation", "actor_history", "threat_context"]);
    let with = registry(&Context::new(
        feeds_arc(),
        Some(Arc::new(super::geoip::test_db())),
    ));
    assert_eq!(with.len(), 4);
    // tamper only when some page is watched
    let mut watching = Context::new(feeds_arc(), None);
    watching.watching = true;
    let got: Vec<String> = registry(&watching)
        .iter()
        .map(|i| i.name().to_string())
        .collect();
    assert_eq!(
        got,
        ["reputation", "actor_history", "threat_context", "tamper"]
    );
}

#[test]
fn status_serializes_snake_case() {
    use irene_investigate::Status;
    assert_eq!(
        serde_json::to_value(Status::NothingFound).expect("json"),
        serde_json::json!({"status": "nothing_found"})
    );
    assert_eq!(
        serde_json::to_value(Status::Failed { reason: "x".into() }).expect("json"),
        serde_json::json!({"status": "failed", "reason": "x"})
    );
}

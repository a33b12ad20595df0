//! Pins the normalized alerts (and, for audit logs, events) of every fixture, decoded by the
//! decoder named for its directory. `raw` is redacted (it is the input); errors are pinned too,
//! so a fixture that stops decoding shows.
// Tests may unwrap, expect and read fixture files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;

use common::{decode, files, items, DIRS};
use serde_json::{json, Value};

#[test]
fn every_fixture_decodes_to_its_snapshot() {
    for (dir, name) in DIRS {
        let paths = files(dir);
        assert!(!paths.is_empty(), "no fixtures in {dir}");
        for path in paths {
            let stem = path.file_stem().unwrap().to_string_lossy().to_string();
            let items = items(&path);
            let mut alerts: Vec<Value> = Vec::new();
            let mut events: Vec<Value> = Vec::new();
            let mut errors: Vec<Value> = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match decode(name, item) {
                    Ok(decoded) => {
                        events.extend(
                            decoded
                                .events
                                .iter()
                                .map(|e| serde_json::to_value(e).unwrap()),
                        );
                        alerts.extend(
                            decoded
                                .alerts
                                .iter()
                                .map(|a| serde_json::to_value(a).unwrap()),
                        );
                    }
                    Err(e) => {
                        errors.push(json!({"item": i, "path": e.path, "error": e.to_string()}))
                    }
                }
            }
            let mut snapshot = json!({
                "decoder": name,
                "items": items.len(),
                "alerts": alerts,
                "errors": errors,
            });
            // Only audit-log decoders produce events; the alert snapshots stay as they were.
            if !events.is_empty() {
                snapshot["events"] = Value::Array(events);
            }
            insta::assert_json_snapshot!(
                format!("{dir}__{stem}"),
                snapshot,
                {".alerts[].raw" => "[raw]", ".events[].raw" => "[raw]"}
            );
        }
    }
}

//! Helpers shared by the integration tests: fixture discovery and decoding.
//! Reads only files under tests/fixtures; decides nothing about what a decoder should produce.
#![allow(dead_code)]

use irene_sources::{decoder, split_payload, DecodeError, Decoded, Limits};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Fixture directory → the decoder named for it.
pub const DIRS: &[(&str, &str)] = &[
    ("guardduty", "aws.guardduty"),
    ("securityhub", "aws.securityhub"),
    ("gcp-scc", "gcp.scc"),
    ("aws-config", "aws.config"),
    ("prowler", "prowler"),
    ("falco", "falco"),
    ("cloudtrail", "aws.cloudtrail"),
    ("gcp-audit", "gcp.audit"),
];

pub fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
}

/// Every `.json` file of a fixture directory, sorted.
pub fn files(dir: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(fixtures_root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    out.sort();
    out
}

pub fn items(path: &Path) -> Vec<Value> {
    let bytes = std::fs::read(path).unwrap();
    split_payload(&bytes, &Limits::default()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn decode(name: &str, item: &Value) -> Result<Decoded, DecodeError> {
    decoder(name).unwrap().decode(item)
}

pub fn fixture(dir: &str, file: &str) -> Vec<Value> {
    items(&fixtures_root().join(dir).join(file))
}

/// Decodes a fixture that must decode, returning all its events.
pub fn events(dir: &str, file: &str, name: &str) -> Vec<irene_core::Event> {
    fixture(dir, file)
        .iter()
        .flat_map(|item| {
            decode(name, item)
                .unwrap_or_else(|e| panic!("{file}: {e}"))
                .events
        })
        .collect()
}

/// Decodes a fixture that must decode, returning all its alerts.
pub fn alerts(dir: &str, file: &str, name: &str) -> Vec<irene_core::Alert> {
    fixture(dir, file)
        .iter()
        .flat_map(|item| {
            decode(name, item)
                .unwrap_or_else(|e| panic!("{file}: {e}"))
                .alerts
        })
        .collect()
}

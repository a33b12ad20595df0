//! Settings as versioned documents: the kinds (triage and Sigma rules, routes, templates,
//! silences), how each compiles, and the live set every worker reads. No HTTP here.
//!
//! A document is a set of named files (a rule folder, `routes.toml`, one file per template,
//! `silences.yaml`); the store keeps every version whole. `dir.rs` reads and writes the
//! `apply -f DIR` / `export DIR` layout, `sync.rs` loads the files named in config at start,
//! `compile.rs` turns documents into what runs (every error at once), `live.rs` holds the
//! compiled set and swaps it atomically, `silences.rs` and `routes.rs` the two kinds defined
//! here, `diff.rs` the unified diff between two versions.

pub mod compile;
pub mod diff;
pub mod dir;
pub mod inhibit;
pub mod live;
pub mod planner;
pub mod routes;
pub mod runbooks;
pub mod silences;
pub mod sync;

use irene_store::SettingsFile;
use serde::Serialize;

/// The kinds of settings document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Triage,
    Sigma,
    Routes,
    Templates,
    Silences,
    Runbooks,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Triage,
        Kind::Sigma,
        Kind::Routes,
        Kind::Templates,
        Kind::Silences,
        Kind::Runbooks,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Triage => "triage",
            Kind::Sigma => "sigma",
            Kind::Routes => "routes",
            Kind::Templates => "templates",
            Kind::Silences => "silences",
            Kind::Runbooks => "runbooks",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The names, for messages.
    pub fn names() -> String {
        Kind::ALL
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Files in name order, so that the same set is the same document.
pub fn sorted(mut files: Vec<SettingsFile>) -> Vec<SettingsFile> {
    files.sort_by(|a, b| a.name.cmp(&b.name));
    files
}

/// The rule files of a document, as the rule compilers take them.
pub fn rule_files(files: &[SettingsFile]) -> Vec<irene_rules::RuleFile> {
    files
        .iter()
        .map(|f| irene_rules::RuleFile {
            name: f.name.clone(),
            text: f.text.clone(),
        })
        .collect()
}

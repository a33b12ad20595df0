//! The quarantine page: items a decoder refused, with the error and the payload cut short.
//! Reads only; payloads are shown escaped.

use super::*;

/// How much of a quarantined payload the page shows.
const EXCERPT_BYTES: usize = 4096;

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub(super) struct CursorQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
}

struct QuarantineRow {
    id: String,
    source: String,
    received_at: String,
    item_index: i64,
    error: String,
    excerpt: String,
    /// Set when the excerpt is cut.
    cut: bool,
}

#[derive(Template)]
#[template(path = "console/quarantine.html")]
struct QuarantinePage {
    viewer: Viewer,
    rows: Vec<QuarantineRow>,
    next: String,
}

/// `s` cut to at most `max` bytes on a character boundary, and whether it was cut.
fn excerpt(s: String, max: usize) -> (String, bool) {
    if s.len() <= max {
        return (s, false);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (s[..end].to_string(), true)
}

pub(super) async fn quarantine(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<CursorQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let page = quarantine_page(&state, &headers, query).await;
    render(&state, page)
}

async fn quarantine_page(
    state: &AppState,
    headers: &HeaderMap,
    query: Result<Query<CursorQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<QuarantinePage, ApiError> {
    let (viewer, q) = read_query(state, headers, query)?;
    let cursor = nonempty(q.cursor);
    let page = state
        .app
        .store
        .quarantine_list(PAGE_SIZE, cursor.as_deref())
        .await?;
    let next = page
        .next_cursor
        .map(|c| {
            format!(
                "/quarantine?{}",
                serde_urlencoded::to_string(CursorQuery { cursor: Some(c) }).unwrap_or_default()
            )
        })
        .unwrap_or_default();
    Ok(QuarantinePage {
        viewer,
        rows: page
            .items
            .into_iter()
            .map(|e| {
                let text = match e.raw {
                    serde_json::Value::String(s) => s,
                    v => serde_json::to_string_pretty(&v).unwrap_or_default(),
                };
                let (excerpt, cut) = excerpt(text, EXCERPT_BYTES);
                QuarantineRow {
                    id: e.id.to_string(),
                    source: e.source,
                    received_at: when(e.received_at),
                    item_index: e.item_index,
                    error: e.error,
                    excerpt,
                    cut,
                }
            })
            .collect(),
        next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_cut_on_a_character_boundary() {
        assert_eq!(excerpt("abc".into(), 3), ("abc".to_string(), false));
        assert_eq!(excerpt("abcd".into(), 3), ("abc".to_string(), true));
        assert_eq!(excerpt("aé".into(), 2), ("a".to_string(), true));
    }
}

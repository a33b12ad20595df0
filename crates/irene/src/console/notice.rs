//! What a page says after an action (POST-redirect-GET): the redirect's `?done=…` and its
//! numbers and ids, read back into a fixed sentence. It must not echo free text from the query.

use super::{when, AppState};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// The query parameters an action's redirect may carry (anything else in the query is ignored;
/// a value that does not parse means no notice).
#[derive(Debug, Default, Deserialize)]
pub(super) struct NoticeQuery {
    #[serde(default)]
    done: Option<String>,
    /// A count (cases resolved, letters requeued, …).
    #[serde(default)]
    n: Option<String>,
    /// A second count (already resolved, left for later, …).
    #[serde(default)]
    m: Option<String>,
    #[serde(default)]
    silence: Option<String>,
    #[serde(default)]
    delivery: Option<String>,
    #[serde(default)]
    inbox: Option<String>,
    /// The investigator asked for (checked against this configuration's).
    #[serde(default)]
    only: Option<String>,
}

/// A sentence about what just happened, and a piece of code to show with it (a silence's CEL).
pub struct Notice {
    pub text: String,
    pub code: String,
}

/// The 303 to `path` with the notice `done` and its parameters.
pub(super) fn see_other(path: &str, done: &str, params: &[(&str, String)]) -> Response {
    let mut pairs: Vec<(&str, String)> = vec![("done", done.to_string())];
    pairs.extend(params.iter().cloned());
    let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    let sep = match path.find('?') {
        None => "?",
        Some(at) if at + 1 == path.len() => "",
        Some(_) => "&",
    };
    let location = format!("{path}{sep}{query}");
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
    )
        .into_response()
}

fn count(s: &Option<String>) -> Option<u64> {
    s.as_deref().and_then(|s| s.parse().ok())
}

fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// The notice a page shows for its query, if it carries one this module knows.
pub(super) fn notice(state: &AppState, q: Option<NoticeQuery>) -> Option<Notice> {
    let q = q?;
    let plain = |text: String| {
        Some(Notice {
            text,
            code: String::new(),
        })
    };
    match q.done.as_deref()? {
        "resolved" => plain("The case is resolved; its outputs are told.".into()),
        "unchanged-resolved" => plain("The case was already resolved: nothing changed.".into()),
        "reopened" => plain("The case is open again; its outputs are told.".into()),
        "unchanged-open" => plain("The case was already open: nothing changed.".into()),
        "investigating" => {
            let configured = &state.app.investigators;
            match q.only.as_deref() {
                Some(name) if configured.iter().any(|n| n == name) => plain(format!(
                    "Investigation asked for: {name}. Its result will appear below."
                )),
                _ => plain(format!(
                    "{} asked for. Their results will appear below.",
                    plural(count(&q.n)?, "investigation", "investigations")
                )),
            }
        }
        "silenced" | "bulk-silenced" => {
            let id: u64 = q.silence.as_deref()?.parse().ok()?;
            let cases = match count(&q.n) {
                Some(n) if q.done.as_deref() == Some("bulk-silenced") => {
                    format!(" for {}", plural(n, "selected case", "selected cases"))
                }
                _ => String::new(),
            };
            let live = state.app.settings.load();
            let found = live.silences.all().find(|s| s.id == id).cloned();
            match found {
                Some(s) => Some(Notice {
                    text: format!(
                        "Silence #{id} created{cases}: notifications are held until {} for \
                         alerts matching",
                        when(s.ends_at)
                    ),
                    code: s.expression().unwrap_or_default(),
                }),
                None => plain(format!("Silence #{id} created{cases}.")),
            }
        }
        "bulk-resolved" => {
            let n = count(&q.n)?;
            let m = count(&q.m).unwrap_or(0);
            let mut text = format!("{} resolved", plural(n, "case", "cases"));
            if m > 0 {
                text.push_str(&format!("; {} already resolved", plural(m, "was", "were")));
            }
            text.push('.');
            plain(text)
        }
        "redriven" => {
            let id: i64 = q.delivery.as_deref()?.parse().ok()?;
            plain(format!(
                "Dead letter {id} is back in the queue and will be sent again now."
            ))
        }
        "redriven-all" => {
            let n = count(&q.n)?;
            let mut text = format!(
                "{} back in the queue.",
                plural(n, "dead letter is", "dead letters are")
            );
            if count(&q.m).unwrap_or(0) > 0 {
                text.push_str(" More remain: redrive again for the rest.");
            }
            plain(text)
        }
        "requeued" => {
            let inbox: uuid::Uuid = q.inbox.as_deref()?.parse().ok()?;
            plain(format!(
                "The item is back in the inbox as {inbox} and is decoded again now."
            ))
        }
        "requeued-all" => {
            let n = count(&q.n)?;
            let mut text = format!(
                "{} back in the inbox.",
                plural(n, "quarantined item is", "quarantined items are")
            );
            if count(&q.m).unwrap_or(0) > 0 {
                text.push_str(" More remain: retry again for the rest.");
            }
            plain(text)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_carry_the_notice_encoded() {
        let r = see_other("/cases", "bulk-resolved", &[("n", "3".into())]);
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            r.headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok()),
            Some("/cases?done=bulk-resolved&n=3")
        );
        let r = see_other("/cases?status=open", "x", &[("only", "a b&c".into())]);
        assert_eq!(
            r.headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok()),
            Some("/cases?status=open&done=x&only=a+b%26c")
        );
        let r = see_other("/cases?", "x", &[]);
        assert_eq!(
            r.headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok()),
            Some("/cases?done=x")
        );
    }
}

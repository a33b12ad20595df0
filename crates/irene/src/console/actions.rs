//! The console's actions: HTML forms posted by responders (resolve, reopen, re-investigate and
//! silence a case, the same in bulk, redrive dead letters, retry quarantined items). Each checks
//! the role and the form's CSRF token, calls the same `app` method as the API, audits, and
//! redirects (303) to a page that says what happened. It must not render pages or decide access.

use super::access::{audit, check_form};
use super::notice::see_other;
use super::*;
use crate::settings::live::NewSilence;
use axum::body::Bytes;
use serde::de::DeserializeOwned;
use uuid::Uuid;

/// The most cases one bulk action takes.
pub(super) const BULK_MAX: usize = 500;
/// The most dead letters or quarantined items one "all" action takes (read 500 at a time).
const ALL_MAX: usize = 5000;
const ALL_PAGE: u32 = 500;
/// The longest reason or comment kept.
const TEXT_MAX: usize = 2000;
/// The longest silence a form asks for unless another is typed.
pub(super) const SILENCE_DEFAULT: &str = "24h";

fn respond(state: &AppState, r: Result<Response, ApiError>) -> Response {
    r.unwrap_or_else(|e| error_page(state, e))
}

/// A posted form's fields (`application/x-www-form-urlencoded`); 400 if it does not parse.
fn form<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_urlencoded::from_bytes(body)
        .map_err(|e| ApiError::bad_request("invalid_form", format!("the form: {e}")))
}

/// The responder behind a form, whose token is good: 401/403 otherwise.
fn responder(state: &AppState, headers: &HeaderMap, csrf: &str) -> Result<Viewer, ApiError> {
    let viewer = require(state, headers, Role::Responder)?;
    check_form(&viewer, headers, csrf)?;
    Ok(viewer)
}

/// A required free-text field, trimmed and bounded.
fn required(what: &str, s: &str) -> Result<String, ApiError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_form",
            format!("a {what} is required"),
        ));
    }
    Ok(bounded(s))
}

fn bounded(s: &str) -> String {
    s.trim().chars().take(TEXT_MAX).collect()
}

fn case_path(id: Uuid) -> String {
    format!("/cases/{id}")
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

#[derive(Debug, Deserialize)]
struct ResolveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

pub(super) async fn resolve(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let r = async {
        let f: ResolveForm = form(&body)?;
        let viewer = responder(&state, &headers, &f.csrf)?;
        let id = parse_id("case", &id)?;
        let reason = required("reason", &f.reason)?;
        let out = state
            .app
            .resolve_case(id, &viewer.name, &reason)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no case {id}")))?;
        if !out.changed {
            return Ok(see_other(&case_path(id), "unchanged-resolved", &[]));
        }
        audit(&state, &viewer, "case.resolve", &id.to_string(), &reason).await;
        Ok(see_other(&case_path(id), "resolved", &[]))
    };
    respond(&state, r.await)
}

pub(super) async fn reopen(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let r = async {
        let f: CsrfForm = form(&body)?;
        let viewer = responder(&state, &headers, &f.csrf)?;
        let id = parse_id("case", &id)?;
        let out = state
            .app
            .reopen_case(id, &viewer.name)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no case {id}")))?;
        if !out.changed {
            return Ok(see_other(&case_path(id), "unchanged-open", &[]));
        }
        audit(&state, &viewer, "case.reopen", &id.to_string(), "").await;
        Ok(see_other(&case_path(id), "reopened", &[]))
    };
    respond(&state, r.await)
}

#[derive(Debug, Deserialize)]
struct InvestigateForm {
    #[serde(default)]
    csrf: String,
    /// One investigator; empty: all that the policies name.
    #[serde(default)]
    only: String,
}

pub(super) async fn investigate(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let r = async {
        let f: InvestigateForm = form(&body)?;
        let viewer = responder(&state, &headers, &f.csrf)?;
        let id = parse_id("case", &id)?;
        let only = Some(f.only.trim()).filter(|o| !o.is_empty());
        let asked = state
            .app
            .investigate_case(id, only)
            .await
            .map_err(|e| crate::api::investigations::request_error(id, e))?;
        let names = asked.investigators.join(", ");
        audit(&state, &viewer, "case.investigate", &id.to_string(), &names).await;
        let mut params = vec![("n", asked.investigators.len().to_string())];
        if let Some(o) = only {
            params.push(("only", o.to_string()));
        }
        Ok(see_other(&case_path(id), "investigating", &params))
    };
    respond(&state, r.await)
}

/// The CEL that matches alerts like a case's: its type and, when it has one, its resource.
pub(super) fn like_case(kind: &str, resource_id: &str) -> String {
    // a JSON string literal is a valid CEL string literal
    let lit = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    if resource_id.is_empty() {
        format!("alert.type == {}", lit(kind))
    } else {
        format!(
            "alert.type == {} && alert.resource.id == {}",
            lit(kind),
            lit(resource_id)
        )
    }
}

/// Adds a silence by `viewer` from `duration` (`2h`, `1d`) and `comment`; its id.
async fn add_silence(
    state: &AppState,
    viewer: &Viewer,
    condition: String,
    duration: &str,
    comment: &str,
) -> Result<u64, ApiError> {
    let now = Utc::now();
    let ends_at = crate::settings::silences::ends(now, duration)
        .map_err(|e| ApiError::bad_request("invalid_form", e))?;
    let new = NewSilence {
        condition: Some(condition),
        matchers: Vec::new(),
        starts_at: now,
        ends_at,
        comment: bounded(comment),
        force: false,
    };
    Ok(super::silences::record(state, viewer, new).await?.id)
}

#[derive(Debug, Deserialize)]
struct SilenceForm {
    #[serde(default)]
    csrf: String,
    /// The CEL condition (pre-filled with the case's type and resource).
    #[serde(default, rename = "match")]
    condition: String,
    #[serde(default)]
    duration: String,
    #[serde(default)]
    comment: String,
}

pub(super) async fn silence(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let r = async {
        let f: SilenceForm = form(&body)?;
        let viewer = responder(&state, &headers, &f.csrf)?;
        let id = parse_id("case", &id)?;
        let condition = required("match", &f.condition)?;
        let silence = add_silence(&state, &viewer, condition, &f.duration, &f.comment).await?;
        Ok(see_other(
            &case_path(id),
            "silenced",
            &[("silence", silence.to_string())],
        ))
    };
    respond(&state, r.await)
}

/// The case list to go back to: the filters the page was posted from, re-read so that only the
/// list's own parameters are kept.
fn back_to_list(filters: &str) -> String {
    let q: ListQuery = serde_urlencoded::from_str(filters).unwrap_or_default();
    list_href(&q)
}

pub(super) async fn bulk(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(&state, bulk_inner(&state, &headers, &body).await)
}

async fn bulk_inner(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let pairs: Vec<(String, String)> = form(body)?;
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    };
    let viewer = responder(state, headers, field("csrf"))?;
    let mut ids: Vec<Uuid> = Vec::new();
    for (_, v) in pairs.iter().filter(|(k, _)| k == "id") {
        let id = Uuid::parse_str(v.trim()).map_err(|_| {
            ApiError::bad_request("invalid_form", format!("{v:?} is not a case id"))
        })?;
        if !ids.contains(&id) {
            ids.push(id);
        }
        if ids.len() > BULK_MAX {
            return Err(ApiError::bad_request(
                "too_many",
                format!("at most {BULK_MAX} cases at once: select fewer and try again"),
            ));
        }
    }
    if ids.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_form",
            "select at least one case",
        ));
    }
    let back = back_to_list(field("filters"));
    match field("op") {
        "resolve" => {
            let reason = required("reason", field("reason"))?;
            let (mut done, mut already) = (0u64, 0u64);
            for id in &ids {
                match state.app.resolve_case(*id, &viewer.name, &reason).await? {
                    Some(out) if out.changed => {
                        done += 1;
                        audit(state, &viewer, "case.resolve", &id.to_string(), &reason).await;
                    }
                    Some(_) => already += 1,
                    None => {}
                }
            }
            Ok(see_other(
                &back,
                "bulk-resolved",
                &[("n", done.to_string()), ("m", already.to_string())],
            ))
        }
        "silence" => {
            let mut likes: Vec<String> = Vec::new();
            for id in &ids {
                let Some(detail) = state.app.store.case_get(*id).await? else {
                    continue;
                };
                let c = detail.case;
                let like = like_case(&c.kind, c.resource.id.as_deref().unwrap_or_default());
                if !likes.contains(&like) {
                    likes.push(like);
                }
            }
            if likes.is_empty() {
                return Err(ApiError::not_found("none of the selected cases exists"));
            }
            let condition = if likes.len() == 1 {
                likes.remove(0)
            } else {
                likes
                    .iter()
                    .map(|l| format!("({l})"))
                    .collect::<Vec<_>>()
                    .join(" || ")
            };
            let duration = Some(field("duration"))
                .filter(|d| !d.trim().is_empty())
                .unwrap_or(SILENCE_DEFAULT);
            let silence =
                add_silence(state, &viewer, condition, duration, field("comment")).await?;
            Ok(see_other(
                &back,
                "bulk-silenced",
                &[
                    ("silence", silence.to_string()),
                    ("n", ids.len().to_string()),
                ],
            ))
        }
        other => Err(ApiError::bad_request(
            "invalid_form",
            format!("no bulk action {other:?}: resolve or silence"),
        )),
    }
}

#[derive(Debug, Deserialize)]
struct RedriveForm {
    #[serde(default)]
    csrf: String,
    /// `case`: back to the delivery's case page; else the dead letters.
    #[serde(default)]
    back: String,
}

pub(super) async fn redrive(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let r = async {
        let f: RedriveForm = form(&body)?;
        let viewer = responder(&state, &headers, &f.csrf)?;
        let seq: i64 = id
            .parse()
            .map_err(|_| ApiError::not_found(format!("no delivery {id:?}")))?;
        let row = state
            .app
            .retry_delivery(seq)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no dead delivery {seq}")))?;
        let detail = format!("{} {}", row.output, row.action.as_str());
        audit(
            &state,
            &viewer,
            "delivery.redrive",
            &seq.to_string(),
            &detail,
        )
        .await;
        let params = [("delivery", seq.to_string())];
        Ok(match row.case_id {
            Some(case) if f.back == "case" => see_other(&case_path(case), "redriven", &params),
            _ => see_other("/deliveries?state=dead", "redriven", &params),
        })
    };
    respond(&state, r.await)
}

pub(super) async fn redrive_all(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let r = async {
        let f: CsrfForm = form(&body)?;
        let viewer = responder(&state, &headers, &f.csrf)?;
        let (list, act) = (state.clone(), state.clone());
        let (done, more) = for_all(
            move |cursor| {
                let state = list.clone();
                Box::pin(async move {
                    let f = DeliveryFilter {
                        state: Some("dead".into()),
                        limit: ALL_PAGE,
                        cursor,
                        ..Default::default()
                    };
                    let page = state.app.store.outbox_list(&f).await?;
                    Ok((page.items.iter().map(|d| d.id).collect(), page.next_cursor))
                })
            },
            move |id| {
                let state = act.clone();
                Box::pin(async move { Ok(state.app.retry_delivery(id).await?.is_some()) })
            },
        )
        .await?;
        audit(
            &state,
            &viewer,
            "delivery.redrive_all",
            "",
            &format!("{done} dead letters"),
        )
        .await;
        Ok(see_other(
            "/deliveries?state=dead",
            "redriven-all",
            &[("n", done.to_string()), ("m", u8::from(more).to_string())],
        ))
    };
    respond(&state, r.await)
}

/// A step of an "all" button: boxed so that the handler's future stays `Send`.
type Step<T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, ApiError>> + Send>>;

/// Acts on every item a listing pages through (`list`: a page of ids and the next cursor),
/// at most `ALL_MAX`: how many `act` acted on, and whether some were left. The one loop of the
/// "all" buttons.
async fn for_all<Id: Copy>(
    list: impl Fn(Option<String>) -> Step<(Vec<Id>, Option<String>)>,
    act: impl Fn(Id) -> Step<bool>,
) -> Result<(usize, bool), ApiError> {
    let (mut done, mut cursor) = (0usize, None);
    loop {
        let (ids, next) = list(cursor.take()).await?;
        for id in ids {
            if done >= ALL_MAX {
                return Ok((done, true));
            }
            if act(id).await? {
                done += 1;
            }
        }
        match next {
            Some(_) if done >= ALL_MAX => return Ok((done, true)),
            Some(c) => cursor = Some(c),
            None => return Ok((done, false)),
        }
    }
}

pub(super) async fn requeue(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let r = async {
        let f: CsrfForm = form(&body)?;
        let viewer = responder(&state, &headers, &f.csrf)?;
        let id = parse_id("quarantined item", &id)?;
        let inbox = state
            .app
            .requeue_quarantined(id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no quarantined item {id}")))?;
        audit(
            &state,
            &viewer,
            "quarantine.retry",
            &id.to_string(),
            &format!("inbox {inbox}"),
        )
        .await;
        Ok(see_other(
            "/quarantine",
            "requeued",
            &[("inbox", inbox.to_string())],
        ))
    };
    respond(&state, r.await)
}

pub(super) async fn requeue_all(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let r = async {
        let f: CsrfForm = form(&body)?;
        let viewer = responder(&state, &headers, &f.csrf)?;
        let (list, act) = (state.clone(), state.clone());
        let (done, more) = for_all(
            move |cursor: Option<String>| {
                let state = list.clone();
                Box::pin(async move {
                    let page = state
                        .app
                        .store
                        .quarantine_list(ALL_PAGE, cursor.as_deref())
                        .await?;
                    Ok((page.items.iter().map(|e| e.id).collect(), page.next_cursor))
                })
            },
            move |id| {
                let state = act.clone();
                Box::pin(async move { Ok(state.app.requeue_quarantined(id).await?.is_some()) })
            },
        )
        .await?;
        audit(
            &state,
            &viewer,
            "quarantine.retry_all",
            "",
            &format!("{done} items"),
        )
        .await;
        Ok(see_other(
            "/quarantine",
            "requeued-all",
            &[("n", done.to_string()), ("m", u8::from(more).to_string())],
        ))
    };
    respond(&state, r.await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_case_is_matched_by_its_type_and_resource_quoted() {
        assert_eq!(
            like_case("Recon:EC2/Port", "i-1"),
            r#"alert.type == "Recon:EC2/Port" && alert.resource.id == "i-1""#
        );
        assert_eq!(like_case("t", ""), r#"alert.type == "t""#);
        // a quote in an alert cannot end the literal
        assert_eq!(
            like_case("a\" || true || \"", ""),
            r#"alert.type == "a\" || true || \"""#
        );
    }

    #[test]
    fn the_list_to_go_back_to_keeps_only_its_filters() {
        assert_eq!(
            back_to_list("status=open&q=x%20y&evil=1"),
            "/cases?status=open&q=x+y"
        );
        assert_eq!(back_to_list("%%%"), "/cases?");
    }
}

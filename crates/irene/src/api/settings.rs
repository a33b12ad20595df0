//! Settings documents and silences over HTTP: read a kind's current version, its versions and
//! diffs; apply documents (validated whole, dry run first); create, list and expire silences.
//! The documents' meaning and their checks live in `crate::settings`; handlers only translate.

use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::auth::Scope;
use crate::settings::live::{ApplyError, NewSilence};
use crate::settings::silences::SilenceState;
use crate::settings::{diff, Kind};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::{DateTime, Utc};
use irene_store::SettingsFile;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The settings kind a path names (404 with the kinds there are).
pub(crate) fn kind_of(s: &str) -> ApiResult<Kind> {
    Kind::parse(s).ok_or_else(|| {
        ApiError::not_found(format!("no settings kind {s:?} (kinds: {})", Kind::names()))
    })
}

impl From<ApplyError> for ApiError {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::Invalid(errors) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_settings",
                format!("{} error(s):\n{}", errors.len(), errors.join("\n")),
            ),
            ApplyError::Store(irene_store::StoreError::Conflict {
                kind,
                expected,
                current,
            }) => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("{kind} is at version {current}, not {expected}: reload and try again"),
            ),
            ApplyError::Store(other) => other.into(),
        }
    }
}

/// `GET /api/v1/settings/{kind}`: the current version, whole (404 when never written).
pub async fn current(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(kind): Path<String>,
) -> ApiResult<Json<Value>> {
    state.authorize(&headers, Scope::Read)?;
    let kind = kind_of(&kind)?;
    match state.app.store.settings_current(kind.as_str()).await? {
        Some(v) => Ok(Json(json!(v))),
        None => Err(ApiError::not_found(format!(
            "no {} document has been written",
            kind.as_str()
        ))),
    }
}

/// `GET /api/v1/settings/{kind}/versions`: every version, newest first, without files.
pub async fn versions(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(kind): Path<String>,
) -> ApiResult<Json<Value>> {
    state.authorize(&headers, Scope::Read)?;
    let kind = kind_of(&kind)?;
    let list = state.app.store.settings_versions(kind.as_str()).await?;
    let list: Vec<Value> = list
        .into_iter()
        .map(|v| json!({"version": v.version, "author": v.author, "created_at": v.created_at, "comment": v.comment}))
        .collect();
    Ok(Json(json!({"kind": kind, "versions": list})))
}

/// `GET /api/v1/settings/{kind}/versions/{n}`.
pub async fn version(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((kind, n)): Path<(String, u32)>,
) -> ApiResult<Json<Value>> {
    state.authorize(&headers, Scope::Read)?;
    let kind = kind_of(&kind)?;
    match state.app.store.settings_version(kind.as_str(), n).await? {
        Some(v) => Ok(Json(json!(v))),
        None => Err(ApiError::not_found(format!(
            "{} has no version {n}",
            kind.as_str()
        ))),
    }
}

#[derive(Debug, Deserialize)]
pub struct DiffQuery {
    from: u32,
    /// Default: the current version.
    to: Option<u32>,
}

/// `GET /api/v1/settings/{kind}/diff?from=N[&to=M]`: the unified diff (version 0: empty).
pub async fn diff_versions(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(kind): Path<String>,
    Query(q): Query<DiffQuery>,
) -> ApiResult<Json<Value>> {
    state.authorize(&headers, Scope::Read)?;
    let kind = kind_of(&kind)?;
    let (to, diff) = diff_between(&state, kind, q.from, q.to).await?;
    Ok(Json(
        json!({"kind": kind, "from": q.from, "to": to, "diff": diff}),
    ))
}

/// The unified diff of a kind from version `from` to `to` (default: the current one; version
/// 0: empty), and the `to` it used: the one diff the API and the console show.
pub(crate) async fn diff_between(
    state: &AppState,
    kind: Kind,
    from: u32,
    to: Option<u32>,
) -> ApiResult<(u32, String)> {
    let store = &state.app.store;
    let to = match to {
        Some(n) => n,
        None => store
            .settings_current(kind.as_str())
            .await?
            .map_or(0, |v| v.version),
    };
    let mut files: Vec<Vec<SettingsFile>> = Vec::with_capacity(2);
    for n in [from, to] {
        files.push(match n {
            0 => Vec::new(),
            n => {
                store
                    .settings_version(kind.as_str(), n)
                    .await?
                    .ok_or_else(|| {
                        ApiError::not_found(format!("{} has no version {n}", kind.as_str()))
                    })?
                    .files
            }
        });
    }
    Ok((to, diff::unified(kind.as_str(), &files[0], &files[1])))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplyRequest {
    /// Per kind, its whole new document.
    documents: BTreeMap<String, Vec<SettingsFile>>,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    dry_run: bool,
}

/// `POST /api/v1/settings/apply` (admin): validates the documents with the other current
/// ones (every error at once, 400), answers the diff; unless `dry_run`, writes them and
/// switches every worker to them.
pub async fn apply(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let who = state.authorize(&headers, Scope::Admin)?;
    let req: ApplyRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("invalid_request", format!("the request: {e}")))?;
    let mut given = BTreeMap::new();
    for (k, files) in req.documents {
        given.insert(
            kind_of(&k).map_err(|e| ApiError::bad_request("invalid_request", e.message))?,
            files,
        );
    }
    apply_as(&state, &who, given, &req.comment, req.dry_run).await
}

/// Applies `given` by `who` (the one way both routes write documents).
async fn apply_as(
    state: &AppState,
    who: &str,
    given: BTreeMap<Kind, Vec<SettingsFile>>,
    comment: &str,
    dry_run: bool,
) -> ApiResult<Json<Value>> {
    let applied = state
        .app
        .settings
        .apply(&*state.app.store, given, who, comment, dry_run, Utc::now())
        .await?;
    Ok(Json(json!(applied)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutRequest {
    files: Vec<SettingsFile>,
    #[serde(default)]
    comment: String,
}

/// `PUT /api/v1/settings/{kind}` (admin): one kind's new document (as apply).
pub async fn put(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(kind): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let who = state.authorize(&headers, Scope::Admin)?;
    let kind = kind_of(&kind)?;
    let req: PutRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("invalid_request", format!("the request: {e}")))?;
    let mut given = BTreeMap::new();
    given.insert(kind, req.files);
    apply_as(&state, &who, given, &req.comment, false).await
}

#[derive(Debug, Deserialize)]
pub struct SilenceQuery {
    state: Option<String>,
}

/// `GET /api/v1/silences[?state=active|pending|expired]`: the silences, with their state.
pub async fn silences(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<SilenceQuery>,
) -> ApiResult<Json<Value>> {
    state.authorize(&headers, Scope::Read)?;
    let want = match q.state.as_deref() {
        None => None,
        Some(s) => Some(SilenceState::parse(s).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_request",
                format!("state {s:?}: active, pending or expired"),
            )
        })?),
    };
    let now = Utc::now();
    let snap = state.app.settings.load();
    let list: Vec<Value> = snap
        .silences
        .all()
        .filter(|s| want.is_none_or(|w| s.state(now) == w))
        .map(|s| {
            let mut v = json!(s);
            v["state"] = json!(s.state(now));
            v
        })
        .collect();
    Ok(Json(json!({"silences": list})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceRequest {
    #[serde(default, rename = "match")]
    condition: Option<String>,
    #[serde(default)]
    matchers: Vec<String>,
    #[serde(default)]
    starts_at: Option<DateTime<Utc>>,
    /// Either `ends_at` or `duration` (`"2h"`).
    #[serde(default)]
    ends_at: Option<DateTime<Utc>>,
    #[serde(default)]
    duration: Option<String>,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    force: bool,
}

/// `POST /api/v1/silences` (admin): a new silence (201), audited as a version of `silences`.
pub async fn silence_add(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let who = state.authorize(&headers, Scope::Admin)?;
    let req: SilenceRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("invalid_request", format!("the request: {e}")))?;
    let now = Utc::now();
    let starts_at = req.starts_at.unwrap_or(now);
    let ends_at = match (req.ends_at, req.duration.as_deref()) {
        (Some(t), None) => t,
        (None, Some(d)) => crate::settings::silences::ends(starts_at, d)
            .map_err(|e| ApiError::bad_request("invalid_request", e))?,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_request",
                "give exactly one of ends_at or duration",
            ))
        }
    };
    let s = state
        .app
        .settings
        .silence_add(
            &*state.app.store,
            NewSilence {
                condition: req.condition,
                matchers: req.matchers,
                starts_at,
                ends_at,
                comment: req.comment,
                force: req.force,
            },
            &who,
            now,
        )
        .await?;
    tracing::info!(silence = s.id, by = %who, "silence added");
    let mut v = json!(s);
    v["state"] = json!(s.state(now));
    Ok((StatusCode::CREATED, Json(v)))
}

/// `POST /api/v1/silences/{id}/expire` (admin): ends it now.
pub async fn silence_expire(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> ApiResult<Json<Value>> {
    let who = state.authorize(&headers, Scope::Admin)?;
    let now = Utc::now();
    match state
        .app
        .settings
        .silence_expire(&*state.app.store, id, &who, now)
        .await?
    {
        Some(s) => {
            tracing::info!(silence = id, by = %who, "silence expired");
            let mut v = json!(s);
            v["state"] = json!(s.state(now));
            Ok(Json(v))
        }
        None => Err(ApiError::not_found(format!("no silence #{id}"))),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// `github_title`, `github_body`, `github_comment` or `slack_message`.
    template: String,
    case_id: uuid::Uuid,
    /// A draft of that template; absent: the live one (or the built-in).
    #[serde(default)]
    text: Option<String>,
    /// The action a comment is for (default `open`).
    #[serde(default)]
    action: Option<String>,
}

/// `POST /api/v1/settings/templates/preview` (read): renders a template (a draft or the live
/// one) against a stored case and its latest alert; a template that fails says why (400).
pub async fn preview(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    state.authorize(&headers, Scope::Read)?;
    let req: PreviewRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("invalid_request", format!("the request: {e}")))?;
    let text = render_preview(
        &state,
        &req.template,
        req.case_id,
        req.text.as_deref(),
        req.action.as_deref(),
    )
    .await?;
    Ok(Json(
        json!({"template": req.template, "case_id": req.case_id, "text": text}),
    ))
}

/// Renders `template` (a draft, or the live one when `text` is `None`) against a stored case
/// and its latest alert, for `action` (default `open`): the one preview the API and the
/// console share. 404 for an unknown case, 400 for a template that fails.
pub async fn render_preview(
    state: &AppState,
    template: &str,
    case_id: uuid::Uuid,
    text: Option<&str>,
    action: Option<&str>,
) -> ApiResult<String> {
    let detail = state
        .app
        .store
        .case_get(case_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no case {case_id}")))?;
    let alert = state
        .app
        .store
        .alert_get(detail.case.last_alert_id)
        .await?
        .map(|a| a.judged.alert);
    let action = match action {
        None => irene_core::Action::Open,
        Some(a) => a
            .parse::<irene_core::Action>()
            .map_err(|e| ApiError::bad_request("invalid_request", format!("action {a:?}: {e}")))?,
    };
    let set = match text {
        Some(text) => Arc::new(
            irene_outputs::TemplateSet::compile(&[irene_outputs::templates::TemplateFile {
                name: format!("{template}.j2"),
                text: text.to_string(),
            }])
            .map_err(|errors| {
                let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                ApiError::bad_request("invalid_template", lines.join("\n"))
            })?,
        ),
        None => state.app.settings.templates(),
    };
    let case_url = irene_outputs::render::case_link(&state.public_url, detail.case.id);
    let text = irene_outputs::templates::preview(
        &set,
        template,
        &detail.case,
        alert.as_ref(),
        &case_url,
        action,
    )
    .map_err(|e| ApiError::bad_request("template_failed", e.to_string()))?;
    Ok(text)
}

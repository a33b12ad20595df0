//! The settings pages: each document kind's live version, files, versions and diffs; an editor
//! that checks (dry run, every error shown) before it saves; template previews; the outputs and
//! inhibitions in force. What a document means and how it is checked is `crate::settings`'s.

use super::*;
use crate::api::settings::kind_of;
use crate::settings::live::ApplyError;
use crate::settings::Kind;
use axum::body::Bytes;
use axum::response::Redirect;
use irene_store::SettingsFile;
use std::collections::BTreeMap;

// ---------------------------------------------------------------- index

struct KindRow {
    name: String,
    version: String,
    author: String,
    at: String,
    comment: String,
}

struct OutputRow {
    name: String,
    kind: String,
    enabled: bool,
    min_severity: String,
    when: String,
    credentials: Vec<(String, bool)>,
}

struct InhibitRow {
    name: String,
    source_when: String,
    target_when: String,
    equal: String,
}

#[derive(Template)]
#[template(path = "console/settings.html")]
struct IndexPage {
    viewer: Viewer,
    kinds: Vec<KindRow>,
    outputs: Vec<OutputRow>,
    inhibitions: Vec<InhibitRow>,
}

pub(super) async fn index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let page = index_page(&state, &headers).await;
    render(&state, page)
}

async fn index_page(state: &AppState, headers: &HeaderMap) -> Result<IndexPage, ApiError> {
    let viewer = require(state, headers, Role::Viewer)?;
    let store = &state.app.store;
    let mut kinds = Vec::new();
    for kind in Kind::ALL {
        let row = match store.settings_current(kind.as_str()).await? {
            Some(v) => KindRow {
                name: kind.as_str().to_string(),
                version: v.version.to_string(),
                author: v.author,
                at: when(v.created_at),
                comment: v.comment,
            },
            None => KindRow {
                name: kind.as_str().to_string(),
                version: "none".into(),
                author: String::new(),
                at: String::new(),
                comment: String::new(),
            },
        };
        kinds.push(row);
    }
    let snap = state.app.settings.load();
    let outputs = state
        .app
        .settings
        .base()
        .outputs
        .iter()
        .map(|o| {
            let route = snap.routes_doc.routes.iter().find(|r| r.output == o.name());
            let common = o.common();
            OutputRow {
                name: o.name().to_string(),
                kind: o.kind().to_string(),
                enabled: route.is_none_or(|r| r.enabled),
                min_severity: route
                    .and_then(|r| r.min_severity)
                    .unwrap_or(common.min_severity)
                    .as_str()
                    .to_string(),
                when: route
                    .and_then(|r| r.when.clone())
                    .or_else(|| common.when.clone())
                    .unwrap_or_default(),
                credentials: o
                    .credentials()
                    .into_iter()
                    .map(|(name, set)| (name.to_string(), set))
                    .collect(),
            }
        })
        .collect();
    let inhibitions = snap
        .routes_doc
        .inhibit
        .iter()
        .map(|i| InhibitRow {
            name: i.name.clone().unwrap_or_default(),
            source_when: i.source_when.clone(),
            target_when: i.target_when.clone(),
            equal: i.equal.join(", "),
        })
        .collect();
    Ok(IndexPage {
        viewer,
        kinds,
        outputs,
        inhibitions,
    })
}

// ---------------------------------------------------------------- one kind

struct FileView {
    name: String,
    text: String,
}

struct VersionRow {
    version: u32,
    author: String,
    at: String,
    comment: String,
    /// The diff with the version before, when there is one.
    diff_href: String,
}

/// A line of a unified diff with how to show it.
struct DiffLine {
    class: &'static str,
    text: String,
}

fn diff_lines(diff: &str) -> Vec<DiffLine> {
    diff.lines()
        .map(|l| DiffLine {
            class: if l.starts_with("+++") || l.starts_with("---") {
                "diff-file"
            } else if l.starts_with('+') {
                "diff-add"
            } else if l.starts_with('-') {
                "diff-del"
            } else if l.starts_with("@@") {
                "diff-hunk"
            } else {
                "diff-ctx"
            },
            text: l.to_string(),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "console/settings_kind.html")]
struct KindPage {
    viewer: Viewer,
    kind: String,
    /// The version the editor started from (0: none), sent back to detect a concurrent change.
    version: u32,
    files: Vec<FileView>,
    versions: Vec<VersionRow>,
    comment: String,
    /// Set after a check or a failed apply.
    errors: Vec<String>,
    /// The diff of a successful check.
    diff: Vec<DiffLine>,
    checked: bool,
    notice: String,
    is_templates: bool,
    template_names: Vec<&'static str>,
}

impl KindPage {
    fn can_edit(&self) -> bool {
        self.viewer.can(Role::Admin)
    }
}

fn template_names() -> Vec<&'static str> {
    irene_outputs::templates::TemplateName::ALL
        .iter()
        .map(|n| n.as_str())
        .collect()
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct KindQuery {
    applied: Option<u32>,
    unchanged: Option<String>,
}

pub(super) async fn kind(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(kind): Path<String>,
    query: Result<Query<KindQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let page = async {
        let (viewer, q) = read_query(&state, &headers, query)?;
        let kind = kind_of(&kind)?;
        let mut page = kind_page(&state, viewer, kind).await?;
        if let Some(v) = q.applied {
            page.notice = format!("Applied: {} is now at version {v}.", kind.as_str());
        } else if q.unchanged.is_some() {
            page.notice = "Nothing changed: the document was already so.".into();
        }
        Ok(page)
    }
    .await;
    render(&state, page)
}

/// The page of a kind as stored now (its live files in the editor).
async fn kind_page(state: &AppState, viewer: Viewer, kind: Kind) -> Result<KindPage, ApiError> {
    let store = &state.app.store;
    let current = store.settings_current(kind.as_str()).await?;
    let versions = store.settings_versions(kind.as_str()).await?;
    let (version, files) = match current {
        Some(v) => (
            v.version,
            v.files
                .into_iter()
                .map(|f| FileView {
                    name: f.name,
                    text: f.text,
                })
                .collect(),
        ),
        None => (0, Vec::new()),
    };
    let name = kind.as_str();
    Ok(KindPage {
        viewer,
        kind: name.to_string(),
        version,
        files,
        versions: versions
            .into_iter()
            .map(|v| VersionRow {
                diff_href: if v.version > 1 {
                    format!(
                        "/settings/{name}/diff?from={}&to={}",
                        v.version - 1,
                        v.version
                    )
                } else {
                    format!("/settings/{name}/diff?from=0&to={}", v.version)
                },
                version: v.version,
                author: v.author,
                at: when(v.created_at),
                comment: v.comment,
            })
            .collect(),
        comment: String::new(),
        errors: Vec::new(),
        diff: Vec::new(),
        checked: false,
        notice: String::new(),
        is_templates: kind == Kind::Templates,
        template_names: template_names(),
    })
}

/// The editor's form: `csrf`, `version`, `comment`, `action` (`check` or `apply`), and the
/// files as repeated `name`/`text` pairs in order (a file with an empty name or text is dropped).
struct EditForm {
    csrf: String,
    version: u32,
    comment: String,
    apply: bool,
    files: Vec<SettingsFile>,
}

fn parse_edit(body: &[u8]) -> Result<EditForm, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|e| ApiError::bad_request("invalid_form", format!("the form: {e}")))?;
    let mut form = EditForm {
        csrf: String::new(),
        version: 0,
        comment: String::new(),
        apply: false,
        files: Vec::new(),
    };
    let mut name: Option<String> = None;
    for (k, v) in pairs {
        match k.as_str() {
            "csrf" => form.csrf = v,
            "version" => {
                form.version = v.trim().parse().map_err(|_| {
                    ApiError::bad_request("invalid_form", format!("version {v:?} is not a number"))
                })?
            }
            "comment" => form.comment = v,
            "action" => form.apply = v == "apply",
            "name" => name = Some(v.trim().to_string()),
            "text" => {
                let n = name.take().unwrap_or_default();
                // browsers send CRLF line ends from a textarea
                let text = v.replace("\r\n", "\n");
                if !n.is_empty() && !text.trim().is_empty() {
                    form.files.push(SettingsFile { name: n, text });
                }
            }
            _ => {}
        }
    }
    Ok(form)
}

/// `POST /settings/{kind}` (admin): checks the edited document with the other live ones; on
/// `apply` and no error, saves it as a new version and switches to it.
pub(super) async fn edit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(kind): Path<String>,
    body: Bytes,
) -> Response {
    let outcome = async {
        let viewer = require(&state, &headers, Role::Admin)?;
        let kind = kind_of(&kind)?;
        let form = parse_edit(&body)?;
        access::check_form(&viewer, &headers, &form.csrf)?;
        let mut given = BTreeMap::new();
        given.insert(kind, form.files.clone());
        let result = state
            .app
            .settings
            .apply(
                &*state.app.store,
                given,
                &viewer.name,
                &form.comment,
                !form.apply,
                Utc::now(),
            )
            .await;
        // what the editor shows again: the text as sent, never the stored one
        let mut page = kind_page(&state, viewer.clone(), kind).await?;
        page.version = form.version;
        page.comment = form.comment.clone();
        page.files = form
            .files
            .iter()
            .map(|f| FileView {
                name: f.name.clone(),
                text: f.text.clone(),
            })
            .collect();
        match result {
            Ok(applied) if form.apply => {
                let target = kind.as_str();
                let version = applied.versions.get(target).copied();
                access::audit(
                    &state,
                    &viewer,
                    "settings.apply",
                    target,
                    &format!(
                        "version {}: {}",
                        version.map_or("unchanged".to_string(), |v| v.to_string()),
                        form.comment
                    ),
                )
                .await;
                Ok(Err(match version {
                    Some(v) => Redirect::to(&format!("/settings/{target}?applied={v}")),
                    None => Redirect::to(&format!("/settings/{target}?unchanged=1")),
                }))
            }
            Ok(applied) => {
                page.checked = true;
                page.diff = diff_lines(&applied.diff);
                Ok(Ok((StatusCode::OK, page)))
            }
            Err(ApplyError::Invalid(errors)) => {
                page.errors = errors;
                Ok(Ok((StatusCode::BAD_REQUEST, page)))
            }
            Err(ApplyError::Store(irene_store::StoreError::Conflict { current, .. })) => {
                page.errors = vec![format!(
                    "someone saved version {current} since you opened this page: \
                     reload it (your text is below) and apply again"
                )];
                Ok(Ok((StatusCode::CONFLICT, page)))
            }
            Err(ApplyError::Store(e)) => Err(ApiError::from(e)),
        }
    }
    .await;
    match outcome {
        Ok(Err(redirect)) => redirect.into_response(),
        Ok(Ok((status, page))) => {
            let mut resp = render(&state, Ok(page));
            if resp.status() == StatusCode::OK {
                *resp.status_mut() = status;
            }
            resp
        }
        Err(e) => error_page(&state, e),
    }
}

// ---------------------------------------------------------------- diff

#[derive(Debug, Deserialize)]
pub(super) struct DiffQuery {
    from: u32,
    to: Option<u32>,
}

#[derive(Template)]
#[template(path = "console/settings_diff.html")]
struct DiffPage {
    viewer: Viewer,
    kind: String,
    from: u32,
    to: u32,
    lines: Vec<DiffLine>,
}

pub(super) async fn diff_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(kind): Path<String>,
    query: Result<Query<DiffQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let page = async {
        let (viewer, q) = read_query(&state, &headers, query)?;
        let kind = kind_of(&kind)?;
        let (to, diff) = crate::api::settings::diff_between(&state, kind, q.from, q.to).await?;
        Ok(DiffPage {
            viewer,
            kind: kind.as_str().to_string(),
            from: q.from,
            to,
            lines: diff_lines(&diff),
        })
    }
    .await;
    render(&state, page)
}

// ---------------------------------------------------------------- template preview

#[derive(Debug, Deserialize)]
pub(super) struct PreviewForm {
    csrf: String,
    template: String,
    case_id: String,
    #[serde(default)]
    text: String,
}

#[derive(Template)]
#[template(path = "console/settings_preview.html")]
struct PreviewPage {
    viewer: Viewer,
    template: String,
    case_id: String,
    text: String,
    output: String,
    error: String,
    templates: Vec<Choice>,
}

/// `POST /settings/templates/preview`: a draft (or the live template when the draft is empty)
/// rendered against a stored case, as the API's preview does. Writes nothing.
pub(super) async fn preview(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<axum::Form<PreviewForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let page = async {
        let viewer = require(&state, &headers, Role::Viewer)?;
        let axum::Form(f) =
            form.map_err(|e| ApiError::bad_request("invalid_form", e.body_text()))?;
        access::check_form(&viewer, &headers, &f.csrf)?;
        let case_id = parse_id("case", &f.case_id)?;
        let draft = Some(f.text.replace("\r\n", "\n")).filter(|t| !t.trim().is_empty());
        let (output, error) = match crate::api::settings::render_preview(
            &state,
            &f.template,
            case_id,
            draft.as_deref(),
            None,
        )
        .await
        {
            Ok(text) => (text, String::new()),
            Err(e) if e.status == StatusCode::BAD_REQUEST || e.status == StatusCode::NOT_FOUND => {
                (String::new(), e.message)
            }
            Err(e) => return Err(e),
        };
        Ok(PreviewPage {
            viewer,
            case_id: f.case_id,
            text: f.text,
            output,
            error,
            templates: template_names()
                .into_iter()
                .map(|n| Choice {
                    value: n.to_string(),
                    selected: n == f.template,
                })
                .collect(),
            template: f.template,
        })
    }
    .await;
    render(&state, page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_editor_form_keeps_files_in_order_and_drops_empty_ones() {
        let body = "csrf=t&version=3&comment=why&action=apply&name=a.yaml&text=x%0D%0Ay&name=&text=lost&name=b.yaml&text=+&name=c.yaml&text=z";
        let f = parse_edit(body.as_bytes()).expect("form");
        assert_eq!(f.csrf, "t");
        assert_eq!(f.version, 3);
        assert!(f.apply);
        let names: Vec<&str> = f.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["a.yaml", "c.yaml"]);
        assert_eq!(f.files[0].text, "x\ny");
        assert!(parse_edit(b"version=x").is_err());
        assert!(!parse_edit(b"action=check").expect("form").apply);
    }

    #[test]
    fn diff_lines_are_classed() {
        let lines = diff_lines("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old\n+new\n same");
        let classes: Vec<&str> = lines.iter().map(|l| l.class).collect();
        assert_eq!(
            classes,
            [
                "diff-file",
                "diff-file",
                "diff-hunk",
                "diff-del",
                "diff-add",
                "diff-ctx"
            ]
        );
    }
}

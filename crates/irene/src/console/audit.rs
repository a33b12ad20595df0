//! The audit log page (admins only): who did what, newest first, by actor, paged by cursor.
//! Reads only; every field is shown escaped (a failed sign-in's actor is whatever was typed).

use super::*;

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub(super) struct AuditQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
}

struct AuditRow {
    at: String,
    actor: String,
    actor_href: String,
    action: String,
    target: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    viewer: Viewer,
    actor: String,
    rows: Vec<AuditRow>,
    next: String,
}

fn audit_href(q: &AuditQuery) -> String {
    format!(
        "/audit?{}",
        serde_urlencoded::to_string(q).unwrap_or_default()
    )
}

pub(super) async fn audit(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let page = audit_page(&state, &headers, query).await;
    render(&state, page)
}

async fn audit_page(
    state: &AppState,
    headers: &HeaderMap,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<AuditPage, ApiError> {
    let viewer = require(state, headers, Role::Admin)?;
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let actor = nonempty(q.actor);
    let page = state
        .app
        .store
        .audit_list(&irene_store::AuditFilter {
            actor: actor.clone(),
            limit: PAGE_SIZE,
            cursor: nonempty(q.cursor),
        })
        .await?;
    let next = page
        .next_cursor
        .map(|c| {
            audit_href(&AuditQuery {
                actor: actor.clone(),
                cursor: Some(c),
            })
        })
        .unwrap_or_default();
    Ok(AuditPage {
        viewer,
        actor: actor.unwrap_or_default(),
        rows: page
            .items
            .into_iter()
            .map(|e| AuditRow {
                at: when(e.at),
                actor_href: audit_href(&AuditQuery {
                    actor: Some(e.actor.clone()),
                    cursor: None,
                }),
                actor: e.actor,
                action: e.action,
                target: e.target,
                detail: e.detail,
            })
            .collect(),
        next,
    })
}

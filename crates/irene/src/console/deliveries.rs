//! The deliveries page: dead letters by default, any outbox state by choice, with the redrive
//! forms (one, or all dead). Reads only; the forms post to `actions.rs`.

use super::*;

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub(super) struct DeliveriesQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    case: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    output: Option<String>,
    /// Held back by this silence or inhibition (`silence:3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    held_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
}

struct DeliveryRowView {
    id: i64,
    output: String,
    action: String,
    case_id: String,
    state: String,
    attempts: i64,
    last_error: String,
    updated_at: String,
}

#[derive(Template)]
#[template(path = "console/deliveries.html")]
struct DeliveriesPage {
    viewer: Viewer,
    notice: Option<Notice>,
    /// Every dead letter, on every page (the "redrive all" button says it).
    dead_total: i64,
    state: String,
    /// The silence or inhibition the list is narrowed to, if any.
    held_by: String,
    states: Vec<Choice>,
    rows: Vec<DeliveryRowView>,
    next: String,
}

pub(super) async fn deliveries(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<DeliveriesQuery>, axum::extract::rejection::QueryRejection>,
    notice: Result<Query<NoticeQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let notice = notice_of(&state, notice);
    let page = deliveries_page(&state, &headers, query, notice).await;
    render(&state, page)
}

async fn deliveries_page(
    state: &AppState,
    headers: &HeaderMap,
    query: Result<Query<DeliveriesQuery>, axum::extract::rejection::QueryRejection>,
    notice: Option<Notice>,
) -> Result<DeliveriesPage, ApiError> {
    let (viewer, q) = read_query(state, headers, query)?;
    let q = DeliveriesQuery {
        // dead letters unless another state is asked for
        state: nonempty(q.state).or_else(|| Some("dead".into())),
        case: nonempty(q.case),
        output: nonempty(q.output),
        held_by: nonempty(q.held_by),
        cursor: nonempty(q.cursor),
    };
    let st = state_param(q.state.clone(), &DELIVERY_STATES)?;
    let page = state
        .app
        .store
        .outbox_list(&DeliveryFilter {
            state: st.clone(),
            case_id: case_param(q.case.as_deref())?,
            output: q.output.clone(),
            held_by: q.held_by.clone(),
            limit: PAGE_SIZE,
            cursor: q.cursor.clone(),
        })
        .await?;
    let next = page
        .next_cursor
        .map(|c| {
            format!(
                "/deliveries?{}",
                serde_urlencoded::to_string(DeliveriesQuery {
                    cursor: Some(c),
                    ..q.clone()
                })
                .unwrap_or_default()
            )
        })
        .unwrap_or_default();
    let st = st.unwrap_or_default();
    let dead_total = if st == "dead" {
        state.app.store.status().await?.dead_letters
    } else {
        0
    };
    Ok(DeliveriesPage {
        viewer,
        notice,
        dead_total,
        states: DELIVERY_STATES
            .into_iter()
            .map(|s| Choice {
                value: s.to_string(),
                selected: s == st,
            })
            .collect(),
        state: st,
        held_by: q.held_by.clone().unwrap_or_default(),
        rows: page
            .items
            .into_iter()
            .map(|d| DeliveryRowView {
                id: d.id,
                output: d.output,
                action: d.action.as_str().to_string(),
                case_id: d.case_id.map(|c| c.to_string()).unwrap_or_default(),
                state: d.state,
                attempts: d.attempts,
                last_error: d.last_error.unwrap_or_default(),
                updated_at: when(d.updated_at),
            })
            .collect(),
        next,
    })
}

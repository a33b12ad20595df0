//! The silences page: every silence with its state and what it holds back now, a form to add
//! one (CEL or `field=value` matchers, a duration) and a button to end one. The rules of a
//! silence (checks, the document it is written to) are `crate::settings`'s.

use super::*;
use crate::settings::live::{ApplyError, NewSilence};
use crate::settings::silences::{SilenceDoc, SilenceState};
use axum::response::Redirect;
use std::collections::BTreeMap;

struct SilenceRow {
    id: u64,
    state: String,
    expression: String,
    starts_at: String,
    ends_at: String,
    author: String,
    comment: String,
    /// Deliveries held back by it now.
    held: i64,
}

/// The add form's fields as typed (shown again with the errors when it is refused).
#[derive(Debug, Default, Clone, Deserialize)]
pub(super) struct SilenceForm {
    #[serde(default)]
    csrf: String,
    /// A CEL condition over `alert` and `case`.
    #[serde(default, rename = "match")]
    condition: String,
    /// `field=value` matchers, one per line.
    #[serde(default)]
    matchers: String,
    #[serde(default)]
    duration: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    force: Option<String>,
    /// Where to go back to after adding (a local path: the case page it was made from).
    #[serde(default)]
    back: String,
}

#[derive(Template)]
#[template(path = "console/silences.html")]
struct SilencesPage {
    viewer: Viewer,
    rows: Vec<SilenceRow>,
    states: Vec<Choice>,
    form: SilenceForm,
    errors: Vec<String>,
    notice: String,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct SilencesQuery {
    state: Option<String>,
    added: Option<u64>,
    /// Added from another page's form that came back here.
    silenced: Option<u64>,
    expired: Option<u64>,
    /// Pre-fills the form (from a case's "silence like this").
    #[serde(rename = "match")]
    condition: Option<String>,
    matchers: Option<String>,
    comment: Option<String>,
    back: Option<String>,
}

const STATES: [&str; 4] = ["current", "active", "pending", "expired"];

pub(super) async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<SilencesQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let page = async {
        let (viewer, q) = read_query(&state, &headers, query)?;
        let mut page = silences_page(&state, viewer, q.state.as_deref()).await?;
        if let Some(id) = q.added.or(q.silenced) {
            page.notice = format!("Silence #{id} added.");
        } else if let Some(id) = q.expired {
            page.notice = format!("Silence #{id} expired.");
        }
        page.form.condition = q.condition.unwrap_or_default();
        page.form.matchers = q.matchers.unwrap_or_default();
        page.form.comment = q.comment.unwrap_or_default();
        page.form.back = q.back.filter(|b| is_local_path(b)).unwrap_or_default();
        Ok(page)
    }
    .await;
    render(&state, page)
}

/// A path on this server (`/cases/…`), never another site: what sign-in follows too.
fn is_local_path(p: &str) -> bool {
    access::safe_next(p) == p
}

async fn silences_page(
    state: &AppState,
    viewer: Viewer,
    want: Option<&str>,
) -> Result<SilencesPage, ApiError> {
    let want = want.filter(|w| !w.is_empty()).unwrap_or("current");
    if !STATES.contains(&want) {
        return Err(ApiError::bad_request(
            "invalid_state",
            format!("state {want:?}: one of {}", STATES.join(", ")),
        ));
    }
    let now = Utc::now();
    let held: BTreeMap<String, i64> = state
        .app
        .store
        .outbox_held_counts()
        .await?
        .into_iter()
        .collect();
    let snap = state.app.settings.load();
    let mut rows: Vec<SilenceRow> = snap
        .silences
        .all()
        .filter(|s| {
            let st = s.state(now);
            match want {
                "current" => st != SilenceState::Expired,
                other => SilenceState::parse(other) == Some(st),
            }
        })
        .map(|s| SilenceRow {
            id: s.id,
            state: match s.state(now) {
                SilenceState::Pending => "pending",
                SilenceState::Active => "active",
                SilenceState::Expired => "expired",
            }
            .to_string(),
            expression: s.expression().unwrap_or_else(|e| e),
            starts_at: when(s.starts_at),
            ends_at: when(s.ends_at),
            author: s.author.clone(),
            comment: s.comment.clone(),
            held: held.get(&format!("silence:{}", s.id)).copied().unwrap_or(0),
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.id));
    Ok(SilencesPage {
        viewer,
        rows,
        states: STATES
            .iter()
            .map(|s| Choice {
                value: (*s).to_string(),
                selected: *s == want,
            })
            .collect(),
        form: SilenceForm {
            duration: "2h".into(),
            ..Default::default()
        },
        errors: Vec::new(),
        notice: String::new(),
    })
}

/// The silence a form asks for, or what is wrong with the form.
fn new_silence(f: &SilenceForm, now: DateTime<Utc>) -> Result<NewSilence, String> {
    let ends_at = crate::settings::silences::ends(now, &f.duration)?;
    let matchers: Vec<String> = f
        .matchers
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let condition = Some(f.condition.trim().to_string()).filter(|c| !c.is_empty());
    if condition.is_none() && matchers.is_empty() {
        return Err("give a CEL condition or at least one field=value matcher".into());
    }
    Ok(NewSilence {
        condition,
        matchers,
        starts_at: now,
        ends_at,
        comment: f.comment.trim().to_string(),
        force: f.force.is_some(),
    })
}

/// Adds a silence by `viewer` (a new version of the silences document), logged and audited:
/// the one way the console's forms add one.
pub(super) async fn record(
    state: &AppState,
    viewer: &Viewer,
    new: NewSilence,
) -> Result<SilenceDoc, ApplyError> {
    let s = state
        .app
        .settings
        .silence_add(&*state.app.store, new, &viewer.name, Utc::now())
        .await?;
    tracing::info!(silence = s.id, by = %viewer.name, "silence added from the console");
    access::audit(
        state,
        viewer,
        "silence.add",
        &format!("silence:{}", s.id),
        &s.expression().unwrap_or_default(),
    )
    .await;
    Ok(s)
}

/// `POST /silences` (responder): adds a silence; a refused one is shown with its reasons and
/// the form as typed.
pub(super) async fn add(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<axum::Form<SilenceForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let outcome = async {
        let viewer = require(&state, &headers, Role::Responder)?;
        let axum::Form(f) =
            form.map_err(|e| ApiError::bad_request("invalid_form", e.body_text()))?;
        access::check_form(&viewer, &headers, &f.csrf)?;
        let now = Utc::now();
        let refused = |errors: Vec<String>| async {
            let mut page = silences_page(&state, viewer.clone(), None).await?;
            page.form = f.clone();
            page.errors = errors;
            Ok::<_, ApiError>(Err(page))
        };
        let new = match new_silence(&f, now) {
            Ok(n) => n,
            Err(e) => return refused(vec![e]).await,
        };
        match record(&state, &viewer, new).await {
            Ok(s) => {
                let back = if is_local_path(&f.back) {
                    let sep = if f.back.contains('?') { '&' } else { '?' };
                    format!("{}{sep}silenced={}", f.back, s.id)
                } else {
                    format!("/silences?added={}", s.id)
                };
                Ok(Ok(Redirect::to(&back)))
            }
            Err(ApplyError::Invalid(errors)) => refused(errors).await,
            Err(ApplyError::Store(e)) => Err(ApiError::from(e)),
        }
    }
    .await;
    match outcome {
        Ok(Ok(redirect)) => redirect.into_response(),
        Ok(Err(page)) => {
            let mut resp = render(&state, Ok(page));
            if resp.status() == StatusCode::OK {
                *resp.status_mut() = StatusCode::BAD_REQUEST;
            }
            resp
        }
        Err(e) => error_page(&state, e),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /silences/{id}/expire` (responder): ends it now; what it held goes out at once if its
/// case is still open (the settings worker releases it).
pub(super) async fn expire(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    form: Result<axum::Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let outcome = async {
        let viewer = require(&state, &headers, Role::Responder)?;
        let axum::Form(f) =
            form.map_err(|e| ApiError::bad_request("invalid_form", e.body_text()))?;
        access::check_form(&viewer, &headers, &f.csrf)?;
        match state
            .app
            .settings
            .silence_expire(&*state.app.store, id, &viewer.name, Utc::now())
            .await
        {
            Ok(Some(_)) => {
                access::audit(
                    &state,
                    &viewer,
                    "silence.expire",
                    &format!("silence:{id}"),
                    "",
                )
                .await;
                Ok(Redirect::to(&format!("/silences?expired={id}")))
            }
            Ok(None) => Err(ApiError::not_found(format!("no silence #{id}"))),
            Err(e) => Err(ApiError::from(e)),
        }
    }
    .await;
    match outcome {
        Ok(r) => r.into_response(),
        Err(e) => error_page(&state, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_becomes_a_silence_or_says_what_is_missing() {
        let now = Utc::now();
        let f = SilenceForm {
            matchers: "type=Recon:EC2/PortProbeUnprotectedPort\n\n case.account = 1 \n".into(),
            duration: "2h".into(),
            comment: " maintenance ".into(),
            ..Default::default()
        };
        let s = new_silence(&f, now).expect("silence");
        assert_eq!(
            s.matchers,
            [
                "type=Recon:EC2/PortProbeUnprotectedPort",
                "case.account = 1"
            ]
        );
        assert_eq!(s.ends_at - s.starts_at, chrono::Duration::hours(2));
        assert_eq!(s.comment, "maintenance");
        assert!(s.condition.is_none() && !s.force);
        let table = [
            (
                SilenceForm {
                    duration: "2h".into(),
                    ..Default::default()
                },
                "CEL condition",
            ),
            (
                SilenceForm {
                    condition: "true".into(),
                    duration: "soon".into(),
                    ..Default::default()
                },
                "duration",
            ),
        ];
        for (f, want) in table {
            let e = new_silence(&f, now).expect_err("refused");
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn only_local_paths_are_followed_back() {
        assert!(is_local_path("/cases/0193"));
        for bad in ["//evil.test", "https://evil.test", "", "/\\evil", "cases"] {
            assert!(!is_local_path(bad), "{bad}");
        }
    }
}

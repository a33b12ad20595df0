//! One case's page: summary, resource, actor links, tickets, timeline, investigations, raw JSON.
//! Reads the case and what hangs off it; no writes.

use super::*;

struct Pair {
    key: String,
    value: String,
}

struct TimelineRow {
    at: String,
    kind: String,
    detail: String,
    alert_id: String,
}

struct OccurrenceRow {
    alert_id: String,
    received_at: String,
    severity: String,
    state: String,
}

struct TicketRow {
    output: String,
    kind: String,
    reference: String,
    /// Only an http(s) address, else empty.
    url: String,
}

struct AttachmentRow {
    id: String,
    name: String,
    /// A PNG, shown inline; anything else is a link.
    png: bool,
}

struct InvestigationRow {
    investigator: String,
    trigger: String,
    state: String,
    status: String,
    reason: String,
    finished_at: String,
    summary: String,
    attachments: Vec<AttachmentRow>,
}

#[derive(Template)]
#[template(path = "console/case.html")]
struct CasePage {
    viewer: Viewer,
    id: String,
    title: String,
    severity: String,
    status: String,
    resolution: String,
    source: String,
    kind: String,
    account: String,
    region: String,
    resource_id: String,
    resource_kind: String,
    resource_name: String,
    tags: Vec<Pair>,
    labels: Vec<String>,
    rule: String,
    first_seen: String,
    last_seen: String,
    count: i64,
    timeline: Vec<TimelineRow>,
    occurrences: Vec<OccurrenceRow>,
    tickets: Vec<TicketRow>,
    investigations: Vec<InvestigationRow>,
    /// The latest alert as received, pretty-printed (empty when it is gone).
    raw: String,
    /// The latest alert's actor, each with its events search (empty when unknown).
    actor: Vec<ActorLink>,
    /// The runbook the live settings choose for this case.
    runbook: Option<runbooks::RunbookView>,
}

/// A link to the events search for one of an actor's values.
struct ActorLink {
    /// "principal" or "IP"
    what: &'static str,
    value: String,
    href: String,
}

/// The events search links for an actor's principal and IP (those it has).
fn actor_links(actor: &irene_core::Actor) -> Vec<ActorLink> {
    let mut links = Vec::new();
    if let Some(p) = nonempty(actor.principal.clone()) {
        links.push(ActorLink {
            what: "principal",
            href: events_href(&EventQuery {
                principal: Some(p.clone()),
                ..Default::default()
            }),
            value: p,
        });
    }
    if let Some(ip) = nonempty(actor.ip.clone()) {
        links.push(ActorLink {
            what: "IP",
            href: events_href(&EventQuery {
                ip: Some(ip.clone()),
                ..Default::default()
            }),
            value: ip,
        });
    }
    links
}

/// Attachments looked at per case page (each is read to learn its type).
const ATTACHMENTS_SHOWN: usize = 40;

pub(super) async fn case(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let page = case_page(&state, &headers, &id).await;
    render(&state, page)
}

async fn case_page(state: &AppState, headers: &HeaderMap, id: &str) -> Result<CasePage, ApiError> {
    let viewer = require(state, headers, Role::Viewer)?;
    let id = parse_id("case", id)?;
    let store = &state.app.store;
    let detail = store
        .case_get(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no case {id}")))?;
    let investigations = store
        .investigations_list(&InvestigationFilter {
            case_id: Some(id),
            limit: 500,
            ..Default::default()
        })
        .await?;
    let mut shown = 0usize;
    let mut rows = Vec::with_capacity(investigations.items.len());
    for i in investigations.items {
        let mut attachments = Vec::new();
        for a in i.attachments {
            if shown >= ATTACHMENTS_SHOWN {
                break;
            }
            shown += 1;
            if let Some(file) = store.attachment_get(a).await? {
                attachments.push(AttachmentRow {
                    id: a.to_string(),
                    png: file.content_type == "image/png",
                    name: file.name,
                });
            }
        }
        rows.push(InvestigationRow {
            investigator: i.investigator,
            trigger: i.trigger,
            state: i.state,
            status: i.status.unwrap_or_default(),
            reason: i.reason.unwrap_or_default(),
            finished_at: when_opt(i.finished_at),
            summary: i.summary.unwrap_or_default(),
            attachments,
        });
    }
    let (raw, actor) = match store.alert_get(detail.case.last_alert_id).await? {
        Some(a) => (
            serde_json::to_string_pretty(&a.judged.alert.raw).unwrap_or_default(),
            actor_links(&a.judged.alert.actor),
        ),
        None => (String::new(), Vec::new()),
    };
    let c = detail.case;
    let runbook = runbooks::for_case(state, &c);
    Ok(CasePage {
        viewer,
        id: c.id.to_string(),
        title: c.title,
        severity: c.severity.as_str().to_string(),
        status: c.status.as_str().to_string(),
        resolution: c
            .resolution
            .map(|r| r.as_str().to_string())
            .unwrap_or_default(),
        source: c.source,
        kind: c.kind,
        account: c.account.unwrap_or_default(),
        region: c.region.unwrap_or_default(),
        resource_id: c.resource.id.unwrap_or_default(),
        resource_kind: c.resource.kind.unwrap_or_default(),
        resource_name: c.resource.name.unwrap_or_default(),
        tags: c
            .resource
            .tags
            .into_iter()
            .map(|(key, value)| Pair { key, value })
            .collect(),
        labels: c.labels,
        rule: c.rule.unwrap_or_default(),
        first_seen: when(c.first_seen),
        last_seen: when(c.last_seen),
        count: c.count,
        timeline: detail
            .timeline
            .into_iter()
            .map(|t| TimelineRow {
                at: when(t.at),
                kind: t.kind.as_str().to_string(),
                detail: if t.detail.is_null() {
                    String::new()
                } else {
                    t.detail.to_string()
                },
                alert_id: t.alert_id.map(|a| a.to_string()).unwrap_or_default(),
            })
            .collect(),
        occurrences: detail
            .occurrences
            .into_iter()
            .map(|o| OccurrenceRow {
                alert_id: o.alert_id.to_string(),
                received_at: when(o.received_at),
                severity: o.severity.as_str().to_string(),
                state: o.state,
            })
            .collect(),
        tickets: c
            .tickets
            .into_iter()
            .map(|t| TicketRow {
                output: t.output,
                kind: t.kind,
                reference: t.reference,
                url: t.url.filter(|u| is_web_url(u)).unwrap_or_default(),
            })
            .collect(),
        investigations: rows,
        raw,
        actor,
        runbook,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case_page() -> CasePage {
        CasePage {
            viewer: Viewer::nobody(false),
            id: "c1".into(),
            title: "<b>t</b>".into(),
            severity: "high".into(),
            status: "open".into(),
            resolution: String::new(),
            source: "generic".into(),
            kind: "k".into(),
            account: String::new(),
            region: String::new(),
            resource_id: String::new(),
            resource_kind: String::new(),
            resource_name: String::new(),
            tags: vec![Pair {
                key: "owner".into(),
                value: "\"><script>x</script>".into(),
            }],
            labels: vec![],
            rule: String::new(),
            first_seen: String::new(),
            last_seen: String::new(),
            count: 1,
            timeline: vec![],
            occurrences: vec![],
            tickets: vec![],
            investigations: vec![InvestigationRow {
                investigator: "exposure".into(),
                trigger: "opened".into(),
                state: "done".into(),
                status: "done".into(),
                reason: String::new(),
                finished_at: String::new(),
                summary: "**found** <script>alert(1)</script>".into(),
                attachments: vec![
                    AttachmentRow {
                        id: "a1".into(),
                        name: "shot\".png".into(),
                        png: true,
                    },
                    AttachmentRow {
                        id: "a2".into(),
                        name: "ports.csv".into(),
                        png: false,
                    },
                ],
            }],
            raw: "{\"x\": \"</pre><script>\"}".into(),
            actor: actor_links(&irene_core::Actor {
                principal: Some("arn:aws:iam::1:user/<b>".into()),
                ip: Some("198.51.100.7".into()),
                user_agent: None,
            }),
            runbook: None,
        }
    }

    #[test]
    fn case_page_shows_pngs_inline_links_otherwise_and_escapes_everything() {
        let html = case_page().render().expect("render");
        assert!(html.contains(r#"<img src="/api/v1/attachments/a1" alt="shot&#34;.png">"#));
        assert!(html.contains(r#"<a href="/api/v1/attachments/a2">ports.csv</a>"#));
        assert!(!html.contains("/api/v1/attachments/a2\" alt"));
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<b>t</b>"));
        assert!(html.contains("&#60;/pre&#62;"));
        // the actor's searches, their values as text
        assert!(html.contains(
            r#"<a class="actor-events" href="/events?principal=arn%3Aaws%3Aiam%3A%3A1%3Auser%2F%3Cb%3E">"#
        ), "{html}");
        assert!(html.contains("<code>arn:aws:iam::1:user/&#60;b&#62;</code>"));
        assert!(html.contains(r#"href="/events?ip=198.51.100.7""#));
        assert!(!html.contains("No accounts configured"));
    }
}

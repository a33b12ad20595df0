//! One case's page: summary, resource, actor links, tickets and each output's delivery state,
//! timeline, investigations, raw JSON, and the forms of its actions. Reads only; the forms post
//! to `actions.rs`.

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

/// A delivery of this case as the page shows it: each output's latest, and every dead letter.
struct CaseDelivery {
    id: i64,
    output: String,
    action: String,
    /// sent, pending, retrying, sending, held or dead
    label: String,
    attempts: i64,
    last_error: String,
    /// When it is tried next (pending or retrying only).
    next_at: String,
    /// Why it ended as it did, when the store says (e.g. held back past the case's end).
    note: String,
    updated_at: String,
}

impl CaseDelivery {
    fn of(d: irene_store::DeliveryRow) -> CaseDelivery {
        let label = match d.state.as_str() {
            "done" => "sent",
            "pending" if d.attempts > 0 => "retrying",
            other => other,
        }
        .to_string();
        CaseDelivery {
            id: d.id,
            next_at: if d.state == "pending" {
                when(d.next_at)
            } else {
                String::new()
            },
            output: d.output,
            action: d.action.as_str().to_string(),
            label,
            attempts: d.attempts,
            last_error: d.last_error.unwrap_or_default(),
            note: d.note.unwrap_or_default(),
            updated_at: when(d.updated_at),
        }
    }
}

/// The deliveries a case page shows, from its deliveries newest first: the latest per output,
/// and every dead letter (each can be redriven).
fn shown_deliveries(rows: Vec<irene_store::DeliveryRow>) -> Vec<CaseDelivery> {
    let mut seen: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for d in rows {
        let first = !seen.contains(&d.output);
        if first {
            seen.push(d.output.clone());
        }
        if first || d.state == "dead" {
            out.push(CaseDelivery::of(d));
        }
    }
    out.sort_by(|a, b| a.output.cmp(&b.output).then(b.id.cmp(&a.id)));
    out
}

/// Deliveries read per case page (newest first; a case has a few per output).
const DELIVERIES_READ: u32 = 500;

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
    notice: Option<Notice>,
    id: String,
    /// Open (resolve and silence are offered) or resolved (reopen is).
    open: bool,
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
    /// The investigators a responder may ask for (empty: investigations are off).
    investigators: Vec<String>,
    deliveries: Vec<CaseDelivery>,
    /// The silence form's pre-filled condition: alerts like this case's.
    silence_match: String,
    silence_duration: &'static str,
    /// The latest alert as received, pretty-printed (empty when it is gone).
    raw: String,
    /// The latest alert's actor, each with its events search (empty when unknown).
    actor: Vec<ActorLink>,
    /// The latest alert's indicators, each with its search.
    indicators: Vec<ActorLink>,
    /// Other cases of the same type and resource, or of the same actor, newest first.
    similar: Vec<SimilarRow>,
    /// The runbook the live settings choose for this case.
    runbook: Option<runbooks::RunbookView>,
}

/// A link to the events search for one of an actor's values.
struct ActorLink {
    /// "principal", "IP", or an indicator's kind
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

/// The indicators shown at most.
const INDICATORS_SHOWN: usize = 50;

/// Each indicator with where to look further: IPs and e-mail addresses in the audit-log
/// events (as source IP and principal), domains, URLs and hashes in the other cases.
fn indicator_links(indicators: &[irene_core::Indicator]) -> Vec<ActorLink> {
    use irene_core::IndicatorKind as K;
    indicators
        .iter()
        .take(INDICATORS_SHOWN)
        .map(|i| {
            let value = i.value.clone();
            let (what, href) = match i.kind {
                K::Ip => (
                    "IP",
                    events_href(&EventQuery {
                        ip: Some(value.clone()),
                        ..Default::default()
                    }),
                ),
                K::Email => (
                    "e-mail",
                    events_href(&EventQuery {
                        principal: Some(value.clone()),
                        ..Default::default()
                    }),
                ),
                K::Domain | K::Url | K::Hash => (
                    match i.kind {
                        K::Domain => "domain",
                        K::Url => "URL",
                        _ => "hash",
                    },
                    list_href(&ListQuery {
                        q: Some(value.clone()),
                        ..Default::default()
                    }),
                ),
            };
            ActorLink { what, value, href }
        })
        .collect()
}

/// Another case of the same type and resource, or of the same actor.
struct SimilarRow {
    id: String,
    title: String,
    kind: String,
    severity: String,
    status: String,
    last_seen: String,
}

/// Similar past cases shown per case page.
const SIMILAR_SHOWN: u32 = 10;

/// Attachments looked at per case page (each is read to learn its type).
const ATTACHMENTS_SHOWN: usize = 40;

pub(super) async fn case(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    notice: Result<Query<NoticeQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let notice = notice_of(&state, notice);
    let page = case_page(&state, &headers, &id, notice).await;
    render(&state, page)
}

async fn case_page(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    notice: Option<Notice>,
) -> Result<CasePage, ApiError> {
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
    // one read for every delivery of the case (not one per output)
    let deliveries = store
        .outbox_list(&DeliveryFilter {
            case_id: Some(id),
            limit: DELIVERIES_READ,
            ..Default::default()
        })
        .await?;
    let (raw, actor, indicators) = match store.alert_get(detail.case.last_alert_id).await? {
        Some(a) => (
            serde_json::to_string_pretty(&a.judged.alert.raw).unwrap_or_default(),
            actor_links(&a.judged.alert.actor),
            indicator_links(&a.judged.alert.indicators),
        ),
        None => (String::new(), Vec::new(), Vec::new()),
    };
    let c = detail.case;
    let similar = store
        .cases_similar(c.id, SIMILAR_SHOWN)
        .await?
        .into_iter()
        .map(|s| SimilarRow {
            id: s.id.to_string(),
            title: s.title,
            kind: s.kind,
            severity: s.severity.as_str().to_string(),
            status: s.status.as_str().to_string(),
            last_seen: when(s.last_seen),
        })
        .collect();
    let runbook = runbooks::for_case(state, &c);
    Ok(CasePage {
        viewer,
        notice,
        open: c.status == CaseStatus::Open,
        silence_match: actions::like_case(&c.kind, c.resource.id.as_deref().unwrap_or_default()),
        silence_duration: actions::SILENCE_DEFAULT,
        investigators: state.app.investigators.to_vec(),
        deliveries: shown_deliveries(deliveries.items),
        similar,
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
        indicators,
        runbook,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case_page() -> CasePage {
        CasePage {
            viewer: Viewer::nobody(false),
            notice: None,
            open: true,
            investigators: vec![],
            deliveries: vec![],
            silence_match: String::new(),
            silence_duration: "24h",
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
            indicators: indicator_links(&[
                irene_core::Indicator::new(irene_core::IndicatorKind::Ip, "203.0.113.5"),
                irene_core::Indicator::new(irene_core::IndicatorKind::Domain, "<evil>.test"),
            ]),
            actor: actor_links(&irene_core::Actor {
                principal: Some("arn:aws:iam::1:user/<b>".into()),
                ip: Some("198.51.100.7".into()),
                user_agent: None,
            }),
            similar: vec![SimilarRow {
                id: "c2".into(),
                title: "<script>similar</script>".into(),
                kind: "k".into(),
                severity: "low".into(),
                status: "resolved".into(),
                last_seen: String::new(),
            }],
            runbook: None,
        }
    }

    fn delivery(id: i64, output: &str, state: &str, attempts: i64) -> irene_store::DeliveryRow {
        irene_store::DeliveryRow {
            id,
            case_id: None,
            output: output.into(),
            action: irene_core::Action::Open,
            state: state.into(),
            attempts,
            next_at: chrono::DateTime::UNIX_EPOCH,
            created_at: chrono::DateTime::UNIX_EPOCH,
            updated_at: chrono::DateTime::UNIX_EPOCH,
            last_error: None,
            note: None,
            detail: serde_json::Value::Null,
        }
    }

    #[test]
    fn each_output_shows_its_latest_delivery_and_every_dead_letter() {
        // newest first, as the store lists them
        let rows = vec![
            delivery(6, "slack", "pending", 2),
            delivery(5, "gh", "done", 1),
            delivery(4, "gh", "dead", 9),
            delivery(3, "gh", "done", 1),
            delivery(2, "slack", "done", 1),
            delivery(1, "pd", "pending", 0),
        ];
        let shown: Vec<(i64, String)> = shown_deliveries(rows)
            .into_iter()
            .map(|d| (d.id, d.label))
            .collect();
        let want = [(5, "sent"), (4, "dead"), (1, "pending"), (6, "retrying")];
        let want: Vec<(i64, String)> = want.iter().map(|(i, l)| (*i, l.to_string())).collect();
        assert_eq!(shown, want);
    }

    #[test]
    fn case_page_shows_pngs_inline_links_otherwise_and_escapes_everything() {
        let html = case_page().render().expect("render");
        assert!(html.contains(r#"<img src="/api/v1/attachments/a1" alt="shot&#34;.png">"#));
        assert!(html.contains(r#"<a href="/api/v1/attachments/a2">ports.csv</a>"#));
        assert!(!html.contains("/api/v1/attachments/a2\" alt"));
        let without_ours = html.replace(r#"<script src="/console.js" defer></script>"#, "");
        assert!(!without_ours.contains("<script"), "{html}");
        assert!(!html.contains("<b>t</b>"));
        assert!(html.contains("&#60;/pre&#62;"));
        // the actor's searches, their values as text
        assert!(html.contains(
            r#"<a class="actor-events" href="/events?principal=arn%3Aaws%3Aiam%3A%3A1%3Auser%2F%3Cb%3E">"#
        ), "{html}");
        assert!(html.contains("<code>arn:aws:iam::1:user/&#60;b&#62;</code>"));
        assert!(html.contains(r#"href="/events?ip=198.51.100.7""#));
        // indicators: an IP to its events, a domain to the cases that mention it, as text
        assert!(html.contains(
            r#"IP <a class="indicator" href="/events?ip=203.0.113.5"><code>203.0.113.5</code></a>"#
        ), "{html}");
        assert!(html.contains(
            r#"domain <a class="indicator" href="/cases?q=%3Cevil%3E.test"><code>&#60;evil&#62;.test</code></a>"#
        ), "{html}");
        assert!(!html.contains("No accounts configured"));
    }
}

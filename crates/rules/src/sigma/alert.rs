//! A Sigma hit as an Irene alert: who did what (from the event), what it means (from the rule),
//! and the rule's author credited. Builds data only; judging and cases happen downstream.

use super::SigmaRule;
use irene_core::{Alert, Event, IndicatorKind, Severity};
use serde_json::json;

/// The alert for `event` matching `rule`.
///
/// `source` is the event's source, `type` the rule's id, `title` the rule's title, the severity
/// the rule's level (critical→urgent, high→high, medium→medium, low→low, informational→info),
/// with the level as written kept as the source's label. Account, region, actor and time come
/// from the event; the actor's IP is an indicator. The key is `sigma:<rule id>:<account>:
/// <principal>` (empty where unknown), so that one actor doing the same thing many times is one
/// case. `raw` is `{"rule": {id, title, level, status, author, description, tags,
/// falsepositives, references, logsource, file}, "event": <the event's raw JSON>}`: the
/// Detection Rule License asks that the author be credited wherever a match is shown.
pub fn hit_alert(rule: &SigmaRule, event: &Event) -> Alert {
    let key = format!(
        "sigma:{}:{}:{}",
        rule.id,
        event.account.as_deref().unwrap_or(""),
        event.actor.principal.as_deref().unwrap_or("")
    );
    let raw = json!({
        "rule": {
            "id": rule.id,
            "title": rule.title,
            "level": rule.level,
            "status": rule.status,
            "author": rule.author,
            "description": rule.description,
            "tags": rule.tags,
            "falsepositives": rule.falsepositives,
            "references": rule.references,
            "logsource": rule.logsource,
            "file": rule.file,
        },
        "event": event.raw,
    });
    event_alert(
        event,
        AlertHead {
            kind: &rule.id,
            title: &rule.title,
            severity: rule.severity,
            level: rule.level.as_deref(),
            description: rule.description.as_deref(),
        },
        key,
        raw,
    )
}

/// What a rule (detection or correlation) says of the alerts it makes.
pub(crate) struct AlertHead<'a> {
    pub kind: &'a str,
    pub title: &'a str,
    pub severity: Severity,
    pub level: Option<&'a str>,
    pub description: Option<&'a str>,
}

/// An alert about `event` made by a rule: account, region, actor and time from the event, the
/// actor's IP as an indicator. The one way Sigma alerts are built.
pub(crate) fn event_alert(
    event: &Event,
    head: AlertHead<'_>,
    key: String,
    raw: serde_json::Value,
) -> Alert {
    let mut alert = Alert::new(
        event.source.clone(),
        head.kind,
        key,
        head.title,
        head.severity,
        raw,
    );
    alert.description = head.description.unwrap_or_default().to_string();
    alert.source_severity_label = head.level.map(str::to_string);
    alert.account = event.account.clone();
    alert.region = event.region.clone();
    alert.actor = event.actor.clone();
    alert.observed_at = event.observed_at;
    if let Some(ip) = &event.actor.ip {
        alert.add_indicator(IndicatorKind::Ip, ip.clone());
    }
    alert.finish_indicators();
    alert
}

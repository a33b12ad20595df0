//! Google Cloud Security Command Center: notification messages, bare findings, Pub/Sub push envelopes.
//! Reads camelCase and snake_case alike; must not claim Pub/Sub messages that carry other payloads.

use crate::envelope;
use crate::fields::{self, add_ip};
use crate::json::{Keys, Node};
use crate::{DecodeError, Decoded, Decoder};
use irene_core::{Alert, AlertState, IndicatorKind, Resource, Severity};
use serde_json::Value;

pub(crate) struct Scc;

const SOURCE: &str = "gcp.scc";

/// What SCC expects inside a Pub/Sub message, for errors.
const EXPECTED: &str = "a Security Command Center notification";

fn is_finding(node: &Node) -> bool {
    node.str_at("name")
        .is_some_and(|n| n.contains("/findings/"))
        && (node.get("category").is_some() || node.get("state").is_some())
}

fn is_notification(node: &Node) -> bool {
    match node.get("finding") {
        Some(f) => is_finding(&f),
        None => is_finding(node),
    }
}

impl Decoder for Scc {
    fn name(&self) -> &'static str {
        SOURCE
    }

    fn recognizes(&self, item: &Value) -> bool {
        let root = Node::root(item, Keys::Loose);
        if let Some(data) = envelope::pubsub_data(&root) {
            // Claim envelopes holding an SCC notification, and envelopes holding no JSON at all
            // (so that the sender learns what is wrong with the data); leave other JSON alone.
            return match envelope::pubsub_json(&data, EXPECTED) {
                Ok(inner) => is_notification(&Node::root(&inner, Keys::Loose)),
                Err(_) => true,
            };
        }
        is_notification(&root)
    }

    fn decode(&self, item: &Value) -> Result<Decoded, DecodeError> {
        let root = Node::root(item, Keys::Loose);
        root.expect_object()?;
        let is_push = root.get("finding").is_none() && root.get("name").is_none();
        if let Some(message) = root.get("message").filter(|_| is_push) {
            let (inner, data_path) = envelope::pubsub_message(&message, EXPECTED)?;
            let node = Node::with_path(&inner, data_path, Keys::Loose);
            let published = fields::first_time(&message, &["publishTime"]);
            let mut alert = notification(&node, inner.clone())?;
            alert.observed_at = alert.observed_at.or(published);
            return Ok(Decoded::alerts(vec![alert]));
        }
        Ok(Decoded::alerts(vec![notification(&root, item.clone())?]))
    }
}

/// The project of a `//service.googleapis.com/projects/P/...` or `projects/P/...` name.
fn project_segment(name: &str) -> Option<&str> {
    let mut parts = name.split('/');
    while let Some(part) = parts.next() {
        if part == "projects" {
            return parts.next().filter(|p| !p.is_empty());
        }
    }
    None
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `us-central1-a` → `us-central1`; regions and `global` stay as they are.
pub(crate) fn region_of_location(location: &str) -> String {
    match location.rsplit_once('-') {
        Some((region, zone)) if zone.len() == 1 && region.contains('-') => region.to_string(),
        _ => location.to_string(),
    }
}

fn location_in_name(name: &str) -> Option<String> {
    let mut parts = name.split('/');
    while let Some(part) = parts.next() {
        if matches!(part, "zones" | "regions" | "locations") {
            return parts
                .next()
                .filter(|p| !p.is_empty())
                .map(region_of_location);
        }
    }
    None
}

fn severity(finding: &Node) -> Result<(Severity, Option<String>), DecodeError> {
    if let Some(label) = finding.opt_string("severity")? {
        return match Severity::from_source_label(label) {
            Some(s) => Ok((s, Some(label.to_string()))),
            None => Err(DecodeError::new(
                finding.path_of("severity"),
                format!("expected one of CRITICAL, HIGH, MEDIUM, LOW, SEVERITY_UNSPECIFIED, found {label:?}"),
            )),
        };
    }
    // Older findings carry no severity; some sources put one in their own properties.
    let props = finding.get("sourceProperties");
    let fallback = props.as_ref().and_then(|p| {
        p.str_at("SeverityLevel")
            .or_else(|| p.str_at("detectionPriority"))
    });
    match fallback.and_then(|l| Severity::from_source_label(l).map(|s| (s, l))) {
        Some((s, l)) => Ok((s, Some(l.to_string()))),
        None => Ok((Severity::Info, None)),
    }
}

fn notification(root: &Node, raw: Value) -> Result<Alert, DecodeError> {
    root.expect_object()?;
    let (finding, top_resource) = match root.opt_object("finding")? {
        Some(f) => (f, root.opt_object("resource")?),
        None if root.get("name").is_some() => (root.clone(), None),
        None => {
            return Err(root.error(
                "expected a Security Command Center notification (an object with \"finding\") or a finding",
            ))
        }
    };
    let resource = match top_resource {
        Some(r) => Some(r),
        None => finding.opt_object("resource")?,
    };
    let name = finding.req_string("name")?;
    let category = finding
        .opt_string("category")?
        .or(finding.str_at("findingClass"))
        .unwrap_or("unknown");
    let (severity, label) = severity(&finding)?;
    let resource_name = finding
        .opt_string("resourceName")?
        .map(str::to_string)
        .or_else(|| resource.as_ref().and_then(|r| r.text_at("name")));
    let display = resource
        .as_ref()
        .and_then(|r| r.text_at("displayName"))
        .or_else(|| finding.text_at("assetDisplayName"));
    let title = match (display.as_deref(), resource_name.as_deref()) {
        (Some(d), _) => format!("{category} on {d}"),
        (None, Some(r)) => format!(
            "{category} on {}",
            r.strip_prefix("//")
                .and_then(|x| x.split_once('/'))
                .map_or(r, |(_, rest)| rest)
        ),
        (None, None) => category.to_string(),
    };

    let mut alert = Alert::new(SOURCE, category, name, title, severity, raw);
    alert.source_severity_label = label;
    if finding.str_is("state", "INACTIVE") {
        alert.state = AlertState::Resolved;
    }
    let props = finding.get("sourceProperties");
    alert.description = finding
        .text_at("description")
        .or_else(|| props.as_ref().and_then(|p| p.text_at("Explanation")))
        .unwrap_or_default();
    alert.observed_at = fields::first_time(&finding, &["eventTime", "updateTime", "createTime"]);
    alert.link = finding.text_at("externalUri");
    alert.account = account(&finding, resource.as_ref(), resource_name.as_deref());
    alert.region = resource
        .as_ref()
        .and_then(|r| r.str_at("location"))
        .map(region_of_location)
        .or_else(|| resource_name.as_deref().and_then(location_in_name))
        .or_else(|| {
            props
                .as_ref()
                .and_then(|p| p.at(&["properties", "zone"]))
                .and_then(|z| z.as_str())
                .map(region_of_location)
        });
    alert.resource = Resource {
        id: resource_name,
        kind: resource.as_ref().and_then(|r| r.text_at("type")),
        name: display,
        tags: Default::default(),
    };
    observables(&finding, props.as_ref(), &mut alert);
    alert.finish_indicators();
    Ok(alert)
}

/// The project id where the payload names one, else the project number, else its display name.
fn account(finding: &Node, resource: Option<&Node>, resource_name: Option<&str>) -> Option<String> {
    let path_nodes = resource
        .and_then(|r| r.at(&["resourcePath", "nodes"]))
        .map(|n| n.elements())
        .unwrap_or_default();
    if let Some(id) = path_nodes
        .iter()
        .find(|n| n.str_is("nodeType", "GCP_PROJECT"))
        .and_then(|n| n.text_at("id"))
    {
        return Some(id);
    }
    let resource_names: Vec<&str> = resource_name
        .into_iter()
        .chain(resource.and_then(|r| r.str_at("name")))
        .collect();
    if let Some(id) = resource_names
        .iter()
        .filter_map(|n| project_segment(n))
        .find(|p| !is_number(p))
    {
        return Some(id.to_string());
    }
    let props = finding.get("sourceProperties");
    let prop_id = props.as_ref().and_then(|p| {
        p.str_at("ProjectId")
            .or_else(|| p.at(&["properties", "projectId"]).and_then(|x| x.as_str()))
    });
    if let Some(id) = prop_id {
        return Some(id.to_string());
    }
    let project_names: Vec<&str> = resource
        .into_iter()
        .flat_map(|r| [r.str_at("project"), r.str_at("projectName")])
        .flatten()
        .chain(resource_names.iter().copied())
        .collect();
    if let Some(number) = project_names.iter().find_map(|n| project_segment(n)) {
        return Some(number.to_string());
    }
    resource.and_then(|r| r.text_at("projectDisplayName"))
}

fn observables(finding: &Node, props: Option<&Node>, alert: &mut Alert) {
    let mut actor_ip: Option<String> = None;
    if let Some(ind) = finding.get("indicator") {
        for ip in ind
            .get("ipAddresses")
            .map(|l| l.elements())
            .unwrap_or_default()
        {
            ip.as_str().and_then(|s| add_ip(alert, s));
        }
        for d in ind.get("domains").map(|l| l.elements()).unwrap_or_default() {
            if let Some(d) = d.as_str() {
                alert.add_indicator(IndicatorKind::Domain, d);
            }
        }
        for u in ind.get("uris").map(|l| l.elements()).unwrap_or_default() {
            if let Some(u) = u.as_str() {
                alert.add_indicator(IndicatorKind::Url, u);
            }
        }
    }
    if let Some(access) = finding.get("access") {
        if let Some(ip) = access.str_at("callerIp").and_then(|s| add_ip(alert, s)) {
            actor_ip = Some(ip);
        }
        alert.actor.principal = access.text_at("principalEmail");
        alert.actor.user_agent = access.text_at("userAgent");
    }
    if let Some(p) = props.and_then(|p| p.get("properties")) {
        if alert.actor.principal.is_none() {
            alert.actor.principal = p.text_at("principalEmail");
        }
        for attempt in p.get("attempts").map(|l| l.elements()).unwrap_or_default() {
            if let Some(ip) = attempt.str_at("sourceIp").and_then(|s| add_ip(alert, s)) {
                actor_ip.get_or_insert(ip);
            }
        }
        for key in ["destIp", "callerIp"] {
            if let Some(s) = p.str_at(key) {
                add_ip(alert, s);
            }
        }
        for d in p.get("domains").map(|l| l.elements()).unwrap_or_default() {
            if let Some(d) = d.as_str() {
                alert.add_indicator(IndicatorKind::Domain, d);
            }
        }
        for m in p
            .get("externalMembers")
            .map(|l| l.elements())
            .unwrap_or_default()
        {
            let email = m.as_str().map(|s| s.split_once(':').map_or(s, |(_, e)| e));
            if let Some(e) = email.filter(|e| fields::classify(e) == Some(IndicatorKind::Email)) {
                alert.add_indicator(IndicatorKind::Email, e);
            }
        }
    }
    alert.actor.ip = actor_ip;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_locations() {
        assert_eq!(
            project_segment("//cloudsql.googleapis.com/projects/my-project/instances/db"),
            Some("my-project")
        );
        assert_eq!(project_segment("//storage.googleapis.com/bucket"), None);
        assert_eq!(region_of_location("us-central1-a"), "us-central1");
        assert_eq!(region_of_location("us-central1"), "us-central1");
        assert_eq!(region_of_location("global"), "global");
        assert_eq!(
            location_in_name(
                "//compute.googleapis.com/projects/p/zones/europe-west1-b/instances/i"
            ),
            Some("europe-west1".to_string())
        );
    }
}

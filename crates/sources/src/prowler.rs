//! Prowler results: JSON-OCSF Detection Findings (AWS, GCP, Azure, Kubernetes) and JSON-ASFF.
//! JSON-ASFF goes through the shared ASFF mapping in `securityhub`; this file must not copy it.

use crate::fields;
use crate::json::{Keys, Node};
use crate::securityhub::{self, Flavor};
use crate::{DecodeError, Decoded, Decoder};
use irene_core::{Alert, AlertState, Resource, Severity};
use serde_json::Value;

pub(crate) struct Prowler;

pub(crate) const SOURCE: &str = "prowler";

fn is_ocsf(node: &Node) -> bool {
    node.at(&["metadata", "product"])
        .is_some_and(|p| p.str_is("name", "Prowler"))
        && node.get("finding_info").is_some()
}

fn looks_ocsf(node: &Node) -> bool {
    node.get("finding_info").is_some()
        || node.get("status_code").is_some()
        || node.get("class_uid").is_some()
}

fn looks_asff(node: &Node) -> bool {
    node.get("SchemaVersion").is_some()
        || node.get("ProductArn").is_some()
        || node.get("Findings").is_some()
}

impl Decoder for Prowler {
    fn name(&self) -> &'static str {
        SOURCE
    }

    fn recognizes(&self, item: &Value) -> bool {
        let root = Node::root(item, Keys::Loose);
        is_ocsf(&root)
            || securityhub::is_prowler_asff(&root)
            || securityhub::findings_list_is(&root, securityhub::is_prowler_asff)
    }

    fn decode(&self, item: &Value) -> Result<Decoded, DecodeError> {
        let root = Node::root(item, Keys::Loose);
        root.expect_object()?;
        if looks_ocsf(&root) {
            Ok(Decoded::alerts(vec![ocsf(&root, item)?]))
        } else if looks_asff(&root) {
            securityhub::decode_asff(item, Flavor::Prowler)
        } else {
            Err(root.error(
                "expected a Prowler JSON-OCSF finding (with finding_info) or a JSON-ASFF finding",
            ))
        }
    }
}

/// OCSF `severity_id`: 1 informational, 2 low, 3 medium, 4 high, 5 critical, 6 fatal.
fn severity_of_id(id: f64) -> Severity {
    match id as i64 {
        5 | 6 => Severity::Urgent,
        4 => Severity::High,
        3 => Severity::Medium,
        2 => Severity::Low,
        1 => Severity::Info,
        _ => Severity::Medium,
    }
}

fn severity(root: &Node) -> Result<(Severity, Option<String>), DecodeError> {
    let label = root.opt_string("severity")?;
    if let Some(mapped) = label.and_then(Severity::from_source_label) {
        return Ok((mapped, label.map(str::to_string)));
    }
    if let Some((id, written)) = root.opt_number("severity_id")? {
        return Ok((
            severity_of_id(id),
            Some(label.map_or(written, str::to_string)),
        ));
    }
    match label {
        Some(l) => Err(DecodeError::new(
            root.path_of("severity"),
            format!("expected one of Critical, High, Medium, Low, Informational, found {l:?}"),
        )),
        None => Ok((Severity::Medium, None)),
    }
}

fn ocsf(root: &Node, item: &Value) -> Result<Alert, DecodeError> {
    let info = root.opt_object("finding_info")?.ok_or_else(|| {
        DecodeError::new(
            root.path_of("finding_info"),
            "missing required field (expected an object with uid)",
        )
    })?;
    let uid = info.req_string("uid")?;
    let metadata = root.opt_object("metadata")?;
    let kind = match metadata.as_ref() {
        Some(m) => m.opt_string("event_code")?,
        None => None,
    }
    .unwrap_or("unknown");
    let title = info
        .opt_string("title")?
        .or(root.opt_string("message")?)
        .unwrap_or(kind);
    let (mut severity, label) = severity(root)?;
    let status = root.opt_string("status_code")?;
    let mut state = AlertState::Active;
    match status.map(str::to_ascii_uppercase).as_deref() {
        Some("PASS") => state = AlertState::Resolved,
        Some("MANUAL") => severity = Severity::Info,
        _ => {}
    }

    let mut alert = Alert::new(SOURCE, kind, uid, title, severity, item.clone());
    alert.state = state;
    alert.source_severity_label = label;
    let detail = root
        .opt_string("status_detail")?
        .or(root.opt_string("message")?);
    alert.description = [detail, root.str_at("risk_details")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("\n\n");

    let cloud = root.get("cloud");
    let resource = match root.opt_array("resources")? {
        Some(list) => list.into_iter().next(),
        None => None,
    };
    alert.account = cloud
        .as_ref()
        .and_then(|c| c.get("account"))
        .and_then(|a| a.text_at("uid").or_else(|| a.text_at("name")));
    alert.region = cloud
        .as_ref()
        .and_then(|c| c.text_at("region"))
        .or_else(|| resource.as_ref().and_then(|r| r.text_at("region")));
    if let Some(r) = resource.as_ref() {
        let mut tags = fields::tags(r.get("labels").as_ref());
        tags.extend(fields::tags(r.get("tags").as_ref()));
        if let Some(meta) = r.at(&["data", "metadata"]) {
            tags.extend(fields::tags(meta.get("tags").as_ref()));
            tags.extend(fields::tags(meta.get("labels").as_ref()));
        }
        alert.resource = Resource {
            id: r.text_at("uid"),
            kind: r.text_at("type"),
            name: r.text_at("name"),
            tags,
        };
    }
    let references = root.at(&["remediation", "references"]);
    alert.link = root
        .at(&["unmapped", "related_url"])
        .and_then(|u| u.text())
        .or_else(|| {
            references
                .map(|r| r.elements())
                .unwrap_or_default()
                .into_iter()
                .filter_map(|r| r.as_str())
                .find(|r| r.starts_with("https://") || r.starts_with("http://"))
                .map(str::to_string)
        });
    // `time` (epoch seconds) first: Prowler writes `time_dt` in local time without an offset.
    alert.observed_at = fields::first_time(root, &["time", "time_dt"]).or_else(|| {
        fields::first_time(&info, &["modified_time", "created_time", "created_time_dt"])
    });
    Ok(alert)
}

//! Amazon GuardDuty findings: EventBridge events, bare findings and `get-findings` output, any key casing.
//! Maps one finding to one alert; must not read findings that arrive through Security Hub (ASFF is `securityhub`).

use crate::envelope;
use crate::fields::{self, add_ip};
use crate::json::{Keys, Node};
use crate::{DecodeError, Decoded, Decoder};
use irene_core::{Alert, AlertState, IndicatorKind, Resource, Severity};
use serde_json::Value;

pub(crate) struct GuardDuty;

const SOURCE: &str = "aws.guardduty";
const DETAIL_TYPE: &str = "GuardDuty Finding";

/// Context an envelope adds when the finding itself does not say.
#[derive(Default)]
struct Context {
    account: Option<String>,
    region: Option<String>,
}

fn is_finding(node: &Node) -> bool {
    node.get("schemaVersion").is_some()
        && node.str_at("type").is_some()
        && node.get("service").is_some()
        && node.get("productArn").is_none()
}

impl Decoder for GuardDuty {
    fn name(&self) -> &'static str {
        SOURCE
    }

    fn recognizes(&self, item: &Value) -> bool {
        let root = Node::root(item, Keys::Loose);
        if let Some(source) = envelope::eventbridge_source(&root) {
            return source == SOURCE && root.str_is("detail-type", DETAIL_TYPE);
        }
        if let Some(list) = root.get("Findings") {
            return list.elements().first().is_some_and(is_finding);
        }
        is_finding(&root)
    }

    fn decode(&self, item: &Value) -> Result<Decoded, DecodeError> {
        let root = Node::root(item, Keys::Loose);
        root.expect_object()?;
        if let Some(event) = envelope::eventbridge(&root)? {
            envelope::expect_detail_type(&root, &event, &[DETAIL_TYPE])?;
            let ctx = Context {
                account: event.account.clone(),
                region: event.region.clone(),
            };
            let alert = finding(&event.detail, item.clone(), &ctx)?;
            return Ok(Decoded::alerts(vec![alert]));
        }
        if let Some(list) = root.opt_array("Findings")? {
            let mut alerts = Vec::with_capacity(list.len());
            for f in list {
                f.expect_object()?;
                alerts.push(finding(&f, f.value.clone(), &Context::default())?);
            }
            return Ok(Decoded::alerts(alerts));
        }
        Ok(Decoded::alerts(vec![finding(
            &root,
            item.clone(),
            &Context::default(),
        )?]))
    }
}

/// GuardDuty's 0–10 score: 9.0+ urgent (Critical), 7.0–8.9 high, 4.0–6.9 medium, else low.
pub(crate) fn severity_of_score(score: f64) -> Severity {
    if score >= 9.0 {
        Severity::Urgent
    } else if score >= 7.0 {
        Severity::High
    } else if score >= 4.0 {
        Severity::Medium
    } else {
        Severity::Low
    }
}

fn finding(f: &Node, raw: Value, ctx: &Context) -> Result<Alert, DecodeError> {
    let id = f.req_string("id")?;
    let kind = f.req_string("type")?;
    let title = f.opt_string("title")?.unwrap_or(kind);
    let (severity, label) = match f.opt_number("severity")? {
        Some((score, written)) => (severity_of_score(score), Some(written)),
        None => (Severity::Medium, None),
    };
    let mut alert = Alert::new(SOURCE, kind, id, title, severity, raw);
    alert.source_severity_label = label;
    alert.description = f.opt_string("description")?.unwrap_or_default().to_string();
    alert.account = f.text_at("accountId").or_else(|| ctx.account.clone());
    alert.region = f.text_at("region").or_else(|| ctx.region.clone());

    let service = f.get("service");
    if service.as_ref().and_then(|s| s.bool_at("archived")) == Some(true) {
        alert.state = AlertState::Resolved;
    }
    alert.observed_at = fields::first_time(f, &["updatedAt"])
        .or_else(|| {
            service
                .as_ref()
                .and_then(|s| fields::first_time(s, &["eventLastSeen"]))
        })
        .or_else(|| fields::first_time(f, &["createdAt"]));
    if let Some(region) = alert.region.as_deref() {
        alert.link = Some(console_link(f.str_at("partition"), region, id));
    }

    if let Some(resource) = f.get("resource") {
        resource_of(&resource, &mut alert);
    }
    if let Some(service) = service {
        service_of(&service, &mut alert);
    }
    alert.finish_indicators();
    Ok(alert)
}

fn console_link(partition: Option<&str>, region: &str, id: &str) -> String {
    let host = match partition {
        Some("aws-cn") => "console.amazonaws.cn",
        Some("aws-us-gov") => "console.amazonaws-us-gov.com",
        _ => "console.aws.amazon.com",
    };
    format!(
        "https://{host}/guardduty/home?region={}#/findings?search=id%3D{}",
        fields::url_encode(region),
        fields::url_encode(id)
    )
}

/// Where each resource type keeps its details: (resourceType, details key, id keys, name keys).
const RESOURCE_DETAILS: &[(&str, &str, &[&str], &[&str])] = &[
    ("Instance", "instanceDetails", &["instanceId"], &[]),
    (
        "AccessKey",
        "accessKeyDetails",
        &["accessKeyId"],
        &["userName"],
    ),
    ("S3Bucket", "s3BucketDetails", &["arn", "name"], &["name"]),
    ("S3Object", "s3BucketDetails", &["arn", "name"], &["name"]),
    (
        "EKSCluster",
        "eksClusterDetails",
        &["arn", "name"],
        &["name"],
    ),
    (
        "ECSCluster",
        "ecsClusterDetails",
        &["arn", "name"],
        &["name"],
    ),
    ("Container", "containerDetails", &["id"], &["name"]),
    (
        "Lambda",
        "lambdaDetails",
        &["functionArn"],
        &["functionName"],
    ),
    (
        "RDSDBInstance",
        "rdsDbInstanceDetails",
        &["dbInstanceArn", "dbInstanceIdentifier"],
        &["dbInstanceIdentifier"],
    ),
    (
        "RDSLimitlessDB",
        "rdsLimitlessDbDetails",
        &["dbShardGroupArn", "dbShardGroupIdentifier"],
        &["dbShardGroupIdentifier"],
    ),
];

fn first_text(node: &Node, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| node.text_at(k))
}

fn resource_of(r: &Node, alert: &mut Alert) {
    let kind = r.str_at("resourceType");
    let mut resource = Resource {
        kind: kind.map(str::to_string),
        ..Resource::default()
    };
    let entry = kind.and_then(|k| {
        RESOURCE_DETAILS
            .iter()
            .find(|(t, ..)| t.eq_ignore_ascii_case(k))
    });
    let details = entry
        .and_then(|(_, key, ..)| r.get(key))
        .and_then(|d| d.first());
    if let (Some((_, _, ids, names)), Some(d)) = (entry, details.as_ref()) {
        resource.id = first_text(d, ids);
        resource.name = first_text(d, names);
        resource.tags = fields::tags(d.get("tags").as_ref());
    }
    // Most finding types carry instance details; use them when the resource type says nothing.
    let instance = r.get("instanceDetails");
    if let Some(instance) = instance.as_ref() {
        if resource.id.is_none() {
            resource.id = instance.text_at("instanceId");
        }
        if resource.tags.is_empty() && entry.is_none_or(|(t, ..)| *t == "Instance") {
            resource.tags = fields::tags(instance.get("tags").as_ref());
        }
    }
    if resource.name.is_none() && kind.is_some_and(|k| k.eq_ignore_ascii_case("Instance")) {
        resource.name = resource.tags.get("Name").cloned();
    }
    alert.resource = resource;

    if let Some(key) = r.get("accessKeyDetails") {
        alert.actor.principal = key
            .text_at("userName")
            .or_else(|| key.text_at("principalId"));
    }
    if alert.actor.principal.is_none() {
        alert.actor.principal = r
            .at(&["kubernetesDetails", "kubernetesUserDetails"])
            .and_then(|u| u.text_at("username"))
            .or_else(|| r.get("rdsDbUserDetails").and_then(|u| u.text_at("user")));
    }
}

fn remote_ips(details: &Node, alert: &mut Alert) -> Option<String> {
    let v4 = details.str_at("ipAddressV4").and_then(|s| add_ip(alert, s));
    let v6 = details.str_at("ipAddressV6").and_then(|s| add_ip(alert, s));
    v4.or(v6)
}

fn user_agent(node: &Node) -> Option<String> {
    let ua = node.get("userAgent")?;
    ua.text()
        .or_else(|| ua.text_at("fullUserAgent"))
        .or_else(|| ua.text_at("userAgent"))
}

fn service_of(service: &Node, alert: &mut Alert) {
    let mut actor_ip: Option<String> = None;
    let mut agent: Option<String> = None;
    if let Some(action) = service.get("action") {
        for (name, detail) in action.members() {
            if !detail.is_object() {
                continue;
            }
            let outbound = detail.str_is("connectionDirection", "OUTBOUND");
            if let Some(remote) = detail.get("remoteIpDetails") {
                let ip = remote_ips(&remote, alert);
                if !outbound && actor_ip.is_none() {
                    actor_ip = ip;
                }
            }
            if name.eq_ignore_ascii_case("portProbeAction") {
                for probe in detail
                    .get("portProbeDetails")
                    .map(|p| p.elements())
                    .unwrap_or_default()
                {
                    if let Some(remote) = probe.get("remoteIpDetails") {
                        let ip = remote_ips(&remote, alert);
                        if actor_ip.is_none() {
                            actor_ip = ip;
                        }
                    }
                }
            }
            for ip in detail
                .get("sourceIps")
                .map(|p| p.elements())
                .unwrap_or_default()
            {
                if let Some(ip) = ip.as_str().and_then(|s| add_ip(alert, s)) {
                    actor_ip.get_or_insert(ip);
                }
            }
            if let Some(domain) = detail.str_at("domain") {
                alert.add_indicator(IndicatorKind::Domain, domain);
            }
            if let Some(domain) = detail
                .at(&["domainDetails", "domain"])
                .and_then(|d| d.text())
            {
                alert.add_indicator(IndicatorKind::Domain, domain);
            }
            if agent.is_none() {
                agent = user_agent(&detail);
            }
        }
    }
    if agent.is_none() {
        agent = service.get("additionalInfo").and_then(|a| user_agent(&a));
    }
    let intel = service.at(&["evidence", "threatIntelligenceDetails"]);
    for detail in intel.map(|i| i.elements()).unwrap_or_default() {
        if let Some(hash) = detail.str_at("threatFileSha256") {
            alert.add_indicator(IndicatorKind::Hash, hash);
        }
    }
    alert.actor.ip = actor_ip;
    alert.actor.user_agent = agent;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_table() {
        let table = [
            (10.0, Severity::Urgent),
            (9.0, Severity::Urgent),
            (8.9, Severity::High),
            (7.0, Severity::High),
            (6.9, Severity::Medium),
            (4.0, Severity::Medium),
            (3.9, Severity::Low),
            (0.0, Severity::Low),
            (-1.0, Severity::Low),
        ];
        for (score, want) in table {
            assert_eq!(severity_of_score(score), want, "{score}");
        }
    }
}

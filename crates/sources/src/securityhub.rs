//! AWS Security Hub findings (ASFF): EventBridge events, bare findings and `{"Findings": [...]}`.
//! Owns the one ASFF mapping, shared with `prowler`; one alert per finding, never more.

use crate::envelope;
use crate::fields::{self, add_ip};
use crate::json::{Keys, Node};
use crate::{DecodeError, Decoded, Decoder};
use irene_core::{Alert, AlertState, IndicatorKind, Resource, Severity};
use serde_json::Value;

pub(crate) struct SecurityHub;

const SOURCE: &str = "aws.securityhub";
const DETAIL_TYPES: &[&str] = &[
    "Security Hub Findings - Imported",
    "Security Hub Findings - Custom Action",
    "Security Hub Findings - Highlighted",
];

/// Who produced the ASFF: Security Hub itself (any product), or Prowler's JSON-ASFF output.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    SecurityHub,
    Prowler,
}

impl Flavor {
    fn source(self) -> &'static str {
        match self {
            Flavor::SecurityHub => SOURCE,
            Flavor::Prowler => crate::prowler::SOURCE,
        }
    }
}

/// A bare ASFF finding: `SchemaVersion`, `ProductArn` and `Id`.
pub(crate) fn is_asff(node: &Node) -> bool {
    node.str_at("SchemaVersion").is_some()
        && node.str_at("ProductArn").is_some()
        && node.get("Id").is_some()
}

/// An ASFF finding written by Prowler.
pub(crate) fn is_prowler_asff(node: &Node) -> bool {
    is_asff(node)
        && (node
            .str_at("ProductArn")
            .is_some_and(|a| a.to_ascii_lowercase().contains("/prowler/"))
            || node
                .get("ProductFields")
                .is_some_and(|p| p.str_is("ProviderName", "Prowler"))
            || node.str_is("ProductName", "Prowler"))
}

/// The findings of `{"Findings": [...]}` when the first one satisfies `test`.
pub(crate) fn findings_list_is(root: &Node, test: fn(&Node) -> bool) -> bool {
    root.get("Findings")
        .and_then(|l| l.elements().into_iter().next())
        .is_some_and(|f| test(&f))
}

impl Decoder for SecurityHub {
    fn name(&self) -> &'static str {
        SOURCE
    }

    fn recognizes(&self, item: &Value) -> bool {
        let root = Node::root(item, Keys::Loose);
        if let Some(source) = envelope::eventbridge_source(&root) {
            return source == SOURCE
                && root
                    .str_at("detail-type")
                    .is_some_and(|t| DETAIL_TYPES.iter().any(|d| d.eq_ignore_ascii_case(t)));
        }
        let own = |n: &Node| is_asff(n) && !is_prowler_asff(n);
        findings_list_is(&root, own) || own(&root)
    }

    fn decode(&self, item: &Value) -> Result<Decoded, DecodeError> {
        decode_asff(item, Flavor::SecurityHub)
    }
}

/// Decodes any ASFF shape (event, `{"Findings"}` list, bare finding) as `flavor`.
pub(crate) fn decode_asff(item: &Value, flavor: Flavor) -> Result<Decoded, DecodeError> {
    let root = Node::root(item, Keys::Loose);
    root.expect_object()?;
    if let Some(event) = envelope::eventbridge(&root)? {
        envelope::expect_detail_type(&root, &event, DETAIL_TYPES)?;
        let findings = match event.detail.opt_array("findings")? {
            Some(list) => list,
            None => {
                return Err(DecodeError::new(
                    event.detail.path_of("findings"),
                    "missing required field (expected an array of findings)",
                ))
            }
        };
        let ctx = Context {
            account: event.account.clone(),
            region: event.region.clone(),
        };
        return many(findings, flavor, &ctx);
    }
    if let Some(list) = root.opt_array("Findings")? {
        return many(list, flavor, &Context::default());
    }
    Ok(Decoded::alerts(vec![finding(
        &root,
        flavor,
        &Context::default(),
    )?]))
}

#[derive(Default)]
struct Context {
    account: Option<String>,
    region: Option<String>,
}

fn many(findings: Vec<Node>, flavor: Flavor, ctx: &Context) -> Result<Decoded, DecodeError> {
    let mut alerts = Vec::with_capacity(findings.len());
    for f in findings {
        f.expect_object()?;
        alerts.push(finding(&f, flavor, ctx)?);
    }
    Ok(Decoded::alerts(alerts))
}

/// Security Hub's normalized 0–100 score: 90+ urgent, 70+ high, 40+ medium, above 0 low, 0 info.
pub(crate) fn severity_of_normalized(score: f64) -> Severity {
    if score >= 90.0 {
        Severity::Urgent
    } else if score >= 70.0 {
        Severity::High
    } else if score >= 40.0 {
        Severity::Medium
    } else if score > 0.0 {
        Severity::Low
    } else {
        Severity::Info
    }
}

fn severity(f: &Node) -> Result<(Severity, Option<String>), DecodeError> {
    let sev = match f.opt_object("Severity")? {
        Some(s) => s,
        None => match f.at(&["FindingProviderFields", "Severity"]) {
            Some(s) if s.is_object() => s,
            _ => return Ok((Severity::Medium, None)),
        },
    };
    let label = sev.opt_string("Label")?;
    if let Some(mapped) = label.and_then(Severity::from_source_label) {
        return Ok((mapped, label.map(str::to_string)));
    }
    let original = sev.text_at("Original");
    for key in ["Normalized", "Product"] {
        if let Some((score, written)) = sev.opt_number(key)? {
            let shown = label.map(str::to_string).or(original).unwrap_or(written);
            return Ok((severity_of_normalized(score), Some(shown)));
        }
    }
    match (label, original) {
        (Some(l), _) => Err(DecodeError::new(
            sev.path_of("Label"),
            format!("expected one of CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL, found {l:?}"),
        )),
        (None, original) => Ok((
            original
                .as_deref()
                .and_then(Severity::from_source_label)
                .unwrap_or(Severity::Medium),
            original,
        )),
    }
}

fn kind_of_finding(f: &Node, flavor: Flavor) -> Option<String> {
    let product = f.get("ProductFields");
    let pf = |k: &str| product.as_ref().and_then(|p| p.text_at(k));
    match flavor {
        Flavor::Prowler => pf("CheckID").or_else(|| {
            f.text_at("GeneratorId")
                .map(|g| g.strip_prefix("prowler-").map(str::to_string).unwrap_or(g))
        }),
        Flavor::SecurityHub => f
            .at(&["Compliance", "SecurityControlId"])
            .and_then(|n| n.text())
            .or_else(|| pf("ControlId"))
            .or_else(|| pf("aws/securityhub/ControlId"))
            .or_else(|| pf("aws/config/ConfigRuleName"))
            .or_else(|| f.text_at("GeneratorId")),
    }
}

fn finding(f: &Node, flavor: Flavor, ctx: &Context) -> Result<Alert, DecodeError> {
    let id = f.req_string("Id")?;
    let kind = kind_of_finding(f, flavor).unwrap_or_else(|| "unknown".to_string());
    let title = f
        .opt_string("Title")?
        .map(str::to_string)
        .unwrap_or_else(|| kind.clone());
    let (severity, label) = severity(f)?;
    let mut alert = Alert::new(flavor.source(), kind, id, title, severity, f.value.clone());
    alert.source_severity_label = label;
    alert.description = f.opt_string("Description")?.unwrap_or_default().to_string();

    let resolved = f
        .get("Workflow")
        .is_some_and(|w| w.str_is("Status", "RESOLVED"))
        || f.str_is("WorkflowState", "RESOLVED")
        || f.str_is("RecordState", "ARCHIVED")
        || f.get("Compliance")
            .is_some_and(|c| c.str_is("Status", "PASSED"));
    if resolved {
        alert.state = AlertState::Resolved;
    }

    let first_resource = match f.opt_array("Resources")? {
        Some(list) => list.into_iter().next(),
        None => None,
    };
    alert.account = f.text_at("AwsAccountId").or_else(|| ctx.account.clone());
    alert.region = f
        .text_at("Region")
        .or_else(|| first_resource.as_ref().and_then(|r| r.text_at("Region")))
        .or_else(|| ctx.region.clone());
    alert.observed_at = fields::first_time(f, &["UpdatedAt", "LastObservedAt", "CreatedAt"]);
    alert.link = f.text_at("SourceUrl").or_else(|| match flavor {
        Flavor::SecurityHub => alert.region.as_deref().map(|r| console_link(r, id)),
        Flavor::Prowler => f
            .at(&["Remediation", "Recommendation"])
            .and_then(|r| r.text_at("Url")),
    });

    if let Some(r) = first_resource.as_ref() {
        alert.resource = Resource {
            id: r.text_at("Id"),
            kind: r.text_at("Type"),
            name: None,
            tags: fields::tags(r.get("Tags").as_ref()),
        };
        if let Some(key) = r.at(&["Details", "AwsIamAccessKey"]) {
            alert.actor.principal = key
                .text_at("PrincipalName")
                .or_else(|| key.text_at("UserName"));
        }
    }
    if flavor == Flavor::Prowler {
        alert.resource.name = f
            .get("ProductFields")
            .and_then(|p| p.text_at("ProwlerResourceName"));
    }
    observables(f, &mut alert);
    alert.finish_indicators();
    Ok(alert)
}

/// The finding in the Security Hub console (the search value is encoded twice, as the console does).
fn console_link(region: &str, id: &str) -> String {
    let region = fields::url_encode(region);
    format!(
        "https://{region}.console.aws.amazon.com/securityhub/home?region={region}#/findings?search=Id%3D%255Coperator%255C%253AEQUALS%255C%253A{}",
        fields::url_encode(&fields::url_encode(id))
    )
}

/// IPs, domains and hashes from `Network`, `Action`, `ThreatIntelIndicators` and the flattened
/// `ProductFields` that GuardDuty writes (`…/remoteIpDetails/ipAddressV4`).
fn observables(f: &Node, alert: &mut Alert) {
    let mut actor_ip: Option<String> = None;
    if let Some(net) = f.get("Network") {
        let inbound = net.str_is("Direction", "IN");
        for key in ["SourceIpV4", "SourceIpV6"] {
            if let Some(ip) = net.str_at(key).and_then(|s| add_ip(alert, s)) {
                if inbound {
                    actor_ip.get_or_insert(ip);
                }
            }
        }
        for key in ["DestinationIpV4", "DestinationIpV6"] {
            if let Some(ip) = net.str_at(key).and_then(|s| add_ip(alert, s)) {
                if !inbound {
                    actor_ip.get_or_insert(ip);
                }
            }
        }
        for key in ["SourceDomain", "DestinationDomain"] {
            if let Some(d) = net.str_at(key) {
                alert.add_indicator(IndicatorKind::Domain, d);
            }
        }
    }
    if let Some(action) = f.get("Action") {
        for (_, detail) in action.members() {
            if !detail.is_object() {
                continue;
            }
            let outbound = detail.str_is("ConnectionDirection", "OUTBOUND");
            let mut remotes: Vec<Node> = detail.get("RemoteIpDetails").into_iter().collect();
            for probe in detail
                .get("PortProbeDetails")
                .map(|p| p.elements())
                .unwrap_or_default()
            {
                remotes.extend(probe.get("RemoteIpDetails"));
            }
            for remote in remotes {
                if let Some(ip) = remote.str_at("IpAddressV4").and_then(|s| add_ip(alert, s)) {
                    if !outbound {
                        actor_ip.get_or_insert(ip);
                    }
                }
            }
            if let Some(d) = detail.str_at("Domain") {
                alert.add_indicator(IndicatorKind::Domain, d);
            }
            if let Some(d) = detail
                .at(&["DomainDetails", "Domain"])
                .and_then(|d| d.text())
            {
                alert.add_indicator(IndicatorKind::Domain, d);
            }
        }
    }
    for ind in f
        .get("ThreatIntelIndicators")
        .map(|t| t.elements())
        .unwrap_or_default()
    {
        let (Some(kind), Some(value)) = (ind.str_at("Type"), ind.str_at("Value")) else {
            continue;
        };
        let kind = match kind.to_ascii_uppercase().as_str() {
            "IPV4_ADDRESS" | "IPV6_ADDRESS" => {
                add_ip(alert, value);
                continue;
            }
            "DOMAIN" => IndicatorKind::Domain,
            "URL" => IndicatorKind::Url,
            "EMAIL_ADDRESS" => IndicatorKind::Email,
            k if k.starts_with("HASH_") => IndicatorKind::Hash,
            _ => continue,
        };
        alert.add_indicator(kind, value);
    }
    if let Some(product) = f.get("ProductFields") {
        let members = product.members();
        let outbound = members.iter().any(|(k, v)| {
            k.to_ascii_lowercase().ends_with("/connectiondirection")
                && v.as_str() == Some("OUTBOUND")
        });
        for (k, v) in &members {
            let k = k.to_ascii_lowercase();
            if k.ends_with("/remoteipdetails/ipaddressv4")
                || k.ends_with("/remoteipdetails/ipaddressv6")
            {
                if let Some(ip) = v.as_str().and_then(|s| add_ip(alert, s)) {
                    if !outbound {
                        actor_ip.get_or_insert(ip);
                    }
                }
            } else if k.ends_with("/accesskeydetails/username") && alert.actor.principal.is_none() {
                alert.actor.principal = v.text();
            }
        }
    }
    alert.actor.ip = actor_ip;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_table() {
        let table = [
            (100.0, Severity::Urgent),
            (90.0, Severity::Urgent),
            (89.0, Severity::High),
            (70.0, Severity::High),
            (69.0, Severity::Medium),
            (40.0, Severity::Medium),
            (39.0, Severity::Low),
            (1.0, Severity::Low),
            (0.0, Severity::Info),
        ];
        for (score, want) in table {
            assert_eq!(severity_of_normalized(score), want, "{score}");
        }
    }
}

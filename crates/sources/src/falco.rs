//! Falco alerts as `json_output` writes them or Falcosidekick receives them (syscall, k8s_audit, plugins).
//! One alert per Falco event; the key folds repeats of a rule on the same host and workload.

use crate::fields::{self, add_ip};
use crate::json::{Keys, Node};
use crate::{DecodeError, Decoded, Decoder};
use irene_core::{Alert, IndicatorKind, Resource, Severity};
use serde_json::Value;
use std::collections::BTreeMap;

pub(crate) struct Falco;

const SOURCE: &str = "falco";

impl Decoder for Falco {
    fn name(&self) -> &'static str {
        SOURCE
    }

    fn recognizes(&self, item: &Value) -> bool {
        let root = Node::root(item, Keys::Exact);
        root.str_at("rule").is_some()
            && root.str_at("priority").is_some()
            && root.get("output").is_some_and(|o| o.value.is_string())
    }

    fn decode(&self, item: &Value) -> Result<Decoded, DecodeError> {
        let root = Node::root(item, Keys::Exact);
        root.expect_object()?;
        Ok(Decoded::alerts(vec![event(&root, item)?]))
    }
}

/// Falco priorities: Emergency/Alert/Critical urgent, Error high, Warning medium, Notice low,
/// Informational/Debug info.
fn severity(root: &Node) -> Result<(Severity, String), DecodeError> {
    let priority = root.req_string("priority")?;
    match Severity::from_source_label(priority) {
        Some(s) => Ok((s, priority.to_string())),
        None => Err(DecodeError::new(
            root.path_of("priority"),
            format!(
                "expected one of Emergency, Alert, Critical, Error, Warning, Notice, Informational, Debug, found {priority:?}"
            ),
        )),
    }
}

/// Reads `output_fields` values, which Falco writes as strings, numbers or null.
struct Fields<'a>(Option<Node<'a>>);

impl Fields<'_> {
    fn text(&self, key: &str) -> Option<String> {
        let v = self.0.as_ref()?.text_at(key)?;
        // Falco prints missing values as `<NA>`.
        (v != "<NA>").then_some(v)
    }
}

/// `k8s.pod.label.app` / `k8s.pod.label[app]` fields, and `k8s.pod.labels` written as `[k:v, …]`.
fn pod_labels(values: &Fields) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(node) = values.0.as_ref() else {
        return out;
    };
    for (key, value) in node.members() {
        let label = key.strip_prefix("k8s.pod.label.").or_else(|| {
            key.strip_prefix("k8s.pod.label[")
                .and_then(|k| k.strip_suffix(']'))
        });
        if let (Some(label), Some(v)) = (label, value.text()) {
            if v != "<NA>" {
                out.insert(label.to_string(), v);
            }
        }
    }
    if let Some(list) = values.text("k8s.pod.labels") {
        let inner = list.trim_start_matches('[').trim_end_matches(']');
        for pair in inner.split(',') {
            if let Some((k, v)) = pair.split_once(':') {
                out.entry(k.trim().to_string())
                    .or_insert_with(|| v.trim().to_string());
            }
        }
    }
    out
}

fn event(root: &Node, raw: &Value) -> Result<Alert, DecodeError> {
    let rule = root.req_string("rule")?;
    let (severity, label) = severity(root)?;
    let output = root.opt_string("output")?;
    let hostname = root.opt_string("hostname")?;
    let values = Fields(root.opt_object("output_fields")?);

    let container = values.text("container.id").filter(|c| c != "host");
    let namespace = values.text("k8s.ns.name");
    let pod = values.text("k8s.pod.name");
    let target_ns = values.text("ka.target.namespace");
    let target = values.text("ka.target.name");
    let workload = container.clone().or_else(|| match (&namespace, &pod) {
        (Some(n), Some(p)) => Some(format!("{n}/{p}")),
        (None, Some(p)) => Some(p.clone()),
        _ => match (&target_ns, &target) {
            (Some(n), Some(t)) => Some(format!("{n}/{t}")),
            (None, Some(t)) => Some(t.clone()),
            _ => None,
        },
    });
    let key = [
        Some(SOURCE.to_string()),
        Some(rule.to_string()),
        hostname.map(str::to_string),
        workload,
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join("/");

    let mut alert = Alert::new(SOURCE, rule, key, rule, severity, raw.clone());
    alert.source_severity_label = Some(label);
    alert.description = output.unwrap_or_default().to_string();
    alert.observed_at = fields::first_time(root, &["time"]).or_else(|| {
        values
            .0
            .as_ref()
            .and_then(|f| fields::first_time(f, &["evt.time"]))
    });

    let tags = pod_labels(&values);
    alert.resource = if let Some(pod) = pod {
        Resource {
            id: Some(match &namespace {
                Some(n) => format!("{n}/{pod}"),
                None => pod.clone(),
            }),
            kind: Some("k8s.pod".to_string()),
            name: Some(pod),
            tags,
        }
    } else if let Some(id) = container {
        Resource {
            id: Some(id),
            kind: Some("container".to_string()),
            name: values.text("container.name"),
            tags,
        }
    } else if let Some(name) = target {
        Resource {
            id: Some(match &target_ns {
                Some(n) => format!("{n}/{name}"),
                None => name.clone(),
            }),
            kind: values
                .text("ka.target.resource")
                .map(|r| format!("k8s.{r}")),
            name: Some(name),
            tags,
        }
    } else {
        Resource {
            id: hostname.map(str::to_string),
            kind: hostname.map(|_| "host".to_string()),
            name: hostname.map(str::to_string),
            tags,
        }
    };

    alert.actor.principal = values
        .text("user.name")
        .or_else(|| values.text("ka.user.name"));
    alert.actor.user_agent = values.text("ka.useragent");
    if let Some(sources) = values.text("ka.sourceips") {
        for s in sources.trim_matches(|c| c == '[' || c == ']').split(',') {
            if let Some(ip) = add_ip(&mut alert, s) {
                alert.actor.ip.get_or_insert(ip);
            }
        }
    }
    for key in ["fd.rip", "fd.sip", "fd.cip", "fd.lip"] {
        if let Some(s) = values.text(key) {
            add_ip(&mut alert, &s);
        }
    }
    if let Some(name) = values.text("fd.name") {
        for end in name.split("->") {
            if let Some(ip) = fields::ip_of_endpoint(end) {
                alert.add_indicator(IndicatorKind::Ip, ip);
            }
        }
    }
    for key in ["fd.rip.name", "fd.sip.name", "fd.cip.name"] {
        if let Some(d) = values.text(key).filter(|d| fields::is_domain(d)) {
            alert.add_indicator(IndicatorKind::Domain, d);
        }
    }
    alert.finish_indicators();
    Ok(alert)
}

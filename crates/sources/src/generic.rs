//! Irene's own alert shape, for anything that can POST JSON (`key` and `title` required).
//! Strict about the types of the fields it knows, silent about fields it does not (they stay in `raw`).

use crate::fields;
use crate::json::{Keys, Node};
use crate::{DecodeError, Decoded, Decoder};
use chrono::{DateTime, Utc};
use irene_core::{Alert, AlertState, IndicatorKind, Resource, Severity};
use serde_json::Value;

pub(crate) struct Generic;

const SOURCE: &str = "generic";
const LEVELS: &str = "one of urgent, high, medium, low, info";

impl Decoder for Generic {
    fn name(&self) -> &'static str {
        SOURCE
    }

    fn recognizes(&self, item: &Value) -> bool {
        let root = Node::root(item, Keys::Exact);
        root.str_at("key").is_some() && root.str_at("title").is_some()
    }

    fn decode(&self, item: &Value) -> Result<Decoded, DecodeError> {
        let root = Node::root(item, Keys::Exact);
        root.expect_object()?;
        Ok(Decoded::alerts(vec![alert(&root, item)?]))
    }
}

/// An Irene level (any case) or a source label such as `CRITICAL`.
fn severity(node: &Node) -> Result<Severity, DecodeError> {
    let Some(text) = node.value.as_str() else {
        return Err(node.type_error(LEVELS));
    };
    let lower = text.trim().to_ascii_lowercase();
    lower
        .parse::<Severity>()
        .ok()
        .or_else(|| Severity::from_source_label(&lower))
        .ok_or_else(|| node.error(format!("expected {LEVELS}, found {text:?}")))
}

fn indicator_kind(node: &Node) -> Result<IndicatorKind, DecodeError> {
    let text = node
        .as_str()
        .ok_or_else(|| node.type_error("one of ip, domain, url, hash, email"))?;
    match text.to_ascii_lowercase().as_str() {
        "ip" => Ok(IndicatorKind::Ip),
        "domain" => Ok(IndicatorKind::Domain),
        "url" => Ok(IndicatorKind::Url),
        "hash" => Ok(IndicatorKind::Hash),
        "email" => Ok(IndicatorKind::Email),
        _ => Err(node.error(format!(
            "expected one of ip, domain, url, hash, email, found {text:?}"
        ))),
    }
}

fn timestamp(node: &Node) -> Result<DateTime<Utc>, DecodeError> {
    let text = node
        .value
        .as_str()
        .ok_or_else(|| node.type_error("an RFC 3339 timestamp string"))?;
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            node.error(format!(
                "expected an RFC 3339 timestamp such as 2024-05-01T10:00:00Z, found {text:?}"
            ))
        })
}

fn string_of(node: &Node) -> Result<String, DecodeError> {
    match node.value {
        Value::String(s) => Ok(s.clone()),
        _ => Err(node.type_error("a string")),
    }
}

fn alert(root: &Node, raw: &Value) -> Result<Alert, DecodeError> {
    let key = root.req_string("key")?;
    let title = root.req_string("title")?;
    let kind = root.opt_string("type")?.unwrap_or("generic");
    let (severity, label) = match root.get("severity") {
        Some(node) => (severity(&node)?, node.as_str().map(str::to_string)),
        None => (Severity::Medium, None),
    };
    let mut alert = Alert::new(SOURCE, kind, key, title, severity, raw.clone());
    alert.source_severity_label = label;
    alert.description = root
        .opt_string("description")?
        .unwrap_or_default()
        .to_string();
    if let Some(node) = root.get("state") {
        alert.state = match node.as_str().map(str::to_ascii_lowercase).as_deref() {
            Some("active") => AlertState::Active,
            Some("resolved") => AlertState::Resolved,
            Some(_) => {
                return Err(node.error(format!(
                    "expected active or resolved, found {:?}",
                    node.value.as_str().unwrap_or_default()
                )))
            }
            None => return Err(node.type_error("active or resolved")),
        };
    }
    if let Some(r) = root.opt_object("resource")? {
        let mut resource = Resource {
            id: r.opt_string("id")?.map(str::to_string),
            kind: r.opt_string("kind")?.map(str::to_string),
            name: r.opt_string("name")?.map(str::to_string),
            tags: Default::default(),
        };
        if let Some(tags) = r.opt_object("tags")? {
            for (k, v) in tags.members() {
                resource.tags.insert(k.to_string(), string_of(&v)?);
            }
        }
        alert.resource = resource;
    }
    alert.account = root.opt_string("account")?.map(str::to_string);
    alert.region = root.opt_string("region")?.map(str::to_string);
    if let Some(actor) = root.opt_object("actor")? {
        alert.actor.principal = actor.opt_string("principal")?.map(str::to_string);
        alert.actor.user_agent = actor.opt_string("user_agent")?.map(str::to_string);
        if let Some(ip) = actor.opt_string("ip")? {
            let ip = fields::ip(ip).ok_or_else(|| {
                DecodeError::new(
                    actor.path_of("ip"),
                    format!("expected an IP address, found {ip:?}"),
                )
            })?;
            fields::add_ip(&mut alert, &ip);
            alert.actor.ip = Some(ip);
        }
    }
    for item in root.opt_array("indicators")?.unwrap_or_default() {
        let (kind, value) = match item.value {
            Value::String(s) => match fields::classify(s) {
                Some(kind) => (kind, s.trim().to_string()),
                None => {
                    return Err(item.error(format!(
                        "cannot tell whether {s:?} is an IP, URL, hash, e-mail address or domain; give {{\"kind\", \"value\"}}"
                    )))
                }
            },
            Value::Object(_) => {
                let kind_node = item.get("kind").ok_or_else(|| {
                    DecodeError::new(item.path_of("kind"), "missing required field (expected one of ip, domain, url, hash, email)")
                })?;
                (indicator_kind(&kind_node)?, item.req_string("value")?.to_string())
            }
            _ => return Err(item.type_error("a string or an object with kind and value")),
        };
        if kind == IndicatorKind::Ip {
            let ip = fields::ip(&value)
                .ok_or_else(|| item.error(format!("expected an IP address, found {value:?}")))?;
            alert.add_indicator(kind, ip);
        } else {
            alert.add_indicator(kind, value);
        }
    }
    if let Some(node) = root.get("observed_at") {
        alert.observed_at = Some(timestamp(&node)?);
    }
    alert.link = root.opt_string("link")?.map(str::to_string);
    alert.finish_indicators();
    Ok(alert)
}

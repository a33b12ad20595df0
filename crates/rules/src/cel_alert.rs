//! The `alert` variable of triage rules: its shape in CEL (built lazily, borrowing the alert), checks
//! of expressions against that shape, and the text fields the index reads. Must not choose rules.

use cel::common::ast::{EntryExpr, Expr};
use cel::common::types::{
    CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelTimestamp,
    CelUInt,
};
use cel::common::value::{CowVal, Val};
use cel::context::VariableResolver;
use cel::{Env, IdedExpr};
use irene_core::{Alert, IndicatorKind};
use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

/// The fields of `alert`, as rules see them.
pub const ALERT_FIELDS: &[&str] = &[
    "source",
    "type",
    "key",
    "title",
    "description",
    "severity",
    "source_severity",
    "source_severity_label",
    "state",
    "resource",
    "account",
    "region",
    "actor",
    "indicators",
    "ips",
    "observed_at",
    "raw",
];
/// The fields of `alert.resource`.
pub const RESOURCE_FIELDS: &[&str] = &["id", "kind", "name", "tags"];
/// The fields of `alert.actor`.
pub const ACTOR_FIELDS: &[&str] = &["principal", "ip", "user_agent"];
/// The fields of each item of `alert.indicators`.
pub const INDICATOR_FIELDS: &[&str] = &["kind", "value"];

/// Deeper JSON than this (serde_json's own parser stops at 128) becomes `null` in `alert.raw`.
const MAX_RAW_DEPTH: usize = 256;

type Boxed<'a> = Box<dyn Val + 'a>;

fn text(v: &str) -> Boxed<'_> {
    Box::new(CelString::from(v))
}

fn opt_text(v: &Option<String>) -> Boxed<'_> {
    text(v.as_deref().unwrap_or(""))
}

fn indicator_kind(kind: IndicatorKind) -> &'static str {
    match kind {
        IndicatorKind::Ip => "ip",
        IndicatorKind::Domain => "domain",
        IndicatorKind::Url => "url",
        IndicatorKind::Hash => "hash",
        IndicatorKind::Email => "email",
    }
}

/// `alert` as a whole: a CEL map of every field, `raw` included. Only built for a rule that
/// uses `alert` other than by selecting fields by name (`size(alert)`, `alert["type"]`).
fn alert_value(alert: &Alert) -> CelMap<'_> {
    let mut m: HashMap<CelMapKey<'_>, Boxed<'_>> = HashMap::with_capacity(24);
    let severity = alert.source_severity.as_str();
    m.insert("source".into(), text(&alert.source));
    m.insert("type".into(), text(&alert.kind));
    m.insert("key".into(), text(&alert.key));
    m.insert("title".into(), text(&alert.title));
    m.insert("description".into(), text(&alert.description));
    m.insert("severity".into(), text(severity));
    m.insert("source_severity".into(), text(severity));
    m.insert(
        "source_severity_label".into(),
        match &alert.source_severity_label {
            Some(label) => text(label),
            None => Box::new(CelNull),
        },
    );
    m.insert("state".into(), text(alert.state.as_str()));
    m.insert("resource".into(), resource_value(alert));
    m.insert("account".into(), opt_text(&alert.account));
    m.insert("region".into(), opt_text(&alert.region));
    m.insert("actor".into(), actor_value(alert));
    m.insert("indicators".into(), indicators_value(alert));
    m.insert("ips".into(), ips_value(alert));
    m.insert(
        "observed_at".into(),
        match alert.observed_at {
            Some(t) => Box::new(CelTimestamp::from(t.fixed_offset())),
            None => Box::new(CelNull),
        },
    );
    m.insert("raw".into(), json_value(&alert.raw, 0));
    CelMap::from(m)
}

fn tags_value(alert: &Alert) -> Boxed<'_> {
    let tags: HashMap<CelMapKey<'_>, Boxed<'_>> = alert
        .resource
        .tags
        .iter()
        .map(|(k, v)| (CelMapKey::from(k.as_str()), text(v)))
        .collect();
    Box::new(CelMap::from(tags))
}

fn resource_value(alert: &Alert) -> Boxed<'_> {
    let r = &alert.resource;
    let mut resource: HashMap<CelMapKey<'_>, Boxed<'_>> = HashMap::with_capacity(4);
    resource.insert("id".into(), opt_text(&r.id));
    resource.insert("kind".into(), opt_text(&r.kind));
    resource.insert("name".into(), opt_text(&r.name));
    resource.insert("tags".into(), tags_value(alert));
    Box::new(CelMap::from(resource))
}

fn actor_value(alert: &Alert) -> Boxed<'_> {
    let a = &alert.actor;
    let mut actor: HashMap<CelMapKey<'_>, Boxed<'_>> = HashMap::with_capacity(3);
    actor.insert("principal".into(), opt_text(&a.principal));
    actor.insert("ip".into(), opt_text(&a.ip));
    actor.insert("user_agent".into(), opt_text(&a.user_agent));
    Box::new(CelMap::from(actor))
}

fn indicators_value(alert: &Alert) -> Boxed<'_> {
    let indicators: Vec<Boxed<'_>> = alert
        .indicators
        .iter()
        .map(|i| {
            let mut item: HashMap<CelMapKey<'_>, Boxed<'_>> = HashMap::with_capacity(2);
            item.insert("kind".into(), text(indicator_kind(i.kind)));
            item.insert("value".into(), text(&i.value));
            Box::new(CelMap::from(item)) as Boxed<'_>
        })
        .collect();
    Box::new(CelList::from(indicators))
}

fn ips_value(alert: &Alert) -> Boxed<'_> {
    let ips: Vec<Boxed<'_>> = ips(alert).into_iter().map(text).collect();
    Box::new(CelList::from(ips))
}

static NULL: CelNull = CelNull;

/// Whether [`AlertScope`] answers this name below `alert` directly, so that a rule's
/// `alert.type` can be looked up as one name (see [`rewrite`]): the fields of `alert`, and
/// those of `alert.resource` and `alert.actor`.
fn is_static_name(path: &str) -> bool {
    match path.split_once('.') {
        None => ALERT_FIELDS.contains(&path),
        Some(("resource", field)) => RESOURCE_FIELDS.contains(&field),
        Some(("actor", field)) => ACTOR_FIELDS.contains(&field),
        Some(_) => false,
    }
}

/// The alert as rules see it while they run: answers `alert` and the names below it
/// (`alert.type`, `alert.resource.tags.env`, `alert.raw.detail.count`) when CEL asks,
/// borrowing the alert's text and converting only what a rule reads (never all of `raw`
/// unless a rule asks for all of it). One per judged alert, shared by all its rules.
pub(crate) struct AlertScope<'a> {
    alert: &'a Alert,
    /// What investigations found (`enrichment.<investigator>.<field>`); `{}` when judging an
    /// alert as it arrives.
    enrichment: Option<&'a serde_json::Value>,
    enrichment_value: OnceLock<Boxed<'a>>,
    source: CelString<'a>,
    kind: CelString<'a>,
    key: CelString<'a>,
    title: CelString<'a>,
    description: CelString<'a>,
    severity: CelString<'a>,
    state: CelString<'a>,
    label: Option<CelString<'a>>,
    account: CelString<'a>,
    region: CelString<'a>,
    resource_id: CelString<'a>,
    resource_kind: CelString<'a>,
    resource_name: CelString<'a>,
    actor_principal: CelString<'a>,
    actor_ip: CelString<'a>,
    actor_user_agent: CelString<'a>,
    observed_at: Option<CelTimestamp>,
    resource: OnceLock<Boxed<'a>>,
    tags: OnceLock<Boxed<'a>>,
    actor: OnceLock<Boxed<'a>>,
    indicators: OnceLock<Boxed<'a>>,
    ips: OnceLock<Boxed<'a>>,
    raw: OnceLock<Boxed<'a>>,
    whole: OnceLock<Boxed<'a>>,
}

impl<'a> AlertScope<'a> {
    /// The scope of an alert; `enrichment`: its case's investigation findings, when judged
    /// again after them.
    pub(crate) fn with_enrichment(
        alert: &'a Alert,
        enrichment: Option<&'a serde_json::Value>,
    ) -> Self {
        let s = |v: &'a str| CelString::from(v);
        let o = |v: &'a Option<String>| CelString::from(v.as_deref().unwrap_or(""));
        AlertScope {
            alert,
            enrichment,
            enrichment_value: OnceLock::new(),
            source: s(&alert.source),
            kind: s(&alert.kind),
            key: s(&alert.key),
            title: s(&alert.title),
            description: s(&alert.description),
            severity: s(alert.source_severity.as_str()),
            state: s(alert.state.as_str()),
            label: alert.source_severity_label.as_deref().map(s),
            account: o(&alert.account),
            region: o(&alert.region),
            resource_id: o(&alert.resource.id),
            resource_kind: o(&alert.resource.kind),
            resource_name: o(&alert.resource.name),
            actor_principal: o(&alert.actor.principal),
            actor_ip: o(&alert.actor.ip),
            actor_user_agent: o(&alert.actor.user_agent),
            observed_at: alert
                .observed_at
                .map(|t| CelTimestamp::from(t.fixed_offset())),
            resource: OnceLock::new(),
            tags: OnceLock::new(),
            actor: OnceLock::new(),
            indicators: OnceLock::new(),
            ips: OnceLock::new(),
            raw: OnceLock::new(),
            whole: OnceLock::new(),
        }
    }

    fn lazy<'b>(
        &'b self,
        cell: &'b OnceLock<Boxed<'a>>,
        make: impl FnOnce(&'a Alert) -> Boxed<'a>,
    ) -> Option<CowVal<'b, 'b>> {
        let value: &'b (dyn Val + 'a) = cell.get_or_init(|| make(self.alert)).as_ref();
        Some(CowVal::Borrowed(value))
    }
}

impl VariableResolver for AlertScope<'_> {
    fn resolve<'b>(&'b self, variable: &str) -> Option<CowVal<'b, 'b>> {
        let name = variable.strip_prefix('.').unwrap_or(variable);
        if let Some(rest) = name.strip_prefix(ENRICHMENT) {
            return self.resolve_enrichment(rest);
        }
        let rest = name.strip_prefix("alert")?;
        if rest.is_empty() {
            return self.lazy(&self.whole, |a| Box::new(alert_value(a)));
        }
        let path = rest.strip_prefix('.')?;
        let text: &'b CelString<'_> = match path {
            "source" => &self.source,
            "type" => &self.kind,
            "key" => &self.key,
            "title" => &self.title,
            "description" => &self.description,
            "severity" | "source_severity" => &self.severity,
            "state" => &self.state,
            "account" => &self.account,
            "region" => &self.region,
            "resource.id" => &self.resource_id,
            "resource.kind" => &self.resource_kind,
            "resource.name" => &self.resource_name,
            "actor.principal" => &self.actor_principal,
            "actor.ip" => &self.actor_ip,
            "actor.user_agent" => &self.actor_user_agent,
            "source_severity_label" => {
                return Some(CowVal::Borrowed(match &self.label {
                    Some(label) => label,
                    None => &NULL,
                }))
            }
            "observed_at" => {
                return Some(CowVal::Borrowed(match &self.observed_at {
                    Some(t) => t,
                    None => &NULL,
                }))
            }
            "resource" => return self.lazy(&self.resource, resource_value),
            "resource.tags" => return self.lazy(&self.tags, tags_value),
            "actor" => return self.lazy(&self.actor, actor_value),
            "indicators" => return self.lazy(&self.indicators, indicators_value),
            "ips" => return self.lazy(&self.ips, ips_value),
            "raw" => return self.lazy(&self.raw, |a| json_value(&a.raw, 0)),
            _ => {
                // `alert.resource.tags.env`: a tag, when there is one (a name with more dots
                // selects inside the tag's text, which CEL resolves and rejects itself)
                if let Some(tag) = path.strip_prefix("resource.tags.") {
                    if tag.contains('.') {
                        return None;
                    }
                    let value = self.alert.resource.tags.get(tag)?;
                    return Some(CowVal::Owned(Box::new(CelString::from(value.as_str()))));
                }
                // `alert.raw.detail.count`: only what is read is converted; a missing key
                // leaves CEL to select it from the nearest part that exists, and fail there
                if let Some(raw_path) = path.strip_prefix("raw.") {
                    let mut v = &self.alert.raw;
                    for segment in raw_path.split('.') {
                        v = v.as_object()?.get(segment)?;
                    }
                    return Some(CowVal::Owned(json_value(v, 0)));
                }
                return None;
            }
        };
        Some(CowVal::Borrowed(text))
    }
}

impl<'a> AlertScope<'a> {
    /// `enrichment` (`{}` without findings) or a dotted name below it.
    fn resolve_enrichment<'b>(&'b self, rest: &str) -> Option<CowVal<'b, 'b>> {
        if rest.is_empty() {
            let value: &'b (dyn Val + 'a) = self
                .enrichment_value
                .get_or_init(|| match self.enrichment {
                    Some(v) => json_value(v, 0),
                    None => json_value(
                        EMPTY_OBJECT
                            .get_or_init(|| serde_json::Value::Object(serde_json::Map::new())),
                        0,
                    ),
                })
                .as_ref();
            return Some(CowVal::Borrowed(value));
        }
        let mut v = self.enrichment?;
        for segment in rest.strip_prefix('.')?.split('.') {
            v = v.as_object()?.get(segment)?;
        }
        Some(CowVal::Owned(json_value(v, 0)))
    }
}

/// The variable triage rules read investigation findings from.
pub const ENRICHMENT: &str = "enrichment";

static EMPTY_OBJECT: OnceLock<serde_json::Value> = OnceLock::new();

/// A rule's expression as it is evaluated: each `alert.<field>` that [`AlertScope`] answers
/// directly (`alert.type`, `alert.resource.id`, `alert.raw`) becomes a single name, which CEL
/// looks up without assembling it from its parts at every evaluation. Same meaning: the scope
/// gives that name the value the field selection would give.
pub(crate) fn rewrite(e: &IdedExpr) -> IdedExpr {
    let mut out = e.clone();
    rewrite_in(&mut out, &mut Vec::new());
    out
}

fn rewrite_in(e: &mut IdedExpr, bound: &mut Vec<String>) {
    if let Expr::Select(select) = &e.expr {
        if !select.test && !bound.iter().any(|b| b == "alert") {
            let mut segments = Vec::new();
            if name_segments(e, &mut segments) && segments.first().map(|s| s.0) == Some("alert") {
                let path: Vec<&str> = segments[1..].iter().map(|s| s.0).collect();
                let path = path.join(".");
                if is_static_name(&path) {
                    e.expr = Expr::Ident(format!("alert.{path}"));
                    return;
                }
            }
        }
    }
    match &mut e.expr {
        Expr::Select(select) => rewrite_in(&mut select.operand, bound),
        Expr::Call(call) => {
            if let Some(target) = &mut call.target {
                rewrite_in(target, bound);
            }
            for arg in &mut call.args {
                rewrite_in(arg, bound);
            }
        }
        Expr::Comprehension(c) => {
            rewrite_in(&mut c.iter_range, bound);
            rewrite_in(&mut c.accu_init, bound);
            let before = bound.len();
            bound.push(c.iter_var.clone());
            if let Some(v) = &c.iter_var2 {
                bound.push(v.clone());
            }
            bound.push(c.accu_var.clone());
            rewrite_in(&mut c.loop_cond, bound);
            rewrite_in(&mut c.loop_step, bound);
            rewrite_in(&mut c.result, bound);
            bound.truncate(before);
        }
        Expr::List(list) => {
            for item in &mut list.elements {
                rewrite_in(item, bound);
            }
        }
        Expr::Map(map) => {
            for entry in &mut map.entries {
                match &mut entry.expr {
                    EntryExpr::MapEntry(m) => {
                        rewrite_in(&mut m.key, bound);
                        rewrite_in(&mut m.value, bound);
                    }
                    EntryExpr::StructField(f) => rewrite_in(&mut f.value, bound),
                }
            }
        }
        Expr::Struct(st) => {
            for entry in &mut st.entries {
                match &mut entry.expr {
                    EntryExpr::MapEntry(m) => {
                        rewrite_in(&mut m.key, bound);
                        rewrite_in(&mut m.value, bound);
                    }
                    EntryExpr::StructField(f) => rewrite_in(&mut f.value, bound),
                }
            }
        }
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}

/// `alert.ips`: the values of the IP indicators, then the actor's IP unless already there.
pub(crate) fn ips(alert: &Alert) -> Vec<&str> {
    let mut out: Vec<&str> = alert
        .indicators
        .iter()
        .filter(|i| i.kind == IndicatorKind::Ip)
        .map(|i| i.value.as_str())
        .collect();
    if let Some(ip) = alert.actor.ip.as_deref() {
        if !ip.is_empty() && !out.contains(&ip) {
            out.push(ip);
        }
    }
    out
}

/// JSON as CEL: integers that fit become `int` (else `uint`, else `double`), objects maps,
/// arrays lists. Strings and object keys are borrowed.
pub(crate) fn json_value(v: &serde_json::Value, depth: usize) -> Boxed<'_> {
    use serde_json::Value as J;
    if depth > MAX_RAW_DEPTH {
        return Box::new(CelNull);
    }
    match v {
        J::Null => Box::new(CelNull),
        J::Bool(b) => Box::new(CelBool::from(*b)),
        J::Number(n) => {
            if let Some(i) = n.as_i64() {
                Box::new(CelInt::from(i))
            } else if let Some(u) = n.as_u64() {
                Box::new(CelUInt::from(u))
            } else {
                Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN)))
            }
        }
        J::String(s) => text(s),
        J::Array(items) => Box::new(CelList::from(
            items
                .iter()
                .map(|i| json_value(i, depth + 1))
                .collect::<Vec<_>>(),
        )),
        J::Object(map) => Box::new(CelMap::from(
            map.iter()
                .map(|(k, v)| (CelMapKey::from(k.as_str()), json_value(v, depth + 1)))
                .collect::<HashMap<_, _>>(),
        )),
    }
}

/// A text field of `alert` that the candidate index can read straight from the `Alert`,
/// exactly as CEL would see it: `Some(text)` where CEL sees a string, `None` where it sees
/// `null` or nothing (a missing tag).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Field {
    Source,
    Type,
    Key,
    Title,
    Description,
    Severity,
    SourceSeverity,
    SourceSeverityLabel,
    State,
    Account,
    Region,
    ResourceId,
    ResourceKind,
    ResourceName,
    Tag(String),
    ActorPrincipal,
    ActorIp,
    ActorUserAgent,
}

impl Field {
    /// The field a path below `alert` names (`["resource", "tags", "env"]`), if it is text.
    pub(crate) fn from_path(path: &[&str]) -> Option<Field> {
        Some(match path {
            ["source"] => Field::Source,
            ["type"] => Field::Type,
            ["key"] => Field::Key,
            ["title"] => Field::Title,
            ["description"] => Field::Description,
            ["severity"] => Field::Severity,
            ["source_severity"] => Field::SourceSeverity,
            ["source_severity_label"] => Field::SourceSeverityLabel,
            ["state"] => Field::State,
            ["account"] => Field::Account,
            ["region"] => Field::Region,
            ["resource", "id"] => Field::ResourceId,
            ["resource", "kind"] => Field::ResourceKind,
            ["resource", "name"] => Field::ResourceName,
            ["resource", "tags", tag] => Field::Tag((*tag).to_string()),
            ["actor", "principal"] => Field::ActorPrincipal,
            ["actor", "ip"] => Field::ActorIp,
            ["actor", "user_agent"] => Field::ActorUserAgent,
            _ => return None,
        })
    }

    /// The field's text in `alert`, as `alert_value` puts it in the CEL map.
    pub(crate) fn get<'a>(&self, alert: &'a Alert) -> Option<&'a str> {
        fn or_empty(v: &Option<String>) -> Option<&str> {
            Some(v.as_deref().unwrap_or(""))
        }
        match self {
            Field::Source => Some(&alert.source),
            Field::Type => Some(&alert.kind),
            Field::Key => Some(&alert.key),
            Field::Title => Some(&alert.title),
            Field::Description => Some(&alert.description),
            Field::Severity | Field::SourceSeverity => Some(alert.source_severity.as_str()),
            Field::SourceSeverityLabel => alert.source_severity_label.as_deref(),
            Field::State => Some(alert.state.as_str()),
            Field::Account => or_empty(&alert.account),
            Field::Region => or_empty(&alert.region),
            Field::ResourceId => or_empty(&alert.resource.id),
            Field::ResourceKind => or_empty(&alert.resource.kind),
            Field::ResourceName => or_empty(&alert.resource.name),
            Field::Tag(tag) => alert.resource.tags.get(tag).map(String::as_str),
            Field::ActorPrincipal => or_empty(&alert.actor.principal),
            Field::ActorIp => or_empty(&alert.actor.ip),
            Field::ActorUserAgent => or_empty(&alert.actor.user_agent),
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Field::Source => "source",
            Field::Type => "type",
            Field::Key => "key",
            Field::Title => "title",
            Field::Description => "description",
            Field::Severity => "severity",
            Field::SourceSeverity => "source_severity",
            Field::SourceSeverityLabel => "source_severity_label",
            Field::State => "state",
            Field::Account => "account",
            Field::Region => "region",
            Field::ResourceId => "resource.id",
            Field::ResourceKind => "resource.kind",
            Field::ResourceName => "resource.name",
            Field::Tag(tag) => return write!(f, "alert.resource.tags[{tag:?}]"),
            Field::ActorPrincipal => "actor.principal",
            Field::ActorIp => "actor.ip",
            Field::ActorUserAgent => "actor.user_agent",
        };
        write!(f, "alert.{name}")
    }
}

/// Checks a field path below `alert` written in a rule (`["resource", "tgas"]`): the name of
/// each field must exist. Whatever is below `raw` and `resource.tags` is the data's business.
pub(crate) fn check_path(path: &[&str]) -> Result<(), (usize, String)> {
    check_path_inner(path)
        .map_err(|(bad, message)| (bad.min(path.len().saturating_sub(1)), message))
}

/// As [`check_path`]; the error carries the position in `path` of the field at fault.
fn check_path_inner(path: &[&str]) -> Result<(), (usize, String)> {
    let Some((first, rest)) = path.split_first() else {
        return Ok(());
    };
    if !ALERT_FIELDS.contains(first) {
        return Err((
            0,
            format!(
                "alert has no field '{first}' (it has: {})",
                ALERT_FIELDS.join(", ")
            ),
        ));
    }
    let (known, kind): (&[&str], &str) = match *first {
        "raw" => return Ok(()),
        "resource" => (RESOURCE_FIELDS, "alert.resource"),
        "actor" => (ACTOR_FIELDS, "alert.actor"),
        "indicators" | "ips" => {
            return match rest.first() {
                None => Ok(()),
                Some(f) => Err((1, format!("alert.{first} is a list: it has no field '{f}'"))),
            }
        }
        "source_severity_label" => {
            return match rest.first() {
                None => Ok(()),
                Some(f) => Err((
                    1,
                    format!("alert.{first} is a string or null: it has no field '{f}'"),
                )),
            }
        }
        "observed_at" => {
            return match rest.first() {
                None => Ok(()),
                Some(f) => Err((
                    1,
                    format!(
                        "alert.{first} is a timestamp or null: it has no field '{f}' \
                         (use functions such as getHours())"
                    ),
                )),
            }
        }
        _ => {
            return match rest.first() {
                None => Ok(()),
                Some(f) => Err((
                    1,
                    format!("alert.{first} is a string: it has no field '{f}'"),
                )),
            }
        }
    };
    let Some((second, rest)) = rest.split_first() else {
        return Ok(());
    };
    if !known.contains(second) {
        return Err((
            1,
            format!(
                "{kind} has no field '{second}' (it has: {})",
                known.join(", ")
            ),
        ));
    }
    match (*second, rest) {
        (_, []) | ("tags", [_]) => Ok(()),
        ("tags", [tag, f, ..]) => Err((
            3,
            format!("{kind}.tags.{tag} is a string: it has no field '{f}'"),
        )),
        (_, [f, ..]) => Err((
            2,
            format!("{kind}.{second} is a string: it has no field '{f}'"),
        )),
    }
}

/// Problems of an expression against the shape of `alert`, found before any alert is seen:
/// an unknown variable (`alrt.type`) or field (`alert.typ`, `alert.resource.tgas`). Each with
/// the id of the expression node it is about, for its position.
pub(crate) fn check_expr(e: &IdedExpr, env: &Env) -> Vec<(u64, String)> {
    let mut problems = Vec::new();
    let mut bound = Vec::new();
    walk(e, env, &mut bound, &mut problems);
    problems
}

fn walk<'e>(e: &'e IdedExpr, env: &Env, bound: &mut Vec<&'e str>, out: &mut Vec<(u64, String)>) {
    match &e.expr {
        Expr::Ident(name) => {
            let name = name.as_str();
            let known = bound.contains(&name)
                || name.trim_start_matches('.') == "alert"
                || name.trim_start_matches('.') == ENRICHMENT
                || env.types().find_type(name).is_some();
            if !known {
                out.push((e.id, unknown_variable(name)));
            }
        }
        Expr::Select(select) => {
            // (name, id of the node that selects it) of each segment of a qualified name
            let mut segments = Vec::new();
            let spelled = if select.test {
                name_segments(&select.operand, &mut segments) && {
                    segments.push((select.field.as_str(), e.id));
                    true
                }
            } else {
                name_segments(e, &mut segments)
            };
            let Some(&(root, root_id)) = segments.first().filter(|_| spelled) else {
                walk(&select.operand, env, bound, out);
                return;
            };
            if bound.contains(&root) {
                return;
            }
            if root.trim_start_matches('.') == ENRICHMENT {
                // what investigators find is their business: `enrichment.<name>.<field>`
                return;
            }
            if root.trim_start_matches('.') == "alert" {
                let path: Vec<&str> = segments[1..].iter().map(|(name, _)| *name).collect();
                if let Err((bad, problem)) = check_path(&path) {
                    out.push((segments.get(bad + 1).map_or(e.id, |s| s.1), problem));
                }
            } else {
                let name: Vec<&str> = segments.iter().map(|(name, _)| *name).collect();
                if env.types().find_type(&name.join(".")).is_none() {
                    out.push((root_id, unknown_variable(root)));
                }
            }
        }
        Expr::Call(call) => {
            if let Some(target) = &call.target {
                walk(target, env, bound, out);
            }
            for arg in &call.args {
                walk(arg, env, bound, out);
            }
        }
        Expr::Comprehension(c) => {
            walk(&c.iter_range, env, bound, out);
            walk(&c.accu_init, env, bound, out);
            let before = bound.len();
            bound.push(c.iter_var.as_str());
            if let Some(v) = &c.iter_var2 {
                bound.push(v.as_str());
            }
            bound.push(c.accu_var.as_str());
            walk(&c.loop_cond, env, bound, out);
            walk(&c.loop_step, env, bound, out);
            walk(&c.result, env, bound, out);
            bound.truncate(before);
        }
        Expr::List(list) => {
            for item in &list.elements {
                walk(item, env, bound, out);
            }
        }
        Expr::Map(map) => {
            for entry in &map.entries {
                if let EntryExpr::MapEntry(entry) = &entry.expr {
                    walk(&entry.key, env, bound, out);
                    walk(&entry.value, env, bound, out);
                }
            }
        }
        Expr::Struct(s) => {
            for entry in &s.entries {
                match &entry.expr {
                    EntryExpr::MapEntry(entry) => {
                        walk(&entry.key, env, bound, out);
                        walk(&entry.value, env, bound, out);
                    }
                    EntryExpr::StructField(field) => walk(&field.value, env, bound, out),
                }
            }
        }
        Expr::Literal(_) | Expr::Unspecified => {}
    }
}

fn unknown_variable(name: &str) -> String {
    format!(
        "unknown variable '{name}': rules see the alert as `alert` and investigation findings as `enrichment`"
    )
}

/// The segments of the qualified name `e` spells (`a.b.c`), root first; false if none.
fn name_segments<'e>(e: &'e IdedExpr, out: &mut Vec<(&'e str, u64)>) -> bool {
    match &e.expr {
        Expr::Ident(name) => {
            out.push((name.as_str(), e.id));
            true
        }
        Expr::Select(select) if !select.test => {
            name_segments(&select.operand, out) && {
                out.push((select.field.as_str(), e.id));
                true
            }
        }
        _ => false,
    }
}

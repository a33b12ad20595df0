//! Direct evaluation of the simple conditions most rules are made of (text fields, tags, `raw` values
//! compared with literals), with CEL's exact answer. Must answer `Unknown` rather than ever guess.

use crate::cel_alert::{Field, ACTOR_FIELDS, ALERT_FIELDS, RESOURCE_FIELDS};
use crate::triage_index::{alert_path, field_of, string_list_literal, string_literal};
use cel::common::ast::{operators, Expr, LiteralValue};
use cel::IdedExpr;
use irene_core::Alert;

/// What CEL would make of a condition: `true`, `false`, an error, or `Unknown` when this
/// evaluator cannot tell (then CEL itself must run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    True,
    False,
    Error,
    Unknown,
}

/// What a text test reads: a text field of the alert, or the item of an `exists`/`all` over
/// `alert.ips`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Subject {
    Field(Field),
    Item,
}

/// A test of a text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TextTest {
    Eq(String),
    Ne(String),
    In(Vec<String>),
    StartsWith(String),
    EndsWith(String),
    Contains(String),
}

impl TextTest {
    fn holds(&self, s: &str) -> bool {
        match self {
            TextTest::Eq(v) => s == v,
            TextTest::Ne(v) => s != v,
            TextTest::In(vs) => vs.iter().any(|v| v == s),
            TextTest::StartsWith(p) => s.starts_with(p.as_str()),
            TextTest::EndsWith(p) => s.ends_with(p.as_str()),
            TextTest::Contains(p) => s.contains(p.as_str()),
        }
    }
}

/// A comparison of a value in `alert.raw` with a literal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn from_operator(op: &str) -> Option<Cmp> {
        Some(match op {
            operators::EQUALS => Cmp::Eq,
            operators::NOT_EQUALS => Cmp::Ne,
            operators::LESS => Cmp::Lt,
            operators::LESS_EQUALS => Cmp::Le,
            operators::GREATER => Cmp::Gt,
            operators::GREATER_EQUALS => Cmp::Ge,
            _ => return None,
        })
    }

    /// The comparison with its sides swapped: `5 < x` is `x > 5`.
    fn flipped(self) -> Cmp {
        match self {
            Cmp::Lt => Cmp::Gt,
            Cmp::Le => Cmp::Ge,
            Cmp::Gt => Cmp::Lt,
            Cmp::Ge => Cmp::Le,
            other => other,
        }
    }

    fn holds<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            Cmp::Eq => a == b,
            Cmp::Ne => a != b,
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
        }
    }
}

/// A path below `alert.raw`, with the slot where a judging remembers what it leads to (each
/// distinct path of a rule set has its own, see [`RawSlots`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawPath {
    pub(crate) segments: Vec<String>,
    pub(crate) slot: usize,
}

/// What a path below `alert.raw` leads to.
#[derive(Debug, Clone, Copy)]
enum RawAt<'a> {
    Value(&'a serde_json::Value),
    /// a key is missing from an object: CEL fails
    Error,
    /// something else than an object on the way: left to CEL
    Unknown,
}

/// The values of the raw paths met while judging one alert, looked up once each.
pub(crate) struct RawCache<'a> {
    slots: Vec<Option<RawAt<'a>>>,
}

impl<'a> RawCache<'a> {
    pub(crate) fn new(slots: usize) -> Self {
        RawCache {
            slots: vec![None; slots],
        }
    }

    fn get(&mut self, raw: &'a serde_json::Value, path: &RawPath) -> RawAt<'a> {
        if let Some(Some(at)) = self.slots.get(path.slot) {
            return *at;
        }
        let at = walk(raw, &path.segments);
        if let Some(slot) = self.slots.get_mut(path.slot) {
            *slot = Some(at);
        }
        at
    }
}

fn walk<'a>(raw: &'a serde_json::Value, path: &[String]) -> RawAt<'a> {
    let mut v = raw;
    for segment in path {
        match v {
            serde_json::Value::Object(map) => match map.get(segment) {
                Some(next) => v = next,
                None => return RawAt::Error,
            },
            _ => return RawAt::Unknown,
        }
    }
    RawAt::Value(v)
}

/// Gives each distinct raw path of a rule set its slot in a [`RawCache`].
#[derive(Debug, Default)]
pub(crate) struct RawSlots {
    slots: std::collections::HashMap<Vec<String>, usize>,
}

impl RawSlots {
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    fn assign(&mut self, native: &mut Native) {
        match native {
            Native::Raw(path, _, _) => {
                let next = self.slots.len();
                path.slot = *self.slots.entry(path.segments.clone()).or_insert(next);
            }
            Native::IpsExists(n) | Native::IpsAll(n) | Native::Not(n) => self.assign(n),
            Native::And(ns) | Native::Or(ns) => ns.iter_mut().for_each(|n| self.assign(n)),
            Native::Const(_) | Native::Text(..) | Native::HasTag(_) | Native::IpsHas(_) => {}
        }
    }
}

/// A literal a value in `alert.raw` is compared with.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    Str(String),
    Int(i64),
    Bool(bool),
}

/// A condition in the subset evaluated directly.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Native {
    Const(bool),
    Text(Subject, TextTest),
    /// `has(alert.resource.tags.k)`
    HasTag(String),
    /// `alert.raw.a.b <op> literal`
    Raw(RawPath, Cmp, Lit),
    /// `"x" in alert.ips`
    IpsHas(String),
    /// `alert.ips.exists(ip, …)`
    IpsExists(Box<Native>),
    /// `alert.ips.all(ip, …)`
    IpsAll(Box<Native>),
    Not(Box<Native>),
    And(Vec<Native>),
    Or(Vec<Native>),
}

fn literal(e: &IdedExpr) -> Option<Lit> {
    match &e.expr {
        Expr::Literal(LiteralValue::String(s)) => Some(Lit::Str(s.inner().to_string())),
        Expr::Literal(LiteralValue::Int(i)) => Some(Lit::Int(*i.inner())),
        Expr::Literal(LiteralValue::Boolean(b)) => Some(Lit::Bool(*b.inner())),
        _ => None,
    }
}

/// The subject `e` reads: a text field, or the item variable `item` (when inside an
/// `exists`/`all`, where `alert` may not be shadowed).
fn subject(e: &IdedExpr, item: Option<&str>) -> Option<Subject> {
    if let (Expr::Ident(name), Some(item)) = (&e.expr, item) {
        if name == item {
            return Some(Subject::Item);
        }
    }
    field_of(e).map(Subject::Field)
}

/// The path below `alert.raw` that `e` reads, if it reads one.
fn raw_path(e: &IdedExpr) -> Option<RawPath> {
    let mut path = Vec::new();
    if !alert_path(e, &mut path) {
        return None;
    }
    match path.split_first() {
        Some((&"raw", rest)) if !rest.is_empty() => Some(RawPath {
            segments: rest.iter().map(|s| s.to_string()).collect(),
            slot: usize::MAX,
        }),
        _ => None,
    }
}

/// Whether `e` is exactly `alert.ips`.
fn is_ips(e: &IdedExpr) -> bool {
    let mut path = Vec::new();
    alert_path(e, &mut path) && path == ["ips"]
}

fn is_ident(e: &IdedExpr, name: &str) -> bool {
    matches!(&e.expr, Expr::Ident(n) if n == name)
}

impl Native {
    /// The condition `e` as a `Native`, if all of it is in the subset.
    pub(crate) fn from_expr(e: &IdedExpr) -> Option<Native> {
        Native::convert(e, None)
    }

    fn convert(e: &IdedExpr, item: Option<&str>) -> Option<Native> {
        match &e.expr {
            Expr::Literal(LiteralValue::Boolean(b)) => Some(Native::Const(*b.inner())),
            Expr::Select(select) if select.test => {
                let mut path = Vec::new();
                if !alert_path(&select.operand, &mut path) {
                    return None;
                }
                let field = select.field.as_str();
                match path.as_slice() {
                    [] if ALERT_FIELDS.contains(&field) => Some(Native::Const(true)),
                    ["resource"] if RESOURCE_FIELDS.contains(&field) => Some(Native::Const(true)),
                    ["actor"] if ACTOR_FIELDS.contains(&field) => Some(Native::Const(true)),
                    ["resource", "tags"] => Some(Native::HasTag(field.to_string())),
                    _ => None,
                }
            }
            Expr::Comprehension(c) => {
                // `alert.ips.exists(x, p)` and `alert.ips.all(x, p)`, as the macros expand
                if item.is_some()
                    || c.iter_var2.is_some()
                    || c.iter_var == "alert"
                    || !is_ips(&c.iter_range)
                    || !is_ident(&c.result, &c.accu_var)
                {
                    return None;
                }
                let Expr::Call(step) = &c.loop_step.expr else {
                    return None;
                };
                let [acc, pred] = step.args.as_slice() else {
                    return None;
                };
                if step.target.is_some() || !is_ident(acc, &c.accu_var) {
                    return None;
                }
                let pred = Box::new(Native::convert(pred, Some(&c.iter_var))?);
                match (&c.accu_init.expr, step.func_name.as_str()) {
                    (Expr::Literal(LiteralValue::Boolean(b)), operators::LOGICAL_OR)
                        if !*b.inner() =>
                    {
                        Some(Native::IpsExists(pred))
                    }
                    (Expr::Literal(LiteralValue::Boolean(b)), operators::LOGICAL_AND)
                        if *b.inner() =>
                    {
                        Some(Native::IpsAll(pred))
                    }
                    _ => None,
                }
            }
            Expr::Call(call) => {
                let target = call.target.as_deref();
                match (call.func_name.as_str(), target, call.args.as_slice()) {
                    (operators::LOGICAL_AND, None, args) if args.len() >= 2 => args
                        .iter()
                        .map(|a| Native::convert(a, item))
                        .collect::<Option<Vec<_>>>()
                        .map(Native::And),
                    (operators::LOGICAL_OR, None, args) if args.len() >= 2 => args
                        .iter()
                        .map(|a| Native::convert(a, item))
                        .collect::<Option<Vec<_>>>()
                        .map(Native::Or),
                    (operators::LOGICAL_NOT, None, [a]) => {
                        Some(Native::Not(Box::new(Native::convert(a, item)?)))
                    }
                    (op, None, [a, b]) if Cmp::from_operator(op).is_some() => {
                        let cmp = Cmp::from_operator(op)?;
                        if item.is_none() {
                            if let (Some(path), Some(lit)) = (raw_path(a), literal(b)) {
                                return Some(Native::Raw(path, cmp, lit));
                            }
                            if let (Some(lit), Some(path)) = (literal(a), raw_path(b)) {
                                return Some(Native::Raw(path, cmp.flipped(), lit));
                            }
                        }
                        let (subject, value) = match (subject(a, item), string_literal(b)) {
                            (Some(s), Some(v)) => (s, v),
                            _ => (subject(b, item)?, string_literal(a)?),
                        };
                        let value = value.to_string();
                        match cmp {
                            Cmp::Eq => Some(Native::Text(subject, TextTest::Eq(value))),
                            Cmp::Ne => Some(Native::Text(subject, TextTest::Ne(value))),
                            _ => None,
                        }
                    }
                    (operators::IN, None, [a, b]) => {
                        if item.is_none() && is_ips(b) {
                            return Some(Native::IpsHas(string_literal(a)?.to_string()));
                        }
                        let subject = subject(a, item)?;
                        Some(Native::Text(subject, TextTest::In(string_list_literal(b)?)))
                    }
                    (f @ ("startsWith" | "endsWith" | "contains"), Some(t), [arg]) => {
                        let subject = subject(t, item)?;
                        let arg = string_literal(arg)?.to_string();
                        Some(Native::Text(
                            subject,
                            match f {
                                "startsWith" => TextTest::StartsWith(arg),
                                "endsWith" => TextTest::EndsWith(arg),
                                _ => TextTest::Contains(arg),
                            },
                        ))
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Evaluates the condition against `alert`, with CEL's semantics: a missing tag or raw
    /// key is an error; `&&` is false if a side is false, `||` true if a side is true,
    /// whatever the other.
    #[cfg(test)]
    pub(crate) fn eval(&self, alert: &Alert) -> Outcome {
        self.eval_with(alert, None, &mut RawCache::new(0))
    }

    fn eval_with<'a>(
        &self,
        alert: &'a Alert,
        item: Option<&str>,
        cache: &mut RawCache<'a>,
    ) -> Outcome {
        match self {
            Native::Const(b) => Outcome::from(*b),
            Native::Text(subject, test) => {
                let value = match subject {
                    Subject::Item => item,
                    Subject::Field(field) => field.get(alert),
                };
                match (value, subject) {
                    (Some(s), _) => Outcome::from(test.holds(s)),
                    // selecting a tag the alert lacks fails
                    (None, Subject::Field(Field::Tag(_))) => Outcome::Error,
                    // null (the source severity label): leave it to CEL
                    (None, _) => Outcome::Unknown,
                }
            }
            Native::HasTag(t) => Outcome::from(alert.resource.tags.contains_key(t)),
            Native::Raw(path, cmp, lit) => match cache.get(&alert.raw, path) {
                RawAt::Value(v) => raw_compare(v, *cmp, lit),
                RawAt::Error => Outcome::Error,
                RawAt::Unknown => Outcome::Unknown,
            },
            Native::IpsHas(ip) => {
                Outcome::from(crate::cel_alert::ips(alert).contains(&ip.as_str()))
            }
            Native::IpsExists(pred) | Native::IpsAll(pred) => {
                let all = matches!(self, Native::IpsAll(_));
                let mut unknown = false;
                for ip in crate::cel_alert::ips(alert) {
                    match pred.eval_with(alert, Some(ip), cache) {
                        Outcome::True if !all => return Outcome::True,
                        Outcome::False if all => return Outcome::False,
                        Outcome::True | Outcome::False => {}
                        // an error inside a comprehension: leave the whole to CEL
                        Outcome::Error | Outcome::Unknown => unknown = true,
                    }
                }
                if unknown {
                    Outcome::Unknown
                } else {
                    Outcome::from(all)
                }
            }
            Native::Not(n) => match n.eval_with(alert, item, cache) {
                Outcome::True => Outcome::False,
                Outcome::False => Outcome::True,
                other => other,
            },
            Native::And(ns) => {
                let mut seen = Outcome::True;
                for n in ns {
                    match n.eval_with(alert, item, cache) {
                        Outcome::False => return Outcome::False,
                        Outcome::Unknown => seen = Outcome::Unknown,
                        Outcome::Error if seen == Outcome::True => seen = Outcome::Error,
                        _ => {}
                    }
                }
                seen
            }
            Native::Or(ns) => {
                let mut seen = Outcome::False;
                for n in ns {
                    match n.eval_with(alert, item, cache) {
                        Outcome::True => return Outcome::True,
                        Outcome::Unknown => seen = Outcome::Unknown,
                        Outcome::Error if seen == Outcome::False => seen = Outcome::Error,
                        _ => {}
                    }
                }
                seen
            }
        }
    }
}

/// `value <cmp> lit` for a value of `alert.raw`. Only same-kind comparisons are decided here
/// (text with text, an integer with an integer, a bool with a bool); the rest is left to CEL.
fn raw_compare(v: &serde_json::Value, cmp: Cmp, lit: &Lit) -> Outcome {
    use serde_json::Value as J;
    match (v, lit) {
        (J::String(s), Lit::Str(l)) => Outcome::from(cmp.holds(s.as_str(), l.as_str())),
        (J::Number(n), Lit::Int(l)) => match n.as_i64() {
            Some(i) => Outcome::from(cmp.holds(i, *l)),
            None => Outcome::Unknown,
        },
        (J::Bool(b), Lit::Bool(l)) if matches!(cmp, Cmp::Eq | Cmp::Ne) => {
            Outcome::from(cmp.holds(b, l))
        }
        _ => Outcome::Unknown,
    }
}

impl From<bool> for Outcome {
    fn from(b: bool) -> Self {
        if b {
            Outcome::True
        } else {
            Outcome::False
        }
    }
}

/// A rule's `when`, split for judging: the top-level `&&` sides evaluated directly, and
/// whether other sides remain for CEL.
#[derive(Debug, Clone, Default)]
pub(crate) struct Prefilter {
    direct: Vec<Native>,
    rest: bool,
}

impl Prefilter {
    pub(crate) fn new(when: &IdedExpr) -> Self {
        let mut sides = Vec::new();
        conjuncts(when, &mut sides);
        let mut filter = Prefilter::default();
        for side in sides {
            match Native::from_expr(side) {
                Some(n) => filter.direct.push(n),
                None => filter.rest = true,
            }
        }
        filter
    }

    /// Gives the raw paths of this filter their slots in the rule set's [`RawCache`].
    pub(crate) fn assign_slots(&mut self, slots: &mut RawSlots) {
        self.direct.iter_mut().for_each(|n| slots.assign(n));
    }

    /// `False` when the rule cannot match (a side is false or fails), `True` when it matches
    /// (every side is true and all were evaluated here), `Unknown` when CEL must decide.
    pub(crate) fn eval<'a>(&self, alert: &'a Alert, cache: &mut RawCache<'a>) -> Outcome {
        let mut unknown = self.rest;
        for n in &self.direct {
            match n.eval_with(alert, None, cache) {
                Outcome::True => {}
                Outcome::Unknown => unknown = true,
                Outcome::False | Outcome::Error => return Outcome::False,
            }
        }
        if unknown {
            Outcome::Unknown
        } else {
            Outcome::True
        }
    }
}

/// The sides of the top-level `&&`s of `e` (`e` itself if it is no `&&`).
fn conjuncts<'e>(e: &'e IdedExpr, out: &mut Vec<&'e IdedExpr>) {
    if let Expr::Call(call) = &e.expr {
        if call.func_name == operators::LOGICAL_AND && call.target.is_none() && call.args.len() >= 2
        {
            for arg in &call.args {
                conjuncts(arg, out);
            }
            return;
        }
    }
    out.push(e);
}

#[cfg(test)]
mod tests {
    use super::*;
    use irene_core::Severity;

    /// Native evaluation agrees with CEL on a table of conditions and alerts.
    #[test]
    fn agrees_with_cel() {
        let conditions = [
            r#"alert.type == "A""#,
            r#""A" != alert.type"#,
            r#"alert.resource.tags.env == "prod""#,
            r#"alert.resource.tags.env != "prod""#,
            r#"!(alert.resource.tags.env == "prod")"#,
            r#"alert.resource.tags.env == "prod" || alert.type == "A""#,
            r#"alert.resource.tags.env == "prod" && alert.type == "B""#,
            r#"alert.resource.tags.env == "prod" && alert.type == "A""#,
            r#"has(alert.resource.tags.env) && alert.resource.tags["env"].endsWith("od")"#,
            r#"alert.account in ["1", "2"] && alert.title.contains("x")"#,
            r#"has(alert.account) && !has(alert.resource.tags.team)"#,
            r#"alert.source_severity_label == "HIGH""#,
            r#"true && !false"#,
            r#"alert.raw.detail.count > 3"#,
            r#"alert.raw.detail.count == 5 && alert.raw["detail"].name == "x""#,
            r#"3 < alert.raw.detail.count"#,
            r#"alert.raw.detail.flag == true"#,
            r#"alert.raw.detail.missing == 1 || alert.raw.detail.flag != false"#,
            r#"alert.raw.detail.name.x == "a""#,
            r#"alert.raw.detail.ratio == 1"#,
            r#"alert.raw.detail.name >= "w""#,
            r#""10.0.0.1" in alert.ips"#,
            r#"alert.ips.exists(ip, ip.startsWith("10."))"#,
            r#"alert.ips.all(ip, ip != "10.0.0.1")"#,
            r#"alert.ips.exists(ip, ip in ["1.1.1.1", "10.0.0.1"])"#,
        ];
        let raw =
            serde_json::json!({"detail": {"count": 5, "name": "x", "flag": true, "ratio": 1.0}});
        let mut with_tag = Alert::new("s", "A", "k", "tx", Severity::Low, raw);
        with_tag.resource.tags.insert("env".into(), "prod".into());
        with_tag.account = Some("2".into());
        with_tag.actor.ip = Some("10.0.0.1".into());
        with_tag.add_indicator(irene_core::IndicatorKind::Ip, "1.1.1.1");
        let mut labelled = with_tag.clone();
        labelled.source_severity_label = Some("HIGH".into());
        let bare = Alert::new("s", "B", "k", "t", Severity::Low, serde_json::json!({}));
        let env = cel::Env::stdlib();
        let mut decided = 0;
        for src in conditions {
            let program = match env.compile(src) {
                Ok(p) => p,
                Err(e) => panic!("{src}: {e}"),
            };
            let native = Native::from_expr(program.expression());
            let Some(native) = native else {
                panic!("{src}: not native")
            };
            for alert in [&with_tag, &labelled, &bare] {
                let scope = crate::cel_alert::AlertScope::with_enrichment(alert, None);
                let mut ctx = cel::Context::with_env(std::sync::Arc::new(cel::Env::stdlib()));
                ctx.set_variable_resolver(&scope);
                let cel = match cel::Value::resolve(program.expression(), &ctx) {
                    Ok(cel::Value::Bool(true)) => Outcome::True,
                    Ok(cel::Value::Bool(false)) => Outcome::False,
                    _ => Outcome::Error,
                };
                let got = native.eval(alert);
                if got != Outcome::Unknown {
                    assert_eq!(got, cel, "{src} on {alert:?}");
                    decided += 1;
                }
            }
        }
        // all but the null label, the float and the select inside a string (twice each)
        assert_eq!(decided, conditions.len() * 3 - 6);
    }

    #[test]
    fn prefilter_splits_conjuncts() {
        let env = cel::Env::stdlib();
        let filter = |src: &str| match env.compile(src) {
            Ok(p) => Prefilter::new(p.expression()),
            Err(e) => panic!("{src}: {e}"),
        };
        let a = Alert::new("s", "A", "k", "t", Severity::Low, serde_json::json!({}));
        let table = [
            (r#"alert.type == "A" && alert.source == "s""#, Outcome::True),
            (
                r#"alert.type == "A" && size(alert.title) > 0"#,
                Outcome::Unknown,
            ),
            (r#"alert.type == "A" && alert.raw.x == 1"#, Outcome::False),
            (r#"alert.type == "B" && alert.raw.x == 1"#, Outcome::False),
            (
                r#"alert.resource.tags.x == "y" && alert.raw.x == 1"#,
                Outcome::False,
            ),
            (r#"alert.ips.exists(i, i == "x")"#, Outcome::False),
            (
                r#"alert.indicators.exists(i, i.kind == "ip")"#,
                Outcome::Unknown,
            ),
        ];
        for (src, want) in table {
            assert_eq!(filter(src).eval(&a, &mut RawCache::new(0)), want, "{src}");
        }
    }
}

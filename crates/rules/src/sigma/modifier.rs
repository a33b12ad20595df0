//! One detection item (`field|mod|mod: value or list`) compiled into a test, and that test run
//! against an event: value modifiers, their order and combinations. Rejects what it does not know.
//!
//! The specification (rules specification 2.0, "Value Modifiers"): "Value modifiers are appended
//! after the field name with a pipe character `|` as separator and can also be chained, e.g.
//! `fieldname|mod1|mod2: value`. The value modifiers are applied in the given order to the value."
//! So `|base64offset|contains` encodes, then looks for the encodings anywhere, while
//! `|contains|base64offset` would have to encode wildcards, which is rejected (as pySigma does:
//! "Base64 encoding of strings with wildcards is not allowed").

use super::event::{self, with_text};
use super::pattern::{self, Part, Pattern, RefShape, DASHES};
use base64::Engine as _;
use regex::{Regex, RegexBuilder};
use serde_json::Value;
use serde_yaml::Value as Yaml;
use std::cmp::Ordering;
use std::net::IpAddr;

/// How many strings one value may expand to (through `windash` before an encoding).
const MAX_EXPANSION: usize = 64;
/// The largest regular expression program accepted, in bytes.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A comparison of the `lt`, `lte`, `gt` and `gte` modifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Lt,
    Lte,
    Gt,
    Gte,
}

/// A number written in a rule.
#[derive(Debug, Clone)]
pub(crate) struct NumLit {
    int: Option<i128>,
    float: f64,
    text: String,
}

impl NumLit {
    fn from_yaml(n: &serde_yaml::Number) -> NumLit {
        let int = n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from));
        NumLit {
            int,
            float: n.as_f64().unwrap_or(f64::NAN),
            text: n.to_string(),
        }
    }

    /// The number an event value stands for: a JSON number, or a string that reads as one.
    fn of_event(v: &Value) -> Option<(Option<i128>, f64)> {
        match v {
            Value::Number(n) => {
                let int = n
                    .as_i64()
                    .map(i128::from)
                    .or_else(|| n.as_u64().map(i128::from));
                Some((int, n.as_f64()?))
            }
            Value::String(s) => {
                let s = s.trim();
                if let Ok(i) = s.parse::<i128>() {
                    return Some((Some(i), i as f64));
                }
                s.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .map(|f| (None, f))
            }
            _ => None,
        }
    }

    /// How the event's number compares with this one.
    fn compare(&self, v: &Value) -> Option<Ordering> {
        let (int, float) = Self::of_event(v)?;
        match (int, self.int) {
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            _ => float.partial_cmp(&self.float),
        }
    }
}

/// An IP network of the `cidr` modifier.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(text: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let net: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("cidr: '{text}' is not an IPv4 or IPv6 network"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("cidr: '{text}' has no valid prefix length (0 to {max})"))?,
        };
        Ok(Cidr { net, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            // an IPv4 address written as IPv6 (`::ffff:192.0.2.1`)
            (IpAddr::V4(_), IpAddr::V6(ip)) => ip
                .to_ipv4_mapped()
                .is_some_and(|v4| self.contains(IpAddr::V4(v4))),
            (IpAddr::V6(_), IpAddr::V4(_)) => false,
        }
    }
}

/// One way a value can match one event value.
#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    /// A string pattern against the value's text.
    Text(Pattern),
    /// `re`: a regular expression found anywhere in the value's text.
    Regex(Regex),
    /// A number written in the rule: equal to a JSON number, or to its text in a string.
    Num(NumLit),
    /// A boolean written in the rule: equal to a JSON boolean, or to `true`/`false` in a string.
    Bool(bool),
    /// `lt`, `lte`, `gt`, `gte`.
    Cmp(CmpOp, NumLit),
    /// `cidr`: the value is an IP address inside the network.
    Cidr(Cidr),
    /// `fieldref`: the value compared with another field of the same event.
    FieldRef {
        path: String,
        shape: RefShape,
        cased: bool,
    },
}

impl Matcher {
    /// Whether `v` (a value the item's field reached, never an array) matches; `root` is the
    /// whole event, for `fieldref`.
    pub(crate) fn matches(&self, v: &Value, root: &Value) -> bool {
        match self {
            Matcher::Text(p) => with_text(v, |s| p.matches(s)).unwrap_or(false),
            Matcher::Regex(re) => with_text(v, |s| re.is_match(s)).unwrap_or(false),
            Matcher::Num(n) => match v {
                Value::Number(_) => {
                    NumLit::of_event(v).is_some_and(|(int, float)| match (int, n.int) {
                        (Some(a), Some(b)) => a == b,
                        _ => float == n.float,
                    })
                }
                Value::String(s) => s.eq_ignore_ascii_case(&n.text),
                _ => false,
            },
            Matcher::Bool(b) => match v {
                Value::Bool(x) => x == b,
                Value::String(s) => s.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
                _ => false,
            },
            Matcher::Cmp(op, n) => n.compare(v).is_some_and(|o| match op {
                CmpOp::Lt => o == Ordering::Less,
                CmpOp::Lte => o != Ordering::Greater,
                CmpOp::Gt => o == Ordering::Greater,
                CmpOp::Gte => o != Ordering::Less,
            }),
            Matcher::Cidr(c) => match v {
                Value::String(s) => s.trim().parse::<IpAddr>().is_ok_and(|ip| c.contains(ip)),
                _ => false,
            },
            Matcher::FieldRef { path, shape, cased } => with_text(v, |hay| {
                event::any_leaf(root, path, &mut |other| {
                    with_text(other, |needle| {
                        pattern::text_test(hay, needle, *shape, *cased)
                    })
                    .unwrap_or(false)
                })
            })
            .unwrap_or(false),
        }
    }

    /// Whether a text of the event matches (keyword searches).
    pub(crate) fn matches_text(&self, s: &str) -> bool {
        match self {
            Matcher::Text(p) => p.matches(s),
            Matcher::Regex(re) => re.is_match(s),
            Matcher::Cidr(c) => s.trim().parse::<IpAddr>().is_ok_and(|ip| c.contains(ip)),
            Matcher::Cmp(..) => {
                let v = Value::String(s.to_string());
                self.matches(&v, &Value::Null)
            }
            Matcher::Num(_) | Matcher::Bool(_) | Matcher::FieldRef { .. } => false,
        }
    }

    fn cost(&self) -> u32 {
        match self {
            Matcher::Text(p) => p.cost(),
            Matcher::Num(_) | Matcher::Bool(_) => 1,
            Matcher::Cmp(..) => 2,
            Matcher::Cidr(_) => 3,
            Matcher::FieldRef { .. } => 8,
            Matcher::Regex(_) => 10,
        }
    }
}

/// What an item asks of its field.
#[derive(Debug, Clone)]
pub(crate) enum Test {
    /// Each value is a list of alternatives (a value can expand to several, e.g. `base64offset`);
    /// the values are linked with OR, or with AND under `all`.
    Values {
        values: Vec<Vec<Matcher>>,
        all: bool,
    },
    /// `null`: the field is missing, or null.
    Null,
    /// `exists: true/false`.
    Exists(bool),
}

/// One compiled detection item.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    /// The field, `None` for a keyword search (the whole event).
    pub(crate) field: Option<String>,
    pub(crate) test: Test,
}

impl Item {
    /// Whether the event satisfies this item.
    pub(crate) fn matches(&self, ev: &Value) -> bool {
        match (&self.field, &self.test) {
            (Some(path), Test::Values { values, all: false }) => {
                event::any_leaf(ev, path, &mut |v| {
                    values
                        .iter()
                        .any(|alts| alts.iter().any(|m| m.matches(v, ev)))
                })
            }
            (Some(path), Test::Values { values, all: true }) => values.iter().all(|alts| {
                event::any_leaf(ev, path, &mut |v| alts.iter().any(|m| m.matches(v, ev)))
            }),
            (Some(path), Test::Null) => {
                let mut found = false;
                let null = event::any_leaf(ev, path, &mut |v| {
                    found = true;
                    v.is_null()
                });
                null || !found
            }
            (Some(path), Test::Exists(want)) => event::exists(ev, path) == *want,
            (None, Test::Values { values, all: false }) => event::any_text(ev, &mut |s| {
                values
                    .iter()
                    .any(|alts| alts.iter().any(|m| m.matches_text(s)))
            }),
            (None, Test::Values { values, all: true }) => values
                .iter()
                .all(|alts| event::any_text(ev, &mut |s| alts.iter().any(|m| m.matches_text(s)))),
            // refused at load
            (None, Test::Null | Test::Exists(_)) => false,
        }
    }

    /// A rough price of evaluating the item, to put cheap tests of a selection first.
    pub(crate) fn cost(&self) -> u32 {
        let path = self
            .field
            .as_deref()
            .map_or(0, |p| p.matches('.').count() as u32);
        let base = match &self.test {
            Test::Null | Test::Exists(_) => 1,
            Test::Values { values, .. } => values
                .iter()
                .flatten()
                .map(Matcher::cost)
                .fold(0u32, u32::saturating_add),
        };
        match self.field {
            Some(_) => base.saturating_add(path),
            None => base.saturating_mul(20),
        }
    }
}

/// The modifiers of the specification's appendix that change values, in the order given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Windash,
    Utf16le,
    Utf16be,
    Utf16,
    Base64,
    Base64Offset,
    Contains,
    StartsWith,
    EndsWith,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Windash => "windash",
            Step::Utf16le => "utf16le",
            Step::Utf16be => "utf16be",
            Step::Utf16 => "utf16",
            Step::Base64 => "base64",
            Step::Base64Offset => "base64offset",
            Step::Contains => "contains",
            Step::StartsWith => "startswith",
            Step::EndsWith => "endswith",
        }
    }

    fn is_shape(self) -> bool {
        matches!(self, Step::Contains | Step::StartsWith | Step::EndsWith)
    }

    fn is_utf16(self) -> bool {
        matches!(self, Step::Utf16le | Step::Utf16be | Step::Utf16)
    }

    fn is_base64(self) -> bool {
        matches!(self, Step::Base64 | Step::Base64Offset)
    }
}

/// The modifiers of one item, read and checked.
#[derive(Debug, Default)]
struct Mods {
    steps: Vec<Step>,
    all: bool,
    cased: bool,
    re: bool,
    re_flags: (bool, bool, bool),
    cidr: bool,
    exists: bool,
    fieldref: bool,
    cmp: Option<CmpOp>,
    names: Vec<String>,
}

impl Mods {
    fn parse(list: &[&str]) -> Result<Mods, String> {
        let mut m = Mods::default();
        for &name in list {
            if m.names.iter().any(|n| n == name) {
                return Err(format!("modifier '{name}' is given twice"));
            }
            m.names.push(name.to_string());
            match name {
                "contains" => m.steps.push(Step::Contains),
                "startswith" => m.steps.push(Step::StartsWith),
                "endswith" => m.steps.push(Step::EndsWith),
                "windash" => m.steps.push(Step::Windash),
                "utf16le" | "wide" => m.steps.push(Step::Utf16le),
                "utf16be" => m.steps.push(Step::Utf16be),
                "utf16" => m.steps.push(Step::Utf16),
                "base64" => m.steps.push(Step::Base64),
                "base64offset" => m.steps.push(Step::Base64Offset),
                "all" => m.all = true,
                "cased" => m.cased = true,
                "re" => m.re = true,
                "i" | "m" | "s" => {
                    if !m.re {
                        return Err(format!(
                            "modifier '{name}' is a flag of 're' and must follow it ('|re|{name}')"
                        ));
                    }
                    match name {
                        "i" => m.re_flags.0 = true,
                        "m" => m.re_flags.1 = true,
                        _ => m.re_flags.2 = true,
                    }
                }
                "cidr" => m.cidr = true,
                "exists" => m.exists = true,
                "fieldref" => m.fieldref = true,
                "lt" | "lte" | "gt" | "gte" => {
                    if m.cmp.is_some() {
                        return Err("only one of lt, lte, gt and gte may be given".to_string());
                    }
                    m.cmp = Some(match name {
                        "lt" => CmpOp::Lt,
                        "lte" => CmpOp::Lte,
                        "gt" => CmpOp::Gt,
                        _ => CmpOp::Gte,
                    });
                }
                "neq" => return Err("modifier 'neq' is not supported yet".to_string()),
                "expand" => {
                    return Err(
                        "modifier 'expand' (placeholders) is not supported; the \
                        specification asks a tool that cannot fill placeholders to reject the rule"
                            .to_string(),
                    )
                }
                "minute" | "hour" | "day" | "week" | "month" | "year" => {
                    return Err(format!("time modifier '{name}' is not supported yet"))
                }
                "" => return Err("empty modifier (two '|' in a row, or a trailing '|')".into()),
                other => return Err(format!("unknown modifier '{other}'")),
            }
        }
        m.check()?;
        Ok(m)
    }

    fn shape(&self) -> Option<Step> {
        self.steps.iter().copied().find(|s| s.is_shape())
    }

    /// Rejects combinations that have no meaning.
    fn check(&self) -> Result<(), String> {
        let shapes: Vec<_> = self.steps.iter().filter(|s| s.is_shape()).collect();
        if shapes.len() > 1 {
            return Err(format!(
                "modifiers '{}' and '{}' exclude each other",
                shapes[0].name(),
                shapes[1].name()
            ));
        }
        if self.steps.iter().filter(|s| s.is_base64()).count() > 1 {
            return Err("only one of base64 and base64offset may be given".to_string());
        }
        if self.steps.iter().filter(|s| s.is_utf16()).count() > 1 {
            return Err("only one of utf16le, utf16be, utf16 and wide may be given".to_string());
        }
        let value_kinds = [
            ("re", self.re),
            ("cidr", self.cidr),
            ("exists", self.exists),
            ("fieldref", self.fieldref),
            ("lt/lte/gt/gte", self.cmp.is_some()),
        ];
        let kinds: Vec<&str> = value_kinds
            .iter()
            .filter(|(_, on)| *on)
            .map(|(n, _)| *n)
            .collect();
        if kinds.len() > 1 {
            return Err(format!(
                "modifiers '{}' and '{}' exclude each other",
                kinds[0], kinds[1]
            ));
        }
        let Some(kind) = kinds.first() else {
            return Ok(());
        };
        if self.exists && self.names.len() > 1 {
            return Err("'exists' takes no other modifier".to_string());
        }
        let allowed_steps = |step: &Step| self.fieldref && step.is_shape();
        if let Some(step) = self.steps.iter().find(|s| !allowed_steps(s)) {
            return Err(format!(
                "modifier '{}' cannot be combined with '{kind}'",
                step.name()
            ));
        }
        if self.cased && !self.fieldref {
            return Err(format!(
                "modifier 'cased' has no meaning with '{kind}'{}",
                if self.re {
                    " (regular expressions are case-sensitive; '|re|i' makes them insensitive)"
                } else {
                    ""
                }
            ));
        }
        Ok(())
    }
}

/// What the compiler works on: a string with wildcards, or bytes (after a UTF-16 encoding).
#[derive(Debug, Clone)]
enum Work {
    Str(Vec<Part>),
    Bytes(Vec<u8>),
}

/// Every plain string `parts` stands for (each `windash` dash as each of the five), or why not.
fn expand_plain(parts: &[Part], step: Step) -> Result<Vec<String>, String> {
    let mut out = vec![String::new()];
    for p in parts {
        match p {
            Part::Lit(c) => out.iter_mut().for_each(|s| s.push(*c)),
            Part::Dash => {
                if out.len() * DASHES.len() > MAX_EXPANSION {
                    return Err(format!(
                        "'{}' after windash would make more than {MAX_EXPANSION} values",
                        step.name()
                    ));
                }
                out = out
                    .iter()
                    .flat_map(|s| {
                        DASHES.iter().map(move |d| {
                            let mut s = s.clone();
                            s.push(*d);
                            s
                        })
                    })
                    .collect();
            }
            Part::Star | Part::One => {
                return Err(format!(
                    "{} cannot encode wildcards (put {} before contains/startswith/endswith, or \
                     escape the wildcard)",
                    step.name(),
                    step.name()
                ))
            }
        }
    }
    Ok(out)
}

fn lits(s: &str) -> Vec<Part> {
    s.chars().map(Part::Lit).collect()
}

fn bytes_to_parts(bytes: Vec<u8>, last: &str) -> Result<Vec<Part>, String> {
    match String::from_utf8(bytes) {
        Ok(s) => Ok(lits(&s)),
        Err(_) => Err(format!(
            "the UTF-16 encoding of this value is not text; follow '{last}' with base64 or \
             base64offset"
        )),
    }
}

fn utf16(s: &str, step: Step) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() * 2 + 2);
    if step == Step::Utf16 {
        out.extend_from_slice(&[0xFF, 0xFE]);
    }
    for unit in s.encode_utf16() {
        let b = if step == Step::Utf16be {
            unit.to_be_bytes()
        } else {
            unit.to_le_bytes()
        };
        out.extend_from_slice(&b);
    }
    out
}

/// The three forms of `base64offset` (as pySigma computes them: the value shifted by 0, 1 and 2
/// bytes, without the characters that depend on what surrounds it).
pub(crate) fn base64_offsets(bytes: &[u8]) -> [String; 3] {
    const START: [usize; 3] = [0, 2, 3];
    std::array::from_fn(|i| {
        let mut shifted = vec![b' '; i];
        shifted.extend_from_slice(bytes);
        let enc = base64::engine::general_purpose::STANDARD.encode(&shifted);
        let end = match (bytes.len() + i) % 3 {
            0 => enc.len(),
            1 => enc.len().saturating_sub(3),
            _ => enc.len().saturating_sub(2),
        };
        enc.get(START[i]..end).unwrap_or("").to_string()
    })
}

/// Applies the value-changing modifiers to one value, in order.
fn transform(parts: Vec<Part>, steps: &[Step]) -> Result<Vec<Vec<Part>>, String> {
    let mut work = vec![Work::Str(parts)];
    let mut last = "";
    for &step in steps {
        let mut next = Vec::with_capacity(work.len());
        for w in work {
            match (step, w) {
                (Step::Windash, Work::Str(parts)) => next.push(Work::Str(
                    parts
                        .into_iter()
                        .map(|p| match p {
                            Part::Lit(c) if DASHES.contains(&c) => Part::Dash,
                            other => other,
                        })
                        .collect(),
                )),
                (Step::Windash, Work::Bytes(_)) => {
                    return Err("windash must come before the encoding modifiers".to_string())
                }
                (s, Work::Str(parts)) if s.is_utf16() => {
                    for text in expand_plain(&parts, s)? {
                        next.push(Work::Bytes(utf16(&text, s)));
                    }
                }
                (s, Work::Bytes(_)) if s.is_utf16() => {
                    return Err("only one UTF-16 encoding may be given".to_string())
                }
                (s, w) if s.is_base64() => {
                    let inputs = match w {
                        Work::Str(parts) => expand_plain(&parts, s)?
                            .into_iter()
                            .map(String::into_bytes)
                            .collect(),
                        Work::Bytes(b) => vec![b],
                    };
                    for bytes in inputs {
                        if s == Step::Base64 {
                            let enc = base64::engine::general_purpose::STANDARD.encode(&bytes);
                            next.push(Work::Str(lits(&enc)));
                        } else {
                            for enc in base64_offsets(&bytes) {
                                if enc.is_empty() {
                                    return Err(
                                        "base64offset: the value is too short to be \
                                        recognised inside base64 (one of its three forms is empty)"
                                            .to_string(),
                                    );
                                }
                                next.push(Work::Str(lits(&enc)));
                            }
                        }
                    }
                }
                (s, w) => {
                    let mut parts = match w {
                        Work::Str(p) => p,
                        Work::Bytes(b) => bytes_to_parts(b, last)?,
                    };
                    if matches!(s, Step::Contains | Step::EndsWith)
                        && parts.first() != Some(&Part::Star)
                    {
                        parts.insert(0, Part::Star);
                    }
                    if matches!(s, Step::Contains | Step::StartsWith)
                        && parts.last() != Some(&Part::Star)
                    {
                        parts.push(Part::Star);
                    }
                    next.push(Work::Str(parts));
                }
            }
        }
        if next.len() > MAX_EXPANSION {
            return Err(format!(
                "this value expands to more than {MAX_EXPANSION} values"
            ));
        }
        work = next;
        last = step.name();
    }
    work.into_iter()
        .map(|w| match w {
            Work::Str(p) => Ok(p),
            Work::Bytes(b) => bytes_to_parts(b, last),
        })
        .collect()
}

pub(crate) fn yaml_kind(v: &Yaml) -> &'static str {
    match v {
        Yaml::Null => "null",
        Yaml::Bool(_) => "a boolean",
        Yaml::Number(_) => "a number",
        Yaml::String(_) => "a string",
        Yaml::Sequence(_) => "a list",
        Yaml::Mapping(_) => "a mapping",
        Yaml::Tagged(_) => "a tagged value",
    }
}

/// A scalar's text, for modifiers that work on text.
fn scalar_text(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Compiles one detection item: `key` is `field|mod|…` (an empty field for a keyword search with
/// modifiers), `value` a scalar or a list of scalars.
pub(crate) fn compile_item(key: &str, value: &Yaml) -> Result<Item, String> {
    let mut pieces = key.split('|');
    let field = pieces.next().unwrap_or("");
    let list: Vec<&str> = pieces.collect();
    let mods = Mods::parse(&list)?;
    let field = (!field.is_empty()).then(|| field.to_string());
    compile_values(field, mods, value)
}

/// Compiles a keyword search (a list of values with no field).
pub(crate) fn compile_keywords(value: &Yaml) -> Result<Item, String> {
    compile_values(None, Mods::default(), value)
}

fn compile_values(field: Option<String>, mut mods: Mods, value: &Yaml) -> Result<Item, String> {
    let keyword = field.is_none();
    if keyword && (mods.exists || mods.fieldref) {
        return Err(format!(
            "'{}' needs a field",
            if mods.exists { "exists" } else { "fieldref" }
        ));
    }
    let values: Vec<&Yaml> = match value {
        Yaml::Sequence(items) => {
            if items.is_empty() {
                return Err("an empty list of values".to_string());
            }
            items.iter().collect()
        }
        other => vec![other],
    };
    let is_list = matches!(value, Yaml::Sequence(_));
    if mods.all && !is_list {
        return Err(
            "'all' needs a list of values (the modifiers appendix: \"Single item values \
                    are not allowed to have an all modifier\")"
                .to_string(),
        );
    }
    if let Some(bad) = values
        .iter()
        .find(|v| matches!(v, Yaml::Sequence(_) | Yaml::Mapping(_) | Yaml::Tagged(_)))
    {
        return Err(format!(
            "a value must be a string, a number, a boolean or null, not {}",
            yaml_kind(bad)
        ));
    }
    if values.iter().any(|v| v.is_null()) {
        if is_list {
            return Err(
                "null cannot be part of a list of values (the specification: \"null \
                        cannot be part of a list of field values as it is its own type\"); \
                        put it in a selection of its own"
                    .to_string(),
            );
        }
        if keyword {
            return Err("a keyword cannot be null".to_string());
        }
        if !mods.names.is_empty() {
            return Err("null takes no modifier".to_string());
        }
        return Ok(Item {
            field,
            test: Test::Null,
        });
    }
    if mods.exists {
        return match value {
            Yaml::Bool(b) => Ok(Item {
                field,
                test: Test::Exists(*b),
            }),
            other => Err(format!(
                "exists takes true or false, not {}",
                yaml_kind(other)
            )),
        };
    }
    // a keyword is searched within the texts of the event unless told otherwise
    if keyword && mods.shape().is_none() && !mods.re && !mods.cidr && mods.cmp.is_none() {
        mods.steps.push(Step::Contains);
    }
    let mut compiled = Vec::with_capacity(values.len());
    for v in values {
        compiled.push(compile_value(v, &mods, keyword)?);
    }
    Ok(Item {
        field,
        test: Test::Values {
            values: compiled,
            all: mods.all,
        },
    })
}

fn compile_value(v: &Yaml, mods: &Mods, keyword: bool) -> Result<Vec<Matcher>, String> {
    let text =
        || scalar_text(v).ok_or_else(|| format!("expected a string, found {}", yaml_kind(v)));
    if mods.re {
        let src = text()?;
        let (i, m, s) = mods.re_flags;
        let re = RegexBuilder::new(&src)
            .case_insensitive(i)
            .multi_line(m)
            .dot_matches_new_line(s)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| format!("re: not a valid regular expression: {e}"))?;
        return Ok(vec![Matcher::Regex(re)]);
    }
    if mods.cidr {
        return Ok(vec![Matcher::Cidr(Cidr::parse(&text()?)?)]);
    }
    if let Some(op) = mods.cmp {
        return match v {
            Yaml::Number(n) => Ok(vec![Matcher::Cmp(op, NumLit::from_yaml(n))]),
            other => Err(format!(
                "lt/lte/gt/gte compare numbers, not {}",
                yaml_kind(other)
            )),
        };
    }
    if mods.fieldref {
        let path = text()?;
        if path.is_empty() {
            return Err("fieldref needs a field name".to_string());
        }
        let shape = match mods.shape() {
            Some(Step::Contains) => RefShape::Contains,
            Some(Step::StartsWith) => RefShape::StartsWith,
            Some(Step::EndsWith) => RefShape::EndsWith,
            _ => RefShape::Equals,
        };
        return Ok(vec![Matcher::FieldRef {
            path,
            shape,
            cased: mods.cased,
        }]);
    }
    if mods.steps.is_empty() && !keyword {
        match v {
            Yaml::Number(n) => return Ok(vec![Matcher::Num(NumLit::from_yaml(n))]),
            Yaml::Bool(b) => return Ok(vec![Matcher::Bool(*b)]),
            _ => {}
        }
    }
    let parts = match v {
        Yaml::String(s) => pattern::parse(s),
        // numbers and booleans have no wildcards: their text, as it is
        other => lits(&text().map_err(|_| format!("unexpected {}", yaml_kind(other)))?),
    };
    Ok(transform(parts, &mods.steps)?
        .into_iter()
        .map(|p| Matcher::Text(Pattern::new(&p, mods.cased)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64offset_forms() {
        // pySigma's and the OpenSearch port's test vector
        assert_eq!(
            base64_offsets(b"foobar"),
            ["Zm9vYmFy".to_string(), "Zvb2Jhc".into(), "mb29iYX".into()]
        );
    }

    #[test]
    fn cidr() {
        let c = |s: &str| Cidr::parse(s).map_err(|e| e.to_string());
        let Ok(net) = c("10.0.0.0/8") else { panic!() };
        assert!(net.contains("10.2.3.4".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))));
        assert!(!net.contains(IpAddr::from([11, 0, 0, 1])));
        let Ok(all) = c("0.0.0.0/0") else { panic!() };
        assert!(all.contains(IpAddr::from([1, 2, 3, 4])));
        let Ok(v6) = c("2001:db8::/32") else { panic!() };
        assert!(v6.contains("2001:db8::1".parse().unwrap_or(IpAddr::from([0u16; 8]))));
        assert!(c("10.0.0.0/33").is_err() && c("nope").is_err());
    }
}

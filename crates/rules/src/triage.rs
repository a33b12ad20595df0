//! The triage rule set: loading and compiling rule files, and judging alerts (first match wins).
//! Pure: the caller reads the files and hands over their text; no I/O, no clock, no async here.

use crate::cel_alert;
use crate::cel_env;
use crate::template::{self, KeyTemplate, TemplateError};
use crate::triage_index::{self, CandidateIndex};
use crate::triage_native::{Outcome, Prefilter, RawCache, RawSlots};
use crate::yaml_pos::{FieldPos, FileMap};
use cel::common::types::CelBool;
use cel::{Context, Env, IdedExpr, Program, Value};
use irene_core::{Alert, Judged, Severity};
use serde::{Deserialize, Serialize};
use std::cell::OnceCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// One rule file: its name (the path as given, for messages) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleFile {
    pub name: String,
    pub text: String,
}

impl RuleFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        RuleFile {
            name: name.into(),
            text: text.into(),
        }
    }
}

/// A problem that keeps a rule set from loading.
///
/// Displays as `rules/prod.yaml: rule 'root-login' (#2), line 5 column 9: when: <problem>`,
/// leaving out what is not known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{}", display_rule_error(self))]
pub struct RuleError {
    /// The file, as named in its [`RuleFile`].
    pub file: String,
    /// The rule's name, when the rule has one.
    pub rule: Option<String>,
    /// The rule's position in its file, from 1.
    pub index: Option<usize>,
    /// The line in the file, from 1, when known.
    pub line: Option<usize>,
    /// The column in the file, from 1 (in characters), when known.
    pub column: Option<usize>,
    /// What is wrong, starting with the field it is about (`when: …`) when there is one.
    pub message: String,
}

fn display_rule_error(e: &RuleError) -> String {
    let mut parts = Vec::new();
    match (&e.rule, e.index) {
        (Some(name), Some(i)) => parts.push(format!("rule '{name}' (#{i})")),
        (Some(name), None) => parts.push(format!("rule '{name}'")),
        (None, Some(i)) => parts.push(format!("rule #{i}")),
        (None, None) => {}
    }
    match (e.line, e.column) {
        (Some(l), Some(c)) => parts.push(format!("line {l} column {c}")),
        (Some(l), None) => parts.push(format!("line {l}")),
        _ => {}
    }
    if parts.is_empty() {
        format!("{}: {}", e.file, e.message)
    } else {
        format!("{}: {}: {}", e.file, parts.join(", "), e.message)
    }
}

/// A rule that could not be evaluated for an alert (a missing tag, a `when` that is not a
/// bool, a key template that failed). The rule then does not match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("rule '{rule}': {message}")]
pub struct EvalError {
    pub rule: String,
    pub message: String,
}

/// What the rules say of one alert, and why: the dry run behind `rules test`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// The rule that decided, `None` when the source severity stands.
    pub rule: Option<String>,
    pub severity: Severity,
    pub labels: Vec<String>,
    /// The case key.
    pub key: String,
    /// The rules that failed to evaluate, in rule order (those before the deciding rule, and
    /// the deciding rule's key template).
    pub errors: Vec<EvalError>,
    /// Each rule evaluated, in order, with what its `when` gave, up to the one that decided.
    pub trace: Vec<TraceStep>,
}

/// One rule's `when` in a [`Verdict`]'s trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceStep {
    pub rule: String,
    /// `true` (it decides), `false`, or `error` (see the verdict's errors).
    pub result: &'static str,
}

/// What an explaining evaluation records besides the decision.
#[derive(Default)]
struct Explained {
    errors: Vec<EvalError>,
    trace: Vec<TraceStep>,
}

/// The fields a rule may have, exactly.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    name: String,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    when: serde_yaml::Value,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    labels: Option<Vec<String>>,
    #[serde(default)]
    key: Option<String>,
}

/// One compiled rule.
#[derive(Debug)]
struct Rule {
    name: String,
    /// `when`, rewritten for evaluation (see `cel_alert::rewrite`).
    when: IdedExpr,
    /// The necessary condition the candidate index files the rule under, if any.
    guard: Option<triage_index::Guard>,
    /// The sides of `when` that judging evaluates without CEL.
    prefilter: Prefilter,
    severity: Option<Severity>,
    labels: Vec<String>,
    key: Option<KeyTemplate>,
}

/// A compiled, ordered set of triage rules. Immutable once built: share it with `Arc`.
///
/// A rule file is a YAML list of rules with exactly these fields: `name` (unique across the
/// set), `description`, `when` (a CEL condition), `severity` (`urgent`, `high`, `medium`,
/// `low` or `info`; absent keeps the source's), `labels` and `key` (a case-key template whose
/// `{{ … }}` are CEL expressions). The first rule whose `when` is true decides; none does:
/// the source severity stands.
///
/// Conditions see one variable, `alert`: `source`, `type`, `key`, `title`, `description`,
/// `severity` and `source_severity` (the mapped severity, lowercase), `source_severity_label`
/// (text or null), `state`, `resource` {`id`, `kind`, `name`, `tags`}, `account`, `region`,
/// `actor` {`principal`, `ip`, `user_agent`}, `indicators` (list of {`kind`, `value`}), `ips`,
/// `observed_at` (timestamp or null) and `raw` (the original JSON). Absent texts are `""`; a
/// missing tag or `raw` key is an evaluation error, and the rule then does not match.
/// They also see `enrichment`: what investigations found about the alert's case,
/// `enrichment.<investigator>.<field>`; `{}` when an alert arrives, filled when triage runs
/// again after the case's investigations ([`judge_enriched`](Self::judge_enriched)).
///
/// Judging evaluates only the rules the candidate index lets through (see `triage_index`),
/// and decides their simple conditions without CEL (see `triage_native`); both are proved
/// against [`judge_naive`](Self::judge_naive), which runs CEL on every rule in order.
pub struct TriageRules {
    env: Arc<Env>,
    rules: Vec<Rule>,
    index: CandidateIndex,
    /// How many distinct `alert.raw` paths the rules' prefilters read.
    raw_slots: usize,
}

impl fmt::Debug for TriageRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TriageRules")
            .field("rules", &self.names())
            .finish()
    }
}

impl Default for TriageRules {
    fn default() -> Self {
        TriageRules::empty()
    }
}

/// Where a file's rules are being checked, to place errors.
struct FileCtx<'a> {
    file: &'a RuleFile,
    map: FileMap<'a>,
}

impl FileCtx<'_> {
    fn error(
        &self,
        rule: Option<&str>,
        item: usize,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    ) -> RuleError {
        RuleError {
            file: self.file.name.clone(),
            rule: rule.map(str::to_string),
            index: Some(item + 1),
            line: line.or_else(|| self.map.item_line(item)),
            column,
            message,
        }
    }
}

impl TriageRules {
    /// A rule set without rules: every alert keeps its source severity.
    pub fn empty() -> Self {
        TriageRules {
            env: cel_env::env(),
            rules: Vec::new(),
            index: CandidateIndex::default(),
            raw_slots: 0,
        }
    }

    /// Loads and compiles rule files, in order (a file's rules after the previous file's).
    /// Returns every problem found, not only the first.
    ///
    /// Compiling runs on a short-lived thread of its own with a large stack: parsing recurses
    /// on an expression's nesting, and a pathological rule must be an error, not a stack
    /// overflow of the caller's thread (a server thread has a small stack).
    pub fn compile(files: &[RuleFile]) -> Result<Self, Vec<RuleError>> {
        const STACK: usize = 64 << 20;
        std::thread::scope(|scope| {
            let spawned = std::thread::Builder::new()
                .name("irene-rules-compile".into())
                .stack_size(STACK)
                .spawn_scoped(scope, || Self::compile_here(files));
            match spawned {
                Ok(handle) => handle.join().unwrap_or_else(|_| {
                    Err(vec![RuleError {
                        file: files.first().map(|f| f.name.clone()).unwrap_or_default(),
                        rule: None,
                        index: None,
                        line: None,
                        column: None,
                        message: "the rule compiler failed on these files".to_string(),
                    }])
                }),
                Err(_) => Self::compile_here(files),
            }
        })
    }

    fn compile_here(files: &[RuleFile]) -> Result<Self, Vec<RuleError>> {
        let env = cel_env::env();
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        // name → (file, position in file from 1) of its first definition
        let mut seen: HashMap<String, (String, usize)> = HashMap::new();
        for file in files {
            let items = match parse_file(file) {
                Ok(items) => items,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            let fctx = FileCtx {
                file,
                map: FileMap::new(&file.text, items.len()),
            };
            for (item, value) in items.into_iter().enumerate() {
                match compile_rule(&env, &fctx, item, value, &mut seen) {
                    Ok(rule) => rules.push(rule),
                    Err(mut e) => errors.append(&mut e),
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let guards: Vec<_> = rules.iter().map(|r: &Rule| r.guard.clone()).collect();
        let mut slots = RawSlots::default();
        for rule in &mut rules {
            rule.prefilter.assign_slots(&mut slots);
        }
        Ok(TriageRules {
            env,
            index: CandidateIndex::build(&guards),
            raw_slots: slots.len(),
            rules,
        })
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules' names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.rules.iter().map(|r| r.name.as_str()).collect()
    }

    /// The rules evaluated for every alert, because no condition on a text field of the alert
    /// (type, source, account, tag, …) could be read from their `when`. Each costs time on
    /// every alert; the rest cost only on the alerts they may match.
    pub fn always_evaluated(&self) -> Vec<&str> {
        self.index
            .unguarded()
            .iter()
            .filter_map(|&i| self.rules.get(i as usize))
            .map(|r| r.name.as_str())
            .collect()
    }

    /// Judges an alert: the first rule whose `when` holds decides its severity (unless the
    /// rule has none), labels and key; with no such rule the source severity stands.
    /// Evaluates only the rules the candidate index lets through, which decide the same.
    pub fn judge(&self, alert: Alert) -> Judged {
        if self.rules.is_empty() {
            return Judged::unjudged(alert);
        }
        let mut candidates = Vec::new();
        self.index.candidates(&alert, &mut candidates);
        if candidates.is_empty() {
            return Judged::unjudged(alert);
        }
        let decided = self.decide(
            &alert,
            None,
            candidates.iter().map(|&i| i as usize),
            true,
            &mut None,
        );
        self.judged(alert, decided)
    }

    /// Judges an alert again with what investigations found about its case: `enrichment` is
    /// `{investigator: findings}`, which rules read as `enrichment.<investigator>.<field>`
    /// (when an alert arrives it is `{}`). Same rules, same order, same first match.
    pub fn judge_enriched(&self, alert: Alert, enrichment: &serde_json::Value) -> Judged {
        let decided = self.decide(
            &alert,
            Some(enrichment),
            0..self.rules.len(),
            true,
            &mut None,
        );
        self.judged(alert, decided)
    }

    /// Judges as [`judge`](Self::judge) does, but evaluating every rule in order, without the
    /// candidate index: the reference the index is tested against.
    pub fn judge_naive(&self, alert: Alert) -> Judged {
        let decided = self.decide(&alert, None, 0..self.rules.len(), false, &mut None);
        self.judged(alert, decided)
    }

    /// What the rules say of `alert`, with every evaluation error met on the way: evaluates the
    /// rules in order, all of them, until one decides.
    pub fn explain(&self, alert: &Alert) -> Verdict {
        self.explain_with(alert, None)
    }

    /// As [`explain`](Self::explain), with investigation findings as `enrichment`: what
    /// triage would say after the case's investigations (the dry run of an enrichment rule).
    pub fn explain_enriched(&self, alert: &Alert, enrichment: &serde_json::Value) -> Verdict {
        self.explain_with(alert, Some(enrichment))
    }

    fn explain_with(&self, alert: &Alert, enrichment: Option<&serde_json::Value>) -> Verdict {
        let mut explained = Some(Explained::default());
        let decided = self.decide(
            alert,
            enrichment,
            0..self.rules.len(),
            false,
            &mut explained,
        );
        let Explained { errors, trace } = explained.unwrap_or_default();
        match decided.and_then(|(i, key)| self.rules.get(i).map(|r| (r, key))) {
            Some((rule, key)) => Verdict {
                rule: Some(rule.name.clone()),
                severity: rule.severity.unwrap_or(alert.source_severity),
                labels: rule.labels.clone(),
                key,
                errors,
                trace,
            },
            None => Verdict {
                rule: None,
                severity: alert.source_severity,
                labels: Vec::new(),
                key: alert.key.clone(),
                errors,
                trace,
            },
        }
    }

    fn judged(&self, alert: Alert, decided: Option<(usize, String)>) -> Judged {
        match decided.and_then(|(i, key)| self.rules.get(i).map(|r| (r, key))) {
            Some((rule, key)) => Judged {
                severity: rule.severity.unwrap_or(alert.source_severity),
                labels: rule.labels.clone(),
                key,
                rule: Some(rule.name.clone()),
                alert,
            },
            None => Judged::unjudged(alert),
        }
    }

    /// Evaluates the rules at `order` against `alert`, returning the first that matches and the
    /// key it gives. With `direct`, each rule's simple sides are evaluated without CEL first
    /// (see `triage_native`), and CEL runs only when they leave the answer open. CEL sees the
    /// alert through one lazy view shared by all rules. Records evaluation errors when asked.
    fn decide(
        &self,
        alert: &Alert,
        enrichment: Option<&serde_json::Value>,
        order: impl Iterator<Item = usize>,
        direct: bool,
        errors: &mut Option<Explained>,
    ) -> Option<(usize, String)> {
        // built on the first rule that needs CEL, if any
        let scope: OnceCell<cel_alert::AlertScope<'_>> = OnceCell::new();
        let mut context: Option<Context<'_, '_>> = None;
        let mut raw = RawCache::new(if direct { self.raw_slots } else { 0 });
        for i in order {
            let Some(rule) = self.rules.get(i) else {
                continue;
            };
            let pre = if direct {
                rule.prefilter.eval(alert, &mut raw)
            } else {
                Outcome::Unknown
            };
            if pre == Outcome::False {
                continue;
            }
            let ctx = context.get_or_insert_with(|| {
                let mut ctx = Context::with_env(Arc::clone(&self.env));
                ctx.set_variable_resolver(
                    scope.get_or_init(|| cel_alert::AlertScope::with_enrichment(alert, enrichment)),
                );
                ctx
            });
            let matched = if pre == Outcome::True {
                Ok(true)
            } else {
                rule.matches(ctx)
            };
            step(
                errors,
                rule,
                match &matched {
                    Ok(true) => "true",
                    Ok(false) => "false",
                    Err(_) => "error",
                },
            );
            match matched {
                Ok(true) => {
                    let key = match &rule.key {
                        None => alert.key.clone(),
                        Some(template) => match guarded(|| template.render(ctx)) {
                            Ok(key) if !key.is_empty() => key,
                            Ok(_) => {
                                record(errors, rule, "key: the template gave an empty key; the alert's own key is used".to_string());
                                alert.key.clone()
                            }
                            Err(e) => {
                                record(
                                    errors,
                                    rule,
                                    format!("key: {e}; the alert's own key is used"),
                                );
                                alert.key.clone()
                            }
                        },
                    };
                    return Some((i, key));
                }
                Ok(false) => {}
                Err(message) => record(errors, rule, format!("when: {message}")),
            }
        }
        None
    }
}

fn record(explained: &mut Option<Explained>, rule: &Rule, message: String) {
    if let Some(e) = explained {
        e.errors.push(EvalError {
            rule: rule.name.clone(),
            message,
        });
    }
}

fn step(explained: &mut Option<Explained>, rule: &Rule, result: &'static str) {
    if let Some(e) = explained {
        e.trace.push(TraceStep {
            rule: rule.name.clone(),
            result,
        });
    }
}

/// Runs `f`, turning a panic inside the CEL interpreter into an error so that one bad rule or
/// alert cannot take the pipeline down.
fn guarded<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    cel_env::guarded("the CEL interpreter failed on this rule", f)
}

impl Rule {
    fn matches(&self, ctx: &Context<'_, '_>) -> Result<bool, String> {
        guarded(|| {
            let value = Value::resolve_val(&self.when, ctx).map_err(|e| e.to_string())?;
            match value.downcast_ref::<CelBool>() {
                Some(b) => Ok(*b.inner()),
                None => Err(format!("gave a {}, not a bool", value.get_type().name())),
            }
        })
    }
}

/// Parses a file to its list of rule items.
fn parse_file(file: &RuleFile) -> Result<Vec<serde_yaml::Value>, RuleError> {
    let error = |line, column, message| RuleError {
        file: file.name.clone(),
        rule: None,
        index: None,
        line,
        column,
        message,
    };
    match serde_yaml::from_str::<serde_yaml::Value>(&file.text) {
        Ok(serde_yaml::Value::Sequence(items)) => Ok(items),
        Ok(serde_yaml::Value::Null) => Ok(Vec::new()),
        Ok(other) => Err(error(
            None,
            None,
            format!(
                "expected a list of rules (items starting with '- name:'), found {}",
                yaml_kind(&other)
            ),
        )),
        Err(e) => {
            let loc = e.location();
            Err(error(
                loc.as_ref().map(|l| l.line()),
                loc.as_ref().map(|l| l.column()),
                format!("not valid YAML: {e}"),
            ))
        }
    }
}

fn yaml_kind(v: &serde_yaml::Value) -> &'static str {
    match v {
        serde_yaml::Value::Null => "nothing",
        serde_yaml::Value::Bool(_) => "a boolean",
        serde_yaml::Value::Number(_) => "a number",
        serde_yaml::Value::String(_) => "a string",
        serde_yaml::Value::Sequence(_) => "a list",
        serde_yaml::Value::Mapping(_) => "a mapping",
        serde_yaml::Value::Tagged(_) => "a tagged value",
    }
}

/// Checks and compiles one rule item (`item` from 0), returning all its problems.
fn compile_rule(
    env: &Env,
    f: &FileCtx<'_>,
    item: usize,
    value: serde_yaml::Value,
    seen: &mut HashMap<String, (String, usize)>,
) -> Result<Rule, Vec<RuleError>> {
    let name_hint = match &value {
        serde_yaml::Value::Mapping(m) => m.get("name").and_then(|n| n.as_str()).map(str::to_string),
        _ => None,
    };
    let name_hint = name_hint.as_deref();
    if !value.is_mapping() {
        return Err(vec![f.error(
            None,
            item,
            None,
            None,
            format!(
                "expected a rule (a mapping with name and when), found {}",
                yaml_kind(&value)
            ),
        )]);
    }
    let spec: RuleSpec = match serde_yaml::from_value(value) {
        Ok(spec) => spec,
        Err(e) => {
            let message = e.to_string();
            // point at the unknown field when there is one
            let line = message
                .strip_prefix("unknown field `")
                .and_then(|rest| rest.split('`').next())
                .and_then(|field| f.map.key_line(item, field));
            return Err(vec![f.error(name_hint, item, line, None, message)]);
        }
    };
    let name = spec.name.trim().to_string();
    let rule_name = Some(name.as_str()).filter(|n| !n.is_empty());
    let mut errors = Vec::new();
    let at = |key: &str| f.map.field(item, key);
    let line_of = |key: &str| at(key).map(|p| p.line + 1);

    if name.is_empty() {
        errors.push(f.error(
            None,
            item,
            line_of("name"),
            None,
            "name: must not be empty".into(),
        ));
    } else if let Some((file, index)) = seen.get(&name) {
        errors.push(f.error(
            rule_name,
            item,
            line_of("name"),
            None,
            format!("name: duplicate rule name '{name}', first defined in {file} (rule #{index})"),
        ));
    } else {
        seen.insert(name.clone(), (f.file.name.clone(), item + 1));
    }

    let severity = match spec.severity.as_deref().map(str::parse::<Severity>) {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            let pos = at("severity");
            errors.push(f.error(
                rule_name,
                item,
                pos.map(|p| p.line + 1),
                pos.and_then(|p| f.map.expr_pos(p, "", 1, 1).1),
                format!("severity: {e}"),
            ));
            None
        }
    };

    let when_src = match &spec.when {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        other => {
            errors.push(f.error(
                rule_name,
                item,
                line_of("when"),
                None,
                format!(
                    "when: expected a CEL expression, found {}",
                    yaml_kind(other)
                ),
            ));
            None
        }
    };
    let when = when_src.and_then(|src| {
        let pos = at("when");
        let place = |line: usize, col: usize| match pos {
            Some(p) => f.map.expr_pos(p, &src, line, col),
            None => (0, None),
        };
        let mut fail = |line: usize, col: usize, message: String| {
            let (l, c) = place(line, col);
            errors.push(f.error(
                rule_name,
                item,
                Some(l).filter(|l| *l > 0),
                c,
                format!("when: {message} (expression line {line}, column {col})"),
            ));
        };
        if src.trim().is_empty() {
            fail(1, 1, "must not be empty".into());
            return None;
        }
        match compile_checked(env, &src) {
            Ok(program) => Some(program),
            Err(problems) => {
                for (line, col, message) in problems {
                    fail(line, col, message);
                }
                None
            }
        }
    });

    let key = spec.key.as_deref().and_then(|text| {
        let checker = |p: &Program| {
            cel_alert::check_expr(p.expression(), env)
                .into_iter()
                .map(|(_, m)| m)
                .collect()
        };
        match KeyTemplate::parse(text, env, checker) {
            Ok(t) => Some(t),
            Err(problems) => {
                let pos: Option<FieldPos> = at("key");
                for problem in problems {
                    let column = match &problem {
                        TemplateError::Unclosed { at } | TemplateError::Empty { at } => {
                            pos.and_then(|p| f.map.expr_pos(p, text, 1, *at).1)
                        }
                        TemplateError::Expression { .. } => None,
                    };
                    errors.push(f.error(
                        rule_name,
                        item,
                        pos.map(|p| p.line + 1),
                        column,
                        format!("key: {problem}"),
                    ));
                }
                None
            }
        }
    });

    let labels = spec.labels.unwrap_or_default();
    for label in &labels {
        if label.trim().is_empty() {
            errors.push(f.error(
                rule_name,
                item,
                line_of("labels"),
                None,
                "labels: a label must not be empty".into(),
            ));
        }
    }

    match (errors.is_empty(), when) {
        (true, Some(when)) => Ok(Rule {
            name,
            guard: triage_index::guard_of(when.expression()),
            prefilter: Prefilter::new(when.expression()),
            when: cel_alert::rewrite(when.expression()),
            severity,
            labels,
            key,
        }),
        _ => Err(errors),
    }
}

/// Compiles `src` and checks it against the shape of `alert`: the problems come with their
/// 1-based line and column in `src`.
fn compile_checked(env: &Env, src: &str) -> Result<Program, Vec<(usize, usize, String)>> {
    let program = template::compile_expr(env, src).map_err(|e| vec![e])?;
    let problems = cel_alert::check_expr(program.expression(), env);
    if problems.is_empty() {
        return Ok(program);
    }
    Err(problems
        .into_iter()
        .map(|(id, message)| {
            let (line, col) = program
                .source_info()
                .offset_for(id)
                .map(|(start, _)| {
                    // a field selection is placed at its dot: point at the field's name
                    let start = start as usize;
                    let on_dot = src.chars().nth(start) == Some('.');
                    line_col(src, start + usize::from(on_dot))
                })
                .unwrap_or((1, 1));
            (line, col, message)
        })
        .collect())
}

/// 1-based line and column of the character at `offset` (in characters) of `src`.
fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut line = 1;
    let mut col = 1;
    for c in src.chars().take(offset) {
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    (line, col)
}

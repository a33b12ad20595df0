//! User message templates (minijinja): the compiled set, its context, its text within limits.
//! Must not do I/O or fail a delivery: a failing render is recorded and `render.rs`'s text sent.
//!
//! # Names
//! A file's name without directories and without `.j2`, `.jinja`, `.md` or `.txt`:
//! - `github_title`: the issue title (one line, ≤ 256 characters);
//! - `github_body`: the issue body (≤ 65,536 characters; the hidden marker is added, last);
//! - `github_comment`: every event comment (`action`: `severity`, `resolve`, `reopen`,
//!   `repeat`, `reminder`);
//! - `slack_message`: the main text section and fallback text of the case's Slack message
//!   (`message == "case"`) and of its event messages (`message == "event"`); the Block Kit
//!   layout (header, fields, links) stays built-in.
//!
//! A name without a user template keeps its built-in text, byte for byte.
//!
//! # Variables
//! - `case`: `id`, `key`, `title`, `source`, `type`, `severity`, `status`, `account`, `region`,
//!   `labels`, `rule`, `count`, `resource` (`id`, `kind`, `name`, `tags`), `first_seen`,
//!   `last_seen` (RFC 3339), `resolution` (or none);
//! - `alert`: the latest alert as stored (`source`, `type`, `title`, `description`, `severity`,
//!   `actor`, `indicators`, `link`, `raw`, …), or none;
//! - `case_url`: the case in Irene; `now`: the time of the delivery (RFC 3339);
//! - `action`: the delivery's action (`open`, `severity`, `resolve`, `reopen`, `repeat`,
//!   `reminder`); `detail`: its detail (`from`/`to`/`rule`, `resolution`/`by`/`reason`, …);
//! - `message` (`slack_message` only): `"case"` or `"event"`.
//!
//! Undefined variables and attributes are errors (test with `is defined`); a render is bounded
//! by fuel and its output by [`OUTPUT_MAX_BYTES`]. GitHub text has its `@mentions` defused;
//! in Slack text every `{{ value }}` is escaped (`&`, `<`, `>`), so alert text cannot ping.

use crate::render;
use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use irene_core::{Action, Alert, Case};
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex};

/// One user template file: its name (`github_body.md`, a path is fine) and its text.
pub use irene_rules::RuleFile as TemplateFile;

/// The set every output reads once per delivery; replaced whole (`store`) to switch templates
/// without a restart.
pub type SharedTemplates = Arc<ArcSwap<TemplateSet>>;

/// A shared handle holding `set`.
pub fn shared(set: TemplateSet) -> SharedTemplates {
    Arc::new(ArcSwap::from_pointee(set))
}

/// Render failures a set keeps for [`TemplateSet::recent_errors`].
pub const RENDER_ERRORS_KEPT: usize = 50;
/// The instructions one render may run (minijinja fuel): a runaway loop stops here.
pub const FUEL: u64 = 250_000;
/// The output one render may write; more is a render error, not a cut.
pub const OUTPUT_MAX_BYTES: usize = 1 << 20;
const EXTENSIONS: [&str; 4] = [".j2", ".jinja", ".md", ".txt"];

/// The templates a user may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateName {
    GithubTitle,
    GithubBody,
    GithubComment,
    SlackMessage,
}

impl TemplateName {
    pub const ALL: [TemplateName; 4] = [
        TemplateName::GithubTitle,
        TemplateName::GithubBody,
        TemplateName::GithubComment,
        TemplateName::SlackMessage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TemplateName::GithubTitle => "github_title",
            TemplateName::GithubBody => "github_body",
            TemplateName::GithubComment => "github_comment",
            TemplateName::SlackMessage => "slack_message",
        }
    }

    pub fn parse(name: &str) -> Option<TemplateName> {
        TemplateName::ALL.into_iter().find(|n| n.as_str() == name)
    }

    /// The name a file stands for: its base name without a known extension.
    pub fn of_file(file: &str) -> Result<TemplateName, String> {
        let base = file.rsplit(['/', '\\']).next().unwrap_or(file);
        let stem = EXTENSIONS
            .iter()
            .find_map(|e| base.strip_suffix(e))
            .unwrap_or(base);
        TemplateName::parse(stem).ok_or_else(|| stem.to_string())
    }
}

/// Why a template set does not compile, or a template does not render.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TemplateError {
    #[error("{file}: unknown template {name:?} (expected github_title, github_body, github_comment or slack_message)")]
    UnknownName { file: String, name: String },
    #[error("{file}: a second template for {name} (the first is {first})")]
    Duplicate {
        file: String,
        name: String,
        first: String,
    },
    #[error("{file}{}: {message}", at_line(*line))]
    Compile {
        file: String,
        line: Option<usize>,
        message: String,
    },
    #[error("{name}{}: {message}", at_line(*line))]
    Render {
        name: String,
        line: Option<usize>,
        message: String,
    },
}

fn at_line(line: Option<usize>) -> String {
    line.map(|l| format!(", line {l}")).unwrap_or_default()
}

/// A render that failed during a delivery (the built-in text was sent instead).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RenderFailure {
    pub template: String,
    pub case_id: uuid::Uuid,
    pub message: String,
    pub at: DateTime<Utc>,
}

/// What a delivery is about: the template context is built from it.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub case: &'a Case,
    pub alert: Option<&'a Alert>,
    pub case_url: &'a str,
    pub action: Action,
    pub detail: &'a Value,
    pub now: DateTime<Utc>,
}

/// The compiled user templates (none: every text is built-in) and their recent render failures.
pub struct TemplateSet {
    /// One environment per template (no includes between them); GitHub's and Slack's format
    /// values differently.
    envs: Vec<(TemplateName, Environment<'static>)>,
    files: Vec<TemplateFile>,
    failures: Mutex<VecDeque<RenderFailure>>,
}

impl std::fmt::Debug for TemplateSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let files: Vec<&str> = self.files.iter().map(|t| t.name.as_str()).collect();
        f.debug_struct("TemplateSet")
            .field("files", &files)
            .finish()
    }
}

impl Default for TemplateSet {
    fn default() -> Self {
        TemplateSet::builtin()
    }
}

impl TemplateSet {
    /// No user templates: every text is the built-in one.
    pub fn builtin() -> TemplateSet {
        TemplateSet {
            envs: Vec::new(),
            files: Vec::new(),
            failures: Mutex::new(VecDeque::new()),
        }
    }

    /// Compiles `files`; every problem at once (unknown names, duplicates, syntax errors).
    pub fn compile(files: &[TemplateFile]) -> Result<TemplateSet, Vec<TemplateError>> {
        let mut errors = Vec::new();
        let mut envs: Vec<(TemplateName, Environment<'static>)> = Vec::new();
        let mut firsts: Vec<(TemplateName, &str)> = Vec::new();
        for f in files {
            let name = match TemplateName::of_file(&f.name) {
                Ok(n) => n,
                Err(stem) => {
                    errors.push(TemplateError::UnknownName {
                        file: f.name.clone(),
                        name: stem,
                    });
                    continue;
                }
            };
            if let Some((_, first)) = firsts.iter().find(|(n, _)| *n == name) {
                errors.push(TemplateError::Duplicate {
                    file: f.name.clone(),
                    name: name.as_str().into(),
                    first: (*first).into(),
                });
                continue;
            }
            firsts.push((name, &f.name));
            let mut env = environment(name);
            match env.add_template_owned(name.as_str(), f.text.clone()) {
                Ok(()) => envs.push((name, env)),
                Err(e) => errors.push(TemplateError::Compile {
                    file: f.name.clone(),
                    line: e.line(),
                    message: describe(&e),
                }),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(TemplateSet {
            envs,
            files: files.to_vec(),
            failures: Mutex::new(VecDeque::new()),
        })
    }

    /// The files this set was compiled from, in order.
    pub fn files(&self) -> &[TemplateFile] {
        &self.files
    }

    /// Whether `name` has a user template.
    pub fn has(&self, name: TemplateName) -> bool {
        self.envs.iter().any(|(n, _)| *n == name)
    }

    /// The last [`RENDER_ERRORS_KEPT`] render failures, oldest first.
    pub fn recent_errors(&self) -> Vec<RenderFailure> {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    // ------------------------------------------------------------ texts, within limits

    /// The issue title: one line, ≤ 256 characters.
    pub fn github_title(&self, i: &Input<'_>) -> String {
        self.text(TemplateName::GithubTitle, i, None, finish_title)
            .unwrap_or_else(|| render::github_title(i.case))
    }

    /// The issue body, its marker last.
    pub fn github_body(&self, i: &Input<'_>) -> String {
        self.text(TemplateName::GithubBody, i, None, finish_body)
            .unwrap_or_else(|| render::github_body_with(i.case, i.alert, i.case_url, i.detail))
    }

    /// An event comment; `builtin` when there is no template or it failed.
    pub fn github_comment(&self, i: &Input<'_>, builtin: impl FnOnce() -> String) -> String {
        self.text(TemplateName::GithubComment, i, None, finish_comment)
            .unwrap_or_else(builtin)
    }

    /// The case's Slack message (a bot's root, a webhook's "opened").
    pub fn slack_case(&self, i: &Input<'_>, resolved: bool) -> Value {
        let text = self.text(TemplateName::SlackMessage, i, Some("case"), finish_slack);
        render::slack_case_with(i.case, i.alert, i.case_url, resolved, text.as_deref())
    }

    /// A Slack message about one event; `what` is the built-in event text.
    pub fn slack_event(&self, i: &Input<'_>, what: &str, in_thread: bool) -> Value {
        let text = self.text(TemplateName::SlackMessage, i, Some("event"), finish_slack);
        render::slack_event_with(i.case, what, i.case_url, in_thread, text.as_deref())
    }

    /// The user template's finished text; `None` when there is none or it failed (recorded).
    fn text(
        &self,
        name: TemplateName,
        i: &Input<'_>,
        message: Option<&str>,
        finish: fn(String, &Input<'_>) -> String,
    ) -> Option<String> {
        match self.render(name, i, message)? {
            Ok(t) => Some(finish(t, i)),
            Err(e) => {
                self.record(name, i, &e);
                None
            }
        }
    }

    /// Renders `name`'s user template; `None` when there is none.
    fn render(
        &self,
        name: TemplateName,
        i: &Input<'_>,
        message: Option<&str>,
    ) -> Option<Result<String, TemplateError>> {
        let (_, env) = self.envs.iter().find(|(n, _)| *n == name)?;
        Some(run(env, name, context(i, message)))
    }

    fn record(&self, name: TemplateName, i: &Input<'_>, e: &TemplateError) {
        tracing::warn!(template = name.as_str(), case = %i.case.id, error = %e,
            "a message template failed; the built-in text was sent");
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if f.len() >= RENDER_ERRORS_KEPT {
            f.pop_front();
        }
        f.push_back(RenderFailure {
            template: name.as_str().into(),
            case_id: i.case.id,
            message: e.to_string(),
            at: i.now,
        });
    }
}

/// Renders `name` (the user's template, or the built-in text) for a case, WITHOUT falling back:
/// a failing template is the error. For `slack_message`, the text (`message` is `"case"` for
/// `open` and `repeat`, `"event"` otherwise); `detail` is empty.
pub fn preview(
    set: &TemplateSet,
    name: &str,
    case: &Case,
    alert: Option<&Alert>,
    case_url: &str,
    action: Action,
) -> Result<String, TemplateError> {
    let name = TemplateName::parse(name).ok_or_else(|| TemplateError::UnknownName {
        file: name.into(),
        name: name.into(),
    })?;
    let detail = json!({});
    let i = Input {
        case,
        alert,
        case_url,
        action,
        detail: &detail,
        now: Utc::now(),
    };
    let message = matches!(action, Action::Open | Action::Repeat);
    let message =
        (name == TemplateName::SlackMessage).then_some(if message { "case" } else { "event" });
    let finish: fn(String, &Input<'_>) -> String = match name {
        TemplateName::GithubTitle => finish_title,
        TemplateName::GithubBody => finish_body,
        TemplateName::GithubComment => finish_comment,
        TemplateName::SlackMessage => finish_slack,
    };
    if let Some(r) = set.render(name, &i, message) {
        return r.map(|t| finish(t, &i));
    }
    let what = || render::event_text(action, case, &detail, i.now);
    Ok(match name {
        TemplateName::GithubTitle => render::github_title(case),
        TemplateName::GithubBody => render::github_body_with(case, alert, case_url, &detail),
        TemplateName::GithubComment => what(),
        TemplateName::SlackMessage => {
            let m = if message == Some("case") {
                render::slack_case(case, alert, case_url, false)
            } else {
                render::slack_event(case, &what(), case_url, true)
            };
            m.get("text")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        }
    })
}

// ---------------------------------------------------------------- limits

fn finish_title(t: String, _: &Input<'_>) -> String {
    render::truncate(
        &render::defuse_mentions(&render::one_line(&t)),
        render::GITHUB_TITLE_MAX,
    )
}

/// The body with the case's marker last, and the only one: a marker-like comment the template
/// wrote (or an alert's text carried) is blunted, so that the marker names this case.
fn finish_body(t: String, i: &Input<'_>) -> String {
    let t = t.replace("<!-- irene:case:", "<!-- irene case:");
    render::with_marker(&render::defuse_mentions(&t), i.case.id)
}

fn finish_comment(t: String, _: &Input<'_>) -> String {
    render::truncate(&render::defuse_mentions(&t), render::GITHUB_BODY_MAX)
}

/// Slack text: its values were escaped as they were written; cut to a section's limit (the
/// fallback text's is larger).
fn finish_slack(t: String, _: &Input<'_>) -> String {
    render::truncate(t.trim(), render::SLACK_SECTION_MAX)
}

// ---------------------------------------------------------------- the engine

fn environment(name: TemplateName) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    if name == TemplateName::SlackMessage {
        env.set_formatter(|out, _state, value| {
            if value.is_undefined() {
                return Err(Error::from(ErrorKind::UndefinedError));
            }
            out.write_str(&render::slack_escape(&value.to_string()))
                .map_err(|_| Error::new(ErrorKind::WriteFailure, "could not write the output"))
        });
    }
    env
}

fn context(i: &Input<'_>, message: Option<&str>) -> minijinja::Value {
    let mut case = crate::plan::case_json(i.case);
    if let Value::Object(m) = &mut case {
        m.insert("first_seen".into(), json!(render::time(i.case.first_seen)));
        m.insert("last_seen".into(), json!(render::time(i.case.last_seen)));
        m.insert(
            "resolution".into(),
            json!(i.case.resolution.map(|r| r.as_str())),
        );
    }
    let mut ctx = json!({
        "case": case,
        "alert": i.alert,
        "case_url": i.case_url,
        "action": i.action.as_str(),
        "detail": i.detail,
        "now": render::time(i.now),
    });
    if let (Some(m), Value::Object(c)) = (message, &mut ctx) {
        c.insert("message".into(), json!(m));
    }
    minijinja::Value::from_serialize(&ctx)
}

/// One render within the fuel and [`OUTPUT_MAX_BYTES`]; empty output is an error too.
fn run(
    env: &Environment<'static>,
    name: TemplateName,
    ctx: minijinja::Value,
) -> Result<String, TemplateError> {
    let err = |line, message: String| TemplateError::Render {
        name: name.as_str().into(),
        line,
        message,
    };
    let t = env
        .get_template(name.as_str())
        .map_err(|e| err(e.line(), describe(&e)))?;
    let mut w = Capped::default();
    if let Err(e) = t.render_captured_to(ctx, &mut w) {
        if w.over {
            return Err(err(
                None,
                format!("the output is larger than {OUTPUT_MAX_BYTES} bytes"),
            ));
        }
        return Err(err(e.line(), describe(&e)));
    }
    let text = String::from_utf8_lossy(&w.buf).into_owned();
    if text.trim().is_empty() {
        return Err(err(None, "the template rendered nothing".into()));
    }
    Ok(text)
}

/// A minijinja error as one line: its kind and detail, without the template's name.
fn describe(e: &Error) -> String {
    match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    }
}

/// Output that refuses to grow past [`OUTPUT_MAX_BYTES`].
#[derive(Default)]
struct Capped {
    buf: Vec<u8>,
    over: bool,
}

impl io::Write for Capped {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        if self.buf.len() + b.len() > OUTPUT_MAX_BYTES {
            self.over = true;
            return Err(io::Error::other("output too large"));
        }
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests;

//! Output configuration as the binary reads it from `[[outputs]]`: the four kinds, their
//! defaults, redacted secrets and `validate`. Data and checks only: no network, no clients.

use irene_core::Severity;
use serde::{Deserialize, Deserializer};
use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

/// A credential (token, routing key, webhook URL, private key). Prints as `***`; the only way
/// to read it is `expose`, at the moment it is sent.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// One `[[outputs]]` entry, chosen by its `type`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum OutputConfig {
    Github(GithubConfig),
    Pagerduty(PagerDutyConfig),
    Slack(SlackConfig),
    Webhook(WebhookConfig),
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubConfig {
    pub name: String,
    #[serde(default = "severity_medium")]
    pub min_severity: Severity,
    #[serde(default)]
    pub when: Option<String>,
    #[serde(default = "ten_seconds", deserialize_with = "duration")]
    pub timeout: Duration,
    /// `owner/repo`.
    pub repository: String,
    /// A personal access token (or fine-grained token); the alternative is a GitHub App.
    #[serde(default)]
    pub token: Option<Secret>,
    #[serde(default)]
    pub app_id: Option<u64>,
    /// The app's private key, PEM text.
    #[serde(default)]
    pub private_key: Option<Secret>,
    /// Looked up with `GET /repos/{owner}/{repo}/installation` when absent.
    #[serde(default)]
    pub installation_id: Option<u64>,
    #[serde(default = "github_api")]
    pub api_url: String,
    /// Verifies inbound issue webhooks (`X-Hub-Signature-256`).
    #[serde(default)]
    pub webhook_secret: Option<Secret>,
    /// At most one "seen again" comment per case per interval.
    #[serde(default = "one_hour", deserialize_with = "duration")]
    pub repeat_interval: Duration,
    /// Minimum spacing of mutative requests per token.
    #[serde(default = "one_second", deserialize_with = "duration")]
    pub pace: Duration,
    /// Content-creating requests (issues, comments, label changes) per token and hour; GitHub's
    /// secondary limits allow 500. Beyond it deliveries wait for the window to move on.
    #[serde(default = "five_hundred")]
    pub max_per_hour: usize,
    /// How long an urgent/high case stays untouched before the reminder job comments.
    #[serde(default = "one_day", deserialize_with = "duration")]
    pub remind_after: Duration,
    #[serde(default)]
    pub extra_labels: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyConfig {
    pub name: String,
    #[serde(default = "severity_high")]
    pub min_severity: Severity,
    #[serde(default)]
    pub when: Option<String>,
    #[serde(default = "ten_seconds", deserialize_with = "duration")]
    pub timeout: Duration,
    pub routing_key: Secret,
    #[serde(default = "pagerduty_events")]
    pub events_url: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    pub name: String,
    #[serde(default = "severity_low")]
    pub min_severity: Severity,
    #[serde(default)]
    pub when: Option<String>,
    #[serde(default = "ten_seconds", deserialize_with = "duration")]
    pub timeout: Duration,
    /// Incoming-webhook mode (no threads, no updates).
    #[serde(default)]
    pub webhook_url: Option<Secret>,
    /// Bot mode (`chat.postMessage`/`chat.update`), with `channel`.
    #[serde(default)]
    pub bot_token: Option<Secret>,
    /// Channel ID (preferred) or name.
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default = "slack_api")]
    pub api_url: String,
    #[serde(default = "one_hour", deserialize_with = "duration")]
    pub repeat_interval: Duration,
    /// The digest job's period; `"off"` disables it.
    #[serde(default = "daily", deserialize_with = "optional_duration")]
    pub digest_every: Option<Duration>,
}

impl SlackConfig {
    pub fn is_bot(&self) -> bool {
        self.bot_token.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub name: String,
    #[serde(default = "severity_info")]
    pub min_severity: Severity,
    #[serde(default)]
    pub when: Option<String>,
    #[serde(default = "ten_seconds", deserialize_with = "duration")]
    pub timeout: Duration,
    /// May embed credentials, hence a secret.
    pub url: Secret,
    /// Signs bodies with HMAC-SHA256 (`X-Irene-Signature-256`).
    #[serde(default)]
    pub secret: Option<Secret>,
}

impl OutputConfig {
    pub fn name(&self) -> &str {
        match self {
            OutputConfig::Github(c) => &c.name,
            OutputConfig::Pagerduty(c) => &c.name,
            OutputConfig::Slack(c) => &c.name,
            OutputConfig::Webhook(c) => &c.name,
        }
    }

    /// `"github" | "pagerduty" | "slack" | "webhook"`.
    pub fn kind(&self) -> &'static str {
        match self {
            OutputConfig::Github(_) => "github",
            OutputConfig::Pagerduty(_) => "pagerduty",
            OutputConfig::Slack(_) => "slack",
            OutputConfig::Webhook(_) => "webhook",
        }
    }

    pub fn min_severity(&self) -> Severity {
        match self {
            OutputConfig::Github(c) => c.min_severity,
            OutputConfig::Pagerduty(c) => c.min_severity,
            OutputConfig::Slack(c) => c.min_severity,
            OutputConfig::Webhook(c) => c.min_severity,
        }
    }

    pub fn when(&self) -> Option<&str> {
        match self {
            OutputConfig::Github(c) => c.when.as_deref(),
            OutputConfig::Pagerduty(c) => c.when.as_deref(),
            OutputConfig::Slack(c) => c.when.as_deref(),
            OutputConfig::Webhook(c) => c.when.as_deref(),
        }
    }

    pub fn timeout(&self) -> Duration {
        match self {
            OutputConfig::Github(c) => c.timeout,
            OutputConfig::Pagerduty(c) => c.timeout,
            OutputConfig::Slack(c) => c.timeout,
            OutputConfig::Webhook(c) => c.timeout,
        }
    }

    /// For a GitHub output: its repository and inbound webhook secret (the binary routes
    /// inbound issue webhooks by repository). `None` for other kinds.
    pub fn github_inbound(&self) -> Option<(&str, Option<&Secret>)> {
        match self {
            OutputConfig::Github(c) => Some((&c.repository, c.webhook_secret.as_ref())),
            _ => None,
        }
    }
}

/// What is wrong with one output's configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("output {output} (#{index}): {message}")]
pub struct ConfigError {
    /// 1-based position in `[[outputs]]`.
    pub index: usize,
    /// The output's name, quoted, or `(unnamed)`.
    pub output: String,
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(index: usize, name: &str, message: impl Into<String>) -> Self {
        ConfigError {
            index: index + 1,
            output: if name.is_empty() {
                "(unnamed)".to_string()
            } else {
                format!("{name:?}")
            },
            message: message.into(),
        }
    }
}

/// Checks every output; returns all problems found.
pub fn validate(configs: &[OutputConfig]) -> Result<(), Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut names = HashSet::new();
    for (i, c) in configs.iter().enumerate() {
        let name = c.name();
        let mut err = |m: String| errors.push(ConfigError::new(i, name, m));
        if name.trim().is_empty() {
            err("name must not be empty".into());
        } else if !names.insert(name) {
            err("name is used by an earlier output; names must be unique".into());
        }
        if c.timeout().is_zero() {
            err("timeout must be more than 0s".into());
        }
        if let Some(src) = c.when() {
            if let Err(e) = crate::plan::compile_when(src) {
                err(format!("when: {e}"));
            }
        }
        match c {
            OutputConfig::Github(g) => check_github(g, &mut err),
            OutputConfig::Pagerduty(p) => {
                if p.routing_key.expose().trim().is_empty() {
                    err("routing_key must not be empty".into());
                }
                if let Err(e) = check_url(&p.events_url) {
                    err(format!("events_url {:?}: {e}", p.events_url));
                }
            }
            OutputConfig::Slack(s) => check_slack(s, &mut err),
            OutputConfig::Webhook(w) => {
                if let Err(e) = check_url(w.url.expose()) {
                    err(format!("url (not shown, it is a secret): {e}"));
                }
                if w.secret.as_ref().is_some_and(|s| s.expose().is_empty()) {
                    err("secret must not be empty when set".into());
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn check_github(g: &GithubConfig, err: &mut impl FnMut(String)) {
    if !repository_shape_ok(&g.repository) {
        err(format!(
            "repository {:?} must be \"owner/repo\" (letters, digits, '-', '_', '.')",
            g.repository
        ));
    }
    if let Err(e) = check_url(&g.api_url) {
        err(format!("api_url {:?}: {e}", g.api_url));
    }
    match (&g.token, g.app_id) {
        (Some(_), Some(_)) => err("set either token or app_id (a GitHub App), not both".into()),
        (None, None) => err("set token, or app_id and private_key (a GitHub App)".into()),
        (Some(t), None) => {
            if t.expose().trim().is_empty() {
                err("token must not be empty".into());
            }
            if g.private_key.is_some() || g.installation_id.is_some() {
                err("private_key and installation_id only go with app_id".into());
            }
        }
        (None, Some(_)) => match &g.private_key {
            None => err("app_id needs private_key (the app's PEM key)".into()),
            Some(k) if !k.expose().contains("-----BEGIN") => {
                err("private_key must be PEM text (-----BEGIN ... PRIVATE KEY-----)".into())
            }
            Some(_) => {}
        },
    }
    if g.repeat_interval.is_zero() {
        err("repeat_interval must be more than 0s".into());
    }
    for l in &g.extra_labels {
        if l.trim().is_empty() || l.chars().count() > 50 {
            err(format!("extra label {l:?} must be 1 to 50 characters"));
        }
    }
    if g.webhook_secret
        .as_ref()
        .is_some_and(|s| s.expose().is_empty())
    {
        err("webhook_secret must not be empty when set".into());
    }
}

fn check_slack(s: &SlackConfig, err: &mut impl FnMut(String)) {
    match (&s.webhook_url, &s.bot_token, &s.channel) {
        (Some(url), None, None) => {
            if let Err(e) = check_url(url.expose()) {
                err(format!("webhook_url (not shown, it is a secret): {e}"));
            }
        }
        (None, Some(token), Some(channel)) => {
            if token.expose().trim().is_empty() {
                err("bot_token must not be empty".into());
            }
            if channel.trim().is_empty() {
                err("channel must not be empty".into());
            }
        }
        (None, Some(_), None) => err("bot_token needs channel".into()),
        (None, None, Some(_)) => err("channel needs bot_token".into()),
        (None, None, None) => err("set webhook_url, or bot_token and channel".into()),
        (Some(_), _, _) => err("set either webhook_url or bot_token and channel, not both".into()),
    }
    if let Err(e) = check_url(&s.api_url) {
        err(format!("api_url {:?}: {e}", s.api_url));
    }
    if s.repeat_interval.is_zero() {
        err("repeat_interval must be more than 0s".into());
    }
}

/// `owner/repo` with GitHub's name characters.
pub(crate) fn repository_shape_ok(r: &str) -> bool {
    let ok = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    match r.split_once('/') {
        Some((owner, repo)) => ok(owner) && ok(repo),
        None => false,
    }
}

/// An absolute http(s) URL. The error never repeats the URL (it may be a secret).
pub(crate) fn check_url(u: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(u).map_err(|e| format!("not a valid URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http:// or https:// URL".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("has no host".into());
    }
    Ok(url)
}

fn severity_medium() -> Severity {
    Severity::Medium
}
fn severity_high() -> Severity {
    Severity::High
}
fn severity_low() -> Severity {
    Severity::Low
}
fn severity_info() -> Severity {
    Severity::Info
}
fn ten_seconds() -> Duration {
    Duration::from_secs(10)
}
fn five_hundred() -> usize {
    500
}
fn one_second() -> Duration {
    Duration::from_secs(1)
}
fn one_hour() -> Duration {
    Duration::from_secs(3600)
}
fn one_day() -> Duration {
    Duration::from_secs(24 * 3600)
}
fn daily() -> Option<Duration> {
    Some(one_day())
}
fn github_api() -> String {
    "https://api.github.com".into()
}
fn pagerduty_events() -> String {
    "https://events.pagerduty.com/v2/enqueue".into()
}
fn slack_api() -> String {
    "https://slack.com/api".into()
}

/// A humantime duration string (`"10s"`, `"1h 30m"`): the one way Irene's configuration reads
/// durations (`#[serde(deserialize_with = "duration")]`).
pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(s.trim()).map_err(|e| {
        serde::de::Error::custom(format!("duration {s:?}: {e} (e.g. \"10s\", \"1h\")"))
    })
}

/// A humantime duration string, or `"off"`.
fn optional_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let s = String::deserialize(d)?;
    if s.trim().eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    humantime::parse_duration(s.trim()).map(Some).map_err(|e| {
        serde::de::Error::custom(format!("duration {s:?}: {e} (e.g. \"24h\", or \"off\")"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::{Format, Toml};
    use figment::Figment;

    #[derive(Debug, Deserialize)]
    struct File {
        outputs: Vec<OutputConfig>,
    }

    fn parse(toml: &str) -> Result<Vec<OutputConfig>, String> {
        Figment::from(Toml::string(toml))
            .extract::<File>()
            .map(|f| f.outputs)
            .map_err(|e| e.to_string())
    }

    fn one(toml: &str) -> OutputConfig {
        match parse(toml) {
            Ok(mut v) if v.len() == 1 => v.remove(0),
            other => panic!("expected one output, got {other:?}"),
        }
    }

    #[test]
    fn github_defaults() {
        let OutputConfig::Github(g) = one(r#"[[outputs]]
type = "github"
name = "gh"
repository = "octo/sec"
token = "ghp_supersecret"
"#)
        else {
            panic!("not github")
        };
        assert_eq!(g.min_severity, Severity::Medium);
        assert_eq!(g.timeout, Duration::from_secs(10));
        assert_eq!(g.api_url, "https://api.github.com");
        assert_eq!(g.repeat_interval, Duration::from_secs(3600));
        assert_eq!(g.pace, Duration::from_secs(1));
        assert_eq!(g.remind_after, Duration::from_secs(86400));
        assert!(g.extra_labels.is_empty());
        assert_eq!(
            g.token.as_ref().map(Secret::expose),
            Some("ghp_supersecret")
        );
        let dbg = format!("{g:?}");
        assert!(!dbg.contains("supersecret"), "{dbg}");
        assert!(dbg.contains("***"));
    }

    #[test]
    fn each_kind_with_defaults_and_overrides() {
        let all = parse(
            r#"[[outputs]]
type = "pagerduty"
name = "pd"
routing_key = "R0123456789abcdef0123456789abcde"

[[outputs]]
type = "slack"
name = "sl"
webhook_url = "https://hooks.slack.com/services/T/B/secretpart"

[[outputs]]
type = "slack"
name = "bot"
bot_token = "xoxb-secret"
channel = "C123"
digest_every = "off"
min_severity = "medium"
when = 'case.account == "1"'
timeout = "3s"

[[outputs]]
type = "webhook"
name = "wh"
url = "https://user:pw@example.com/hook"
secret = "s3cr3t"
"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let [OutputConfig::Pagerduty(pd), OutputConfig::Slack(sl), OutputConfig::Slack(bot), OutputConfig::Webhook(wh)] =
            all.as_slice()
        else {
            panic!("kinds: {all:?}")
        };
        assert_eq!(pd.min_severity, Severity::High);
        assert_eq!(pd.events_url, "https://events.pagerduty.com/v2/enqueue");
        assert_eq!(sl.min_severity, Severity::Low);
        assert_eq!(sl.digest_every, Some(Duration::from_secs(86400)));
        assert_eq!(sl.api_url, "https://slack.com/api");
        assert!(!sl.is_bot());
        assert!(bot.is_bot());
        assert_eq!(bot.digest_every, None);
        assert_eq!(bot.min_severity, Severity::Medium);
        assert_eq!(bot.timeout, Duration::from_secs(3));
        assert_eq!(bot.when.as_deref(), Some(r#"case.account == "1""#));
        assert_eq!(wh.min_severity, Severity::Info);
        let dbg = format!("{all:?}");
        for secret in [
            "R0123456789",
            "secretpart",
            "xoxb-secret",
            "user:pw",
            "s3cr3t",
        ] {
            assert!(!dbg.contains(secret), "{secret} leaked in {dbg}");
        }
        assert_eq!(validate(&all), Ok(()));
    }

    #[test]
    fn unknown_fields_and_types_rejected() {
        let cases = [
            (
                "[[outputs]]\ntype = \"github\"\nname = \"gh\"\nrepository = \"o/r\"\ntoken = \"t\"\nlabels = [\"x\"]\n",
                "labels",
            ),
            (
                "[[outputs]]\ntype = \"pagerduty\"\nname = \"pd\"\nrouting_key = \"k\"\nservice = \"x\"\n",
                "service",
            ),
            (
                "[[outputs]]\ntype = \"slack\"\nname = \"s\"\nwebhook_url = \"https://x\"\nchanel = \"C1\"\n",
                "chanel",
            ),
            (
                "[[outputs]]\ntype = \"webhook\"\nname = \"w\"\nurl = \"https://x\"\nsecrets = \"y\"\n",
                "secrets",
            ),
            ("[[outputs]]\ntype = \"email\"\nname = \"e\"\n", "email"),
            (
                "[[outputs]]\ntype = \"github\"\nname = \"gh\"\nrepository = \"o/r\"\ntoken = \"t\"\ntimeout = \"soon\"\n",
                "soon",
            ),
        ];
        for (toml, needle) in cases {
            match parse(toml) {
                Ok(v) => panic!("accepted {toml}: {v:?}"),
                Err(e) => assert!(e.contains(needle), "{needle} not in {e}"),
            }
        }
        // the same through serde_json, the other path a config can come from
        let json =
            serde_json::json!({"type": "webhook", "name": "w", "url": "https://x", "extra": 1});
        assert!(serde_json::from_value::<OutputConfig>(json).is_err());
        let json = serde_json::json!({"type": "webhook", "name": "w", "url": "https://x"});
        assert!(serde_json::from_value::<OutputConfig>(json).is_ok());
    }

    #[test]
    fn secret_prints_stars() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "\"***\"");
        assert_eq!(s.expose(), "hunter2");
    }

    fn gh(name: &str) -> GithubConfig {
        GithubConfig {
            name: name.into(),
            min_severity: Severity::Medium,
            when: None,
            timeout: Duration::from_secs(10),
            repository: "octo/sec".into(),
            token: Some(Secret::new("tok")),
            app_id: None,
            private_key: None,
            installation_id: None,
            api_url: github_api(),
            webhook_secret: None,
            repeat_interval: one_hour(),
            pace: one_second(),
            max_per_hour: 500,
            remind_after: one_day(),
            extra_labels: vec![],
        }
    }

    fn slack(name: &str) -> SlackConfig {
        SlackConfig {
            name: name.into(),
            min_severity: Severity::Low,
            when: None,
            timeout: Duration::from_secs(10),
            webhook_url: Some(Secret::new("https://hooks.example.com/s/secretpath")),
            bot_token: None,
            channel: None,
            api_url: slack_api(),
            repeat_interval: one_hour(),
            digest_every: daily(),
        }
    }

    #[test]
    fn validate_table() {
        type Case = (&'static str, Vec<OutputConfig>, Vec<&'static str>);
        let with = |f: &dyn Fn(&mut GithubConfig)| {
            let mut g = gh("gh");
            f(&mut g);
            OutputConfig::Github(g)
        };
        let with_slack = |f: &dyn Fn(&mut SlackConfig)| {
            let mut s = slack("sl");
            f(&mut s);
            OutputConfig::Slack(s)
        };
        let cases: Vec<Case> = vec![
            ("valid", vec![with(&|_| {})], vec![]),
            (
                "duplicate names",
                vec![
                    OutputConfig::Github(gh("x")),
                    OutputConfig::Slack(slack("x")),
                ],
                vec!["output \"x\" (#2): name is used"],
            ),
            (
                "empty name",
                vec![with(&|g| g.name = " ".into())],
                vec!["name must not be empty"],
            ),
            (
                "bad repository",
                vec![with(&|g| g.repository = "octo".into())],
                vec!["repository \"octo\" must be"],
            ),
            (
                "repository with two slashes",
                vec![with(&|g| g.repository = "a/b/c".into())],
                vec!["must be \"owner/repo\""],
            ),
            (
                "token and app",
                vec![with(&|g| g.app_id = Some(1))],
                vec!["not both"],
            ),
            (
                "neither token nor app",
                vec![with(&|g| g.token = None)],
                vec!["set token, or app_id"],
            ),
            (
                "app without key",
                vec![with(&|g| {
                    g.token = None;
                    g.app_id = Some(1)
                })],
                vec!["app_id needs private_key"],
            ),
            (
                "app key not PEM",
                vec![with(&|g| {
                    g.token = None;
                    g.app_id = Some(1);
                    g.private_key = Some(Secret::new("nope"))
                })],
                vec!["must be PEM"],
            ),
            (
                "key without app",
                vec![with(&|g| g.private_key = Some(Secret::new("-----BEGIN x")))],
                vec!["only go with app_id"],
            ),
            (
                "bad when",
                vec![with(&|g| g.when = Some("case.account ==".into()))],
                vec!["output \"gh\" (#1): when:"],
            ),
            (
                "bad api url",
                vec![with(&|g| g.api_url = "ftp://x".into())],
                vec!["api_url \"ftp://x\": must be an http"],
            ),
            (
                "long extra label",
                vec![with(&|g| g.extra_labels = vec!["x".repeat(51)])],
                vec!["1 to 50 characters"],
            ),
            (
                "zero timeout",
                vec![with(&|g| g.timeout = Duration::ZERO)],
                vec!["timeout must be"],
            ),
            (
                "slack both modes",
                vec![with_slack(&|s| {
                    s.bot_token = Some(Secret::new("xoxb"));
                    s.channel = Some("C1".into())
                })],
                vec!["not both"],
            ),
            (
                "slack bot without channel",
                vec![with_slack(&|s| {
                    s.webhook_url = None;
                    s.bot_token = Some(Secret::new("xoxb"))
                })],
                vec!["bot_token needs channel"],
            ),
            (
                "slack nothing",
                vec![with_slack(&|s| s.webhook_url = None)],
                vec!["set webhook_url, or bot_token"],
            ),
            (
                "slack bad webhook url is not echoed",
                vec![with_slack(&|s| {
                    s.webhook_url = Some(Secret::new("not a url secretpath"))
                })],
                vec!["webhook_url (not shown"],
            ),
            (
                "webhook bad url",
                vec![OutputConfig::Webhook(WebhookConfig {
                    name: "wh".into(),
                    min_severity: Severity::Info,
                    when: None,
                    timeout: ten_seconds(),
                    url: Secret::new("mailto:secretpath@example.com"),
                    secret: None,
                })],
                vec!["url (not shown, it is a secret): must be an http"],
            ),
            (
                "pagerduty bad url",
                vec![OutputConfig::Pagerduty(PagerDutyConfig {
                    name: "pd".into(),
                    min_severity: Severity::High,
                    when: None,
                    timeout: ten_seconds(),
                    routing_key: Secret::new("k"),
                    events_url: "nope".into(),
                })],
                vec!["events_url \"nope\": not a valid URL"],
            ),
        ];
        for (what, configs, want) in cases {
            let got = match validate(&configs) {
                Ok(()) => vec![],
                Err(errors) => errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
            };
            assert_eq!(got.len(), want.len(), "{what}: {got:?}");
            for (g, w) in got.iter().zip(&want) {
                assert!(g.contains(w), "{what}: {g:?} lacks {w:?}");
                assert!(!g.contains("secretpath"), "{what}: secret in {g:?}");
            }
        }
    }
}

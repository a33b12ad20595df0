//! Output configuration as the binary reads it from `[[outputs]]`: the settings every kind
//! shares, an entry's shape, redacted secrets and `validate`. No kind's own settings, no clients.

use crate::kind::OutputKind;
use crate::OutputConfig;
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

/// The settings every `[[outputs]]` entry has, whatever its kind.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputCommon {
    /// Unique among the outputs; deliveries and tickets name their output by it.
    pub name: String,
    /// Cases below it are not delivered; absent in the file: the kind's default (GitHub
    /// medium, PagerDuty high, Slack low, webhook info).
    pub min_severity: Severity,
    /// A CEL condition over `case`; absent: every case at or above `min_severity`.
    pub when: Option<String>,
    /// Of each HTTP request.
    pub timeout: Duration,
}

/// One `[[outputs]]` entry of kind `K`: the shared settings and the kind's own. Unknown
/// fields are rejected, naming the field.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry<K> {
    pub common: OutputCommon,
    pub kind: K,
}

impl<'de, K: OutputKind + Deserialize<'de>> Deserialize<'de> for Entry<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// An entry as written (a missing `Option` is `None`). `deny_unknown_fields` with
        /// `flatten` still rejects what neither part takes (serde checks the leftovers).
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Written<K> {
            name: String,
            min_severity: Option<Severity>,
            when: Option<String>,
            #[serde(default = "ten_seconds", deserialize_with = "duration")]
            timeout: Duration,
            #[serde(flatten)]
            kind: K,
        }
        let w = Written::<K>::deserialize(d)?;
        Ok(Entry {
            common: OutputCommon {
                name: w.name,
                min_severity: w.min_severity.unwrap_or_else(K::default_min_severity),
                when: w.when,
                timeout: w.timeout,
            },
            kind: w.kind,
        })
    }
}

impl OutputConfig {
    /// The settings every kind shares.
    pub fn common(&self) -> &OutputCommon {
        self.parts().0
    }

    pub fn name(&self) -> &str {
        &self.common().name
    }

    /// For a GitHub output: its repository and inbound webhook secret (the binary routes
    /// inbound issue webhooks by repository). `None` for other kinds.
    pub fn github_inbound(&self) -> Option<(&str, Option<&Secret>)> {
        match self {
            OutputConfig::Github(c) => Some((&c.kind.repository, c.kind.webhook_secret.as_ref())),
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
        let (common, kind) = c.parts();
        let name = common.name.as_str();
        let mut err = |m: String| errors.push(ConfigError::new(i, name, m));
        if name.trim().is_empty() {
            err("name must not be empty".into());
        } else if !names.insert(name) {
            err("name is used by an earlier output; names must be unique".into());
        }
        if common.timeout.is_zero() {
            err("timeout must be more than 0s".into());
        }
        if let Some(src) = &common.when {
            if let Err(e) = irene_rules::cel_env::compile(src) {
                err(format!("when: {e}"));
            }
        }
        kind.check(&mut err);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
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

pub(crate) fn ten_seconds() -> Duration {
    Duration::from_secs(10)
}
pub(crate) fn one_hour() -> Duration {
    Duration::from_secs(3600)
}
pub(crate) fn one_day() -> Duration {
    Duration::from_secs(24 * 3600)
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
pub(crate) fn optional_duration<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
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
    use crate::{GithubConfig, PagerDutyConfig, SlackConfig, WebhookConfig};
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
        assert_eq!(g.common.min_severity, Severity::Medium);
        assert_eq!(g.common.timeout, Duration::from_secs(10));
        assert_eq!(g.kind.api_url, "https://api.github.com");
        assert_eq!(g.kind.repeat_interval, Duration::from_secs(3600));
        assert_eq!(g.kind.pace, Duration::from_secs(1));
        assert_eq!(g.kind.remind_after, Duration::from_secs(86400));
        assert!(g.kind.extra_labels.is_empty());
        assert_eq!(
            g.kind.token.as_ref().map(Secret::expose),
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
        assert_eq!(pd.common.min_severity, Severity::High);
        assert_eq!(
            pd.kind.events_url,
            "https://events.pagerduty.com/v2/enqueue"
        );
        assert_eq!(sl.common.min_severity, Severity::Low);
        assert_eq!(sl.kind.digest_every, Some(Duration::from_secs(86400)));
        assert_eq!(sl.kind.api_url, "https://slack.com/api");
        assert!(!sl.kind.is_bot());
        assert!(bot.kind.is_bot());
        assert_eq!(bot.kind.digest_every, None);
        assert_eq!(bot.common.min_severity, Severity::Medium);
        assert_eq!(bot.common.timeout, Duration::from_secs(3));
        assert_eq!(bot.common.when.as_deref(), Some(r#"case.account == "1""#));
        assert_eq!(wh.common.min_severity, Severity::Info);
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

    fn entry<K: OutputKind + serde::de::DeserializeOwned>(v: serde_json::Value) -> Entry<K> {
        serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}"))
    }

    fn gh(name: &str) -> Entry<GithubConfig> {
        entry(serde_json::json!({"name": name, "repository": "octo/sec", "token": "tok"}))
    }

    fn slack(name: &str) -> Entry<SlackConfig> {
        entry(
            serde_json::json!({"name": name, "webhook_url": "https://hooks.example.com/s/secretpath"}),
        )
    }

    #[test]
    fn validate_table() {
        type Case = (&'static str, Vec<OutputConfig>, Vec<&'static str>);
        let with = |f: &dyn Fn(&mut Entry<GithubConfig>)| {
            let mut g = gh("gh");
            f(&mut g);
            OutputConfig::Github(g)
        };
        let with_slack = |f: &dyn Fn(&mut Entry<SlackConfig>)| {
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
                vec![with(&|g| g.common.name = " ".into())],
                vec!["name must not be empty"],
            ),
            (
                "bad repository",
                vec![with(&|g| g.kind.repository = "octo".into())],
                vec!["repository \"octo\" must be"],
            ),
            (
                "repository with two slashes",
                vec![with(&|g| g.kind.repository = "a/b/c".into())],
                vec!["must be \"owner/repo\""],
            ),
            (
                "token and app",
                vec![with(&|g| g.kind.app_id = Some(1))],
                vec!["not both"],
            ),
            (
                "neither token nor app",
                vec![with(&|g| g.kind.token = None)],
                vec!["set token, or app_id"],
            ),
            (
                "app without key",
                vec![with(&|g| {
                    g.kind.token = None;
                    g.kind.app_id = Some(1)
                })],
                vec!["app_id needs private_key"],
            ),
            (
                "app key not PEM",
                vec![with(&|g| {
                    g.kind.token = None;
                    g.kind.app_id = Some(1);
                    g.kind.private_key = Some(Secret::new("nope"))
                })],
                vec!["must be PEM"],
            ),
            (
                "key without app",
                vec![with(&|g| {
                    g.kind.private_key = Some(Secret::new("-----BEGIN x"))
                })],
                vec!["only go with app_id"],
            ),
            (
                "bad when",
                vec![with(&|g| g.common.when = Some("case.account ==".into()))],
                vec!["output \"gh\" (#1): when:"],
            ),
            (
                "bad api url",
                vec![with(&|g| g.kind.api_url = "ftp://x".into())],
                vec!["api_url \"ftp://x\": must be an http"],
            ),
            (
                "long extra label",
                vec![with(&|g| g.kind.extra_labels = vec!["x".repeat(51)])],
                vec!["1 to 50 characters"],
            ),
            (
                "zero timeout",
                vec![with(&|g| g.common.timeout = Duration::ZERO)],
                vec!["timeout must be"],
            ),
            (
                "slack both modes",
                vec![with_slack(&|s| {
                    s.kind.bot_token = Some(Secret::new("xoxb"));
                    s.kind.channel = Some("C1".into())
                })],
                vec!["not both"],
            ),
            (
                "slack bot without channel",
                vec![with_slack(&|s| {
                    s.kind.webhook_url = None;
                    s.kind.bot_token = Some(Secret::new("xoxb"))
                })],
                vec!["bot_token needs channel"],
            ),
            (
                "slack nothing",
                vec![with_slack(&|s| s.kind.webhook_url = None)],
                vec!["set webhook_url, or bot_token"],
            ),
            (
                "slack bad webhook url is not echoed",
                vec![with_slack(&|s| {
                    s.kind.webhook_url = Some(Secret::new("not a url secretpath"))
                })],
                vec!["webhook_url (not shown"],
            ),
            (
                "webhook bad url",
                vec![OutputConfig::Webhook(entry::<WebhookConfig>(
                    serde_json::json!({"name": "wh", "url": "mailto:secretpath@example.com"}),
                ))],
                vec!["url (not shown, it is a secret): must be an http"],
            ),
            (
                "pagerduty bad url",
                vec![OutputConfig::Pagerduty(entry::<PagerDutyConfig>(
                    serde_json::json!({"name": "pd", "routing_key": "k", "events_url": "nope"}),
                ))],
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

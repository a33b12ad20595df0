//! Irene's configuration: a TOML file with `${ENV_VAR}` references, `IRENE_*` variables and
//! command-line flags, in rising order of precedence. Secrets stay out of `Debug` and logs.

use anyhow::{bail, Context};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use irene_outputs::config::duration;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// A PostgreSQL database (`postgres://user:password@host/db`) shared by any number of
    /// instances; absent: the embedded SQLite store in `data_dir`. A secret (it may hold a
    /// password): never logged.
    #[serde(default, skip_serializing)]
    pub database_url: Option<String>,
    /// How Irene is reached by people (links in tickets). Defaults to `http://{listen}`.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Triage rule files or folders, read in order (folders: `.yaml`/`.yml` by name).
    #[serde(default)]
    pub triage: Vec<PathBuf>,
    /// Sigma rule files or folders (searched recursively for `.yml`/`.yaml`).
    #[serde(default)]
    pub sigma: Vec<PathBuf>,
    #[serde(default)]
    pub intake: IntakeConfig,
    #[serde(default)]
    pub pipeline: PipelineConfig,
    #[serde(default)]
    pub tokens: Vec<TokenConfig>,
    /// Per-source expiry of silent open cases (`"30d"`, `"12h"`); `"0"` or absent: never.
    #[serde(default = "default_expiry")]
    pub expiry: BTreeMap<String, String>,
    /// Where cases are delivered (`[[outputs]]`). None: case changes are only recorded and logged.
    #[serde(default, skip_serializing)]
    pub outputs: Vec<irene_outputs::OutputConfig>,
    #[serde(default)]
    pub delivery: DeliveryConfig,
    #[serde(default)]
    pub events: EventsConfig,
    /// Threat-intel feeds the reputation investigators match against (`[[feeds]]`). None: no
    /// feed is downloaded (Irene calls out to no list unless told to).
    #[serde(default, skip_serializing)]
    pub feeds: Vec<FeedConfig>,
    #[serde(default)]
    pub investigate: InvestigateConfig,
    /// When investigations run (`[[investigations]]`). None: every available investigator on
    /// cases of medium and above, when they open or reopen.
    #[serde(default, skip_serializing)]
    pub investigations: Vec<crate::investigation_policy::PolicyConfig>,
    /// MaxMind databases for the `geoip` investigator (and ASN lists in `reputation`).
    #[serde(default)]
    pub geoip: GeoIpConfig,
    /// Web pages watched for tampering (`[[watch]]`).
    #[serde(default, skip_serializing)]
    pub watch: Vec<WatchConfig>,
    /// Settings documents: reloads, silences, template files (`[settings]`).
    #[serde(default)]
    pub settings: SettingsConfig,
    /// The config file this was read from (authors of the documents read from it).
    #[serde(skip)]
    pub source: Option<PathBuf>,
    /// Reputation APIs the `reputation` investigator asks (`[reputation.abuseipdb]`,
    /// `.virustotal`, `.greynoise`, `.otx`). None: only the feeds are used.
    #[serde(default, skip_serializing)]
    pub reputation: irene_intel::ReputationConfig,
    /// The exposure probes (`[probe]`): on by default; see [`ProbeSettings`].
    #[serde(default)]
    pub probe: ProbeSettings,
    /// Capability links to attachments (`/files/{token}`): their secret and lifetime.
    #[serde(default, skip_serializing)]
    pub files: FilesConfig,
    /// Headless Chromium for screenshots (`[browser]`).
    #[serde(default, skip_serializing)]
    pub browser: irene_browser::BrowserConfig,
    /// What sits behind an open security group or firewall (`[cloud.aws]`, `[cloud.gcp]`);
    /// both off by default: `exposure` then probes the alert's own addresses.
    #[serde(default, skip_serializing)]
    pub cloud: irene_cloud::CloudConfig,
    /// The web console's sessions (`[console]`).
    #[serde(default)]
    pub console: ConsoleConfig,
    /// S3 -> SQS intakes (`[[sqs]]`): queues of S3 notifications (bare, through SNS or
    /// EventBridge, or CloudTrail's own) whose objects are read, or of events taken as they are.
    /// `max_object_bytes` defaults to `[intake] max_body_bytes`.
    #[serde(default, skip_serializing)]
    pub sqs: Vec<irene_sqs::SqsConfig>,
}

/// `[console]`: how long a console session lasts: `session_idle` without a request, and
/// `session_max` at most, however active.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    #[serde(deserialize_with = "duration")]
    pub session_idle: Duration,
    #[serde(deserialize_with = "duration")]
    pub session_max: Duration,
    /// `[console.oidc]`: sign-in with an OpenID Connect issuer, beside local accounts.
    #[serde(skip_serializing)]
    pub oidc: Option<OidcConfig>,
}

/// `[console.oidc]`: an OpenID Connect issuer people sign in with (authorization code + PKCE).
/// Who may sign in is `allowed_emails` and `allowed_domains` (at least one is required); their
/// role comes from their groups (`roles`, group → role), else `default_role`, else they are refused.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The issuer's URL (`iss`); its discovery document is `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    /// Never logged or shown.
    pub client_secret: irene_outputs::Secret,
    /// Where the issuer sends the browser back; default `{public_url}/signin/oidc/callback`.
    #[serde(default)]
    pub redirect_url: Option<String>,
    #[serde(default)]
    pub allowed_emails: Vec<String>,
    /// Whole domains (`example.com`): every verified address `…@example.com`.
    #[serde(default)]
    pub allowed_domains: Vec<String>,
    /// The ID token claim that lists the user's groups.
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// Group → role (`viewer`, `responder`, `admin`); a user in several gets the largest.
    #[serde(default)]
    pub roles: BTreeMap<String, String>,
    /// The role of an allowed user in no mapped group; none: such a user is refused.
    #[serde(default)]
    pub default_role: Option<String>,
}

fn default_groups_claim() -> String {
    "groups".to_string()
}

impl OidcConfig {
    /// Checks what can be checked before any sign-in: an http(s) issuer, an allow-list, roles
    /// that exist.
    pub fn validate(&self) -> anyhow::Result<()> {
        let is_http = |u: &str| u.starts_with("https://") || u.starts_with("http://");
        if !is_http(&self.issuer) {
            bail!("[console.oidc] issuer must be an http(s) URL");
        }
        if self.client_id.is_empty() {
            bail!("[console.oidc] client_id must be set");
        }
        if self.redirect_url.as_deref().is_some_and(|u| !is_http(u)) {
            bail!("[console.oidc] redirect_url must be an http(s) URL");
        }
        if self.allowed_emails.is_empty() && self.allowed_domains.is_empty() {
            bail!(
                "[console.oidc] set allowed_emails or allowed_domains (or both): \
                 without them anyone with an account at the issuer could sign in"
            );
        }
        const ROLES: [&str; 3] = ["viewer", "responder", "admin"];
        for (group, role) in self.roles.iter() {
            if !ROLES.contains(&role.as_str()) {
                bail!("[console.oidc] roles: {group:?} maps to {role:?}, not viewer, responder or admin");
            }
        }
        if let Some(role) = self.default_role.as_deref().filter(|r| !ROLES.contains(r)) {
            bail!("[console.oidc] default_role {role:?} is not viewer, responder or admin");
        }
        Ok(())
    }
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            session_idle: Duration::from_secs(8 * 3600),
            session_max: Duration::from_secs(7 * 24 * 3600),
            oidc: None,
        }
    }
}

/// `[probe]`: how the `exposure` investigator touches targets. Enabled by default: it only
/// ever probes the addresses and ports an alert (or the cloud lookup for it) names, and the
/// policy refuses every address that is not public unless `allow` opens it. Precedence:
/// `deny` beats `allow` beats the built-in deny ranges (the cloud metadata addresses open only
/// to an `allow` entry naming exactly them).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProbeSettings {
    pub enabled: bool,
    #[serde(deserialize_with = "duration")]
    pub connect_timeout: Duration,
    /// How long to wait for a service's first bytes.
    #[serde(deserialize_with = "duration")]
    pub banner_wait: Duration,
    pub banner_bytes: usize,
    /// One HTTP request (each redirect hop).
    #[serde(deserialize_with = "duration")]
    pub http_timeout: Duration,
    pub body_bytes: usize,
    pub max_redirects: usize,
    pub ports_per_target: usize,
    pub targets_per_alert: usize,
    /// Probes (connections) at once.
    pub concurrency: usize,
    /// All the probes of one alert; below `[investigate] timeout`.
    #[serde(deserialize_with = "duration")]
    pub total_time: Duration,
    /// CIDRs or addresses probed despite the built-in deny ranges (`["127.0.0.0/8"]` in tests).
    pub allow: Vec<String>,
    /// CIDRs or addresses never probed.
    pub deny: Vec<String>,
    /// Screenshots of the pages that answered, in headless Chromium (`[browser]`).
    pub screenshots: bool,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        let d = irene_probe::ProbeConfig::default();
        ProbeSettings {
            enabled: true,
            connect_timeout: Duration::from_millis(d.connect_timeout_ms),
            banner_wait: Duration::from_millis(d.banner_wait_ms),
            banner_bytes: d.banner_bytes,
            http_timeout: Duration::from_millis(d.http_timeout_ms),
            body_bytes: d.body_bytes,
            max_redirects: d.max_redirects,
            ports_per_target: d.ports_per_target,
            targets_per_alert: d.targets_per_alert,
            concurrency: d.concurrency,
            total_time: Duration::from_secs(d.total_secs),
            allow: d.allow,
            deny: d.deny,
            screenshots: true,
        }
    }
}

impl ProbeSettings {
    /// The prober's own config.
    pub fn probe_config(&self) -> irene_probe::ProbeConfig {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        irene_probe::ProbeConfig {
            connect_timeout_ms: ms(self.connect_timeout),
            banner_wait_ms: ms(self.banner_wait),
            banner_bytes: self.banner_bytes,
            http_timeout_ms: ms(self.http_timeout),
            body_bytes: self.body_bytes,
            max_redirects: self.max_redirects,
            ports_per_target: self.ports_per_target,
            targets_per_alert: self.targets_per_alert,
            concurrency: self.concurrency,
            total_secs: self.total_time.as_secs().max(1),
            allow: self.allow.clone(),
            deny: self.deny.clone(),
        }
    }

    /// The prober, when enabled (its CIDRs and caps checked).
    pub fn build(&self) -> anyhow::Result<Option<irene_probe::Probe>> {
        if !self.enabled {
            return Ok(None);
        }
        Ok(Some(irene_probe::Probe::new(self.probe_config())?))
    }
}

/// `[settings]`: how settings documents are reloaded, how long silences may last, and a
/// folder of message templates read at start.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SettingsConfig {
    /// How often a running Irene looks for settings applied by another process.
    #[serde(deserialize_with = "duration")]
    pub poll: Duration,
    /// The longest a silence may last.
    #[serde(deserialize_with = "duration")]
    pub max_silence: Duration,
    /// A folder of message templates (`github_title.j2`, …) read at start like rule files.
    pub templates: Option<PathBuf>,
    /// A folder of runbooks (`*.md` with a front matter naming the alert types they are for),
    /// read at start like rule files.
    pub runbooks: Option<PathBuf>,
}

impl Default for SettingsConfig {
    fn default() -> Self {
        SettingsConfig {
            poll: Duration::from_secs(5),
            max_silence: Duration::from_secs(30 * 24 * 3600),
            templates: None,
            runbooks: None,
        }
    }
}

/// One `[[watch]]` page: fetched every `every`, compared with its baseline; a change beyond
/// the thresholds raises an `irene.tamper` alert, and the page back to its baseline resolves it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchConfig {
    pub name: String,
    pub url: String,
    #[serde(default = "minutes_15", deserialize_with = "duration")]
    pub every: Duration,
    /// CSS selector of the part whose text is watched (default: the whole body).
    #[serde(default)]
    pub selector: Option<String>,
    /// CSS selectors of parts left out (clocks, tokens).
    #[serde(default)]
    pub ignore: Vec<String>,
    /// Words of the watched text that may change before it counts.
    #[serde(default)]
    pub text_threshold: usize,
    /// The alert's severity (triage rules may still decide).
    #[serde(default = "high")]
    pub severity: irene_core::Severity,
    /// Larger pages are refused.
    #[serde(default = "default_page_max_bytes")]
    pub max_bytes: usize,
}

fn minutes_15() -> Duration {
    Duration::from_secs(900)
}
fn high() -> irene_core::Severity {
    irene_core::Severity::High
}
fn default_page_max_bytes() -> usize {
    5 << 20
}

impl WatchConfig {
    /// What the pure comparison needs.
    pub fn spec(&self) -> irene_tamper::WatchSpec {
        irene_tamper::WatchSpec {
            selector: self.selector.clone(),
            ignore: self.ignore.clone(),
            text_threshold: self.text_threshold,
        }
    }
}

/// `[files]`: the secret that signs `/files/{token}` links (usually `${ENV_VAR}`; absent: a
/// random one made on first start and kept in the data directory, mode 0600) and how long a
/// link works (`expire`, default 30 days).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesConfig {
    #[serde(default)]
    pub secret: Option<irene_outputs::Secret>,
    #[serde(default = "days_30", deserialize_with = "duration")]
    pub expire: Duration,
}

impl Default for FilesConfig {
    fn default() -> Self {
        FilesConfig {
            secret: None,
            expire: days_30(),
        }
    }
}

impl std::fmt::Debug for FilesConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilesConfig")
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("expire", &self.expire)
            .finish()
    }
}

/// `[geoip]`: paths of MaxMind mmdb files (GeoLite2-City or -Country, GeoLite2-ASN). Either
/// may be absent; with neither, `geoip` is not available.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoIpConfig {
    #[serde(default)]
    pub city: Option<PathBuf>,
    #[serde(default)]
    pub asn: Option<PathBuf>,
}

impl GeoIpConfig {
    /// Reads and opens the configured databases; `None` when none is configured.
    pub fn load(&self) -> anyhow::Result<Option<irene_investigate::GeoDb>> {
        if self.city.is_none() && self.asn.is_none() {
            return Ok(None);
        }
        let read = |p: &Option<PathBuf>, what: &str| -> anyhow::Result<Option<Vec<u8>>> {
            p.as_ref()
                .map(|p| {
                    std::fs::read(p)
                        .with_context(|| format!("[geoip] {what}: cannot read {}", p.display()))
                })
                .transpose()
        };
        let db = irene_investigate::GeoDb::from_bytes(
            read(&self.city, "city")?,
            read(&self.asn, "asn")?,
        )
        .map_err(|e| anyhow::anyhow!("[geoip]: {e}"))?;
        Ok(Some(db))
    }
}

/// One `[[feeds]]` entry. A built-in name (`tor`, `spamhaus_drop`, `spamhaus_asndrop`,
/// `feodo`, `firehol_level1`) needs nothing else; any other needs `url` and `format`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    pub name: String,
    #[serde(default)]
    pub url: Option<String>,
    /// `ip-lines`, `cidr-lines`, `csv:COLUMN` (a header name or a 0-based index), `jsonl:FIELD`.
    #[serde(default)]
    pub format: Option<String>,
    /// How often to download it (`"1h"`); the built-in feeds have their own default, others 1h.
    #[serde(default)]
    pub every: Option<String>,
    /// Larger downloads are refused (the last good copy stays).
    #[serde(default = "default_feed_max_bytes")]
    pub max_bytes: usize,
}

fn default_feed_max_bytes() -> usize {
    50 << 20
}

impl FeedConfig {
    /// The feed's definition: the built-in one completed or overridden by what is set.
    pub fn definition(&self) -> anyhow::Result<irene_investigate::FeedDef> {
        let builtin = irene_investigate::feeds::builtin_feeds()
            .into_iter()
            .find(|f| f.name == self.name);
        let url = match (&self.url, &builtin) {
            (Some(u), _) => u.clone(),
            (None, Some(b)) => b.url.clone(),
            (None, None) => bail!(
                "feed {:?}: url is required (it is not a built-in feed)",
                self.name
            ),
        };
        let parsed = reqwest::Url::parse(&url)
            .with_context(|| format!("feed {:?}: url is not a valid URL", self.name))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            bail!("feed {:?}: url must be http:// or https://", self.name);
        }
        let format = match (&self.format, &builtin) {
            (Some(f), _) => f
                .parse()
                .map_err(|e| anyhow::anyhow!("feed {:?}: {e}", self.name))?,
            (None, Some(b)) => b.format.clone(),
            (None, None) => bail!(
                "feed {:?}: format is required (ip-lines, cidr-lines, csv:COLUMN or jsonl:FIELD)",
                self.name
            ),
        };
        let every = match (&self.every, &builtin) {
            (Some(e), _) => humantime::parse_duration(e)
                .with_context(|| format!("feed {:?}: every {e:?} is not a duration", self.name))?,
            (None, Some(b)) => b.every,
            (None, None) => Duration::from_secs(3600),
        };
        if every.is_zero() {
            bail!("feed {:?}: every must be more than 0s", self.name);
        }
        Ok(irene_investigate::FeedDef {
            name: self.name.clone(),
            url,
            format,
            every,
        })
    }
}

/// Investigations (`[investigate]`): whether cases of severity medium or above are investigated
/// when they open or reopen, and how the worker runs the investigators.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvestigateConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// How long one investigator may run (then: failed, "timed out after …").
    #[serde(default = "seconds_30", deserialize_with = "duration")]
    pub timeout: Duration,
    /// Investigations run at once.
    #[serde(default = "four")]
    pub concurrency: usize,
    /// How long a claim holds before a job runs again (a crashed worker).
    #[serde(default = "minutes_2", deserialize_with = "duration")]
    pub lease: Duration,
}

impl Default for InvestigateConfig {
    fn default() -> Self {
        InvestigateConfig {
            enabled: true,
            timeout: seconds_30(),
            concurrency: four(),
            lease: minutes_2(),
        }
    }
}

fn yes() -> bool {
    true
}
fn four() -> usize {
    4
}
fn seconds_30() -> Duration {
    Duration::from_secs(30)
}
fn minutes_2() -> Duration {
    Duration::from_secs(120)
}

/// Audit-log events (`[events]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    /// How long events are kept (raw included), counted from when they were received.
    #[serde(default = "days_30", deserialize_with = "duration")]
    pub retention: Duration,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            retention: days_30(),
        }
    }
}

/// How the delivery worker retries (`[delivery]`). Durations are written like `"2s"`, `"5m"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Deliveries claimed at once (they run in parallel across cases and outputs).
    #[serde(default = "default_delivery_batch")]
    pub batch: usize,
    /// How long a claim holds before a delivery is tried again (a crashed worker).
    #[serde(default = "default_delivery_lease")]
    pub lease_secs: u64,
    /// Attempts before a delivery that keeps failing goes to the dead letters.
    #[serde(default = "default_delivery_attempts")]
    pub max_attempts: u32,
    /// First retry delay; it doubles per attempt (with jitter) up to `backoff_max`.
    #[serde(default = "seconds_2", deserialize_with = "duration")]
    pub backoff_base: Duration,
    #[serde(default = "minutes_5", deserialize_with = "duration")]
    pub backoff_max: Duration,
    /// How often the batch jobs (digest, reminders) look for work.
    #[serde(default = "seconds_60", deserialize_with = "duration")]
    pub jobs_every: Duration,
    /// How long sent deliveries stay listed (`GET /api/v1/deliveries?state=done`).
    #[serde(default = "days_30", deserialize_with = "duration")]
    pub keep_done: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            batch: default_delivery_batch(),
            lease_secs: default_delivery_lease(),
            max_attempts: default_delivery_attempts(),
            backoff_base: seconds_2(),
            backoff_max: minutes_5(),
            jobs_every: seconds_60(),
            keep_done: days_30(),
        }
    }
}

fn default_delivery_batch() -> usize {
    64
}
fn default_delivery_lease() -> u64 {
    120
}
fn default_delivery_attempts() -> u32 {
    25
}
fn seconds_2() -> Duration {
    Duration::from_secs(2)
}
fn minutes_5() -> Duration {
    Duration::from_secs(300)
}
fn seconds_60() -> Duration {
    Duration::from_secs(60)
}
fn days_30() -> Duration {
    Duration::from_secs(30 * 86_400)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeConfig {
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    #[serde(default = "default_max_depth")]
    pub max_depth: usize,
    /// `[intake.sns]`: `POST /api/v1/ingest/{source}/sns`, off until `topics` names one.
    #[serde(default)]
    pub sns: irene_push::SnsConfig,
    /// `[intake.pubsub]`: `POST /api/v1/ingest/{source}/pubsub`, off until `audience` is set.
    #[serde(default)]
    pub pubsub: irene_push::PubsubConfig,
}

impl Default for IntakeConfig {
    fn default() -> Self {
        IntakeConfig {
            max_body_bytes: default_max_body(),
            max_depth: default_max_depth(),
            sns: irene_push::SnsConfig::default(),
            pubsub: irene_push::PubsubConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Inbox payloads claimed and committed together.
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// How long a claim holds before another worker may take the payload again.
    #[serde(default = "default_lease_secs")]
    pub lease_secs: u64,
    /// A payload that failed this many times goes to quarantine whole.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: i64,
    /// Items (alerts, records) one claim takes at most, so one transaction stays short and
    /// the intake never waits long for the writer.
    #[serde(default = "default_max_items")]
    pub max_items: i64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            batch: default_batch(),
            lease_secs: default_lease_secs(),
            max_attempts: default_max_attempts(),
            max_items: default_max_items(),
        }
    }
}

/// An API token: the secret itself (usually `${ENV_VAR}`) or its SHA-256 in hex.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenConfig")
            .field("name", &self.name)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("sha256", &self.sha256.as_ref().map(|_| "<redacted>"))
            .field("scopes", &self.scopes)
            .finish()
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_ref().map(|_| "<redacted>"),
            )
            .field("public_url", &self.public_url)
            .field("triage", &self.triage)
            .field("sigma", &self.sigma)
            .field("intake", &self.intake)
            .field("pipeline", &self.pipeline)
            .field("tokens", &self.tokens)
            .field("expiry", &self.expiry)
            .field("outputs", &self.outputs)
            .field("delivery", &self.delivery)
            .field("events", &self.events)
            .field("investigate", &self.investigate)
            .field("investigations", &self.investigations)
            .field("geoip", &self.geoip)
            .field("watch", &self.watch)
            .field("reputation", &self.reputation)
            .field("probe", &self.probe)
            .field("files", &self.files)
            .field("browser", &self.browser)
            .field("cloud", &self.cloud)
            .field("console", &self.console)
            .finish()
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("./irene-data")
}
fn default_max_body() -> usize {
    10 * 1024 * 1024
}
fn default_max_depth() -> usize {
    64
}
fn default_batch() -> usize {
    256
}
fn default_lease_secs() -> u64 {
    60
}
fn default_max_attempts() -> i64 {
    5
}
fn default_max_items() -> i64 {
    5000
}
/// GuardDuty re-reports active findings at least every 6 hours and Falco fires on every
/// occurrence, so a long silence means the problem stopped. Sources that only report changes
/// (Config, SCC, Security Hub) never expire by default.
fn default_expiry() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("aws.guardduty".to_string(), "30d".to_string()),
        ("falco".to_string(), "7d".to_string()),
    ])
}

/// Command-line overrides (flags beat the file and the environment).
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub triage: Vec<PathBuf>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sigma: Vec<PathBuf>,
}

impl Config {
    /// Loads defaults ← file (with `${VAR}` expanded) ← `IRENE_*` ← flags.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Config> {
        let mut fig = Figment::new();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading config {}", path.display()))?;
            let expanded = expand_env(&text, |k| std::env::var(k).ok())
                .with_context(|| format!("in config {}", path.display()))?;
            fig = fig.merge(Toml::string(&expanded));
        }
        fig = fig
            .merge(
                Env::raw()
                    .only(&[
                        "IRENE_LISTEN",
                        "IRENE_DATA_DIR",
                        "IRENE_DATABASE_URL",
                        "IRENE_PUBLIC_URL",
                    ])
                    .map(|k| {
                        k.as_str()
                            .trim_start_matches("IRENE_")
                            .to_ascii_lowercase()
                            .into()
                    }),
            )
            .merge(Serialized::defaults(overrides));
        let mut cfg: Config = fig
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        cfg.source = file.map(Path::to_path_buf);
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> anyhow::Result<()> {
        for t in &self.tokens {
            if t.token.is_none() == t.sha256.is_none() {
                bail!(
                    "token {:?}: give exactly one of `token` or `sha256`",
                    t.name
                );
            }
            for s in &t.scopes {
                if !matches!(s.as_str(), "ingest" | "read" | "admin") {
                    bail!(
                        "token {:?}: unknown scope {s:?} (ingest, read, admin)",
                        t.name
                    );
                }
            }
        }
        for (source, d) in &self.expiry {
            parse_expiry(d).with_context(|| format!("expiry of {source:?}"))?;
        }
        if self.delivery.max_attempts == 0 {
            bail!("[delivery] max_attempts must be at least 1");
        }
        if let Err(errors) = irene_outputs::validate(&self.outputs) {
            let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
            bail!("invalid [[outputs]]:\n{}", lines.join("\n"));
        }
        if self.console.session_idle.is_zero()
            || self.console.session_max < self.console.session_idle
        {
            bail!("[console] session_idle must be more than 0 and at most session_max");
        }
        if let Some(oidc) = &self.console.oidc {
            oidc.validate()?;
        }
        self.feed_defs()?;
        for q in &self.sqs {
            q.validate()?;
            if irene_sources::decoder(&q.source).is_none() {
                bail!(
                    "[[sqs]] {}: unknown source {:?}; known sources: {}",
                    q.queue_url,
                    q.source,
                    irene_sources::names().join(", ")
                );
            }
        }
        self.reputation.validate()?;
        self.probe.build()?;
        if self.probe.enabled && self.probe.total_time >= self.investigate.timeout {
            bail!(
                "[probe] total_time ({:?}) must be shorter than [investigate] timeout ({:?})",
                self.probe.total_time,
                self.investigate.timeout
            );
        }
        Ok(())
    }

    /// The `[[feeds]]` as definitions (checked: URL, format, period, unique names).
    pub fn feed_defs(&self) -> anyhow::Result<Vec<irene_investigate::FeedDef>> {
        let mut names = std::collections::HashSet::new();
        let mut defs = Vec::with_capacity(self.feeds.len());
        for f in &self.feeds {
            if !names.insert(f.name.as_str()) {
                bail!("[[feeds]]: the name {:?} is used twice", f.name);
            }
            defs.push(f.definition()?);
        }
        Ok(defs)
    }

    /// Where the store is: the PostgreSQL database of `database_url`, else SQLite in `data_dir`.
    pub fn store_location(&self) -> irene_store::Location {
        match &self.database_url {
            Some(url) => irene_store::Location::Postgres(url.clone()),
            None => irene_store::Location::Sqlite(self.data_dir.clone()),
        }
    }

    /// The store's place for messages (never the database URL: it may hold a password).
    pub fn store_name(&self) -> String {
        match &self.database_url {
            Some(_) => "the PostgreSQL database of database_url".to_string(),
            None => self.data_dir.display().to_string(),
        }
    }

    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
    }

    /// The expiries that are set, as durations.
    pub fn expiries(&self) -> Vec<(String, chrono::Duration)> {
        self.expiry
            .iter()
            .filter_map(|(s, d)| parse_expiry(d).ok().flatten().map(|d| (s.clone(), d)))
            .collect()
    }
}

fn parse_expiry(s: &str) -> anyhow::Result<Option<chrono::Duration>> {
    if s.trim() == "0" || s.trim().is_empty() {
        return Ok(None);
    }
    let d = humantime::parse_duration(s.trim())
        .with_context(|| format!("{s:?} is not a duration like 30d or 12h"))?;
    Ok(Some(chrono::Duration::from_std(d)?))
}

/// Replaces `${NAME}` with the variable's value; `$${` stays a literal `${`. A missing variable
/// is an error naming it (never its would-be value).
pub fn expand_env(text: &str, get: impl Fn(&str) -> Option<String>) -> anyhow::Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(lit) = after.strip_prefix("${") {
            out.push_str("${");
            rest = lit;
        } else if let Some(body) = after.strip_prefix('{') {
            let Some(end) = body.find('}') else {
                bail!("unclosed ${{ in configuration")
            };
            let name = &body[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                bail!("invalid variable name {name:?} in ${{…}}");
            }
            match get(name) {
                Some(v) => out.push_str(&v),
                None => bail!("environment variable {name} is not set"),
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_expansion_table() {
        let get = |k: &str| match k {
            "TOKEN" => Some("s3cret".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        let ok = [
            ("a = \"${TOKEN}\"", "a = \"s3cret\""),
            ("${TOKEN}${EMPTY}x", "s3cretx"),
            ("price $5", "price $5"),
            ("$${TOKEN}", "${TOKEN}"),
        ];
        for (input, want) in ok {
            assert_eq!(expand_env(input, get).expect(input), want);
        }
        for bad in ["${MISSING}", "${TOKEN", "${A-B}"] {
            let err = expand_env(bad, get).expect_err(bad).to_string();
            assert!(!err.contains("s3cret"), "{err}");
        }
        assert!(expand_env("${MISSING}", get)
            .expect_err("missing")
            .to_string()
            .contains("MISSING"));
    }

    #[test]
    fn console_oidc_needs_an_allow_list_and_known_roles_and_hides_its_secret() {
        let parse = |extra: &str| {
            let text = format!(
                "[oidc]\nissuer = \"https://id.example\"\nclient_id = \"irene\"\n\
                 client_secret = \"oidc-s3cret\"\n{extra}"
            );
            Figment::from(Toml::string(&text))
                .extract::<ConsoleConfig>()
                .expect("parses")
        };
        let ok = parse(
            "allowed_domains = [\"example.com\"]\nroles = { \"sec-team\" = \"responder\" }\n",
        );
        let oidc = ok.oidc.as_ref().expect("oidc");
        assert!(oidc.validate().is_ok());
        assert_eq!(oidc.groups_claim, "groups");
        assert_eq!(oidc.default_role, None);
        assert!(!format!("{ok:?}").contains("oidc-s3cret"));
        let refused = |extra: &str| {
            parse(extra)
                .oidc
                .expect("oidc")
                .validate()
                .expect_err("refused")
                .to_string()
        };
        assert!(refused("").contains("allowed_emails or allowed_domains"));
        assert!(refused("allowed_emails = [\"a@b.c\"]\nroles = { x = \"root\" }").contains("root"));
        assert!(refused("allowed_emails = [\"a@b.c\"]\ndefault_role = \"boss\"").contains("boss"));
        assert!(
            refused("allowed_emails = [\"a@b.c\"]\nredirect_url = \"ftp://x\"")
                .contains("redirect_url")
        );
    }

    #[test]
    fn debug_redacts_tokens() {
        let t = TokenConfig {
            name: "ci".into(),
            token: Some("s3cret".into()),
            sha256: None,
            scopes: vec!["ingest".into()],
        };
        assert!(!format!("{t:?}").contains("s3cret"));
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail fixes the closure's error type
    fn precedence_is_flags_then_env_then_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "irene.toml",
                "listen = \"127.0.0.1:7000\"\ndata_dir = \"/from/file\"\npublic_url = \"${PUBLIC}\"\n[intake]\nmax_depth = 9\n",
            )?;
            jail.set_env("PUBLIC", "https://irene.example");
            jail.set_env("IRENE_LISTEN", "127.0.0.1:7001");
            let file = std::path::Path::new("irene.toml");
            let cfg = Config::load(Some(file), &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(cfg.listen.port(), 7001, "env beats file");
            assert_eq!(cfg.data_dir, PathBuf::from("/from/file"));
            assert_eq!(cfg.public_url(), "https://irene.example");
            assert_eq!(cfg.intake.max_depth, 9);
            assert_eq!(
                cfg.intake.max_body_bytes,
                10 * 1024 * 1024,
                "defaults fill the rest"
            );
            let flags = Overrides {
                data_dir: Some("/from/flag".into()),
                ..Default::default()
            };
            jail.set_env("IRENE_DATA_DIR", "/from/env");
            let cfg = Config::load(Some(file), &flags).map_err(|e| e.to_string())?;
            assert_eq!(cfg.data_dir, PathBuf::from("/from/flag"), "flags beat env");
            jail.create_file("bad.toml", "listen = \"127.0.0.1:1\"\nlisen = 3\n")?;
            let err = Config::load(
                Some(std::path::Path::new("bad.toml")),
                &Overrides::default(),
            )
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
            assert!(err.contains("lisen"), "{err}");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail fixes the closure's error type
    fn reputation_tables_expand_keys_check_them_and_never_print_them() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("VT_KEY", "vt-secret-9f8e7d");
            jail.create_file(
                "irene.toml",
                "[reputation.virustotal]\nkey = \"${VT_KEY}\"\nttl = \"12h\"\ndaily = 100\n\n[reputation.greynoise]\n",
            )?;
            let cfg = Config::load(
                Some(std::path::Path::new("irene.toml")),
                &Overrides::default(),
            )
            .map_err(|e| e.to_string())?;
            let vt = cfg.reputation.virustotal.as_ref().expect("virustotal");
            assert_eq!(
                vt.key.as_ref().map(|k| k.expose()),
                Some("vt-secret-9f8e7d")
            );
            assert_eq!(vt.ttl, Some(Duration::from_secs(12 * 3600)));
            assert_eq!(vt.daily, Some(100));
            assert!(cfg.reputation.greynoise.is_some() && cfg.reputation.otx.is_none());
            let dbg = format!("{cfg:?}");
            assert!(!dbg.contains("vt-secret"), "{dbg}");
            // (file, error fragment)
            let bad = [
                ("[reputation.abuseipdb]\n", "key is required"),
                ("[reputation.otx]\nurl = \"file:///etc/passwd\"\n", "http"),
                ("[reputation.otx]\nttl = \"soon\"\n", "duration"),
                ("[reputation.shodan]\nkey = \"x\"\n", "shodan"),
            ];
            for (text, frag) in bad {
                jail.create_file("bad.toml", text)?;
                let err = Config::load(
                    Some(std::path::Path::new("bad.toml")),
                    &Overrides::default(),
                )
                .err()
                .map(|e| format!("{e:#}"))
                .unwrap_or_default();
                assert!(err.contains(frag), "{text}: {err}");
            }
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail fixes the closure's error type
    fn probe_section_defaults_parses_and_checks() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("empty.toml", "")?;
            let cfg = Config::load(
                Some(std::path::Path::new("empty.toml")),
                &Overrides::default(),
            )
            .map_err(|e| e.to_string())?;
            assert!(cfg.probe.enabled);
            assert!(cfg.probe.allow.is_empty());
            assert!(cfg.probe.total_time < cfg.investigate.timeout);
            jail.create_file(
                "irene.toml",
                "[probe]\nallow = [\"127.0.0.0/8\"]\ndeny = [\"127.0.0.9\"]\nconnect_timeout = \"500ms\"\nports_per_target = 3\n",
            )?;
            let cfg = Config::load(
                Some(std::path::Path::new("irene.toml")),
                &Overrides::default(),
            )
            .map_err(|e| e.to_string())?;
            let pc = cfg.probe.probe_config();
            assert_eq!(pc.connect_timeout_ms, 500);
            assert_eq!(pc.ports_per_target, 3);
            assert_eq!(pc.allow, vec!["127.0.0.0/8".to_string()]);
            assert!(cfg.probe.build().map_err(|e| e.to_string())?.is_some());
            let bad = [
                ("[probe]\nallow = [\"localhost\"]\n", "allow"),
                ("[probe]\ndeny = [\"10.0.0.0/40\"]\n", "deny"),
                ("[probe]\nconcurrency = 0\n", "concurrency"),
                ("[probe]\ntotal_time = \"60s\"\n", "total_time"),
                ("[probe]\nports = 3\n", "ports"),
            ];
            for (text, frag) in bad {
                jail.create_file("bad.toml", text)?;
                let err = Config::load(
                    Some(std::path::Path::new("bad.toml")),
                    &Overrides::default(),
                )
                .err()
                .map(|e| format!("{e:#}"))
                .unwrap_or_default();
                assert!(err.contains(frag), "{text}: {err}");
            }
            jail.create_file("off.toml", "[probe]\nenabled = false\n")?;
            let cfg = Config::load(
                Some(std::path::Path::new("off.toml")),
                &Overrides::default(),
            )
            .map_err(|e| e.to_string())?;
            assert!(cfg.probe.build().map_err(|e| e.to_string())?.is_none());
            Ok(())
        });
    }

    #[test]
    fn expiry_parsing() {
        assert_eq!(parse_expiry("0").expect("0"), None);
        assert_eq!(
            parse_expiry("2d").expect("2d"),
            Some(chrono::Duration::days(2))
        );
        assert!(parse_expiry("soon").is_err());
    }
}

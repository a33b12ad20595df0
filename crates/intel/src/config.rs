//! `[reputation.<provider>]` settings as the binary reads them, each provider's defaults, and
//! [`build`]. Validates URLs and keys; reads no file and no environment (the binary expands `${VAR}`).

use crate::abuseipdb::{self, AbuseIpDb};
use crate::client::Secret;
use crate::greynoise::{self, GreyNoise};
use crate::lookup::{Api, Cached, Settings};
use crate::otx::{self, Otx};
use crate::virustotal::{self, VirusTotal};
use irene_investigate::Provider;
use irene_store::Store;
use serde::{Deserialize, Deserializer};
use std::sync::Arc;
use std::time::Duration;

/// `[reputation]`: one optional table per provider; a provider is used when its table is there.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReputationConfig {
    #[serde(default)]
    pub abuseipdb: Option<ProviderConfig>,
    #[serde(default)]
    pub virustotal: Option<ProviderConfig>,
    #[serde(default)]
    pub greynoise: Option<ProviderConfig>,
    #[serde(default)]
    pub otx: Option<ProviderConfig>,
}

/// One provider's table; what is absent takes the provider's default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// The API key (usually `"${ABUSEIPDB_KEY}"`); required by AbuseIPDB and VirusTotal.
    #[serde(default)]
    pub key: Option<Secret>,
    /// Base URL (default: the provider's public API).
    #[serde(default)]
    pub url: Option<String>,
    /// How long an answer is reused (default 24h).
    #[serde(default, deserialize_with = "opt_duration")]
    pub ttl: Option<Duration>,
    /// Requests per minute, spaced evenly.
    #[serde(default)]
    pub per_minute: Option<u32>,
    /// Requests per UTC day (0: counted, never refused).
    #[serde(default)]
    pub daily: Option<u32>,
    /// Of each request (default 10s).
    #[serde(default, deserialize_with = "opt_duration")]
    pub timeout: Option<Duration>,
    /// Longest one lookup waits in line for its turn or a short `Retry-After` (default 5s).
    #[serde(default, deserialize_with = "opt_duration")]
    pub max_wait: Option<Duration>,
    /// Larger answers are refused (default 1 MiB).
    #[serde(default)]
    pub max_bytes: Option<usize>,
    /// `false` keeps the table but does not use the provider.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(s.trim())
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("duration {s:?}: {e} (e.g. \"24h\")")))
}

/// What is wrong with a provider's table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[reputation.{provider}]: {message}")]
pub struct BuildError {
    pub provider: &'static str,
    pub message: String,
}

/// A provider's defaults: (base URL, key required, per minute, daily).
struct Defaults {
    url: &'static str,
    key_required: bool,
    per_minute: u32,
    daily: Option<u32>,
}

/// The public free tiers: AbuseIPDB 1,000 checks a day; VirusTotal 4 a minute and 500 a day;
/// GreyNoise community a few dozen a day (lower without a key); OTX 10,000 an hour.
const ABUSEIPDB_DEFAULTS: Defaults = Defaults {
    url: abuseipdb::DEFAULT_URL,
    key_required: true,
    per_minute: 30,
    daily: Some(1000),
};
const VIRUSTOTAL_DEFAULTS: Defaults = Defaults {
    url: virustotal::DEFAULT_URL,
    key_required: true,
    per_minute: 4,
    daily: Some(500),
};
const GREYNOISE_DEFAULTS: Defaults = Defaults {
    url: greynoise::DEFAULT_URL,
    key_required: false,
    per_minute: 10,
    daily: Some(50),
};
const OTX_DEFAULTS: Defaults = Defaults {
    url: otx::DEFAULT_URL,
    key_required: false,
    per_minute: 60,
    daily: Some(10_000),
};

impl ProviderConfig {
    fn settings(&self, name: &'static str, d: &Defaults) -> Result<Settings, BuildError> {
        let err = |message: String| BuildError {
            provider: name,
            message,
        };
        let url = self.url.clone().unwrap_or_else(|| d.url.to_string());
        let parsed = reqwest::Url::parse(&url).map_err(|_| err("url is not a valid URL".into()))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(err("url must be http:// or https:// with a host".into()));
        }
        if parsed.query().is_some() || !parsed.username().is_empty() || parsed.password().is_some()
        {
            return Err(err(
                "url must not carry a query or credentials (the key goes in `key`)".into(),
            ));
        }
        let key = self.key.clone().filter(|k| !k.expose().trim().is_empty());
        if d.key_required && key.is_none() {
            return Err(err("key is required".into()));
        }
        Ok(Settings {
            url,
            key,
            ttl: self.ttl.unwrap_or(Duration::from_secs(24 * 3600)),
            per_minute: self.per_minute.unwrap_or(d.per_minute),
            daily: match self.daily {
                Some(0) => None,
                Some(n) => Some(n),
                None => d.daily,
            },
            timeout: self.timeout.unwrap_or(Duration::from_secs(10)),
            max_wait: self.max_wait.unwrap_or(Duration::from_secs(5)),
            max_bytes: self.max_bytes.unwrap_or(1 << 20),
        })
    }
}

impl ReputationConfig {
    /// Checks every table without building anything.
    pub fn validate(&self) -> Result<(), BuildError> {
        for (name, cfg, d) in self.tables() {
            if let Some(c) = cfg {
                c.settings(name, d)?;
            }
        }
        Ok(())
    }

    fn tables(&self) -> [(&'static str, &Option<ProviderConfig>, &'static Defaults); 4] {
        [
            (AbuseIpDb::NAME, &self.abuseipdb, &ABUSEIPDB_DEFAULTS),
            (VirusTotal::NAME, &self.virustotal, &VIRUSTOTAL_DEFAULTS),
            (GreyNoise::NAME, &self.greynoise, &GREYNOISE_DEFAULTS),
            (Otx::NAME, &self.otx, &OTX_DEFAULTS),
        ]
    }
}

fn one<A: Api>(
    cfg: &ProviderConfig,
    d: &Defaults,
    store: &Arc<dyn Store>,
    user_agent: &str,
) -> Result<Arc<dyn Provider>, BuildError> {
    let settings = cfg.settings(A::NAME, d)?;
    let p =
        Cached::<A>::new(settings, store.clone(), user_agent).map_err(|message| BuildError {
            provider: A::NAME,
            message,
        })?;
    Ok(Arc::new(p))
}

/// The configured and enabled providers, in a fixed order (AbuseIPDB, VirusTotal, GreyNoise,
/// OTX), over `store`'s cache and daily counts.
pub fn build(
    cfg: &ReputationConfig,
    store: Arc<dyn Store>,
    user_agent: &str,
) -> Result<Vec<Arc<dyn Provider>>, BuildError> {
    let mut out = Vec::new();
    let on = |c: &Option<ProviderConfig>| c.clone().filter(|c| c.enabled);
    if let Some(c) = on(&cfg.abuseipdb) {
        out.push(one::<AbuseIpDb>(
            &c,
            &ABUSEIPDB_DEFAULTS,
            &store,
            user_agent,
        )?);
    }
    if let Some(c) = on(&cfg.virustotal) {
        out.push(one::<VirusTotal>(
            &c,
            &VIRUSTOTAL_DEFAULTS,
            &store,
            user_agent,
        )?);
    }
    if let Some(c) = on(&cfg.greynoise) {
        out.push(one::<GreyNoise>(
            &c,
            &GREYNOISE_DEFAULTS,
            &store,
            user_agent,
        )?);
    }
    if let Some(c) = on(&cfg.otx) {
        out.push(one::<Otx>(&c, &OTX_DEFAULTS, &store, user_agent)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(toml_like: serde_json::Value) -> ProviderConfig {
        serde_json::from_value(toml_like).expect("config")
    }

    #[test]
    fn defaults_and_checks() {
        let c = table(serde_json::json!({"key": "k-secret-123"}));
        let s = c.settings("abuseipdb", &ABUSEIPDB_DEFAULTS).expect("ok");
        assert_eq!(s.url, "https://api.abuseipdb.com");
        assert_eq!(s.daily, Some(1000));
        assert_eq!(s.ttl, Duration::from_secs(86400));
        assert!(!format!("{s:?}").contains("k-secret-123"), "{s:?}");
        let c = table(serde_json::json!({"ttl": "1h", "daily": 0, "per_minute": 2}));
        let s = c
            .settings("greynoise", &GREYNOISE_DEFAULTS)
            .expect("no key needed");
        assert_eq!(
            (s.ttl, s.daily, s.per_minute),
            (Duration::from_secs(3600), None, 2)
        );
        // (table, error fragment)
        let bad = [
            (serde_json::json!({}), "key is required"),
            (serde_json::json!({"key": " "}), "key is required"),
            (serde_json::json!({"key": "k", "url": "ftp://x"}), "http"),
            (
                serde_json::json!({"key": "k", "url": "not a url"}),
                "valid URL",
            ),
            (
                serde_json::json!({"key": "k", "url": "https://x/?key=1"}),
                "query",
            ),
            (
                serde_json::json!({"key": "k", "url": "https://u:p@x/"}),
                "credentials",
            ),
        ];
        for (t, frag) in bad {
            let e = table(t.clone())
                .settings("virustotal", &VIRUSTOTAL_DEFAULTS)
                .expect_err("bad");
            assert!(e.to_string().contains(frag), "{t}: {e}");
        }
        assert!(
            serde_json::from_value::<ProviderConfig>(serde_json::json!({"keey": "x"})).is_err()
        );
    }
}

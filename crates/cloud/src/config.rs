//! `[cloud.aws]` and `[cloud.gcp]`: which clouds Irene may ask what sits behind an alert, and
//! how; `build` turns them into one `TargetLookup` that picks the cloud by the alert's source.

use crate::aws::AwsLookup;
use crate::gcp::GcpLookup;
use irene_core::Alert;
use irene_investigate::exposure_seams::{Exposure, LookupError, TargetLookup};
use serde::{Deserialize, Deserializer, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// `[cloud]`: both clouds off unless enabled.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudConfig {
    #[serde(default)]
    pub aws: AwsConfig,
    #[serde(default)]
    pub gcp: GcpConfig,
}

/// `[cloud.aws]`: EC2 lookups with the standard credential chain, or per account a role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsConfig {
    #[serde(default)]
    pub enabled: bool,
    /// A role to assume in the alert's account, `{account}` replaced by its id, e.g.
    /// `arn:aws:iam::{account}:role/IreneReadOnly`. Unset: the standard chain's own identity.
    #[serde(default)]
    pub assume_role: Option<String>,
    /// Another EC2 endpoint (moto, a VPC endpoint); unset: AWS's own for the region.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// The region when the alert names none (default: none, then the alert is not looked up).
    #[serde(default)]
    pub default_region: Option<String>,
    /// How long one lookup may take, retries included.
    #[serde(default = "seconds_20", deserialize_with = "duration")]
    pub timeout: Duration,
}

impl Default for AwsConfig {
    fn default() -> Self {
        AwsConfig {
            enabled: false,
            assume_role: None,
            endpoint_url: None,
            default_region: None,
            timeout: seconds_20(),
        }
    }
}

/// `[cloud.gcp]`: Compute Engine REST with an OAuth access token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcpConfig {
    #[serde(default)]
    pub enabled: bool,
    /// Where the access token comes from (default `adc`).
    #[serde(default)]
    pub token: TokenSource,
    /// The Compute API's base URL (default `https://compute.googleapis.com`).
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default = "seconds_20", deserialize_with = "duration")]
    pub timeout: Duration,
}

impl Default for GcpConfig {
    fn default() -> Self {
        GcpConfig {
            enabled: false,
            token: TokenSource::default(),
            endpoint: None,
            timeout: seconds_20(),
        }
    }
}

/// `token = "adc"`, `token = { static = "ya29…" }` or `token = { env = "GCP_ACCESS_TOKEN" }`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenSource {
    /// Application Default Credentials through `gcp_auth`: `GOOGLE_APPLICATION_CREDENTIALS`
    /// (a service-account key), gcloud's user credentials, or the metadata server on GCP.
    #[default]
    Adc,
    /// This token as is (it expires: for tests and short runs).
    Static(String),
    /// The token in this environment variable, read at every lookup.
    Env(String),
}

fn seconds_20() -> Duration {
    Duration::from_secs(20)
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s).map_err(serde::de::Error::custom)
}

/// Which cloud an alert is about: AWS, Google Cloud, or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    Aws,
    Gcp,
}

/// The cloud of an alert, by its source (`aws.*`, `gcp.*`; Prowler by its provider).
pub fn cloud_of(alert: &Alert) -> Option<Cloud> {
    if alert.source.starts_with("aws.") {
        return Some(Cloud::Aws);
    }
    if alert.source.starts_with("gcp.") {
        return Some(Cloud::Gcp);
    }
    if alert.source == "prowler" {
        let provider = alert
            .raw
            .pointer("/cloud/provider")
            .or_else(|| alert.raw.get("Provider"))
            .and_then(|p| p.as_str())
            .map(str::to_ascii_lowercase);
        let id = alert.resource.id.as_deref().unwrap_or("");
        return match provider.as_deref() {
            Some("aws") => Some(Cloud::Aws),
            Some("gcp") => Some(Cloud::Gcp),
            _ if id.starts_with("arn:aws") => Some(Cloud::Aws),
            _ if alert.raw.get("ProductArn").is_some() => Some(Cloud::Aws),
            _ => None,
        };
    }
    None
}

/// The lookup for the configured clouds; `None` when neither is enabled. Alerts of a cloud
/// that is not enabled, or of no cloud, answer `NotApplicable`. Needs a tokio runtime at
/// lookup time only.
pub fn build(config: &CloudConfig) -> Option<Arc<dyn TargetLookup>> {
    let aws = config
        .aws
        .enabled
        .then(|| AwsLookup::new(config.aws.clone()));
    let gcp = config
        .gcp
        .enabled
        .then(|| GcpLookup::new(config.gcp.clone()));
    if aws.is_none() && gcp.is_none() {
        return None;
    }
    Some(Arc::new(CloudLookup { aws, gcp }))
}

/// Dispatches by the alert's cloud.
pub struct CloudLookup {
    aws: Option<AwsLookup>,
    gcp: Option<GcpLookup>,
}

#[async_trait::async_trait]
impl TargetLookup for CloudLookup {
    async fn lookup(&self, alert: &Alert) -> Result<Exposure, LookupError> {
        match cloud_of(alert) {
            Some(Cloud::Aws) => match &self.aws {
                Some(aws) => aws.lookup(alert).await,
                None => Err(LookupError::NotApplicable(
                    "AWS lookups are not configured ([cloud.aws] enabled = false)".into(),
                )),
            },
            Some(Cloud::Gcp) => match &self.gcp {
                Some(gcp) => gcp.lookup(alert).await,
                None => Err(LookupError::NotApplicable(
                    "Google Cloud lookups are not configured ([cloud.gcp] enabled = false)".into(),
                )),
            },
            None => Err(LookupError::NotApplicable(format!(
                "source {} is not a cloud Irene can look up",
                alert.source
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[derive(Deserialize)]
    struct Root {
        cloud: CloudConfig,
    }

    #[test]
    fn parses_both_sections() {
        let root: Root = serde_json::from_value(serde_json::json!({"cloud": {
            "aws": {"enabled": true, "assume_role": "arn:aws:iam::{account}:role/IreneReadOnly",
                    "endpoint_url": "http://127.0.0.1:5000", "timeout": "5s"},
            "gcp": {"enabled": true, "token": {"env": "GCP_TOKEN"}, "endpoint": "http://x"}
        }}))
        .unwrap();
        assert!(root.cloud.aws.enabled);
        assert_eq!(root.cloud.aws.timeout, Duration::from_secs(5));
        assert_eq!(root.cloud.gcp.token, TokenSource::Env("GCP_TOKEN".into()));
        assert_eq!(root.cloud.gcp.timeout, Duration::from_secs(20));
        let adc: GcpConfig = serde_json::from_value(serde_json::json!({"token": "adc"})).unwrap();
        assert_eq!(adc.token, TokenSource::Adc);
    }

    #[test]
    fn default_is_disabled_and_unknown_fields_fail() {
        assert!(build(&CloudConfig::default()).is_none());
        assert!(serde_json::from_value::<CloudConfig>(serde_json::json!({"azure": {}})).is_err());
        assert!(
            serde_json::from_value::<AwsConfig>(serde_json::json!({"role": "x"})).is_err(),
            "a misspelt key must not be ignored"
        );
    }

    #[tokio::test]
    async fn other_sources_are_not_applicable() {
        let lookup = build(&CloudConfig {
            aws: AwsConfig {
                enabled: true,
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap();
        let alert = Alert::new(
            "falco",
            "x",
            "k",
            "t",
            irene_core::Severity::High,
            serde_json::json!({}),
        );
        assert!(matches!(
            lookup.lookup(&alert).await,
            Err(LookupError::NotApplicable(_))
        ));
        let mut gcp = alert.clone();
        gcp.source = "gcp.scc".into();
        assert!(matches!(
            lookup.lookup(&gcp).await,
            Err(LookupError::NotApplicable(m)) if m.contains("cloud.gcp")
        ));
    }
}

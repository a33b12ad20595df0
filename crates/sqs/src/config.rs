//! `[[sqs]]`: one queue to consume — where it is, how to reach it (region, role, endpoint), how
//! its payloads are decoded and bounded. It checks its own fields; it must not open clients.

use serde::{Deserialize, Serialize};

/// The longest long poll SQS allows (`WaitTimeSeconds`).
pub const MAX_WAIT_SECONDS: u32 = 20;
/// The longest visibility timeout SQS allows (12 hours).
pub const MAX_VISIBILITY_SECS: u32 = 43_200;

/// One `[[sqs]]` consumer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqsConfig {
    /// `https://sqs.<region>.amazonaws.com/<account>/<queue>`.
    pub queue_url: String,
    /// The queue's region (also the S3 region when a notification names none).
    pub region: String,
    /// A role to assume (STS) for SQS and S3; unset: the standard chain's own identity.
    #[serde(default)]
    pub role_arn: Option<String>,
    /// Another endpoint for SQS and S3 (moto, a proxy); S3 is then addressed by path
    /// (`{endpoint}/{bucket}/{key}`). Unset: AWS's own for the region. STS is always AWS's.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// The decoder of the objects' and the messages' bodies (a decoder name or `auto`).
    #[serde(default = "auto")]
    pub source: String,
    /// Larger objects are not read but quarantined (default: the intake's largest body).
    #[serde(default)]
    pub max_object_bytes: Option<u64>,
    /// Long polling: how long one ReceiveMessage waits for messages (0 to 20 s).
    #[serde(default = "twenty")]
    pub wait_seconds: u32,
    /// How long a received message stays hidden from other consumers; extended while its
    /// objects are read, so that a slow read is not handed to a second consumer.
    #[serde(default = "two_minutes")]
    pub visibility_secs: u32,
}

fn auto() -> String {
    "auto".to_string()
}
fn twenty() -> u32 {
    MAX_WAIT_SECONDS
}
fn two_minutes() -> u32 {
    120
}

/// A `[[sqs]]` entry that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[[sqs]] {queue}: {problem}")]
pub struct ConfigError {
    pub queue: String,
    pub problem: String,
}

impl SqsConfig {
    /// A queue with the defaults (tests, embedding).
    pub fn new(queue_url: impl Into<String>, region: impl Into<String>) -> Self {
        SqsConfig {
            queue_url: queue_url.into(),
            region: region.into(),
            role_arn: None,
            endpoint_url: None,
            source: auto(),
            max_object_bytes: None,
            wait_seconds: twenty(),
            visibility_secs: two_minutes(),
        }
    }

    /// The queue's name: the last segment of its URL (for logs, metrics and the status).
    pub fn queue_name(&self) -> &str {
        self.queue_url
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or(&self.queue_url)
    }

    /// Checks what can be checked without AWS.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |problem: String| {
            Err(ConfigError {
                queue: self.queue_url.clone(),
                problem,
            })
        };
        let is_http = |u: &str| u.starts_with("https://") || u.starts_with("http://");
        if !is_http(&self.queue_url) || self.queue_name().is_empty() {
            return fail("queue_url must be the queue's http(s) URL".into());
        }
        if self.region.trim().is_empty() {
            return fail("region must be set".into());
        }
        if self.endpoint_url.as_deref().is_some_and(|u| !is_http(u)) {
            return fail("endpoint_url must be an http(s) URL".into());
        }
        if self
            .role_arn
            .as_deref()
            .is_some_and(|r| !r.starts_with("arn:"))
        {
            return fail("role_arn must be an IAM role ARN (arn:aws:iam::…:role/…)".into());
        }
        if self.source.trim().is_empty() {
            return fail("source must be a decoder name or auto".into());
        }
        if self.wait_seconds > MAX_WAIT_SECONDS {
            return fail(format!(
                "wait_seconds must be 0 to {MAX_WAIT_SECONDS} (SQS long polling)"
            ));
        }
        if self.visibility_secs == 0 || self.visibility_secs > MAX_VISIBILITY_SECS {
            return fail(format!(
                "visibility_secs must be 1 to {MAX_VISIBILITY_SECS}"
            ));
        }
        if self.max_object_bytes == Some(0) {
            return fail("max_object_bytes must be more than 0".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_name() {
        let c: SqsConfig = serde_json::from_value(serde_json::json!({
            "queue_url": "https://sqs.eu-west-1.amazonaws.com/123456789012/trail-logs",
            "region": "eu-west-1"
        }))
        .unwrap();
        assert_eq!(c.source, "auto");
        assert_eq!(c.wait_seconds, 20);
        assert_eq!(c.visibility_secs, 120);
        assert_eq!(c.max_object_bytes, None);
        assert_eq!(c.queue_name(), "trail-logs");
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn refuses_what_sqs_would() {
        let base = SqsConfig::new("https://sqs.us-east-1.amazonaws.com/1/q", "us-east-1");
        let cases: Vec<(SqsConfig, &str)> = vec![
            (
                SqsConfig {
                    wait_seconds: 21,
                    ..base.clone()
                },
                "wait_seconds",
            ),
            (
                SqsConfig {
                    visibility_secs: 0,
                    ..base.clone()
                },
                "visibility_secs",
            ),
            (
                SqsConfig {
                    queue_url: "sqs://q".into(),
                    ..base.clone()
                },
                "queue_url",
            ),
            (
                SqsConfig {
                    region: " ".into(),
                    ..base.clone()
                },
                "region",
            ),
            (
                SqsConfig {
                    role_arn: Some("IreneReader".into()),
                    ..base.clone()
                },
                "role_arn",
            ),
            (
                SqsConfig {
                    max_object_bytes: Some(0),
                    ..base.clone()
                },
                "max_object_bytes",
            ),
        ];
        for (c, field) in cases {
            let e = c.validate().unwrap_err();
            assert!(e.to_string().contains(field), "{e}");
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let r: Result<SqsConfig, _> = serde_json::from_value(serde_json::json!({
            "queue_url": "https://sqs.eu-west-1.amazonaws.com/1/q",
            "region": "eu-west-1",
            "wait_secs": 5
        }));
        assert!(r.is_err());
    }
}

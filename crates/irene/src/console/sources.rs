//! The sources page: per intake source, its last payload and counts, how to connect it (the
//! cloud's own set-up, copyable, with this server's address), and a button that posts a sample.
//! The sample goes through the same `App::accept` as `POST /api/v1/ingest`; nothing else here writes.

use super::*;
use crate::app::Payload;
use axum::response::Redirect;

/// A source the page lists, how it is set up, and the sample its test button posts.
struct SourceInfo {
    name: &'static str,
    title: &'static str,
    /// Which set-up snippets the page shows.
    setup: Setup,
    /// A real payload of this source (from the project's fixtures) the test button posts.
    sample: Option<&'static str>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Setup {
    /// An EventBridge rule on this `source` and `detail-type` → an API destination.
    EventBridge { pattern: &'static str },
    /// SCC notifications → Pub/Sub → a push subscription (OIDC-authenticated).
    PubSub,
    /// Audit logs → an organisation log sink → Pub/Sub → a push subscription.
    LogSink,
    /// EventBridge (API calls) as above, or the trail's files: S3 → SQS, read by `[[sqs]]`.
    Trail { pattern: &'static str },
    /// A scanner or agent that posts JSON itself.
    Post,
}

const SOURCES: [SourceInfo; 10] = [
    SourceInfo {
        name: "aws.guardduty",
        title: "AWS GuardDuty",
        setup: Setup::EventBridge {
            pattern: r#"{"source": ["aws.guardduty"], "detail-type": ["GuardDuty Finding"]}"#,
        },
        sample: Some(include_str!(
            "../../../sources/tests/fixtures/guardduty/eventbridge_recon_ec2_portprobeunprotectedport_real.json"
        )),
    },
    SourceInfo {
        name: "aws.securityhub",
        title: "AWS Security Hub",
        setup: Setup::EventBridge {
            pattern: r#"{"source": ["aws.securityhub"], "detail-type": ["Security Hub Findings - Imported"]}"#,
        },
        sample: Some(include_str!(
            "../../../sources/tests/fixtures/securityhub/asff_cis_warning.json"
        )),
    },
    SourceInfo {
        name: "gcp.scc",
        title: "Google Cloud Security Command Center",
        setup: Setup::PubSub,
        sample: Some(include_str!(
            "../../../sources/tests/fixtures/gcp-scc/scc_sha_open_firewall_active.json"
        )),
    },
    SourceInfo {
        name: "aws.config",
        title: "AWS Config rules",
        setup: Setup::EventBridge {
            pattern: r#"{"source": ["aws.config"], "detail-type": ["Config Rules Compliance Change"]}"#,
        },
        sample: Some(include_str!(
            "../../../sources/tests/fixtures/aws-config/eventbridge_config_rules_compliance_change_noncompliant.json"
        )),
    },
    SourceInfo {
        name: "aws.cloudtrail",
        title: "AWS CloudTrail (audit log, Sigma rules)",
        setup: Setup::Trail {
            pattern: r#"{"detail-type": ["AWS API Call via CloudTrail", "AWS Console Sign In via CloudTrail"]}"#,
        },
        sample: Some(include_str!(
            "../../../sources/tests/fixtures/cloudtrail/stratus_detonation_cloudtrail_stop_logging.json"
        )),
    },
    SourceInfo {
        name: "gcp.audit",
        title: "Google Cloud audit logs (Sigma rules)",
        setup: Setup::LogSink,
        sample: Some(include_str!(
            "../../../sources/tests/fixtures/gcp-audit/gcp_audit_iam_create_service_account.json"
        )),
    },
    SourceInfo {
        name: "prowler",
        title: "Prowler",
        setup: Setup::Post,
        sample: Some(include_str!(
            "../../../sources/tests/fixtures/prowler/prowler_aws_json_ocsf_fail_manual.json"
        )),
    },
    SourceInfo {
        name: "falco",
        title: "Falco (through Falcosidekick's webhook output)",
        setup: Setup::Post,
        sample: Some(include_str!(
            "../../../sources/tests/fixtures/falco/falco_syscall_terminal_shell_in_container.json"
        )),
    },
    SourceInfo {
        name: "generic",
        title: "Anything that can POST JSON",
        setup: Setup::Post,
        sample: None,
    },
    SourceInfo {
        name: "auto",
        title: "Any of the above, recognized by shape",
        setup: Setup::Post,
        sample: None,
    },
];

fn info(name: &str) -> Result<&'static SourceInfo, ApiError> {
    SOURCES
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| ApiError::not_found(format!("no source {name:?}")))
}

/// The generic shape's own sample (Irene's format): an alert that says it is a test.
const GENERIC_SAMPLE: &str = r#"{"key": "irene-console-test", "type": "irene.test", "title": "Test alert from the console", "severity": "low", "description": "Posted by the sources page's test button."}"#;

struct SourceRow {
    name: &'static str,
    title: &'static str,
    last: String,
    last_day: i64,
    last_week: i64,
}

#[derive(Template)]
#[template(path = "console/sources.html")]
struct SourcesPage {
    viewer: Viewer,
    rows: Vec<SourceRow>,
}

pub(super) async fn list(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let page = async {
        let viewer = require(&state, &headers, Role::Viewer)?;
        let names: Vec<String> = SOURCES.iter().map(|s| s.name.to_string()).collect();
        let stats = state.app.store.source_stats(&names, Utc::now()).await?;
        let rows = SOURCES
            .iter()
            .zip(stats)
            .map(|(s, st)| SourceRow {
                name: s.name,
                title: s.title,
                last: st.last_received.map(when).unwrap_or_else(|| "never".into()),
                last_day: st.last_day,
                last_week: st.last_week,
            })
            .collect();
        Ok(SourcesPage { viewer, rows })
    }
    .await;
    render(&state, page)
}

#[derive(Template)]
#[template(path = "console/source.html")]
struct SourcePage {
    viewer: Viewer,
    name: &'static str,
    title: &'static str,
    /// Where this source posts: `{public_url}/api/v1/ingest/{name}`.
    endpoint: String,
    last: String,
    last_day: i64,
    last_week: i64,
    eventbridge_pattern: &'static str,
    /// The Pub/Sub push set-up: `scc` (notifications) or `logs` (a log sink); empty: none.
    pubsub: &'static str,
    /// The trail's files through S3 → SQS (`[[sqs]]`).
    sqs: bool,
    /// Tokens are configured: a sender needs one with the `ingest` scope.
    needs_token: bool,
    can_test: bool,
    /// The inbox id of the sample just posted.
    tested: String,
    role_policy: &'static str,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct SourceQuery {
    tested: Option<String>,
}

/// The read-only policy investigations need in a monitored AWS account.
const ROLE_POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{
    "Sid": "IreneInvestigations",
    "Effect": "Allow",
    "Action": ["ec2:DescribeSecurityGroups", "ec2:DescribeNetworkInterfaces"],
    "Resource": "*"
  }]
}"#;

pub(super) async fn one(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    query: Result<Query<SourceQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let page = async {
        let (viewer, q) = read_query(&state, &headers, query)?;
        let src = info(&name)?;
        let stats = state
            .app
            .store
            .source_stats(&[src.name.to_string()], Utc::now())
            .await?;
        let st = stats.into_iter().next();
        let base = state.public_url.trim_end_matches('/');
        let eventbridge_pattern = match src.setup {
            Setup::EventBridge { pattern } | Setup::Trail { pattern } => pattern,
            _ => "",
        };
        Ok(SourcePage {
            can_test: viewer.can(Role::Responder),
            needs_token: !state.tokens.is_open(),
            viewer,
            name: src.name,
            title: src.title,
            endpoint: format!("{base}/api/v1/ingest/{}", src.name),
            last: st
                .as_ref()
                .and_then(|s| s.last_received)
                .map(when)
                .unwrap_or_else(|| "never".into()),
            last_day: st.as_ref().map_or(0, |s| s.last_day),
            last_week: st.as_ref().map_or(0, |s| s.last_week),
            eventbridge_pattern,
            pubsub: match src.setup {
                Setup::PubSub => "scc",
                Setup::LogSink => "logs",
                _ => "",
            },
            sqs: matches!(src.setup, Setup::Trail { .. }),
            tested: q.tested.unwrap_or_default(),
            role_policy: ROLE_POLICY,
        })
    }
    .await;
    render(&state, page)
}

#[derive(Debug, Deserialize)]
pub(super) struct TestForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /sources/{name}/test` (responder): posts the source's sample through the intake, as
/// a sender would, and comes back to the page with the inbox id.
pub(super) async fn test(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    form: Result<axum::Form<TestForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let outcome = async {
        let viewer = require(&state, &headers, Role::Responder)?;
        let axum::Form(f) =
            form.map_err(|e| ApiError::bad_request("invalid_form", e.body_text()))?;
        access::check_form(&viewer, &headers, &f.csrf)?;
        let src = info(&name)?;
        let body = src.sample.unwrap_or(GENERIC_SAMPLE);
        let accepted = state
            .app
            .accept(Payload {
                source: src.name,
                body: body.as_bytes(),
                encoding: None,
                idempotency_key: None,
                complete_scan: false,
            })
            .await
            .map_err(|e| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "not_accepted",
                    format!("the sample was not accepted: {e}"),
                )
            })?;
        access::audit(
            &state,
            &viewer,
            "source.test",
            src.name,
            &format!("inbox {}", accepted.id),
        )
        .await;
        Ok::<_, ApiError>(Redirect::to(&format!(
            "/sources/{}?tested={}",
            src.name, accepted.id
        )))
    }
    .await;
    match outcome {
        Ok(r) => r.into_response(),
        Err(e) => error_page(&state, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_is_recognized_by_its_own_decoder() {
        for s in SOURCES.iter() {
            let body = s.sample.unwrap_or(GENERIC_SAMPLE);
            let name = if s.name == "auto" { "generic" } else { s.name };
            let decoder =
                irene_sources::decoder(name).unwrap_or_else(|| panic!("{} has no decoder", s.name));
            let items =
                irene_sources::split_payload(body.as_bytes(), &irene_sources::Limits::default())
                    .unwrap_or_else(|e| panic!("{}: {e}", s.name));
            assert!(!items.is_empty(), "{}", s.name);
            for item in items {
                let decoded = decoder.decode(&item);
                assert!(decoded.is_ok(), "{}: {:?}", s.name, decoded.err());
            }
        }
    }
}

//! AWS Config rule compliance changes, from EventBridge or from an SNS notification.
//! One alert per (account, region, rule, resource); must not read configuration-item changes.

use crate::envelope::{self, EventBridge};
use crate::fields;
use crate::json::{Keys, Node};
use crate::{DecodeError, Decoded, Decoder};
use irene_core::{Alert, AlertState, Resource, Severity};
use serde_json::Value;

pub(crate) struct Config;

const SOURCE: &str = "aws.config";
const DETAIL_TYPE: &str = "Config Rules Compliance Change";
const MESSAGE_TYPE: &str = "ComplianceChangeNotification";

fn is_message(node: &Node) -> bool {
    node.str_is("messageType", MESSAGE_TYPE) && node.get("configRuleName").is_some()
}

impl Decoder for Config {
    fn name(&self) -> &'static str {
        SOURCE
    }

    fn recognizes(&self, item: &Value) -> bool {
        let root = Node::root(item, Keys::Loose);
        if let Some(source) = envelope::eventbridge_source(&root) {
            return source == SOURCE && root.str_is("detail-type", DETAIL_TYPE);
        }
        if envelope::is_sns(&root) {
            return matches!(envelope::sns_message(&root), Ok(Some(m)) if is_message(&m.node()));
        }
        is_message(&root)
    }

    fn decode(&self, item: &Value) -> Result<Decoded, DecodeError> {
        let root = Node::root(item, Keys::Loose);
        root.expect_object()?;
        if let Some(event) = envelope::eventbridge(&root)? {
            envelope::expect_detail_type(&root, &event, &[DETAIL_TYPE])?;
            return Ok(Decoded::alerts(vec![change(
                &event.detail,
                item,
                Some(&event),
            )?]));
        }
        if let Some(message) = envelope::sns_message(&root)? {
            let node = message.node();
            let mut alert = change(&node, item, None)?;
            if alert.observed_at.is_none() {
                alert.observed_at = fields::first_time(&root, &["Timestamp"]);
            }
            return Ok(Decoded::alerts(vec![alert]));
        }
        Ok(Decoded::alerts(vec![change(&root, item, None)?]))
    }
}

fn change(m: &Node, raw: &Value, event: Option<&EventBridge>) -> Result<Alert, DecodeError> {
    let rule = m.req_string("configRuleName")?;
    let result = m.opt_object("newEvaluationResult")?.ok_or_else(|| {
        DecodeError::new(
            m.path_of("newEvaluationResult"),
            "missing required field (expected an object with complianceType)",
        )
    })?;
    let qualifier = result.at(&["evaluationResultIdentifier", "evaluationResultQualifier"]);
    let from_qualifier = |k: &str| qualifier.as_ref().and_then(|q| q.text_at(k));
    let resource_type = m
        .text_at("resourceType")
        .or_else(|| from_qualifier("resourceType"));
    let resource_id = m
        .text_at("resourceId")
        .or_else(|| from_qualifier("resourceId"));
    let account = m
        .text_at("awsAccountId")
        .or_else(|| event.and_then(|e| e.account.clone()));
    let region = m
        .text_at("awsRegion")
        .or_else(|| event.and_then(|e| e.region.clone()));

    let compliance = result.req_string("complianceType")?;
    let (state, severity) = match compliance {
        "NON_COMPLIANT" => (AlertState::Active, Severity::Medium),
        "COMPLIANT" | "NOT_APPLICABLE" => (AlertState::Resolved, Severity::Medium),
        "INSUFFICIENT_DATA" => (AlertState::Active, Severity::Info),
        other => {
            return Err(DecodeError::new(
                result.path_of("complianceType"),
                format!(
                    "expected one of COMPLIANT, NON_COMPLIANT, NOT_APPLICABLE, INSUFFICIENT_DATA, found {other:?}"
                ),
            ))
        }
    };

    let part = |s: &Option<String>| s.clone().unwrap_or_default();
    let key = format!(
        "{SOURCE}/{}/{}/{rule}/{}/{}",
        part(&account),
        part(&region),
        part(&resource_type),
        part(&resource_id)
    );
    let subject = match (&resource_type, &resource_id) {
        (Some(t), Some(i)) => format!("{t} {i}"),
        (Some(x), None) | (None, Some(x)) => x.clone(),
        (None, None) => "A resource".to_string(),
    };
    let title = format!("{subject} is {compliance} with {rule}");

    let mut alert = Alert::new(SOURCE, rule, key, title, severity, raw.clone());
    alert.state = state;
    alert.description = result.text_at("annotation").unwrap_or_default();
    alert.account = account;
    alert.region = region;
    alert.resource = Resource {
        id: resource_id,
        kind: resource_type,
        name: None,
        tags: Default::default(),
    };
    alert.observed_at =
        fields::first_time(&result, &["resultRecordedTime", "configRuleInvokedTime"])
            .or_else(|| fields::first_time(m, &["notificationCreationTime"]))
            .or_else(|| event.and_then(|e| e.time).and_then(fields::time));
    if let Some(region) = alert.region.as_deref() {
        let region = fields::url_encode(region);
        alert.link = Some(format!(
            "https://{region}.console.aws.amazon.com/config/home?region={region}#/rules/details?configRuleName={}",
            fields::url_encode(rule)
        ));
    }
    Ok(alert)
}

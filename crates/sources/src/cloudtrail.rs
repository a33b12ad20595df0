//! AWS CloudTrail: the S3 delivery file `{"Records": [...]}`, a single record, and the EventBridge
//! events CloudTrail emits (`AWS API Call via CloudTrail`, sign-in, console action, service
//! event, Insight). Each record becomes one `Event`; Insights records included. Gzip is the
//! intake's business: this decoder sees JSON.
//!
//! Bad records: a delivery file decodes whole or not at all. If any record is unusable (not an
//! object, no `eventName`/`eventSource`, a mapped field of the wrong type) the item is a
//! `DecodeError` pointing into that record (`/Records/<i>/eventName`), so the pipeline
//! quarantines the file and no record, good or bad, is dropped; after a fix it is replayed whole.
//! S3 event notifications (`{"Records": [{"eventSource": "aws:s3", ...}]}`) share the wrapper but
//! are not CloudTrail: they are refused, never decoded as CloudTrail.

use crate::envelope::{self, EventBridge};
use crate::fields;
use crate::json::{Keys, Node};
use crate::{DecodeError, Decoded, Decoder};
use irene_core::{Actor, Event};
use serde_json::Value;

pub(crate) struct CloudTrail;

const SOURCE: &str = "aws.cloudtrail";

/// The `detail-type`s CloudTrail gives its EventBridge events (AWS documents the sign-in one
/// both as "Sign In" and "Signin").
const DETAIL_TYPES: &[&str] = &[
    "AWS API Call via CloudTrail",
    "AWS Console Sign In via CloudTrail",
    "AWS Console Signin via CloudTrail",
    "AWS Console Action via CloudTrail",
    "AWS Service Event via CloudTrail",
    "AWS Insight via CloudTrail",
];

const INSIGHT_TYPE: &str = "AwsCloudTrailInsight";

/// CloudTrail's `eventSource` is a service endpoint (`iam.amazonaws.com`); S3, SQS, SNS and
/// DynamoDB notifications, which also come as `Records`, say `aws:s3`, `aws:sqs`…
fn is_service_endpoint(s: &str) -> bool {
    let s = s.to_ascii_lowercase();
    s.ends_with(".amazonaws.com") || s.ends_with(".amazonaws.com.cn")
}

fn is_insight(record: &Node) -> bool {
    record.str_is("eventType", INSIGHT_TYPE) || record.str_is("eventCategory", "Insight")
}

/// An API, service or sign-in record names a service endpoint as `eventSource`; an Insights
/// record has it inside `insightDetails`.
fn has_cloudtrail_source(r: &Node) -> bool {
    r.str_at("eventSource").is_some_and(is_service_endpoint)
        || (is_insight(r) && r.get("insightDetails").is_some_and(|d| d.is_object()))
}

/// A single record as `auto` recognizes it.
fn is_record(r: &Node) -> bool {
    r.get("eventVersion").is_some()
        && r.get("eventTime").is_some()
        && has_cloudtrail_source(r)
        && (is_insight(r) || r.str_at("eventName").is_some())
}

impl Decoder for CloudTrail {
    fn name(&self) -> &'static str {
        SOURCE
    }

    fn recognizes(&self, item: &Value) -> bool {
        let root = Node::root(item, Keys::Exact);
        if let Some(source) = envelope::eventbridge_source(&root) {
            return source.starts_with("aws.")
                && root
                    .str_at("detail-type")
                    .is_some_and(|t| DETAIL_TYPES.iter().any(|d| d.eq_ignore_ascii_case(t)));
        }
        if let Some(records) = root.get("Records") {
            // The first record decides; a file with a bad record later is still CloudTrail's
            // (and its error says which record).
            return records
                .elements()
                .first()
                .is_some_and(|r| r.get("eventVersion").is_some() && has_cloudtrail_source(r));
        }
        is_record(&root)
    }

    fn decode(&self, item: &Value) -> Result<Decoded, DecodeError> {
        let root = Node::root(item, Keys::Exact);
        root.expect_object()?;
        if let Some(records) = root.opt_array("Records")? {
            let mut events = Vec::with_capacity(records.len());
            for r in &records {
                events.push(record(r, None)?);
            }
            return Ok(Decoded::events(events));
        }
        if let Some(event) = envelope::eventbridge(&root)? {
            envelope::expect_detail_type(&root, &event, DETAIL_TYPES)?;
            return Ok(Decoded::events(vec![record(&event.detail, Some(&event))?]));
        }
        Ok(Decoded::events(vec![record(&root, None)?]))
    }
}

/// One record → one `Event`. `event` is the EventBridge envelope around it, if any: its
/// account, region and time stand in for the record's when the record lacks them.
fn record(r: &Node, event: Option<&EventBridge>) -> Result<Event, DecodeError> {
    if !r.is_object() {
        return Err(r.type_error("an object (a CloudTrail record)"));
    }
    let name = if is_insight(r) {
        insight_name(r)?
    } else {
        let name = r.req_string("eventName")?;
        let source = r.req_string("eventSource")?;
        if source.to_ascii_lowercase().starts_with("aws:") {
            return Err(DecodeError::new(
                r.path_of("eventSource"),
                format!(
                    "{source:?} is the source of an S3/SQS/SNS event notification, not a CloudTrail record"
                ),
            ));
        }
        format!("{source}:{name}")
    };
    let identity = r.opt_object("userIdentity")?;
    let identity_account = match &identity {
        Some(u) => u.opt_string("accountId")?,
        None => None,
    };
    let account = r
        .opt_string("recipientAccountId")?
        .map(str::to_string)
        .or_else(|| event.and_then(|e| e.account.clone()))
        .or_else(|| identity_account.map(str::to_string));
    let region = r
        .opt_string("awsRegion")?
        .map(str::to_string)
        .or_else(|| event.and_then(|e| e.region.clone()));
    let observed_at = fields::opt_time(r, "eventTime")?
        .or_else(|| event.and_then(|e| e.time).and_then(fields::time));
    let principal = match &identity {
        Some(u) => principal(u)?,
        None => None,
    };
    let actor = Actor {
        principal,
        ip: r.opt_string("sourceIPAddress")?.and_then(fields::ip),
        user_agent: r.opt_string("userAgent")?.map(str::to_string),
    };
    Ok(Event {
        source: SOURCE.to_string(),
        source_id: r.opt_string("eventID")?.map(str::to_string),
        name,
        account,
        region,
        actor,
        observed_at,
        raw: r.value.clone(),
    })
}

/// `insight:<insightType>:<eventSource>:<eventName>`: kept apart from the API call's own
/// `eventSource:eventName`, so that a rule about the call does not fire on its rate anomaly.
fn insight_name(r: &Node) -> Result<String, DecodeError> {
    let details = r.opt_object("insightDetails")?.ok_or_else(|| {
        DecodeError::new(
            r.path_of("insightDetails"),
            "missing required field (an Insights record has an insightDetails object)",
        )
    })?;
    let source = details.req_string("eventSource")?;
    let name = details.req_string("eventName")?;
    let kind = details.opt_string("insightType")?.unwrap_or("unknown");
    Ok(format!("insight:{kind}:{source}:{name}"))
}

/// Who acted. The ARN when there is one; otherwise what identifies that kind of identity best:
/// the service for `AWSService`, the user name for users, else the principal id.
fn principal(u: &Node) -> Result<Option<String>, DecodeError> {
    let kind = u.opt_string("type")?.unwrap_or("");
    let arn = u.opt_string("arn")?;
    let principal_id = u.opt_string("principalId")?;
    let user_name = u.opt_string("userName")?;
    let invoked_by = u.opt_string("invokedBy")?;
    let order: [Option<&str>; 4] = match kind {
        "AWSService" => [invoked_by, arn, principal_id, user_name],
        "IAMUser" | "Unknown" | "IdentityCenterUser" | "SAMLUser" | "WebIdentityUser" => {
            [arn, user_name, principal_id, invoked_by]
        }
        // Root, AssumedRole, FederatedUser, Role, AWSAccount, Directory…: the principal id
        // (`AROA…:session`, `123456789012:Bob`, the account id) says more than a user name.
        _ => [arn, principal_id, user_name, invoked_by],
    };
    if let Some(p) = order.into_iter().flatten().next() {
        return Ok(Some(p.to_string()));
    }
    // Identity Center users are named by their store's user id; a session by its issuer.
    let on_behalf = u
        .at(&["onBehalfOf", "userId"])
        .and_then(|n| n.as_str())
        .or_else(|| {
            u.at(&["sessionContext", "sessionIssuer", "arn"])
                .and_then(|n| n.as_str())
        });
    Ok(on_behalf.map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_endpoints() {
        assert!(is_service_endpoint("iam.amazonaws.com"));
        assert!(is_service_endpoint("S3.AMAZONAWS.COM"));
        assert!(!is_service_endpoint("aws:s3"));
        assert!(is_service_endpoint("ec2.amazonaws.com.cn"));
        assert!(!is_service_endpoint("amazonaws.com"));
        assert!(!is_service_endpoint("evil.example"));
    }
}

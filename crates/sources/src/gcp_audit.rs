//! Google Cloud Audit Logs (and Workspace audit logs routed to Cloud Logging): a `LogEntry` whose
//! `protoPayload` is an `AuditLog`, bare (one per NDJSON line or array element, as exports write
//! them) or in a Pub/Sub push body (a log sink to a topic). Each entry becomes one `Event`.
//! Entries of other logs a sink may carry (request logs, `jsonPayload`, `textPayload`) are
//! refused with an error, never decoded as audit logs. Reads camelCase and snake_case alike.

use crate::envelope;
use crate::fields;
use crate::json::{Keys, Node};
use crate::scc::region_of_location;
use crate::{DecodeError, Decoded, Decoder};
use irene_core::{Actor, Event};
use serde_json::Value;

pub(crate) struct GcpAudit;

const SOURCE: &str = "gcp.audit";

const AUDIT_LOG_TYPE: &str = "type.googleapis.com/google.cloud.audit.AuditLog";

/// What this decoder expects inside a Pub/Sub message, for errors.
const EXPECTED: &str = "a Cloud Audit Logs LogEntry";

/// `projects/p/logs/cloudaudit.googleapis.com%2Factivity` (the log id may be unescaped too).
fn is_audit_log_name(log_name: &str) -> bool {
    log_name.contains("/logs/cloudaudit.googleapis.com")
}

/// An audit LogEntry: its `protoPayload` says it is an `AuditLog`, or (for exports that drop
/// `@type`) has no `@type`, a `methodName`, and the entry is in a `cloudaudit.googleapis.com` log.
fn is_audit_entry(entry: &Node) -> bool {
    let Some(proto) = entry.get("protoPayload") else {
        return false;
    };
    match proto.get("@type") {
        Some(t) => t.as_str() == Some(AUDIT_LOG_TYPE),
        None => {
            entry.str_at("logName").is_some_and(is_audit_log_name)
                && proto.str_at("methodName").is_some()
        }
    }
}

impl Decoder for GcpAudit {
    fn name(&self) -> &'static str {
        SOURCE
    }

    fn recognizes(&self, item: &Value) -> bool {
        let root = Node::root(item, Keys::Loose);
        if root.get("protoPayload").is_none() {
            if let Some(data) = envelope::pubsub_data(&root) {
                // Only envelopes that verifiably hold an audit entry; undecodable data is
                // left to the decoders that claim it (SCC).
                return envelope::pubsub_json(&data, EXPECTED)
                    .is_ok_and(|inner| is_audit_entry(&Node::root(&inner, Keys::Loose)));
            }
        }
        is_audit_entry(&root)
    }

    fn decode(&self, item: &Value) -> Result<Decoded, DecodeError> {
        let root = Node::root(item, Keys::Loose);
        root.expect_object()?;
        if root.get("protoPayload").is_none() {
            if let Some(message) = root.get("message") {
                let (inner, data_path) = envelope::pubsub_message(&message, EXPECTED)?;
                let node = Node::with_path(&inner, data_path, Keys::Loose);
                return Ok(Decoded::events(vec![entry(&node)?]));
            }
        }
        Ok(Decoded::events(vec![entry(&root)?]))
    }
}

/// Why an entry without `protoPayload` is not an audit entry, naming the payload it has.
fn missing_payload(e: &Node) -> DecodeError {
    let other = ["jsonPayload", "textPayload"]
        .into_iter()
        .find(|k| e.get(k).is_some());
    let message = match other {
        Some(k) => format!(
            "missing required field (expected a Cloud Audit Logs protoPayload; this LogEntry has {k})"
        ),
        None => "missing required field (expected a LogEntry with a Cloud Audit Logs protoPayload)"
            .to_string(),
    };
    DecodeError::new(e.path_of("protoPayload"), message)
}

/// One LogEntry → one `Event`; `raw` is the entry (not the Pub/Sub envelope around it).
fn entry(e: &Node) -> Result<Event, DecodeError> {
    e.expect_object()?;
    let proto = e
        .opt_object("protoPayload")?
        .ok_or_else(|| missing_payload(e))?;
    if let Some(t) = proto.get("@type") {
        match t.as_str() {
            Some(AUDIT_LOG_TYPE) => {}
            Some(other) => {
                return Err(t.error(format!(
                    "expected {AUDIT_LOG_TYPE:?} (a Cloud Audit Logs entry), found {other:?}"
                )))
            }
            None => return Err(t.type_error("a non-empty string")),
        }
    }
    let method = proto.req_string("methodName")?;
    let auth = proto.opt_object("authenticationInfo")?;
    let principal = match &auth {
        Some(a) => a
            .opt_string("principalEmail")?
            .or(a.opt_string("principalSubject")?),
        None => None,
    };
    let meta = proto.opt_object("requestMetadata")?;
    let (ip, user_agent) = match &meta {
        Some(m) => (
            m.opt_string("callerIp")?.and_then(fields::ip),
            m.opt_string("callerSuppliedUserAgent")?,
        ),
        None => (None, None),
    };
    let labels = match e.opt_object("resource")? {
        Some(r) => r.opt_object("labels")?,
        None => None,
    };
    let mut project = None;
    let mut location = None;
    if let Some(l) = &labels {
        project = l.opt_string("project_id")?;
        for key in ["location", "region", "zone"] {
            if let Some(v) = l.opt_string(key)? {
                location.get_or_insert(v);
            }
        }
    }
    let log_name = e.opt_string("logName")?;
    let account = project
        .map(str::to_string)
        .or_else(|| log_name.and_then(log_parent));
    let observed_at = match fields::opt_time(e, "timestamp")? {
        Some(t) => Some(t),
        None => fields::opt_time(e, "receiveTimestamp")?,
    };
    Ok(Event {
        source: SOURCE.to_string(),
        source_id: e.opt_string("insertId")?.map(str::to_string),
        name: method.to_string(),
        account,
        region: location.map(region_of_location),
        actor: Actor {
            principal: principal.map(str::to_string),
            ip,
            user_agent: user_agent.map(str::to_string),
        },
        observed_at,
        raw: e.value.clone(),
    })
}

/// The resource a log belongs to: the project id of `projects/<id>/logs/…`, or
/// `organizations/<id>`, `folders/<id>`, `billingAccounts/<id>` as they are written.
fn log_parent(log_name: &str) -> Option<String> {
    let (parent, _) = log_name.split_once("/logs/")?;
    let (kind, id) = parent.split_once('/')?;
    if id.is_empty() || id.contains('/') {
        return None;
    }
    match kind {
        "projects" => Some(id.to_string()),
        "organizations" | "folders" | "billingAccounts" => Some(parent.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_parents() {
        let table = [
            (
                "projects/my-project/logs/cloudaudit.googleapis.com%2Factivity",
                Some("my-project"),
            ),
            (
                "organizations/123/logs/cloudaudit.googleapis.com%2Fdata_access",
                Some("organizations/123"),
            ),
            (
                "folders/42/logs/cloudaudit.googleapis.com/policy",
                Some("folders/42"),
            ),
            (
                "billingAccounts/0A-1B/logs/cloudaudit.googleapis.com%2Factivity",
                Some("billingAccounts/0A-1B"),
            ),
            ("projects//logs/x", None),
            ("somewhere/else/logs/x", None),
            ("projects/p", None),
        ];
        for (name, want) in table {
            assert_eq!(log_parent(name).as_deref(), want, "{name}");
        }
        assert!(is_audit_log_name(
            "projects/p/logs/cloudaudit.googleapis.com%2Fsystem_event"
        ));
        assert!(!is_audit_log_name("projects/p/logs/requests"));
    }
}

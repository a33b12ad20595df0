//! Transport wrappers decoders meet: the EventBridge event and the SNS notification (AWS), the
//! Pub/Sub push body (Google Cloud). Unwraps them only; what the inner payload means is each decoder's business.

use crate::json::{kind_of, Keys, Node};
use crate::DecodeError;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use serde_json::Value;

/// An EventBridge event: `{"source", "detail-type", "account", "region", "time", "detail": {...}}`.
pub(crate) struct EventBridge<'a> {
    pub detail_type: Option<&'a str>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub time: Option<&'a Value>,
    pub detail: Node<'a>,
}

/// The EventBridge `source` of an item, when it looks like an EventBridge event.
pub(crate) fn eventbridge_source<'a>(root: &Node<'a>) -> Option<&'a str> {
    if root.get("detail-type").is_some() && root.get("detail").is_some() {
        root.str_at("source")
    } else {
        None
    }
}

/// The EventBridge envelope around `root`, if `root` has a `detail` member.
/// `detail` must be an object.
pub(crate) fn eventbridge<'a>(root: &Node<'a>) -> Result<Option<EventBridge<'a>>, DecodeError> {
    let Some(detail) = root.get("detail") else {
        return Ok(None);
    };
    detail.expect_object()?;
    Ok(Some(EventBridge {
        detail_type: root.str_at("detail-type"),
        account: root.text_at("account"),
        region: root.text_at("region"),
        time: root.get("time").map(|n| n.value),
        detail,
    }))
}

/// Checks the `detail-type` of an event against the ones a decoder handles.
pub(crate) fn expect_detail_type(
    root: &Node,
    event: &EventBridge,
    accepted: &[&str],
) -> Result<(), DecodeError> {
    match event.detail_type {
        Some(t) if !accepted.iter().any(|a| a.eq_ignore_ascii_case(t)) => Err(DecodeError::new(
            root.path_of("detail-type"),
            format!(
                "expected {}, found {t:?}",
                accepted
                    .iter()
                    .map(|a| format!("{a:?}"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        )),
        _ => Ok(()),
    }
}

/// An SNS notification's message: `{"Type": "Notification", "Message": ...}` where `Message` is
/// an object or a string holding JSON. `None` when `root` is not an SNS notification.
pub(crate) enum SnsMessage<'a> {
    Object(Node<'a>),
    Parsed { value: Value, path: String },
}

impl<'a> SnsMessage<'a> {
    pub fn node(&self) -> Node<'_> {
        match self {
            SnsMessage::Object(n) => n.clone(),
            SnsMessage::Parsed { value, path } => Node::with_path(value, path.clone(), Keys::Loose),
        }
    }
}

pub(crate) fn is_sns(root: &Node) -> bool {
    root.str_is("Type", "Notification") && root.get("Message").is_some()
}

pub(crate) fn sns_message<'a>(root: &Node<'a>) -> Result<Option<SnsMessage<'a>>, DecodeError> {
    if !is_sns(root) {
        return Ok(None);
    }
    let Some(message) = root.get("Message") else {
        return Ok(None);
    };
    match message.value {
        Value::Object(_) => Ok(Some(SnsMessage::Object(message))),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(value) if value.is_object() => Ok(Some(SnsMessage::Parsed {
                value,
                path: message.path.clone(),
            })),
            Ok(value) => Err(message.error(format!(
                "expected a JSON object in the message, found {}",
                kind_of(&value)
            ))),
            Err(e) => Err(message.error(format!("the message is not JSON: {e}"))),
        },
        _ => Err(message.type_error("an object or a string holding JSON")),
    }
}

const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

/// The `data` of a Pub/Sub push body: `{"message": {"data": ..., "messageId", "publishTime",
/// "attributes"}, "subscription": ...}`. `None` when `root` has no `message.data`.
pub(crate) fn pubsub_data<'a>(root: &Node<'a>) -> Option<Node<'a>> {
    root.get("message")?.get("data")
}

/// The JSON object a Pub/Sub `data` field holds (standard or URL-safe base64, padded or not),
/// or why it holds none. `expected` names the document wanted ("a LogEntry"), for errors.
pub(crate) fn pubsub_json(data: &Node, expected: &str) -> Result<Value, DecodeError> {
    let text = data
        .as_str()
        .ok_or_else(|| data.type_error("a base64 string"))?;
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = STANDARD
        .decode(&compact)
        .or_else(|_| URL_SAFE.decode(&compact))
        .map_err(|e| data.error(format!("not valid base64: {e}")))?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        data.error(format!(
            "the message data is not JSON ({e}); expected {expected}"
        ))
    })?;
    if !value.is_object() {
        return Err(data.error(format!(
            "the message data is {}, expected {expected} object",
            kind_of(&value)
        )));
    }
    Ok(value)
}

/// The document carried by a push body's `message` (which must be an object with `data`),
/// and the pointer of `data`, under which paths into the document are reported.
pub(crate) fn pubsub_message(
    message: &Node,
    expected: &str,
) -> Result<(Value, String), DecodeError> {
    message.expect_object()?;
    let data = message.get("data").ok_or_else(|| {
        DecodeError::new(
            message.path_of("data"),
            "missing required field (expected base64)",
        )
    })?;
    Ok((pubsub_json(&data, expected)?, data.path.clone()))
}

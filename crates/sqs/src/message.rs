//! What an SQS message body is, by its shape: S3 event notifications (bare or SNS-wrapped),
//! EventBridge "Object Created", CloudTrail's log-delivery notification, test events, or an event
//! that is itself the payload. Pure: it reads no clock and calls no AWS API.

use serde_json::Value;

/// An S3 object a message points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub bucket: String,
    /// The key as stored (URL-decoding already undone).
    pub key: String,
    /// The size the notification gave, if any.
    pub size: Option<u64>,
    /// The ETag the notification gave (without quotes), if any.
    pub etag: Option<String>,
    /// The region the notification names (S3 event records, EventBridge events), if any.
    pub region: Option<String>,
}

/// What to do with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Read these objects (an S3 notification, EventBridge "Object Created", CloudTrail's
    /// log-delivery notification). Empty when every record was of another kind (a delete).
    Objects(Vec<ObjectRef>),
    /// The event is the payload (EventBridge finding, Config change, …): `body` is the
    /// event's JSON text (unwrapped from SNS), `id` its event id or the message id.
    Event { body: String, id: String },
    /// Nothing to read: S3's `s3:TestEvent`, an SNS subscription notice, … (the reason).
    Nothing(&'static str),
}

/// Why a body is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

/// Reads one message body. `message_id` is the SQS message id (the event id of last resort).
pub fn parse(body: &str, message_id: &str) -> Result<Parsed, Malformed> {
    let value: Value = serde_json::from_str(body)
        .map_err(|e| Malformed(format!("the message body is not JSON: {e}")))?;
    // SNS (not raw delivery): the notification's Message is the text of what was published.
    if let Some(kind) = sns_type(&value) {
        match kind {
            "Notification" => {
                let sns_id = value
                    .get("MessageId")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .unwrap_or(message_id);
                return match value.get("Message") {
                    Some(Value::String(inner)) => {
                        let inner_value: Value = serde_json::from_str(inner).map_err(|e| {
                            Malformed(format!("the SNS notification's Message is not JSON: {e}"))
                        })?;
                        classify(inner_value, inner, sns_id)
                    }
                    // as AWS's documentation prints them: the message as JSON, not as text
                    Some(inner @ (Value::Object(_) | Value::Array(_))) => {
                        classify(inner.clone(), &inner.to_string(), sns_id)
                    }
                    _ => Err(Malformed(
                        "an SNS notification without a JSON Message".into(),
                    )),
                };
            }
            "SubscriptionConfirmation" | "UnsubscribeConfirmation" => {
                return Ok(Parsed::Nothing(
                    "an SNS subscription notice (confirm subscriptions in AWS, not here)",
                ))
            }
            _ => {}
        }
    }
    classify(value, body, message_id)
}

/// `Type` of an SNS envelope (it also carries `TopicArn`).
fn sns_type(v: &Value) -> Option<&str> {
    let kind = v.get("Type")?.as_str()?;
    v.get("TopicArn")?.as_str()?;
    Some(kind)
}

fn classify(value: Value, text: &str, fallback_id: &str) -> Result<Parsed, Malformed> {
    if let Some(records) = value.get("Records").and_then(Value::as_array) {
        let s3 = |r: &Value| r.get("eventSource").and_then(Value::as_str) == Some("aws:s3");
        if !records.is_empty() && records.iter().all(s3) {
            return s3_records(records).map(Parsed::Objects);
        }
        if records.iter().any(s3) {
            return Err(Malformed(
                "S3 event records mixed with other records".into(),
            ));
        }
    }
    if value.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Parsed::Nothing("S3's s3:TestEvent"));
    }
    if value.get("source").and_then(Value::as_str) == Some("aws.s3")
        && value.get("detail-type").and_then(Value::as_str) == Some("Object Created")
    {
        return eventbridge_object(&value).map(|o| Parsed::Objects(vec![o]));
    }
    if let (Some(bucket), Some(keys)) = (
        value.get("s3Bucket").and_then(Value::as_str),
        value.get("s3ObjectKey").and_then(Value::as_array),
    ) {
        return cloudtrail_delivery(bucket, keys).map(Parsed::Objects);
    }
    // An EventBridge event carries its own id; anything else goes by the message's.
    let id = match (
        value.get("detail-type").and_then(Value::as_str),
        value.get("id").and_then(Value::as_str),
    ) {
        (Some(_), Some(id)) if !id.is_empty() => id,
        _ => fallback_id,
    };
    Ok(Parsed::Event {
        body: text.to_string(),
        id: id.to_string(),
    })
}

fn s3_records(records: &[Value]) -> Result<Vec<ObjectRef>, Malformed> {
    let mut out = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let name = r.get("eventName").and_then(Value::as_str).unwrap_or("");
        if !name.starts_with("ObjectCreated:") {
            continue;
        }
        let s3 = r.get("s3");
        let bucket = s3
            .and_then(|s| s.get("bucket"))
            .and_then(|b| b.get("name"))
            .and_then(Value::as_str)
            .filter(|b| !b.is_empty())
            .ok_or_else(|| Malformed(format!("S3 record {i} names no bucket")))?;
        let object = s3.and_then(|s| s.get("object"));
        let raw_key = object
            .and_then(|o| o.get("key"))
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| Malformed(format!("S3 record {i} names no object key")))?;
        let key = url_decode(raw_key)
            .map_err(|e| Malformed(format!("S3 record {i}: the object key {e}")))?;
        out.push(ObjectRef {
            bucket: bucket.to_string(),
            key,
            size: object.and_then(|o| o.get("size")).and_then(Value::as_u64),
            etag: object
                .and_then(|o| o.get("eTag"))
                .and_then(Value::as_str)
                .map(unquote),
            region: r
                .get("awsRegion")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        });
    }
    Ok(out)
}

/// EventBridge's object keys are not URL-encoded (S3 notifications' are).
fn eventbridge_object(v: &Value) -> Result<ObjectRef, Malformed> {
    let detail = v.get("detail");
    let bucket = detail
        .and_then(|d| d.get("bucket"))
        .and_then(|b| b.get("name"))
        .and_then(Value::as_str)
        .filter(|b| !b.is_empty())
        .ok_or_else(|| Malformed("an Object Created event names no bucket".into()))?;
    let object = detail.and_then(|d| d.get("object"));
    let key = object
        .and_then(|o| o.get("key"))
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| Malformed("an Object Created event names no object key".into()))?;
    Ok(ObjectRef {
        bucket: bucket.to_string(),
        key: key.to_string(),
        size: object.and_then(|o| o.get("size")).and_then(Value::as_u64),
        etag: object
            .and_then(|o| o.get("etag"))
            .and_then(Value::as_str)
            .map(unquote),
        region: v
            .get("region")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
    })
}

/// CloudTrail's SNS notice of delivered log files: the bucket and the keys, as stored.
fn cloudtrail_delivery(bucket: &str, keys: &[Value]) -> Result<Vec<ObjectRef>, Malformed> {
    if bucket.is_empty() {
        return Err(Malformed(
            "a CloudTrail delivery notice with an empty s3Bucket".into(),
        ));
    }
    keys.iter()
        .enumerate()
        .map(|(i, k)| match k.as_str() {
            Some(key) if !key.is_empty() => Ok(ObjectRef {
                bucket: bucket.to_string(),
                key: key.to_string(),
                size: None,
                etag: None,
                region: None,
            }),
            _ => Err(Malformed(format!(
                "a CloudTrail delivery notice's s3ObjectKey[{i}] is not a key"
            ))),
        })
        .collect()
}

/// An ETag without its quotes (S3's headers quote it, notifications do not).
pub fn unquote(etag: &str) -> String {
    etag.trim().trim_matches('"').to_string()
}

/// Undoes S3 notifications' key encoding: `+` is a space, `%XX` a byte; the bytes are UTF-8.
pub fn url_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("has a bad escape at byte {i}"))?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "is not UTF-8 once decoded".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS docs, "Event message structure" (S3 User Guide, notification-content-structure).
    const S3_PUT: &str = r#"{
       "Records":[
          {
             "eventVersion":"2.1",
             "eventSource":"aws:s3",
             "awsRegion":"us-west-2",
             "eventTime":"1970-01-01T00:00:00.000Z",
             "eventName":"ObjectCreated:Put",
             "userIdentity":{"principalId":"AIDAJDPLRKLG7UEXAMPLE"},
             "requestParameters":{"sourceIPAddress":"127.0.0.1"},
             "responseElements":{
                "x-amz-request-id":"C3D13FE58DE4C810",
                "x-amz-id-2":"FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"
             },
             "s3":{
                "s3SchemaVersion":"1.0",
                "configurationId":"testConfigRule",
                "bucket":{
                   "name":"amzn-s3-demo-bucket",
                   "ownerIdentity":{"principalId":"A3NL1KOZZKExample"},
                   "arn":"arn:aws:s3:::amzn-s3-demo-bucket"
                },
                "object":{
                   "key":"AWSLogs/111122223333/CloudTrail/us-west-2/2024/05/01/111122223333_CloudTrail_us-west-2_20240501T0000Z_a+b%3Dc.json.gz",
                   "size":1024,
                   "eTag":"d41d8cd98f00b204e9800998ecf8427e",
                   "versionId":"096fKKXTRTtl3on89fVO.nfljtsv6qko",
                   "sequencer":"0055AED6DCD90281E5"
                }
             }
          }
       ]
    }"#;

    /// AWS docs: the test message S3 sends when a notification is configured.
    const S3_TEST: &str = r#"{
       "Service":"Amazon S3",
       "Event":"s3:TestEvent",
       "Time":"2014-10-13T15:57:02.089Z",
       "Bucket":"amzn-s3-demo-bucket",
       "RequestId":"5582815E1AEA5ADF",
       "HostId":"8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"
    }"#;

    /// AWS docs (S3 User Guide, EventBridge "Object Created" example).
    const EB_OBJECT_CREATED: &str = r#"{
      "version": "0",
      "id": "17793124-05d4-b198-2fde-7ededc63b103",
      "detail-type": "Object Created",
      "source": "aws.s3",
      "account": "111122223333",
      "time": "2021-11-12T00:00:00Z",
      "region": "ca-central-1",
      "resources": ["arn:aws:s3:::amzn-s3-demo-bucket1"],
      "detail": {
        "version": "0",
        "bucket": {"name": "amzn-s3-demo-bucket1"},
        "object": {
          "key": "logs/2021-11-12T00:00:00 a+b.json",
          "size": 5,
          "etag": "b1946ac92492d2347c6235b4d2611184",
          "version-id": "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
          "sequencer": "00617F08299329D189"
        },
        "request-id": "N4N7GDK58NMKJ12R",
        "requester": "123456789012",
        "source-ip-address": "1.2.3.4",
        "reason": "PutObject"
      }
    }"#;

    /// AWS docs (CloudTrail User Guide, "Configuring Amazon SNS notifications for CloudTrail").
    const CLOUDTRAIL_SNS_MESSAGE: &str = r#"{"s3Bucket":"amzn-s3-demo-bucket","s3ObjectKey":["AWSLogs/123456789012/CloudTrail/us-east-2/2013/12/13/123456789012_CloudTrail_us-west-2_20131213T1920Z_LnPgDQnpkSKEsppV.json.gz"]}"#;

    fn sns(message: &str) -> String {
        serde_json::json!({
            "Type": "Notification",
            "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
            "TopicArn": "arn:aws:sns:us-west-2:123456789012:MyTopic",
            "Subject": "Amazon S3 Notification",
            "Message": message,
            "Timestamp": "2012-05-02T00:54:06.655Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLEw6JRN",
            "SigningCertURL": "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
            "UnsubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe"
        })
        .to_string()
    }

    fn fixture(rel: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../sources/tests/fixtures")
            .join(rel);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn put_object() -> ObjectRef {
        ObjectRef {
            bucket: "amzn-s3-demo-bucket".into(),
            key: "AWSLogs/111122223333/CloudTrail/us-west-2/2024/05/01/111122223333_CloudTrail_us-west-2_20240501T0000Z_a b=c.json.gz".into(),
            size: Some(1024),
            etag: Some("d41d8cd98f00b204e9800998ecf8427e".into()),
            region: Some("us-west-2".into()),
        }
    }

    #[test]
    fn shapes() {
        let cloudtrail_object = ObjectRef {
            bucket: "amzn-s3-demo-bucket".into(),
            key: "AWSLogs/123456789012/CloudTrail/us-east-2/2013/12/13/123456789012_CloudTrail_us-west-2_20131213T1920Z_LnPgDQnpkSKEsppV.json.gz".into(),
            size: None,
            etag: None,
            region: None,
        };
        let eb_object = ObjectRef {
            bucket: "amzn-s3-demo-bucket1".into(),
            key: "logs/2021-11-12T00:00:00 a+b.json".into(),
            size: Some(5),
            etag: Some("b1946ac92492d2347c6235b4d2611184".into()),
            region: Some("ca-central-1".into()),
        };
        let table: Vec<(&str, String, Parsed)> = vec![
            (
                "S3 notification",
                S3_PUT.into(),
                Parsed::Objects(vec![put_object()]),
            ),
            (
                "S3 notification via SNS",
                sns(S3_PUT),
                Parsed::Objects(vec![put_object()]),
            ),
            (
                "S3 test event",
                S3_TEST.into(),
                Parsed::Nothing("S3's s3:TestEvent"),
            ),
            (
                "S3 test event via SNS",
                sns(S3_TEST),
                Parsed::Nothing("S3's s3:TestEvent"),
            ),
            (
                "EventBridge Object Created",
                EB_OBJECT_CREATED.into(),
                Parsed::Objects(vec![eb_object.clone()]),
            ),
            (
                "EventBridge Object Created via SNS",
                sns(EB_OBJECT_CREATED),
                Parsed::Objects(vec![eb_object]),
            ),
            (
                "CloudTrail delivery notice via SNS",
                sns(CLOUDTRAIL_SNS_MESSAGE),
                Parsed::Objects(vec![cloudtrail_object.clone()]),
            ),
            (
                "CloudTrail delivery notice, raw",
                CLOUDTRAIL_SNS_MESSAGE.into(),
                Parsed::Objects(vec![cloudtrail_object]),
            ),
        ];
        for (name, body, want) in table {
            assert_eq!(parse(&body, "m-1"), Ok(want), "{name}");
        }
    }

    #[test]
    fn events_are_the_payload_keyed_by_their_id() {
        for (rel, id) in [
            (
                "guardduty/eventbridge_backdoor_ec2_cc_activity_dns_example.json",
                None,
            ),
            (
                "securityhub/eventbridge_imported_fsbp_ec2.7_failed_new.json",
                None,
            ),
            (
                "aws-config/eventbridge_config_rules_compliance_change_noncompliant.json",
                None,
            ),
            // a bare finding has no event id: the message's id keys it
            (
                "securityhub/asff_fsbp_s3.2_passed_resolved.json",
                Some("m-1"),
            ),
        ] {
            let text = fixture(rel);
            let v: Value = serde_json::from_str(&text).unwrap();
            let want_id = id
                .map(str::to_string)
                .or_else(|| v["id"].as_str().map(str::to_string))
                .unwrap();
            assert_eq!(
                parse(&text, "m-1"),
                Ok(Parsed::Event {
                    body: text.clone(),
                    id: want_id.clone()
                }),
                "{rel}"
            );
            // SNS-wrapped: the inner event's id, else the SNS message id; the body unwrapped
            let want_id = id
                .map(|_| "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324".to_string())
                .unwrap_or(want_id);
            assert_eq!(
                parse(&sns(&text), "m-1"),
                Ok(Parsed::Event {
                    body: text.clone(),
                    id: want_id
                }),
                "{rel} via SNS"
            );
        }
    }

    #[test]
    fn an_sns_message_printed_as_json_is_read_too() {
        let text = fixture("aws-config/awsdocs_sns_compliance_change_notification_compliant.json");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            parse(&text, "m-1"),
            Ok(Parsed::Event {
                body: v["Message"].to_string(),
                id: "11fd05dd-47e1-5523-bc01-55b988bb9478".into()
            })
        );
    }

    #[test]
    fn cloudtrail_records_in_a_message_are_an_event_payload() {
        // someone sends a log file's content as the message: it is the payload itself
        let text = fixture("cloudtrail/invictus_s3_delivery_console_login_success.json");
        match parse(&text, "m-9").unwrap() {
            Parsed::Event { body, id } => {
                assert_eq!(body, text);
                assert_eq!(id, "m-9");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn other_s3_events_read_nothing() {
        let removed = S3_PUT.replace("ObjectCreated:Put", "ObjectRemoved:Delete");
        assert_eq!(parse(&removed, "m"), Ok(Parsed::Objects(vec![])));
        let multipart =
            S3_PUT.replace("ObjectCreated:Put", "ObjectCreated:CompleteMultipartUpload");
        assert_eq!(
            parse(&multipart, "m"),
            Ok(Parsed::Objects(vec![put_object()]))
        );
    }

    #[test]
    fn subscription_notices_read_nothing() {
        let body = serde_json::json!({
            "Type": "SubscriptionConfirmation",
            "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
            "Token": "2336412f37",
            "TopicArn": "arn:aws:sns:us-west-2:123456789012:MyTopic",
            "Message": "You have chosen to subscribe to the topic",
            "SubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription"
        })
        .to_string();
        assert!(matches!(parse(&body, "m"), Ok(Parsed::Nothing(_))));
    }

    #[test]
    fn malformed_bodies_say_why() {
        let no_key = S3_PUT.replace("\"key\":", "\"nokey\":");
        let bad_escape = S3_PUT.replace("a+b%3Dc", "a%zz");
        let table: Vec<(&str, String, &str)> = vec![
            ("not JSON", "hello <xml/>".into(), "not JSON"),
            ("truncated", S3_PUT[..40].to_string(), "not JSON"),
            ("SNS with text", sns("Hello world!"), "Message is not JSON"),
            ("S3 record without key", no_key, "no object key"),
            ("bad escape", bad_escape, "bad escape"),
            (
                "CloudTrail notice with a number as key",
                r#"{"s3Bucket":"b","s3ObjectKey":[7]}"#.into(),
                "s3ObjectKey[0]",
            ),
            (
                "Object Created without bucket",
                EB_OBJECT_CREATED.replace("\"bucket\"", "\"pail\""),
                "no bucket",
            ),
        ];
        for (name, body, want) in table {
            let e = parse(&body, "m").unwrap_err();
            assert!(e.0.contains(want), "{name}: {e}");
        }
    }

    #[test]
    fn url_decoding() {
        assert_eq!(url_decode("a+b%2Bc%20d").unwrap(), "a b+c d");
        assert_eq!(url_decode("caf%C3%A9").unwrap(), "café");
        assert_eq!(url_decode("x%3A1%2F2").unwrap(), "x:1/2");
        assert!(url_decode("100%").is_err());
        assert!(url_decode("%FF").is_err());
        assert_eq!(unquote("\"abc\""), "abc");
    }
}

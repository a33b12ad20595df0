//! Differential test: Irene's Sigma engine against pySigma's SQLite backend.
//!
//! The events: every fixture CloudTrail record and GCP audit entry of `tests/sigma/events`, and
//! events generated from each rule's detection (`tests/sigma` rules, and the rules of
//! `tests/sigma_diff/rules`, which exercise the modifiers and condition forms the SigmaHQ cloud
//! rules do not use). For each rule the generator finds a "seed" event that satisfies the rule,
//! then varies one detection item at a time: each value as written, its case variants, the
//! positions `contains`/`startswith`/`endswith` allow, filled and escaped wildcards, LIKE/GLOB
//! metacharacters, encodings, `all` lists with one value missing, CIDR inside/outside, numbers
//! around a comparison's bound, null/missing/empty, and near misses; and every subset of the
//! rule's search identifiers switched on (conditions with `and`, `or`, `not`, `1 of`, `all of`).
//!
//! Both engines judge every event against every rule whose logsource admits it: Irene through
//! [`SigmaRules::matches`] (and `matches_naive`, which must agree), pySigma through
//! `tests/sigma_diff/pysigma_matches.py` (rules converted to SQL, events flattened into SQLite
//! with `COLLATE NOCASE` columns). The (event, rule) pairs each matches are compared; every
//! disagreement must be listed in [`DOCUMENTED`], each with the specification's text, and the
//! test fails when the disagreements are not exactly those (a new one, or one that went away).
//!
//! Needs pySigma: `scripts/python-deps.sh` installs it into a venv that this test finds (see
//! [`python`]); without it the test fails, saying so.
// Tests may unwrap, expect and read fixture files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use base64::Engine as _;
use irene_rules::sigma::{logsource_of, SigmaRules};
use irene_rules::RuleFile;
use serde_json::{json, Value};
use serde_yaml::Value as Yaml;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

// ---------------------------------------------------------------------------------------------
// the documented differences

/// Which engine matches a pair the other does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Side {
    IreneOnly,
    PySigmaOnly,
}

/// Why the engines differ: what each does, and the specification's own words.
#[derive(Debug)]
struct Why {
    what: &'static str,
    /// Quoted from SigmaHQ's sigma-specification: "Sigma Rules Specification" 2.0.0
    /// (`specification/sigma-rules-specification.md`) and "Sigma Modifiers" appendix 2.1.0
    /// (`specification/sigma-appendix-modifiers.md`).
    spec: &'static str,
}

/// A field reached through an array. Irene: "A field reached through an array matches if any
/// element does" (and an empty array is no value, as a missing field). pySigma's flattened table
/// stores an array as its JSON text in one column, so a dotted name into it reads NULL and an
/// equality against the array's text fails.
const ARRAY: Why = Why {
    what: "a field reached through an array (any element may match; an empty array is no value): \
           the flattened SQL table holds the array as one JSON text",
    spec: "Rules specification, Maps: \"Maps (or dictionaries) consist of key/value pairs, in \
           which the key is a field in the log data and the value is a string or integer \
           value.\" The released specification says nothing more of arrays; the open Sigma \
           Enhancement Proposal \"SEP: Array Matching in Sigma\" (sigma-specification issue \
           #212) proposes \"implicit any-member matching\", which is what Irene does.",
};

/// A field holding an object. Irene compares its compact JSON text; the flattened table has no
/// column for it (only for its leaves).
const OBJECT_TEXT: Why = Why {
    what: "a field holding an object is compared by its JSON text: the flattened SQL table has \
           columns only for the object's leaves",
    spec: "Rules specification, General: \"All values are treated as case-insensitive \
           strings.\" Modifiers appendix: \"`contains`: Puts `*` wildcards around the values, \
           such that the value is matched anywhere in the field.\" The specification does not say \
           how a field holding an object compares; reading it as its text is what SigmaHQ's \
           CloudTrail rules expect (`requestParameters|contains: 'Suspended'`).",
};

/// Case-insensitive beyond ASCII. SQLite's NOCASE and LIKE fold ASCII letters only (the
/// backend's README: "Case folding (NOCASE, LIKE) is ASCII only").
const UNICODE_CASE: Why = Why {
    what: "case-insensitive comparison folds non-ASCII letters (Unicode simple case folding: \
           'ſ' is 's', 'K' (Kelvin) is 'k'); SQLite's NOCASE and LIKE fold ASCII only",
    spec: "Rules specification, General: \"All values are treated as case-insensitive \
           strings.\"",
};

/// Numeric comparisons on text. The backend emits `field > 9`, and a `TEXT` column compares
/// as text ("10" < "9").
const NUMERIC: Why = Why {
    what: "gt/gte/lt/lte compare numbers; on the table's TEXT columns SQLite compares the text \
           ('10' < '9', 'abc' > '9')",
    spec: "Modifiers appendix, Numeric Modifiers: \"`lt`: Field is less than the value\", \
           \"`lte`: Field is less or equal than the value\", \"`gt`: Field is greater than the \
           value\", \"`gte`: Field is greater or equal than the value\".",
};

/// A null field and `exists`. SQL NULL cannot tell a missing field from a JSON null.
const EXISTS_NULL: Why = Why {
    what: "`exists` on a field that is present but null: SQL NULL cannot tell it from a missing \
           field",
    spec: "Modifiers appendix: \"`exists`: Defines that a certain field has to exist or must \
           not exist in a log event by providing a boolean value. Note that this check only \
           verifies the presence of a field, not its value, be it empty or null.\"",
};

/// CIDR by prefix. pySigma expands a network into `LIKE '10.%'` prefixes, which match text that
/// is no address, and miss IPv6 addresses not written in the expanded spelling.
const CIDR: Why = Why {
    what: "cidr tests an IP address against the network; pySigma's SQL tests text prefixes \
           (`LIKE '10.%'`, `LIKE '2001:db8:%'`)",
    spec: "Modifiers appendix: \"`cidr`: The value is handled as an CIDR by backends. Supports \
           both IPv4 and IPv6 notations.\"",
};

/// A boolean in the rule. The backend emits `(field='false' OR field=0)`, so the number 0
/// matches `false`.
const BOOLEAN: Why = Why {
    what: "a boolean `false` in the rule matches false or the text 'false'; pySigma's SQL also \
           accepts the number 0 (`field=0`)",
    spec: "Rules specification, General: \"All values are treated as case-insensitive \
           strings.\" ('0' is not 'false'.)",
};

/// One documented disagreement: the rule (id), the event (its label), which side matches, why.
struct Documented {
    rule: &'static str,
    event: &'static str,
    side: Side,
    why: &'static Why,
}

/// Every pair on which the engines disagree. The event labels are those the generator gives
/// (`rule file | item | variant`) or `fixture <dir>/<file>#<record>`.
const DOCUMENTED: &[Documented] = &[
    Documented {
        rule: "39c9f26d-6e3b-4dbb-9c7a-4154b0281112", // aws_cloudtrail_bucket_deleted
        event: "aws_cloudtrail_bucket_deleted | selection_status_null.errorCode = \"null\" | + empty array",
        side: Side::IreneOnly,
        why: &ARRAY,
    },
    Documented {
        rule: "d2656e78-c069-4571-8220-9e0ab5913f19", // aws_cloudtrail_guardduty_detector_deleted_or_updated
        event: "aws_cloudtrail_guardduty_detector_deleted_or_updated | selection_status_null.errorCode = \"null\" | + empty array",
        side: Side::IreneOnly,
        why: &ARRAY,
    },
    Documented {
        rule: "38e7f511-3f74-41d4-836e-f57dfa18eead", // aws_cloudtrail_ssm_malicious_usage
        event: "aws_cloudtrail_ssm_malicious_usage | selection_status_null.errorCode = \"null\" | + empty array",
        side: Side::IreneOnly,
        why: &ARRAY,
    },
    Documented {
        rule: "e386b9b5-af12-450e-afff-761730fb8a98", // aws_cloudtrail_vpc_flow_logs_deleted
        event: "aws_cloudtrail_vpc_flow_logs_deleted | selection_status_null.errorCode = \"null\" | + empty array",
        side: Side::IreneOnly,
        why: &ARRAY,
    },
    Documented {
        rule: "b94bf91e-c2bf-4047-9c43-c6810f43baad", // aws_ecs_task_definition_cred_endpoint_query
        event: "aws_ecs_task_definition_cred_endpoint_query | array: requestParameters.containerDefinitions Objects",
        side: Side::IreneOnly,
        why: &ARRAY,
    },
    Documented {
        rule: "b94bf91e-c2bf-4047-9c43-c6810f43baad", // aws_ecs_task_definition_cred_endpoint_query
        event: "aws_ecs_task_definition_cred_endpoint_query | array: requestParameters.containerDefinitions.command Leaf, requestParameters.containerDefinitions Objects",
        side: Side::IreneOnly,
        why: &ARRAY,
    },
    Documented {
        rule: "97fbabf8-8e1b-47a2-b7d5-a418d2b95e3d", // aws_new_lambda_layer_attached
        event: "aws_new_lambda_layer_attached | array: requestParameters.layers Empty",
        side: Side::PySigmaOnly,
        why: &ARRAY,
    },
    Documented {
        rule: "d1ff0000-0000-4000-8000-000000000003", // diff_exists_null_empty
        event: "diff_exists_null_empty | selection_no_error.errorCode = \"null\" | + empty array",
        side: Side::IreneOnly,
        why: &ARRAY,
    },
    Documented {
        rule: "32438676-1dba-4ac7-bf69-b86cba995e05", // gcp_access_policy_deleted
        event: "gcp_access_policy_deleted | array: protoPayload.authorizationInfo Objects",
        side: Side::IreneOnly,
        why: &ARRAY,
    },
    Documented {
        rule: "a136ac98-b2bc-4189-a14d-f0d0388e57a7", // aws_disable_bucket_versioning
        event: "aws_disable_bucket_versioning | requestParameters holds an object",
        side: Side::IreneOnly,
        why: &OBJECT_TEXT,
    },
    Documented {
        rule: "54b9a76a-3c71-4673-b4b3-2edb4566ea7b", // aws_ec2_vm_export_failure
        event: "aws_ec2_vm_export_failure | responseElements holds an object",
        side: Side::PySigmaOnly,
        why: &OBJECT_TEXT,
    },
    Documented {
        rule: "6393e346-1977-46ef-8987-ad414a145fad", // aws_cloudtrail_console_login_failed_authentication
        event: "aws_cloudtrail_console_login_failed_authentication | eventName | non-ASCII case variant",
        side: Side::IreneOnly,
        why: &UNICODE_CASE,
    },
    Documented {
        rule: "2f0bae2d-bf20-4465-be86-1311addebaa3", // gcp_kubernetes_secrets_modified_or_deleted
        event: "gcp_kubernetes_secrets_modified_or_deleted | gcp.audit.method_name | non-ASCII case variant",
        side: Side::IreneOnly,
        why: &UNICODE_CASE,
    },
    Documented {
        rule: "d1ff0000-0000-4000-8000-000000000001", // diff_numeric_comparisons
        event: "diff_numeric_comparisons | selection.requestParameters.count|gt = \"10\" | - not a number",
        side: Side::PySigmaOnly,
        why: &NUMERIC,
    },
    Documented {
        rule: "d1ff0000-0000-4000-8000-000000000001", // diff_numeric_comparisons
        event: "diff_numeric_comparisons | selection.requestParameters.count|gt = \"10\" | - number 9",
        side: Side::PySigmaOnly,
        why: &NUMERIC,
    },
    Documented {
        rule: "d1ff0000-0000-4000-8000-000000000001", // diff_numeric_comparisons
        event: "diff_numeric_comparisons | selection.requestParameters.maxResults|gte = \"100\" | - number 99",
        side: Side::PySigmaOnly,
        why: &NUMERIC,
    },
    Documented {
        rule: "d1ff0000-0000-4000-8000-000000000001", // diff_numeric_comparisons
        event: "diff_numeric_comparisons | selection.requestParameters.port|lt = \"1024\" | + number 5",
        side: Side::IreneOnly,
        why: &NUMERIC,
    },
    Documented {
        rule: "d1ff0000-0000-4000-8000-000000000001", // diff_numeric_comparisons
        event: "diff_numeric_comparisons | selection.requestParameters.ratio|lte = \"2.5\" | - number 10",
        side: Side::PySigmaOnly,
        why: &NUMERIC,
    },
    Documented {
        rule: "d1ff0000-0000-4000-8000-000000000003", // diff_exists_null_empty
        event: "diff_exists_null_empty | selection.requestParameters.roleArn|exists = \"true\" | + null",
        side: Side::IreneOnly,
        why: &EXISTS_NULL,
    },
    Documented {
        rule: "d1ff0000-0000-4000-8000-000000000003", // diff_exists_null_empty
        event: "diff_exists_null_empty | selection.requestParameters.sessionPolicy|exists = \"false\" | - null",
        side: Side::PySigmaOnly,
        why: &EXISTS_NULL,
    },
    Documented {
        rule: "d1ff0000-0000-4000-8000-000000000002", // diff_cidr
        event: "diff_cidr | selection.sourceIPAddress|cidr = value 1 \"10.0.0.0/8\" | - a host name",
        side: Side::PySigmaOnly,
        why: &CIDR,
    },
    Documented {
        rule: "d1ff0000-0000-4000-8000-000000000002", // diff_cidr
        event: "diff_cidr | selection.sourceIPAddress|cidr = value 3 \"2001:db8::/32\" | + written in full",
        side: Side::IreneOnly,
        why: &CIDR,
    },
    Documented {
        rule: "d1ff0000-0000-4000-8000-00000000000c", // diff_types
        event: "diff_types | selection.requestParameters.enable = \"false\" | - as a number",
        side: Side::PySigmaOnly,
        why: &BOOLEAN,
    },
];

// ---------------------------------------------------------------------------------------------
// files

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) => panic!("{}: {e}", d.display()),
        };
        for entry in entries.flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn read(p: &Path) -> String {
    match std::fs::read_to_string(p) {
        Ok(s) => s,
        Err(e) => panic!("{}: {e}", p.display()),
    }
}

/// The rule files: SigmaHQ's fixture rules, then the differential test's own; named by their
/// path under `tests/`.
fn rule_files() -> Vec<RuleFile> {
    let tests = manifest().join("tests");
    [tests.join("sigma/rules"), tests.join("sigma_diff/rules")]
        .iter()
        .flat_map(|dir| files_under(dir))
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .map(|p| {
            let name = p.strip_prefix(&tests).unwrap_or(&p).display().to_string();
            RuleFile::new(name, read(&p))
        })
        .collect()
}

fn stem(file: &str) -> String {
    let name = file.rsplit('/').next().unwrap_or(file);
    name.strip_suffix(".yml").unwrap_or(name).to_string()
}

/// The records of a fixture file: an S3 delivery file's `Records`, a JSON array's items, or the
/// one object.
fn records(p: &Path) -> Vec<Value> {
    let v: Value = match serde_json::from_str(&read(p)) {
        Ok(v) => v,
        Err(e) => panic!("{}: {e}", p.display()),
    };
    match v {
        Value::Object(mut m) if m.contains_key("Records") => match m.remove("Records") {
            Some(Value::Array(items)) => items,
            _ => panic!("{}: Records is not a list", p.display()),
        },
        Value::Array(items) => items,
        other => vec![other],
    }
}

// ---------------------------------------------------------------------------------------------
// events

struct Ev {
    source: &'static str,
    label: String,
    event: Value,
}

fn fixture_events() -> Vec<Ev> {
    let mut out = Vec::new();
    for (dir, source) in [("cloudtrail", "aws.cloudtrail"), ("gcp-audit", "gcp.audit")] {
        for p in files_under(&manifest().join("tests/sigma/events").join(dir)) {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            for (i, r) in records(&p).into_iter().enumerate() {
                out.push(Ev {
                    source,
                    label: format!("fixture {dir}/{name}#{i}"),
                    event: r,
                });
            }
        }
    }
    out
}

/// A plain record of each source, that no rule names: the base of every generated event.
fn skeleton(source: &str) -> Value {
    if source == "gcp.audit" {
        return json!({
            "protoPayload": {
                "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
                "status": {},
                "authenticationInfo": {"principalEmail": "alice@example.com"},
                "requestMetadata": {
                    "callerIp": "198.51.100.7",
                    "callerSuppliedUserAgent": "google-cloud-sdk gcloud/460.0.0"
                },
                "serviceName": "example.googleapis.com",
                "methodName": "example.v1.ExampleService.GetThing",
                "resourceName": "projects/example-project/things/t1",
                "request": {"@type": "type.googleapis.com/example.v1.GetThingRequest"}
            },
            "insertId": "1a2b3c4d5e",
            "resource": {"type": "project", "labels": {"project_id": "example-project"}},
            "timestamp": "2026-11-01T12:00:00.000000Z",
            "severity": "NOTICE",
            "logName": "projects/example-project/logs/cloudaudit.googleapis.com%2Factivity",
            "receiveTimestamp": "2026-11-01T12:00:01.000000Z"
        });
    }
    json!({
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLEEXAMPLE",
            "arn": "arn:aws:iam::123456789012:user/alice",
            "accountId": "123456789012",
            "accessKeyId": "AKIAEXAMPLEEXAMPLE",
            "userName": "alice"
        },
        "eventTime": "2026-11-01T12:00:00Z",
        "eventSource": "example.amazonaws.com",
        "eventName": "ExampleCall",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.15.0 Python/3.11.6",
        "requestParameters": {"example": "value"},
        "responseElements": null,
        "requestID": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        "eventID": "1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d",
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": "123456789012",
        "eventCategory": "Management"
    })
}

/// Sets (or with `None` removes) the value at a dotted path, making objects on the way.
fn set_path(ev: &mut Value, path: &str, v: Option<Value>) {
    let mut node = ev;
    let mut segs = path.split('.').peekable();
    while let Some(seg) = segs.next() {
        if !node.is_object() {
            *node = json!({});
        }
        let Value::Object(map) = node else { return };
        if segs.peek().is_none() {
            match v {
                Some(v) => {
                    map.insert(seg.to_string(), v);
                }
                None => {
                    map.shift_remove(seg);
                }
            }
            return;
        }
        node = map.entry(seg.to_string()).or_insert_with(|| json!({}));
    }
}

fn get_path<'a>(ev: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(ev, |node, seg| node.get(seg))
}

// ---------------------------------------------------------------------------------------------
// the rules as the generator reads them

/// One `field|mod…: values` item (`field` None: a keyword search).
#[derive(Debug, Clone)]
struct Item {
    key: String,
    field: Option<String>,
    mods: Vec<String>,
    values: Vec<Yaml>,
}

impl Item {
    fn has(&self, m: &str) -> bool {
        self.mods.iter().any(|x| x == m)
    }
}

/// A search identifier: alternatives (a list of maps), each a list of items (a map).
#[derive(Debug, Clone)]
struct Ident {
    name: String,
    alts: Vec<Vec<Item>>,
}

#[derive(Debug)]
struct Spec {
    id: String,
    stem: String,
    source: &'static str,
    idents: Vec<Ident>,
}

/// The field names of `gcp.audit` rules as the events hold them (as Irene and pySigma-backend-
/// panther map them).
fn map_field(source: &str, field: &str) -> String {
    if source != "gcp.audit" {
        return field.to_string();
    }
    if field == "gcp.audit.method_name" {
        return "protoPayload.methodName".to_string();
    }
    match field.strip_prefix("data.protoPayload.") {
        Some(rest) => format!("protoPayload.{rest}"),
        None => field.to_string(),
    }
}

fn yaml_str(v: &Yaml) -> String {
    match v {
        Yaml::String(s) => s.clone(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Bool(b) => b.to_string(),
        Yaml::Null => "null".to_string(),
        other => format!("{other:?}"),
    }
}

fn parse_spec(file: &RuleFile) -> Spec {
    let doc: Yaml = match serde_yaml::from_str(&file.text) {
        Ok(d) => d,
        Err(e) => panic!("{}: {e}", file.name),
    };
    let id = doc["id"].as_str().unwrap_or_default().to_string();
    let source = match doc["logsource"]["product"].as_str() {
        Some("gcp") => "gcp.audit",
        Some("aws") => "aws.cloudtrail",
        other => panic!("{}: product {other:?}", file.name),
    };
    let items_of = |map: &serde_yaml::Mapping| -> Vec<Item> {
        map.iter()
            .map(|(k, v)| {
                let key = yaml_str(k);
                let mut parts = key.split('|');
                let field = parts.next().unwrap_or_default();
                let mods = parts.map(str::to_string).collect();
                let values = match v {
                    Yaml::Sequence(s) => s.clone(),
                    other => vec![other.clone()],
                };
                Item {
                    field: (!field.is_empty()).then(|| map_field(source, field)),
                    key,
                    mods,
                    values,
                }
            })
            .collect()
    };
    let mut idents = Vec::new();
    if let Some(det) = doc["detection"].as_mapping() {
        for (k, v) in det {
            let name = yaml_str(k);
            if name == "condition" || name == "timeframe" {
                continue;
            }
            let alts = match v {
                Yaml::Mapping(m) => vec![items_of(m)],
                Yaml::Sequence(s) if s.iter().all(|x| x.is_mapping()) => s
                    .iter()
                    .filter_map(|x| x.as_mapping().map(items_of))
                    .collect(),
                Yaml::Sequence(s) => vec![vec![Item {
                    key: String::new(),
                    field: None,
                    mods: Vec::new(),
                    values: s.clone(),
                }]],
                other => vec![vec![Item {
                    key: String::new(),
                    field: None,
                    mods: Vec::new(),
                    values: vec![other.clone()],
                }]],
            };
            idents.push(Ident { name, alts });
        }
    }
    Spec {
        id,
        stem: stem(&file.name),
        source,
        idents,
    }
}

// ---------------------------------------------------------------------------------------------
// values that satisfy, or nearly satisfy, one item

/// A change to an event: values set (or removed, `None`) at dotted paths.
#[derive(Debug, Clone)]
struct Variant {
    /// Meant to satisfy the item (a description; both engines decide).
    positive: bool,
    what: String,
    sets: Vec<(String, Option<Value>)>,
}

fn var(positive: bool, what: impl Into<String>, sets: Vec<(String, Option<Value>)>) -> Variant {
    Variant {
        positive,
        what: what.into(),
        sets,
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum W {
    Lit(char),
    Star,
    One,
}

/// A Sigma string: `*` and `?` wildcards; `\` escapes `*`, `?` and `\`, and is itself before
/// anything else.
fn parse_wild(s: &str) -> Vec<W> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push(W::Star),
            '?' => out.push(W::One),
            '\\' => match chars.peek() {
                Some(&n @ ('*' | '?' | '\\')) => {
                    chars.next();
                    out.push(W::Lit(n));
                }
                _ => out.push(W::Lit('\\')),
            },
            c => out.push(W::Lit(c)),
        }
    }
    out
}

fn inst(ws: &[W], star: &str, one: &str) -> String {
    ws.iter()
        .map(|w| match w {
            W::Lit(c) => c.to_string(),
            W::Star => star.to_string(),
            W::One => one.to_string(),
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    Exact,
    Contains,
    Starts,
    Ends,
}

fn shape(item: &Item) -> Shape {
    if item.has("contains") || item.field.is_none() {
        Shape::Contains
    } else if item.has("startswith") {
        Shape::Starts
    } else if item.has("endswith") {
        Shape::Ends
    } else {
        Shape::Exact
    }
}

fn wrap(shape: Shape, x: &str) -> String {
    match shape {
        Shape::Exact => x.to_string(),
        Shape::Contains => format!("pre {x} post"),
        Shape::Starts => format!("{x} tail"),
        Shape::Ends => format!("head {x}"),
    }
}

fn swap_case(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_uppercase() {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect()
}

/// The text with one literal character (a letter or digit near the middle) left out.
fn drop_one(ws: &[W]) -> Option<Vec<W>> {
    let lits: Vec<usize> = ws
        .iter()
        .enumerate()
        .filter(|(_, w)| matches!(w, W::Lit(c) if c.is_alphanumeric()))
        .map(|(i, _)| i)
        .collect();
    let at = *lits.get(lits.len() / 2)?;
    let mut out = ws.to_vec();
    out.remove(at);
    Some(out)
}

const METACHARS: [char; 7] = ['%', '_', '[', '*', '?', '\\', '.'];

/// The bytes an encoding modifier (`wide`, `utf16le`, `utf16be`, `utf16`) makes of a text.
fn encode(item: &Item, text: &str) -> Vec<u8> {
    let units: Vec<u16> = text.encode_utf16().collect();
    if item.has("wide") || item.has("utf16le") {
        units.iter().flat_map(|u| u.to_le_bytes()).collect()
    } else if item.has("utf16be") {
        units.iter().flat_map(|u| u.to_be_bytes()).collect()
    } else if item.has("utf16") {
        let mut out = vec![0xFF, 0xFE];
        out.extend(units.iter().flat_map(|u| u.to_le_bytes()));
        out
    } else {
        text.as_bytes().to_vec()
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The texts a string value's item may meet: (meant to match, description, text).
fn text_samples(item: &Item, v: &str) -> Vec<(bool, String, String)> {
    let sh = shape(item);
    let cased = item.has("cased");
    let ws = parse_wild(v);
    let x0 = inst(&ws, "", "Q");
    let mut out: Vec<(bool, String, String)> = Vec::new();
    if item.has("base64") || item.has("base64offset") {
        let offset = item.has("base64offset");
        let heads: &[&str] = if offset { &["", "a", "ab"] } else { &[""] };
        for (k, head) in heads.iter().enumerate() {
            let plain = if offset {
                format!("{head}{x0} tail")
            } else {
                x0.clone()
            };
            out.push((
                true,
                format!("encoded (offset {k})"),
                wrap(sh, &b64(&encode(item, &plain))),
            ));
        }
        out.push((
            true,
            "encoded, upper case".into(),
            wrap(sh, &b64(&encode(item, &x0)).to_ascii_uppercase()),
        ));
        if let Some(d) = drop_one(&ws) {
            out.push((
                false,
                "encoded, one character missing".into(),
                wrap(sh, &b64(&encode(item, &inst(&d, "", "Q")))),
            ));
        }
        out.push((false, "not encoded".into(), wrap(sh, &x0)));
        return out;
    }
    out.push((true, "as written".into(), wrap(sh, &x0)));
    if ws.iter().any(|w| !matches!(w, W::Lit(_))) {
        out.push((
            true,
            "wildcards filled".into(),
            wrap(sh, &inst(&ws, "ZZ9-x", "Q")),
        ));
        out.push((
            true,
            "wildcards filled, non-ASCII".into(),
            wrap(sh, &inst(&ws, "\u{e9}t\u{e9}", "\u{e9}")),
        ));
    }
    if cased {
        out.push((false, "case flipped".into(), wrap(sh, &swap_case(&x0))));
    } else {
        out.push((
            true,
            "upper case".into(),
            wrap(sh, &x0.to_ascii_uppercase()),
        ));
        out.push((
            true,
            "lower case".into(),
            wrap(sh, &x0.to_ascii_lowercase()),
        ));
    }
    if item.has("windash") && x0.contains('-') {
        for d in ['/', '\u{2013}', '\u{2014}', '\u{2015}'] {
            out.push((
                true,
                format!("windash {d}"),
                wrap(sh, &x0.replace('-', &d.to_string())),
            ));
        }
        out.push((false, "dash as +".into(), wrap(sh, &x0.replace('-', "+"))));
    }
    let starts_star = ws.first() == Some(&W::Star);
    let ends_star = ws.last() == Some(&W::Star);
    match sh {
        Shape::Exact => {
            if !ends_star {
                out.push((false, "extra suffix".into(), format!("{x0}x")));
            }
            if !starts_star {
                out.push((false, "extra prefix".into(), format!("x{x0}")));
            }
        }
        Shape::Starts if !starts_star => {
            out.push((false, "not at the start".into(), format!("x {x0} tail")))
        }
        Shape::Ends if !ends_star => {
            out.push((false, "not at the end".into(), format!("head {x0} x")))
        }
        _ => {}
    }
    if let Some(d) = drop_one(&ws) {
        out.push((
            false,
            "one character missing".into(),
            wrap(sh, &inst(&d, "", "Q")),
        ));
    }
    let metas: Vec<W> = ws
        .iter()
        .map(|w| match w {
            W::Lit(c) if METACHARS.contains(c) => W::Lit('X'),
            other => *other,
        })
        .collect();
    if metas != ws {
        out.push((
            false,
            "literal metacharacters replaced".into(),
            wrap(sh, &inst(&metas, "", "Q")),
        ));
    }
    if v.is_empty() {
        out.push((false, "a space".into(), " ".into()));
    }
    out
}

fn num_value(n: &serde_yaml::Number) -> Value {
    if let Some(i) = n.as_i64() {
        json!(i)
    } else {
        json!(n.as_f64().unwrap_or(0.0))
    }
}

/// The variants of one value of an item.
fn value_variants(item: &Item, v: &Yaml, keyword_path: &str) -> Vec<Variant> {
    let field = item
        .field
        .clone()
        .unwrap_or_else(|| keyword_path.to_string());
    let set = |x: Value| vec![(field.clone(), Some(x))];
    let mut out = Vec::new();
    if item.has("exists") {
        let want = v.as_bool().unwrap_or(true);
        out.push(var(!want, "missing", vec![(field.clone(), None)]));
        out.push(var(want, "a text", set(json!("x"))));
        out.push(var(want, "empty", set(json!(""))));
        out.push(var(want, "null", set(Value::Null)));
        return out;
    }
    if item.has("fieldref") {
        let other = yaml_str(v);
        let (a, b) = match shape(item) {
            Shape::Exact => ("alice", "alice"),
            Shape::Contains => ("xx-alice-yy", "alice"),
            Shape::Starts => ("alice-yy", "alice"),
            Shape::Ends => ("arn:aws:iam::123456789012:user/alice", "alice"),
        };
        let pair = |x: Option<&str>, y: Option<&str>| {
            vec![
                (field.clone(), x.map(|s| json!(s))),
                (other.clone(), y.map(|s| json!(s))),
            ]
        };
        out.push(var(true, "same value", pair(Some(a), Some(b))));
        let upper = b.to_ascii_uppercase();
        out.push(var(true, "other case", pair(Some(a), Some(&upper))));
        out.push(var(false, "different", pair(Some(a), Some("bob"))));
        out.push(var(false, "referenced field missing", pair(Some(a), None)));
        out.push(var(false, "field missing", pair(None, Some(b))));
        out.push(var(false, "both missing", pair(None, None)));
        let meta_a = a.replace("alice", "axice");
        out.push(var(
            false,
            "LIKE metacharacter in the referenced value",
            pair(Some(&meta_a), Some("a_ice")),
        ));
        out.push(var(
            true,
            "same value with a LIKE metacharacter",
            pair(Some(&a.replace("alice", "a_ice")), Some("a_ice")),
        ));
        return out;
    }
    let cmp = ["gt", "gte", "lt", "lte"].into_iter().find(|m| item.has(m));
    if let (Some(op), Yaml::Number(n)) = (cmp, v) {
        let f = n.as_f64().unwrap_or(0.0);
        let num = |x: f64| {
            if x.fract() == 0.0 && x.abs() < 1e15 {
                json!(x as i64)
            } else {
                json!(x)
            }
        };
        let (pos, neg): (Vec<f64>, Vec<f64>) = match op {
            "gt" => (vec![f + 1.0, f * 10.0 + 1.0], vec![f, f - 1.0]),
            "gte" => (vec![f, f * 10.0], vec![f - 1.0]),
            "lt" => (vec![f - 1.0, 5.0], vec![f, f * 10.0]),
            _ => (vec![f, 1.0], vec![f + 0.5, 10.0]),
        };
        for x in pos {
            out.push(var(true, format!("number {x}"), set(num(x))));
        }
        for x in neg {
            out.push(var(false, format!("number {x}"), set(num(x))));
        }
        out.push(var(true, "bound as text", set(json!(n.to_string()))));
        if op == "gt" {
            out.push(var(false, "not a number", set(json!("abc"))));
        }
        return out;
    }
    if item.has("cidr") {
        for (positive, what, text) in cidr_samples(&yaml_str(v)) {
            out.push(var(positive, what, set(json!(text))));
        }
        return out;
    }
    if item.has("re") {
        for (positive, what, text) in regex_samples(item, &yaml_str(v)) {
            out.push(var(positive, what, set(json!(text))));
        }
        return out;
    }
    match v {
        Yaml::Null => {
            out.push(var(true, "missing", vec![(field.clone(), None)]));
            out.push(var(true, "null", set(Value::Null)));
            out.push(var(true, "empty array", set(json!([]))));
            out.push(var(false, "empty text", set(json!(""))));
            out.push(var(false, "the text null", set(json!("null"))));
            out.push(var(false, "a text", set(json!("Success2"))));
        }
        Yaml::Bool(b) => {
            out.push(var(true, "boolean", set(json!(b))));
            out.push(var(true, "as text", set(json!(b.to_string()))));
            out.push(var(
                true,
                "as upper-case text",
                set(json!(b.to_string().to_ascii_uppercase())),
            ));
            out.push(var(false, "the other boolean", set(json!(!b))));
            out.push(var(false, "as a number", set(json!(u8::from(*b)))));
        }
        Yaml::Number(n) => {
            out.push(var(true, "number", set(num_value(n))));
            out.push(var(true, "as text", set(json!(n.to_string()))));
            if let Some(i) = n.as_i64() {
                out.push(var(false, "number + 1", set(json!(i + 1))));
                out.push(var(false, "leading zero", set(json!(format!("0{i}")))));
            } else {
                out.push(var(
                    false,
                    "another number",
                    set(json!(n.as_f64().unwrap_or(0.0) + 1.0)),
                ));
            }
        }
        _ => {
            let s = yaml_str(v);
            for (positive, what, text) in text_samples(item, &s) {
                out.push(var(positive, what, set(json!(text))));
            }
            // a text that reads as a boolean or a number also meets the JSON value
            if shape(item) == Shape::Exact && !item.has("cased") {
                if let Ok(b) = s.parse::<bool>() {
                    out.push(var(true, "as a JSON boolean", set(json!(b))));
                } else if let Ok(i) = s.parse::<i64>() {
                    out.push(var(true, "as a JSON number", set(json!(i))));
                }
            }
            if item.field.is_none() {
                out.push(var(
                    true,
                    "as an object key",
                    vec![(
                        "annotations".to_string(),
                        Some(json!({ inst(&parse_wild(&s), "", "Q"): "true" })),
                    )],
                ));
            }
        }
    }
    out
}

/// The variants of one item: each value's, or for `all` the values together and each left out.
fn item_variants(item: &Item, keyword_path: &str) -> Vec<(String, Variant)> {
    let all = item.has("all") && item.values.len() > 1;
    if !all {
        let mut out = Vec::new();
        for (i, v) in item.values.iter().enumerate() {
            let label = if item.values.len() > 1 {
                format!("value {} {:?}", i + 1, yaml_str(v))
            } else {
                format!("{:?}", yaml_str(v))
            };
            for variant in value_variants(item, v, keyword_path) {
                out.push((label.clone(), variant));
            }
        }
        return out;
    }
    let field = item
        .field
        .clone()
        .unwrap_or_else(|| keyword_path.to_string());
    let sh = shape(item);
    let texts: Vec<String> = item
        .values
        .iter()
        .map(|v| inst(&parse_wild(&yaml_str(v)), "", "Q"))
        .collect();
    let joined = |skip: Option<usize>| {
        let parts: Vec<&str> = texts
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != skip)
            .map(|(_, t)| t.as_str())
            .collect();
        wrap(sh, &parts.join(" "))
    };
    let set = |s: String| vec![(field.clone(), Some(json!(s)))];
    let mut out = vec![
        (
            "all values".to_string(),
            var(true, "in one text", set(joined(None))),
        ),
        (
            "all values".to_string(),
            var(true, "upper case", set(joined(None).to_ascii_uppercase())),
        ),
    ];
    if item.field.is_none() {
        let mut sets = vec![(field.clone(), Some(json!(texts[0].clone())))];
        for (i, t) in texts.iter().enumerate().skip(1) {
            sets.push((format!("{field}{}", i + 1), Some(json!(t))));
        }
        out.push((
            "all values".to_string(),
            var(true, "in separate texts", sets),
        ));
    }
    for (i, v) in item.values.iter().enumerate() {
        out.push((
            format!("all values but {} {:?}", i + 1, yaml_str(v)),
            var(false, "left out", set(joined(Some(i)))),
        ));
    }
    out
}

/// Addresses inside and outside a network, and texts that only look like it.
fn cidr_samples(net: &str) -> Vec<(bool, String, String)> {
    use std::net::{Ipv4Addr, Ipv6Addr};
    let Some((addr, len)) = net.split_once('/') else {
        return Vec::new();
    };
    let len: u32 = len.parse().unwrap_or(0);
    let mut out = Vec::new();
    if let Ok(a) = addr.parse::<Ipv4Addr>() {
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        let first = u32::from(a) & mask;
        let last = first | !mask;
        let ip = |x: u32| Ipv4Addr::from(x).to_string();
        out.push((true, "first host".into(), ip(first + 1)));
        out.push((true, "last host".into(), ip(last - 1)));
        out.push((false, "just above".into(), ip(last.wrapping_add(1))));
        out.push((false, "just below".into(), ip(first.wrapping_sub(1))));
        let head = ip(first);
        let octet = head.split('.').next().unwrap_or("10");
        out.push((false, "a host name".into(), format!("{octet}.example.net")));
    } else if let Ok(a) = addr.parse::<Ipv6Addr>() {
        let mask = if len == 0 {
            0
        } else {
            u128::MAX << (128 - len)
        };
        let first = u128::from(a) & mask;
        let last = first | !mask;
        let ip = |x: u128| Ipv6Addr::from(x);
        out.push((true, "first host".into(), ip(first + 1).to_string()));
        out.push((true, "last host".into(), ip(last - 1).to_string()));
        out.push((
            true,
            "upper case".into(),
            ip(first + 1).to_string().to_ascii_uppercase(),
        ));
        let full: Vec<String> = ip(first + 1)
            .segments()
            .iter()
            .map(|s| format!("{s:04x}"))
            .collect();
        out.push((true, "written in full".into(), full.join(":")));
        out.push((
            false,
            "just above".into(),
            ip(last.wrapping_add(1)).to_string(),
        ));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// texts that a regular expression matches

/// A text the (simple) regular expression matches, `.` given as `dot`; `None` for syntax this
/// sampler does not know.
fn regex_sample(re: &str, dot: char) -> Option<String> {
    struct P {
        c: Vec<char>,
        i: usize,
        dot: char,
    }
    impl P {
        fn peek(&self) -> Option<char> {
            self.c.get(self.i).copied()
        }
        fn alt(&mut self) -> Option<String> {
            let first = self.seq()?;
            while self.peek() == Some('|') {
                self.i += 1;
                self.seq()?;
            }
            Some(first)
        }
        fn seq(&mut self) -> Option<String> {
            let mut out = String::new();
            while let Some(c) = self.peek() {
                if c == '|' || c == ')' {
                    break;
                }
                let atom = self.atom()?;
                let times = self.quant()?;
                for _ in 0..times {
                    out.push_str(&atom);
                }
            }
            Some(out)
        }
        fn atom(&mut self) -> Option<String> {
            let c = self.peek()?;
            self.i += 1;
            match c {
                '(' => {
                    if self.peek() == Some('?') {
                        self.i += 1;
                        if self.peek() != Some(':') {
                            return None;
                        }
                        self.i += 1;
                    }
                    let s = self.alt()?;
                    (self.peek() == Some(')')).then_some(())?;
                    self.i += 1;
                    Some(s)
                }
                '[' => {
                    let negated = self.peek() == Some('^');
                    if negated {
                        self.i += 1;
                    }
                    let mut set = Vec::new();
                    while let Some(x) = self.peek() {
                        self.i += 1;
                        if x == ']' && !set.is_empty() {
                            break;
                        }
                        if self.peek() == Some('-')
                            && self.c.get(self.i + 1).is_some_and(|&e| e != ']')
                        {
                            let end = self.c[self.i + 1];
                            self.i += 2;
                            set.extend(x..=end);
                        } else {
                            set.push(x);
                        }
                    }
                    let pick = if negated {
                        ['a', 'Z', '0', '_', ' ', '~']
                            .into_iter()
                            .find(|x| !set.contains(x))?
                    } else {
                        *set.first()?
                    };
                    Some(pick.to_string())
                }
                '.' => Some(self.dot.to_string()),
                '^' | '$' => Some(String::new()),
                '\\' => {
                    let e = self.peek()?;
                    self.i += 1;
                    Some(
                        match e {
                            'd' => '5',
                            'w' | 'S' | 'D' => 'a',
                            's' => ' ',
                            'W' => '-',
                            'n' => '\n',
                            't' => '\t',
                            x if x.is_ascii_alphanumeric() => return None,
                            x => x,
                        }
                        .to_string(),
                    )
                }
                '*' | '+' | '?' | '{' | ')' | '|' => None,
                c => Some(c.to_string()),
            }
        }
        fn quant(&mut self) -> Option<usize> {
            let n = match self.peek() {
                Some('+' | '*' | '?') => {
                    self.i += 1;
                    1
                }
                Some('{') => {
                    let close = self.c[self.i..].iter().position(|&x| x == '}')? + self.i;
                    let body: String = self.c[self.i + 1..close].iter().collect();
                    self.i = close + 1;
                    let min: usize = body.split(',').next()?.trim().parse().ok()?;
                    min.max(1)
                }
                _ => return Some(1),
            };
            if self.peek() == Some('?') {
                self.i += 1;
            }
            Some(n)
        }
    }
    let mut p = P {
        c: re.chars().collect(),
        i: 0,
        dot,
    };
    let s = p.alt()?;
    (p.i == p.c.len()).then_some(s)
}

fn regex_samples(item: &Item, re: &str) -> Vec<(bool, String, String)> {
    let build = |s: &str| {
        regex::RegexBuilder::new(re)
            .case_insensitive(item.has("i"))
            .multi_line(item.has("m"))
            .dot_matches_new_line(item.has("s"))
            .build()
            .map(|r| r.is_match(s))
            .unwrap_or(false)
    };
    let Some(s) = regex_sample(re, 'a') else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut push = |what: &str, text: String| {
        let ok = build(&text);
        out.push((ok, what.to_string(), text));
    };
    push("a match", s.clone());
    push("upper case", s.to_ascii_uppercase());
    push("within other text", format!("pre {s} post"));
    push("on a line of its own", format!("first\n{s}\nlast"));
    if let Some(nl) = regex_sample(re, '\n') {
        if nl != s {
            push("newline for '.'", nl);
        }
    }
    push("the expression as text", re.to_string());
    out
}

// ---------------------------------------------------------------------------------------------
// the generator

/// How an array stands where the seed event has a value.
#[derive(Debug, Clone, Copy)]
enum ArrayShape {
    /// The value among others: `["decoy", value]`.
    Leaf,
    /// The object among others: `[{"decoy": true}, object]`.
    Objects,
    /// No value at all: `[]`.
    Empty,
}

/// Events in the array shapes these rules' real events have: each entry is one event, the
/// rule's seed with each (path, shape) applied in turn.
const ARRAY_DEMO: &[(&str, &[(&str, ArrayShape)])] = &[
    (
        "aws_ecs_task_definition_cred_endpoint_query",
        &[(
            "requestParameters.containerDefinitions.command",
            ArrayShape::Leaf,
        )],
    ),
    (
        "aws_ecs_task_definition_cred_endpoint_query",
        &[(
            "requestParameters.containerDefinitions",
            ArrayShape::Objects,
        )],
    ),
    (
        // as CloudTrail has it: a list of container definitions, each command a list
        "aws_ecs_task_definition_cred_endpoint_query",
        &[
            (
                "requestParameters.containerDefinitions.command",
                ArrayShape::Leaf,
            ),
            (
                "requestParameters.containerDefinitions",
                ArrayShape::Objects,
            ),
        ],
    ),
    (
        "aws_new_lambda_layer_attached",
        &[("requestParameters.layers", ArrayShape::Leaf)],
    ),
    (
        // a configuration update that removes every layer
        "aws_new_lambda_layer_attached",
        &[("requestParameters.layers", ArrayShape::Empty)],
    ),
    (
        "gcp_access_policy_deleted",
        &[("protoPayload.authorizationInfo", ArrayShape::Objects)],
    ),
];

/// Events where a field the rule compares as text holds an object, as in these rules' real
/// events: (rule, field, the object's JSON).
const OBJECT_DEMO: &[(&str, &str, &str)] = &[
    (
        "aws_disable_bucket_versioning",
        "requestParameters",
        r#"{"bucketName": "example-bucket", "Host": "example-bucket.s3.amazonaws.com", "versioning": "",
            "VersioningConfiguration": {"Status": "Suspended", "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/"}}"#,
    ),
    (
        "aws_ec2_vm_export_failure",
        "responseElements",
        r#"{"exportTask": {"exportTaskId": "export-i-0123456789abcdef0", "state": "cancelled",
            "statusMessage": "Failure: the instance has no EBS root volume"}}"#,
    ),
    (
        // the policy document is a JSON text inside the object: its quotes are escaped in the
        // object's JSON text, so `"s3:GetObject"` is not found there (by either engine)
        "aws_iam_s3browser_templated_s3_bucket_policy_creation",
        "requestParameters",
        r#"{"userName": "alice", "policyName": "s3browser-policy", "policyDocument":
            "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"s3:GetObject\"],\"Resource\":[\"arn:aws:s3:::<YOUR-BUCKET-NAME>/*\"]}]}"}"#,
    ),
];

/// Rules whose seed also gets a non-ASCII case variant of its first text with an `s` or a `k`.
const UNICODE_DEMO: &[&str] = &[
    "aws_cloudtrail_console_login_failed_authentication",
    "gcp_kubernetes_secrets_modified_or_deleted",
];

/// Objects written as dotted keys (`{"a": {"b": 1}}` as `{"a.b": 1}`); arrays and empty
/// objects stay as they are.
fn flatten_into(v: &Value, prefix: &str, out: &mut serde_json::Map<String, Value>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                flatten_into(x, &format!("{prefix}{k}."), out);
            }
        }
        other => {
            out.insert(prefix.trim_end_matches('.').to_string(), other.clone());
        }
    }
}

fn apply(ev: &mut Value, sets: &[(String, Option<Value>)]) {
    for (path, v) in sets {
        set_path(ev, path, v.clone());
    }
}

/// The first variant meant to satisfy the item.
fn first_positive(item: &Item, kw: &str) -> Option<Variant> {
    item_variants(item, kw)
        .into_iter()
        .map(|(_, v)| v)
        .find(|v| v.positive)
}

/// A plain text item (no regex, encoding, comparison, …), whose value is one text part.
fn plain_text(item: &Item) -> bool {
    const SPECIAL: [&str; 14] = [
        "re",
        "cidr",
        "exists",
        "fieldref",
        "gt",
        "gte",
        "lt",
        "lte",
        "base64",
        "base64offset",
        "wide",
        "utf16le",
        "utf16be",
        "utf16",
    ];
    item.field.is_some()
        && !item.mods.iter().any(|m| SPECIAL.contains(&m.as_str()))
        && item.values.iter().all(|v| matches!(v, Yaml::String(_)))
}

/// Whether item `j` of `alt` shares its field with another item of `alt` (as `startswith`,
/// `contains` and `endswith` on one field do): then one text must satisfy them all.
fn shared_field(alt: &[Item], j: usize) -> bool {
    let item = &alt[j];
    plain_text(item)
        && shape(item) != Shape::Exact
        && alt.iter().enumerate().any(|(k, o)| {
            k != j && o.field == item.field && plain_text(o) && shape(o) != Shape::Exact
        })
}

/// One text for all the items of `alt` on `field`: the `startswith` parts, then the `contains`
/// ones, then the `endswith` ones; item `over.0` with the text `over.1` instead of its first
/// value.
fn compose(alt: &[Item], field: &str, over: Option<(usize, &str)>) -> String {
    let mut parts: Vec<(u8, String)> = Vec::new();
    for (j, item) in alt.iter().enumerate() {
        if item.field.as_deref() != Some(field) || !shared_field(alt, j) {
            continue;
        }
        let text = match over {
            Some((k, t)) if k == j => t.to_string(),
            _ => inst(&parse_wild(&yaml_str(&item.values[0])), "", "Q"),
        };
        let rank = match shape(item) {
            Shape::Starts => 0,
            Shape::Ends => 2,
            _ => 1,
        };
        parts.push((rank, text));
    }
    parts.sort_by_key(|(rank, _)| *rank);
    parts
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join("-")
}

/// What makes an event satisfy every item of `alt`.
fn alt_sets(alt: &[Item], kw: &str) -> Vec<(String, Option<Value>)> {
    let mut sets = Vec::new();
    for (j, item) in alt.iter().enumerate() {
        if shared_field(alt, j) {
            let field = item.field.clone().unwrap_or_default();
            sets.push((field.clone(), Some(json!(compose(alt, &field, None)))));
        } else if let Some(v) = first_positive(item, kw) {
            sets.extend(v.sets);
        }
    }
    sets
}

/// The variants of item `j` of `alt`: its own, or for a shared field the composed text with
/// this item's part varied.
fn variants_in(alt: &[Item], j: usize, kw: &str) -> Vec<(String, Variant)> {
    let item = &alt[j];
    if !shared_field(alt, j) {
        return item_variants(item, kw);
    }
    let field = item.field.clone().unwrap_or_default();
    let mut exact = item.clone();
    exact
        .mods
        .retain(|m| !["contains", "startswith", "endswith"].contains(&m.as_str()));
    let mut out = Vec::new();
    for (i, v) in item.values.iter().enumerate() {
        let label = format!("value {} {:?}", i + 1, yaml_str(v));
        for (positive, what, text) in text_samples(&exact, &yaml_str(v)) {
            let composed = compose(alt, &field, Some((j, &text)));
            out.push((
                label.clone(),
                var(
                    positive,
                    format!("{what}, with the other parts"),
                    vec![(field.clone(), Some(json!(composed)))],
                ),
            ));
        }
    }
    out
}

struct Generated {
    events: Vec<Ev>,
    /// rule id -> the events generated for it (positions in `events`)
    by_rule: BTreeMap<String, Vec<usize>>,
    /// rule id -> its seed: an event that satisfies it, which the variants start from
    seeds: BTreeMap<String, usize>,
}

fn generate(specs: &[Spec], rules: &SigmaRules) -> Generated {
    let mut events: Vec<Ev> = Vec::new();
    let mut by_rule: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut seeds: BTreeMap<String, usize> = BTreeMap::new();
    for spec in specs {
        let rule = rules
            .rules()
            .iter()
            .find(|r| r.id == spec.id)
            .unwrap_or_else(|| panic!("{}: not compiled", spec.stem));
        let kw = if spec.source == "gcp.audit" {
            "protoPayload.metadata.note"
        } else {
            "additionalEventData.note"
        };
        let mut push = |label: String, event: Value| -> usize {
            by_rule
                .entry(spec.id.clone())
                .or_default()
                .push(events.len());
            events.push(Ev {
                source: spec.source,
                label,
                event,
            });
            events.len() - 1
        };
        // every subset of the search identifiers switched on (their first alternative)
        let n = spec.idents.len().min(6);
        let mut seed: Option<(u32, Value)> = None;
        for mask in 1u32..(1 << n) {
            let mut ev = skeleton(spec.source);
            let mut names = Vec::new();
            for (i, ident) in spec.idents.iter().enumerate().take(n) {
                if mask & (1 << i) == 0 {
                    continue;
                }
                names.push(ident.name.as_str());
                if let Some(alt) = ident.alts.first() {
                    apply(&mut ev, &alt_sets(alt, kw));
                }
            }
            let first = seed.is_none() && rule.detects(&ev);
            if first {
                seed = Some((mask, ev.clone()));
            }
            let at = push(format!("{} | with {}", spec.stem, names.join(", ")), ev);
            if first {
                seeds.insert(spec.id.clone(), at);
            }
        }
        let Some((mask, seed)) = seed else {
            panic!("{}: no generated event satisfies the rule", spec.stem);
        };
        // one item at a time, on the seed
        for (i, ident) in spec.idents.iter().enumerate() {
            for (a, alt) in ident.alts.iter().enumerate() {
                for (j, item) in alt.iter().enumerate() {
                    let mut base = seed.clone();
                    if i >= n || mask & (1 << i) == 0 || a > 0 {
                        apply(&mut base, &alt_sets(alt, kw));
                    }
                    let key = if item.key.is_empty() {
                        "keywords".to_string()
                    } else {
                        item.key.clone()
                    };
                    let alt_label = if ident.alts.len() > 1 {
                        format!("[{}]", a + 1)
                    } else {
                        String::new()
                    };
                    for (value, v) in variants_in(alt, j, kw) {
                        let mut ev = base.clone();
                        apply(&mut ev, &v.sets);
                        let sign = if v.positive { '+' } else { '-' };
                        push(
                            format!(
                                "{} | {}{alt_label}.{key} = {value} | {sign} {}",
                                spec.stem, ident.name, v.what
                            ),
                            ev,
                        );
                    }
                }
            }
        }
        // the shapes on which the engines part, for a few rules
        let seed_items: Vec<&Item> = spec
            .idents
            .iter()
            .enumerate()
            .filter(|(i, _)| *i < n && mask & (1 << i) != 0)
            .flat_map(|(_, ident)| ident.alts.first().into_iter().flatten())
            .collect();
        for (_, shapes) in ARRAY_DEMO.iter().filter(|(r, _)| *r == spec.stem) {
            let mut ev = seed.clone();
            let mut what = Vec::new();
            for (path, shape) in shapes.iter() {
                let Some(v) = get_path(&ev, path).cloned() else {
                    panic!("{}: the seed has no {path}", spec.stem);
                };
                let arr = match shape {
                    ArrayShape::Leaf => json!(["decoy", v]),
                    ArrayShape::Objects => json!([{"decoy": true}, v]),
                    ArrayShape::Empty => json!([]),
                };
                set_path(&mut ev, path, Some(arr));
                what.push(format!("{path} {shape:?}"));
            }
            push(format!("{} | array: {}", spec.stem, what.join(", ")), ev);
        }
        // the seed with every nested key written as one dotted key, as flattened logs have it
        let mut flat = serde_json::Map::new();
        flatten_into(&seed, "", &mut flat);
        push(
            format!("{} | the seed, flattened to dotted keys", spec.stem),
            Value::Object(flat),
        );
        for (_, field, text) in OBJECT_DEMO.iter().filter(|(r, _, _)| *r == spec.stem) {
            let obj: Value = serde_json::from_str(text).expect("OBJECT_DEMO JSON");
            let mut ev = seed.clone();
            set_path(&mut ev, field, Some(obj));
            push(format!("{} | {field} holds an object", spec.stem), ev);
        }
        if UNICODE_DEMO.contains(&spec.stem.as_str()) {
            for item in &seed_items {
                let Some(field) = &item.field else { continue };
                let Some(Value::String(s)) = get_path(&seed, field) else {
                    continue;
                };
                let swapped = if s.contains('s') {
                    s.replacen('s', "\u{17F}", 1)
                } else if s.contains('k') {
                    s.replacen('k', "\u{212A}", 1)
                } else {
                    continue;
                };
                let mut ev = seed.clone();
                set_path(&mut ev, field, Some(json!(swapped)));
                push(
                    format!("{} | {} | non-ASCII case variant", spec.stem, item.key),
                    ev,
                );
            }
        }
    }
    Generated {
        events,
        by_rule,
        seeds,
    }
}

// ---------------------------------------------------------------------------------------------
// pySigma

/// The Python with pySigma: `$IRENE_PYTHON`, else the venv `scripts/python-deps.sh` makes in the
/// target directory this test was built in, in `$CARGO_TARGET_DIR`, or in the default
/// `~/.cache/irene-target`.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("IRENE_PYTHON") {
        return PathBuf::from(p);
    }
    let mut candidates = Vec::new();
    if let Some(target) = Path::new(env!("CARGO_TARGET_TMPDIR")).parent() {
        candidates.push(target.join("pyenv"));
    }
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(t).join("pyenv"));
    }
    if let Some(h) = std::env::var_os("HOME") {
        candidates.push(PathBuf::from(h).join(".cache/irene-target/pyenv"));
    }
    candidates.dedup();
    for venv in &candidates {
        let py = venv.join("bin/python");
        let ok = Command::new(&py)
            .args(["-c", "import sigma.backends.sqlite"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return py;
        }
    }
    panic!(
        "pySigma is not installed: run scripts/python-deps.sh (with the CARGO_TARGET_DIR this \
         test is built with), or set IRENE_PYTHON to a python that has pysigma and \
         pysigma-backend-sqlite. Looked in: {candidates:?}"
    );
}

struct PySigma {
    matches: BTreeSet<(usize, String)>,
    unconvertible: Vec<(String, String)>,
    versions: String,
    queries: BTreeMap<String, Vec<String>>,
}

fn run_pysigma(rules: &[RuleFile], events: &[Ev]) -> PySigma {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("sigma_differential-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for f in rules {
        let p = dir.join("rules").join(&f.name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("temp rules dir");
        }
        std::fs::write(&p, &f.text).expect("write rule");
    }
    let mut ndjson = String::new();
    for e in events {
        ndjson.push_str(&json!({"source": e.source, "event": e.event}).to_string());
        ndjson.push('\n');
    }
    let events_path = dir.join("events.ndjson");
    std::fs::write(&events_path, ndjson).expect("write events");
    let script = manifest().join("tests/sigma_diff/pysigma_matches.py");
    let out = Command::new(python())
        .arg(&script)
        .arg(dir.join("rules"))
        .arg(&events_path)
        .output()
        .expect("run pysigma_matches.py");
    assert!(
        out.status.success(),
        "pysigma_matches.py failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("pysigma_matches.py output");
    if std::env::var_os("IRENE_SIGMA_DIFF_KEEP").is_some() {
        let labels: String = events.iter().map(|e| format!("{}\n", e.label)).collect();
        std::fs::write(dir.join("labels.txt"), labels).expect("write labels");
        std::fs::write(dir.join("pysigma.json"), &out.stdout).expect("write pySigma's output");
        println!(
            "rules, events and pySigma's output kept in {}",
            dir.display()
        );
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let matches = v["matches"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p[0].as_u64().unwrap_or(u64::MAX) as usize,
                p[1].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let unconvertible = v["unconvertible"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| {
            (
                u["rule"].as_str().unwrap_or_default().to_string(),
                u["error"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let queries = v["queries"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, q)| {
            let qs = q
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect();
            (k.clone(), qs)
        })
        .collect();
    PySigma {
        matches,
        unconvertible,
        versions: v["versions"].to_string(),
        queries,
    }
}

// ---------------------------------------------------------------------------------------------
// the test

#[test]
fn irene_and_pysigma_agree_except_where_documented() {
    let started = std::time::Instant::now();
    let files = rule_files();
    let (rules, errors) = SigmaRules::compile(&files);
    assert!(errors.is_empty(), "rules did not load: {errors:#?}");
    assert_eq!(rules.len(), files.len());
    let stems: BTreeMap<String, String> = rules
        .rules()
        .iter()
        .map(|r| (r.id.clone(), stem(&r.file)))
        .collect();
    let specs: Vec<Spec> = files.iter().map(parse_spec).collect();

    // the events: fixtures, then generated ones (each distinct event once)
    let fixtures = fixture_events();
    let n_fixture = fixtures.len();
    let generated = generate(&specs, &rules);
    let mut events = fixtures;
    let mut index_of: BTreeMap<String, usize> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        index_of
            .entry(format!("{}{}", e.source, e.event))
            .or_insert(i);
    }
    let mut labels_seen: HashSet<String> = events.iter().map(|e| e.label.clone()).collect();
    // position in generated.events -> index in events
    let mut final_index = Vec::with_capacity(generated.events.len());
    for mut e in generated.events {
        let key = format!("{}{}", e.source, e.event);
        if let Some(&i) = index_of.get(&key) {
            final_index.push(i);
            continue;
        }
        let mut label = e.label.clone();
        let mut k = 2;
        while !labels_seen.insert(label.clone()) {
            label = format!("{} #{k}", e.label);
            k += 1;
        }
        e.label = label;
        index_of.insert(key, events.len());
        final_index.push(events.len());
        events.push(e);
    }
    let n_generated = events.len() - n_fixture;

    // Irene
    let mut irene: BTreeSet<(usize, String)> = BTreeSet::new();
    let mut admitted = 0usize;
    for (i, e) in events.iter().enumerate() {
        let src = logsource_of(e.source);
        let hits: Vec<String> = rules
            .matches(&src, &e.event)
            .iter()
            .map(|r| r.id.clone())
            .collect();
        let naive: Vec<String> = rules
            .matches_naive(&src, &e.event)
            .iter()
            .map(|r| r.id.clone())
            .collect();
        assert_eq!(hits, naive, "index and naive differ on {}", e.label);
        admitted += rules
            .rules()
            .iter()
            .filter(|r| r.logsource.admits(&src))
            .count();
        irene.extend(hits.into_iter().map(|id| (i, id)));
    }

    // the generated events exercise every rule both ways
    for (id, positions) in &generated.by_rule {
        let idx: BTreeSet<usize> = positions.iter().map(|&p| final_index[p]).collect();
        let hit = idx
            .iter()
            .filter(|&&i| irene.contains(&(i, id.clone())))
            .count();
        assert!(
            hit > 0 && hit < idx.len(),
            "{}: {hit} of {} generated events match",
            stems[id],
            idx.len()
        );
    }

    // pySigma
    let py = run_pysigma(&files, &events);
    assert!(
        py.unconvertible.is_empty(),
        "pySigma could not convert or run: {:#?}",
        py.unconvertible
    );

    // every rule's seed, which its variants start from, satisfies the rule for both engines
    for (id, &p) in &generated.seeds {
        let i = final_index[p];
        assert!(
            irene.contains(&(i, id.clone())) && py.matches.contains(&(i, id.clone())),
            "{}: the seed event {} does not match in both engines\n{}\npySigma: {:?}",
            stems[id],
            events[i].label,
            events[i].event,
            py.queries.get(id)
        );
    }

    // the disagreements, against the documented ones
    let actual: BTreeSet<(String, String, Side)> = irene
        .symmetric_difference(&py.matches)
        .map(|(i, id)| {
            let side = if irene.contains(&(*i, id.clone())) {
                Side::IreneOnly
            } else {
                Side::PySigmaOnly
            };
            (id.clone(), events[*i].label.clone(), side)
        })
        .collect();
    let documented: BTreeSet<(String, String, Side)> = DOCUMENTED
        .iter()
        .map(|d| (d.rule.to_string(), d.event.to_string(), d.side))
        .collect();
    assert_eq!(
        documented.len(),
        DOCUMENTED.len(),
        "a documented difference is listed twice"
    );

    let both = irene.intersection(&py.matches).count();
    println!(
        "pySigma {}\nevents: {} ({n_fixture} fixture, {n_generated} generated); rules: {}; \
         (event, rule) pairs judged: {admitted}\nmatched: Irene {}, pySigma {}, both {both}; \
         agreements: {} of {admitted}; disagreements: {} (documented: {}); {:.1?}",
        py.versions,
        events.len(),
        rules.len(),
        irene.len(),
        py.matches.len(),
        admitted - actual.len(),
        actual.len(),
        DOCUMENTED.len(),
        started.elapsed()
    );
    let on_fixtures =
        |set: &BTreeSet<(usize, String)>| set.iter().filter(|(i, _)| *i < n_fixture).count();
    println!(
        "on the fixture events alone: Irene {}, pySigma {}, disagreements {}",
        on_fixtures(&irene),
        on_fixtures(&py.matches),
        irene
            .symmetric_difference(&py.matches)
            .filter(|(i, _)| *i < n_fixture)
            .count()
    );
    let mut by_why: BTreeMap<&str, (usize, &str)> = BTreeMap::new();
    for d in DOCUMENTED {
        by_why.entry(d.why.what).or_insert((0, d.why.spec)).0 += 1;
    }
    for (what, (n, spec)) in by_why {
        println!("  {n:3} documented: {what}\n        spec: {spec}");
    }

    let label_index: BTreeMap<&str, usize> = events
        .iter()
        .enumerate()
        .map(|(i, e)| (e.label.as_str(), i))
        .collect();
    let new: Vec<_> = actual.difference(&documented).collect();
    let gone: Vec<_> = documented.difference(&actual).collect();
    if !new.is_empty() || !gone.is_empty() {
        let mut msg = String::new();
        for (id, label, side) in &new {
            let i = label_index.get(label.as_str()).copied().unwrap_or(0);
            msg.push_str(&format!(
                "NEW {side:?}: rule {} ({id})\n    event {label}\n    {}\n    pySigma: {:?}\n    \
                 Documented {{ rule: {id:?}, event: {label:?}, side: Side::{side:?}, why: &? }},\n",
                stems.get(id).cloned().unwrap_or_default(),
                events[i].event,
                py.queries.get(id).cloned().unwrap_or_default(),
            ));
        }
        for (id, label, side) in &gone {
            msg.push_str(&format!(
                "GONE {side:?}: rule {} ({id}), event {label}: the engines now agree (or the \
                 event is no longer generated)\n",
                stems.get(id).cloned().unwrap_or_default()
            ));
        }
        panic!(
            "the disagreements are not the documented ones: {} new, {} gone\n{msg}",
            new.len(),
            gone.len()
        );
    }
}

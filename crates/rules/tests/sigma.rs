//! The Sigma engine through its public API: the SigmaHQ fixture rules load, each modifier and
//! condition form as the specification words it, rejections, fixture events, the index, alerts.
// Tests may unwrap, expect and read fixture files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use irene_core::{Actor, Event, Severity};
use irene_rules::sigma::{hit_alert, logsource_of, LogSource, SigmaError, SigmaRules};
use irene_rules::RuleFile;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------------------------
// helpers

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sigma")
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

/// The fixture rule files, named by their path under `tests/sigma`.
fn fixture_rule_files() -> Vec<RuleFile> {
    let base = data();
    files_under(&base.join("rules"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .map(|p| {
            let name = p.strip_prefix(&base).unwrap_or(&p).display().to_string();
            RuleFile::new(name, read(&p))
        })
        .collect()
}

fn fixture_rules() -> SigmaRules {
    let (rules, errors) = SigmaRules::compile(&fixture_rule_files());
    assert!(errors.is_empty(), "fixture rules did not load: {errors:#?}");
    rules
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

/// (file name, record index, record) of every fixture event of `dir`.
fn fixture_events(dir: &str) -> Vec<(String, usize, Value)> {
    let mut out = Vec::new();
    for p in files_under(&data().join("events").join(dir)) {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        for (i, r) in records(&p).into_iter().enumerate() {
            out.push((name.clone(), i, r));
        }
    }
    out
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}\n"))
        .collect::<String>()
}

/// A CloudTrail rule with this detection (written without its indentation).
fn rule_text(detection: &str) -> String {
    format!(
        "title: Test rule\nid: test-rule\nlogsource:\n    product: aws\n    service: cloudtrail\n\
         detection:\n{}level: high\n",
        indent(detection)
    )
}

fn compile_one(detection: &str) -> SigmaRules {
    let (rules, errors) = SigmaRules::compile(&[RuleFile::new("test.yml", rule_text(detection))]);
    assert!(
        errors.is_empty(),
        "rule did not load: {errors:#?}\n{detection}"
    );
    assert_eq!(rules.len(), 1);
    rules
}

fn cloudtrail() -> LogSource {
    logsource_of("aws.cloudtrail")
}

/// Whether the rule matches, checked through `matches`, `matches_naive` and `for_each_match`.
fn hit(rules: &SigmaRules, ev: &Value) -> bool {
    let src = cloudtrail();
    let indexed = rules.matches(&src, ev).len();
    let naive = rules.matches_naive(&src, ev).len();
    let mut visited = 0;
    rules.for_each_match(&src, ev, |_| visited += 1);
    assert_eq!(indexed, naive, "index and naive differ on {ev}");
    assert_eq!(indexed, visited);
    indexed == 1
}

/// Checks each (event, expected) of `cases` against the rule with `detection`.
fn table(detection: &str, cases: &[(Value, bool)]) {
    let rules = compile_one(detection);
    for (ev, want) in cases {
        assert_eq!(hit(&rules, ev), *want, "{detection}\non {ev}");
    }
}

fn load_errors(text: &str) -> Vec<SigmaError> {
    let (rules, errors) = SigmaRules::compile(&[RuleFile::new("bad.yml", text)]);
    assert_eq!(rules.len(), 0, "should not load:\n{text}");
    errors
}

/// The rule with this detection is rejected, with a message that contains `want`.
fn rejected(detection: &str, want: &str) {
    let errors = load_errors(&rule_text(detection));
    assert!(
        errors
            .iter()
            .any(|e| e.message.contains(want) && e.file == "bad.yml"),
        "{detection}\nexpected an error with {want:?}, got {errors:#?}"
    );
    for e in &errors {
        assert_eq!(e.rule.as_deref(), Some("test-rule"));
        assert!(e.to_string().starts_with("bad.yml: test-rule: "), "{e}");
    }
}

// ---------------------------------------------------------------------------------------------
// the fixture rules

#[test]
fn every_fixture_rule_loads() {
    let files = fixture_rule_files();
    assert_eq!(files.len(), 73);
    let rules = fixture_rules();
    assert_eq!(rules.len(), 73);
    let aws = rules
        .rules()
        .iter()
        .filter(|r| r.logsource == logsource_of("aws.cloudtrail"))
        .count();
    let gcp = rules
        .rules()
        .iter()
        .filter(|r| r.logsource == logsource_of("gcp.audit"))
        .count();
    assert_eq!((aws, gcp), (57, 16));
    for r in rules.rules() {
        assert!(!r.id.is_empty() && !r.title.is_empty(), "{}", r.file);
        assert!(r.author.is_some(), "{} has no author", r.file);
        assert!(r.level.is_some(), "{} has no level", r.file);
    }
    // the rules that name no indexed field (eventName, eventSource, userAgent,
    // userIdentity.type) in every branch: checked always
    let mut always = rules.always_checked();
    always.sort_unstable();
    assert_eq!(
        always,
        [
            "352a918a-34d8-4882-8470-44830c507aa3", // IMDS credentials: userIdentity.arn|re
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// values: wildcards, escapes, case, types

/// "You can use wildcard characters `*` and `?` in strings"; "`?` to replace a single mandatory
/// character. `*` to replace an unbounded length wildcard."
#[test]
fn wildcards() {
    let ev = |s: &str| json!({ "f": s });
    table(
        "sel:\n    f: 'prog?.exe'\ncondition: sel",
        &[
            (ev("progA.exe"), true),
            (ev("prog.exe"), false),
            (ev("progAB.exe"), false),
            (ev("PROGZ.EXE"), true),
        ],
    );
    table(
        "sel:\n    f: 'antivirus_V*.exe'\ncondition: sel",
        &[
            (ev("antivirus_V1.exe"), true),
            (ev("antivirus_V21.2.1.exe"), true),
            (ev("antivirus_V.exe"), true),
            (ev("antivirus_V1.exe.bak"), false),
        ],
    );
    table(
        "sel:\n    f: '*'\ncondition: sel",
        &[
            (ev(""), true),
            (ev("x"), true),
            (json!({}), false),
            (json!({"f": null}), false),
        ],
    );
}

/// "The backslash character `\` is used for escaping of wildcards `*` and `?` as well as the
/// backslash character itself." Each row quotes the specification's cases.
#[test]
fn escaping() {
    let ev = |s: &str| json!({ "f": s });
    // "A wildcard has to be escaped to be handled as a plain character. eg: `\*`, `\?`."
    table(
        r"sel:
    f: 'a\*b\?'
condition: sel",
        &[
            (ev("a*b?"), true),
            (ev("axxbY"), false),
            (ev("a*bY"), false),
        ],
    );
    // "Plain backslash not followed by a wildcard can be expressed as single `\` or double
    // backslash `\\`."
    for rule in [r"'C:\Windows\System32'", r"'C:\\Windows\\System32'"] {
        table(
            &format!("sel:\n    f: {rule}\ncondition: sel"),
            &[
                (ev(r"C:\Windows\System32"), true),
                (ev(r"C:\\Windows\\System32"), false),
            ],
        );
    }
    // "The backslash before a wildcard has to be escaped to handle the value as a backslash
    // followed by a wildcard: `\\*`."
    table(
        r"sel:
    f: 'dir\\*'
condition: sel",
        &[
            (ev(r"dir\anything"), true),
            (ev(r"dir\"), true),
            (ev("dir*"), false),
        ],
    );
    // "Three backslashes are necessary to escape both, the backslash and the wildcard and handle
    // them as plain values: `\\\*`."
    table(
        r"sel:
    f: 'dir\\\*'
condition: sel",
        &[
            (ev(r"dir\*"), true),
            (ev(r"dir\x"), false),
            (ev(r"dir\\*"), false),
        ],
    );
    // "Three or four backslashes are handled as double backslash. Four is recommended for
    // consistency reasons: `\\\\` results in the plain value `\\`."
    for rule in [r"'a\\\\b'", r"'a\\\b'"] {
        table(
            &format!("sel:\n    f: {rule}\ncondition: sel"),
            &[(ev(r"a\\b"), true), (ev(r"a\b"), false)],
        );
    }
    // a backslash at the end is itself
    table(
        r"sel:
    f: 'end\'
condition: sel",
        &[(ev(r"end\"), true)],
    );
}

/// "All values are treated as case-insensitive strings"; `cased`: "Values are applied case
/// sensitively. Default Sigma behavior is case-insensitive matching."
#[test]
fn case_rules() {
    let ev = |s: &str| json!({ "f": s });
    table(
        "sel:\n    f: 'ConsoleLogin'\ncondition: sel",
        &[
            (ev("consolelogin"), true),
            (ev("CONSOLELOGIN"), true),
            (ev("ConsoleLogin"), true),
            (ev("ConsoleLogin "), false),
        ],
    );
    table(
        "sel:\n    f|cased: 'ConsoleLogin'\ncondition: sel",
        &[(ev("ConsoleLogin"), true), (ev("consolelogin"), false)],
    );
    table(
        "sel:\n    f|cased|contains: 'Login'\ncondition: sel",
        &[(ev("ConsoleLogin"), true), (ev("Consolelogin"), false)],
    );
    // Unicode: simple case folding, one character for one
    table(
        "sel:\n    f|contains: 'ÉTÉ'\ncondition: sel",
        &[(ev("un été chaud"), true), (ev("un ete chaud"), false)],
    );
    table(
        "sel:\n    f: 'σοφία'\ncondition: sel",
        &[(ev("ΣΟΦΊΑ"), true), (ev("σοφιας"), false)],
    );
    // the Kelvin sign folds to k, so an ASCII rule can match non-ASCII text
    table(
        "sel:\n    f: 'kb'\ncondition: sel",
        &[(ev("\u{212A}B"), true)],
    );
    // full folding would make ß and SS equal; simple folding does not
    table(
        "sel:\n    f: 'straße'\ncondition: sel",
        &[(ev("STRASSE"), false), (ev("STRAẞE"), true)],
    );
}

/// Numbers, booleans, null and the empty string.
#[test]
fn value_types() {
    // a number in the rule matches the number, or its text
    table(
        "sel:\n    EventID: 4624\ncondition: sel",
        &[
            (json!({"EventID": 4624}), true),
            (json!({"EventID": "4624"}), true),
            (json!({"EventID": 4624.0}), true),
            (json!({"EventID": 4625}), false),
            (json!({"EventID": "04624"}), false),
        ],
    );
    // "All values are treated as case-insensitive strings": a quoted number matches a number
    table(
        "sel:\n    EventID: '4624'\ncondition: sel",
        &[
            (json!({"EventID": 4624}), true),
            (json!({"EventID": "4624"}), true),
        ],
    );
    table(
        "sel:\n    n: 1.5\ncondition: sel",
        &[
            (json!({"n": 1.5}), true),
            (json!({"n": "1.5"}), true),
            (json!({"n": 1}), false),
        ],
    );
    // booleans: `granted: 'true'` (as the GCP rules write it) matches a JSON true
    table(
        "sel:\n    granted: 'true'\ncondition: sel",
        &[
            (json!({"granted": true}), true),
            (json!({"granted": "TRUE"}), true),
            (json!({"granted": false}), false),
        ],
    );
    table(
        "sel:\n    enable: false\ncondition: sel",
        &[
            (json!({"enable": false}), true),
            (json!({"enable": "false"}), true),
            (json!({"enable": true}), false),
            (json!({"enable": 0}), false),
        ],
    );
    // "A null value is defined with `null`": a missing field or JSON null
    table(
        "sel:\n    errorCode: null\ncondition: sel",
        &[
            (json!({}), true),
            (json!({"errorCode": null}), true),
            (json!({"errorCode": []}), true),
            (json!({"errorCode": ""}), false),
            (json!({"errorCode": "AccessDenied"}), false),
        ],
    );
    // "An empty value is defined with `''`": only the empty string
    table(
        "sel:\n    f: ''\ncondition: sel",
        &[
            (json!({"f": ""}), true),
            (json!({}), false),
            (json!({"f": null}), false),
            (json!({"f": " "}), false),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// structure: lists, maps, keywords, fields

/// Lists of values are OR, with `all` AND; "All elements of a map are joined with a logical
/// 'AND'"; "All map items of a list are logically linked with 'OR'".
#[test]
fn lists_and_maps() {
    table(
        "sel:\n    EventLog: Security\n    EventID:\n        - 517\n        - 1102\ncondition: sel",
        &[
            (json!({"EventLog": "security", "EventID": 517}), true),
            (json!({"EventLog": "Security", "EventID": 1102}), true),
            (json!({"EventLog": "System", "EventID": 517}), false),
            (json!({"EventLog": "Security", "EventID": 4624}), false),
        ],
    );
    table(
        "sel:\n    - Image|endswith: '\\example.exe'\n    - Description|contains: 'Test executable'\ncondition: sel",
        &[
            (json!({"Image": "C:\\x\\Example.exe"}), true),
            (json!({"Description": "a test executable here"}), true),
            (json!({"Image": "C:\\x\\other.exe", "Description": "nothing"}), false),
        ],
    );
    table(
        "sel:\n    CommandLine|contains|all:\n        - ' -enc '\n        - 'hidden'\ncondition: sel",
        &[
            (json!({"CommandLine": "ps -enc abc -w hidden"}), true),
            (json!({"CommandLine": "ps -enc abc"}), false),
        ],
    );
}

/// Keyword searches: "strings that are applied to the full log message and are linked with a
/// logical 'OR'"; "To have a **and** operator, we use the `'|all':` modifier".
#[test]
fn keywords() {
    let ev = json!({
        "a": "the event::clear command",
        "nested": {"list": ["x", {"deep": "Invoke-Mimikatz"}], "n": 4624},
        "metadata": {"annotations": {"image-policy.k8s.io/break-glass": "true"}}
    });
    table(
        "keywords:\n    - 'EVENT::CLEAR'\n    - 'nothing'\ncondition: keywords",
        &[(ev.clone(), true)],
    );
    table(
        "keywords:\n    - 'nothing'\n    - 'other'\ncondition: keywords",
        &[(ev.clone(), false)],
    );
    // any depth, within arrays; numbers by their text; object keys are part of the message
    table(
        "keywords:\n    - 'mimikatz'\ncondition: keywords",
        &[(ev.clone(), true)],
    );
    table(
        "keywords:\n    - 4624\ncondition: keywords",
        &[(ev.clone(), true)],
    );
    table(
        "keywords:\n    - 'image-policy.k8s.io/break-glass'\ncondition: keywords",
        &[(ev.clone(), true)],
    );
    table(
        "keywords:\n    '|all':\n        - 'event::clear'\n        - 'mimikatz'\ncondition: keywords",
        &[(ev.clone(), true)],
    );
    table(
        "keywords:\n    '|all':\n        - 'event::clear'\n        - 'absent'\ncondition: keywords",
        &[(ev.clone(), false)],
    );
    // a keyword with a wildcard, and a single keyword
    table(
        "keywords: 'event::*command'\ncondition: keywords",
        &[(ev.clone(), true)],
    );
    table(
        "keywords:\n    '|re': 'Invoke-[A-Z]'\ncondition: keywords",
        &[(ev, true)],
    );
}

/// Dotted names walk nested objects, arrays on the way stand for each element, and a key that
/// holds dots is tried as a whole.
#[test]
fn fields_and_arrays() {
    let ev = json!({
        "userIdentity": {"type": "AssumedRole", "sessionContext": {"sessionIssuer": {"type": "Role"}}},
        "requestParameters": {"ipPermissions": {"items": [
            {"ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}},
            {"ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}, {"cidrIp": "192.0.2.0/24"}]}}
        ]}},
        "tags": ["a", "b"],
        "flat.key": "flat",
        "protoPayload": {"@type": "type.googleapis.com/google.cloud.audit.AuditLog"}
    });
    table(
        "sel:\n    userIdentity.sessionContext.sessionIssuer.type: role\ncondition: sel",
        &[(ev.clone(), true)],
    );
    table(
        "sel:\n    requestParameters.ipPermissions.items.ipRanges.items.cidrIp: '0.0.0.0/0'\ncondition: sel",
        &[(ev.clone(), true)],
    );
    table("sel:\n    tags: b\ncondition: sel", &[(ev.clone(), true)]);
    table(
        "sel:\n    tags|all:\n        - a\n        - b\ncondition: sel",
        &[(ev.clone(), true)],
    );
    table(
        "sel:\n    flat.key: flat\ncondition: sel",
        &[(ev.clone(), true)],
    );
    table(
        "sel:\n    protoPayload.@type|endswith: AuditLog\ncondition: sel",
        &[(ev.clone(), true)],
    );
    table(
        "sel:\n    userIdentity.missing: x\ncondition: sel",
        &[(ev.clone(), false)],
    );
    // an object compared as text is its compact JSON (as CloudTrail's requestParameters are
    // searched by the SigmaHQ rules)
    table(
        "sel:\n    requestParameters|contains: '\"cidrIp\":\"0.0.0.0/0\"'\ncondition: sel",
        &[(ev, true)],
    );
}

// ---------------------------------------------------------------------------------------------
// modifiers

#[test]
fn contains_startswith_endswith() {
    let ev = |s: &str| json!({ "f": s });
    table(
        "sel:\n    f|contains: 'mid'\ncondition: sel",
        &[(ev("aMIDb"), true), (ev("mid"), true), (ev("mi d"), false)],
    );
    table(
        "sel:\n    f|startswith: 'Update'\ncondition: sel",
        &[
            (ev("UpdateFunctionConfiguration20150331v2"), true),
            (ev("XUpdate"), false),
        ],
    );
    table(
        "sel:\n    f|endswith: '.serviceAccounts.delete'\ncondition: sel",
        &[
            (ev("google.iam.admin.v1.serviceAccounts.DELETE"), true),
            (ev("delete"), false),
        ],
    );
    // wildcards inside a contains value stay wildcards
    table(
        "sel:\n    f|contains: 'a*c'\ncondition: sel",
        &[(ev("xxabbbcxx"), true), (ev("xxcaxx"), false)],
    );
}

/// `re`: "Regex is matched case-sensitive by default"; `i`, `m`, `s` sub-modifiers.
#[test]
fn regular_expressions() {
    let ev = |s: &str| json!({ "arn": s });
    table(
        "sel:\n    arn|re: '.+:assumed-role/aws:.+'\ncondition: sel",
        &[
            (ev("arn:aws:sts::1:assumed-role/aws:ec2-instance/i-1"), true),
            (
                ev("arn:aws:sts::1:ASSUMED-ROLE/aws:ec2-instance/i-1"),
                false,
            ),
        ],
    );
    table(
        "sel:\n    arn|re|i: '^ARN:AWS'\ncondition: sel",
        &[(ev("arn:aws:iam"), true), (ev("x arn:aws"), false)],
    );
    table(
        "sel:\n    arn|re: '^b$'\ncondition: sel",
        &[(ev("a\nb\nc"), false)],
    );
    table(
        "sel:\n    arn|re|m: '^b$'\ncondition: sel",
        &[(ev("a\nb\nc"), true)],
    );
    table(
        "sel:\n    arn|re: 'a.c'\ncondition: sel",
        &[(ev("a\nc"), false)],
    );
    table(
        "sel:\n    arn|re|s: 'a.c'\ncondition: sel",
        &[(ev("a\nc"), true)],
    );
    // numbers are matched by their text
    table(
        "sel:\n    n|re: '^46[0-9]+$'\ncondition: sel",
        &[(json!({"n": 4624}), true)],
    );
}

/// `cidr`: "Supports both IPv4 and IPv6 notations."
#[test]
fn cidr() {
    let ev = |s: &str| json!({ "ip": s });
    table(
        "sel:\n    ip|cidr:\n        - '10.0.0.0/8'\n        - '2001:db8::/32'\ncondition: sel",
        &[
            (ev("10.1.2.3"), true),
            (ev("11.0.0.1"), false),
            (ev("2001:db8:1::5"), true),
            (ev("2001:db9::1"), false),
            (ev("::ffff:10.0.0.1"), true),
            (ev("AWS Internal"), false),
            (json!({"ip": 167772161}), false),
        ],
    );
}

/// `base64`, `base64offset` (three shifts) with `contains`, and the UTF-16 encodings.
#[test]
fn encodings() {
    let ev = |s: &str| json!({ "f": s });
    // "cmd" base64 → Y21k
    table(
        "sel:\n    f|base64: 'cmd'\ncondition: sel",
        &[
            (ev("Y21k"), true),
            (ev("y21k"), true),
            (ev("Y21kZA=="), false),
        ],
    );
    table(
        "sel:\n    f|base64|cased: 'cmd'\ncondition: sel",
        &[(ev("Y21k"), true), (ev("y21k"), false)],
    );
    // "/bin/bash" at each of the three offsets inside a longer encoded text
    let encoded = |prefix: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("{prefix}/bin/bash -c id"))
    };
    let rule = "sel:\n    f|base64offset|contains: '/bin/bash'\ncondition: sel";
    table(
        rule,
        &[
            (ev(&encoded("")), true),
            (ev(&encoded("x")), true),
            (ev(&encoded("xy")), true),
            (ev(&encoded("xyz")), true),
            (ev("L2Jpbi9zaA=="), false),
        ],
    );
    // utf16le / wide / utf16be / utf16 (with a byte order mark), then base64
    let b64 = |bytes: &[u8]| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    let le: Vec<u8> = "cmd".encode_utf16().flat_map(u16::to_le_bytes).collect();
    let be: Vec<u8> = "cmd".encode_utf16().flat_map(u16::to_be_bytes).collect();
    let bom: Vec<u8> = [0xFF, 0xFE].into_iter().chain(le.iter().copied()).collect();
    for (mods, bytes) in [
        ("utf16le", &le),
        ("wide", &le),
        ("utf16be", &be),
        ("utf16", &bom),
    ] {
        table(
            &format!("sel:\n    f|{mods}|base64: 'cmd'\ncondition: sel"),
            &[(ev(&b64(bytes)), true), (ev(&b64(b"cmd")), false)],
        );
    }
    table(
        "sel:\n    f|wide|base64offset|contains: 'cmd'\ncondition: sel",
        &[(ev(&b64(&[b"xy".as_slice(), &le, b"z"].concat())), true)],
    );
    // wide alone: the UTF-16LE bytes as text (NULs between the letters)
    table(
        "sel:\n    f|wide: 'ab'\ncondition: sel",
        &[(ev("a\u{0}b\u{0}"), true), (ev("ab"), false)],
    );
}

/// `windash`: "Creates all possible permutations of the `-`, `/`, `–` (en dash), `—` (em dash),
/// and `―` (horizontal bar) characters."
#[test]
fn windash() {
    let ev = |s: &str| json!({ "CommandLine": s });
    table(
        "sel:\n    CommandLine|windash|contains: ' -exec bypass -nop'\ncondition: sel",
        &[
            (ev("powershell -exec bypass -nop"), true),
            (ev("powershell /exec bypass /nop"), true),
            (ev("powershell \u{2013}exec bypass \u{2014}nop"), true),
            (ev("powershell \u{2015}exec bypass -nop"), true),
            (ev("powershell +exec bypass -nop"), false),
        ],
    );
    // before an encoding, the permutations are encoded one by one
    use base64::Engine as _;
    let enc = base64::engine::general_purpose::STANDARD.encode("a/b");
    table(
        "sel:\n    f|windash|base64: 'a-b'\ncondition: sel",
        &[(json!({ "f": enc }), true)],
    );
}

/// `lt`, `lte`, `gt`, `gte` on numbers (and numeric strings).
#[test]
fn comparisons() {
    let ev = |v: Value| json!({ "n": v });
    table(
        "sel:\n    n|gte: 10\ncondition: sel",
        &[
            (ev(json!(10)), true),
            (ev(json!(11.5)), true),
            (ev(json!("12")), true),
            (ev(json!(9)), false),
            (ev(json!("x")), false),
        ],
    );
    table(
        "sel:\n    n|lt: 10\ncondition: sel",
        &[(ev(json!(9)), true), (ev(json!(10)), false)],
    );
    table(
        "sel:\n    n|lte: 10\ncondition: sel",
        &[(ev(json!(10)), true), (ev(json!(11)), false)],
    );
    table(
        "sel:\n    n|gt: 1.5\ncondition: sel",
        &[(ev(json!(2)), true), (ev(json!(1.5)), false)],
    );
    // large integers compare exactly
    table(
        "sel:\n    n|gt: 9007199254740992\ncondition: sel",
        &[(ev(json!(9007199254740993u64)), true)],
    );
}

/// `fieldref`: "A field reference can be used to compare fields of matched events directly".
#[test]
fn fieldref() {
    let ev = |a: &str, b: &str| json!({ "userIdentity": {"arn": a}, "requestParameters": {"userName": b} });
    table(
        "sel:\n    userIdentity.arn|fieldref: requestParameters.userName\ncondition: sel",
        &[
            (ev("alice", "ALICE"), true),
            (ev("alice", "bob"), false),
            (json!({"userIdentity": {"arn": "x"}}), false),
        ],
    );
    table(
        "sel:\n    userIdentity.arn|fieldref|endswith: requestParameters.userName\ncondition: sel",
        &[
            (ev("arn:aws:iam::1:user/alice", "alice"), true),
            (ev("arn:aws:iam::1:user/alice", "bob"), false),
        ],
    );
    table(
        "sel:\n    userIdentity.arn|fieldref|cased: requestParameters.userName\ncondition: sel",
        &[(ev("alice", "ALICE"), false), (ev("alice", "alice"), true)],
    );
    // without fieldref the value is a plain string (the backdoor-keys rule's filter)
    table(
        "sel:\n    userIdentity.arn|contains: requestParameters.userName\ncondition: sel",
        &[
            (ev("alice", "alice"), false),
            (ev("x requestParameters.userName", ""), true),
        ],
    );
}

/// `exists`: "this check only verifies the presence of a field, not its value, be it empty or
/// null".
#[test]
fn exists() {
    table(
        "sel:\n    errorCode|exists: true\ncondition: sel",
        &[
            (json!({"errorCode": "x"}), true),
            (json!({"errorCode": null}), true),
            (json!({"errorCode": ""}), true),
            (json!({}), false),
        ],
    );
    table(
        "sel:\n    a.b|exists: false\ncondition: sel",
        &[
            (json!({"a": {}}), true),
            (json!({"a": {"b": 1}}), false),
            (json!({"a": [{"c": 1}, {"b": null}]}), false),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// conditions

#[test]
fn conditions() {
    let det = |cond: &str| {
        format!(
            "sel_a:\n    a: 1\nsel_b:\n    b: 1\nfilter_x:\n    x: 1\nfilter_y:\n    y: 1\n_aux:\n    z: 1\ncondition: {cond}"
        )
    };
    let ev =
        |keys: &[&str]| Value::Object(keys.iter().map(|k| (k.to_string(), json!(1))).collect());
    // (condition, event keys, expected)
    let cases: &[(&str, &[&str], bool)] = &[
        ("sel_a and sel_b", &["a", "b"], true),
        ("sel_a and sel_b", &["a"], false),
        ("sel_a or sel_b", &["b"], true),
        ("not sel_a", &[], true),
        // "Operator Precedence (least to most binding): or, and, not"
        ("sel_a or sel_b and filter_x", &["a"], true),
        ("sel_a or sel_b and filter_x", &["b"], false),
        ("(sel_a or sel_b) and filter_x", &["a"], false),
        ("not sel_a and sel_b", &["b"], true),
        ("not sel_a and sel_b", &["a", "b"], false),
        ("not (sel_a and sel_b)", &["a"], true),
        // 1 of / all of a pattern
        ("1 of sel_*", &["b"], true),
        ("all of sel_*", &["b"], false),
        ("all of sel_*", &["a", "b"], true),
        ("sel_a and not 1 of filter_*", &["a", "y"], false),
        ("sel_a and not 1 of filter_*", &["a"], true),
        ("any of filter_*", &["x"], true),
        // them: "not starting with an underscore"
        ("1 of them", &["z"], false),
        ("1 of them", &["y"], true),
        ("all of them", &["a", "b", "x", "y"], true),
        ("1 of _*", &["z"], true),
    ];
    for (cond, keys, want) in cases {
        table(&det(cond), &[(ev(keys), *want)]);
    }
    // "The condition can be a list [...] They are logically linked with OR."
    table(
        "sel_a:\n    a: 1\nsel_b:\n    b: 1\ncondition:\n    - sel_a\n    - sel_b",
        &[(ev(&["b"]), true), (ev(&[]), false)],
    );
}

// ---------------------------------------------------------------------------------------------
// rejections

#[test]
fn rejected_detections() {
    let table: &[(&str, &str)] = &[
        (
            "sel:\n    f|contians: x\ncondition: sel",
            "unknown modifier 'contians'",
        ),
        (
            "sel:\n    f|neq: x\ncondition: sel",
            "'neq' is not supported",
        ),
        (
            "sel:\n    f|expand: '%servers%'\ncondition: sel",
            "'expand'",
        ),
        (
            "sel:\n    f|hour: 3\ncondition: sel",
            "time modifier 'hour'",
        ),
        ("sel:\n    f|i: x\ncondition: sel", "flag of 're'"),
        (
            "sel:\n    f|contains|endswith: x\ncondition: sel",
            "exclude each other",
        ),
        (
            "sel:\n    f|re|contains: x\ncondition: sel",
            "cannot be combined with 're'",
        ),
        (
            "sel:\n    f|re: '(?<=a)b'\ncondition: sel",
            "not a valid regular expression",
        ),
        (
            "sel:\n    f|cidr: 10.0.0.0/33\ncondition: sel",
            "valid prefix",
        ),
        ("sel:\n    f|gt: abc\ncondition: sel", "compare numbers"),
        (
            "sel:\n    f|exists: yes please\ncondition: sel",
            "true or false",
        ),
        ("sel:\n    f|all: x\ncondition: sel", "'all' needs a list"),
        (
            "sel:\n    f:\n        - ''\n        - null\ncondition: sel",
            "null cannot be part of a list",
        ),
        (
            "sel:\n    f|contains|base64: x\ncondition: sel",
            "cannot encode wildcards",
        ),
        ("sel:\n    f|base64offset: a\ncondition: sel", "too short"),
        (
            "sel:\n    f|contains: x\n    f|contains|contains: y\ncondition: sel",
            "given twice",
        ),
        (
            "sel:\n    f:\n        nested: map\ncondition: sel",
            "not a mapping",
        ),
        ("sel:\n    - a: 1\n    - plain\ncondition: sel", "not both"),
        ("sel: []\ncondition: sel", "an empty list"),
        ("sel:\ncondition: sel", "empty"),
        ("sel:\n    f: x", "condition: missing"),
        (
            "sel:\n    f: x\ncondition: selection",
            "'selection' (column 1) is not a search identifier",
        ),
        (
            "sel:\n    f: x\ncondition: sel and",
            "ends where a search identifier was expected",
        ),
        ("sel:\n    f: x\ncondition: sel AND sel", "unexpected 'AND'"),
        (
            "sel:\n    f: x\ncondition: 1 of filter*",
            "matches no search identifier",
        ),
        (
            "sel:\n    f: x\ncondition: 2 of sel*",
            "only '1 of' and 'all of'",
        ),
        (
            "sel:\n    f: x\ncondition: sel | count() > 5",
            "aggregations",
        ),
        ("sel:\n    f: x\ntimeframe: 5m\ncondition: sel", "timeframe"),
        ("sel:\n    f: x\ncondition: (sel", "not closed"),
    ];
    for (detection, want) in table {
        rejected(detection, want);
    }
}

#[test]
fn rejection_messages_name_file_rule_and_line() {
    let text = "title: Bad\nid: bad-1\nlogsource:\n    product: aws\ndetection:\n    sel:\n        eventName: x\n        f|nope: y\n    condition: sel\n";
    let errors = load_errors(text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(
        errors[0].to_string(),
        "bad.yml: bad-1: line 8: detection: sel: f|nope: unknown modifier 'nope'"
    );
    // every problem of a rule is reported, not only the first
    let text = "title: Bad\nid: bad-2\nlevel: severe\nstatus: new\nlogsource:\n    product: aws\ndetection:\n    a:\n        f|x: 1\n    b:\n        g|y: 2\n    condition: a or c\n";
    let errors = load_errors(text);
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(errors.len(), 5, "{messages:#?}");
    assert!(messages
        .iter()
        .any(|m| m.contains("unknown level 'severe'")));
    assert!(messages.iter().any(|m| m.contains("unknown status 'new'")));
    assert!(messages
        .iter()
        .any(|m| m.contains("'c' (column 6) is not a search identifier")));
}

#[test]
fn rejected_documents() {
    // metadata
    let cases: &[(&str, &str)] = &[
        ("title: t\nlogsource: {product: aws}\ndetection: {s: {f: 1}, condition: s}\n", "id: missing"),
        ("id: x\nlogsource: {product: aws}\ndetection: {s: {f: 1}, condition: s}\n", "title: missing"),
        ("title: t\nid: x\ndetection: {s: {f: 1}, condition: s}\n", "logsource: missing"),
        ("title: t\nid: x\nlogsource: {product: aws}\ndetection: {s: {f: 1}, condition: s}\ntaxonomy: ocsf\n", "taxonomy 'ocsf'"),
        ("title: t\nid: x\nlogsource: {product: 3}\ndetection: {s: {f: 1}, condition: s}\n", "logsource: product: expected text"),
        ("title: t\nid: x\nlogsource: {product: aws}\ndetection: {s: {f: 1}, condition: s}\ntags: {a: b}\n", "tags: expected a list"),
        // other kinds of documents
        ("title: c\nid: x\ncorrelation:\n    type: event_count\n    rules: [a]\n    group-by: [u]\n    timespan: 1h\n    condition: {gte: 10}\n", "correlation: rules: 'a': no rule or correlation rule of the loaded files has this id or name"),
        ("title: f\nid: x\nlogsource: {product: aws}\nfilter:\n    rules: [a]\n    selection: {f: 1}\n    condition: not selection\n", "Sigma filters are not supported yet"),
        ("action: global\ntitle: g\nlogsource: {product: aws}\n", "rule collections"),
        ("title: t\nid: x\n", "no 'detection'"),
        ("- just\n- a list\n", "expected a Sigma rule"),
        // malformed YAML, with where
        ("title: t\nid: x\ndetection:\n  sel: [unclosed\n", "not valid YAML"),
        ("title: t\ntitle: u\n", "not valid YAML"),
    ];
    for (text, want) in cases {
        let errors = load_errors(text);
        assert!(
            errors
                .iter()
                .any(|e| e.message.contains(want) && e.file == "bad.yml"),
            "{text}\nexpected {want:?} in {errors:#?}"
        );
    }
    let errors = load_errors("title: t\nid: x\ndetection:\n  sel: [unclosed\n");
    assert!(errors[0].message.starts_with("line "), "{}", errors[0]);
    let errors = load_errors("title: c\nid: corr-1\ncorrelation: {type: event_count}\n");
    assert_eq!(
        errors[0].to_string(),
        "bad.yml: corr-1: line 3: correlation: rules: missing: a correlation names at least one rule (the specification makes it mandatory)"
    );
}

/// A file may hold several documents; a bad one does not take the good ones down.
#[test]
fn several_documents() {
    let good = |id: &str| {
        format!("title: Rule {id}\nid: {id}\nlogsource:\n    product: aws\ndetection:\n    s:\n        eventName: X\n    condition: s\n")
    };
    let text = format!(
        "{}---\n{}---\ntitle: Corr\nid: c1\ncorrelation:\n    type: temporal\n---\n{}---\n",
        good("r1"),
        good("r2").replace("condition: s", "condition: t"),
        good("r3")
    );
    let (rules, errors) = SigmaRules::compile(&[RuleFile::new("multi.yml", text)]);
    let ids: Vec<&str> = rules.rules().iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["r1", "r3"]);
    let shown: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        shown,
        [
            "multi.yml: r2: document 2, line 17: detection: condition: 't' (column 1) is not a search identifier of this rule",
            "multi.yml: c1: document 3, line 21: correlation: rules: missing: a correlation names at least one rule (the specification makes it mandatory)",
            "multi.yml: c1: document 3, line 21: correlation: timespan: missing (the specification makes it mandatory)",
        ]
    );
    // a duplicate id across files: the first wins
    let (rules, errors) = SigmaRules::compile(&[
        RuleFile::new("a.yml", good("same")),
        RuleFile::new("b.yml", good("same")),
    ]);
    assert_eq!(rules.len(), 1);
    assert_eq!(rules.rules()[0].file, "a.yml");
    assert_eq!(
        errors[0].to_string(),
        "b.yml: same: id: duplicate rule id, first defined in a.yml"
    );
}

/// Deep or huge input is an error, never a crash.
#[test]
fn pathological_input() {
    // deeply nested YAML
    let deep = format!(
        "title: t\nid: x\nlogsource: {{product: aws}}\ndetection:\n    s:\n        f: {}1{}\n    condition: s\n",
        "[".repeat(50_000),
        "]".repeat(50_000)
    );
    let errors = load_errors(&deep);
    assert!(
        errors[0].message.contains("nest deeper than 100 levels"),
        "{errors:?}"
    );
    let deep_map = format!(
        "a:\n{}",
        (1..3000)
            .map(|i| format!("{}k:\n", " ".repeat(i)))
            .collect::<String>()
    );
    let errors = load_errors(&deep_map);
    assert!(errors[0].message.contains("recursion limit"), "{errors:?}");
    // an alias bomb
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let prev = (b'a' + i - 1) as char;
        let this = (b'a' + i) as char;
        bomb.push_str(&format!("{this}: &{this} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
    }
    bomb.push_str(
        "title: t\nid: x\nlogsource: {product: aws}\ndetection: {s: {f: *l}, condition: s}\n",
    );
    let errors = load_errors(&bomb);
    assert!(errors[0].message.contains("not valid YAML"), "{errors:?}");
    // deep conditions
    let det = format!(
        "sel:\n    f: x\ncondition: {}sel{}",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    rejected(&det, "nests deeper");
    let det = format!("sel:\n    f: x\ncondition: {}sel", "not ".repeat(10_000));
    rejected(&det, "nests deeper");
    // a huge but sane rule loads
    let values: String = (0..20_000)
        .map(|i| format!("        - 'value-{i}'\n"))
        .collect();
    let rules = compile_one(&format!("sel:\n    f:\n{values}condition: sel"));
    assert!(hit(&rules, &json!({"f": "VALUE-19999"})));
}

// ---------------------------------------------------------------------------------------------
// logsource routing

#[test]
fn logsource_routing() {
    assert_eq!(
        logsource_of("aws.cloudtrail"),
        LogSource {
            product: Some("aws".into()),
            service: Some("cloudtrail".into()),
            category: None
        }
    );
    assert_eq!(
        logsource_of("gcp.audit"),
        LogSource {
            product: Some("gcp".into()),
            service: Some("gcp.audit".into()),
            category: None
        }
    );
    assert_eq!(logsource_of("falco").product.as_deref(), Some("falco"));
    let rule = |id: &str, logsource: &str| {
        format!("title: {id}\nid: {id}\nlogsource: {logsource}\ndetection:\n    s:\n        eventName: X\n    condition: s\n")
    };
    let files = [
        RuleFile::new(
            "a.yml",
            rule("aws-cloudtrail", "{product: aws, service: cloudtrail}"),
        ),
        RuleFile::new("b.yml", rule("aws-any", "{product: AWS}")),
        RuleFile::new("c.yml", rule("everything", "{}")),
        RuleFile::new("d.yml", rule("gcp", "{product: gcp, service: gcp.audit}")),
        RuleFile::new(
            "e.yml",
            rule("category", "{product: aws, category: process_creation}"),
        ),
    ];
    let (rules, errors) = SigmaRules::compile(&files);
    assert!(errors.is_empty(), "{errors:?}");
    let ev = json!({"eventName": "x", "protoPayload": {"methodName": "x"}});
    let ids = |src: &str| -> Vec<String> {
        rules
            .matches(&logsource_of(src), &ev)
            .iter()
            .map(|r| r.id.clone())
            .collect()
    };
    assert_eq!(
        ids("aws.cloudtrail"),
        ["aws-cloudtrail", "aws-any", "everything"]
    );
    assert_eq!(ids("aws.guardduty"), ["aws-any", "everything"]);
    assert_eq!(ids("gcp.audit"), ["everything", "gcp"]);
    assert_eq!(ids("generic"), ["everything"]);
    let process = LogSource {
        product: Some("aws".into()),
        service: None,
        category: Some("Process_Creation".into()),
    };
    assert_eq!(
        rules
            .matches(&process, &ev)
            .iter()
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>(),
        ["aws-any", "everything", "category"]
    );
}

// ---------------------------------------------------------------------------------------------
// fixture events against all rules

/// What each fixture CloudTrail record matches, read off the rules (by file stem):
/// - ConsoleLogin with errorMessage 'Failed authentication' → console_login_failed_authentication;
///   by a Root identity and not an AwsServiceEvent → root_account_usage as well.
/// - ConsoleLogin Success with MFAUsed 'No' (the rule says 'NO': case-insensitive) →
///   console_login_success_without_mfa.
/// - cloudtrail.amazonaws.com StopLogging/UpdateTrail/DeleteTrail → cloudtrail_disable_logging
///   (PutEventSelectors is not in its list).
/// - LeaveOrganization by an AssumedRole whose session issuer is a Role → sts_assumerole_misuse.
/// - ec2 AuthorizeSecurityGroupIngress → security_group_change_ingress_egress; ec2
///   ModifySnapshotAttribute → snapshot_backup_exfiltration; DeleteFlowLogs with no errorCode
///   (`errorCode: null`) → vpc_flow_logs_deleted.
/// - iam CreateAccessKey → iam_backdoor_users_keys: its filter `userIdentity.arn|contains:
///   responseElements.accessKey.userName` is a plain string (no `fieldref`), which no ARN holds.
const CLOUDTRAIL_HITS: &[(&str, usize, &[&str])] = &[
    (
        "awsdocs_record_console_login_failure_iam_user.json",
        0,
        &["aws_cloudtrail_console_login_failed_authentication"],
    ),
    (
        "awsdocs_record_console_login_failure_root.json",
        0,
        &[
            "aws_cloudtrail_console_login_failed_authentication",
            "aws_root_account_usage",
        ],
    ),
    (
        "awsdocs_record_console_login_root_success_no_mfa.json",
        0,
        &[
            "aws_cloudtrail_console_login_success_without_mfa",
            "aws_root_account_usage",
        ],
    ),
    (
        "awsdocs_s3_delivery_update_trail_error.json",
        0,
        &["aws_cloudtrail_disable_logging"],
    ),
    (
        "invictus_s3_delivery_console_login_success.json",
        10,
        &["aws_cloudtrail_console_login_success_without_mfa"],
    ),
    (
        "invictus_s3_delivery_excerpt_leave_org_delete_trail_put_bucket_policy.json",
        0,
        &["aws_cloudtrail_disable_logging"],
    ),
    (
        "invictus_s3_delivery_excerpt_leave_org_delete_trail_put_bucket_policy.json",
        2,
        &["aws_sts_assumerole_misuse"],
    ),
    (
        "invictus_s3_delivery_excerpt_sg_ingress_world_open_share_snapshot_ami.json",
        0,
        &["aws_cloudtrail_security_group_change_ingress_egress"],
    ),
    (
        "invictus_s3_delivery_excerpt_sg_ingress_world_open_share_snapshot_ami.json",
        1,
        &["aws_cloudtrail_security_group_change_ingress_egress"],
    ),
    (
        "invictus_s3_delivery_excerpt_sg_ingress_world_open_share_snapshot_ami.json",
        4,
        &["aws_snapshot_backup_exfiltration"],
    ),
    (
        "invictus_s3_delivery_iam_backdoor_create_access_key_put_bucket_policy.json",
        26,
        &["aws_iam_backdoor_users_keys"],
    ),
    (
        "invictus_s3_delivery_iam_backdoor_create_access_key_put_bucket_policy.json",
        29,
        &["aws_iam_backdoor_users_keys"],
    ),
    (
        "invictus_s3_delivery_stop_logging_delete_flow_logs.json",
        5,
        &["aws_cloudtrail_disable_logging"],
    ),
    (
        "invictus_s3_delivery_stop_logging_delete_flow_logs.json",
        14,
        &["aws_cloudtrail_vpc_flow_logs_deleted"],
    ),
    (
        "stratus_detonation_cloudtrail_delete_trail.json",
        0,
        &["aws_cloudtrail_disable_logging"],
    ),
    (
        "stratus_detonation_cloudtrail_stop_logging.json",
        0,
        &["aws_cloudtrail_disable_logging"],
    ),
    (
        "stratus_detonation_console_login_without_mfa.json",
        0,
        &["aws_cloudtrail_console_login_success_without_mfa"],
    ),
    (
        "stratus_detonation_iam_backdoor_user_create_access_key.json",
        0,
        &["aws_iam_backdoor_users_keys"],
    ),
    (
        "stratus_detonation_iam_create_admin_user.json",
        1,
        &["aws_iam_backdoor_users_keys"],
    ),
    (
        "stratus_detonation_organizations_leave.json",
        1,
        &["aws_sts_assumerole_misuse"],
    ),
    (
        "stratus_detonation_sg_open_port_22_ingress.json",
        0,
        &["aws_cloudtrail_security_group_change_ingress_egress"],
    ),
    (
        "stratus_detonation_share_ebs_snapshot.json",
        0,
        &["aws_snapshot_backup_exfiltration"],
    ),
    (
        "stratus_detonation_vpc_remove_flow_logs.json",
        0,
        &["aws_cloudtrail_vpc_flow_logs_deleted"],
    ),
];

fn stem(file: &str) -> String {
    let name = file.rsplit('/').next().unwrap_or(file);
    name.strip_suffix(".yml").unwrap_or(name).to_string()
}

#[test]
fn cloudtrail_fixtures_against_all_rules() {
    let rules = fixture_rules();
    let src = logsource_of("aws.cloudtrail");
    let events = fixture_events("cloudtrail");
    assert_eq!(events.len(), 154);
    let mut got = Vec::new();
    for (file, i, ev) in &events {
        let hits: Vec<String> = rules
            .matches(&src, ev)
            .iter()
            .map(|r| stem(&r.file))
            .collect();
        let naive: Vec<String> = rules
            .matches_naive(&src, ev)
            .iter()
            .map(|r| stem(&r.file))
            .collect();
        assert_eq!(hits, naive, "{file} #{i}");
        if !hits.is_empty() {
            got.push((file.clone(), *i, hits));
        }
    }
    let want: Vec<(String, usize, Vec<String>)> = CLOUDTRAIL_HITS
        .iter()
        .map(|(f, i, h)| (f.to_string(), *i, h.iter().map(|s| s.to_string()).collect()))
        .collect();
    assert_eq!(got, want);
    // the same events seen as another source hit nothing: the rules are all aws/cloudtrail
    for (_, _, ev) in &events {
        assert!(rules.matches(&logsource_of("gcp.audit"), ev).is_empty());
    }
}

#[test]
fn gcp_fixtures_against_all_rules() {
    let rules = fixture_rules();
    let src = logsource_of("gcp.audit");
    let events = fixture_events("gcp-audit");
    assert_eq!(events.len(), 9);
    // none of these methods is one the SigmaHQ GCP rules name
    for (file, i, ev) in &events {
        assert!(rules.matches(&src, ev).is_empty(), "{file} #{i}");
        assert!(rules.matches_naive(&src, ev).is_empty(), "{file} #{i}");
    }
    // the same entries with methods the rules name: `gcp.audit.method_name` is read from
    // `protoPayload.methodName`, and `v*.Compute.Firewalls.Delete` matches Google's lower-case
    // method names
    let base = events
        .iter()
        .find(|(f, _, _)| f == "gcp_audit_compute_subnetwork_patch_disable_flow_logs.json")
        .map(|(_, _, e)| e.clone())
        .unwrap_or_default();
    let with_method = |m: &str| {
        let mut e = base.clone();
        e["protoPayload"]["methodName"] = json!(m);
        e
    };
    let cases: &[(&str, &[&str])] = &[
        (
            "v1.compute.firewalls.delete",
            &["gcp_firewall_rule_modified_or_deleted"],
        ),
        ("beta.compute.packetMirrorings.insert", &[]),
        (
            "v1.compute.packetMirrorings.insert",
            &["gcp_full_network_traffic_packet_capture"],
        ),
        (
            "google.iam.admin.v1.projects.serviceAccounts.delete",
            &["gcp_service_account_disabled_or_deleted"],
        ),
        ("storage.buckets.list", &["gcp_bucket_enumeration"]),
        (
            "admissionregistration.k8s.io.v1.mutatingwebhookconfigurations.create",
            &["gcp_kubernetes_admission_controller"],
        ),
        (
            "admissionregistration.k8s.io.v1.mutatingwebhookconfigurations.get",
            &[],
        ),
        (
            "io.k8s.core.v1.secrets.delete",
            &["gcp_kubernetes_secrets_modified_or_deleted"],
        ),
    ];
    for (method, want) in cases {
        let ev = with_method(method);
        let got: Vec<String> = rules
            .matches(&src, &ev)
            .iter()
            .map(|r| stem(&r.file))
            .collect();
        assert_eq!(&got, want, "{method}");
        assert_eq!(rules.matches_naive(&src, &ev).len(), got.len());
    }
    // `data.protoPayload.*` is read from `protoPayload.*`; authorizationInfo is a list and
    // `granted: 'true'` matches the boolean
    let mut ev = base.clone();
    ev["protoPayload"]["serviceName"] = json!("accesscontextmanager.googleapis.com");
    ev["protoPayload"]["authorizationInfo"] = json!([
        {"permission": "accesscontextmanager.accessPolicies.get", "granted": true},
        {"permission": "accesscontextmanager.accessPolicies.delete", "granted": true}
    ]);
    let got: Vec<String> = rules
        .matches(&src, &ev)
        .iter()
        .map(|r| stem(&r.file))
        .collect();
    assert_eq!(got, ["gcp_access_policy_deleted"]);
}

// ---------------------------------------------------------------------------------------------
// the candidate index

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Every literal the fixture rules compare `field` with (wildcards made concrete).
fn rule_values(field: &str) -> Vec<String> {
    fn walk(v: &serde_yaml::Value, field: &str, out: &mut Vec<String>) {
        match v {
            serde_yaml::Value::Mapping(m) => {
                for (k, val) in m {
                    let key = k.as_str().unwrap_or("");
                    if key.split('|').next() == Some(field) {
                        let vals: Vec<&serde_yaml::Value> = match val {
                            serde_yaml::Value::Sequence(s) => s.iter().collect(),
                            other => vec![other],
                        };
                        for x in vals {
                            if let Some(s) = x.as_str() {
                                out.push(s.replace('*', "1").replace('?', "x"));
                            }
                        }
                    }
                    walk(val, field, out);
                }
            }
            serde_yaml::Value::Sequence(s) => s.iter().for_each(|x| walk(x, field, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for f in fixture_rule_files() {
        if let Ok(v) = serde_yaml::from_str::<serde_yaml::Value>(&f.text) {
            walk(&v, field, &mut out);
        }
    }
    out.sort();
    out.dedup();
    out
}

fn flip_case(rng: &mut Rng, s: &str) -> String {
    match rng.below(4) {
        0 => s.to_uppercase(),
        1 => s.to_lowercase(),
        2 => s
            .chars()
            .map(|c| {
                if rng.below(2) == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect(),
        _ => s.to_string(),
    }
}

/// Events varied from the fixtures: names and sources the rules use (and prefixes, suffixes and
/// case variants of them), identities, errors; checked with and without the index.
#[test]
fn index_equivalence_on_fixture_and_generated_events() {
    let rules = fixture_rules();
    let ct = logsource_of("aws.cloudtrail");
    let gcp = logsource_of("gcp.audit");
    let mut names = rule_values("eventName");
    names.extend(
        [
            "UpdateFunctionConfiguration20150331v2",
            "GetObject",
            "Describe",
            "",
        ]
        .map(String::from),
    );
    let sources = rule_values("eventSource");
    let methods = rule_values("gcp.audit.method_name");
    let services = rule_values("data.protoPayload.serviceName");
    assert!(
        names.len() > 50 && sources.len() > 20 && methods.len() > 40,
        "{}",
        names.len()
    );
    let ct_events: Vec<Value> = fixture_events("cloudtrail")
        .into_iter()
        .map(|(_, _, e)| e)
        .collect();
    let gcp_events: Vec<Value> = fixture_events("gcp-audit")
        .into_iter()
        .map(|(_, _, e)| e)
        .collect();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut checked = 0;
    let mut hits = 0;
    let mut check = |src: &LogSource, ev: &Value| {
        let a: Vec<&str> = rules
            .matches(src, ev)
            .iter()
            .map(|r| r.id.as_str())
            .collect();
        let b: Vec<&str> = rules
            .matches_naive(src, ev)
            .iter()
            .map(|r| r.id.as_str())
            .collect();
        assert_eq!(a, b, "index and naive differ on {ev}");
        checked += 1;
        hits += a.len();
    };
    for ev in &ct_events {
        check(&ct, ev);
    }
    for ev in &gcp_events {
        check(&gcp, ev);
    }
    for _ in 0..20_000 {
        let mut ev = rng.pick(&ct_events).clone();
        let name = rng.pick(&names).clone();
        let name = match rng.below(6) {
            0 => format!("{name}Extra"),
            1 => format!("x{name}"),
            2 => json!(rng.next() % 100).to_string(),
            _ => flip_case(&mut rng, &name),
        };
        ev["eventName"] = if rng.below(20) == 0 {
            json!([name, "Other"])
        } else {
            json!(name)
        };
        let source = rng.pick(&sources).clone();
        ev["eventSource"] = json!(flip_case(&mut rng, &source));
        match rng.below(8) {
            0 => {
                ev["userIdentity"] = json!({"type": "Root", "arn": "arn:aws:iam::1:root"});
            }
            1 => {
                ev["userIdentity"] = json!({"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/aws:ec2-instance/i-1", "sessionContext": {"sessionIssuer": {"type": "Role"}}});
            }
            2 => {
                ev["errorCode"] = json!("AccessDenied");
            }
            3 => {
                ev["userAgent"] = json!("TruffleHog");
            }
            4 => {
                if let Some(m) = ev.as_object_mut() {
                    m.remove("eventName");
                }
            }
            _ => {}
        }
        check(&ct, &ev);
    }
    for _ in 0..5_000 {
        let mut ev = rng.pick(&gcp_events).clone();
        let m = rng.pick(&methods).clone();
        ev["protoPayload"]["methodName"] = json!(flip_case(&mut rng, &m));
        if let Some(s) = services.first() {
            if rng.below(3) == 0 {
                ev["protoPayload"]["serviceName"] = json!(s);
            }
        }
        check(&gcp, &ev);
    }
    assert!(checked > 25_000);
    assert!(hits > 1_000, "too few hits to prove anything: {hits}");
}

/// The index on hand-made rules that use every kind of guard: equality, lists, prefixes,
/// suffixes, `cased`, `all`, `or`, `not`, lists of maps, several indexed fields.
#[test]
fn index_equivalence_on_guard_shapes() {
    let dets = [
        "s:\n    eventName: CreateUser\ncondition: s",
        "s:\n    eventName|cased: CreateUser\ncondition: s",
        "s:\n    eventName|startswith: Create\n    eventSource: iam.amazonaws.com\ncondition: s",
        "s:\n    eventName|endswith: User\ncondition: s",
        "s:\n    eventName: 'Cr*User'\ncondition: s",
        "s:\n    eventName: 'C?eate*'\ncondition: s",
        "s:\n    eventName|contains: eate\ncondition: s",
        "s:\n    eventName|contains|all:\n        - Cre\n        - User\ncondition: s",
        "s:\n    eventName|all:\n        - 'Create*'\n        - '*User'\ncondition: s",
        "a:\n    eventName: CreateUser\nb:\n    eventSource: sts.amazonaws.com\ncondition: a or b",
        "a:\n    eventName: CreateUser\nb:\n    userAgent: x\ncondition: a or b",
        "a:\n    eventName: CreateUser\ncondition: not a",
        "a:\n    eventName: CreateUser\ncondition: not not a",
        "s:\n    - eventName: CreateUser\n    - eventSource: IAM.amazonaws.com\ncondition: s",
        "s:\n    - eventName: CreateUser\n    - userAgent: x\ncondition: s",
        "s:\n    eventName|re: '^Create'\ncondition: s",
        "s:\n    eventName: null\ncondition: s",
        "s:\n    eventName: 5\ncondition: s",
        "s:\n    eventName|windash: 'Create-User'\ncondition: s",
        "s:\n    protoPayload.methodName|endswith: .delete\ncondition: s",
        "s:\n    eventName|base64: CreateUser\ncondition: s",
    ];
    let files: Vec<RuleFile> = dets
        .iter()
        .enumerate()
        .map(|(i, d)| {
            RuleFile::new(
                format!("r{i}.yml"),
                rule_text(d).replace("id: test-rule", &format!("id: rule-{i}")),
            )
        })
        .collect();
    let (rules, errors) = SigmaRules::compile(&files);
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(rules.len(), dets.len());
    let names = [
        "CreateUser",
        "createuser",
        "CREATEUSER",
        "Create",
        "User",
        "CreateRole",
        "DeleteUser",
        "Cr-User",
        "Create-User",
        "Create/User",
        "Create\u{2014}User",
        "5",
        "Q3JlYXRlVXNlcg==",
        "",
        "ſtuff",
        "\u{212A}User",
    ];
    let sources = [
        "iam.amazonaws.com",
        "sts.amazonaws.com",
        "IAM.AMAZONAWS.COM",
        "ec2.amazonaws.com",
    ];
    let mut rng = Rng(42);
    let src = cloudtrail();
    let mut hits = 0;
    for _ in 0..5_000 {
        let mut ev = json!({
            "eventSource": rng.pick(&sources),
            "userAgent": if rng.below(3) == 0 { "x" } else { "y" },
            "protoPayload": {"methodName": if rng.below(2) == 0 { "a.DELETE" } else { "a.get" }}
        });
        match rng.below(10) {
            0 => {}
            1 => ev["eventName"] = json!(5),
            2 => ev["eventName"] = json!([rng.pick(&names), rng.pick(&names)]),
            3 => ev["eventName"] = Value::Null,
            _ => ev["eventName"] = json!(rng.pick(&names)),
        }
        let a: Vec<&str> = rules
            .matches(&src, &ev)
            .iter()
            .map(|r| r.id.as_str())
            .collect();
        let b: Vec<&str> = rules
            .matches_naive(&src, &ev)
            .iter()
            .map(|r| r.id.as_str())
            .collect();
        assert_eq!(a, b, "{ev}");
        hits += a.len();
    }
    assert!(hits > 5_000);
    // the rules no guard could be read from (`userAgent` is indexed too)
    assert_eq!(
        rules.always_checked(),
        ["rule-6", "rule-7", "rule-11", "rule-15", "rule-16", "rule-17"]
    );
}

// ---------------------------------------------------------------------------------------------
// alerts

#[test]
fn hit_alert_mapping() {
    let rules = fixture_rules();
    let ev_raw =
        records(&data().join("events/cloudtrail/stratus_detonation_cloudtrail_stop_logging.json"))
            .into_iter()
            .next()
            .unwrap_or_default();
    let hits = rules.matches(&logsource_of("aws.cloudtrail"), &ev_raw);
    assert_eq!(hits.len(), 1);
    let rule = hits[0];
    assert_eq!(rule.id, "4db60cc0-36fb-42b7-9b58-a5b53019fb74");
    let event = Event {
        source: "aws.cloudtrail".into(),
        source_id: Some("e-1".into()),
        name: "cloudtrail.amazonaws.com:StopLogging".into(),
        account: Some("123456789012".into()),
        region: Some("us-east-1".into()),
        actor: Actor {
            principal: Some("arn:aws:iam::123456789012:user/alice".into()),
            ip: Some("198.51.100.7".into()),
            user_agent: Some("stratus".into()),
        },
        observed_at: None,
        raw: ev_raw.clone(),
    };
    let alert = hit_alert(rule, &event);
    assert_eq!(alert.source, "aws.cloudtrail");
    assert_eq!(alert.kind, rule.id);
    assert_eq!(alert.title, "AWS CloudTrail Important Change");
    assert_eq!(alert.source_severity, Severity::Medium);
    assert_eq!(alert.source_severity_label.as_deref(), Some("medium"));
    assert_eq!(
        alert.key,
        "sigma:4db60cc0-36fb-42b7-9b58-a5b53019fb74:123456789012:arn:aws:iam::123456789012:user/alice"
    );
    assert_eq!(alert.account.as_deref(), Some("123456789012"));
    assert_eq!(alert.region.as_deref(), Some("us-east-1"));
    assert_eq!(alert.actor, event.actor);
    assert_eq!(alert.indicators.len(), 1);
    assert_eq!(alert.raw["event"], ev_raw);
    assert_eq!(alert.raw["rule"]["author"], "vitaliy0x1");
    assert_eq!(alert.raw["rule"]["id"], json!(rule.id));
    assert_eq!(alert.raw["rule"]["tags"], json!(rule.tags));
    assert!(!rule.tags.is_empty() && rule.tags.iter().any(|t| t.starts_with("attack.")));
    assert_eq!(
        alert.raw["rule"]["falsepositives"],
        json!(rule.falsepositives)
    );
    assert!(!rule.falsepositives.is_empty());
    assert_eq!(
        alert.raw["rule"]["logsource"],
        json!({"product": "aws", "service": "cloudtrail"})
    );
    assert_eq!(
        alert.description,
        rule.description.clone().unwrap_or_default()
    );
    // the same actor doing it again is the same case; another actor another
    let mut other = event.clone();
    other.actor.principal = Some("bob".into());
    assert_eq!(hit_alert(rule, &event).key, alert.key);
    assert_ne!(hit_alert(rule, &other).key, alert.key);
    let mut anonymous = event;
    anonymous.account = None;
    anonymous.actor = Actor::default();
    assert_eq!(
        hit_alert(rule, &anonymous).key,
        "sigma:4db60cc0-36fb-42b7-9b58-a5b53019fb74::"
    );
}

#[test]
fn severity_from_level() {
    let levels = [
        ("critical", Severity::Urgent),
        ("high", Severity::High),
        ("medium", Severity::Medium),
        ("low", Severity::Low),
        ("informational", Severity::Info),
    ];
    for (level, want) in levels {
        let text = rule_text("s:\n    f: x\ncondition: s")
            .replace("level: high", &format!("level: {level}"));
        let (rules, errors) = SigmaRules::compile(&[RuleFile::new("l.yml", text)]);
        assert!(errors.is_empty());
        assert_eq!(rules.rules()[0].severity, want, "{level}");
        assert_eq!(rules.rules()[0].level.as_deref(), Some(level));
    }
    let text = rule_text("s:\n    f: x\ncondition: s").replace("level: high", "level: High");
    let (rules, errors) = SigmaRules::compile(&[RuleFile::new("l.yml", text)]);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(rules.rules()[0].severity, Severity::High);
    let text = rule_text("s:\n    f: x\ncondition: s").replace("level: high\n", "");
    let (rules, _) = SigmaRules::compile(&[RuleFile::new("l.yml", text)]);
    assert_eq!(rules.rules()[0].severity, Severity::Medium);
}

#[test]
fn shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SigmaRules>();
    let rules = std::sync::Arc::new(fixture_rules());
    let ev = records(&data().join("events/cloudtrail/stratus_detonation_share_ebs_snapshot.json"))
        .into_iter()
        .next()
        .unwrap_or_default();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let rules = rules.clone();
            let ev = ev.clone();
            std::thread::spawn(move || rules.matches(&logsource_of("aws.cloudtrail"), &ev).len())
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().ok(), Some(1));
    }
    // matching from inside the callback of another match
    let src = logsource_of("aws.cloudtrail");
    let mut inner = 0;
    rules.for_each_match(&src, &ev, |_| {
        rules.for_each_match(&src, &ev, |_| inner += 1);
    });
    assert_eq!(inner, 1);
}

//! Triage rules through the public API: verdicts, load errors, and the candidate index against
//! evaluating every rule.
// Tests may unwrap, expect and read fixture files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use irene_core::{Alert, Severity};
use irene_rules::{RuleError, RuleFile, TriageRules};
use serde_json::{json, Value};

/// An alert deserialized from JSON: a base GuardDuty-like alert with `over` merged on top.
fn alert(over: Value) -> Alert {
    let mut base = json!({
        "source": "aws.guardduty",
        "type": "Recon:EC2/PortProbeUnprotectedPort",
        "key": "gd-1",
        "title": "Unprotected port on EC2 instance i-1 is being probed",
        "source_severity": "low",
        "state": "active",
        "resource": {"id": "i-1", "kind": "Instance", "tags": {}},
        "account": "111111111111",
        "region": "eu-west-1",
        "raw": {"detail": {"service": {"archived": false, "count": 5}, "severity": 2.5}}
    });
    // `raw` is replaced, not merged
    let raw = over.get("raw").cloned();
    merge(&mut base, over);
    if let Some(raw) = raw {
        base["raw"] = raw;
    }
    match serde_json::from_value(base) {
        Ok(a) => a,
        Err(e) => panic!("bad test alert: {e}"),
    }
}

fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

fn rules(text: &str) -> TriageRules {
    match TriageRules::compile(&[RuleFile::new("test.yaml", text)]) {
        Ok(r) => r,
        Err(errors) => {
            let list: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
            panic!("rules did not load:\n{}", list.join("\n"))
        }
    }
}

const BASE_RULES: &str = r#"
- name: portprobe-on-honeypots-is-noise
  when: alert.type.startsWith("Recon:EC2/PortProbe") && alert.resource.tags.role == "honeypot"
  severity: info
- name: root-console-login-in-prod
  description: the root user signed in
  when: alert.type == "Policy:IAMUser/RootCredentialUsage" && alert.account in ["111111111111", "222222222222"]
  severity: urgent
  labels: [prod, root]
  key: "root-login/{{alert.account}}"
- name: archived-findings
  when: alert.raw.detail.service.archived == true
  severity: low
  labels: [archived]
- name: tag-owner-known
  when: has(alert.resource.tags.owner)
  labels: [owned]
  key: "owner/{{ alert.resource.tags.owner }}/{{alert.raw.detail.service.count}}/{{ alert.raw.detail.severity }}"
- name: broken-key
  when: alert.type == "Broken:Key"
  severity: medium
  key: "broken/{{alert.raw.nope}}"
- name: second-portprobe-rule
  when: alert.type.startsWith("Recon:EC2/PortProbe") && alert.region == "eu-west-1"
  severity: medium
- name: any-portprobe
  when: alert.type.startsWith("Recon:")
  severity: high
- name: root-anywhere
  when: '"Policy:IAMUser/RootCredentialUsage" == alert.type'
  severity: high
- name: ip-seen
  when: '"203.0.113.9" in alert.ips && alert.title.lowerAscii().contains("ssh")'
  severity: high
  labels: [ip]
- name: late-and-labelled
  when: alert.observed_at > timestamp("2024-06-01T00:00:00Z") && alert.source_severity_label == "HIGH"
  severity: urgent
- name: non-bool
  when: alert.title
  severity: urgent
- name: stack-tag
  when: alert.resource.tags["aws:cloudformation:stack-name"] == "edge"
  severity: high
  key: "{{alert.source}}/{{alert.severity}}/{{alert.state}}"
"#;

struct Case {
    name: &'static str,
    alert: Value,
    severity: Severity,
    rule: Option<&'static str>,
    labels: &'static [&'static str],
    key: &'static str,
    /// fragments expected in `explain`'s errors, in order
    errors: &'static [&'static str],
}

#[test]
fn verdicts_table() {
    let set = rules(BASE_RULES);
    let cases = vec![
        Case {
            name: "first match wins: honeypot rule before the other port-probe rules",
            alert: json!({"resource": {"tags": {"role": "honeypot"}}}),
            severity: Severity::Info,
            rule: Some("portprobe-on-honeypots-is-noise"),
            labels: &[],
            key: "gd-1",
            errors: &[],
        },
        Case {
            name: "tag absent: the honeypot rule fails to evaluate, the next one decides",
            alert: json!({}),
            severity: Severity::Medium,
            rule: Some("second-portprobe-rule"),
            labels: &[],
            key: "gd-1",
            errors: &["No such key: role"],
        },
        Case {
            name: "tag with another value",
            alert: json!({"resource": {"tags": {"role": "web"}}, "region": "us-east-1"}),
            severity: Severity::High,
            rule: Some("any-portprobe"),
            labels: &[],
            key: "gd-1",
            errors: &[],
        },
        Case {
            name: "in list and key template",
            alert: json!({"type": "Policy:IAMUser/RootCredentialUsage", "account": "222222222222"}),
            severity: Severity::Urgent,
            rule: Some("root-console-login-in-prod"),
            labels: &["prod", "root"],
            key: "root-login/222222222222",
            errors: &[],
        },
        Case {
            name: "not in the list: the reversed equality decides",
            alert: json!({"type": "Policy:IAMUser/RootCredentialUsage", "account": "333333333333"}),
            severity: Severity::High,
            rule: Some("root-anywhere"),
            labels: &[],
            key: "gd-1",
            errors: &[],
        },
        Case {
            name: "raw field access",
            alert: json!({"type": "X", "raw": {"detail": {"service": {"archived": true}}}}),
            severity: Severity::Low,
            rule: Some("archived-findings"),
            labels: &["archived"],
            key: "gd-1",
            errors: &[],
        },
        Case {
            name: "no rule matches: the source severity stands",
            alert: json!({"type": "X", "source_severity": "medium"}),
            severity: Severity::Medium,
            rule: None,
            labels: &[],
            key: "gd-1",
            errors: &[
                "gave a string, not a bool",
                "No such key: aws:cloudformation:stack-name",
            ],
        },
        Case {
            name: "missing raw path is an evaluation error, not a match",
            alert: json!({"type": "X", "raw": {"other": 1}}),
            severity: Severity::Low,
            rule: None,
            labels: &[],
            key: "gd-1",
            errors: &["No such key: detail", "not a bool", "stack-name"],
        },
        Case {
            name: "has() and no severity: labels and key set, source severity kept; numbers in key",
            alert: json!({"type": "X", "source_severity": "high", "resource": {"tags": {"owner": "alice"}}}),
            severity: Severity::High,
            rule: Some("tag-owner-known"),
            labels: &["owned"],
            key: "owner/alice/5/2.5",
            errors: &[],
        },
        Case {
            name: "failing key template falls back to the alert's key",
            alert: json!({"type": "Broken:Key"}),
            severity: Severity::Medium,
            rule: Some("broken-key"),
            labels: &[],
            key: "gd-1",
            errors: &["key: `alert.raw.nope`: No such key: nope"],
        },
        Case {
            name: "ips include the actor's ip; strings extension",
            alert: json!({"type": "UnauthorizedAccess:EC2/SSHBruteForce", "title": "SSH brute force",
                          "actor": {"ip": "203.0.113.9"}}),
            severity: Severity::High,
            rule: Some("ip-seen"),
            labels: &["ip"],
            key: "gd-1",
            errors: &[],
        },
        Case {
            name: "ips from indicators",
            alert: json!({"type": "UnauthorizedAccess:EC2/SSHBruteForce", "title": "SSH brute force",
                          "indicators": [{"kind": "domain", "value": "x.example"}, {"kind": "ip", "value": "203.0.113.9"}]}),
            severity: Severity::High,
            rule: Some("ip-seen"),
            labels: &["ip"],
            key: "gd-1",
            errors: &[],
        },
        Case {
            name: "timestamp comparison and source severity label",
            alert: json!({"type": "X", "observed_at": "2024-07-01T00:00:00Z", "source_severity_label": "HIGH"}),
            severity: Severity::Urgent,
            rule: Some("late-and-labelled"),
            labels: &[],
            key: "gd-1",
            errors: &[],
        },
        Case {
            name: "observed_at unknown is null: comparing fails, rule does not match",
            alert: json!({"type": "X", "source_severity_label": "HIGH"}),
            severity: Severity::Low,
            rule: None,
            labels: &[],
            key: "gd-1",
            errors: &["late-and-labelled", "not a bool", "stack-name"],
        },
        Case {
            name: "tag with an odd name, by index; template with several fields",
            alert: json!({"type": "X", "resource": {"tags": {"aws:cloudformation:stack-name": "edge"}}}),
            severity: Severity::High,
            rule: Some("stack-tag"),
            labels: &[],
            key: "aws.guardduty/low/active",
            errors: &["not a bool"],
        },
    ];
    for case in cases {
        let a = alert(case.alert);
        let judged = set.judge(a.clone());
        let naive = set.judge_naive(a.clone());
        let verdict = set.explain(&a);
        let n = case.name;
        assert_eq!(judged, naive, "{n}: indexed and naive differ");
        assert_eq!(judged.severity, case.severity, "{n}: severity");
        assert_eq!(judged.rule.as_deref(), case.rule, "{n}: rule");
        assert_eq!(judged.labels, case.labels, "{n}: labels");
        assert_eq!(judged.key, case.key, "{n}: key");
        assert_eq!(judged.alert, a, "{n}: the alert is handed back untouched");
        assert_eq!(
            (
                verdict.severity,
                verdict.rule.as_deref(),
                &verdict.labels,
                &verdict.key
            ),
            (
                judged.severity,
                judged.rule.as_deref(),
                &judged.labels,
                &judged.key
            ),
            "{n}: explain"
        );
        let errors: Vec<String> = verdict.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(errors.len(), case.errors.len(), "{n}: errors {errors:#?}");
        for (got, want) in errors.iter().zip(case.errors) {
            assert!(got.contains(want), "{n}: error {got:?} lacks {want:?}");
        }
    }
}

#[test]
fn empty_sets_and_files() {
    let a = alert(json!({"source_severity": "high"}));
    for set in [TriageRules::empty(), rules(""), rules("# nothing yet\n")] {
        assert!(set.is_empty());
        assert_eq!(set.len(), 0);
        let j = set.judge(a.clone());
        assert_eq!(
            (j.severity, j.rule, j.key),
            (Severity::High, None, "gd-1".into())
        );
    }
    let set = rules("- name: a\n  when: true\n  severity: info\n- name: b\n  when: 'false'\n");
    assert_eq!(set.names(), vec!["a", "b"]);
    assert_eq!(set.always_evaluated(), vec!["a", "b"]);
    assert_eq!(set.judge(a).severity, Severity::Info);
}

#[test]
fn rule_sets_are_shareable() {
    fn shareable<T: Send + Sync>() {}
    shareable::<TriageRules>();
    shareable::<RuleError>();
}

/// (files, expected errors: file, rule, index, line, column, message fragment)
type ErrorCase = (
    &'static str,
    Vec<(&'static str, &'static str)>,
    Vec<(
        &'static str,
        Option<&'static str>,
        Option<usize>,
        Option<usize>,
        Option<usize>,
        &'static str,
    )>,
);

#[test]
fn load_errors_table() {
    let cases: Vec<ErrorCase> = vec![
        (
            "YAML syntax error",
            vec![("a.yaml", "- name: a\n  when: true\n - name: b\n")],
            vec![("a.yaml", None, None, Some(3), Some(2), "not valid YAML")],
        ),
        (
            "not a list",
            vec![("a.yaml", "name: a\nwhen: true\n")],
            vec![("a.yaml", None, None, None, None, "expected a list of rules")],
        ),
        (
            "an item that is not a mapping",
            vec![("a.yaml", "- name: a\n  when: true\n- just text\n")],
            vec![("a.yaml", None, Some(2), Some(3), None, "found a string")],
        ),
        (
            "unknown field, on its own line",
            vec![("a.yaml", "- name: a\n  when: true\n\n- name: b\n  when: true\n  severty: high\n")],
            vec![("a.yaml", Some("b"), Some(2), Some(6), None, "unknown field `severty`")],
        ),
        (
            "missing when, missing name",
            vec![("a.yaml", "- name: a\n  severity: high\n- when: 'true'\n")],
            vec![
                ("a.yaml", Some("a"), Some(1), Some(1), None, "missing field `when`"),
                ("a.yaml", None, Some(2), Some(3), None, "missing field `name`"),
            ],
        ),
        (
            "bad severity",
            vec![("a.yaml", "- name: a\n  when: true\n  severity: critical\n")],
            vec![("a.yaml", Some("a"), Some(1), Some(3), Some(13), "severity: unknown severity \"critical\"")],
        ),
        (
            "duplicate name across two files",
            vec![
                ("a.yaml", "- name: x\n  when: true\n"),
                ("b.yaml", "- name: y\n  when: true\n- name: x\n  when: 'false'\n"),
            ],
            vec![("b.yaml", Some("x"), Some(2), Some(3), None, "duplicate rule name 'x', first defined in a.yaml (rule #1)")],
        ),
        (
            "CEL syntax error, placed in the file",
            vec![("a.yaml", "- name: a\n  when: alert.type == \n")],
            vec![("a.yaml", Some("a"), Some(1), Some(2), Some(22), "when: Syntax error: mismatched input '<EOF>'")],
        ),
        (
            "CEL syntax error in a quoted and a literal block expression",
            vec![(
                "a.yaml",
                "- name: a\n  when: \"alert.type === 'x'\"\n- name: b\n  when: |\n    alert.type == 'x' &&\n      (alert.account = '1')\n",
            )],
            vec![
                ("a.yaml", Some("a"), Some(1), Some(2), Some(23), "(expression line 1, column 14)"),
                ("a.yaml", Some("b"), Some(2), Some(6), Some(22), "(expression line 2, column 18)"),
            ],
        ),
        (
            "unknown alert field and unknown variable",
            vec![("a.yaml", "- name: a\n  when: alert.typ == 'x' || alrt.type == 'y' || alert.resource.tgas.x == 'z'\n")],
            vec![
                ("a.yaml", Some("a"), Some(1), Some(2), Some(15), "alert has no field 'typ'"),
                ("a.yaml", Some("a"), Some(1), Some(2), Some(29), "unknown variable 'alrt'"),
                ("a.yaml", Some("a"), Some(1), Some(2), Some(64), "alert.resource has no field 'tgas'"),
            ],
        ),
        (
            "unclosed template, and a template expression that does not compile",
            vec![("a.yaml", "- name: a\n  when: true\n  key: \"k/{{alert.account\"\n- name: b\n  when: true\n  key: \"{{alert.account +}}\"\n")],
            vec![
                ("a.yaml", Some("a"), Some(1), Some(3), Some(11), "key: '{{' at character 3 is never closed"),
                ("a.yaml", Some("b"), Some(2), Some(6), None, "key: expression `alert.account +` at character 1"),
            ],
        ),
        (
            "several problems in one rule are all reported; other files still checked",
            vec![
                ("a.yaml", "- name: a\n  when: 1 +\n  severity: huge\n  labels: ['']\n"),
                ("b.yaml", "- [1]\n"),
            ],
            vec![
                ("a.yaml", Some("a"), Some(1), Some(3), Some(13), "severity: unknown severity"),
                ("a.yaml", Some("a"), Some(1), Some(2), Some(12), "when: Syntax error"),
                ("a.yaml", Some("a"), Some(1), Some(4), None, "labels: a label must not be empty"),
                ("b.yaml", None, Some(1), Some(1), None, "found a list"),
            ],
        ),
    ];
    for (name, files, want) in cases {
        let files: Vec<RuleFile> = files
            .into_iter()
            .map(|(f, t)| RuleFile::new(f, t))
            .collect();
        let errors = match TriageRules::compile(&files) {
            Ok(_) => panic!("{name}: loaded"),
            Err(errors) => errors,
        };
        assert_eq!(errors.len(), want.len(), "{name}: {errors:#?}");
        for (got, want) in errors.iter().zip(&want) {
            let (file, rule, index, line, column, fragment) = *want;
            assert_eq!(got.file, file, "{name}: file of {got}");
            assert_eq!(got.rule.as_deref(), rule, "{name}: rule of {got}");
            assert_eq!(got.index, index, "{name}: index of {got}");
            assert_eq!(got.line, line, "{name}: line of {got}");
            assert_eq!(got.column, column, "{name}: column of {got}");
            assert!(
                got.message.contains(fragment),
                "{name}: {got} lacks {fragment:?}"
            );
        }
    }
}

#[test]
fn error_display() {
    let text = "- name: portprobe-on-honeypots-is-noise\n  when: alert.type.startsWith(\"Recon:EC2/PortProbe\")\n  severity: info\n- name: root-console-login-in-prod\n  when: alert.type == \"Policy:IAMUser/RootCredentialUsage\" &&& alert.account in [\"111111111111\"]\n  severity: urgent\n";
    let Err(errors) = TriageRules::compile(&[RuleFile::new("rules/prod.yaml", text)]) else {
        panic!("loaded")
    };
    assert_eq!(
        errors.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        vec![
            "rules/prod.yaml: rule 'root-console-login-in-prod' (#2), line 5 column 62: \
              when: Syntax error: token recognition error at: '& ' (expression line 1, column 54)"
        ]
    );
    let bare = RuleError {
        file: "x.yaml".into(),
        rule: None,
        index: Some(3),
        line: None,
        column: None,
        message: "m".into(),
    };
    assert_eq!(bare.to_string(), "x.yaml: rule #3: m");
}

/// A small deterministic generator (xorshift64*), so the test needs no extra crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const TYPES: &[&str] = &[
    "Recon:EC2/PortProbeUnprotectedPort",
    "Recon:EC2/PortProbeEMRUnprotectedPort",
    "Recon:EC2/Portscan",
    "UnauthorizedAccess:EC2/SSHBruteForce",
    "UnauthorizedAccess:IAMUser/ConsoleLogin",
    "Policy:IAMUser/RootCredentialUsage",
    "CryptoCurrency:EC2/BitcoinTool.B",
    "Trojan:EC2/DNSDataExfiltration",
    "OPEN_FIREWALL",
    "PUBLIC_BUCKET_ACL",
    "S3.1",
    "EC2.19",
    "Recon:IAMUser/MaliciousIPCaller",
    "Impact:S3/MaliciousIPCaller",
    "é-unicode/тип",
    "Backdoor:EC2/C&CActivity.B",
    "Discovery:S3/TorIPCaller",
    "Exfiltration:S3/AnomalousBehavior",
    "PrivilegeEscalation:IAMUser/AnomalousBehavior",
    "Persistence:IAMUser/NetworkPermissions",
    "Stealth:IAMUser/CloudTrailLoggingDisabled",
    "MFA_NOT_ENFORCED",
    "SQL_PUBLIC_IP",
    "IAM.6",
    "CloudTrail.1",
];
const SOURCES: &[&str] = &["aws.guardduty", "aws.securityhub", "gcp.scc", "prowler"];
const ACCOUNTS: &[&str] = &[
    "111111111111",
    "222222222222",
    "333333333333",
    "my-project",
    "",
];
const ENVS: &[&str] = &["prod", "staging", "dev"];
const SEVERITIES: &[&str] = &["urgent", "high", "medium", "low", "info"];

/// The handwritten types and synthetic ones (`Family3:Res1/Name4`), so that each exact type
/// is rare and many different rules get to decide.
fn type_pool() -> Vec<String> {
    let mut pool: Vec<String> = TYPES.iter().map(|t| t.to_string()).collect();
    for family in 0..8 {
        for res in 0..4 {
            for name in 0..5 {
                pool.push(format!("Family{family}:Res{res}/Name{name}"));
            }
        }
    }
    pool
}

fn prefix_of(rng: &mut Rng, s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len() / 2 + rng.below(chars.len() / 2 + 1);
    chars[..n].iter().collect()
}

/// One random condition; guarded or not, sometimes matching, sometimes failing.
fn condition(rng: &mut Rng, types: &[&str], rare: bool) -> String {
    let t = rng.pick(types);
    let t2 = rng.pick(types);
    let s = rng.pick(SOURCES);
    let a = rng.pick(ACCOUNTS);
    let e = rng.pick(ENVS);
    const RARE: [usize; 14] = [0, 1, 2, 3, 10, 11, 12, 13, 15, 16, 17, 18, 19, 22];
    let kind = if rare {
        RARE[rng.below(RARE.len())]
    } else {
        rng.below(25)
    };
    let n = rng.below(10);
    match kind {
        0 => format!("alert.type == {t:?}"),
        1 => format!("{t:?} == alert.type"),
        2 => format!("alert.type in [{t:?}, {t2:?}]"),
        3 => format!("alert.type.startsWith({:?})", prefix_of(rng, t)),
        4 => format!("alert.source == {s:?}"),
        5 => format!("alert.source.startsWith({:?})", prefix_of(rng, s)),
        6 => format!("alert.account in [{a:?}]"),
        7 => format!("alert.resource.tags.env == {e:?}"),
        8 => format!(
            "alert.resource.tags[\"env\"].startsWith({:?})",
            prefix_of(rng, e)
        ),
        9 => format!("has(alert.resource.tags.env) && alert.resource.tags.env != {e:?}"),
        10 => {
            let chars: Vec<char> = t.chars().collect();
            let from = rng.below(chars.len() / 2 + 1);
            let part: String = chars[from..].iter().collect();
            format!("alert.title.contains({part:?})")
        }
        11 => format!("(alert.type == {t:?} || alert.source == {s:?})"),
        12 => format!("alert.raw.detail.count == {}", rng.below(12)),
        13 => format!(
            "(alert.account == {a:?} ? alert.type == {t:?} : alert.type.startsWith(\"Recon\"))"
        ),
        14 => "alert.type in []".to_string(),
        15 => {
            let tail: Vec<char> = t.chars().rev().take(3).collect();
            let tail: String = tail.into_iter().rev().collect();
            format!("size(alert.ips) == 0 && alert.title.endsWith({tail:?})")
        }
        16 => format!(
            "alert.resource.tags.env != {e:?} && alert.raw.detail.count == {}",
            rng.below(12)
        ),
        17 => {
            if rng.below(2) == 0 {
                format!("alert.raw.detail.count > {n}")
            } else {
                format!(
                    "{n} <= alert.raw.detail.count && alert.raw.detail.count < {}",
                    n + 2
                )
            }
        }
        18 => format!("\"10.0.0.{n}\" in alert.ips"),
        19 => format!("alert.ips.exists(ip, ip.startsWith(\"10.0.0.{n}\") && alert.type == {t:?})"),
        20 => format!("alert.ips.all(ip, ip != \"10.0.0.{n}\")"),
        21 => format!("(!(alert.resource.tags.env == {e:?}) || alert.source == {s:?})"),
        22 => format!(
            "alert.raw.detail.name == \"n{}\" && alert.type in [{t:?}, {t2:?}]",
            n % 6
        ),
        23 => "alert.source_severity_label == \"HIGH\"".to_string(),
        _ => format!("alert.severity == {:?}", rng.pick(SEVERITIES)),
    }
}

fn generated_rules(rng: &mut Rng, n: usize, types: &[&str]) -> String {
    let mut text = String::new();
    for i in 0..n {
        let conjuncts = 2 + rng.below(2);
        let when = (0..conjuncts)
            .map(|c| condition(rng, types, c == 0))
            .collect::<Vec<_>>()
            .join(" && ");
        text.push_str(&format!(
            "- name: r{i}\n  when: '{}'\n",
            when.replace('\'', "''")
        ));
        if rng.below(3) > 0 {
            text.push_str(&format!("  severity: {}\n", rng.pick(SEVERITIES)));
        }
        if rng.below(4) == 0 {
            text.push_str(&format!("  labels: [l{i}]\n"));
        }
        match rng.below(5) {
            0 => text.push_str(&format!("  key: \"r{i}/{{{{alert.account}}}}\"\n")),
            1 => {
                text.push_str("  key: \"{{alert.resource.tags.env}}/{{alert.raw.detail.count}}\"\n")
            }
            _ => {}
        }
    }
    text
}

fn generated_alert(rng: &mut Rng, i: usize, types: &[&str]) -> Alert {
    let mut tags = serde_json::Map::new();
    if rng.below(2) == 0 {
        tags.insert("env".into(), json!(rng.pick(ENVS)));
    }
    let t = rng.pick(types);
    let account = rng.pick(ACCOUNTS);
    // raw values of several kinds, sometimes missing, so that direct evaluation meets them all
    let count = match rng.below(10) {
        0 => json!(rng.below(12) as f64 + 0.5),
        1 => json!(format!("{}", rng.below(12))),
        _ => json!(rng.below(12)),
    };
    let raw = match rng.below(20) {
        0 => json!({"other": true}),
        1 => json!({"detail": "flat"}),
        _ => match rng.below(4) {
            0 => json!({"detail": {"count": count}}),
            1 => json!({"detail": {"count": count, "name": 7}}),
            _ => json!({"detail": {"count": count, "name": format!("n{}", rng.below(6))}}),
        },
    };
    let indicators: Vec<Value> = (0..rng.below(3))
        .map(|_| json!({"kind": "ip", "value": format!("10.0.0.{}", rng.below(10))}))
        .collect();
    let mut over = json!({
        "source": rng.pick(SOURCES),
        "type": t,
        "key": format!("k{i}"),
        "title": format!("on something: {t}"),
        "source_severity": rng.pick(SEVERITIES),
        "resource": {"id": format!("i-{i}"), "tags": tags},
        "indicators": indicators,
        "raw": raw,
    });
    if rng.below(3) == 0 {
        over["actor"] = json!({"ip": format!("10.0.0.{}", rng.below(10))});
    }
    if rng.below(4) == 0 {
        over["source_severity_label"] = json!("HIGH");
    }
    if !account.is_empty() {
        over["account"] = json!(account);
    } else {
        over["account"] = Value::Null;
    }
    let mut a = alert(over);
    if account.is_empty() {
        a.account = None;
    }
    a
}

#[test]
fn index_decides_as_evaluating_every_rule() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let pool = type_pool();
    let types: Vec<&str> = pool.iter().map(String::as_str).collect();
    let set = rules(&generated_rules(&mut rng, 1000, &types));
    assert_eq!(set.len(), 1000);
    let unguarded = set.always_evaluated().len();
    assert!(
        unguarded < 300,
        "the index should guard most generated rules, {unguarded} are unguarded"
    );
    let mut decided_by = std::collections::HashMap::new();
    let mut unmatched = 0;
    for i in 0..2000 {
        let a = generated_alert(&mut rng, i, &types);
        let indexed = set.judge(a.clone());
        let naive = set.judge_naive(a.clone());
        assert_eq!(indexed, naive, "alert {i}: {a:#?}");
        let verdict = set.explain(&a);
        assert_eq!(verdict.rule, indexed.rule, "alert {i}: explain");
        assert_eq!(verdict.key, indexed.key, "alert {i}: explain key");
        match indexed.rule {
            Some(r) => {
                *decided_by.entry(r).or_insert(0) += 1;
            }
            None => unmatched += 1,
        }
    }
    eprintln!(
        "decided by {} rules, {unmatched} unmatched, {unguarded} unguarded",
        decided_by.len()
    );
    // the comparison is only worth something if many different rules decide
    assert!(
        decided_by.len() > 100,
        "only {} rules ever decided",
        decided_by.len()
    );
    assert!(unmatched > 0, "every alert matched");
}

/// Each generated rule alone: the index must let through every alert the rule matches, so
/// judging with the index and without agree rule by rule, not only on the first match.
#[test]
fn index_never_drops_a_matching_rule() {
    let mut rng = Rng(0x0bad_cafe_f00d_1234);
    let pool = type_pool();
    let types: Vec<&str> = pool.iter().map(String::as_str).collect();
    let text = generated_rules(&mut rng, 600, &types);
    let alerts: Vec<Alert> = (0..150)
        .map(|i| generated_alert(&mut rng, i, &types))
        .collect();
    let mut matches = 0;
    // each rule is three or four lines long, and starts with "- name:"
    let mut rule_texts: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.starts_with("- name:") {
            rule_texts.push(String::new());
        }
        if let Some(last) = rule_texts.last_mut() {
            last.push_str(line);
            last.push('\n');
        }
    }
    assert_eq!(rule_texts.len(), 600);
    for rule in &rule_texts {
        let set = rules(rule);
        for a in &alerts {
            let naive = set.judge_naive(a.clone());
            assert_eq!(set.judge(a.clone()), naive, "{rule}");
            matches += usize::from(naive.rule.is_some());
        }
    }
    assert!(matches > 200, "only {matches} matches");
}

/// Pathological expressions are load errors, never a stack overflow (tests run on 2 MiB
/// threads, as servers do); the limits leave room for real rules.
#[test]
fn deep_and_long_expressions() {
    let load = |when: String| {
        TriageRules::compile(&[RuleFile::new(
            "d.yaml",
            format!("- name: d\n  when: \"{when}\"\n"),
        )])
    };
    let table: Vec<(String, Option<&str>)> = vec![
        (
            format!("alert.raw{} == 1", ".a".repeat(5000)),
            Some("nested too deeply"),
        ),
        (
            format!("alert.raw{} == 1", "[0]".repeat(100)),
            Some("nested too deeply"),
        ),
        (
            format!("1{} == 1", " + 1".repeat(300)),
            Some("nested too deeply"),
        ),
        (
            format!("{}true{}", "(".repeat(200), ")".repeat(200)),
            Some("nested too deeply"),
        ),
        (
            format!("alert.title == '{}'", "x".repeat(40_000)),
            Some("too long"),
        ),
        // a long, flat condition is fine: && and || chains are balanced by the parser
        (vec!["alert.type != 'x'"; 1200].join(" && "), None),
        (
            format!(
                "alert.account in [{}]",
                vec!["'123456789012'"; 1500].join(", ")
            ),
            None,
        ),
        (format!("alert.raw{}.b == 1", ".a".repeat(20)), None),
    ];
    for (when, want) in table {
        let head: String = when.chars().take(40).collect();
        match (load(when), want) {
            (Ok(set), None) => {
                let a = alert(json!({}));
                assert_eq!(set.judge(a.clone()), set.judge_naive(a), "{head}");
            }
            (Err(errors), Some(fragment)) => {
                assert!(
                    errors[0].message.contains(fragment),
                    "{head}: {}",
                    errors[0]
                );
            }
            (got, want) => panic!("{head}: got {:?}, want {want:?}", got.err()),
        }
    }
}

/// Every part of the `alert` variable, as conditions that must hold (and not fail) for one
/// alert; judged with the index and direct evaluation, without, and explained.
#[test]
fn alert_variable_shape() {
    let a = alert(json!({
        "description": "d",
        "source_severity": "high",
        "source_severity_label": "8.0",
        "resource": {"kind": "Instance", "tags": {"env": "prod", "aws:cloudformation:stack-name": "s"}},
        "actor": {"principal": "arn:aws:iam::1:user/bob", "ip": "198.51.100.7"},
        "indicators": [{"kind": "ip", "value": "203.0.113.9"}, {"kind": "domain", "value": "x.example"}],
        "observed_at": "2024-05-01T10:00:00Z",
        "raw": {"detail": {"n": 5, "f": 2.5, "big": 18446744073709551615u64, "s": "x", "b": true,
                           "nul": null, "list": [1, "two", {"three": 3}]}}
    }));
    let conditions = [
        r#"alert.source == "aws.guardduty" && alert.type.startsWith("Recon:") && alert.key == "gd-1""#,
        r#"alert.title.contains("probed") && alert.description == "d""#,
        r#"alert.severity == "high" && alert.source_severity == "high" && alert.source_severity_label == "8.0""#,
        r#"alert.state == "active""#,
        r#"alert.resource.id == "i-1" && alert.resource.kind == "Instance" && alert.resource.name == """#,
        r#"alert.resource.tags.env == "prod" && alert.resource.tags["aws:cloudformation:stack-name"] == "s""#,
        r#"size(alert.resource.tags) == 2 && "env" in alert.resource.tags"#,
        r#"alert.account == "111111111111" && alert.region == "eu-west-1""#,
        r#"alert.actor.principal.endsWith("/bob") && alert.actor.ip == "198.51.100.7" && alert.actor.user_agent == """#,
        r#"size(alert.indicators) == 2 && alert.indicators[0].kind == "ip" && alert.indicators[1].value == "x.example""#,
        r#"alert.ips == ["203.0.113.9", "198.51.100.7"]"#,
        r#"alert.ips.exists(ip, ip.startsWith("198.")) && alert.ips.all(ip, ip.contains("."))"#,
        r#"alert.observed_at == timestamp("2024-05-01T10:00:00Z") && alert.observed_at.getHours() == 10"#,
        r#"alert.raw.detail.n == 5 && alert.raw.detail.n == 5.0 && alert.raw.detail.n > 4"#,
        r#"alert.raw.detail.f == 2.5 && alert.raw.detail.big == 18446744073709551615u"#,
        r#"alert.raw.detail.s == "x" && alert.raw.detail.b && alert.raw.detail.nul == null"#,
        r#"alert.raw.detail.list[1] == "two" && alert.raw.detail.list[2].three == 3"#,
        r#"has(alert.raw.detail.n) && !has(alert.raw.detail.missing) && has(alert.account)"#,
        r#"has(alert.resource.tags.env) && !has(alert.resource.tags.team)"#,
        r#"size(alert) == 17 && alert["type"] == alert.type && "raw" in alert"#,
        r#"alert.title.lowerAscii().split(" ").size() > 3"#,
        r#"alert.resource.tags.exists(k, k == "env")"#,
    ];
    for (i, when) in conditions.iter().enumerate() {
        let text = format!(
            "- name: c{i}\n  when: '{}'\n  severity: info\n",
            when.replace('\'', "''")
        );
        let set = rules(&text);
        let verdict = set.explain(&a);
        assert!(verdict.errors.is_empty(), "{when}: {:?}", verdict.errors);
        assert_eq!(
            verdict.rule.as_deref(),
            Some(format!("c{i}").as_str()),
            "{when}"
        );
        assert_eq!(set.judge(a.clone()).rule, verdict.rule, "{when}: judge");
        assert_eq!(
            set.judge_naive(a.clone()).rule,
            verdict.rule,
            "{when}: naive"
        );
    }
    // an absent observed_at is null; absent texts are empty
    let bare = Alert::new("s", "t", "k", "x", Severity::Low, json!(null));
    let set = rules(
        "- name: bare\n  when: alert.observed_at == null && alert.account == '' && alert.source_severity_label == null && alert.ips == [] && alert.raw == null\n",
    );
    assert_eq!(set.judge(bare.clone()).rule.as_deref(), Some("bare"));
    assert_eq!(set.explain(&bare).errors, vec![]);
    // a key template that renders empty falls back to the alert's key, with an error
    let set = rules("- name: k\n  when: true\n  key: '{{alert.region}}'\n");
    assert_eq!(set.judge(bare.clone()).key, "k");
    let errors = set.explain(&bare).errors;
    assert!(
        errors.len() == 1 && errors[0].message.contains("empty key"),
        "{errors:?}"
    );
}

#[test]
fn investigation_findings_are_seen_as_enrichment() {
    let set = rules(
        r#"
- name: tor-caller-is-urgent
  when: enrichment.reputation.tor == true && alert.source == "aws.guardduty"
  severity: urgent
  labels: [tor]
- name: sanctioned-country
  when: has(enrichment.geoip) && enrichment.geoip.country in ["KP", "IR"]
  severity: high
- name: everything-else
  when: alert.type.startsWith("Recon:")
  severity: low
"#,
    );
    // (what, enrichment, severity, deciding rule)
    let table: Vec<(&str, Value, Severity, &str)> = vec![
        (
            "a Tor caller",
            json!({"reputation": {"tor": true}}),
            Severity::Urgent,
            "tor-caller-is-urgent",
        ),
        (
            "not Tor, a listed country",
            json!({"reputation": {"tor": false}, "geoip": {"country": "KP"}}),
            Severity::High,
            "sanctioned-country",
        ),
        (
            "nothing found: the enrichment rules fail or miss, the next rule decides",
            json!({}),
            Severity::Low,
            "everything-else",
        ),
        (
            "another country",
            json!({"geoip": {"country": "FR"}}),
            Severity::Low,
            "everything-else",
        ),
    ];
    for (what, enrichment, severity, rule) in table {
        let j = set.judge_enriched(alert(json!({})), &enrichment);
        assert_eq!(j.severity, severity, "{what}");
        assert_eq!(j.rule.as_deref(), Some(rule), "{what}");
    }
    // when an alert arrives there are no findings: the same rules as `{}`
    let j = set.judge(alert(json!({})));
    assert_eq!(j.rule.as_deref(), Some("everything-else"));
    assert!(
        set.judge_enriched(alert(json!({})), &json!({"reputation": {"tor": true}}))
            .labels
            == ["tor"]
    );
}

#[test]
fn a_misspelt_variable_is_still_refused_but_enrichment_is_known() {
    let err = TriageRules::compile(&[RuleFile::new(
        "t.yaml",
        "- name: x\n  when: enrichmnt.reputation.tor == true\n  severity: high\n",
    )])
    .expect_err("refused");
    assert!(
        err[0].message.contains("unknown variable 'enrichmnt'"),
        "{}",
        err[0].message
    );
}

#[test]
fn an_explanation_traces_each_rule_up_to_the_one_that_decides() {
    let set = rules(
        "- name: other-type\n  when: alert.type == 'nope'\n  severity: high\n\
         - name: broken\n  when: alert.raw.missing.deeper == 1\n  severity: high\n\
         - name: decides\n  when: alert.source == 's'\n  severity: low\n\
         - name: never-reached\n  when: true\n  severity: urgent\n",
    );
    let a = Alert::new("s", "t", "k", "x", Severity::Medium, json!({}));
    let v = set.explain(&a);
    let trace: Vec<(&str, &str)> = v
        .trace
        .iter()
        .map(|s| (s.rule.as_str(), s.result))
        .collect();
    assert_eq!(
        trace,
        [
            ("other-type", "false"),
            ("broken", "error"),
            ("decides", "true")
        ]
    );
    assert_eq!(v.rule.as_deref(), Some("decides"));
    assert_eq!(v.errors.len(), 1, "{:?}", v.errors);
    assert_eq!(v.errors[0].rule, "broken");
    // no rule decides: every rule is in the trace, false
    let none = Alert::new(
        "other",
        "t",
        "k",
        "x",
        Severity::Medium,
        json!({"missing": {"deeper": 2}}),
    );
    let set = rules("- name: a\n  when: alert.type == 'nope'\n- name: b\n  when: alert.raw.missing.deeper == 1\n");
    let trace: Vec<&str> = set.explain(&none).trace.iter().map(|s| s.result).collect();
    assert_eq!(trace, ["false", "false"]);
}

//! Sigma correlation rules: loading (references by name and id, across files; rejections with
//! file and reason), the four types over timed event sequences, `generate`, chains, aliases, the
//! window state's serde round trip (a restart gives what an uninterrupted run gives), its bounds,
//! and the alert.
// Tests may unwrap, expect and read fixture files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use chrono::{DateTime, TimeZone, Utc};
use irene_core::{Actor, Event, Severity, WindowKey, WindowRow};
use irene_rules::sigma::{
    correlation_alert, logsource_of, CorrelationKind, LogSource, SigmaError, SigmaRules,
    WindowState, MAX_CORRELATION_ENTRIES, MAX_GROUPS,
};
use irene_rules::RuleFile;
use serde_json::{json, Value};
use std::collections::BTreeMap;

// ---------------------------------------------------------------------------------------------
// helpers

/// A CloudTrail detection rule hitting `eventName: <event>`.
fn rule(id: &str, name: &str, event: &str) -> String {
    format!(
        "title: Rule {id}\nid: {id}\nname: {name}\nlevel: low\nlogsource:\n    product: aws\n    \
         service: cloudtrail\ndetection:\n    selection:\n        eventName: {event}\n    \
         condition: selection\n"
    )
}

/// The base rules most tests use: `fail` (ConsoleLoginFailed), `ok` (ConsoleLogin), `a`, `b`, `c`.
fn base() -> String {
    [
        rule("r-fail", "fail", "ConsoleLoginFailed"),
        rule("r-ok", "ok", "ConsoleLogin"),
        rule("r-a", "a", "A"),
        rule("r-b", "b", "B"),
        rule("r-c", "c", "C"),
    ]
    .join("---\n")
}

/// A correlation document.
fn corr(id: &str, body: &str) -> String {
    format!(
        "title: Correlation {id}\nid: {id}\nlevel: high\nauthor: Tester\ntags:\n    - \
         attack.t1110\ncorrelation:\n{}",
        body.lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    )
}

fn compile(files: &[(&str, String)]) -> (SigmaRules, Vec<SigmaError>) {
    let files: Vec<RuleFile> = files
        .iter()
        .map(|(n, t)| RuleFile::new(*n, t.clone()))
        .collect();
    SigmaRules::compile(&files)
}

/// Base rules and the given correlation documents in one file, loading without errors.
fn load(correlations: &[String]) -> SigmaRules {
    let mut docs = vec![base()];
    docs.extend(correlations.iter().cloned());
    let (rules, errors) = compile(&[("mr_test.yml", docs.join("---\n"))]);
    assert!(errors.is_empty(), "{errors:#?}");
    rules
}

fn cloudtrail() -> LogSource {
    logsource_of("aws.cloudtrail")
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 6, 1, 12, 0, 0).unwrap() + chrono::Duration::seconds(seconds)
}

/// An event: its name, user and source IP.
fn ev(name: &str, user: &str, ip: &str) -> Value {
    json!({
        "eventName": name,
        "userIdentity": {"userName": user},
        "sourceIPAddress": ip,
    })
}

/// Feeds `(seconds, event)` in order; for each step, what fired: `id[group values]=count`.
fn run(rules: &SigmaRules, state: &mut WindowState, steps: &[(i64, Value)]) -> Vec<String> {
    steps
        .iter()
        .map(|(s, e)| step(rules, state, *s, e))
        .collect()
}

fn step(rules: &SigmaRules, state: &mut WindowState, s: i64, e: &Value) -> String {
    let hits = rules.matches(&cloudtrail(), e);
    rules
        .correlate(state, &hits, e, at(s))
        .iter()
        .map(|h| {
            let group: Vec<&str> = h.group.iter().map(|(_, v)| v.as_str()).collect();
            format!("{}[{}]={}", h.correlation.id, group.join(","), h.count)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A table: each case a sequence of `(seconds, event)` and what fires at each step.
/// What a case is about, its steps `(seconds, event)`, and what fires at each.
type Case<'a> = (&'a str, Vec<(i64, Value)>, Vec<&'a str>);

fn table(rules: &SigmaRules, cases: &[Case]) {
    for (what, steps, want) in cases {
        let mut state = WindowState::default();
        let got = run(rules, &mut state, steps);
        assert_eq!(&got, want, "{what}");
    }
}

fn fail(user: &str) -> Value {
    ev("ConsoleLoginFailed", user, "198.51.100.1")
}

// ---------------------------------------------------------------------------------------------
// the four types

#[test]
fn event_count_thresholds() {
    let rules = load(&[corr(
        "brute",
        "type: event_count\nrules: [fail]\ngroup-by: [userIdentity.userName]\ntimespan: 5m\n\
         condition:\n    gte: 3\n",
    )]);
    let c = &rules.correlations()[0];
    assert_eq!(c.kind(), CorrelationKind::EventCount);
    assert_eq!(c.rules(), ["r-fail"]);
    assert_eq!(c.timespan_seconds(), 300);
    assert_eq!(c.bounds(), (3, None));
    let a = || fail("alice");
    let other = || ev("ListBuckets", "alice", "198.51.100.1");
    table(
        &rules,
        &[
            (
                "three inside the timespan fire on the third",
                vec![(0, a()), (60, a()), (120, a())],
                vec!["", "", "brute[alice]=3"],
            ),
            (
                "a hit exactly a timespan old still counts",
                vec![(0, a()), (150, a()), (300, a())],
                vec!["", "", "brute[alice]=3"],
            ),
            (
                "spread wider than the timespan: never three at once",
                vec![(0, a()), (200, a()), (301, a()), (502, a())],
                vec!["", "", "", ""],
            ),
            (
                "other events do not count",
                vec![(0, a()), (1, other()), (2, other()), (3, a())],
                vec!["", "", "", ""],
            ),
            (
                "after firing, the window starts again",
                vec![
                    (0, a()),
                    (1, a()),
                    (2, a()),
                    (3, a()),
                    (4, a()),
                    (5, a()),
                    (6, a()),
                ],
                vec!["", "", "brute[alice]=3", "", "", "brute[alice]=3", ""],
            ),
        ],
    );
    // gt: 2 is gte: 3
    let rules = load(&[corr(
        "brute",
        "type: event_count\nrules: [r-fail]\ngroup-by: userIdentity.userName\ntimespan: 5m\n\
         condition: {gt: 2}\n",
    )]);
    table(
        &rules,
        &[(
            "gt",
            vec![(0, a()), (1, a()), (2, a())],
            vec!["", "", "brute[alice]=3"],
        )],
    );
}

#[test]
fn group_by_separates_windows() {
    let rules = load(&[
        corr(
            "by-user",
            "type: event_count\nrules: [fail]\ngroup-by: [userIdentity.userName]\ntimespan: \
             5m\ncondition: {gte: 2}\n",
        ),
        corr(
            "by-user-ip",
            "type: event_count\nrules: [fail]\ngroup-by: [userIdentity.userName, \
             sourceIPAddress]\ntimespan: 5m\ncondition: {gte: 2}\n",
        ),
        corr(
            "all",
            "type: event_count\nrules: [fail]\ntimespan: 5m\ncondition: {gte: 4}\n",
        ),
    ]);
    let f = |u: &str, ip: &str| ev("ConsoleLoginFailed", u, ip);
    let no_user = json!({"eventName": "ConsoleLoginFailed", "sourceIPAddress": "1.1.1.1"});
    table(
        &rules,
        &[
            (
                "users apart; user and IP apart; one global window",
                vec![
                    (0, f("alice", "1.1.1.1")),
                    (1, f("bob", "1.1.1.1")),
                    (2, f("alice", "2.2.2.2")),
                    (3, f("bob", "1.1.1.1")),
                ],
                vec![
                    "",
                    "",
                    "by-user[alice]=2",
                    "by-user[bob]=2 by-user-ip[bob,1.1.1.1]=2 all[]=4",
                ],
            ),
            (
                "an event without the group-by field is not counted where it is needed",
                vec![(0, no_user.clone()), (1, no_user.clone()), (2, no_user)],
                vec!["", "", ""],
            ),
        ],
    );
}

#[test]
fn value_count_counts_distinct_values() {
    let rules = load(&[corr(
        "spray",
        "type: value_count\nrules: [fail]\ngroup-by: [sourceIPAddress]\ntimespan: 10m\n\
         condition:\n    field: userIdentity.userName\n    gte: 3\n",
    )]);
    assert_eq!(
        rules.correlations()[0].field(),
        Some("userIdentity.userName")
    );
    let f = |u: &str| ev("ConsoleLoginFailed", u, "203.0.113.9");
    let no_user = json!({"eventName": "ConsoleLoginFailed", "sourceIPAddress": "203.0.113.9"});
    table(
        &rules,
        &[
            (
                "three users from one IP",
                vec![(0, f("alice")), (10, f("bob")), (20, f("carol"))],
                vec!["", "", "spray[203.0.113.9]=3"],
            ),
            (
                "the same user again is not a new value",
                vec![
                    (0, f("alice")),
                    (1, f("alice")),
                    (2, f("bob")),
                    (3, f("bob")),
                    (4, f("Bob")),
                ],
                vec!["", "", "", "", "spray[203.0.113.9]=3"],
            ),
            (
                "no value, no count",
                vec![(0, f("alice")), (1, no_user), (2, f("bob"))],
                vec!["", "", ""],
            ),
            (
                "values older than the timespan are gone",
                vec![(0, f("alice")), (500, f("bob")), (601, f("carol"))],
                vec!["", "", ""],
            ),
            (
                "a value seen again stays in the window with its newest time",
                vec![
                    (0, f("alice")),
                    (500, f("alice")),
                    (550, f("bob")),
                    (700, f("carol")),
                ],
                vec!["", "", "", "spray[203.0.113.9]=3"],
            ),
        ],
    );
}

#[test]
fn temporal_any_order() {
    let rules = load(&[corr(
        "abc",
        "type: temporal\nrules: [a, b, c]\ngroup-by: [userIdentity.userName]\ntimespan: 5m\n",
    )]);
    assert_eq!(rules.correlations()[0].bounds(), (3, None));
    let e = |n: &str| ev(n, "alice", "1.1.1.1");
    table(
        &rules,
        &[
            (
                "in order",
                vec![(0, e("A")), (10, e("B")), (20, e("C"))],
                vec!["", "", "abc[alice]=3"],
            ),
            (
                "out of order",
                vec![(0, e("C")), (10, e("A")), (20, e("B"))],
                vec!["", "", "abc[alice]=3"],
            ),
            (
                "one missing",
                vec![(0, e("A")), (10, e("B")), (20, e("B")), (30, e("A"))],
                vec!["", "", "", ""],
            ),
            (
                "outside the timespan",
                vec![(0, e("A")), (200, e("B")), (301, e("C"))],
                vec!["", "", ""],
            ),
            (
                "a repeated rule keeps its newest hit",
                vec![(0, e("A")), (200, e("A")), (250, e("B")), (400, e("C"))],
                vec!["", "", "", "abc[alice]=3"],
            ),
            (
                "other users are other windows",
                vec![
                    (0, e("A")),
                    (1, ev("B", "bob", "1.1.1.1")),
                    (2, ev("C", "bob", "1.1.1.1")),
                ],
                vec!["", "", ""],
            ),
        ],
    );
    // a count of different rules
    let rules = load(&[corr(
        "two-of-three",
        "type: temporal\nrules: [a, b, c]\ngroup-by: [userIdentity.userName]\ntimespan: 5m\n\
         condition: {gte: 2}\n",
    )]);
    table(
        &rules,
        &[(
            "two different rules",
            vec![(0, e("A")), (1, e("A")), (2, e("C"))],
            vec!["", "", "two-of-three[alice]=2"],
        )],
    );
}

#[test]
fn temporal_ordered_in_the_listed_order() {
    let rules = load(&[corr(
        "seq",
        "type: temporal_ordered\nrules: [a, b, c]\ngroup-by: [userIdentity.userName]\n\
         timespan: 5m\n",
    )]);
    let e = |n: &str| ev(n, "alice", "1.1.1.1");
    table(
        &rules,
        &[
            (
                "in order",
                vec![(0, e("A")), (10, e("B")), (20, e("C"))],
                vec!["", "", "seq[alice]=3"],
            ),
            (
                "out of order",
                vec![(0, e("B")), (10, e("A")), (20, e("C"))],
                vec!["", "", ""],
            ),
            (
                "out of order, then in order",
                vec![(0, e("C")), (10, e("A")), (20, e("B")), (30, e("C"))],
                vec!["", "", "", "seq[alice]=3"],
            ),
            (
                "one missing",
                vec![(0, e("A")), (10, e("C")), (20, e("C"))],
                vec!["", "", ""],
            ),
            (
                "outside the timespan",
                vec![(0, e("A")), (100, e("B")), (301, e("C"))],
                vec!["", "", ""],
            ),
            (
                "a late event placed at its time completes the order",
                vec![(0, e("A")), (20, e("C")), (10, e("B"))],
                vec!["", "", "seq[alice]=3"],
            ),
        ],
    );
}

#[test]
fn out_of_order_events() {
    let rules = load(&[corr(
        "brute",
        "type: event_count\nrules: [fail]\ngroup-by: [userIdentity.userName]\ntimespan: 5m\n\
         condition: {gte: 3}\n",
    )]);
    let a = || fail("alice");
    table(
        &rules,
        &[
            (
                "late within the timespan counts",
                vec![(100, a()), (200, a()), (50, a())],
                vec!["", "", "brute[alice]=3"],
            ),
            (
                "later than the timespan before the newest hit is too late",
                vec![(400, a()), (500, a()), (50, a()), (501, a())],
                vec!["", "", "", "brute[alice]=3"],
            ),
        ],
    );
    let mut state = WindowState::default();
    let hits = rules.matches(&cloudtrail(), &a());
    rules.correlate(&mut state, &hits, &a(), at(100));
    rules.correlate(&mut state, &hits, &a(), at(20));
    let fired = rules.correlate(&mut state, &hits, &a(), at(60));
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].first, at(20));
    assert_eq!(fired[0].last, at(100));
    assert_eq!(fired[0].rules, ["r-fail"]);
}

/// The specification's example: failed logins (an event_count, named) followed by a successful
/// login (temporal_ordered over it), base rules referred to by name.
#[test]
fn chained_correlations_the_specification_example() {
    let text = r#"title: Correlation - Multiple Failed Logins Followed by Successful Login
id: b180ead8-d58f-40b2-ae54-c8940995b9b6
status: experimental
description: Detects multiple failed logins by a single user followed by a successful login of that user
references:
    - https://reference.com
author: Florian Roth (Nextron Systems)
date: 2023-06-16
correlation:
    type: temporal_ordered
    rules:
        - multiple_failed_login
        - successful_login
    group-by:
        - User
    timespan: 10m
falsepositives:
    - Unlikely
level: high
---
title: Multiple failed logons
id: a8418a5a-5fc4-46b5-b23b-6c73beb19d41
description: Detects multiple failed logins within a certain amount of time
name: multiple_failed_login
correlation:
    type: event_count
    rules:
        - failed_login
    group-by:
        - User
    timespan: 10m
    condition:
        gte: 10
---
title: Single failed login
id: 53ba33fd-3a50-4468-a5ef-c583635cfa92
name: failed_login
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID:
            - 529
            - 4625
    condition: selection
---
title: Successful login
id: 4d0a2c83-c62c-4ed4-b475-c7e23a9269b8
description: Detects a successful login
name: successful_login
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID:
            - 528
            - 4624
    condition: selection
"#;
    let (rules, errors) = compile(&[("mr_failed_then_ok.yml", text.to_string())]);
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(rules.len(), 2);
    assert_eq!(rules.correlations().len(), 2);
    let outer = &rules.correlations()[0];
    let inner = &rules.correlations()[1];
    assert_eq!(
        outer.rules(),
        [
            "a8418a5a-5fc4-46b5-b23b-6c73beb19d41",
            "4d0a2c83-c62c-4ed4-b475-c7e23a9269b8"
        ]
    );
    assert!(rules.correlation_generates_alerts(outer));
    assert!(!rules.correlation_generates_alerts(inner));
    for r in rules.rules() {
        assert!(!rules.rule_generates_alerts(r), "{}", r.id);
    }
    let source = logsource_of("windows.security");
    let mut state = WindowState::default();
    let mut feed = |s: i64, id: u32, user: &str| -> Vec<String> {
        let e = json!({"EventID": id, "User": user});
        let hits = rules.matches(&source, &e);
        rules
            .correlate(&mut state, &hits, &e, at(s))
            .iter()
            .map(|h| format!("{}:{}", h.correlation.title, h.count))
            .collect()
    };
    // a success before the failures is not the order
    assert!(feed(0, 4624, "bob").is_empty());
    for i in 0..10 {
        // the inner correlation fires on the 10th failure, silently
        assert!(feed(10 + i, 4625, "bob").is_empty());
    }
    // another user's success is another group
    assert!(feed(30, 4624, "alice").is_empty());
    assert_eq!(
        feed(40, 4624, "bob"),
        ["Correlation - Multiple Failed Logins Followed by Successful Login:2"]
    );
}

#[test]
fn aliases_map_fields_per_rule() {
    let text = r#"title: Internal error
id: r-err
name: internal_error
logsource: {product: aws, service: cloudtrail}
detection:
    selection:
        http.response.status_code: 500
    condition: selection
---
title: New connection
id: r-conn
name: new_network_connection
logsource: {product: aws, service: cloudtrail}
detection:
    selection:
        event.category: network
    condition: selection
---
title: Error then connection
id: c-alias
correlation:
    type: temporal
    rules:
        - internal_error
        - new_network_connection
    group-by:
        - internal_ip
        - remote_ip
    timespan: 10s
    aliases:
        internal_ip:
            internal_error: destination.ip
            new_network_connection: source.ip
        remote_ip:
            internal_error: source.ip
            new_network_connection: destination.ip
"#;
    let (rules, errors) = compile(&[("mr_alias.yml", text.to_string())]);
    assert!(errors.is_empty(), "{errors:#?}");
    let err = |src: &str, dst: &str| json!({"http": {"response": {"status_code": 500}}, "source": {"ip": src}, "destination": {"ip": dst}});
    let conn = |src: &str, dst: &str| json!({"event": {"category": "network"}, "source": {"ip": src}, "destination": {"ip": dst}});
    table(
        &rules,
        &[
            (
                "the internal host's error, then its connection to the remote",
                vec![
                    (0, err("9.9.9.9", "10.0.0.1")),
                    (5, conn("10.0.0.1", "9.9.9.9")),
                ],
                vec!["", "c-alias[10.0.0.1,9.9.9.9]=2"],
            ),
            (
                "the same fields in both events are not the same addresses",
                vec![
                    (0, err("9.9.9.9", "10.0.0.1")),
                    (5, conn("9.9.9.9", "10.0.0.1")),
                ],
                vec!["", ""],
            ),
            (
                "too far apart",
                vec![
                    (0, err("9.9.9.9", "10.0.0.1")),
                    (11, conn("10.0.0.1", "9.9.9.9")),
                ],
                vec!["", ""],
            ),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// generate, references

#[test]
fn generate_decides_whether_base_rules_alert() {
    let cases: &[(&str, &[(&str, bool)])] = &[
        // default: only the correlation
        (
            "type: event_count\nrules: [fail]\ntimespan: 5m\ncondition: {gte: 2}\n",
            &[("r-fail", false), ("r-ok", true), ("r-a", true)],
        ),
        (
            "type: event_count\nrules: [fail]\ntimespan: 5m\ncondition: {gte: 2}\ngenerate: \
             false\n",
            &[("r-fail", false)],
        ),
        (
            "type: event_count\nrules: [fail]\ntimespan: 5m\ncondition: {gte: 2}\ngenerate: \
             true\n",
            &[("r-fail", true), ("r-ok", true)],
        ),
        (
            "type: temporal\nrules: [a, b]\ntimespan: 5m\n",
            &[("r-a", false), ("r-b", false), ("r-c", true)],
        ),
    ];
    for (body, want) in cases {
        let rules = load(&[corr("g", body)]);
        for (id, generates) in *want {
            let r = rules.rules().iter().find(|r| r.id == *id).unwrap();
            assert_eq!(rules.rule_generates_alerts(r), *generates, "{body} {id}");
        }
    }
    // top-level generate, as the specification lists it
    let text = format!(
        "{}---\n{}generate: true\n",
        base(),
        corr(
            "g",
            "type: event_count\nrules: [fail]\ntimespan: 5m\ncondition: {gte: 2}\n"
        )
    );
    let (rules, errors) = compile(&[("x.yml", text)]);
    assert!(errors.is_empty(), "{errors:#?}");
    assert!(rules.rule_generates_alerts(&rules.rules()[0]));
    assert!(rules.correlations()[0].generate());
    // one of two correlations naming the rule asks for its alerts
    let rules = load(&[
        corr(
            "g1",
            "type: event_count\nrules: [fail]\ntimespan: 5m\ncondition: {gte: 2}\n",
        ),
        corr(
            "g2",
            "type: event_count\nrules: [fail]\ntimespan: 1h\ncondition: {gte: 20}\ngenerate: \
             true\n",
        ),
    ]);
    assert!(rules.rule_generates_alerts(&rules.rules()[0]));
    // a correlation named by another alerts only if that one says generate
    for (generate, inner_alerts) in [("false", false), ("true", true)] {
        let rules = load(&[
            format!(
                "{}name: inner\n",
                corr(
                    "inner",
                    "type: event_count\nrules: [fail]\ngroup-by: [userIdentity.userName]\n\
                     timespan: 5m\ncondition: {gte: 2}\n"
                )
            ),
            corr(
                "outer",
                &format!(
                    "type: temporal_ordered\nrules: [inner, ok]\ngroup-by: \
                     [userIdentity.userName]\ntimespan: 5m\ngenerate: {generate}\n"
                ),
            ),
        ]);
        let want_inner = if inner_alerts { "inner[alice]=2" } else { "" };
        table(
            &rules,
            &[(
                "chain",
                vec![
                    (0, fail("alice")),
                    (1, fail("alice")),
                    (2, ev("ConsoleLogin", "alice", "1.1.1.1")),
                ],
                vec!["", want_inner, "outer[alice]=2"],
            )],
        );
    }
}

#[test]
fn references_by_name_and_id_across_files() {
    let (rules, errors) = compile(&[
        ("rules/base.yml", base()),
        (
            "rules/mr_mixed.yml",
            corr(
                "mixed",
                "type: temporal\nrules:\n    - r-a\n    - b\ngroup-by: [userIdentity.userName]\n\
                 timespan: 1m\n",
            ),
        ),
        (
            "rules/mr_later.yml",
            // names a correlation of another file, by id
            corr(
                "later",
                "type: event_count\nrules: [mixed]\ngroup-by: [userIdentity.userName]\n\
                 timespan: 1h\ncondition: {gte: 2}\n",
            ),
        ),
    ]);
    assert!(errors.is_empty(), "{errors:#?}");
    let ids: Vec<&str> = rules.correlations().iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["mixed", "later"]);
    assert_eq!(rules.correlations()[0].rules(), ["r-a", "r-b"]);
    assert_eq!(rules.correlations()[0].file, "rules/mr_mixed.yml");
    assert_eq!(rules.correlations()[1].rules(), ["mixed"]);
    let e = |n: &str| ev(n, "alice", "1.1.1.1");
    table(
        &rules,
        &[(
            "mixed fires silently twice, later fires",
            vec![(0, e("A")), (1, e("B")), (10, e("B")), (11, e("A"))],
            vec!["", "", "", "later[alice]=2"],
        )],
    );
    // the correlation may come before the rules it names, in the same file or another
    let (rules, errors) = compile(&[
        (
            "a.yml",
            corr(
                "first",
                "type: event_count\nrules: [fail]\ntimespan: 1m\ncondition: {gte: 1}\n",
            ),
        ),
        ("b.yml", base()),
    ]);
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(rules.correlations()[0].rules(), ["r-fail"]);
}

// ---------------------------------------------------------------------------------------------
// rejections

#[test]
fn rejections_name_file_rule_and_reason() {
    let ec = "type: event_count\nrules: [fail]\ngroup-by: [u]\ntimespan: 5m\ncondition: {gte: 3}\n";
    let cases: Vec<(String, &str, &str)> = vec![
        (
            corr("c", "type: event_count\nrules: [nope]\ntimespan: 5m\ncondition: {gte: 3}\n"),
            "c",
            "correlation: rules: 'nope': no rule or correlation rule of the loaded files has this id or name",
        ),
        (
            corr("c", "type: event_total\nrules: [fail]\ntimespan: 5m\ncondition: {gte: 3}\n"),
            "c",
            "correlation: type: unknown correlation type 'event_total'",
        ),
        (
            corr("c", "rules: [fail]\ntimespan: 5m\ncondition: {gte: 3}\n"),
            "c",
            "correlation: type: missing",
        ),
        (
            corr("c", "type: value_sum\nrules: [fail]\ntimespan: 5m\ncondition: {gte: 3, field: x}\n"),
            "c",
            "type 'value_sum' is not supported",
        ),
        (
            corr("c", "type: value_avg\nrules: [fail]\ntimespan: 5m\ncondition: {gte: 3, field: x}\n"),
            "c",
            "type 'value_avg' is not supported",
        ),
        (
            corr("c", "type: value_percentile\nrules: [fail]\ntimespan: 5m\ncondition: {gte: 3, field: x, percentile: 95}\n"),
            "c",
            "type 'value_percentile' is not supported",
        ),
        (
            corr("c", "type: event_count\nrules: [fail]\ntimespan: 5x\ncondition: {gte: 3}\n"),
            "c",
            "correlation: timespan: '5x' is not a timespan",
        ),
        (
            corr("c", "type: event_count\nrules: [fail]\ntimespan: 0m\ncondition: {gte: 3}\n"),
            "c",
            "a timespan must be greater than zero",
        ),
        (
            corr("c", "type: event_count\nrules: [fail]\ntimespan: 1M\ncondition: {gte: 3}\n"),
            "c",
            "months and years have no fixed length",
        ),
        (
            corr("c", "type: event_count\nrules: [fail]\ntimespan: 300\ncondition: {gte: 3}\n"),
            "c",
            "correlation: timespan: expected a number and a unit",
        ),
        (
            corr("c", "type: event_count\nrules: [fail]\ncondition: {gte: 3}\n"),
            "c",
            "correlation: timespan: missing",
        ),
        (
            corr("c", "type: event_count\nrules: [fail]\ntimespan: 5m\n"),
            "c",
            "correlation: condition: missing: event_count needs one",
        ),
        (
            corr("c", "type: value_count\nrules: [fail]\ntimespan: 5m\ncondition: {gte: 3}\n"),
            "c",
            "value_count needs 'field'",
        ),
        (
            corr("c", "type: event_count\nrules: [fail]\ntimespan: 5m\ncondition: {gte: 3, field: x}\n"),
            "c",
            "condition: field: only value_count counts the values of a field",
        ),
        (
            corr("c", "type: event_count\nrules: [fail]\ntimespan: 5m\ncondition: {lt: 3}\n"),
            "c",
            "correlation: condition: lt: 'lt' bounds the count from above",
        ),
        (
            corr("c", "type: event_count\nrules: [fail]\ntimespan: 5m\ncondition: {gt: 100, lte: 200}\n"),
            "c",
            "'lte' bounds the count from above",
        ),
        (
            corr("c", "type: value_count\nrules: [fail]\ntimespan: 5m\ncondition: {eq: 3, field: x}\n"),
            "c",
            "'eq' bounds the count from above",
        ),
        (
            corr("c", "type: temporal\nrules: [a, b, c]\ntimespan: 5m\ncondition: {lt: 3}\n"),
            "c",
            "'lt' bounds the count from above",
        ),
        (
            corr("c", "type: event_count\nrules: [fail]\ntimespan: 5m\ncondition: {neq: 3}\n"),
            "c",
            "'neq' is not a condition of the specification",
        ),
        (
            corr("c", "type: event_count\nrules: [fail]\ntimespan: 5m\ncondition: {gte: -1}\n"),
            "c",
            "condition: gte: expected a whole number",
        ),
        (
            corr("c", "type: event_count\nrules: [fail]\ntimespan: 5m\ncondition: {gte: 5000}\n"),
            "c",
            "more than a window holds",
        ),
        (
            corr("c", "type: temporal\nrules: [a, b]\ntimespan: 5m\ncondition: {gte: 3}\n"),
            "c",
            "asks for 3 different rules of the 2 named",
        ),
        (
            corr("c", "type: temporal_ordered\nrules: [a, b, c]\ntimespan: 5m\ncondition: {gte: 2}\n"),
            "c",
            "temporal_ordered fires when all 3 rules hit in order",
        ),
        (
            corr("c", "type: temporal\nrules: [a, b]\ntimespan: 5m\ncondition: 'a and b'\n"),
            "c",
            "extended (boolean) conditions",
        ),
        (
            corr("c", "type: event_count\nrules: [fail]\ntimespan: 5m\ncondition: {gte: 3}\nwindow: sliding\n"),
            "c",
            "correlation: window: unknown key",
        ),
        (
            corr("c", "type: event_count\ntimespan: 5m\ncondition: {gte: 3}\n"),
            "c",
            "correlation: rules: missing",
        ),
        (
            corr("c", "type: event_count\nrules: [fail, r-fail]\ntimespan: 5m\ncondition: {gte: 3}\n"),
            "c",
            "'r-fail' names a rule already listed",
        ),
        (
            corr("c", "type: event_count\nrules: [fail, fail]\ntimespan: 5m\ncondition: {gte: 3}\n"),
            "c",
            "'fail' is listed twice",
        ),
        (
            corr("c", "type: temporal\nrules: [a, b]\ngroup-by: [ip]\ntimespan: 5m\naliases:\n    ip:\n        a: source.ip\n"),
            "c",
            "correlation: aliases: ip: names no field for 'b'",
        ),
        (
            corr("c", "type: temporal\nrules: [a, b]\ngroup-by: [ip]\ntimespan: 5m\naliases:\n    ip:\n        a: source.ip\n        b: source.ip\n        c: source.ip\n"),
            "c",
            "'c' is not one of the rules this correlation names",
        ),
        (
            corr("c", "type: temporal\nrules: [a, b]\ngroup-by: [user]\ntimespan: 5m\naliases:\n    ip:\n        a: source.ip\n        b: source.ip\n"),
            "c",
            "aliases: ip: defined but not used in group-by",
        ),
        (
            corr("c", "type: temporal\nrules: [a, b]\ntimespan: 5m\naliases: [ip]\n"),
            "c",
            "correlation: aliases: expected a mapping",
        ),
        (
            corr("c", "type: event_count\nrules: [c]\ntimespan: 5m\ncondition: {gte: 3}\n"),
            "c",
            "'c' is this correlation itself",
        ),
        (
            corr("c", &format!("{ec}generate: yes please\n")),
            "c",
            "correlation: generate: expected true or false",
        ),
        (
            format!("{}logsource: {{product: aws}}\n", corr("c", ec)),
            "c",
            "logsource: a correlation rule has no detection or logsource",
        ),
        (
            format!("{}level: severe\n", corr("c", ec).replace("level: high\n", "")),
            "c",
            "level: unknown level 'severe'",
        ),
        (
            "title: no id\ncorrelation:\n    type: event_count\n    rules: [fail]\n    timespan: 5m\n    condition: {gte: 3}\n".to_string(),
            "no id",
            "id: missing",
        ),
        (
            "title: t\nid: c\ncorrelation: event_count\n".to_string(),
            "c",
            "correlation: expected a mapping",
        ),
        (
            corr("r-fail", ec),
            "r-fail",
            "id: duplicate rule id, first defined in mr_bad.yml",
        ),
    ];
    for (doc, want_rule, want) in &cases {
        let text = format!("{}---\n{doc}", base());
        let (rules, errors) = compile(&[("mr_bad.yml", text)]);
        assert!(
            errors.iter().any(|e| e.file == "mr_bad.yml"
                && e.rule.as_deref() == Some(*want_rule)
                && e.message.contains(want)),
            "{doc}\nexpected {want:?} in {errors:#?}"
        );
        assert!(rules.correlations().is_empty(), "{doc}");
        // the base rules load and alert on their own
        assert_eq!(rules.len(), 5);
        assert!(rules.rules().iter().all(|r| rules.rule_generates_alerts(r)));
    }
}

#[test]
fn rejections_that_need_every_file() {
    // a correlation naming a rejected correlation is rejected too; so are cycles
    let (rules, errors) = compile(&[
        ("base.yml", base()),
        (
            "mr_x.yml",
            [
                format!(
                    "{}name: bad\n",
                    corr("bad", "type: event_count\nrules: [fail]\ntimespan: 5m\n")
                ),
                corr(
                    "uses-bad",
                    "type: temporal\nrules: [bad, ok]\ntimespan: 5m\n",
                ),
                format!(
                    "{}name: one\n",
                    corr("one", "type: temporal\nrules: [two, a]\ntimespan: 5m\n")
                ),
                format!(
                    "{}name: two\n",
                    corr("two", "type: temporal\nrules: [one, b]\ntimespan: 5m\n")
                ),
            ]
            .join("---\n"),
        ),
    ]);
    assert!(rules.correlations().is_empty());
    let shown: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        shown,
        [
            "mr_x.yml: bad: document 1, line 7: correlation: condition: missing: event_count needs one (the specification makes it mandatory)",
            "mr_x.yml: uses-bad: document 2, line 21: correlation: rules: 'bad': no rule or correlation rule of the loaded files has this id or name",
            "mr_x.yml: one: document 3, line 32: correlation: rules: the correlation rules name each other in a cycle",
            "mr_x.yml: two: document 4, line 44: correlation: rules: the correlation rules name each other in a cycle",
        ]
    );
    // an ambiguous name
    let (rules, errors) = compile(&[
        ("base.yml", base()),
        ("more.yml", rule("r-fail-2", "fail", "Other")),
        (
            "mr_y.yml",
            corr(
                "amb",
                "type: event_count\nrules: [fail]\ntimespan: 5m\ncondition: {gte: 2}\n",
            ),
        ),
    ]);
    assert!(rules.correlations().is_empty());
    assert_eq!(
        errors[0].to_string(),
        "mr_y.yml: amb: line 9: correlation: rules: 'fail' is the name of several rules (r-fail in \
         base.yml, r-fail-2 in more.yml): refer to one by its id"
    );
    // a correlation naming a correlation that did not load
    let (rules, errors) = compile(&[
        ("base.yml", base()),
        (
            "mr_z.yml",
            [
                corr("bad2", "type: event_count\nrules: [fail]\ntimespan: 5m\n"),
                corr(
                    "uses-bad2",
                    "type: temporal\nrules: [bad2, ok]\ntimespan: 5m\n",
                ),
            ]
            .join("---\n"),
        ),
    ]);
    assert!(rules.correlations().is_empty());
    assert!(
        errors[1]
            .to_string()
            .contains("'bad2': no rule or correlation rule"),
        "{errors:#?}"
    );
    // a rejection by resolution, after a good parse
    let (rules, errors) = compile(&[
        (
            "mr_w.yml",
            [
                format!(
                    "{}name: first\n",
                    corr(
                        "first",
                        "type: event_count\nrules: [missing]\ntimespan: 5m\ncondition: {gte: 2}\n"
                    )
                ),
                corr(
                    "second",
                    "type: temporal\nrules: [first, ok]\ntimespan: 5m\n",
                ),
            ]
            .join("---\n"),
        ),
        ("base.yml", base()),
    ]);
    assert!(rules.correlations().is_empty());
    let shown: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        shown,
        [
            "mr_w.yml: first: document 1, line 9: correlation: rules: 'missing': no rule or correlation rule of the loaded files has this id or name",
            "mr_w.yml: second: document 2, line 22: correlation: rules: 'first' is a correlation rule that did not load",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// state: restart, purity, bounds

/// A small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn all_kinds() -> SigmaRules {
    load(&[
        format!(
            "{}name: brute\n",
            corr(
                "brute",
                "type: event_count\nrules: [fail]\ngroup-by: [userIdentity.userName]\ntimespan: \
                 2m\ncondition: {gte: 4}\n"
            )
        ),
        corr(
            "spray",
            "type: value_count\nrules: [fail, ok]\ngroup-by: [sourceIPAddress]\ntimespan: 5m\n\
             condition: {gte: 3, field: userIdentity.userName}\n",
        ),
        corr(
            "abc",
            "type: temporal\nrules: [a, b, c]\ngroup-by: [userIdentity.userName]\ntimespan: 3m\n",
        ),
        corr(
            "seq",
            "type: temporal_ordered\nrules: [a, b, c]\ngroup-by: [userIdentity.userName]\n\
             timespan: 4m\n",
        ),
        corr(
            "brute-then-ok",
            "type: temporal_ordered\nrules: [brute, ok]\ngroup-by: [userIdentity.userName]\n\
             timespan: 10m\ngenerate: true\n",
        ),
    ])
}

/// Events over a few users and IPs, time mostly rising, sometimes a little late.
fn stream(seed: u64, n: usize) -> Vec<(i64, Value)> {
    let mut rng = Rng(seed);
    let names = ["ConsoleLoginFailed", "ConsoleLogin", "A", "B", "C", "Other"];
    let users = ["alice", "bob", "carol", "dave"];
    let ips = ["10.0.0.1", "10.0.0.2", "10.0.0.3"];
    let mut now = 0i64;
    (0..n)
        .map(|_| {
            now += rng.below(20) as i64;
            let t = now - rng.below(4).saturating_sub(2) as i64 * 30;
            let e = ev(
                names[rng.below(names.len() as u64) as usize],
                users[rng.below(users.len() as u64) as usize],
                ips[rng.below(ips.len() as u64) as usize],
            );
            (t, e)
        })
        .collect()
}

#[test]
fn restart_from_saved_state_gives_the_same_results() {
    let rules = all_kinds();
    let steps = stream(0x9e37_79b9_7f4a_7c15, 3_000);
    let mut state = WindowState::default();
    let straight = run(&rules, &mut state, &steps);
    assert!(
        straight.iter().filter(|s| !s.is_empty()).count() > 50,
        "the stream should fire often: {straight:?}"
    );
    for kind in ["brute[", "spray[", "abc[", "seq[", "brute-then-ok["] {
        assert!(
            straight.iter().any(|s| s.contains(kind)),
            "{kind} never fired"
        );
    }
    // saved and reloaded (a restart) after every step, or every 97th
    for every in [1, 97] {
        let mut st = WindowState::default();
        let mut resumed = Vec::new();
        for (i, (s, e)) in steps.iter().enumerate() {
            resumed.push(step(&rules, &mut st, *s, e));
            if i % every == 0 {
                let saved = serde_json::to_string(&st).unwrap();
                let back: WindowState = serde_json::from_str(&saved).unwrap();
                assert_eq!(back, st);
                st = back;
            }
        }
        assert_eq!(resumed, straight, "saved every {every}");
        assert_eq!(st, state);
    }
    // and a save half way, reloaded into a new rule set compiled from the same files
    let mut first = WindowState::default();
    let half = steps.len() / 2;
    let mut out = run(&rules, &mut first, &steps[..half]);
    let json = serde_json::to_value(&first).unwrap();
    let again = all_kinds();
    let mut second: WindowState = serde_json::from_value(json).unwrap();
    out.extend(run(&again, &mut second, &steps[half..]));
    assert_eq!(out, straight);
    assert_eq!(second, state);
}

#[test]
fn same_state_and_input_give_the_same_output() {
    let rules = all_kinds();
    let steps = stream(7, 500);
    let mut a = WindowState::default();
    let mut b = WindowState::default();
    for (s, e) in &steps {
        let before = a.clone();
        let x = step(&rules, &mut a, *s, e);
        let mut again = before;
        assert_eq!(step(&rules, &mut again, *s, e), x);
        assert_eq!(again, a);
        assert_eq!(step(&rules, &mut b, *s, e), x);
    }
    assert_eq!(a, b);
}

#[test]
fn state_stays_bounded() {
    // a long stream over time: windows older than the timespan go
    let rules = all_kinds();
    let mut state = WindowState::default();
    let mut max_groups = 0;
    for (s, e) in stream(42, 20_000) {
        step(&rules, &mut state, s, &e);
        max_groups = max_groups.max(state.groups());
    }
    // 4 users and 3 IPs: a handful of windows per correlation
    assert!(max_groups <= 5 * 4, "{max_groups}");
    assert!(state.entries() < 200, "{}", state.entries());

    // many groups at once: the least recently active windows are dropped
    let rules = load(&[corr(
        "per-user",
        "type: event_count\nrules: [fail]\ngroup-by: [userIdentity.userName]\ntimespan: 1d\n\
         condition: {gte: 3}\n",
    )]);
    let mut state = WindowState::default();
    let n = MAX_GROUPS + 2_500;
    for i in 0..n {
        let e = fail(&format!("user{i}"));
        let hits = rules.matches(&cloudtrail(), &e);
        rules.correlate(&mut state, &hits, &e, at(i as i64));
    }
    assert_eq!(state.groups(), MAX_GROUPS);
    // the newest users are still counted: two more hits fire
    let e = fail(&format!("user{}", n - 1));
    let hits = rules.matches(&cloudtrail(), &e);
    assert!(rules
        .correlate(&mut state, &hits, &e, at(n as i64))
        .is_empty());
    assert_eq!(
        rules
            .correlate(&mut state, &hits, &e, at(n as i64 + 1))
            .len(),
        1
    );
    // the oldest were forgotten: user0 starts again from one (else its third hit would fire)
    let e = fail("user0");
    let hits = rules.matches(&cloudtrail(), &e);
    for s in [2, 3] {
        assert!(rules
            .correlate(&mut state, &hits, &e, at(n as i64 + s))
            .is_empty());
    }
    assert_eq!(state.groups(), MAX_GROUPS);
    assert!(state.entries() <= MAX_CORRELATION_ENTRIES);

    // a temporal_ordered window under a flood of one rule keeps at most its cap
    let rules = load(&[corr(
        "seq",
        "type: temporal_ordered\nrules: [a, b]\ngroup-by: [userIdentity.userName]\ntimespan: 1d\n",
    )]);
    let mut state = WindowState::default();
    let e = ev("B", "alice", "1.1.1.1");
    let hits = rules.matches(&cloudtrail(), &e);
    for i in 0..5_000 {
        rules.correlate(&mut state, &hits, &e, at(i));
    }
    assert_eq!(state.entries(), irene_rules::sigma::MAX_WINDOW_ENTRIES);
}

#[test]
fn state_of_changed_or_removed_correlations_is_dropped() {
    let body = |n: u32| {
        format!(
            "type: event_count\nrules: [fail]\ngroup-by: [userIdentity.userName]\ntimespan: 5m\n\
             condition: {{gte: {n}}}\n"
        )
    };
    let three = load(&[corr("brute", &body(3))]);
    let mut state = WindowState::default();
    run(
        &three,
        &mut state,
        &[(0, fail("alice")), (1, fail("alice"))],
    );
    assert_eq!(state.entries(), 2);
    // the same definition keeps the windows
    let same = load(&[corr("brute", &body(3))]);
    assert_eq!(
        run(&same, &mut state.clone(), &[(2, fail("alice"))]),
        ["brute[alice]=3"]
    );
    // a changed definition starts afresh
    let four = load(&[corr("brute", &body(4))]);
    assert_eq!(run(&four, &mut state.clone(), &[(2, fail("alice"))]), [""]);
    // a removed correlation's windows go
    let none = load(&[]);
    run(&none, &mut state, &[(2, fail("alice"))]);
    assert!(state.is_empty());
}

// ---------------------------------------------------------------------------------------------
// metadata and alerts

#[test]
fn correlation_alert_mapping() {
    let rules = load(&[corr(
        "brute",
        "type: event_count\nrules: [fail]\ngroup-by: [userIdentity.userName, sourceIPAddress]\n\
         timespan: 5m\ncondition: {gte: 2}\n",
    )
    .replace(
        "level: high\n",
        "level: critical\ndescription: Many failures\nstatus: test\n",
    )]);
    let c = &rules.correlations()[0];
    assert_eq!(c.title, "Correlation brute");
    assert_eq!(c.level.as_deref(), Some("critical"));
    assert_eq!(c.severity, Severity::Urgent);
    assert_eq!(c.author.as_deref(), Some("Tester"));
    assert_eq!(c.tags, ["attack.t1110"]);
    assert_eq!(c.file, "mr_test.yml");
    assert_eq!(c.group_by(), ["userIdentity.userName", "sourceIPAddress"]);
    assert_eq!(c.timespan(), "5m");

    let raw = fail("alice");
    let event = Event {
        source: "aws.cloudtrail".into(),
        source_id: Some("e-2".into()),
        name: "signin.amazonaws.com:ConsoleLoginFailed".into(),
        account: Some("123456789012".into()),
        region: Some("us-east-1".into()),
        actor: Actor {
            principal: Some("arn:aws:iam::123456789012:user/alice".into()),
            ip: Some("198.51.100.1".into()),
            user_agent: None,
        },
        observed_at: Some(at(30)),
        raw: raw.clone(),
    };
    let mut state = WindowState::default();
    let hits = rules.matches(&cloudtrail(), &raw);
    assert!(rules.correlate(&mut state, &hits, &raw, at(0)).is_empty());
    let fired = rules.correlate(&mut state, &hits, &raw, at(30));
    assert_eq!(fired.len(), 1);
    let hit = &fired[0];
    assert_eq!(
        hit.group,
        [
            ("userIdentity.userName".to_string(), "alice".to_string()),
            ("sourceIPAddress".to_string(), "198.51.100.1".to_string())
        ]
    );
    assert_eq!((hit.count, hit.first, hit.last), (2, at(0), at(30)));
    assert_eq!(hit.rules, ["r-fail"]);

    let alert = correlation_alert(hit, &event);
    assert_eq!(alert.source, "aws.cloudtrail");
    assert_eq!(alert.kind, "brute");
    assert_eq!(alert.title, "Correlation brute");
    assert_eq!(alert.description, "Many failures");
    assert_eq!(alert.source_severity, Severity::Urgent);
    assert_eq!(alert.source_severity_label.as_deref(), Some("critical"));
    assert_eq!(alert.key, "sigma:brute:alice:198.51.100.1");
    assert_eq!(alert.account.as_deref(), Some("123456789012"));
    assert_eq!(alert.region.as_deref(), Some("us-east-1"));
    assert_eq!(alert.actor, event.actor);
    assert_eq!(alert.observed_at, Some(at(30)));
    assert_eq!(alert.indicators.len(), 1);
    assert_eq!(alert.raw["event"], raw);
    assert_eq!(
        alert.raw["group"],
        json!({"userIdentity.userName": "alice", "sourceIPAddress": "198.51.100.1"})
    );
    assert_eq!(alert.raw["count"], 2);
    assert_eq!(alert.raw["first"], json!(at(0)));
    assert_eq!(alert.raw["last"], json!(at(30)));
    assert_eq!(alert.raw["rules"], json!(["r-fail"]));
    let meta = &alert.raw["correlation"];
    assert_eq!(meta["id"], "brute");
    assert_eq!(meta["author"], "Tester");
    assert_eq!(meta["tags"], json!(["attack.t1110"]));
    assert_eq!(meta["status"], "test");
    assert_eq!(meta["type"], "event_count");
    assert_eq!(meta["rules"], json!(["r-fail"]));
    assert_eq!(meta["timespan"], "5m");
    assert_eq!(meta["condition"], json!({"gte": 2}));
    assert_eq!(meta["file"], "mr_test.yml");
    // one group is one case, whoever the actor
    let mut other = event.clone();
    other.actor.principal = Some("someone else".into());
    assert_eq!(correlation_alert(hit, &other).key, alert.key);
}

#[test]
fn no_correlations_no_work() {
    let rules = load(&[]);
    assert!(rules.correlations().is_empty());
    let mut state = WindowState::default();
    let e = fail("alice");
    let hits = rules.matches(&cloudtrail(), &e);
    assert_eq!(hits.len(), 1);
    assert!(rules.correlate(&mut state, &hits, &e, at(0)).is_empty());
    assert!(state.is_empty());
    assert!(rules.rule_generates_alerts(hits[0]));
}

// ---------------------------------------------------------------------------------------------
// rows: the windows split per correlation and group, as a store keeps them

/// Runs `steps` as a store does: for each event only the rows of the windows it could touch
/// are loaded, rebuilt into a partial state, fed, and written back (changed rows) or deleted
/// (emptied rows). What fires at each step, as [`run`] gives it.
fn run_on_rows(
    rules: &SigmaRules,
    rows: &mut BTreeMap<WindowKey, WindowRow>,
    steps: &[(i64, Value)],
) -> Vec<String> {
    let mut out = Vec::new();
    for (s, e) in steps {
        let ids: Vec<String> = rules
            .matches(&cloudtrail(), e)
            .iter()
            .map(|r| r.id.clone())
            .collect();
        let keys = rules.window_keys(&ids, e);
        let loaded: Vec<WindowRow> = keys.iter().filter_map(|k| rows.get(k).cloned()).collect();
        let mut state = rules.windows_from_rows(&loaded);
        let fired = rules
            .correlate_detections(&mut state, &ids, e, at(*s))
            .iter()
            .map(|h| {
                let group: Vec<&str> = h.group.iter().map(|(_, v)| v.as_str()).collect();
                format!("{}[{}]={}", h.correlation.id, group.join(","), h.count)
            })
            .collect::<Vec<_>>()
            .join(" ");
        out.push(fired);
        let after = rules.window_rows(&state);
        for row in &after {
            assert!(
                keys.contains(&row.key),
                "{:?} changed but not in the keys",
                row.key
            );
        }
        for k in &keys {
            rows.remove(k);
        }
        for row in after {
            rows.insert(row.key.clone(), row);
        }
    }
    out
}

#[test]
fn windows_split_into_rows_give_the_same_hits() {
    let rules = all_kinds();
    let mut fired_kinds = std::collections::BTreeSet::new();
    for seed in [0x9e37_79b9_7f4a_7c15, 7, 42] {
        let mut steps = stream(seed, 3_000);
        // in time order (late events are where rows and one state may differ: see window_rows)
        steps.sort_by_key(|(t, _)| *t);
        let straight = run(&rules, &mut WindowState::default(), &steps);
        assert!(straight.iter().filter(|s| !s.is_empty()).count() > 50);
        for kind in ["brute[", "spray[", "abc[", "seq[", "brute-then-ok["] {
            if straight.iter().any(|s| s.contains(kind)) {
                fired_kinds.insert(kind);
            }
        }
        let mut rows = BTreeMap::new();
        let got = run_on_rows(&rules, &mut rows, &steps);
        assert_eq!(got, straight, "seed {seed}");
        // the rows left are the windows the uninterrupted state holds, or expired ones
        let last = steps.last().map_or(0, |(t, _)| *t);
        let mut whole = WindowState::default();
        run(&rules, &mut whole, &steps);
        let live: Vec<WindowKey> = rules
            .window_rows(&whole)
            .into_iter()
            .map(|r| r.key)
            .collect();
        for (k, row) in &rows {
            assert!(
                live.contains(k) || row.expires_at < at(last),
                "{k:?} is neither live nor expired"
            );
        }
    }
    assert_eq!(
        fired_kinds.len(),
        5,
        "every kind, the chain too: {fired_kinds:?}"
    );
}

#[test]
fn window_rows_table() {
    let rules = load(&[corr(
        "brute",
        "type: event_count\nrules: [fail]\ngroup-by: [userIdentity.userName]\ntimespan: 2m\n\
         condition: {gte: 3}\n",
    )]);
    let cases: Vec<Case> = vec![
        (
            "a threshold reached over rows",
            vec![(0, fail("alice")), (10, fail("alice")), (20, fail("alice"))],
            vec!["", "", "brute[alice]=3"],
        ),
        (
            "groups are rows of their own",
            vec![
                (0, fail("alice")),
                (1, fail("bob")),
                (2, fail("alice")),
                (3, fail("bob")),
                (4, fail("alice")),
            ],
            vec!["", "", "", "", "brute[alice]=3"],
        ),
        (
            "a row past its timespan counts nothing",
            vec![
                (0, fail("alice")),
                (10, fail("alice")),
                (200, fail("alice")),
            ],
            vec!["", "", ""],
        ),
        (
            "the window empties when it fires, and its row goes",
            vec![
                (0, fail("alice")),
                (1, fail("alice")),
                (2, fail("alice")),
                (3, fail("alice")),
            ],
            vec!["", "", "brute[alice]=3", ""],
        ),
    ];
    for (what, steps, want) in &cases {
        let mut rows = BTreeMap::new();
        assert_eq!(&run_on_rows(&rules, &mut rows, steps), want, "{what}");
        assert_eq!(
            run(&rules, &mut WindowState::default(), steps),
            *want,
            "{what}"
        );
    }
    // a row's expiry is its newest hit plus the timespan; an emptied window has no row
    let mut rows = BTreeMap::new();
    run_on_rows(
        &rules,
        &mut rows,
        &[(0, fail("alice")), (30, fail("alice"))],
    );
    let row = rows.values().next().expect("a row");
    assert_eq!(row.key.correlation, "brute");
    assert_eq!(row.key.group, r#"["alice"]"#);
    assert_eq!(row.expires_at, at(30 + 120));
    run_on_rows(&rules, &mut rows, &[(40, fail("alice"))]);
    assert!(rows.is_empty(), "{rows:?}");
    // unreadable rows, and rows of another definition, start empty
    let junk = WindowRow {
        key: WindowKey {
            correlation: "brute".into(),
            group: r#"["alice"]"#.into(),
        },
        state: "not json".into(),
        expires_at: at(0),
    };
    assert!(rules.windows_from_rows(&[junk]).is_empty());
}

//! The console's insight pages, served by a real `irene serve`: the overview's counts, chart,
//! resolve times and top types; similar cases; the rules page and its playground.
// Tests may unwrap and expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{fixture, Server};
use serde_json::{json, Value};

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'";
const XSS: &str = "<script>alert(1)</script>";
const XSS_ESCAPED: &str = "&#60;script&#62;alert(1)&#60;/script&#62;";
const RULES: &str = r#"
- name: guardduty-recon
  when: alert.source == "aws.guardduty"
  severity: low
"#;

struct Got {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

async fn get(s: &Server, path: &str) -> Got {
    let resp = s
        .client
        .get(format!("{}{path}", s.url))
        .send()
        .await
        .expect("request");
    Got {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.text().await.expect("body"),
    }
}

/// The `<tr …>` row that starts with `marker`, up to its `</tr>`.
fn row<'a>(body: &'a str, marker: &str) -> &'a str {
    let start = body
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker:?} in {body}"));
    let rest = &body[start..];
    &rest[..rest.find("</tr>").expect("row end")]
}

fn section<'a>(body: &'a str, id: &str) -> &'a str {
    let marker = format!("<section id=\"{id}\">");
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no section {id} in {body}"));
    let rest = &body[start..];
    &rest[..rest.find("</section>").expect("section end")]
}

fn guardduty() -> String {
    std::fs::read_to_string(fixture(
        "guardduty/eventbridge_recon_ec2_portprobeunprotectedport_real.json",
    ))
    .expect("fixture")
}

fn alert(key: &str, kind: &str, resource: &str, title: &str) -> Value {
    json!({"key": key, "title": title, "type": kind, "severity": "high",
           "resource": {"id": resource}})
}

/// Posts the playground form (with the page's CSRF token) and returns the page.
async fn playground(s: &Server, fields: &[(&str, &str)]) -> Got {
    post_form(s, "/rules/playground", fields).await
}

/// Posts the form of the page at `path` (with the page's CSRF token) and returns the answer.
async fn post_form(s: &Server, path: &str, fields: &[(&str, &str)]) -> Got {
    let form = get(s, path).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let after = form
        .body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .expect("csrf field");
    let csrf = &after[..after.find('"').expect("end")];
    let mut all = vec![("csrf", csrf)];
    all.extend_from_slice(fields);
    let resp = s
        .client
        .post(format!("{}{path}", s.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(&all).expect("form"))
        .send()
        .await
        .expect("post");
    Got {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.text().await.expect("body"),
    }
}

#[tokio::test]
async fn insight_pages_count_chart_and_explain_what_was_posted() {
    let dir = tempfile::tempdir().expect("tmp");
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).expect("mkdir");
    std::fs::write(rules.join("10-gd.yaml"), RULES).expect("rules");
    let s = Server::start(
        &dir.path().join("data"),
        &["--triage", rules.to_str().expect("path")],
    );
    let (st, body) = s.ingest("aws.guardduty", guardduty()).await;
    assert_eq!(st, 202, "{body}");
    let batch = json!([
        alert("s1", "db.exposed", "db-1", "First exposure"),
        alert("s2", "db.exposed", "db-1", "Second exposure"),
        alert("x", XSS, "other", XSS),
    ]);
    let (st, body) = s.ingest("generic", batch.to_string()).await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;
    let cases = s.all_cases("").await;
    assert_eq!(cases.len(), 4, "{cases:?}");
    let id_of = |key: &str| {
        cases
            .iter()
            .find(|c| c["key"] == key)
            .and_then(|c| c["id"].as_str())
            .unwrap_or_else(|| panic!("no case {key} in {cases:?}"))
            .to_string()
    };
    let (st, body) = s
        .post_raw(
            &format!("/api/v1/cases/{}/resolve", id_of("s1")),
            r#"{"reason":"closed the port"}"#,
            &[],
        )
        .await;
    assert_eq!(st, 200, "{body}");

    // Overview: open cases by source, resolve times, top types (escaped).
    let p = get(&s, "/").await;
    assert_eq!(p.status, 200, "{}", p.body);
    let gd = row(
        &p.body,
        "<tr class=\"open-source\"><td><a href=\"/cases?status=open&#38;source=aws.guardduty",
    );
    assert!(gd.contains("<td class=\"num\">1</td>"), "{gd}");
    let generic = row(
        &p.body,
        "<tr class=\"open-source\"><td><a href=\"/cases?status=open&#38;source=generic",
    );
    assert!(
        generic.contains("<td class=\"num\">2</td>"),
        "one of three is resolved: {generic}"
    );
    let mttr = row(&p.body, "<tr class=\"resolve-time\" id=\"mttr-high\">");
    assert!(mttr.contains("<td class=\"num\">1</td>"), "{mttr}");
    let top = &p.body[p.body.find("id=\"top-types\"").expect("top types")..];
    let top = &top[..top.find("</table>").expect("table end")];
    let exposed = row(top, "<tr class=\"top-type\"><td>db.exposed</td>");
    assert!(exposed.contains("<td class=\"num\">2</td>"), "{exposed}");
    assert!(top.contains("Recon:EC2/PortProbeUnprotectedPort"), "{top}");
    assert!(top.contains(XSS_ESCAPED) && !p.body.contains(XSS), "{top}");
    assert!(p
        .body
        .contains("<img class=\"chart\" src=\"/charts/alerts.svg\""));

    // The chart: SVG, one bar per hour with alerts, their counts adding up to what was posted.
    let c = get(&s, "/charts/alerts.svg").await;
    assert_eq!(c.status, 200, "{}", c.body);
    let header = |n: &str| c.headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    assert_eq!(header("content-type"), "image/svg+xml");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("content-security-policy"), CSP);
    assert!(c.body.starts_with("<svg") && c.body.ends_with("</svg>"));
    let bars = c.body.matches("class=\"bar\"").count();
    assert!(
        (1..=2).contains(&bars),
        "everything was posted within a minute: {}",
        c.body
    );
    let total: i64 = c
        .body
        .split("</title>")
        .filter_map(|t| t.rsplit(": ").next()?.parse::<i64>().ok())
        .sum();
    assert_eq!(total, 4, "{}", c.body);

    // Similar cases: s2 lists s1 (same type and resource), not itself nor the others.
    let p = get(&s, &format!("/cases/{}", id_of("s2"))).await;
    assert_eq!(p.status, 200, "{}", p.body);
    let similar = section(&p.body, "similar");
    assert!(
        similar.contains(&format!("/cases/{}", id_of("s1"))),
        "{similar}"
    );
    assert_eq!(
        similar.matches("class=\"similar-case\"").count(),
        1,
        "{similar}"
    );

    // Rules: the triage rule's hits, and the rule behind the latest alerts.
    let p = get(&s, "/rules").await;
    assert_eq!(p.status, 200, "{}", p.body);
    let r = row(
        &p.body,
        "<tr class=\"triage-rule\"><td>guardduty-recon</td>",
    );
    assert_eq!(
        r.matches("<td class=\"num\">1</td>").count(),
        2,
        "24 h and 7 d: {r}"
    );
    let recent = section(&p.body, "recent-alerts");
    assert_eq!(
        recent.matches("class=\"recent-alert\"").count(),
        4,
        "{recent}"
    );
    assert!(recent.contains("<td>guardduty-recon</td>"), "{recent}");
    assert!(
        recent.contains(XSS_ESCAPED) && !recent.contains(XSS),
        "{recent}"
    );
    assert!(p.body.contains("<a href=\"/rules\">Rules</a>"), "nav link");

    // Playground: the GuardDuty fixture is decided by the rule; markup comes back as text.
    let p = playground(
        &s,
        &[("source", "aws.guardduty"), ("payload", &guardduty())],
    )
    .await;
    assert_eq!(p.status, 200, "{}", p.body);
    let result = section(&p.body, "playground-results");
    assert!(
        result.contains("<td class=\"deciding-rule\">guardduty-recon</td>"),
        "{result}"
    );
    let evil = json!({"key": "e", "title": XSS, "type": "t", "severity": "low"}).to_string();
    let p = playground(&s, &[("source", "generic"), ("payload", &evil)]).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(
        p.body.contains(XSS_ESCAPED) && !p.body.contains(XSS),
        "{}",
        p.body
    );
    // a stored alert, by id
    let (_, case) = s.get(&format!("/api/v1/cases/{}", id_of("s2"))).await;
    let alert_id = case["last_alert_id"]
        .as_str()
        .expect("last alert")
        .to_string();
    let p = playground(&s, &[("alert_id", &alert_id)]).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("<td>Second exposure</td>"), "{}", p.body);
    // without the form's token: refused, nothing run
    let resp = s
        .client
        .post(format!("{}/rules/playground", s.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("csrf=nope&source=generic&payload=%7B%7D")
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 403);

    // Replay: a draft that decides the generic alerts, over the stored ones.
    let draft = "- name: generic-urgent\n  when: alert.source == \"generic\"\n  severity: urgent\n";
    let p = post_form(&s, "/rules/replay", &[("triage", draft), ("since", "1h")]).await;
    assert_eq!(p.status, 200, "{}", p.body);
    let r = row(&p.body, "<tr class=\"replay-rule\"><td>generic-urgent</td>");
    assert!(
        r.contains("<td class=\"num\">0</td><td class=\"num\">3</td>"),
        "{r}"
    );
    let p = post_form(
        &s,
        "/rules/replay",
        &[("triage", "- name: [broken"), ("since", "1h")],
    )
    .await;
    assert!(p.body.contains("id=\"replay-problem\""), "{}", p.body);
}

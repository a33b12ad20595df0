use super::*;
use crate::render::tests::{check_slack_limits, sample_alert, sample_case};
use irene_core::Severity;

const URL: &str = "https://irene.example.com/cases/1";

fn files(list: &[(&str, &str)]) -> Vec<TemplateFile> {
    list.iter()
        .map(|(n, t)| TemplateFile::new(*n, *t))
        .collect()
}

fn set(list: &[(&str, &str)]) -> TemplateSet {
    TemplateSet::compile(&files(list)).unwrap_or_else(|e| panic!("{e:?}"))
}

fn input<'a>(
    case: &'a Case,
    alert: Option<&'a Alert>,
    action: Action,
    detail: &'a Value,
) -> Input<'a> {
    Input {
        case,
        alert,
        case_url: URL,
        action,
        detail,
        now: case.last_seen,
    }
}

#[test]
fn every_compile_error_at_once_with_its_file() {
    let errors = TemplateSet::compile(&files(&[
        ("tpl/github_title.j2", "ok {{ case.title }}"),
        ("tpl/github_body.md", "line one\n{{ case.title "),
        ("slack_message.txt", "{% for %}"),
        ("issue.md", "x"),
        ("github_title.txt", "again"),
    ]))
    .err()
    .unwrap_or_else(|| panic!("compiled"));
    let got: Vec<(String, String)> = errors
        .iter()
        .map(|e| {
            let kind = serde_json::to_value(e).unwrap_or_default()["kind"]
                .as_str()
                .unwrap_or("")
                .to_string();
            (kind, e.to_string())
        })
        .collect();
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(got[0].0, "compile");
    assert!(
        got[0]
            .1
            .starts_with("tpl/github_body.md, line 2: syntax error"),
        "{}",
        got[0].1
    );
    assert_eq!(got[1].0, "compile");
    assert!(
        got[1].1.starts_with("slack_message.txt, line 1: "),
        "{}",
        got[1].1
    );
    assert_eq!(got[2].0, "unknown_name");
    assert!(
        got[2].1.starts_with("issue.md: unknown template \"issue\""),
        "{}",
        got[2].1
    );
    assert_eq!(got[3].0, "duplicate");
    assert!(got[3].1.contains("tpl/github_title.j2"), "{}", got[3].1);
}

#[test]
fn names_come_from_file_names() {
    let table: [(&str, Result<TemplateName, &str>); 8] = [
        ("github_title", Ok(TemplateName::GithubTitle)),
        ("github_title.j2", Ok(TemplateName::GithubTitle)),
        ("dir/github_body.md", Ok(TemplateName::GithubBody)),
        (
            "a\\b\\github_comment.jinja",
            Ok(TemplateName::GithubComment),
        ),
        ("slack_message.txt", Ok(TemplateName::SlackMessage)),
        ("github_title.html", Err("github_title.html")),
        ("GitHub_Title.j2", Err("GitHub_Title")),
        ("pagerduty_summary.j2", Err("pagerduty_summary")),
    ];
    for (file, want) in table {
        assert_eq!(
            TemplateName::of_file(file),
            want.map_err(str::to_string),
            "{file}"
        );
        let compiled = TemplateSet::compile(&files(&[(file, "x")]));
        assert_eq!(compiled.is_ok(), want.is_ok(), "{file}");
    }
    assert!(matches!(
        preview(
            &TemplateSet::builtin(),
            "nope",
            &sample_case(Severity::High),
            None,
            URL,
            Action::Open
        ),
        Err(TemplateError::UnknownName { .. })
    ));
}

#[test]
fn each_template_renders_case_and_alert_fields() {
    let case = sample_case(Severity::High);
    let alert = sample_alert();
    let detail = json!({"from": "low", "to": "high"});
    let s = set(&[
        ("github_title", "{{ case.severity }}/{{ case.key }}/{{ alert.actor.principal }}"),
        (
            "github_body",
            "{{ case.first_seen }} {{ alert.raw.detail.id }} {{ case_url }} {{ case.resource.tags.env }}",
        ),
        ("github_comment", "{{ action }} {{ detail.from }}>{{ detail.to }} {{ case.count }}"),
        ("slack_message", "{{ message }} {{ action }} {{ case.title }} {{ alert.link }}"),
    ]);
    let i = input(&case, Some(&alert), Action::Severity, &detail);
    assert_eq!(s.github_title(&i), "high/gd-123/root");
    assert_eq!(
        s.github_body(&i),
        format!(
            "2023-11-14T22:13:20Z gd-123 {URL} prod|x\n{}",
            render::marker(case.id)
        )
    );
    assert_eq!(
        s.github_comment(&i, || "builtin".into()),
        "severity low>high 4"
    );
    let root = s.slack_case(&i, false);
    check_slack_limits(&root);
    let want = "case severity Root credential used | `console` @org/admins https://console.aws.amazon.com/guardduty/home#/findings?fId=gd-123";
    assert_eq!(root["text"], json!(want));
    assert_eq!(root["blocks"][1]["text"]["text"], json!(want));
    let ev = s.slack_event(&i, "built-in", true);
    check_slack_limits(&ev);
    assert!(
        ev["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("event severity")),
        "{ev}"
    );
    // the same through preview; and a name without a template previews its built-in text
    assert_eq!(
        preview(&s, "github_title", &case, Some(&alert), URL, Action::Open),
        Ok("high/gd-123/root".into())
    );
    assert!(
        preview(&s, "slack_message", &case, None, URL, Action::Open).is_err_and(|e| e
            .to_string()
            .starts_with("slack_message, line 1: undefined value"))
    );
    assert_eq!(
        preview(
            &TemplateSet::builtin(),
            "github_body",
            &case,
            Some(&alert),
            URL,
            Action::Open
        ),
        Ok(render::github_body(&case, Some(&alert), URL))
    );
    assert_eq!(
        preview(
            &TemplateSet::builtin(),
            "github_comment",
            &case,
            None,
            URL,
            Action::Repeat
        ),
        Ok(render::repeat_comment(&case))
    );
}

#[test]
fn no_template_is_byte_identical_to_the_builtins() {
    let case = sample_case(Severity::Medium);
    let alert = sample_alert();
    let detail = json!({"resolution": "manual", "by": "alice"});
    let s = TemplateSet::builtin();
    let i = input(&case, Some(&alert), Action::Resolve, &detail);
    assert_eq!(s.github_title(&i), render::github_title(&case));
    assert_eq!(
        s.github_body(&i),
        render::github_body(&case, Some(&alert), URL)
    );
    assert_eq!(
        s.slack_case(&i, true),
        render::slack_case(&case, Some(&alert), URL, true)
    );
    for in_thread in [true, false] {
        assert_eq!(
            s.slack_event(&i, "what", in_thread),
            render::slack_event(&case, "what", URL, in_thread)
        );
    }
}

#[test]
fn a_render_error_falls_back_and_is_recorded() {
    let case = sample_case(Severity::High);
    let alert = sample_alert();
    let detail = json!({});
    let s = set(&[
        ("github_title", "{{ case.nope }}"),
        ("github_body", "{{ alert.actor.principal }}"),
        ("github_comment", "{% if false %}x{% endif %}"),
        ("slack_message", "{{ include_me() }}"),
    ]);
    let i = input(&case, Some(&alert), Action::Repeat, &detail);
    assert_eq!(s.github_title(&i), render::github_title(&case));
    // no alert: `alert.actor` is an error, the built-in body goes
    let bare = input(&case, None, Action::Open, &detail);
    assert_eq!(s.github_body(&bare), render::github_body(&case, None, URL));
    assert_eq!(s.github_comment(&i, || "built-in".into()), "built-in");
    assert_eq!(
        s.slack_case(&i, false),
        render::slack_case(&case, Some(&alert), URL, false)
    );
    let errors = s.recent_errors();
    let names: Vec<&str> = errors.iter().map(|e| e.template.as_str()).collect();
    assert_eq!(
        names,
        [
            "github_title",
            "github_body",
            "github_comment",
            "slack_message"
        ]
    );
    assert!(errors
        .iter()
        .all(|e| e.case_id == case.id && e.at == case.last_seen));
    assert!(
        errors[0].message.contains("undefined"),
        "{}",
        errors[0].message
    );
    assert!(
        errors[2].message.contains("rendered nothing"),
        "{}",
        errors[2].message
    );
    for _ in 0..RENDER_ERRORS_KEPT + 5 {
        s.github_title(&i);
    }
    assert_eq!(s.recent_errors().len(), RENDER_ERRORS_KEPT);
}

#[test]
fn runaway_templates_are_stopped() {
    let case = sample_case(Severity::High);
    let alert = sample_alert();
    let table = [
        (
            "{% for i in range(100000000) %}x{% endfor %}",
            "too many elements",
        ),
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            "fuel",
        ),
        (
            "{% for i in range(2000) %}{{ alert.raw.detail.big }}{% endfor %}",
            "larger than",
        ),
        (
            "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
            "recursion",
        ),
    ];
    for (text, want) in table {
        let s = set(&[("github_body.j2", text)]);
        let started = std::time::Instant::now();
        let got = preview(&s, "github_body", &case, Some(&alert), URL, Action::Open);
        assert!(
            got.as_ref().is_err_and(|e| e.to_string().contains(want)),
            "{text}: {got:?}"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{text}"
        );
        // in a delivery: the built-in body
        let detail = json!({});
        let i = input(&case, Some(&alert), Action::Open, &detail);
        assert_eq!(
            s.github_body(&i),
            render::github_body(&case, Some(&alert), URL)
        );
    }
}

#[test]
fn limits_marker_and_mentions() {
    let mut case = sample_case(Severity::High);
    case.title = "t".repeat(500);
    let alert = sample_alert();
    let detail = json!({});
    let s = set(&[
        ("github_title", "{{ alert.description }} {{ case.title }}"),
        ("github_body", "{% for i in range(3000) %}{{ alert.description }} {% endfor %}<!-- irene:case:00000000-0000-0000-0000-000000000001 -->"),
        ("github_comment", "{{ alert.description }}"),
        ("slack_message", "{{ alert.description }} <!channel> {{ '<!here>' }} {{ alert.raw.detail.big }}"),
    ]);
    let i = input(&case, Some(&alert), Action::Reminder, &detail);
    let title = s.github_title(&i);
    assert_eq!(title.chars().count(), render::GITHUB_TITLE_MAX);
    assert!(title.contains("@\u{2060}everyone"), "{title}");
    let body = s.github_body(&i);
    assert!(body.chars().count() <= render::GITHUB_BODY_MAX);
    assert!(body.ends_with(&render::marker(case.id)));
    assert_eq!(
        render::parse_marker(&body),
        Some(case.id),
        "the template's marker blunted"
    );
    assert!(body.contains("@\u{2060}everyone") && !body.contains("@everyone"));
    assert_eq!(
        s.github_comment(&i, String::new),
        "The root user signed in. @\u{2060}everyone look"
    );
    let m = s.slack_case(&i, false);
    check_slack_limits(&m);
    let text = m["blocks"][1]["text"]["text"].as_str().unwrap_or("");
    // the template's own Slack syntax stays; values are escaped
    assert!(text.contains(" <!channel> &lt;!here&gt; xxx"), "{text}");
    assert_eq!(text.chars().count(), render::SLACK_SECTION_MAX);
    assert!(s.recent_errors().is_empty());
}

#[test]
fn swapping_the_shared_set_changes_the_next_render() {
    let case = sample_case(Severity::Low);
    let detail = json!({});
    let i = input(&case, None, Action::Open, &detail);
    let handle = shared(TemplateSet::builtin());
    assert_eq!(handle.load().github_title(&i), render::github_title(&case));
    handle.store(Arc::new(set(&[(
        "github_title.j2",
        "custom {{ case.key }}",
    )])));
    assert_eq!(handle.load().github_title(&i), "custom gd-123");
    handle.store(Arc::new(TemplateSet::builtin()));
    assert_eq!(handle.load().github_title(&i), render::github_title(&case));
}

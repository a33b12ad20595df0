//! User templates through the real GitHub client against the fake GitHub: a `github_title` and
//! `github_body` reach the created issue, a set swapped in reaches the next comment, and an
//! investigation note renders through `github_comment` with its results.

use super::*;
use irene_fakes::FakeGitHub;
use irene_outputs::templates::{shared, TemplateFile, TemplateSet};

const REPO: &str = "octo/templated";
const TOKEN: &str = "ghp_templates0123456789";

fn set(files: &[(&str, &str)]) -> TemplateSet {
    let files: Vec<TemplateFile> = files
        .iter()
        .map(|(n, t)| TemplateFile::new(*n, *t))
        .collect();
    TemplateSet::compile(&files).unwrap_or_else(|e| panic!("{e:?}"))
}

#[tokio::test]
async fn user_templates_reach_the_issue_and_swap_live() {
    let gh = FakeGitHub::start().await;
    gh.add_repo(REPO);
    gh.add_token(TOKEN);
    let templates = shared(set(&[
        ("github_title.j2", "{{ case.severity|upper }} on {{ case.account }}: {{ case.title }}"),
        (
            "templates/github_body.md",
            "Seen by {{ alert.actor.principal }} from {{ alert.actor.ip }}.\n\n[Case]({{ case_url }})",
        ),
    ]));
    let ctx = Context {
        templates: templates.clone(),
        pacing: None,
        ..ctx()
    };
    let configs: Vec<OutputConfig> = serde_json::from_value(json!([{
        "type": "github", "name": "gh", "repository": REPO, "token": TOKEN,
        "api_url": gh.url(), "pace": "0s", "timeout": "2s",
    }]))
    .unwrap_or_else(|e| panic!("{e}"));
    let out = build(&configs, &ctx)
        .unwrap_or_else(|e| panic!("{e:?}"))
        .remove(0);
    let c = case(7, Severity::High);
    let j = MemJournal::default();
    let o = out
        .deliver(&delivery(1, "gh", Action::Open, &c, json!({}), None), &j)
        .await;
    let ticket = done_ticket(&o);
    let issues = gh.issues(REPO);
    assert_eq!(issues.len(), 1);
    let issue = &issues[0];
    assert_eq!(
        issue.title,
        "HIGH on 111111111111: Root credential used in production"
    );
    assert!(
        issue.body.starts_with(&format!(
            "Seen by root from 198.51.100.7.\n\n[Case]({PUBLIC_URL}/cases/{})",
            c.id
        )),
        "{}",
        issue.body
    );
    assert!(issue
        .body
        .ends_with(&format!("<!-- irene:case:{} -->", c.id)));

    // a new set, swapped in while the output runs, writes the next comment
    templates.store(Arc::new(set(&[(
        "github_comment.txt",
        "{{ action }}: {{ detail.from }} → {{ detail.to }}",
    )])));
    let d = delivery(
        2,
        "gh",
        Action::Severity,
        &c,
        json!({"from": "medium", "to": "high"}),
        ticket,
    );
    let o = out.deliver(&d, &j).await;
    done_ticket(&o);
    let issue = &gh.issues(REPO)[0];
    assert_eq!(
        issue.comments.last().map(|c| c.body.as_str()),
        Some("severity: medium → high")
    );
    assert!(templates.load().recent_errors().is_empty());

    // an investigation note goes through `github_comment` too, its results in `detail`
    templates.store(Arc::new(set(&[(
        "github_comment.txt",
        "{% if action == \"note\" %}{% for i in detail.investigations %}{{ i.investigator }}={{ i.status }} {% endfor %}{% else %}{{ action }}{% endif %}",
    )])));
    let ticket = d.ticket.clone();
    let note = delivery(
        3,
        "gh",
        Action::Note,
        &c,
        json!({"title": "Investigations", "markdown": "…", "kind": "investigated",
               "investigations": [{"investigator": "reputation", "status": "done"},
                                  {"investigator": "geoip", "status": "nothing_found"}]}),
        ticket,
    );
    done_ticket(&out.deliver(&note, &j).await);
    let issue = &gh.issues(REPO)[0];
    let body = issue
        .comments
        .last()
        .map(|c| c.body.clone())
        .unwrap_or_default();
    assert!(
        body.starts_with("reputation=done geoip=nothing_found")
            && body.ends_with("<!-- irene:delivery:3 -->"),
        "{body}"
    );
    // the same note delivered again (a crash after the post, before its record): not twice
    let comments = issue.comments.len();
    done_ticket(&out.deliver(&note, &j).await);
    assert_eq!(gh.issues(REPO)[0].comments.len(), comments);
}

//! The PagerDuty output against the fake Events API: trigger, re-trigger, resolve, not
//! applicable actions, a bad event (dead) and throttling (retry), never echoing the routing key.

use super::*;
use irene_fakes::{FakePagerDuty, Fault, FaultKind};

const KEY: &str = "R0123456789abcdef0123456789abcde";

fn pd_output(pd: &FakePagerDuty, key: &str) -> Arc<dyn Output> {
    output(json!({
        "type": "pagerduty",
        "name": "pd",
        "routing_key": key,
        "events_url": format!("{}/v2/enqueue", pd.url()),
    }))
}

#[tokio::test]
async fn trigger_retrigger_and_resolve_one_alert() {
    let pd = FakePagerDuty::start().await;
    let out = pd_output(&pd, KEY);
    let mut c = case(101, Severity::Urgent);
    let j = MemJournal::default();
    let ticket = done_ticket(
        &out.deliver(&delivery(1, "pd", Action::Open, &c, json!({}), None), &j)
            .await,
    )
    .unwrap_or_else(|| panic!("no ticket"));
    let key = format!("irene:{}", c.id);
    assert_eq!(ticket.reference, key);
    let alerts = pd.alerts();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].dedup_key, key);
    assert_eq!(alerts[0].status, "triggered");
    assert_eq!(alerts[0].severity, "critical");
    assert_eq!(
        alerts[0].summary,
        "[URGENT] Root credential used in production"
    );
    let event = &pd.events()[0];
    assert_eq!(event["payload"]["custom_details"]["case_id"], json!(c.id));
    assert_eq!(
        event["client_url"],
        json!(format!("{PUBLIC_URL}/cases/{}", c.id))
    );

    // a severity change re-triggers the same alert; repeats and reminders send nothing
    c.severity = Severity::High;
    done_ticket(
        &out.deliver(
            &delivery(
                2,
                "pd",
                Action::Severity,
                &c,
                json!({"from": "urgent", "to": "high"}),
                Some(ticket.clone()),
            ),
            &j,
        )
        .await,
    );
    for action in [Action::Repeat, Action::Reminder] {
        assert_eq!(
            done_ticket(
                &out.deliver(
                    &delivery(3, "pd", action, &c, json!({}), Some(ticket.clone())),
                    &j
                )
                .await
            ),
            None
        );
    }
    let alerts = pd.alerts();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].triggers, 2);
    assert_eq!(pd.events()[1]["payload"]["severity"], "error");
    assert_eq!(pd.events().len(), 2);

    done_ticket(
        &out.deliver(
            &delivery(
                4,
                "pd",
                Action::Resolve,
                &c,
                json!({"resolution": "source"}),
                Some(ticket),
            ),
            &j,
        )
        .await,
    );
    let alerts = pd.alerts();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].status, "resolved");
    for r in pd.requests() {
        assert_eq!(r.header("user-agent"), Some("irene-tests/0.1"));
    }
}

#[tokio::test]
async fn an_invalid_event_is_dead_without_the_key() {
    let pd = FakePagerDuty::start().await;
    let bad_key = "not-a-valid-routing-key";
    let out = pd_output(&pd, bad_key);
    let c = case(102, Severity::Urgent);
    let err = assert_dead(
        &out.deliver(
            &delivery(1, "pd", Action::Open, &c, json!({}), None),
            &MemJournal::default(),
        )
        .await,
    );
    assert!(err.starts_with("HTTP 400"), "{err}");
    assert!(!err.contains(bad_key), "{err}");
}

#[tokio::test]
async fn throttling_and_server_errors_retry() {
    let pd = FakePagerDuty::start().await;
    let out = pd_output(&pd, KEY);
    let c = case(103, Severity::Urgent);
    let j = MemJournal::default();
    pd.fault(Fault::new(FaultKind::RateLimited {
        retry_after: Some(20),
    }));
    let at = assert_retry(
        &out.deliver(&delivery(1, "pd", Action::Open, &c, json!({}), None), &j)
            .await,
    );
    assert!(near(at, 20, 3), "{at:?}");
    pd.fault(Fault::new(FaultKind::Status(503)));
    assert_eq!(
        assert_retry(
            &out.deliver(&delivery(1, "pd", Action::Open, &c, json!({}), None), &j)
                .await
        ),
        None
    );
    pd.fault(Fault::new(FaultKind::Reset));
    let o = out
        .deliver(&delivery(1, "pd", Action::Open, &c, json!({}), None), &j)
        .await;
    assert_eq!(assert_retry(&o), None);
    if let Outcome::Retry { error, .. } = &o {
        assert!(!error.contains(&pd.url()), "{error}");
    }
    assert!(pd.alerts().is_empty());
    done_ticket(
        &out.deliver(&delivery(1, "pd", Action::Open, &c, json!({}), None), &j)
            .await,
    );
    assert_eq!(pd.alerts().len(), 1);
}

#[tokio::test]
async fn a_throttle_one_instance_meets_holds_the_others_back() {
    let pd = FakePagerDuty::start().await;
    let shared: Arc<dyn irene_outputs::pacing::Pacing> = Arc::new(MemPacing::default());
    let ctx = Context {
        pacing: Some(shared),
        ..ctx()
    };
    let config = json!({
        "type": "pagerduty",
        "name": "pd",
        "routing_key": KEY,
        "events_url": format!("{}/v2/enqueue", pd.url()),
    });
    // two instances' clients of the same output, sharing the limits
    let (a, b) = (output_in(config.clone(), &ctx), output_in(config, &ctx));
    let j = MemJournal::default();
    pd.fault(Fault::new(FaultKind::RateLimited {
        retry_after: Some(20),
    }));
    let c1 = case(104, Severity::Urgent);
    let at = assert_retry(
        &a.deliver(&delivery(1, "pd", Action::Open, &c1, json!({}), None), &j)
            .await,
    );
    assert!(near(at, 20, 3), "{at:?}");
    let sent = pd.requests().len();
    // The other instance does not ask until the service's time is up: nothing is sent.
    let c2 = case(105, Severity::Urgent);
    let o = b
        .deliver(&delivery(2, "pd", Action::Open, &c2, json!({}), None), &j)
        .await;
    assert!(near(assert_retry(&o), 20, 3), "{o:?}");
    assert_eq!(pd.requests().len(), sent, "held back without a request");
    assert!(pd.alerts().is_empty());
    // Without shared limits, the same second delivery is sent (the fault was one-shot).
    let alone = pd_output(&pd, KEY);
    done_ticket(
        &alone
            .deliver(&delivery(3, "pd", Action::Open, &c2, json!({}), None), &j)
            .await,
    );
    assert_eq!(pd.alerts().len(), 1);
}

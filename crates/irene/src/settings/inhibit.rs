//! Inhibitions (`[[inhibit]]` in `routes.toml`, Alertmanager's idea by case): while an open case
//! matching `source_when` shares the `equal` fields and is more severe, the notifications of a
//! case matching `target_when` are held. Pure: the store finds the candidates, this decides.

use super::routes::InhibitDoc;
use irene_core::{Case, InhibitQuery};
use irene_rules::cel_env::{self, Program};
use serde_json::Value;

/// The case fields an inhibition may compare.
pub const FIELDS: &[&str] = &[
    "account",
    "region",
    "source",
    "type",
    "key",
    "rule",
    "resource.id",
    "resource.kind",
    "resource.name",
];

pub struct Inhibition {
    name: String,
    source: Program,
    target: Program,
    equal: Vec<String>,
}

#[derive(Default)]
pub struct Inhibitions(Vec<Inhibition>);

/// Compiles every `[[inhibit]]`; every error at once.
pub fn compile(docs: &[InhibitDoc]) -> Result<Inhibitions, Vec<String>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        let name = d
            .name
            .clone()
            .unwrap_or_else(|| format!("inhibit {}", i + 1));
        let mut ok = true;
        for f in &d.equal {
            if !FIELDS.contains(&f.as_str()) {
                errors.push(format!(
                    "routes.toml: {name}: equal field {f:?} is not one of {}",
                    FIELDS.join(", ")
                ));
                ok = false;
            }
        }
        let source = cel_env::compile(&d.source_when)
            .map_err(|e| errors.push(format!("routes.toml: {name}: source_when: {e}")))
            .ok();
        let target = cel_env::compile(&d.target_when)
            .map_err(|e| errors.push(format!("routes.toml: {name}: target_when: {e}")))
            .ok();
        if let (Some(source), Some(target), true) = (source, target, ok) {
            out.push(Inhibition {
                name,
                source,
                target,
                equal: d.equal.clone(),
            });
        }
    }
    if errors.is_empty() {
        Ok(Inhibitions(out))
    } else {
        Err(errors)
    }
}

fn holds(p: &Program, case: &Value) -> bool {
    cel_env::eval_bool(p, &[("case", case.clone())]).unwrap_or(false)
}

/// A case field as text (absent or empty: none, so it can match nothing).
fn field(case: &Value, path: &str) -> Option<String> {
    let pointer = format!("/{}", path.replace('.', "/"));
    match case.pointer(&pointer)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Inhibitions {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// For each inhibition whose target this case is, what an inhibiting case must share.
    pub fn queries(&self, case: &Value) -> Vec<InhibitQuery> {
        self.0
            .iter()
            .filter(|i| holds(&i.target, case))
            .filter_map(|i| {
                let equal: Option<Vec<(String, String)>> = i
                    .equal
                    .iter()
                    .map(|f| field(case, f).map(|v| (f.clone(), v)))
                    .collect();
                equal.map(|equal| InhibitQuery { equal })
            })
            .collect()
    }

    /// The first open case among `found` that inhibits `case`, and the inhibition's name.
    pub fn inhibitor<'a>(
        &self,
        case: &Case,
        case_json: &Value,
        found: &'a [Case],
    ) -> Option<(&'a Case, &str)> {
        for i in self.0.iter().filter(|i| holds(&i.target, case_json)) {
            for other in found {
                if other.id == case.id || other.severity <= case.severity {
                    continue;
                }
                let other_json = irene_outputs::case_json(other);
                let same = i
                    .equal
                    .iter()
                    .all(|f| field(case_json, f).is_some_and(|v| field(&other_json, f) == Some(v)));
                if same && holds(&i.source, &other_json) {
                    return Some((other, &i.name));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use irene_core::{correlate, Alert, AlertState, Judged, Severity};
    use serde_json::json;

    fn case(kind: &str, sev: Severity, account: &str, resource: &str) -> Case {
        let mut a = Alert::new(
            "aws.guardduty",
            kind,
            format!("{kind}/{resource}"),
            kind,
            sev,
            json!({}),
        );
        a.account = Some(account.into());
        a.resource.id = Some(resource.into());
        a.state = AlertState::Active;
        correlate(
            None,
            &Judged::unjudged(a),
            uuid::Uuid::now_v7(),
            uuid::Uuid::now_v7(),
            chrono::Utc::now(),
        )
        .expect("opens")
        .case
    }

    fn rules() -> Inhibitions {
        compile(&[InhibitDoc {
            name: Some("compromise-over-recon".into()),
            source_when: "case.type.startsWith(\"Backdoor:\")".into(),
            target_when: "case.type.startsWith(\"Recon:\")".into(),
            equal: vec!["account".into(), "resource.id".into()],
        }])
        .expect("compiles")
    }

    #[test]
    fn a_higher_case_on_the_same_resource_inhibits_a_lower_one() {
        let inh = rules();
        let recon = case(
            "Recon:EC2/PortProbeUnprotectedPort",
            Severity::Low,
            "1",
            "i-1",
        );
        let rj = irene_outputs::case_json(&recon);
        assert_eq!(
            inh.queries(&rj),
            vec![InhibitQuery {
                equal: vec![
                    ("account".into(), "1".into()),
                    ("resource.id".into(), "i-1".into())
                ]
            }]
        );
        let backdoor = case("Backdoor:EC2/C&CActivity.B", Severity::High, "1", "i-1");
        let other_resource = case("Backdoor:EC2/C&CActivity.B", Severity::High, "1", "i-2");
        let lower = case("Backdoor:EC2/C&CActivity.B", Severity::Info, "1", "i-1");
        let table: Vec<(Vec<Case>, bool)> = vec![
            (vec![backdoor.clone()], true),
            (vec![other_resource], false),
            (vec![lower], false),
            (vec![recon.clone()], false),
            (vec![], false),
        ];
        for (found, inhibited) in table {
            assert_eq!(
                inh.inhibitor(&recon, &rj, &found).is_some(),
                inhibited,
                "{found:?}"
            );
        }
        // the source itself is not a target
        let bj = irene_outputs::case_json(&backdoor);
        assert!(inh.queries(&bj).is_empty());
    }

    #[test]
    fn bad_inhibitions_are_refused_with_every_reason() {
        let errors = match compile(&[InhibitDoc {
            name: None,
            source_when: "case.type ==".into(),
            target_when: "true".into(),
            equal: vec!["resource.tags".into()],
        }]) {
            Err(e) => e,
            Ok(_) => panic!("compiled"),
        };
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("equal field"), "{errors:?}");
        assert!(errors[1].contains("source_when"), "{errors:?}");
    }
}

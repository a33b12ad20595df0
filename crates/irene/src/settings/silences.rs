//! Silences (`silences.yaml`): time-bounded matchers (CEL over `alert` and `case`, or simple
//! `field=value` pairs compiled to CEL) that hold back notifications. Pure: no store, no clock.
//!
//! A silenced alert still updates its case and timeline; the planner holds its deliveries, and
//! when the silence ends while the case is open, they go out once (see `store` `held`).

use chrono::{DateTime, Duration, Utc};
use irene_rules::cel_env::{self, Program};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// One silence as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceDoc {
    pub id: u64,
    /// A CEL condition over `alert` and `case`.
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// `field=value` or `field!=value` pairs, all of which must hold (`type=…` means
    /// `alert.type`; `case.account=…` a case field).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matchers: Vec<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub author: String,
    #[serde(default)]
    pub comment: String,
    /// Set when it was created knowing that it matches every alert.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
}

/// Where a silence is in its life at some time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

impl SilenceState {
    pub fn parse(s: &str) -> Option<SilenceState> {
        match s {
            "pending" => Some(SilenceState::Pending),
            "active" => Some(SilenceState::Active),
            "expired" => Some(SilenceState::Expired),
            _ => None,
        }
    }
}

impl SilenceDoc {
    pub fn state(&self, now: DateTime<Utc>) -> SilenceState {
        if now < self.starts_at {
            SilenceState::Pending
        } else if now < self.ends_at {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }

    /// The CEL it holds by: its `match` and its matchers, joined by `&&`.
    pub fn expression(&self) -> Result<String, String> {
        let mut parts: Vec<String> = Vec::new();
        if let Some(c) = self.condition.as_deref().filter(|c| !c.trim().is_empty()) {
            parts.push(format!("({c})"));
        }
        for m in &self.matchers {
            parts.push(matcher_to_cel(m)?);
        }
        if parts.is_empty() {
            return Err("a silence needs `match` (CEL) or `matchers`".into());
        }
        Ok(parts.join(" && "))
    }
}

/// The end of a silence that starts at `start` and lasts `duration` (`2h`, `1d`, `90m`).
pub fn ends(start: DateTime<Utc>, duration: &str) -> Result<DateTime<Utc>, String> {
    let d = humantime::parse_duration(duration.trim())
        .map_err(|e| format!("duration {duration:?}: {e} (e.g. 2h, 1d)"))?;
    let d = Duration::from_std(d).map_err(|e| format!("duration {duration:?}: {e}"))?;
    start
        .checked_add_signed(d)
        .ok_or_else(|| format!("duration {duration:?} is too long"))
}

/// `field=value` → `alert.field == "value"`; `field!=value` → `!=`. Fields are dotted names
/// of letters, digits and `_`; `case.` and `alert.` prefixes choose the object.
pub fn matcher_to_cel(m: &str) -> Result<String, String> {
    let (field, op, value) = if let Some((f, v)) = m.split_once("!=") {
        (f, "!=", v)
    } else if let Some((f, v)) = m.split_once('=') {
        (f, "==", v)
    } else {
        return Err(format!(
            "matcher {m:?}: expected field=value or field!=value"
        ));
    };
    let field = field.trim();
    let ok = !field.is_empty()
        && field.split('.').all(|p| {
            !p.is_empty()
                && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !p.starts_with(|c: char| c.is_ascii_digit())
        });
    if !ok {
        return Err(format!("matcher {m:?}: {field:?} is not a field name"));
    }
    let path = if field.starts_with("alert.") || field.starts_with("case.") {
        field.to_string()
    } else {
        format!("alert.{field}")
    };
    // a JSON string literal is a valid CEL string literal
    let literal = serde_json::to_string(value.trim()).map_err(|e| e.to_string())?;
    Ok(format!("{path} {op} {literal}"))
}

/// The compiled silences, in document order.
#[derive(Default)]
pub struct Silences {
    list: Vec<(SilenceDoc, Program)>,
}

impl std::fmt::Debug for Silences {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.list.iter().map(|(d, _)| d.id))
            .finish()
    }
}

/// Alerts so unlike each other that a matcher holding for both holds for anything.
fn probes() -> [(Value, Value); 2] {
    let empty_alert = json!({"source": "", "type": "", "title": "", "description": "",
        "severity": "info", "key": "", "labels": [], "indicators": [], "resource": {},
        "actor": {}, "raw": {}});
    let empty_case = json!({"source": "", "type": "", "title": "", "severity": "info",
        "status": "open", "key": "", "labels": []});
    let odd_alert = json!({"source": "zz.probe", "type": "Probe:Zz/Nothing.9", "title": "9",
        "description": "z", "severity": "urgent", "key": "zz/9", "account": "000000000009",
        "region": "zz-9", "labels": ["zz"], "indicators": [],
        "resource": {"id": "zz-9", "kind": "Zz", "name": "zz", "tags": {}},
        "actor": {"ip": "192.0.2.99", "principal": "zz"}, "raw": {"zz": 9}});
    let odd_case = json!({"source": "zz.probe", "type": "Probe:Zz/Nothing.9", "title": "9",
        "severity": "urgent", "status": "open", "key": "zz/9", "account": "000000000009",
        "labels": ["zz"]});
    [(empty_alert, empty_case), (odd_alert, odd_case)]
}

/// Checks one silence: dates, length, its condition compiles, and (unless `force`) that it does
/// not match every alert.
pub fn check(s: &SilenceDoc, max: Duration) -> Result<Program, String> {
    if s.ends_at <= s.starts_at {
        return Err(format!(
            "silence #{}: ends_at must be after starts_at",
            s.id
        ));
    }
    if s.ends_at - s.starts_at > max {
        return Err(format!(
            "silence #{}: longer than the {}-hour maximum ([silences] max_duration)",
            s.id,
            max.num_hours()
        ));
    }
    let expr = s
        .expression()
        .map_err(|e| format!("silence #{}: {e}", s.id))?;
    let program = cel_env::compile(&expr).map_err(|e| format!("silence #{}: {e}", s.id))?;
    if !s.force {
        let all = probes().iter().all(|(a, c)| {
            cel_env::eval_bool(&program, &[("alert", a.clone()), ("case", c.clone())])
                .unwrap_or(false)
        });
        if all {
            return Err(format!(
                "silence #{}: it would match every alert; make it narrower, or force it",
                s.id
            ));
        }
    }
    Ok(program)
}

pub fn parse(text: &str) -> Result<Vec<SilenceDoc>, String> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    serde_yaml::from_str::<Option<Vec<SilenceDoc>>>(text)
        .map(Option::unwrap_or_default)
        .map_err(|e| format!("silences.yaml: {e}"))
}

pub fn to_text(list: &[SilenceDoc]) -> Result<String, String> {
    serde_yaml::to_string(list).map_err(|e| format!("silences.yaml: {e}"))
}

impl Silences {
    /// Compiles every silence; every error at once.
    pub fn compile(list: Vec<SilenceDoc>, max: Duration) -> Result<Silences, Vec<String>> {
        let mut errors = Vec::new();
        let mut out = Vec::new();
        for (i, s) in list.iter().enumerate() {
            if list[..i].iter().any(|p| p.id == s.id) {
                errors.push(format!("silence #{}: the id is used twice", s.id));
                continue;
            }
            match check(s, max) {
                Ok(p) => out.push((s.clone(), p)),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(Silences { list: out })
        } else {
            Err(errors)
        }
    }

    pub fn all(&self) -> impl Iterator<Item = &SilenceDoc> {
        self.list.iter().map(|(d, _)| d)
    }

    /// The first active silence whose condition holds for this alert and case.
    pub fn matching(&self, alert: &Value, case: &Value, now: DateTime<Utc>) -> Option<&SilenceDoc> {
        self.list
            .iter()
            .filter(|(d, _)| d.state(now) == SilenceState::Active)
            .find(|(d, p)| {
                match cel_env::eval_bool(p, &[("alert", alert.clone()), ("case", case.clone())]) {
                    Ok(b) => b,
                    Err(error) => {
                        tracing::debug!(silence = d.id, %error, "a silence did not evaluate; not matched");
                        false
                    }
                }
            })
            .map(|(d, _)| d)
    }

    /// Whether silence `id` is active now.
    pub fn is_active(&self, id: u64, now: DateTime<Utc>) -> bool {
        self.all()
            .any(|d| d.id == id && d.state(now) == SilenceState::Active)
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_ends_a_silence_or_says_what_is_wrong() {
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).expect("time");
        assert_eq!(ends(t0, " 2h "), Ok(t0 + Duration::hours(2)));
        assert_eq!(ends(t0, "1d 30m"), Ok(t0 + Duration::minutes(24 * 60 + 30)));
        for bad in ["", "soon", "-1h", "2 fortnights"] {
            let e = ends(t0, bad).expect_err(bad);
            assert!(e.starts_with("duration"), "{e}");
        }
    }

    fn at(h: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + h * 3600, 0).expect("time")
    }

    fn silence(id: u64, condition: Option<&str>, matchers: &[&str]) -> SilenceDoc {
        SilenceDoc {
            id,
            condition: condition.map(str::to_string),
            matchers: matchers.iter().map(|s| s.to_string()).collect(),
            starts_at: at(0),
            ends_at: at(2),
            author: "alice".into(),
            comment: "maintenance".into(),
            force: false,
        }
    }

    #[test]
    fn matchers_compile_to_cel() {
        let table = [
            (
                "type=Recon:EC2/PortProbe",
                Ok("alert.type == \"Recon:EC2/PortProbe\""),
            ),
            ("account!=1111", Ok("alert.account != \"1111\"")),
            ("case.account = 42 ", Ok("case.account == \"42\"")),
            (
                "resource.tags.env=prod",
                Ok("alert.resource.tags.env == \"prod\""),
            ),
            ("a\"b=1", Err(())),
            ("novalue", Err(())),
            ("=x", Err(())),
            ("1a=x", Err(())),
        ];
        for (m, want) in table {
            match (matcher_to_cel(m), want) {
                (Ok(got), Ok(w)) => assert_eq!(got, w, "{m}"),
                (Err(_), Err(())) => {}
                (got, want) => panic!("{m}: {got:?} vs {want:?}"),
            }
        }
        // quotes in values are escaped, not injected
        let cel = matcher_to_cel("title=a\" || true || \"").expect("cel");
        assert!(cel_env::compile(&cel).is_ok(), "{cel}");
        assert_eq!(cel, "alert.title == \"a\\\" || true || \\\"\"");
    }

    #[test]
    fn states_follow_the_clock() {
        let s = silence(1, Some("alert.source == \"x\""), &[]);
        assert_eq!(s.state(at(-1)), SilenceState::Pending);
        assert_eq!(s.state(at(0)), SilenceState::Active);
        assert_eq!(s.state(at(1)), SilenceState::Active);
        assert_eq!(s.state(at(2)), SilenceState::Expired);
    }

    #[test]
    fn checks_refuse_what_they_must() {
        let max = Duration::days(30);
        let table: Vec<(SilenceDoc, Option<&str>)> = vec![
            (
                silence(1, Some("alert.source == \"aws.guardduty\""), &[]),
                None,
            ),
            (
                silence(2, None, &["type=Recon:EC2/PortProbe", "account=1"]),
                None,
            ),
            (silence(3, None, &[]), Some("needs `match`")),
            (silence(4, Some("true"), &[]), Some("every alert")),
            (
                silence(5, Some("alert.type != \"nothing-is-this\""), &[]),
                Some("every alert"),
            ),
            (silence(6, Some("alert.source =="), &[]), Some("silence #6")),
            (
                SilenceDoc {
                    ends_at: at(0),
                    ..silence(7, Some("alert.source == \"x\""), &[])
                },
                Some("after starts_at"),
            ),
            (
                SilenceDoc {
                    ends_at: at(24 * 31),
                    ..silence(8, Some("alert.source == \"x\""), &[])
                },
                Some("maximum"),
            ),
            (
                SilenceDoc {
                    force: true,
                    ..silence(9, Some("true"), &[])
                },
                None,
            ),
        ];
        for (s, want) in table {
            match (check(&s, max), want) {
                (Ok(_), None) => {}
                (Err(e), Some(w)) => assert!(e.contains(w), "#{}: {e}", s.id),
                (got, want) => panic!("#{}: {:?} vs {want:?}", s.id, got.err()),
            }
        }
    }

    #[test]
    fn the_first_active_matching_silence_is_found() {
        let set = Silences::compile(
            vec![
                silence(1, Some("alert.source == \"aws.guardduty\""), &[]),
                silence(2, None, &["case.account=111"]),
            ],
            Duration::days(1),
        )
        .expect("compiles");
        let alert = json!({"source": "aws.guardduty"});
        let case = json!({"account": "111"});
        assert_eq!(set.matching(&alert, &case, at(1)).map(|s| s.id), Some(1));
        assert_eq!(
            set.matching(&json!({"source": "gcp.scc"}), &case, at(1))
                .map(|s| s.id),
            Some(2)
        );
        assert!(set.matching(&alert, &case, at(3)).is_none(), "expired");
        assert!(set
            .matching(&json!({"source": "x"}), &json!({}), at(1))
            .is_none());
        // ids are unique
        let twice = Silences::compile(
            vec![
                silence(1, Some("alert.source == \"a\""), &[]),
                silence(1, Some("alert.source == \"b\""), &[]),
            ],
            Duration::days(1),
        );
        assert!(twice.is_err());
    }

    #[test]
    fn the_document_round_trips() {
        let list = vec![silence(1, Some("alert.source == \"x\""), &["type=y"])];
        let text = to_text(&list).expect("text");
        assert_eq!(parse(&text).expect("parse"), list);
        assert!(parse("").expect("empty").is_empty());
        assert!(parse("- id: x\n").is_err());
    }
}

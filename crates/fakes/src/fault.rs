//! Fault injection shared by every fake: the rule types tests build and the engine that picks a fault.
//! It only decides *which* fault applies to a request; it never builds responses or touches sockets.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;

/// What a matching request gets instead of (or on top of) the normal answer.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// Answer this status with the service's own error body shape; do NOT perform the action.
    Status(u16),
    /// Perform the action, then wait this long before answering (a slow service).
    Delay(Duration),
    /// Do not perform; never answer (sleeps about ten minutes), so the client's timeout fires.
    Hang,
    /// Do not perform; close the TCP connection without any response.
    Reset,
    /// GitHub primary rate limit: `status` (403 or 429), `x-ratelimit-remaining: 0`, reset in the
    /// future, message "API rate limit exceeded for user ID 1.". Other fakes treat it as 429.
    PrimaryLimit { status: u16, reset_in: Duration },
    /// GitHub secondary rate limit: `status` (403 or 429), `retry-after` when `Some`, no
    /// `x-ratelimit-*` headers. Other fakes treat it as 429.
    SecondaryLimit {
        status: u16,
        retry_after: Option<u64>,
    },
    /// PagerDuty / Slack / receiver 429 (with `Retry-After` when `Some`) and the service's 429 body.
    /// The GitHub fake treats it as a 429 secondary limit.
    RateLimited { retry_after: Option<u64> },
}

/// One queued fault rule. Rules are tried in the order they were added; the first match wins and
/// is used up once per matching request (`times == 0` means forever).
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// HTTP method to match (case-insensitive); `None` matches any.
    pub method: Option<String>,
    /// Substring the request path must contain; `None` matches any.
    pub path_contains: Option<String>,
    /// How many matching requests get this fault; 0 = every one, forever.
    pub times: u32,
    pub kind: FaultKind,
}

impl Fault {
    /// A rule matching every request of the service, once.
    pub fn new(kind: FaultKind) -> Self {
        Fault {
            method: None,
            path_contains: None,
            times: 1,
            kind,
        }
    }

    /// Restrict to a method (`""` or `"*"` = any) and a path substring (`""` = any).
    pub fn on(mut self, method: &str, path_contains: &str) -> Self {
        self.method = match method {
            "" | "*" => None,
            m => Some(m.to_string()),
        };
        self.path_contains = match path_contains {
            "" => None,
            p => Some(p.to_string()),
        };
        self
    }

    /// How many matching requests get the fault (0 = forever).
    pub fn times(mut self, times: u32) -> Self {
        self.times = times;
        self
    }

    /// Shorthand for `.times(0)`.
    pub fn forever(self) -> Self {
        self.times(0)
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        matches_filter(&self.method, &self.path_contains, method, path)
    }
}

/// Random faults on a fraction of matching requests. The same seed and the same sequence of
/// matching requests give the same faults.
#[derive(Debug, Clone, PartialEq)]
pub struct Chaos {
    /// Chance, 0.0..=1.0, that a matching request gets a fault.
    pub probability: f64,
    /// Faults to pick from, uniformly. Empty means no chaos.
    pub kinds: Vec<FaultKind>,
    pub seed: u64,
    pub method: Option<String>,
    pub path_contains: Option<String>,
}

impl Chaos {
    /// Chaos over every request of the service.
    pub fn new(probability: f64, kinds: Vec<FaultKind>, seed: u64) -> Self {
        Chaos {
            probability,
            kinds,
            seed,
            method: None,
            path_contains: None,
        }
    }

    /// Restrict to a method (`""`/`"*"` = any) and a path substring (`""` = any).
    pub fn on(mut self, method: &str, path_contains: &str) -> Self {
        let f = Fault::new(FaultKind::Hang).on(method, path_contains);
        self.method = f.method;
        self.path_contains = f.path_contains;
        self
    }
}

fn matches_filter(
    want_method: &Option<String>,
    want_path: &Option<String>,
    method: &str,
    path: &str,
) -> bool {
    want_method
        .as_deref()
        .is_none_or(|m| m.eq_ignore_ascii_case(method))
        && want_path.as_deref().is_none_or(|p| path.contains(p))
}

/// The per-server fault state: queued rules first, then chaos.
#[derive(Default)]
pub(crate) struct FaultEngine {
    rules: Vec<Fault>,
    chaos: Option<(Chaos, StdRng)>,
}

impl FaultEngine {
    pub(crate) fn push(&mut self, fault: Fault) {
        self.rules.push(fault);
    }

    pub(crate) fn set_chaos(&mut self, chaos: Chaos) {
        let rng = StdRng::seed_from_u64(chaos.seed);
        self.chaos = Some((chaos, rng));
    }

    pub(crate) fn clear(&mut self) {
        self.rules.clear();
        self.chaos = None;
    }

    /// The fault for this request, if any, using up one count of a matching rule.
    pub(crate) fn pick(&mut self, method: &str, path: &str) -> Option<FaultKind> {
        if let Some(i) = self.rules.iter().position(|f| f.matches(method, path)) {
            let kind = self.rules[i].kind.clone();
            match self.rules[i].times {
                0 => {}
                1 => {
                    self.rules.remove(i);
                }
                _ => self.rules[i].times -= 1,
            }
            return Some(kind);
        }
        let (chaos, rng) = self.chaos.as_mut()?;
        if chaos.kinds.is_empty()
            || !matches_filter(&chaos.method, &chaos.path_contains, method, path)
        {
            return None;
        }
        let roll: f64 = rng.random();
        let pick = rng.random_range(0..chaos.kinds.len());
        (roll < chaos.probability).then(|| chaos.kinds[pick].clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_used_up_in_order() {
        let mut e = FaultEngine::default();
        e.push(Fault::new(FaultKind::Status(500)).on("POST", "/a").times(2));
        e.push(Fault::new(FaultKind::Status(503)).forever());
        assert_eq!(e.pick("GET", "/a"), Some(FaultKind::Status(503)));
        assert_eq!(e.pick("post", "/x/a"), Some(FaultKind::Status(500)));
        assert_eq!(e.pick("POST", "/a"), Some(FaultKind::Status(500)));
        assert_eq!(e.pick("POST", "/a"), Some(FaultKind::Status(503)));
        e.clear();
        assert_eq!(e.pick("POST", "/a"), None);
    }

    #[test]
    fn chaos_is_deterministic_and_respects_probability() {
        let run = |seed| {
            let mut e = FaultEngine::default();
            e.set_chaos(Chaos::new(
                0.3,
                vec![FaultKind::Status(500), FaultKind::Status(502)],
                seed,
            ));
            (0..200).map(|_| e.pick("GET", "/")).collect::<Vec<_>>()
        };
        let a = run(7);
        assert_eq!(a, run(7));
        assert_ne!(a, run(8));
        let hits = a.iter().filter(|k| k.is_some()).count();
        assert!((30..90).contains(&hits), "{hits} faults of 200 at p=0.3");
    }
}

//! What a case change asks of the outputs: the delivery actions, the planned and claimed
//! deliveries, the ticket an output keeps per case, and the outcome of one attempt.
//! Pure data and the `Planner` trait only; sending is `irene-outputs`, storing is `irene-store`.

use crate::{Alert, Case, Change};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What one delivery does on its output. Deliveries of one case to one output run in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The case opened (or first became eligible for this output): create the ticket.
    Open,
    /// The case was seen again. Pending repeats of one case fold into one delivery.
    Repeat,
    /// The severity changed (`detail.from`, `detail.to`).
    Severity,
    /// The case was resolved (`detail.resolution`, and `detail.by`/`detail.reason` by hand).
    Resolve,
    /// A resolved case came back.
    Reopen,
    /// A batch job's nudge on an open urgent/high case left untouched.
    Reminder,
    /// A batch job's summary of open cases (no case; `detail` carries the counts).
    Digest,
    /// A plain note on a case (an investigation's finding): `detail` is
    /// `{"title", "markdown", "ref"}`, `ref` an opaque id of what wrote it (an investigation run).
    Note,
}

impl Action {
    pub const ALL: [Action; 8] = [
        Action::Open,
        Action::Repeat,
        Action::Severity,
        Action::Resolve,
        Action::Reopen,
        Action::Reminder,
        Action::Digest,
        Action::Note,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Open => "open",
            Action::Repeat => "repeat",
            Action::Severity => "severity",
            Action::Resolve => "resolve",
            Action::Reopen => "reopen",
            Action::Reminder => "reminder",
            Action::Digest => "digest",
            Action::Note => "note",
        }
    }
}

impl std::str::FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| format!("unknown delivery action {s:?}"))
    }
}

/// A delivery a case change implies, before it is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Planned {
    /// The output's configured name.
    pub output: String,
    pub action: Action,
    /// What the action needs beyond the case: `{from,to}`, `{resolution,by,reason}`, counts.
    pub detail: serde_json::Value,
}

/// An investigation a case change calls for, before it is stored: which investigator, and
/// what started it (`open`, `reopen`). The jobs of one trigger form one batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedInvestigation {
    pub investigator: String,
    pub trigger: String,
}

/// Decides which deliveries (and investigations) a case change implies. Called inside the
/// transaction that writes the change, so it must be pure and quick (no I/O).
pub trait Planner: Send + Sync {
    fn plan(&self, change: &Change) -> Vec<Planned>;
    /// The investigations `change` calls for (default: none); `alert` is the case's latest
    /// alert when the store has it.
    fn investigations(
        &self,
        _change: &Change,
        _alert: Option<&crate::Alert>,
    ) -> Vec<PlannedInvestigation> {
        Vec::new()
    }
    /// Whether the deliveries of `change` are held back now (a silence matches its alert):
    /// the case still changes and its timeline says so, but what it would send waits until
    /// the hold ends. `alert`: the case's latest alert when the store has it. Default: never.
    /// `inhibitors`: open cases that share what an inhibition compares (found for the
    /// queries of [`Planner::inhibit_queries`]).
    fn hold(
        &self,
        _change: &Change,
        _alert: Option<&crate::Alert>,
        _inhibitors: &[Case],
    ) -> Option<Hold> {
        None
    }
    /// The open cases that could inhibit `change`'s case: per inhibition whose target it is,
    /// the case fields (JSON paths such as `account`, `resource.id`) and the values an
    /// inhibiting case must share. Default: none.
    fn inhibit_queries(&self, _change: &Change) -> Vec<InhibitQuery> {
        Vec::new()
    }
    /// Whether the hold named `by` (a [`Hold::by`]) still holds; asked when releasing.
    fn holding(&self, _by: &str) -> bool {
        false
    }
    /// The deliveries of a note on `case` (`Action::Note`, `detail` = `{title, markdown, ref}`,
    /// plus `kind: "investigated"` and `investigations` for a finished batch); default: none.
    fn plan_note(&self, _case: &Case, _detail: &serde_json::Value) -> Vec<Planned> {
        Vec::new()
    }
}

/// Open cases sharing these case fields (JSON path → value, strings) could inhibit a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InhibitQuery {
    pub equal: Vec<(String, String)>,
}

/// Deliveries held back, and by what: `by` names it for release (`silence:12`), `reason` is
/// the timeline's text ("silenced by #12: maintenance").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub by: String,
    pub reason: String,
}

/// The planner of an Irene with no outputs: nothing is delivered.
pub struct NoOutputs;

impl Planner for NoOutputs {
    fn plan(&self, _change: &Change) -> Vec<Planned> {
        Vec::new()
    }
}

/// What an output keeps about one case: the ticket it made (issue number, Slack `ts`,
/// PagerDuty `dedup_key`) and its own bookkeeping in `data` (intents, last comment time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TicketState {
    /// The ticket's reference on the output (`"12"`, `"C123:1503435956.000247"`), empty until made.
    pub reference: String,
    pub url: Option<String>,
    /// Output-specific state, opaque to the store.
    pub data: serde_json::Value,
}

/// A claimed delivery: the row, the case as it was when the change happened, and the
/// current ticket of this case on this output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: i64,
    pub case_id: Option<Uuid>,
    pub output: String,
    pub action: Action,
    /// The case as it was when this delivery was planned (folded repeats: the latest).
    pub case: Option<Case>,
    pub detail: serde_json::Value,
    /// The case's latest alert (actor, indicators, link, raw), when the case has one.
    pub alert: Option<Alert>,
    /// Attempts made before this one.
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub ticket: Option<TicketState>,
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Delivered. `ticket` replaces the stored ticket when set; `note` goes on the timeline.
    Done {
        ticket: Option<TicketState>,
        note: String,
    },
    /// Failed in a way a later attempt can fix (timeout, 5xx, 429, rate limits). `at` is the
    /// earliest time the service allows (Retry-After, x-ratelimit-reset), if it said.
    Retry {
        error: String,
        at: Option<DateTime<Utc>>,
    },
    /// Failed in a way retrying cannot fix (a 4xx): goes to the dead letters with `error`
    /// (status and response body, never a secret).
    Dead { error: String },
    /// Not yet: try again at `until` without counting an attempt (repeat comment interval).
    Defer { until: DateTime<Utc> },
}

/// A turn asked of a shared rate limit (the store's `pace_reserve`: every instance
/// on one database shares the limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaceTurn {
    /// The turn is at this time (now, or a little later when earlier turns are pending): it is
    /// taken; go then.
    At(DateTime<Utc>),
    /// The next free turn is further away than the caller would wait: nothing was taken; ask
    /// again then (so that turns nobody uses do not pile up).
    Later(DateTime<Utc>),
    /// The hourly budget is spent (`taken` turns in the last hour): no turn before `until`.
    Budget { taken: u32, until: DateTime<Utc> },
    /// A provider's limit holds until then: no turn before.
    Held(DateTime<Utc>),
}

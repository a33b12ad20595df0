//! Stateful detection as the store sees it: the `Correlator` trait the store calls inside a
//! commit, once it knows which events are new, and the window rows it loads and writes back.
//! Pure data and the trait only: counting is `irene-rules`, storing the rows is `irene-store`.

use crate::{Alert, Event, Judged};
use chrono::{DateTime, Utc};

/// Which window a row is: a correlation rule and one group of it (its group-by values).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WindowKey {
    /// The correlation's id.
    pub correlation: String,
    /// The group's values, as the correlator writes them (opaque to the store).
    pub group: String,
}

/// One window as stored: its state (JSON text, opaque to the store) and when it expires (its
/// newest hit plus the correlation's timespan), after which it can no longer count anything
/// that a fresh window would not.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowRow {
    pub key: WindowKey,
    pub state: String,
    pub expires_at: DateTime<Utc>,
}

/// What feeding one event changed: the alerts that fire now (judged), the rows changed or
/// created, and the rows emptied.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fed {
    pub alerts: Vec<Judged>,
    pub upsert: Vec<WindowRow>,
    pub delete: Vec<WindowKey>,
}

/// Counts new events in correlation windows. Called inside the transaction that stores the
/// events, only for the events that are new (a record delivered twice counts once), in
/// payload and item order; so it must be pure and quick (no I/O, no clock).
pub trait Correlator: Send + Sync {
    /// The windows an event with these detections (the ids of the Sigma rules it matched)
    /// could touch. Over-approximating is fine: the store loads these rows before `feed`.
    fn keys(&self, event: &Event, detections: &[String]) -> Vec<WindowKey>;

    /// Feeds the event (at its time `at`) into the windows `rows` (those of `keys` that
    /// exist) and says what fired and which rows changed.
    fn feed(
        &self,
        event: &Event,
        detections: &[String],
        at: DateTime<Utc>,
        rows: &[WindowRow],
    ) -> Fed;

    /// Judges `alert` again with what investigations found about its case (`enrichment`:
    /// `{investigator: findings}`, seen by triage rules as `enrichment.<investigator>.<field>`).
    /// `None`: this correlator does not triage (the case keeps its severity).
    fn rejudge(&self, _alert: &Alert, _enrichment: &serde_json::Value) -> Option<Judged> {
        None
    }
}

/// The correlator of an Irene with no correlation rules: nothing is counted.
pub struct NoCorrelations;

impl Correlator for NoCorrelations {
    fn keys(&self, _event: &Event, _detections: &[String]) -> Vec<WindowKey> {
        Vec::new()
    }

    fn feed(
        &self,
        _event: &Event,
        _detections: &[String],
        _at: DateTime<Utc>,
        _rows: &[WindowRow],
    ) -> Fed {
        Fed::default()
    }
}

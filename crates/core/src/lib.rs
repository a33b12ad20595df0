//! Irene's model: what an alert, an event and a case are, and how an alert changes a case.
//! Pure data and pure functions only: no I/O, no clock (callers pass `now`), no async.

pub mod alert;
pub mod case;
pub mod correlate;
pub mod delivery;
pub mod detect;
pub mod event;
pub mod severity;

pub use alert::{Actor, Alert, AlertState, Indicator, IndicatorKind, Resource};
pub use case::{Case, CaseStatus, Raised, Resolution, Ticket, TimelineEntry, TimelineKind};
pub use correlate::{
    correlate, expire, raise, reopen_by_hand, resolve_by_hand, resolve_by_scan, Change, Judged,
    Transition,
};
pub use delivery::{
    Action, Delivery, Hold, InhibitQuery, NoOutputs, Outcome, PaceTurn, Planned,
    PlannedInvestigation, Planner, TicketState,
};
pub use detect::{Correlator, Fed, NoCorrelations, WindowKey, WindowRow};
pub use event::Event;
pub use severity::{ParseSeverityError, Severity};

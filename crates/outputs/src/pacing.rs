//! Rate limits shared beyond this process: what a credential's gate asks of the application,
//! which keeps them in its store for every instance on one database. It sends no requests.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use irene_core::PaceTurn;
use std::time::Duration;

/// Turns and holds per key (a credential's hash, never the credential), shared by every
/// instance. Errors are texts: the gate then falls back on this process's own limits.
#[async_trait]
pub trait Pacing: Send + Sync {
    /// The next turn of `key`: `pace` apart, at most `per_hour` an hour, none while held, and
    /// only if it is within `wait` (else `Later`, nothing taken).
    async fn reserve(
        &self,
        key: &str,
        pace: Duration,
        per_hour: u32,
        wait: Duration,
    ) -> Result<PaceTurn, String>;
    /// Nothing on `key` before `until` (the later of two holds wins).
    async fn hold(&self, key: &str, until: DateTime<Utc>) -> Result<(), String>;
    /// Until when `key` is held, if it is now.
    async fn held(&self, key: &str) -> Result<Option<DateTime<Utc>>, String>;
}

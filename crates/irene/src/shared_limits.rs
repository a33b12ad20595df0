//! The outputs' shared rate limits, kept in the store so that every instance on one database
//! shares them. It must not decide a limit: the outputs' gates do.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use irene_core::PaceTurn;
use irene_outputs::pacing::Pacing;
use irene_store::Store;
use std::sync::Arc;
use std::time::Duration;

pub struct StorePacing(pub Arc<dyn Store>);

#[async_trait]
impl Pacing for StorePacing {
    async fn reserve(
        &self,
        key: &str,
        pace: Duration,
        per_hour: u32,
        wait: Duration,
    ) -> Result<PaceTurn, String> {
        self.0
            .pace_reserve(key, pace, per_hour, wait, Utc::now())
            .await
            .map_err(|e| e.to_string())
    }

    async fn hold(&self, key: &str, until: DateTime<Utc>) -> Result<(), String> {
        self.0
            .pace_hold(key, until)
            .await
            .map_err(|e| e.to_string())
    }

    async fn held(&self, key: &str) -> Result<Option<DateTime<Utc>>, String> {
        self.0
            .pace_held(key, Utc::now())
            .await
            .map_err(|e| e.to_string())
    }
}

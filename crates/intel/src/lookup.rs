//! The one lookup flow every provider shares: cached answer → block → daily quota → pace →
//! request → 429 handling → the provider's classification → cache. Knows no provider's API.

use crate::client::{Client, Reply, Secret};
use crate::limits::{self, Limits};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use irene_investigate::{Provider, ProviderError, Subject, Verdict};
use irene_store::Store;
use std::sync::Arc;
use std::time::Duration;

/// One provider's settings, its defaults completed (see `config.rs`).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Base URL, e.g. `https://api.abuseipdb.com` (the provider adds its paths).
    pub url: String,
    pub key: Option<Secret>,
    /// How long an answer is reused.
    pub ttl: Duration,
    /// Requests per minute, spaced evenly (0: unpaced).
    pub per_minute: u32,
    /// Requests per UTC day, counted in the store (`None`: counted, never refused).
    pub daily: Option<u32>,
    /// Of each request.
    pub timeout: Duration,
    /// Longest a lookup waits in line for its turn or for a short `Retry-After`.
    pub max_wait: Duration,
    /// Larger answers are refused.
    pub max_bytes: usize,
}

/// What a provider's request is: a path under the base URL and a query.
pub(crate) struct Request {
    pub path: String,
    pub query: Vec<(&'static str, String)>,
}

/// One provider's API: its request and its classification of replies (pure).
pub(crate) trait Api: Send + Sync + 'static {
    const NAME: &'static str;
    /// The header the key goes in.
    const KEY_HEADER: &'static str;
    fn handles(subject: &Subject) -> bool;
    fn request(subject: &Subject) -> Request;
    /// Whether a 429 from it means the day's quota is used (else: slow down).
    fn limited_for_the_day(reply: &Reply) -> bool;
    /// A reply other than 429 and 5xx: the verdict (a "not known" answer is one too) or why not.
    fn classify(status: u16, body: &[u8], now: DateTime<Utc>) -> Result<Verdict, ProviderError>;
}

/// A provider over its API, the store's cache and counts, and its pace.
pub(crate) struct Cached<A: Api> {
    pub(crate) settings: Settings,
    pub(crate) client: Client,
    pub(crate) limits: Limits,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) api: std::marker::PhantomData<A>,
}

fn unavailable(e: irene_store::StoreError) -> ProviderError {
    ProviderError::Unavailable(format!("the cache could not be read or written: {e}"))
}

impl<A: Api> Cached<A> {
    pub(crate) fn new(
        settings: Settings,
        store: Arc<dyn Store>,
        user_agent: &str,
    ) -> Result<Self, String> {
        let client = Client::new(
            &settings.url,
            A::KEY_HEADER,
            settings.key.as_ref(),
            settings.timeout,
            settings.max_bytes,
            user_agent,
        )?;
        let limits = Limits::new(settings.per_minute, settings.max_wait);
        Ok(Cached {
            settings,
            client,
            limits,
            store,
            api: std::marker::PhantomData,
        })
    }

    fn daily(&self) -> u32 {
        self.settings.daily.unwrap_or(u32::MAX)
    }

    fn quota_used(now: DateTime<Utc>) -> ProviderError {
        ProviderError::QuotaExhausted {
            until: limits::next_utc_midnight(now),
        }
    }

    /// One request, counted against the day (after waiting for its turn).
    async fn send(&self, req: &Request, now: DateTime<Utc>) -> Result<Reply, ProviderError> {
        let wait = self
            .limits
            .reserve(now)
            .map_err(|retry_after| ProviderError::RateLimited { retry_after })?;
        tokio::time::sleep(wait).await;
        if !self
            .store
            .intel_usage_take(A::NAME, self.daily(), now)
            .await
            .map_err(unavailable)?
        {
            return Err(Self::quota_used(now));
        }
        metrics::counter!("irene_intel_requests_total", "provider" => A::NAME).increment(1);
        self.client.get(&req.path, &req.query).await
    }

    async fn ask(&self, subject: &Subject, now: DateTime<Utc>) -> Result<Verdict, ProviderError> {
        if self
            .store
            .intel_usage(A::NAME, now)
            .await
            .map_err(unavailable)?
            >= self.daily()
        {
            return Err(Self::quota_used(now));
        }
        if let Some(retry_after) = self.limits.blocked(now) {
            return Err(ProviderError::RateLimited { retry_after });
        }
        let req = A::request(subject);
        let mut waited = false;
        loop {
            let reply = self.send(&req, now).await?;
            if reply.status == 429 {
                let wait = limits::retry_after(&reply.headers, now);
                // A short wait is waited out once, in line; a longer one blocks the provider.
                if let Some(w) = wait.filter(|w| !waited && *w <= self.limits.max_wait) {
                    waited = true;
                    tokio::time::sleep(w).await;
                    continue;
                }
                let wait = wait.unwrap_or(limits::DEFAULT_BACKOFF);
                let until = self.limits.block(wait, now);
                if A::limited_for_the_day(&reply) {
                    self.store
                        .intel_usage_exhaust(A::NAME, self.daily(), now)
                        .await
                        .map_err(unavailable)?;
                    return Err(ProviderError::QuotaExhausted { until });
                }
                return Err(ProviderError::RateLimited { retry_after: until });
            }
            if matches!(reply.status, 401 | 403) {
                return Err(ProviderError::Unauthorized);
            }
            if reply.status >= 500 {
                return Err(ProviderError::Unavailable(format!(
                    "the provider answered {}",
                    reply.status
                )));
            }
            return A::classify(reply.status, &reply.body, now);
        }
    }
}

#[async_trait::async_trait]
impl<A: Api> Provider for Cached<A> {
    fn name(&self) -> &'static str {
        A::NAME
    }

    fn handles(&self, subject: &Subject) -> bool {
        A::handles(subject)
    }

    async fn lookup(
        &self,
        subject: &Subject,
        now: DateTime<Utc>,
    ) -> Result<Verdict, ProviderError> {
        let key = subject.to_string();
        if let Some(hit) = self
            .store
            .intel_cache_get(A::NAME, &key, now)
            .await
            .map_err(unavailable)?
        {
            if let Ok(mut v) = serde_json::from_value::<Verdict>(hit.answer) {
                v.cached = true;
                return Ok(v);
            }
        }
        let verdict = self.ask(subject, now).await?;
        let expires = now + ChronoDuration::from_std(self.settings.ttl).unwrap_or_default();
        if let Ok(answer) = serde_json::to_value(&verdict) {
            if let Err(e) = self
                .store
                .intel_cache_put(A::NAME, &key, &answer, now, expires)
                .await
            {
                tracing::warn!(provider = A::NAME, error = %e, "a reputation answer could not be cached");
            }
        }
        Ok(verdict)
    }
}

//! Push intakes that authenticate the sender instead of a bearer token: SNS HTTP(S) messages
//! (`sns`) and Pub/Sub push requests (`pubsub`), with the small caching fetchers they need
//! (`fetch`). It must not store, decode or route payloads (the `irene` binary's `App::accept`
//! does), nor speak HTTP as a server.
//!
//! The binary builds [`Verifiers`] once from `[intake.sns]` and `[intake.pubsub]` and asks them
//! about each request; an intake whose section is absent is `None` (off).

mod fetch;
pub mod pubsub;
pub mod sns;
#[cfg(feature = "testing")]
pub mod testing;

pub use pubsub::{PubsubConfig, PubsubError, PubsubVerifier, PushMessage};
pub use sns::{SnsConfig, SnsError, SnsKind, SnsMessage, SnsVerifier};

/// A `[intake.sns]` or `[intake.pubsub]` section that cannot work as written.
#[derive(Debug, thiserror::Error)]
#[error("[intake.{section}]: {message}")]
pub struct ConfigError {
    pub section: &'static str,
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(section: &'static str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            section,
            message: message.into(),
        }
    }
}

/// The configured push intakes; `None` where the section is absent.
#[derive(Default)]
pub struct Verifiers {
    pub sns: Option<SnsVerifier>,
    pub pubsub: Option<PubsubVerifier>,
}

impl Verifiers {
    /// Both intakes from their sections, or what is wrong with one.
    pub fn new(sns: &SnsConfig, pubsub: &PubsubConfig) -> Result<Verifiers, ConfigError> {
        Ok(Verifiers {
            sns: SnsVerifier::new(sns)?,
            pubsub: PubsubVerifier::new(pubsub)?,
        })
    }
}

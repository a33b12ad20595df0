//! Reputation API clients: AbuseIPDB, VirusTotal, GreyNoise (community) and AlienVault OTX, each
//! an `irene_investigate::Provider`. Calls only the configured base URLs; never logs a key.
//!
//! # Layout
//!
//! - `config.rs`: `[reputation.<provider>]` settings ([`ReputationConfig`]) with each
//!   provider's defaults, and [`build`], which turns them into providers.
//! - `client.rs`: the one HTTP client (timeouts, a response size cap, same-host redirects only)
//!   and [`Secret`], the redacted key, sent only as a header.
//! - `limits.rs`: per-provider pace (requests per minute), blocks after a 429, `Retry-After`.
//! - `lookup.rs`: the one lookup flow every provider shares: cache → daily quota → pace →
//!   request → classify → cache. The store keeps answers (with a TTL) and daily counts.
//! - One file per provider with its request and its pure reply classification
//!   (`abuseipdb.rs`, `virustotal.rs`, `greynoise.rs`, `otx.rs`), table-tested.

mod abuseipdb;
mod client;
mod config;
mod greynoise;
mod limits;
mod lookup;
mod otx;
mod virustotal;

pub use client::Secret;
pub use config::{build, BuildError, ProviderConfig, ReputationConfig};
pub use lookup::Settings;

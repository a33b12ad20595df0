//! Tests of irene-investigate: one binary (cheap to link), one module per investigator, on the
//! real fixtures under `tests/fixtures/` (copied unmodified from `shared/fixtures`).
// Tests may unwrap, expect and read fixture files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod actor_history;
mod common;
mod exposure;
mod feeds;
mod geoip;
mod ips;
mod registry;
mod reputation;
mod reputation_providers;
mod threat_context;

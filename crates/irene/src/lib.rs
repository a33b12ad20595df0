//! The `irene` binary's parts: configuration, HTTP API, intake, pipeline workers and CLI commands.
//! The only crate that speaks HTTP or reads files; the crates below it stay pure or store-only.

pub mod api;
pub mod app;
pub mod auth;
pub mod bench;
pub mod cmd_deliveries;
pub mod cmd_ingest;
pub mod cmd_rules;
pub mod config;
pub mod deliver;
pub mod detect;
pub mod evaluate;
pub mod expiry;
pub mod intake;
pub mod jobs;
pub mod pipeline;
pub mod remote;
pub mod retention;
pub mod rulefiles;
pub mod server;
pub mod telemetry;
pub mod worker;

//! The `irene` binary's parts: configuration, the HTTP API, the application layer, the workers and
//! the CLI. The only crate that reads config and rule files and serves HTTP; as a client it speaks
//! HTTP only to its own server (CLI) — the outputs' clients live in `irene-outputs`.
//!
//! # Layout
//! - `server`: wiring (store, outputs, intake, workers, router) and orderly shutdown.
//! - `app`: what Irene does when asked, whatever the transport (accept, resolve, replay, …).
//! - `api`: HTTP handlers that translate to `app` and to store reads; `console`: its HTML pages.
//! - `evaluate`: decode → Sigma → triage, shared by the pipeline and the dry runs.
//! - `replay`: a draft rule set over a stored window, cases and deliveries simulated (no writes).
//! - `worker`: the one worker shape and its runner; `pipeline`, `deliver`, `jobs`, `expiry`,
//!   `retention`, `feeds` (threat-intel downloads), `investigate` (runs investigations) are its
//!   implementations. `detect`: the Sigma correlator the store feeds (and re-triage on findings).
//! - `investigation_policy`: when investigations run (`[[investigations]]`) and the planner.
//! - `files`: the secret of `/files/{token}` links (served by `api::files`).
//! - `sqs_intake`: the `[[sqs]]` workers (S3 -> SQS) over `App::accept`.
//! - `intake`: group commit of accepted payloads. `config`, `auth`, `telemetry`, `rulefiles`.
//! - `cmd_*`, `remote`: the CLI's commands; `bench`, `bench_investigations`, `bench_replay`, `bench_console`: the benchmarks.

pub mod api;
pub mod app;
pub mod auth;
pub mod bench;
pub mod bench_console;
pub mod bench_exposure;
pub mod bench_instances;
pub mod bench_investigations;
pub mod bench_replay;
pub mod cmd_deliveries;
pub mod cmd_ingest;
pub mod cmd_investigate;
pub mod cmd_replay;
pub mod cmd_rules;
pub mod cmd_settings;
pub mod cmd_user;
pub mod config;
pub mod console;
pub mod deliver;
pub mod detect;
pub mod evaluate;
pub mod expiry;
pub mod feeds;
pub mod files;
pub mod http_fetch;
pub mod intake;
pub mod investigate;
pub mod investigation_policy;
pub mod jobs;
pub mod leader;
pub mod password;
pub mod pipeline;
pub mod remote;
pub mod replay;
pub mod retention;
pub mod rulefiles;
pub mod server;
pub mod settings;
pub mod settings_worker;
pub mod shared_limits;
pub mod sqs_intake;
pub mod tamper;
pub mod telemetry;
pub mod worker;

//! The S3 -> SQS intake: long-polls an SQS queue, reads the S3 objects its messages point at (or
//! takes an event message as the payload) and hands each to a [`Sink`]; a message is deleted only
//! once the sink has everything it carried. It stores nothing and decodes no payload itself.
//!
//! # Layout
//! - `config`: `[[sqs]]` ([`SqsConfig`]) and its checks.
//! - `message`: what a message body is, by shape (pure, table-tested).
//! - `sink`: the seam to the store ([`Sink`], [`Payload`], [`SinkError`]).
//! - `consumer`: the SQS and S3 calls ([`Consumer::poll`]) and what one poll did ([`Tally`]).

mod config;
mod consumer;
pub mod message;
mod sink;

pub use config::{ConfigError, SqsConfig, MAX_VISIBILITY_SECS, MAX_WAIT_SECONDS};
pub use consumer::{http_client, Consumer, PollError, Tally};
pub use sink::{Accepted, Payload, Sink, SinkError};

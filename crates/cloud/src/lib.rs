//! Targets from the cloud: what an open security group (AWS) or firewall (GCP) exposes.
//! Implements `irene_investigate::exposure_seams::TargetLookup`; `build` picks one per source.

pub mod aws;
mod config;
pub mod gcp;
mod ports;

pub use config::{
    build, cloud_of, AwsConfig, Cloud, CloudConfig, CloudLookup, GcpConfig, TokenSource,
};

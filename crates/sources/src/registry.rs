//! The list of decoders and lookup by name: the one place a new decoder is registered.
//! Holds no state; the order of `RECOGNITION_ORDER` is the order in which `auto` asks.

use crate::auto::Auto;
use crate::cloudtrail::CloudTrail;
use crate::config::Config;
use crate::falco::Falco;
use crate::gcp_audit::GcpAudit;
use crate::generic::Generic;
use crate::guardduty::GuardDuty;
use crate::prowler::Prowler;
use crate::scc::Scc;
use crate::securityhub::SecurityHub;
use crate::tamper::Tamper;
use crate::Decoder;

/// Every named decoder, in the order `auto` tries them: specific formats first (Prowler's
/// ASFF before Security Hub's; SCC before the audit logs, as it claims Pub/Sub envelopes
/// whose data is not JSON), Irene's own shape last (and the tamper watch's, never recognized).
pub(crate) static RECOGNITION_ORDER: [&dyn Decoder; 10] = [
    &Prowler,
    &SecurityHub,
    &GuardDuty,
    &Scc,
    &Config,
    &CloudTrail,
    &GcpAudit,
    &Falco,
    &Generic,
    &Tamper,
];

/// The order names are listed to clients.
const LISTED: [&str; 10] = [
    "aws.guardduty",
    "aws.securityhub",
    "gcp.scc",
    "aws.config",
    "aws.cloudtrail",
    "gcp.audit",
    "prowler",
    "falco",
    "generic",
    "irene.tamper",
];

static AUTO: Auto = Auto;

/// The decoder called `name` (`"auto"` included); `None` for unknown names.
pub fn decoder(name: &str) -> Option<&'static dyn Decoder> {
    if name == AUTO.name() {
        return Some(&AUTO);
    }
    RECOGNITION_ORDER.iter().copied().find(|d| d.name() == name)
}

/// All names a client may use in `POST /api/v1/ingest/{source}`, `"auto"` last.
pub fn names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = LISTED
        .iter()
        .copied()
        .filter(|n| RECOGNITION_ORDER.iter().any(|d| d.name() == *n))
        .collect();
    names.push(AUTO.name());
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_decoder_is_listed_once() {
        let names = names();
        assert_eq!(names.len(), RECOGNITION_ORDER.len() + 1);
        for d in RECOGNITION_ORDER {
            assert_eq!(
                names.iter().filter(|n| **n == d.name()).count(),
                1,
                "{}",
                d.name()
            );
        }
        for n in names {
            assert_eq!(decoder(n).map(|d| d.name()), Some(n));
        }
        assert!(decoder("aws.nope").is_none());
    }
}

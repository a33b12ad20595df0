//! The address policy: which addresses a probe may connect to (deny by default for private,
//! loopback, link-local, CGNAT, multicast, reserved and cloud metadata ranges). Decides only; must not connect.
//!
//! Precedence, first that applies wins:
//! 1. an explicit `deny` entry that contains the address;
//! 2. an explicit `allow` entry that contains it — except for the cloud metadata addresses
//!    (`169.254.169.254`, `fd00:ec2::254`), which only an `allow` entry naming exactly that
//!    address (`/32`, `/128`) opens, so that allowing `169.254.0.0/16` for a lab does not
//!    hand out instance credentials;
//! 3. the default ranges below: denied;
//! 4. everything else (public addresses, and the documentation ranges `192.0.2.0/24`,
//!    `198.51.100.0/24`, `203.0.113.0/24`, `2001:db8::/32`, which tests use): allowed.
//!
//! IPv4-mapped (`::ffff:a.b.c.d`) and NAT64 (`64:ff9b::a.b.c.d`) IPv6 addresses are judged
//! as the IPv4 address they carry, and connections go to that IPv4 address.

use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The ranges denied unless allowed, each with the name the refusal gives. Metadata first so
/// that it is named before the link-local or ULA range around it.
const DEFAULT_DENY: &[(&str, &str)] = &[
    ("169.254.169.254/32", "cloud metadata"),
    ("fd00:ec2::254/128", "cloud metadata"),
    ("0.0.0.0/8", "unspecified (this network)"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "CGNAT (shared address space)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "reserved (IETF protocol assignments)"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "reserved (benchmarking)"),
    ("224.0.0.0/4", "multicast"),
    ("255.255.255.255/32", "broadcast"),
    ("240.0.0.0/4", "reserved"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::/96", "reserved (IPv4-compatible)"),
    ("100::/64", "reserved (discard)"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "reserved (site-local)"),
    ("fc00::/7", "unique local (private)"),
    ("ff00::/8", "multicast"),
];

const METADATA: &[IpAddr] = &[
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
];

/// Why an address may not be probed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{address} is denied: {why}")]
pub struct Denied {
    pub address: IpAddr,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CIDR {0:?} (e.g. \"203.0.113.0/24\" or \"2001:db8::/32\")")]
pub struct BadCidr(pub String);

/// The policy: the defaults plus the configured `allow` and `deny` lists.
#[derive(Debug, Clone)]
pub struct Policy {
    defaults: Vec<(IpNet, &'static str)>,
    allow: Vec<IpNet>,
    deny: Vec<IpNet>,
}

/// `"10.0.0.0/8"` or a bare address (`"127.0.0.1"`, a host route).
pub fn parse_cidr(s: &str) -> Result<IpNet, BadCidr> {
    let t = s.trim();
    t.parse::<IpNet>()
        .or_else(|_| t.parse::<IpAddr>().map(IpNet::from))
        .map(|n| n.trunc())
        .map_err(|_| BadCidr(s.to_string()))
}

/// The address a connection really goes to: IPv4-mapped and NAT64 IPv6 as their IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return IpAddr::V4(Ipv4Addr::new(a, b, c, d));
            }
            ip
        }
        IpAddr::V4(_) => ip,
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy::new(Vec::new(), Vec::new())
    }
}

impl Policy {
    pub fn new(allow: Vec<IpNet>, deny: Vec<IpNet>) -> Self {
        let defaults = DEFAULT_DENY
            .iter()
            .filter_map(|(net, why)| net.parse::<IpNet>().ok().map(|n| (n, *why)))
            .collect();
        Policy {
            defaults,
            allow,
            deny,
        }
    }

    /// From the config's text lists.
    pub fn parse(allow: &[String], deny: &[String]) -> Result<Self, BadCidr> {
        let parse = |l: &[String]| {
            l.iter()
                .map(|s| parse_cidr(s))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Policy::new(parse(allow)?, parse(deny)?))
    }

    /// Whether `ip` may be probed; `Err` names the rule that refuses it.
    pub fn check(&self, ip: IpAddr) -> Result<(), Denied> {
        let ip = canonical(ip);
        let denied = |why: String| Denied { address: ip, why };
        if let Some(net) = self.deny.iter().find(|n| n.contains(&ip)) {
            return Err(denied(format!("in the deny list ({net})")));
        }
        let metadata = METADATA.contains(&ip);
        let allowed = self
            .allow
            .iter()
            .any(|n| n.contains(&ip) && (!metadata || n.prefix_len() == n.max_prefix_len()));
        if allowed {
            return Ok(());
        }
        if let Some((net, why)) = self.defaults.iter().find(|(n, _)| n.contains(&ip)) {
            return Err(denied(format!("{why} ({net})")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_defaults_deny_what_is_not_public() {
        let p = Policy::default();
        let cases: &[(&str, Option<&str>)] = &[
            ("10.0.0.1", Some("private")),
            ("172.16.5.4", Some("private")),
            ("172.31.255.255", Some("private")),
            ("192.168.1.1", Some("private")),
            ("127.0.0.1", Some("loopback")),
            ("127.8.9.10", Some("loopback")),
            ("169.254.1.1", Some("link-local")),
            ("169.254.169.254", Some("cloud metadata")),
            ("100.64.0.1", Some("CGNAT")),
            ("100.127.255.254", Some("CGNAT")),
            ("224.0.0.1", Some("multicast")),
            ("239.255.255.250", Some("multicast")),
            ("0.0.0.0", Some("unspecified")),
            ("255.255.255.255", Some("broadcast")),
            ("240.0.0.1", Some("reserved")),
            ("198.18.0.1", Some("reserved")),
            ("::", Some("unspecified")),
            ("::1", Some("loopback")),
            ("fe80::1", Some("link-local")),
            ("fc00::1", Some("unique local")),
            ("fd12:3456::1", Some("unique local")),
            ("fd00:ec2::254", Some("cloud metadata")),
            ("ff02::1", Some("multicast")),
            ("::ffff:127.0.0.1", Some("loopback")),
            ("::ffff:10.1.2.3", Some("private")),
            ("::ffff:169.254.169.254", Some("cloud metadata")),
            ("64:ff9b::a00:1", Some("private")),
            // public and documentation addresses are allowed
            ("8.8.8.8", None),
            ("54.91.89.220", None),
            ("100.63.255.255", None),
            ("100.128.0.0", None),
            ("172.32.0.1", None),
            ("192.0.2.10", None),
            ("198.51.100.7", None),
            ("203.0.113.7", None),
            ("2001:db8::1", None),
            ("2606:4700::1111", None),
            ("::ffff:8.8.8.8", None),
        ];
        for (addr, want) in cases {
            let got = p.check(ip(addr));
            match want {
                None => assert!(got.is_ok(), "{addr}: {got:?}"),
                Some(why) => {
                    let e = got.expect_err(addr);
                    assert!(e.why.contains(why), "{addr}: {e}");
                }
            }
        }
    }

    #[test]
    fn deny_beats_allow_beats_defaults_and_metadata_needs_its_own_entry() {
        let p = Policy::parse(
            &[
                "127.0.0.0/8".into(),
                "169.254.0.0/16".into(),
                "10.1.0.0/16".into(),
            ],
            &["127.0.0.2".into(), "203.0.113.0/24".into()],
        )
        .unwrap();
        let cases: &[(&str, bool)] = &[
            ("127.0.0.1", true),
            ("::ffff:127.0.0.1", true),
            ("127.0.0.2", false), // deny beats allow
            ("169.254.1.1", true),
            ("169.254.169.254", false), // metadata: only an exact entry opens it
            ("10.1.2.3", true),
            ("10.2.0.1", false),
            ("203.0.113.7", false), // deny beats the default allow
            ("8.8.8.8", true),
        ];
        for (addr, ok) in cases {
            assert_eq!(p.check(ip(addr)).is_ok(), *ok, "{addr}");
        }
        let open = Policy::parse(&["169.254.169.254/32".into()], &[]).unwrap();
        assert!(open.check(ip("169.254.169.254")).is_ok());
        let e = p.check(ip("127.0.0.2")).unwrap_err();
        assert!(e.why.contains("deny list"), "{e}");
    }

    #[test]
    fn cidrs_parse_or_say_why() {
        assert_eq!(parse_cidr("10.0.0.1").unwrap().to_string(), "10.0.0.1/32");
        assert_eq!(parse_cidr(" 10.9.9.9/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(parse_cidr("::1").unwrap().to_string(), "::1/128");
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("localhost").is_err());
    }
}

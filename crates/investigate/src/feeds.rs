//! Threat-intel feeds: their formats, parsing a body into networks or ASNs, the built-in feeds,
//! and `FeedSet`, which matches an IP against every feed. Bytes in only: fetching is the caller's.
//!
//! Formats (`[[feeds]] format = …`):
//! - `ip-lines`: one IP per line (Tor's bulk exit list, Feodo's recommended list);
//! - `cidr-lines`: one CIDR or IP per line (Spamhaus DROP `CIDR ; SBL…`, FireHOL netsets);
//! - `csv:COLUMN`: CSV with the IP in COLUMN, a header name or a 0-based index (Feodo's CSV);
//! - `jsonl:FIELD`: one JSON object per line, the IP, CIDR or ASN in FIELD (Spamhaus ASN-DROP).
//!
//! In every format, blank lines and lines starting with `#` or `;` are comments, text after
//! ` ;` or ` #` on a line is dropped, and a line that does not parse is counted and skipped.
//! Networks broader than /8 (IPv4) or /16 (IPv6) are refused as bad lines: a list entry must
//! never list half the Internet. Host bits are cleared (`1.2.3.4/24` is `1.2.3.0/24`).

use ipnet::IpNet;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

/// How a feed's body is laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedFormat {
    IpLines,
    CidrLines,
    Csv(CsvColumn),
    Jsonl(String),
}

/// Which CSV column holds the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CsvColumn {
    Name(String),
    Index(usize),
}

/// A format string that is not one of the four.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown feed format {0:?}: expected ip-lines, cidr-lines, csv:COLUMN or jsonl:FIELD")]
pub struct FormatError(pub String);

impl FromStr for FeedFormat {
    type Err = FormatError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        match s {
            "ip-lines" => return Ok(FeedFormat::IpLines),
            "cidr-lines" => return Ok(FeedFormat::CidrLines),
            _ => {}
        }
        if let Some(col) = s.strip_prefix("csv:").filter(|c| !c.is_empty()) {
            return Ok(FeedFormat::Csv(match col.parse::<usize>() {
                Ok(i) => CsvColumn::Index(i),
                Err(_) => CsvColumn::Name(col.to_string()),
            }));
        }
        if let Some(field) = s.strip_prefix("jsonl:").filter(|f| !f.is_empty()) {
            return Ok(FeedFormat::Jsonl(field.to_string()));
        }
        Err(FormatError(s.to_string()))
    }
}

impl fmt::Display for FeedFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FeedFormat::IpLines => f.write_str("ip-lines"),
            FeedFormat::CidrLines => f.write_str("cidr-lines"),
            FeedFormat::Csv(CsvColumn::Name(n)) => write!(f, "csv:{n}"),
            FeedFormat::Csv(CsvColumn::Index(i)) => write!(f, "csv:{i}"),
            FeedFormat::Jsonl(field) => write!(f, "jsonl:{field}"),
        }
    }
}

/// A feed: where it comes from, how it is laid out, how often to fetch it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedDef {
    pub name: String,
    pub url: String,
    pub format: FeedFormat,
    pub every: Duration,
}

pub const TOR: &str = "tor";
pub const SPAMHAUS_DROP: &str = "spamhaus_drop";
pub const SPAMHAUS_ASNDROP: &str = "spamhaus_asndrop";
pub const FEODO: &str = "feodo";
pub const FIREHOL_LEVEL1: &str = "firehol_level1";

/// The feeds Irene knows without configuration. User `[[feeds]]` are added to these.
pub fn builtin_feeds() -> Vec<FeedDef> {
    let hour = Duration::from_secs(3600);
    vec![
        FeedDef {
            name: TOR.into(),
            url: "https://check.torproject.org/torbulkexitlist".into(),
            format: FeedFormat::IpLines,
            every: hour,
        },
        FeedDef {
            name: SPAMHAUS_DROP.into(),
            url: "https://www.spamhaus.org/drop/drop.txt".into(),
            format: FeedFormat::CidrLines,
            every: 12 * hour,
        },
        FeedDef {
            name: SPAMHAUS_ASNDROP.into(),
            url: "https://www.spamhaus.org/drop/asndrop.json".into(),
            format: FeedFormat::Jsonl("asn".into()),
            every: 12 * hour,
        },
        FeedDef {
            name: FEODO.into(),
            url: "https://feodotracker.abuse.ch/downloads/ipblocklist_recommended.txt".into(),
            format: FeedFormat::IpLines,
            every: hour,
        },
        FeedDef {
            name: FIREHOL_LEVEL1.into(),
            url: "https://iplists.firehol.org/files/firehol_level1.netset".into(),
            format: FeedFormat::CidrLines,
            every: 6 * hour,
        },
    ]
}

/// One parsed list entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Entry {
    Net(IpNet),
    Asn(u32),
}

/// What parsing a body gave: entries and how many lines were comments or unusable.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parsed {
    pub entries: Vec<Entry>,
    pub comments: usize,
    pub bad: usize,
    /// The 1-based numbers of the first few bad lines, for the feed's status.
    pub bad_lines: Vec<usize>,
}

impl Parsed {
    fn bad_line(&mut self, n: usize) {
        self.bad += 1;
        if self.bad_lines.len() < 5 {
            self.bad_lines.push(n);
        }
    }
}

/// Parses a feed body. Never fails: bad lines are counted in `Parsed::bad`.
pub fn parse(format: &FeedFormat, body: &[u8]) -> Parsed {
    let text = String::from_utf8_lossy(body);
    let mut out = Parsed::default();
    let mut csv_index = match format {
        FeedFormat::Csv(CsvColumn::Index(i)) => Some(*i),
        _ => None,
    };
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            out.comments += 1;
            continue;
        }
        let entry = match format {
            FeedFormat::IpLines | FeedFormat::CidrLines => {
                let value = strip_trailing_comment(line);
                value.split_whitespace().next().and_then(parse_net)
            }
            FeedFormat::Csv(column) => {
                let fields = csv_fields(line);
                let Some(idx) = csv_index else {
                    // The first non-comment line is the header that names the column.
                    if let CsvColumn::Name(name) = column {
                        csv_index = fields.iter().position(|f| f.eq_ignore_ascii_case(name));
                    }
                    if csv_index.is_none() {
                        out.bad_line(n);
                    } else {
                        out.comments += 1;
                    }
                    continue;
                };
                fields.get(idx).and_then(|f| parse_net(f))
            }
            FeedFormat::Jsonl(field) => serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.get(field).cloned())
                .and_then(|v| match v {
                    serde_json::Value::Number(num) => num
                        .as_u64()
                        .and_then(|a| u32::try_from(a).ok())
                        .map(Entry::Asn),
                    serde_json::Value::String(s) => parse_asn(&s).or_else(|| parse_net(&s)),
                    _ => None,
                }),
        };
        match entry {
            Some(e) => out.entries.push(e),
            None => out.bad_line(n),
        }
    }
    out
}

fn strip_trailing_comment(line: &str) -> &str {
    let cut = [" ;", "\t;", " #", "\t#", ";"]
        .iter()
        .filter_map(|m| line.find(m))
        .min()
        .unwrap_or(line.len());
    line[..cut].trim()
}

/// An IP (a host network) or a CIDR, host bits cleared; refused when broader than /8 or /16.
fn parse_net(s: &str) -> Option<Entry> {
    let s = s.trim().trim_matches('"');
    let net = match s.parse::<IpNet>() {
        Ok(net) => net.trunc(),
        Err(_) => IpNet::from(s.parse::<IpAddr>().ok()?),
    };
    let min = match net {
        IpNet::V4(_) => 8,
        IpNet::V6(_) => 16,
    };
    (net.prefix_len() >= min).then_some(Entry::Net(net))
}

fn parse_asn(s: &str) -> Option<Entry> {
    let s = s.trim();
    let digits = s
        .strip_prefix("AS")
        .or_else(|| s.strip_prefix("as"))
        .unwrap_or(s);
    digits.parse::<u32>().ok().map(Entry::Asn)
}

/// Splits one CSV line; double quotes group, `""` inside quotes is a quote.
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut cur).trim().to_string()),
            _ => cur.push(c),
        }
    }
    fields.push(cur.trim().to_string());
    fields
}

/// One feed's state in a set, for status pages and logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeedStats {
    pub name: String,
    pub networks: usize,
    pub asns: usize,
    pub bad: usize,
}

/// A feed that matched, and the entry that did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Match {
    pub feed: String,
    pub entry: IpNet,
}

/// Every loaded feed, indexed for containment: one hash map per (family, prefix length)
/// present, so a lookup is at most 33 (IPv4) or 129 (IPv6) hash probes however many entries
/// there are, and nested networks all match. Immutable once built: a refreshed feed means a
/// new set (cheap: 100k entries build in milliseconds), swapped in by the caller.
#[derive(Debug, Default)]
pub struct FeedSet {
    names: Vec<String>,
    stats: Vec<FeedStats>,
    /// (is_v6, prefix length, masked address) → feeds listing that network.
    nets: HashMap<(bool, u8, u128), Vec<u16>>,
    v4_lens: Vec<u8>,
    v6_lens: Vec<u8>,
    asns: HashMap<u32, Vec<u16>>,
}

/// Too many feeds for one set (more than 65 535).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("too many feeds in one set")]
pub struct TooManyFeeds;

impl FeedSet {
    pub fn new() -> Self {
        FeedSet::default()
    }

    /// Adds a parsed feed under `name`. A name added twice adds to the same feed.
    pub fn add(&mut self, name: &str, parsed: &Parsed) -> Result<(), TooManyFeeds> {
        let idx = match self.names.iter().position(|n| n == name) {
            Some(i) => i,
            None => {
                self.names.push(name.to_string());
                self.stats.push(FeedStats {
                    name: name.to_string(),
                    networks: 0,
                    asns: 0,
                    bad: 0,
                });
                self.names.len() - 1
            }
        };
        let id = u16::try_from(idx).map_err(|_| TooManyFeeds)?;
        let Some(stats) = self.stats.get_mut(idx) else {
            return Err(TooManyFeeds);
        };
        stats.bad += parsed.bad;
        for entry in &parsed.entries {
            match entry {
                Entry::Net(net) => {
                    let (v6, len, addr) = key_of(net);
                    let feeds = self.nets.entry((v6, len, addr)).or_default();
                    if !feeds.contains(&id) {
                        feeds.push(id);
                        stats.networks += 1;
                    }
                    let lens = if v6 {
                        &mut self.v6_lens
                    } else {
                        &mut self.v4_lens
                    };
                    if let Err(pos) = lens.binary_search(&len) {
                        lens.insert(pos, len);
                    }
                }
                Entry::Asn(asn) => {
                    let feeds = self.asns.entry(*asn).or_default();
                    if !feeds.contains(&id) {
                        feeds.push(id);
                        stats.asns += 1;
                    }
                }
            }
        }
        Ok(())
    }

    /// Parses `body` and adds it: the one call a loader needs.
    pub fn add_body(
        &mut self,
        name: &str,
        format: &FeedFormat,
        body: &[u8],
    ) -> Result<Parsed, TooManyFeeds> {
        let parsed = parse(format, body);
        self.add(name, &parsed)?;
        Ok(parsed)
    }

    pub fn stats(&self) -> &[FeedStats] {
        &self.stats
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Every feed listing a network that contains `ip`, with that network, most specific first.
    pub fn match_ip(&self, ip: IpAddr) -> Vec<Match> {
        let (v6, bits, lens) = match ip {
            IpAddr::V4(a) => (false, u128::from(u32::from(a)), &self.v4_lens),
            IpAddr::V6(a) => (true, u128::from(a), &self.v6_lens),
        };
        let width: u32 = if v6 { 128 } else { 32 };
        let mut out = Vec::new();
        for &len in lens.iter().rev() {
            let masked = mask(bits, u32::from(len), width);
            if let Some(feeds) = self.nets.get(&(v6, len, masked)) {
                let Some(net) = net_of(v6, len, masked) else {
                    continue;
                };
                for &f in feeds {
                    if let Some(name) = self.names.get(usize::from(f)) {
                        out.push(Match {
                            feed: name.clone(),
                            entry: net,
                        });
                    }
                }
            }
        }
        out
    }

    /// The names of the feeds that list `ip` (deduplicated, in feed order).
    pub fn lists_of(&self, ip: IpAddr) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for m in self.match_ip(ip) {
            if !names.contains(&m.feed) {
                names.push(m.feed);
            }
        }
        names
    }

    /// Whether feed `name` lists `ip`.
    pub fn lists(&self, name: &str, ip: IpAddr) -> bool {
        self.match_ip(ip).iter().any(|m| m.feed == name)
    }

    /// The feeds listing the autonomous system `asn`.
    pub fn match_asn(&self, asn: u32) -> Vec<String> {
        self.asns
            .get(&asn)
            .map(|feeds| {
                feeds
                    .iter()
                    .filter_map(|&f| self.names.get(usize::from(f)).cloned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Networks and ASNs per feed name.
    pub fn sizes(&self) -> BTreeMap<String, usize> {
        self.stats
            .iter()
            .map(|s| (s.name.clone(), s.networks + s.asns))
            .collect()
    }
}

fn key_of(net: &IpNet) -> (bool, u8, u128) {
    match net {
        IpNet::V4(n) => (false, n.prefix_len(), u128::from(u32::from(n.network()))),
        IpNet::V6(n) => (true, n.prefix_len(), u128::from(n.network())),
    }
}

fn mask(bits: u128, len: u32, width: u32) -> u128 {
    if len == 0 {
        return 0;
    }
    let host = width - len;
    let ones: u128 = if width == 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    let keep = if host >= 128 { 0 } else { ones >> host << host };
    bits & keep
}

fn net_of(v6: bool, len: u8, addr: u128) -> Option<IpNet> {
    let ip = if v6 {
        IpAddr::V6(std::net::Ipv6Addr::from(addr))
    } else {
        IpAddr::V4(std::net::Ipv4Addr::from(u32::try_from(addr).ok()?))
    };
    IpNet::new(ip, len).ok()
}

/// The feed set investigators read: replaced whole when a feed is refreshed (the binary's feed
/// job builds a new [`FeedSet`] and stores it), read once per investigation.
#[derive(Debug, Default)]
pub struct SharedFeeds(std::sync::RwLock<std::sync::Arc<FeedSet>>);

impl SharedFeeds {
    pub fn new(set: std::sync::Arc<FeedSet>) -> std::sync::Arc<SharedFeeds> {
        std::sync::Arc::new(SharedFeeds(std::sync::RwLock::new(set)))
    }

    /// The current set (a poisoned lock still holds a whole set: it is replaced, never edited).
    pub fn load(&self) -> std::sync::Arc<FeedSet> {
        match self.0.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn store(&self, set: std::sync::Arc<FeedSet>) {
        match self.0.write() {
            Ok(mut g) => *g = set,
            Err(poisoned) => *poisoned.into_inner() = set,
        }
    }
}

//! The parts of the Sigma benchmark that run in-process: the fixture rules, Irene's engine and
//! rsigma-eval behind one face, their per-event comparison, NDJSON corpora, core pinning.
//!
//! # Layout
//!
//! - [`generate`]: the in-Rust corpus generator, twin of `scripts/gen_cloudtrail.py`.
//! - [`IreneEngine`], [`RsigmaEngine`]: the same rule files, the same events (`serde_json::Value`,
//!   borrowed by both), the same logsource routing (`product: aws`, `service: cloudtrail`).
//! - [`audit`]: both engines on every event, rule by rule, and where they disagree.
//! - [`pin_to_one_core`]: the calling thread (and what it spawns) on one CPU.
//!
//! The binary (`main.rs`) times the engines and runs pySigma; the tests compare hits on a small
//! generated corpus.

pub mod generate;

use anyhow::{Context, Result};
use irene_rules::sigma::{logsource_of, LogSource, SigmaRules};
use irene_rules::RuleFile;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// The crate's directory, where `scripts/` is.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The SigmaHQ fixture rules (`cloud/aws/cloudtrail`, `cloud/gcp/audit`).
pub fn rules_dir() -> PathBuf {
    crate_dir().join("../rules/tests/sigma/rules")
}

/// The CloudTrail rules alone (what pySigma is given: it has no logsource routing).
pub fn cloudtrail_rules_dir() -> PathBuf {
    rules_dir().join("cloud/aws/cloudtrail")
}

/// The fixture CloudTrail records the corpus varies.
pub fn cloudtrail_fixtures_dir() -> PathBuf {
    crate_dir().join("../sources/tests/fixtures/cloudtrail")
}

/// Every `.yml` file under `dir`, in path order, named by its path relative to `dir`.
pub fn rule_files(dir: &Path) -> Result<Vec<RuleFile>> {
    let mut out = Vec::new();
    for p in generate::files_under(dir)? {
        if p.extension().is_none_or(|x| x != "yml" && x != "yaml") {
            continue;
        }
        let text =
            std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        let name = p.strip_prefix(dir).unwrap_or(&p).display().to_string();
        out.push(RuleFile::new(name, text));
    }
    Ok(out)
}

/// The event source every corpus event is from.
pub const EVENT_SOURCE: &str = "aws.cloudtrail";

/// The one rule on which Irene and rsigma-eval 0.23 are known to differ:
/// `aws_disable_bucket_versioning` asks `requestParameters|contains: 'Suspended'`, and
/// CloudTrail's `requestParameters` is an object. Irene compares an object by its compact JSON
/// text, as the rule's author meant (see `irene_rules::sigma`); rsigma-eval finds no string
/// there and never matches (nor does pySigma, whose flattened columns hold no such text).
pub const OBJECT_AS_TEXT_RULE: &str = "a136ac98-b2bc-4189-a14d-f0d0388e57a7";

/// Irene's native Sigma engine, routing events as `aws.cloudtrail`.
pub struct IreneEngine {
    rules: SigmaRules,
    source: LogSource,
}

impl IreneEngine {
    /// Compiles `files`; returns the engine and one message per rule that did not load.
    pub fn new(files: &[RuleFile]) -> (Self, Vec<String>) {
        let (rules, errors) = SigmaRules::compile(files);
        let engine = IreneEngine {
            rules,
            source: logsource_of(EVENT_SOURCE),
        };
        (engine, errors.iter().map(ToString::to_string).collect())
    }

    /// Rules loaded.
    pub fn loaded(&self) -> usize {
        self.rules.len()
    }

    /// Rules whose logsource admits CloudTrail events.
    pub fn admitted(&self) -> usize {
        self.rules
            .rules()
            .iter()
            .filter(|r| r.logsource.admits(&self.source))
            .count()
    }

    /// The files of the rules checked on every CloudTrail event (no indexed test to guard them).
    pub fn always_checked(&self) -> Vec<String> {
        let files = self.files_by_id();
        self.rules
            .always_checked()
            .into_iter()
            .filter_map(|id| files.get(id).cloned())
            .collect()
    }

    /// Matching rules for one event: the timed operation.
    #[inline]
    pub fn hits(&self, event: &Value) -> u64 {
        let mut hits = 0;
        self.rules
            .for_each_match(&self.source, event, |_| hits += 1);
        hits
    }

    /// The ids of the rules matching `event`, sorted.
    pub fn matched_ids(&self, event: &Value) -> Vec<String> {
        let mut ids = Vec::new();
        self.rules
            .for_each_match(&self.source, event, |r| ids.push(r.id.clone()));
        ids.sort();
        ids
    }

    /// The file each rule id came from.
    pub fn files_by_id(&self) -> BTreeMap<String, String> {
        self.rules
            .rules()
            .iter()
            .map(|r| (r.id.clone(), r.file.clone()))
            .collect()
    }
}

/// rsigma-eval's engine (defaults: candidate index on, bloom pre-filter off), events evaluated
/// with the logsource `product: aws`, `service: cloudtrail`, as Irene routes them.
pub struct RsigmaEngine {
    engine: rsigma_eval::Engine,
    logsource: rsigma_parser::LogSource,
}

impl RsigmaEngine {
    /// Parses and compiles `files`; returns the engine and one message per problem.
    pub fn new(files: &[RuleFile]) -> (Self, Vec<String>) {
        let mut errors = Vec::new();
        let mut rules = Vec::new();
        for f in files {
            match rsigma_parser::parse_sigma_yaml(&f.text) {
                Ok(c) => {
                    errors.extend(c.errors.iter().map(|e| format!("{}: {e}", f.name)));
                    if !c.correlations.is_empty() || !c.filters.is_empty() {
                        errors.push(format!("{}: correlations and filters are left out", f.name));
                    }
                    rules.extend(c.rules);
                }
                Err(e) => errors.push(format!("{}: {e}", f.name)),
            }
        }
        let mut engine = rsigma_eval::Engine::new();
        for (i, e) in engine.add_rules(rules.iter()) {
            let title = rules.get(i).map(|r| r.title.as_str()).unwrap_or("?");
            errors.push(format!("{title}: {e}"));
        }
        let logsource = rsigma_parser::LogSource {
            product: Some("aws".into()),
            service: Some("cloudtrail".into()),
            ..Default::default()
        };
        (RsigmaEngine { engine, logsource }, errors)
    }

    /// Rules loaded.
    pub fn loaded(&self) -> usize {
        self.engine.rule_count()
    }

    /// Matching rules for one event: the timed operation.
    #[inline]
    pub fn hits(&self, event: &Value) -> u64 {
        let ev = rsigma_eval::JsonEvent::borrow(event);
        self.engine
            .evaluate_with_logsource(&ev, &self.logsource)
            .len() as u64
    }

    /// The ids of the rules matching `event`, sorted (the title when a rule has no id).
    pub fn matched_ids(&self, event: &Value) -> Vec<String> {
        let ev = rsigma_eval::JsonEvent::borrow(event);
        let mut ids: Vec<String> = self
            .engine
            .evaluate_with_logsource(&ev, &self.logsource)
            .into_iter()
            .map(|r| r.header.rule_id.unwrap_or(r.header.rule_title))
            .collect();
        ids.sort();
        ids
    }
}

/// Both engines over a corpus, rule by rule.
#[derive(Debug, Default)]
pub struct Audit {
    /// (event, rule) hits of each engine.
    pub irene_hits: u64,
    pub rsigma_hits: u64,
    /// Hits per rule id.
    pub irene_per_rule: BTreeMap<String, u64>,
    pub rsigma_per_rule: BTreeMap<String, u64>,
    /// Per rule id: events only Irene matched, events only rsigma matched, and the first such
    /// event's index in the corpus.
    pub disagreements: BTreeMap<String, Disagreement>,
}

/// Where the engines disagree on one rule.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Disagreement {
    pub only_irene: u64,
    pub only_rsigma: u64,
    pub first_event: usize,
}

/// Runs both engines on every event and compares their matches.
pub fn audit(irene: &IreneEngine, rsigma: &RsigmaEngine, events: &[Value]) -> Audit {
    let mut a = Audit::default();
    for (i, ev) in events.iter().enumerate() {
        let x = irene.matched_ids(ev);
        let y = rsigma.matched_ids(ev);
        a.irene_hits += x.len() as u64;
        a.rsigma_hits += y.len() as u64;
        for id in &x {
            *a.irene_per_rule.entry(id.clone()).or_default() += 1;
        }
        for id in &y {
            *a.rsigma_per_rule.entry(id.clone()).or_default() += 1;
        }
        if x == y {
            continue;
        }
        for id in x.iter().filter(|id| !y.contains(id)) {
            a.disagreements
                .entry(id.clone())
                .or_insert(Disagreement {
                    first_event: i,
                    ..Default::default()
                })
                .only_irene += 1;
        }
        for id in y.iter().filter(|id| !x.contains(id)) {
            a.disagreements
                .entry(id.clone())
                .or_insert(Disagreement {
                    first_event: i,
                    ..Default::default()
                })
                .only_rsigma += 1;
        }
    }
    a
}

/// Reads one JSON event per line (blank lines skipped); fails on the first bad line, naming it.
pub fn read_ndjson(path: &Path) -> Result<Vec<Value>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut out = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let v = serde_json::from_str(&line)
            .with_context(|| format!("{}: line {}: not JSON", path.display(), n + 1))?;
        out.push(v);
    }
    Ok(out)
}

/// Writes `n` events from the in-Rust generator to `path`, one per line.
pub fn write_rust_corpus(path: &Path, n: usize, seed: u64) -> Result<generate::Kinds> {
    let mut g = generate::Generator::new(&cloudtrail_fixtures_dir(), &rules_dir(), n, seed)?;
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    for _ in 0..n {
        serde_json::to_writer(&mut w, &g.next_event())?;
        w.write_all(b"\n")?;
    }
    w.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(g.kinds)
}

/// Pins the calling thread to one CPU it may run on (`core`, else the last allowed one) and
/// returns that CPU. Threads and processes it starts afterwards inherit the pin.
#[cfg(target_os = "linux")]
pub fn pin_to_one_core(core: Option<usize>) -> std::io::Result<usize> {
    use std::mem::{size_of, zeroed};
    // SAFETY: cpu_set_t is plain data (zeroed is its empty set); the calls get its true size.
    unsafe {
        let mut allowed: libc::cpu_set_t = zeroed();
        if libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut allowed) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &allowed))
            .collect();
        let cpu = match core {
            Some(c) if cpus.contains(&c) => c,
            Some(c) => {
                return Err(std::io::Error::other(format!(
                    "CPU {c} is not among those allowed: {cpus:?}"
                )))
            }
            None => *cpus
                .last()
                .ok_or_else(|| std::io::Error::other("no CPU allowed"))?,
        };
        let mut one: libc::cpu_set_t = zeroed();
        libc::CPU_SET(cpu, &mut one);
        if libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &one) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(cpu)
    }
}

/// Not on Linux: no pinning; the benchmark still runs on one thread.
#[cfg(not(target_os = "linux"))]
pub fn pin_to_one_core(_core: Option<usize>) -> std::io::Result<usize> {
    Err(std::io::Error::other(
        "pinning is only implemented on Linux",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engines() -> (IreneEngine, RsigmaEngine) {
        let files = rule_files(&rules_dir()).expect("fixture rules");
        // problems are shown, not fatal: the fixtures may gain rules one engine cannot load
        let (irene, errors) = IreneEngine::new(&files);
        errors.iter().for_each(|e| eprintln!("irene: {e}"));
        let (rsigma, errors) = RsigmaEngine::new(&files);
        errors.iter().for_each(|e| eprintln!("rsigma-eval: {e}"));
        (irene, rsigma)
    }

    fn corpus(n: usize) -> Vec<Value> {
        let mut g = generate::Generator::new(&cloudtrail_fixtures_dir(), &rules_dir(), n, 42)
            .expect("fixtures");
        (0..n).map(|_| g.next_event()).collect()
    }

    #[test]
    fn generator_makes_the_mix() {
        let mut g = generate::Generator::new(&cloudtrail_fixtures_dir(), &rules_dir(), 10_000, 7)
            .expect("fixtures");
        assert!(g.aws_rules() >= 57);
        for _ in 0..10_000 {
            g.next_event();
        }
        let k = g.kinds;
        assert!((9_300..9_700).contains(&k.background), "{k:?}");
        assert!((100..300).contains(&k.fixture), "{k:?}");
        assert!((200..400).contains(&k.rule), "{k:?}");
    }

    #[test]
    fn irene_and_rsigma_agree_on_a_small_corpus() {
        let (irene, rsigma) = engines();
        // the 57 SigmaHQ CloudTrail rules (and the 16 GCP audit ones) at least
        assert!(irene.loaded() >= 73 && irene.admitted() >= 57);
        assert_eq!(irene.loaded(), rsigma.loaded());
        let events = corpus(2_000);
        let a = audit(&irene, &rsigma, &events);
        assert!(a.irene_hits > 0);
        // the timed paths count what the audit saw
        let irene_hits: u64 = events.iter().map(|e| irene.hits(e)).sum();
        let rsigma_hits: u64 = events.iter().map(|e| rsigma.hits(e)).sum();
        assert_eq!((irene_hits, rsigma_hits), (a.irene_hits, a.rsigma_hits));
        // equal but for the documented rule, where only Irene matches
        let mut extra = 0;
        for (id, d) in &a.disagreements {
            assert_eq!(id, OBJECT_AS_TEXT_RULE, "{:#?}", a.disagreements);
            assert_eq!(d.only_rsigma, 0, "{d:?}");
            extra += d.only_irene;
        }
        assert_eq!(a.irene_hits, a.rsigma_hits + extra);
    }
}

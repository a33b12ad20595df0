//! How fast the SigmaHQ CloudTrail and GCP rules match CloudTrail events on one core.
//!
//! `cargo run --release -p irene-rules --example sigma_speed [EVENTS.ndjson] [N]`
//!
//! Without a file, builds N (default 1,000,000) events in memory, batch by batch, by varying
//! the fixture records (ids, times, IPs, accounts, identities): 95% are fixture records that no
//! rule matches with their (eventSource, eventName) swapped for another such pair, 5% fixture
//! records as they are (attack traces, sign-ins). With a file (e.g. from
//! `python3 ../shared/bench/gen_cloudtrail.py 1000000 /tmp/ct.ndjson 42`), reads one event per
//! line. Only matching is timed; building or parsing the events is timed and reported apart.
//! Batches of 20,000 events alternate: "cold" ones are made whole, then matched (each event has
//! left the CPU caches by then), "warm" ones are matched event by event right after each is
//! made, as the pipeline matches an event it has just decoded.
// Benchmark programs may unwrap, expect and read fixture files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use irene_rules::sigma::{logsource_of, SigmaRules};
use irene_rules::RuleFile;
use serde_json::{json, Value};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Events per batch; batches alternate between "cold" and "warm" matching.
const BATCH: usize = 20_000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn fixture_records(dir: &Path) -> Vec<Value> {
    let mut paths = Vec::new();
    files_under(dir, &mut paths);
    let mut out = Vec::new();
    for p in paths {
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue;
        };
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(mut m)) if m.contains_key("Records") => {
                if let Some(Value::Array(items)) = m.remove("Records") {
                    out.extend(items);
                }
            }
            Ok(Value::Array(items)) => out.extend(items),
            Ok(other) => out.push(other),
            Err(e) => eprintln!("{}: {e}", p.display()),
        }
    }
    out.retain(|r| r.get("eventName").is_some());
    out
}

/// Makes events from the fixture records.
struct Maker {
    rng: Rng,
    quiet: Vec<Value>,
    pairs: Vec<(Value, Value)>,
    all: Vec<Value>,
    made: u64,
}

impl Maker {
    fn event(&mut self) -> Value {
        self.made += 1;
        let mut e = if self.rng.below(100) < 95 {
            let mut e = self.quiet[self.rng.below(self.quiet.len())].clone();
            let (s, n) = &self.pairs[self.rng.below(self.pairs.len())];
            e["eventSource"] = s.clone();
            e["eventName"] = n.clone();
            e
        } else {
            self.all[self.rng.below(self.all.len())].clone()
        };
        let account = format!("{:012}", 100_000_000_000 + self.rng.below(50) as u64);
        let user = format!("user-{}", self.rng.below(500));
        e["eventID"] = json!(format!("{:016x}-{:08x}", self.rng.next(), self.made));
        e["eventTime"] = json!(format!(
            "2025-06-{:02}T{:02}:{:02}:{:02}Z",
            1 + self.rng.below(28),
            self.rng.below(24),
            self.rng.below(60),
            self.rng.below(60)
        ));
        e["recipientAccountId"] = json!(account);
        e["sourceIPAddress"] = json!(format!(
            "{}.{}.{}.{}",
            1 + self.rng.below(223),
            self.rng.below(256),
            self.rng.below(256),
            1 + self.rng.below(254)
        ));
        if let Some(ui) = e.get_mut("userIdentity").and_then(Value::as_object_mut) {
            ui.insert("accountId".into(), json!(account));
            if ui.get("type").and_then(Value::as_str) == Some("IAMUser") {
                ui.insert("userName".into(), json!(user));
                ui.insert(
                    "arn".into(),
                    json!(format!("arn:aws:iam::{account}:user/{user}")),
                );
            }
        }
        e
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sigma");
    let mut rule_paths = Vec::new();
    files_under(&base.join("rules"), &mut rule_paths);
    let files: Vec<RuleFile> = rule_paths
        .iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(p).ok()?;
            Some(RuleFile::new(p.display().to_string(), text))
        })
        .collect();
    let t = Instant::now();
    let (rules, errors) = SigmaRules::compile(&files);
    let compile = t.elapsed();
    for e in &errors {
        eprintln!("{e}");
    }
    println!(
        "{} rules compiled in {:.1} ms ({} checked for every event of their logsource)",
        rules.len(),
        compile.as_secs_f64() * 1e3,
        rules.always_checked().len()
    );
    let source = logsource_of("aws.cloudtrail");

    // even batches "cold" (the whole batch is made, then matched: each event has left the CPU
    // caches), odd batches "warm" (each event matched right after it is made, as the pipeline
    // does after decoding; timed event by event, which adds the clock's own cost)
    let batch = BATCH;
    let mut cold = Tally::default();
    let mut warm = Tally::default();
    let mut prepared = Duration::ZERO;
    let mut events: Vec<Value> = Vec::with_capacity(batch);
    let mut count = |ev: &Value| {
        let mut hits = 0u64;
        rules.for_each_match(&source, ev, |_| hits += 1);
        hits
    };
    let mut next: Box<dyn FnMut() -> Option<Value>>;
    let what;
    if let Some(path) = args.first().filter(|a| a.parse::<usize>().is_err()) {
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("{path}: {e}");
                std::process::exit(2);
            }
        };
        let mut lines = std::io::BufReader::with_capacity(1 << 20, file).lines();
        next = Box::new(move || loop {
            match lines.next()? {
                Ok(line) => match serde_json::from_str::<Value>(&line) {
                    Ok(v) => return Some(v),
                    Err(e) => eprintln!("bad line: {e}"),
                },
                Err(e) => {
                    eprintln!("{e}");
                    return None;
                }
            }
        });
        what = format!("read from {path}; parsing");
    } else {
        let n: usize = args
            .iter()
            .find_map(|a| a.parse().ok())
            .unwrap_or(1_000_000);
        let all = fixture_records(&base.join("events/cloudtrail"));
        let quiet: Vec<Value> = all
            .iter()
            .filter(|r| rules.matches_naive(&source, r).is_empty())
            .cloned()
            .collect();
        let mut pairs: Vec<(Value, Value)> = quiet
            .iter()
            .map(|r| (r["eventSource"].clone(), r["eventName"].clone()))
            .collect();
        pairs.sort_by_key(|(s, n)| format!("{s}{n}"));
        pairs.dedup();
        let mut maker = Maker {
            rng: Rng(0x9e37_79b9_7f4a_7c15),
            quiet,
            pairs,
            all,
            made: 0,
        };
        let mut left = n;
        next = Box::new(move || {
            left = left.checked_sub(1)?;
            Some(maker.event())
        });
        what = "built in memory from the fixtures; building".to_string();
    }
    let mut odd = false;
    loop {
        if odd {
            let mut done = false;
            for _ in 0..batch {
                let t = Instant::now();
                let Some(ev) = next() else {
                    done = true;
                    break;
                };
                let t2 = Instant::now();
                prepared += t2 - t;
                let hits = count(&ev);
                warm.add(t2.elapsed(), 1, hits);
                events.push(ev);
            }
            events.clear();
            if done {
                break;
            }
        } else {
            let t = Instant::now();
            events.extend(std::iter::from_fn(&mut next).take(batch));
            prepared += t.elapsed();
            if events.is_empty() {
                break;
            }
            let t = Instant::now();
            let hits: u64 = events.iter().map(&mut count).sum();
            cold.add(t.elapsed(), events.len() as u64, hits);
            events.clear();
        }
        odd = !odd;
    }
    let total = cold.events + warm.events;
    println!(
        "{total} events ({what} took {:.2} s, not timed), {} hits",
        prepared.as_secs_f64(),
        cold.hits + warm.hits
    );
    for (name, t) in [("cold", &cold), ("warm", &warm)] {
        let secs = t.time.as_secs_f64();
        println!(
            "matching, {name}: {} events in {secs:.3} s: {:.0} events/s on one core ({:.0} ns/event), {} hits",
            t.events,
            t.events as f64 / secs,
            secs * 1e9 / t.events.max(1) as f64,
            t.hits
        );
    }
    let secs = (cold.time + warm.time).as_secs_f64();
    println!(
        "matching, all: {:.0} events/s on one core",
        total as f64 / secs
    );
}

#[derive(Default)]
struct Tally {
    time: Duration,
    events: u64,
    hits: u64,
}

impl Tally {
    fn add(&mut self, time: Duration, events: u64, hits: u64) {
        self.time += time;
        self.events += events;
        self.hits += hits;
    }
}

//! `irene-sigma-bench`: events/s of Irene's Sigma engine over a CloudTrail corpus on one core,
//! side by side in the same run with rsigma-eval (in-process) and pySigma + SQLite (a child).
//!
//! `cargo run --release -p irene-sigma-bench -- [--events N] [--corpus PATH] [--skip-pysigma]`
//!
//! The corpus is `--corpus` (NDJSON), else `scripts/gen_cloudtrail.py N PATH SEED` (Python with
//! PyYAML), else the in-Rust twin of that script; generated corpora are cached under
//! `$CARGO_TARGET_DIR/irene-sigma-bench` (or `target/`). Events are parsed once, untimed. All
//! 73 fixture rules are loaded into Irene and rsigma-eval, which route CloudTrail events to the
//! 57 CloudTrail rules; pySigma gets those 57 (its SQL has no logsource routing). Irene and
//! rsigma-eval run in alternating passes on one pinned CPU (the machine drifts; medians count);
//! pySigma runs afterwards on the same CPU, from the same corpus file.

use anyhow::{bail, Context, Result};
use clap::Parser;
use irene_sigma_bench::{
    audit, cloudtrail_fixtures_dir, cloudtrail_rules_dir, crate_dir, generate, pin_to_one_core,
    read_ndjson, rule_files, rules_dir, write_rust_corpus, Audit, IreneEngine, RsigmaEngine,
    OBJECT_AS_TEXT_RULE,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The rsigma-eval release measured (pinned with `=` in the workspace's Cargo.toml).
const RSIGMA_VERSION: &str = "0.23.0";

#[derive(Parser, Debug)]
#[command(
    name = "irene-sigma-bench",
    about = "Events/s of Irene's Sigma engine on CloudTrail, beside rsigma-eval and pySigma + SQLite"
)]
struct Args {
    /// Events to generate when no corpus is given.
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// An NDJSON corpus (one CloudTrail record per line) instead of a generated one.
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// Do not run pySigma.
    #[arg(long)]
    skip_pysigma: bool,
    /// Timed passes of each in-process engine, alternating; the median is reported.
    #[arg(long, default_value_t = 3)]
    passes: usize,
    /// Timed repetitions of pySigma's queries (its script reports the median).
    #[arg(long, default_value_t = 3)]
    pysigma_reps: usize,
    /// Seed of the generated corpus.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Generate with the in-Rust generator even when Python and PyYAML are there.
    #[arg(long)]
    rust_generator: bool,
    /// The CPU to run on (default: the last one this process may use).
    #[arg(long)]
    core: Option<usize>,
    /// The Python interpreter for the generator and pySigma.
    #[arg(long, env = "PYTHON", default_value = "python3")]
    python: String,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.events == 0 || args.passes == 0 || args.pysigma_reps == 0 {
        bail!("--events, --passes and --pysigma-reps must be at least 1");
    }

    // 1. the corpus
    let (corpus, how) = corpus(&args)?;
    println!("corpus: {} ({how})", corpus.display());

    // 2. parsed once, untimed for the engines
    let t = Instant::now();
    let events = read_ndjson(&corpus)?;
    let parse = t.elapsed().as_secs_f64();
    if events.is_empty() {
        bail!("{}: no events", corpus.display());
    }
    let n = events.len();
    let bytes = std::fs::metadata(&corpus).map(|m| m.len()).unwrap_or(0);
    println!(
        "parsed {n} events ({:.2} GB of NDJSON; resident now {:.2} GB) in {parse:.1} s ({:.0} events/s; not counted below)",
        bytes as f64 / 1e9,
        resident_gb(),
        n as f64 / parse
    );

    // 3, 4. both in-process engines, the same rule files
    let files = rule_files(&rules_dir())?;
    let t = Instant::now();
    let (irene, errors) = IreneEngine::new(&files);
    let irene_compile = t.elapsed().as_secs_f64();
    report_errors("irene", &errors);
    let t = Instant::now();
    let (rsigma, errors) = RsigmaEngine::new(&files);
    let rsigma_compile = t.elapsed().as_secs_f64();
    report_errors("rsigma-eval", &errors);
    println!(
        "rules: {} files; irene loaded {} in {:.1} ms ({} for aws/cloudtrail), rsigma-eval {RSIGMA_VERSION} loaded {} in {:.1} ms",
        files.len(),
        irene.loaded(),
        irene_compile * 1e3,
        irene.admitted(),
        rsigma.loaded(),
        rsigma_compile * 1e3
    );

    let always = irene.always_checked();
    println!(
        "irene checks {} rules on every CloudTrail event (no indexed test): {}",
        always.len(),
        always.join(", ")
    );
    match pin_to_one_core(args.core) {
        Ok(cpu) => println!("pinned to CPU {cpu}; every engine runs on one thread there"),
        Err(e) => println!("not pinned ({e}); every engine still runs on one thread"),
    }

    // untimed: both engines on every event, compared rule by rule (also warms both up)
    let t = Instant::now();
    let a = audit(&irene, &rsigma, &events);
    println!(
        "audit (untimed, {:.1} s): irene {} hits, rsigma-eval {} hits",
        t.elapsed().as_secs_f64(),
        a.irene_hits,
        a.rsigma_hits
    );
    print_disagreements(&a, &irene.files_by_id(), &events);

    // timed, alternating
    let mut irene_eps = Vec::new();
    let mut rsigma_eps = Vec::new();
    let mut irene_hits = 0;
    let mut rsigma_hits = 0;
    for pass in 1..=args.passes {
        let t = Instant::now();
        irene_hits = events.iter().map(|e| irene.hits(e)).sum::<u64>();
        let secs = t.elapsed().as_secs_f64();
        irene_eps.push(n as f64 / secs);
        println!(
            "pass {pass}: irene       {:>10.0} events/s ({secs:.3} s, {irene_hits} hits)",
            n as f64 / secs
        );
        let t = Instant::now();
        rsigma_hits = events.iter().map(|e| rsigma.hits(e)).sum::<u64>();
        let secs = t.elapsed().as_secs_f64();
        rsigma_eps.push(n as f64 / secs);
        println!(
            "pass {pass}: rsigma-eval {:>10.0} events/s ({secs:.3} s, {rsigma_hits} hits)",
            n as f64 / secs
        );
    }
    // give the memory back before pySigma loads the corpus into SQLite
    drop(events);
    release_freed_memory();
    let irene_med = median(&mut irene_eps);
    let rsigma_med = median(&mut rsigma_eps);

    // 5. pySigma on the same corpus file, same CPU (a child inherits the pin)
    let py = if args.skip_pysigma {
        Err("skipped (--skip-pysigma)".to_string())
    } else {
        run_pysigma(&args, &corpus, n)
    };
    if let Ok(p) = &py {
        print_pysigma(p, &a);
    }

    // 6. the table
    println!();
    println!(
        "{n} CloudTrail events, one core, medians of {} passes (pySigma: {} query repetitions)",
        args.passes, args.pysigma_reps
    );
    println!(
        "{:<34} {:>18} {:>10}",
        "engine", "events/s (median)", "hits"
    );
    println!(
        "{:<34} {:>18.0} {:>10}",
        "irene (native Sigma)", irene_med, irene_hits
    );
    println!(
        "{:<34} {:>18.0} {:>10}",
        format!("rsigma-eval {RSIGMA_VERSION}"),
        rsigma_med,
        rsigma_hits
    );
    match &py {
        Ok(p) => {
            println!(
                "{:<34} {:>18.0} {:>10}",
                format!("pySigma {} + SQLite, queries", p.version),
                p.query_eps,
                p.hits
            );
            println!(
                "{:<34} {:>18.0} {:>10}",
                "pySigma + SQLite, loading", p.load_eps, "-"
            );
        }
        Err(why) => println!("{:<34} {:>18} {:>10}", "pySigma + SQLite", "not run", why),
    }
    println!(
        "irene/rsigma-eval: {:.2}x{}",
        irene_med / rsigma_med,
        match &py {
            Ok(p) => format!("; irene/pySigma queries: {:.1}x", irene_med / p.query_eps),
            Err(_) => String::new(),
        }
    );
    Ok(())
}

/// This process's resident memory (Linux), else NaN.
fn resident_gb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1e6)
}

/// Returns freed heap pages to the system (glibc keeps them otherwise).
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn report_errors(engine: &str, errors: &[String]) {
    for e in errors {
        eprintln!("{engine}: {e}");
    }
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    let m = xs.len() / 2;
    if xs.len() % 2 == 1 {
        xs[m]
    } else {
        (xs[m - 1] + xs[m]) / 2.0
    }
}

fn print_disagreements(a: &Audit, files: &BTreeMap<String, String>, events: &[Value]) {
    if a.disagreements.is_empty() {
        println!("irene and rsigma-eval agree on every (event, rule) pair");
        return;
    }
    println!("irene and rsigma-eval disagree on these rules:");
    for (id, d) in &a.disagreements {
        let ev = events.get(d.first_event);
        let known = if id == OBJECT_AS_TEXT_RULE {
            " [known: an object compared as JSON text, see OBJECT_AS_TEXT_RULE]"
        } else {
            ""
        };
        println!(
            "  {} ({id}): only irene {}, only rsigma-eval {}; first: event {} ({} {}){known}",
            files.get(id).map(String::as_str).unwrap_or("?"),
            d.only_irene,
            d.only_rsigma,
            d.first_event,
            ev.and_then(|e| e["eventSource"].as_str()).unwrap_or("-"),
            ev.and_then(|e| e["eventName"].as_str()).unwrap_or("-"),
        );
    }
}

/// Where generated corpora are kept between runs.
fn cache_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate_dir().join("../../target"));
    target.join("irene-sigma-bench")
}

/// Whether `python` can import `module`.
fn python_has(python: &str, module: &str) -> bool {
    Command::new(python)
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// FNV-1a over the generator's inputs, so a cached corpus follows them.
fn inputs_hash(script: Option<&Path>) -> Result<u64> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    match script {
        Some(p) => eat(&std::fs::read(p).with_context(|| format!("reading {}", p.display()))?),
        None => eat(&generate::VERSION.to_le_bytes()),
    }
    for dir in [cloudtrail_fixtures_dir(), rules_dir()] {
        for p in generate::files_under(&dir)? {
            eat(p
                .strip_prefix(&dir)
                .unwrap_or(&p)
                .to_string_lossy()
                .as_bytes());
            eat(&std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?);
        }
    }
    Ok(h)
}

/// The corpus file and how it was made.
fn corpus(args: &Args) -> Result<(PathBuf, String)> {
    if let Some(p) = &args.corpus {
        if !p.is_file() {
            bail!("--corpus {}: no such file", p.display());
        }
        return Ok((p.clone(), "given with --corpus".into()));
    }
    let (n, seed) = (args.events, args.seed);
    let script = crate_dir().join("scripts/gen_cloudtrail.py");
    let python = !args.rust_generator && python_has(&args.python, "yaml");
    let (tag, hash) = if python {
        ("py", inputs_hash(Some(&script))?)
    } else {
        ("rust", inputs_hash(None)?)
    };
    let dir = cache_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!(
        "cloudtrail-{tag}-{n}-seed{seed}-{hash:016x}.ndjson"
    ));
    let what = if python {
        format!(
            "scripts/gen_cloudtrail.py {n} … {seed} ({} with PyYAML)",
            args.python
        )
    } else if args.rust_generator {
        format!("the in-Rust generator, {n} events, seed {seed} (--rust-generator)")
    } else {
        format!(
            "the in-Rust generator, {n} events, seed {seed} ({} with PyYAML not found)",
            args.python
        )
    };
    if path.is_file() {
        return Ok((path, format!("cached; made by {what}")));
    }
    let tmp = path.with_extension("ndjson.tmp");
    println!("generating {n} events with {what} …");
    let t = Instant::now();
    if python {
        let status = Command::new(&args.python)
            .arg(&script)
            .arg(n.to_string())
            .arg(&tmp)
            .arg(seed.to_string())
            .env("IRENE_CT_FIXTURES", cloudtrail_fixtures_dir())
            .env("IRENE_SIGMA_RULES", rules_dir())
            .status()
            .with_context(|| format!("running {}", args.python))?;
        if !status.success() {
            bail!("{} failed: {status}", script.display());
        }
    } else {
        let k = write_rust_corpus(&tmp, n, seed)?;
        println!(
            "kinds: background {}, fixture {}, rule-shaped {}",
            k.background, k.fixture, k.rule
        );
    }
    std::fs::rename(&tmp, &path).with_context(|| format!("renaming {}", tmp.display()))?;
    Ok((
        path,
        format!("made by {what} in {:.0} s", t.elapsed().as_secs_f64()),
    ))
}

/// What pySigma's script reported.
struct PySigma {
    version: String,
    query_eps: f64,
    load_eps: f64,
    hits: u64,
    raw: Value,
}

fn run_pysigma(args: &Args, corpus: &Path, n: usize) -> std::result::Result<PySigma, String> {
    if !python_has(&args.python, "sigma.backends.sqlite") {
        let why = format!(
            "{} cannot import sigma.backends.sqlite (pip install pysigma pysigma-backend-sqlite)",
            args.python
        );
        println!("pySigma not run: {why}");
        return Err("not installed".into());
    }
    let script = crate_dir().join("scripts/pysigma_bench.py");
    println!(
        "running pySigma + SQLite on the same corpus ({} query repetitions; loading takes a while) …",
        args.pysigma_reps
    );
    let out = Command::new(&args.python)
        .arg(&script)
        .arg(cloudtrail_rules_dir())
        .arg(corpus)
        .arg(args.pysigma_reps.to_string())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("running {}: {e}", args.python))?;
    if !out.status.success() {
        println!("pySigma failed: {}", out.status);
        return Err("failed".into());
    }
    let raw: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        println!("pySigma printed no JSON: {e}");
        "bad output".to_string()
    })?;
    let num = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let p = PySigma {
        version: raw["pySigma"].as_str().unwrap_or("?").to_string(),
        query_eps: num(&raw["events_per_s_min_med_max"][1]),
        load_eps: num(&raw["load_events_per_s"]),
        hits: raw["total_matches"].as_u64().unwrap_or(0),
        raw,
    };
    if p.raw["events"].as_u64() != Some(n as u64) {
        println!(
            "warning: pySigma loaded {} events, the engines {n}",
            p.raw["events"]
        );
    }
    Ok(p)
}

fn print_pysigma(p: &PySigma, a: &Audit) {
    let r = &p.raw;
    println!(
        "pySigma {} (backend {}, SQLite {}, Python {}): {} of {} rules converted; load {:.1} s ({:.0} events/s, {} columns, RSS {} MB); queries {} s",
        p.version,
        r["backend"].as_str().unwrap_or("?"),
        r["sqlite"].as_str().unwrap_or("?"),
        r["python"].as_str().unwrap_or("?"),
        r["rules_converted"],
        r["rules"],
        r["load_s"].as_f64().unwrap_or(f64::NAN),
        p.load_eps,
        r["columns"],
        r["rss_after_load_kb"].as_u64().unwrap_or(0) / 1024,
        r["query_s"],
    );
    if let Some(skipped) = r["rules_skipped"].as_array().filter(|s| !s.is_empty()) {
        println!("pySigma could not convert: {skipped:?}");
    }
    if let Some(errs) = r["query_errors"].as_object().filter(|e| !e.is_empty()) {
        println!(
            "pySigma queries that failed (a column no event has; they match nothing): {}",
            errs.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    // per rule, against Irene's counts from the audit
    let Some(per_rule) = r["per_rule"].as_object() else {
        return;
    };
    let mut differ = Vec::new();
    for (key, count) in per_rule {
        let (stem, id) = key.split_once('|').unwrap_or((key, key));
        let py = count.as_u64().unwrap_or(0);
        let irene = a.irene_per_rule.get(id).copied().unwrap_or(0);
        if py != irene {
            differ.push(format!("{stem}: irene {irene}, pySigma {py}"));
        }
    }
    if differ.is_empty() {
        println!("irene and pySigma agree on every rule's hit count");
    } else {
        println!("irene and pySigma differ on these rules' hit counts:");
        for d in differ {
            println!("  {d}");
        }
    }
}

//! `irene bench --exposure`: the time to investigate one alert whose firewall exposes 50
//! targets × 5 ports (real HTTP listeners on 127.0.0.1–50), probes and screenshots included,
//! and the peak memory of Irene and of Chromium meanwhile. Measures only; asserts nothing.

use crate::bench::BenchArgs;
use irene_core::{correlate, Alert, Judged, Severity};
use irene_investigate::exposure::ExposureCheck;
use irene_investigate::exposure_seams::{Exposure, LookupError, PortRange, Target, TargetLookup};
use irene_investigate::{Input, Investigator};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Stands in for the cloud's answer: the listeners, as the lookup would list them.
struct Listed(Exposure);

#[async_trait::async_trait]
impl TargetLookup for Listed {
    async fn lookup(&self, _alert: &Alert) -> Result<Exposure, LookupError> {
        Ok(self.0.clone())
    }
}

/// A small web page on `addr:0`; returns its port.
async fn serve(addr: Ipv4Addr, n: usize) -> anyhow::Result<u16> {
    let l = tokio::net::TcpListener::bind((addr, 0)).await?;
    let port = l.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf).await;
                let body = format!(
                    "<html><head><title>Service {n} on {addr}:{port}</title></head>\
                     <body style=\"background:#2a6\"><h1>Service {n}</h1></body></html>"
                );
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    Ok(port)
}

/// Resident memory (kB) of this process at its peak, and of every Chromium process now
/// (proportional set size, so that pages the processes share are counted once).
fn rss_kb() -> (u64, u64) {
    let field = |status: &str, name: &str| -> u64 {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let own = std::fs::read_to_string("/proc/self/status")
        .map(|s| field(&s, "VmHWM:"))
        .unwrap_or(0);
    let mut chromium = 0;
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let p = e.path();
            let cmd = std::fs::read(p.join("cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmd).contains("chromium") {
                chromium += std::fs::read_to_string(p.join("smaps_rollup"))
                    .map(|s| field(&s, "Pss:"))
                    .unwrap_or(0);
            }
        }
    }
    (own, chromium)
}

pub async fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let (targets_n, ports_n) = (args.exposure_targets, args.exposure_ports);
    let mut targets = Vec::with_capacity(targets_n);
    for t in 0..targets_n {
        let addr = Ipv4Addr::new(127, 0, 0, u8::try_from(t + 1).unwrap_or(u8::MAX));
        let mut ports = Vec::with_capacity(ports_n);
        for p in 0..ports_n {
            ports.push(serve(addr, t * ports_n + p).await?);
        }
        targets.push(Target {
            address: IpAddr::V4(addr),
            ports,
            origin: "bench".into(),
            resource: Some(format!("instance-{t}")),
        });
    }
    let exposure = Exposure {
        rule_id: Some("sg-bench".into()),
        open_to_world: true,
        gone: false,
        open_ports: vec![PortRange { from: 1, to: 65535 }],
        targets,
        notes: vec![],
    };
    let probe = irene_probe::Probe::new(irene_probe::ProbeConfig {
        ports_per_target: ports_n,
        targets_per_alert: targets_n,
        total_secs: 600,
        allow: vec!["127.0.0.0/8".into()],
        ..Default::default()
    })?;
    let policy = probe.policy().clone();
    let browser = irene_browser::Browser::new(
        irene_browser::BrowserConfig::default(),
        Arc::new(move |ip| policy.check(ip).map_err(|d| d.to_string())),
    );
    let check = ExposureCheck::new(
        Some(Arc::new(Listed(exposure))),
        Arc::new(probe),
        Some(Arc::new(browser)),
    );
    let alert = Alert::new(
        "aws.securityhub",
        "EC2.19",
        "bench-exposure",
        "Security group allows unrestricted access to high-risk ports",
        Severity::High,
        serde_json::json!({}),
    );
    let judged = Judged::unjudged(alert.clone());
    let now = chrono::Utc::now();
    let case = correlate(
        None,
        &judged,
        uuid::Uuid::now_v7(),
        uuid::Uuid::now_v7(),
        now,
    )
    .map(|c| c.case)
    .ok_or_else(|| anyhow::anyhow!("no case"))?;

    // sample Chromium's memory while it works
    let done = Arc::new(AtomicBool::new(false));
    let peak_chromium = Arc::new(AtomicU64::new(0));
    let sampler = {
        let done = done.clone();
        let peak = peak_chromium.clone();
        tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                let (_, c) = tokio::task::spawn_blocking(rss_kb).await.unwrap_or((0, 0));
                peak.fetch_max(c, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let events = irene_investigate::events::NoEvents;
    let input = Input {
        case: &case,
        alert: &alert,
        now,
        events: &events,
        watches: &irene_investigate::NoWatches,
    };
    let started = Instant::now();
    let out = check.investigate(&input).await;
    let took = started.elapsed();
    done.store(true, Ordering::SeqCst);
    let _ = sampler.await;
    let (own, _) = rss_kb();
    println!(
        "exposure: {targets_n} targets x {ports_n} ports: {:.1} s, {} probed, {} open, {} screenshots, status {:?}",
        took.as_secs_f64(),
        out.findings["probed"],
        out.findings["open_ports"].as_array().map_or(0, Vec::len),
        out.attachments.len(),
        out.status
    );
    println!(
        "exposure: peak RSS irene {:.0} MiB, chromium (all its processes, PSS) {:.0} MiB",
        own as f64 / 1024.0,
        peak_chromium.load(Ordering::SeqCst) as f64 / 1024.0
    );
    Ok(())
}

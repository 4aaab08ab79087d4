//! Phase 6, the soak: the real `serve` binary against a real `nats-server -js` for
//! `BENCH_SOAK_MIN` minutes (10; 0 skips it), events published at a steady
//! `BENCH_SOAK_RATE` per second (200) while `/metrics` is scraped every second and the
//! month API read ten times a second, each over its own kept-alive connection. It prints
//! p50/p99 per endpoint, the errors (any non-200 or transport failure), the tracker's RSS
//! every 10 s and the slope of RSS after the warm-up (the first fifth), by least squares.

use super::*;
use std::sync::atomic::{AtomicBool, Ordering};

pub(crate) struct Soak {
    pub(crate) minutes: f64,
    pub(crate) rate: usize,
}

impl Soak {
    pub(crate) fn from_env() -> anyhow::Result<Soak> {
        Ok(Soak {
            minutes: env_num("BENCH_SOAK_MIN", 10)? as f64,
            rate: env_num("BENCH_SOAK_RATE", 200)?.max(1),
        })
    }
}

/// Latencies of one endpoint, in milliseconds, and its failures.
#[derive(Default)]
struct Probe {
    ms: Vec<f64>,
    errors: Vec<String>,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Slope of `y` over `x` by least squares.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if n < 2.0 {
        return f64::NAN;
    }
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| {
        (a + (x - mx) * (y - my), b + (x - mx) * (x - mx))
    });
    num / den
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// GETs `url` every `every` until `stop`, timing each answer read whole.
fn poll(url: String, every: Duration, stop: Arc<AtomicBool>) -> Probe {
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut probe = Probe::default();
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        match agent.get(&url).call() {
            Ok(mut r) => {
                let status = r.status().as_u16();
                let body = r.body_mut().read_to_vec();
                probe.ms.push(t.elapsed().as_secs_f64() * 1e3);
                match body {
                    Ok(_) if status == 200 => {}
                    Ok(_) => probe.errors.push(format!("HTTP {status}")),
                    Err(e) => probe.errors.push(e.to_string()),
                }
            }
            Err(e) => probe.errors.push(e.to_string()),
        }
        next += every;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        } else {
            next = Instant::now();
        }
    }
    probe
}

pub(crate) fn soak_phase(soak: &Soak, officers: u32, table: &mut Table) -> anyhow::Result<()> {
    let secs = soak.minutes * 60.0;
    let n = (secs * soak.rate as f64) as usize + soak.rate;
    println!(
        "\n== Phase 6: soak, {:.0} min at {} events/s ({n} events) ==",
        soak.minutes, soak.rate
    );
    let (payloads, subjects) = generate(n, officers, "2024-01-01")?;
    let nats = common::NatsServer::start();
    let dir = tempfile::tempdir()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let js = rt.block_on(async {
        let js = jetstream::new(connect(&nats.url()).await?);
        ensure_streams(&js, 1).await?;
        anyhow::Ok(js)
    })?;
    let tracker = common::TrackerProcess::spawn(&nats.url(), dir.path());
    rt.block_on(tracker.wait_ready());
    let pid = tracker.pid();

    let stop = Arc::new(AtomicBool::new(false));
    // The month the test clock (`TEST_AS_OF`) is in: the month in progress, the costliest.
    let month = &common::TEST_AS_OF[..7];
    let scrape = {
        let (url, stop) = (format!("{}/metrics", tracker.base), stop.clone());
        std::thread::spawn(move || poll(url, Duration::from_secs(1), stop))
    };
    let api = {
        let url = format!("{}/api/v1/months/{month}", tracker.base);
        let stop = stop.clone();
        std::thread::spawn(move || poll(url, Duration::from_millis(100), stop))
    };
    let rss = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let t0 = Instant::now();
            let mut v = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                v.push((t0.elapsed().as_secs_f64(), rss_kib(pid)));
                let until = Instant::now() + Duration::from_secs(10);
                while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            v.push((t0.elapsed().as_secs_f64(), rss_kib(pid)));
            v
        })
    };

    // Publish at the steady rate: one tick every 10 ms, the events due by then.
    let published = rt.block_on(async {
        let mut window = Window::new(&js, 1024);
        let t0 = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut sent = 0usize;
        while t0.elapsed().as_secs_f64() < secs {
            tick.tick().await;
            let due = ((t0.elapsed().as_secs_f64() * soak.rate as f64) as usize).min(n);
            while sent < due {
                let id = serde_json::from_slice::<serde_json::Value>(&payloads[sent])?["event_id"]
                    .as_str()
                    .map(str::to_owned);
                let payload = bytes::Bytes::copy_from_slice(&payloads[sent]);
                if let Some((_, ack)) = window
                    .send((), subjects[sent].clone(), payload, id.as_deref())
                    .await?
                {
                    ack?;
                }
                sent += 1;
            }
        }
        while let Some((_, ack)) = window.next().await {
            ack?;
        }
        anyhow::Ok(sent)
    })?;
    stop.store(true, Ordering::Relaxed);
    let scrape = scrape.join().expect("scrape thread");
    let api = api.join().expect("api thread");
    let rss = rss.join().expect("rss thread");
    drop(tracker);

    println!("published {published} events in {:.0} s", secs);
    for (t, kib) in &rss {
        println!("  RSS at {:>5.0} s: {} MiB", t, mib(*kib));
    }
    let warm = secs / 5.0;
    let after: Vec<(f64, f64)> = rss
        .iter()
        .filter(|(t, _)| *t >= warm)
        .map(|(t, k)| (*t / 3600.0, *k as f64 / 1024.0))
        .collect();
    let mib_per_h = slope(&after);
    let mut errors = 0;
    for (name, probe) in [("/metrics", &scrape), ("month API", &api)] {
        let mut ms = probe.ms.clone();
        ms.sort_by(f64::total_cmp);
        let (p50, p99) = (percentile(&ms, 0.5), percentile(&ms, 0.99));
        println!(
            "{name}: {} requests, p50 {}, p99 {}, max {}, {} errors{}",
            ms.len(),
            fmt_ms(p50),
            fmt_ms(p99),
            fmt_ms(ms.last().copied().unwrap_or(f64::NAN)),
            probe.errors.len(),
            probe
                .errors
                .first()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        );
        errors += probe.errors.len();
        table.row(
            format!("soak {name}, {} requests", ms.len()),
            format!("p50 {} / p99 {}", fmt_ms(p50), fmt_ms(p99)),
            "",
            "",
            "",
            "",
        );
    }
    table.row(
        format!("soak errors ({:.0} min, {} ev/s)", soak.minutes, soak.rate),
        errors.to_string(),
        "",
        "",
        "0",
        verdict(errors == 0),
    );
    let (first, last) = (
        rss.first().map_or(0, |r| r.1),
        rss.last().map_or(0, |r| r.1),
    );
    table.row(
        "soak RSS after warm-up: slope",
        format!("{mib_per_h:.1} MiB/h ({} -> {} MiB)", mib(first), mib(last)),
        "",
        "",
        "~0",
        "",
    );
    Ok(())
}

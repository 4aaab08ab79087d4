//! Phase 4: the big store built in stages on each engine, a serving process after each
//! stage, then its cold rebuild (the build child itself is in `build.rs`).

use super::*;

#[derive(Serialize, Deserialize, Clone)]
pub(crate) struct Sample {
    pub(crate) events: usize,
    pub(crate) rss_kib: u64,
    pub(crate) disk: u64,
    /// Events per second folded since the previous sample (wall clock).
    pub(crate) rate: f64,
    pub(crate) month: String,
    /// Median `figures::month` over the latest complete month, 5 runs.
    pub(crate) report_ms: f64,
    /// Median `Metrics::render`, 3 runs.
    pub(crate) render_ms: f64,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct Build {
    pub(crate) events: usize,
    pub(crate) raw_bytes: usize,
    pub(crate) wall_s: f64,
    pub(crate) gen_busy_s: f64,
    pub(crate) fold_busy_s: f64,
    pub(crate) samples: Vec<Sample>,
    pub(crate) report_month: String,
    pub(crate) peak_rss_kib: u64,
    /// Amendments of something other than reason or end (the SQL ignores those).
    pub(crate) ignored_amendments: u64,
    /// How long each of sled's recovery snapshots closed the store while folding, as
    /// `serve` has them taken every `store::SNAPSHOT_EVERY` events, and the one a clean
    /// stop takes at the end.
    pub(crate) snapshot_pauses_s: Vec<f64>,
    pub(crate) stop_snapshot_s: f64,
}

/// Sizes at which the big store's growth stops for a serving process to open it: a
/// tenth, three tenths and all of it (1M, 3M and 10M by default, the sizes issue 23's
/// RSS target names).
fn stages(events: usize) -> Vec<usize> {
    let mut v: Vec<usize> = [events / 10, events * 3 / 10, events]
        .into_iter()
        .filter(|&s| s > 0)
        .collect();
    v.dedup();
    v
}

fn millions(events: usize) -> String {
    if events >= 1_000_000 {
        format!("{:.1}M", events as f64 / 1e6)
    } else {
        format!("{}k", events / 1000)
    }
}

pub(crate) fn big_store_phases(
    cfg: &Config,
    per_event_disk: f64,
    table: &mut Table,
    notes: &mut Vec<String>,
) -> anyhow::Result<()> {
    println!("\n== Phase 4: a big store; report, API and scrape over it ==");
    let mut pg = if cfg.skip_pg {
        notes.push("BENCH_SKIP_PG set: PostgreSQL peer skipped".into());
        None
    } else {
        match pg_connect() {
            Ok((client, how)) => {
                println!("PostgreSQL: connected ({how})");
                Some(client)
            }
            Err(e) => {
                let msg = format!("no PostgreSQL server answered, peer skipped: {e}");
                println!("{msg}");
                notes.push(msg);
                None
            }
        }
    };

    // Keep disk in check: one engine's store at a time (each is removed before the
    // next is built), plus the COPY file and table for PostgreSQL.
    let mut events = cfg.report_events;
    let need = per_event_disk.max(1000.0) * 1.3 + if pg.is_some() { 500.0 } else { 0.0 };
    if let Some(avail) = available_bytes(&std::env::temp_dir()) {
        let fits = (avail as f64 * 0.7 / need) as usize;
        println!(
            "disk: {:.1} GiB free where the store goes; about {need:.0} B/event needed, {:.1} GiB for {events} events",
            avail as f64 / MIB / 1024.0,
            need * events as f64 / MIB / 1024.0
        );
        if fits < events {
            let msg = format!(
                "only {:.1} GiB free: big store reduced from {events} to {fits} events",
                avail as f64 / MIB / 1024.0
            );
            println!("{msg}");
            notes.push(msg);
            events = fits;
        }
    }
    for &engine in &cfg.engines {
        table.engine = Some(engine);
        // The PostgreSQL peer is compared with the first engine's store only.
        big_store_engine(cfg, engine, events, pg.take(), table, notes)?;
        table.engine = None;
        table.print_new();
    }
    Ok(())
}

/// Phase 4 (and 5 when `pg` is given) on one engine: the store built in stages, a
/// serving process opening it (from a cold cache when root) after each; then the
/// report, API, scrape, restart and cold rebuild at its full size.
fn big_store_engine(
    cfg: &Config,
    engine: EngineKind,
    events: usize,
    pg: Option<postgres::Client>,
    table: &mut Table,
    notes: &mut Vec<String>,
) -> anyhow::Result<()> {
    println!("\n== Phase 4 on {engine}: {events} events ==");
    let tmp = tempfile::Builder::new()
        .prefix("pipeline-bench-big")
        .tempdir()?;
    let dir = tmp.path().join("store");
    let pg_file = tmp.path().join("pg-rows.tsv");
    let mut built: Vec<Build> = Vec::new();
    let mut served: Vec<(usize, bool, Serve)> = Vec::new();
    let mut skip = 0;
    for stage in stages(events) {
        let mut env = vec![
            ("BENCH_CHILD_DIR", dir.display().to_string()),
            ("BENCH_CHILD_EVENTS", (stage - skip).to_string()),
            ("BENCH_CHILD_SKIP", skip.to_string()),
            ("BENCH_CHILD_OFFICERS", cfg.report_officers.to_string()),
            ("BENCH_CHILD_ENGINE", engine.name().to_string()),
        ];
        if pg.is_some() {
            env.push(("BENCH_CHILD_PG_FILE", pg_file.display().to_string()));
        }
        let b: Build = child("build", &env)?;
        println!(
            "{engine}: folded events {skip}..{stage} in a child process in {:.0} s wall (simulate + decode {:.0} s busy, Projector + store {:.0} s busy), peak RSS {} MiB",
            b.wall_s,
            b.gen_busy_s,
            b.fold_busy_s,
            mib(b.peak_rss_kib)
        );
        let month = b.report_month.clone();
        built.push(b);
        // A restart reads the store from disk, not from the page cache the build filled.
        let cold = drop_page_cache();
        let s: Serve = child(
            "serve",
            &[
                ("BENCH_CHILD_DIR", dir.display().to_string()),
                ("BENCH_CHILD_MONTH", month),
                ("BENCH_RUNS", cfg.runs.to_string()),
            ],
        )?;
        served.push((stage, cold, s));
        skip = stage;
    }
    let build = Build::merge(built.iter());
    println!(
        "built a {}-event store on {engine} ({} officers from {BIG_FROM}, in {} child processes, a serving process opening it after each) in {:.0} s wall: simulate + decode {:.0} s busy (generator thread), Projector + store {:.0} s busy (folding thread); {:.2} GiB of JSON",
        build.events,
        cfg.report_officers,
        built.len(),
        build.wall_s,
        build.gen_busy_s,
        build.fold_busy_s,
        build.raw_bytes as f64 / MIB / 1024.0
    );
    let mut pauses = build.snapshot_pauses_s.clone();
    pauses.sort_by(f64::total_cmp);
    println!(
        "sled's recovery snapshot, every {} events as serve takes it: {} pauses, median {:.2} s, longest {:.2} s; at the clean stops {:.2} s",
        abstraction_tracker::store::SNAPSHOT_EVERY,
        pauses.len(),
        pauses.get(pauses.len() / 2).copied().unwrap_or(0.0),
        pauses.last().copied().unwrap_or(0.0),
        build.stop_snapshot_s
    );
    println!("as history grew (RSS of the building process; report and scrape timed in it):");
    println!(
        "     events    RSS MiB   disk B/event   folded ev/s   month     report ms   render ms"
    );
    for s in &build.samples {
        println!(
            "  {:>9} {:>10} {:>14.0} {:>13.0}   {:<9} {:>9.2} {:>11.2}",
            s.events,
            mib(s.rss_kib),
            s.disk as f64 / s.events as f64,
            s.rate,
            s.month,
            s.report_ms,
            s.render_ms
        );
    }
    let mut from = 0;
    for (b, (stage, cold, s)) in built.iter().zip(&served) {
        let rss: Vec<String> = b.samples.iter().map(|s| mib(s.rss_kib)).collect();
        table.row(
            format!(
                "RSS folding {}..{} events (peak; samples)",
                millions(from),
                millions(*stage)
            ),
            format!("{} MiB; {}", mib(b.peak_rss_kib), rss.join("/")),
            "-",
            "-",
            "<= 256 MiB, flat",
            verdict(b.peak_rss_kib <= 256 * 1024),
        );
        table.row(
            format!("RSS serving {} events (peak)", millions(*stage)),
            format!("{} MiB", mib(s.peak_rss_kib)),
            format!(
                "{} MiB before open; opened in {:.2} s ({})",
                mib(s.rss_before_open_kib),
                s.open_s,
                if *cold { "cold" } else { "warm" }
            ),
            "-",
            "<= 256 MiB, flat",
            verdict(s.peak_rss_kib <= 256 * 1024),
        );
        from = *stage;
    }
    let (_, cold_open, serve) = served.pop().expect("at least one stage");
    let m_events = millions(build.events);
    let month = build.report_month.clone();
    table.row(
        format!("month report, figures::month, {m_events} events"),
        format!(
            "med {} p95 {}",
            fmt_ms(serve.report.median),
            fmt_ms(serve.report.p95)
        ),
        format!(
            "first after open {}; later med {}",
            fmt_ms(serve.cold_report_ms),
            fmt_ms(serve.report_later.median)
        ),
        "-",
        "p95 <= 50 ms",
        verdict(serve.report.p95 <= 50.0),
    );
    table.row(
        format!("GET /api/v1/months/{month} (oneshot)"),
        format!(
            "med {} p95 {}",
            fmt_ms(serve.api.median),
            fmt_ms(serve.api.p95)
        ),
        format!(
            "real socket med {} p95 {}",
            fmt_ms(serve.api_socket.median),
            fmt_ms(serve.api_socket.p95)
        ),
        "-",
        "p95 <= 50 ms",
        verdict(serve.api.p95 <= 50.0),
    );
    table.row(
        "/metrics scrape (oneshot)",
        format!(
            "med {} p95 {}",
            fmt_ms(serve.scrape.median),
            fmt_ms(serve.scrape.p95)
        ),
        format!(
            "render() med {}; socket med {} p95 {}",
            fmt_ms(serve.render.median),
            fmt_ms(serve.scrape_socket.median),
            fmt_ms(serve.scrape_socket.p95)
        ),
        "-",
        "p95 <= 20 ms",
        verdict(serve.scrape.p95 <= 20.0),
    );
    table.row(
        format!("data directory, {m_events}-event store"),
        format!("{:.0} B/event", serve.disk as f64 / build.events as f64),
        format!(
            "raw JSON {:.0} B/event",
            build.raw_bytes as f64 / build.events as f64
        ),
        format!("{:.2}x", serve.disk as f64 / build.raw_bytes as f64),
        "<= 1.5x",
        verdict(serve.disk as f64 <= 1.5 * build.raw_bytes as f64),
    );
    table.row(
        format!(
            "restart: open + check, {m_events} events ({}{})",
            if cold_open {
                "cold cache"
            } else {
                "warm cache"
            },
            if engine == EngineKind::Sled {
                "; sled's recovery-snapshot re-open in the build"
            } else {
                ""
            }
        ),
        format!(
            "{:.2} s; first report {}",
            serve.open_s,
            fmt_ms(serve.cold_report_ms)
        ),
        format!("store built in {:.0} s", build.wall_s),
        format!("{:.4}x", serve.open_s / build.wall_s),
        "open + first report <= 10 s",
        verdict(serve.open_s + serve.cold_report_ms / 1e3 <= 10.0),
    );

    let rebuilt: Rebuilt = child("rebuild", &[("BENCH_CHILD_DIR", dir.display().to_string())])?;
    println!(
        "big store on {engine}, {}: raw log scan {} events, {:.2} GiB in {:.1} s; rebuild {:.1} s",
        if rebuilt.cold {
            "cold cache before each"
        } else {
            "warm cache (not root)"
        },
        rebuilt.scanned,
        rebuilt.scanned_bytes as f64 / MIB / 1024.0,
        rebuilt.scan_s,
        rebuilt.rebuild_s
    );
    table.row(
        format!(
            "rebuild, {m_events} events ({})",
            if rebuilt.cold {
                "cold cache"
            } else {
                "warm cache"
            }
        ),
        rate(rebuilt.rebuilt, rebuilt.rebuild_s),
        format!("raw log scan {}", rate(rebuilt.scanned, rebuilt.scan_s)),
        format!(
            "{:.3}x",
            (rebuilt.rebuilt as f64 / rebuilt.rebuild_s)
                / (rebuilt.scanned as f64 / rebuilt.scan_s)
        ),
        ">= 0.5x",
        verdict(
            rebuilt.rebuilt as f64 / rebuilt.rebuild_s
                >= 0.5 * rebuilt.scanned as f64 / rebuilt.scan_s,
        ),
    );

    if let Some(client) = pg {
        println!("\n== Phase 5: PostgreSQL peer (the {engine} store's figures) ==");
        let reference = Reference::west_midlands();
        pg_peer(
            client,
            &pg_file,
            month.parse()?,
            &reference,
            &build,
            &serve,
            cfg.pg_runs,
            table,
            notes,
        )?;
    }
    Ok(())
}

impl Build {
    /// The stages of one store's build as one: sums, samples in order, the last month.
    fn merge<'a>(stages: impl Iterator<Item = &'a Build>) -> Build {
        let mut all = Build {
            events: 0,
            raw_bytes: 0,
            wall_s: 0.0,
            gen_busy_s: 0.0,
            fold_busy_s: 0.0,
            samples: Vec::new(),
            report_month: String::new(),
            peak_rss_kib: 0,
            ignored_amendments: 0,
            snapshot_pauses_s: Vec::new(),
            stop_snapshot_s: 0.0,
        };
        for b in stages {
            all.events += b.events;
            all.raw_bytes += b.raw_bytes;
            all.wall_s += b.wall_s;
            all.gen_busy_s += b.gen_busy_s;
            all.fold_busy_s += b.fold_busy_s;
            all.samples.extend(b.samples.iter().cloned());
            all.report_month.clone_from(&b.report_month);
            all.peak_rss_kib = all.peak_rss_kib.max(b.peak_rss_kib);
            all.ignored_amendments += b.ignored_amendments;
            all.snapshot_pauses_s.extend(&b.snapshot_pauses_s);
            all.stop_snapshot_s += b.stop_snapshot_s;
        }
        all
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct Rebuilt {
    pub(crate) cold: bool,
    pub(crate) scanned: usize,
    pub(crate) scanned_bytes: usize,
    pub(crate) scan_s: f64,
    pub(crate) rebuilt: usize,
    pub(crate) rebuild_s: f64,
}

/// Child: the big store's log scanned raw, then rebuilt, each after dropping the page
/// cache (when root), in a process of its own.
pub(crate) fn child_rebuild() -> anyhow::Result<()> {
    let dir = PathBuf::from(env_str("BENCH_CHILD_DIR")?);
    let store = Store::open(&dir)?;
    let validator = Validator::new(Reference::west_midlands());
    let cold = drop_page_cache();
    let t = Instant::now();
    let (scanned, scanned_bytes) = raw_scan(&store)?;
    let scan_s = t.elapsed().as_secs_f64();
    let cold = cold && drop_page_cache();
    let t = Instant::now();
    let rebuilt = rebuild::rebuild(&store, &validator, |_| {})? as usize;
    let rebuild_s = t.elapsed().as_secs_f64();
    print_result(&Rebuilt {
        cold,
        scanned,
        scanned_bytes,
        scan_s,
        rebuilt,
        rebuild_s,
    })
}

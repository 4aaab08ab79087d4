//! Phase 4, building: the big store folded straight into a `Store`, sampled as it grows.

use super::*;
use abstraction_tracker::store::SNAPSHOT_EVERY;

#[derive(Serialize, Deserialize)]
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

pub(crate) fn big_store_phases(
    cfg: &Config,
    per_event_disk: f64,
    table: &mut Table,
    notes: &mut Vec<String>,
) -> anyhow::Result<()> {
    println!("\n== Phase 4: a big store; report, API and scrape over it ==");
    let tmp = tempfile::Builder::new()
        .prefix("pipeline-bench-big")
        .tempdir()?;
    let pg = if cfg.skip_pg {
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

    // Keep disk in check: our store, plus the COPY file and table for PostgreSQL.
    let mut events = cfg.report_events;
    let need = per_event_disk.max(1000.0) * 1.3 + if pg.is_some() { 500.0 } else { 0.0 };
    if let Some(avail) = available_bytes(tmp.path()) {
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

    let dir = tmp.path().join("store");
    let pg_file = tmp.path().join("pg-rows.tsv");
    let mut env = vec![
        ("BENCH_CHILD_DIR", dir.display().to_string()),
        ("BENCH_CHILD_EVENTS", events.to_string()),
        ("BENCH_CHILD_OFFICERS", cfg.report_officers.to_string()),
    ];
    if pg.is_some() {
        env.push(("BENCH_CHILD_PG_FILE", pg_file.display().to_string()));
    }
    let build: Build = child("build", &env)?;
    println!(
        "built a {}-event store ({} officers from {BIG_FROM}, in a child process) in {:.0} s wall: simulate + decode {:.0} s busy (generator thread), Projector + sled {:.0} s busy (folding thread); {:.2} GiB of JSON",
        build.events,
        cfg.report_officers,
        build.wall_s,
        build.gen_busy_s,
        build.fold_busy_s,
        build.raw_bytes as f64 / MIB / 1024.0
    );
    let mut pauses = build.snapshot_pauses_s.clone();
    pauses.sort_by(f64::total_cmp);
    println!(
        "sled's recovery snapshot, every {} events as serve takes it: {} pauses, median {:.2} s, longest {:.2} s; at the clean stop {:.2} s",
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
    let m_events = format!("{:.1}M", build.events as f64 / 1e6);
    let rss_list: Vec<String> = build.samples.iter().map(|s| mib(s.rss_kib)).collect();
    table.row(
        format!("RSS folding {m_events} events (peak; per sample)"),
        format!("{} MiB; {}", mib(build.peak_rss_kib), rss_list.join("/")),
        "-",
        "-",
        "< 256 MiB, flat",
        verdict(build.peak_rss_kib < 256 * 1024),
    );

    let month = build.report_month.clone();
    // A restart reads the store from disk, not from the page cache the build filled.
    let cold_open = drop_page_cache();
    let serve: Serve = child(
        "serve",
        &[
            ("BENCH_CHILD_DIR", dir.display().to_string()),
            ("BENCH_CHILD_MONTH", month.clone()),
            ("BENCH_RUNS", cfg.runs.to_string()),
        ],
    )?;
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
        "< 50 ms",
        verdict(serve.report.median < 50.0),
    );
    table.row(
        format!("GET /api/v1/months/{month} (oneshot)"),
        format!(
            "med {} p95 {}",
            fmt_ms(serve.api.median),
            fmt_ms(serve.api.p95)
        ),
        format!("real socket med {}", fmt_ms(serve.api_socket.median)),
        "-",
        "< 50 ms",
        verdict(serve.api.median < 50.0),
    );
    table.row(
        "/metrics scrape (oneshot)",
        format!(
            "med {} p95 {}",
            fmt_ms(serve.scrape.median),
            fmt_ms(serve.scrape.p95)
        ),
        format!(
            "render() med {}; socket med {}",
            fmt_ms(serve.render.median),
            fmt_ms(serve.scrape_socket.median)
        ),
        "-",
        "< 20 ms",
        verdict(serve.scrape.median < 20.0),
    );
    table.row(
        "RSS serving the big store (peak)",
        format!("{} MiB", mib(serve.peak_rss_kib)),
        format!("{} MiB before open", mib(serve.rss_before_open_kib)),
        "-",
        "< 256 MiB",
        verdict(serve.peak_rss_kib < 256 * 1024),
    );
    table.row(
        format!("disk per event, {m_events}-event store"),
        format!("{:.0} B", serve.disk as f64 / build.events as f64),
        format!(
            "raw JSON {:.0} B",
            build.raw_bytes as f64 / build.events as f64
        ),
        format!("{:.2}x", serve.disk as f64 / build.raw_bytes as f64),
        "<= 2x",
        verdict(serve.disk as f64 <= 2.0 * build.raw_bytes as f64),
    );

    table.row(
        format!(
            "restart: open + check, {m_events} events ({})",
            if cold_open {
                "cold cache"
            } else {
                "warm cache"
            }
        ),
        format!("{:.2} s", serve.open_s),
        format!("store built in {:.0} s", build.wall_s),
        format!("{:.4}x", serve.open_s / build.wall_s),
        "<= 10 s, <= 0.01x",
        verdict(serve.open_s <= 10.0 && serve.open_s <= 0.01 * build.wall_s),
    );

    let rebuilt: Rebuilt = child("rebuild", &[("BENCH_CHILD_DIR", dir.display().to_string())])?;
    println!(
        "big store, {}: raw log scan {} events, {:.2} GiB in {:.1} s; rebuild {:.1} s",
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
        println!("\n== Phase 5: PostgreSQL peer ==");
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

/// Child: simulates and decodes on one thread (which also writes the PostgreSQL COPY
/// rows), folds with the `Projector` into the store on this one, in commits of
/// `BIG_CHUNK` events (not durable until the final flush: set-up, not the live path).
pub(crate) fn child_build() -> anyhow::Result<()> {
    let dir = PathBuf::from(env_str("BENCH_CHILD_DIR")?);
    let limit = env_num("BENCH_CHILD_EVENTS", 0)?;
    let officers = env_num("BENCH_CHILD_OFFICERS", 10_000)? as u32;
    let pg_file = std::env::var("BENCH_CHILD_PG_FILE").ok();
    let validator = Validator::new(Reference::west_midlands());
    let reference = Arc::new(validator.reference().clone());
    let store = Store::open(&dir)?;
    store.load_filters()?;
    let wall = Instant::now();
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<(Vec<u8>, Envelope)>>(2);
    type GenOut = (f64, usize, u64);
    let generator = std::thread::spawn(move || -> anyhow::Result<GenOut> {
        let mut pg = match pg_file {
            Some(f) => Some(BufWriter::with_capacity(1 << 20, std::fs::File::create(f)?)),
            None => None,
        };
        let (mut blocked, mut raw, mut ignored) = (Duration::ZERO, 0usize, 0u64);
        let started = Instant::now();
        let mut chunk = Vec::with_capacity(BIG_CHUNK);
        let mut row = Vec::with_capacity(256);
        let mut seq = 0u64;
        let send = |chunk: &mut Vec<(Vec<u8>, Envelope)>, blocked: &mut Duration| {
            let t = Instant::now();
            let full = std::mem::replace(chunk, Vec::with_capacity(BIG_CHUNK));
            let ok = tx.send(full).is_ok();
            *blocked += t.elapsed();
            ok
        };
        let mut failed: Option<String> = None;
        sim_lines(limit, officers, BIG_FROM, |line| {
            if failed.is_some() {
                return;
            }
            raw += line.len();
            let env = match validator.decode(line) {
                Ok(env) => env,
                Err(r) => {
                    failed = Some(format!("simulated event refused: {r}"));
                    return;
                }
            };
            if let Some(pg) = pg.as_mut() {
                seq += 1;
                row.clear();
                pg_row(&mut row, seq, &env);
                if let Err(e) = pg.write_all(&row) {
                    failed = Some(format!("writing COPY rows: {e}"));
                }
                if let Event::AbstractionAmended { amendment: a, .. } = &env.event {
                    let other = a.scope.is_some()
                        || a.planned.is_some()
                        || a.start_ms.is_some()
                        || a.sector.is_some()
                        || a.role.is_some()
                        || a.officer_id.is_some();
                    ignored += u64::from(other);
                }
            }
            chunk.push((line.to_vec(), env));
            if chunk.len() == BIG_CHUNK && !send(&mut chunk, &mut blocked) {
                failed = Some("folding thread stopped".into());
            }
        })?;
        if let Some(f) = failed {
            bail!(f);
        }
        send(&mut chunk, &mut blocked);
        if let Some(pg) = pg.as_mut() {
            pg.flush()?;
        }
        let busy = (started.elapsed() - blocked).as_secs_f64();
        Ok((busy, raw, ignored))
    });

    let step = if limit > 5_000_000 {
        1_000_000
    } else if limit >= 1_000_000 {
        500_000
    } else {
        (limit / 5).max(1)
    };
    let mut fold_busy = Duration::ZERO;
    let mut snapshot_pauses_s = Vec::new();
    let (mut done, mut next_sample) = (0usize, step);
    let mut samples = Vec::new();
    let mut last_sample = (Instant::now(), 0usize);
    let mut max_shift_start = 0i64;
    let mut take_sample = |done: usize, max_shift_start: i64| -> anyhow::Result<Sample> {
        let now = Instant::now();
        let month = report_month(&store, &reference, max_shift_start)?;
        let report = sample(5, || {
            figures::month(&store, &reference, month, serve::mid_month(month))?;
            Ok(())
        })?;
        // The scrape's window ends at the latest month simulated so far.
        let as_of = abstraction_tracker::domain::calendar::ts_from_ms(max_shift_start);
        let metrics = Metrics::new(store.clone(), reference.clone(), Clock::AsOf(as_of));
        let render = sample(3, || {
            std::hint::black_box(metrics.render());
            Ok(())
        })?;
        let s = Sample {
            events: done,
            rss_kib: proc_status_kib("VmRSS"),
            disk: store.size_on_disk(),
            rate: (done - last_sample.1) as f64 / (now - last_sample.0).as_secs_f64(),
            month: month.to_string(),
            report_ms: report.median,
            render_ms: render.median,
        };
        println!(
            "  ... {done} events folded, RSS {} MiB, {:.0} events/s",
            mib(s.rss_kib),
            s.rate
        );
        last_sample = (Instant::now(), done);
        Ok(s)
    };
    for chunk in rx {
        let t = Instant::now();
        let mut commit = store.begin();
        let mut p = Projector::default();
        for (raw, env) in &chunk {
            if let Event::ShiftRostered { fields, .. } = &env.event {
                max_shift_start = max_shift_start.max(fields.start_ms);
            }
            p.ingest(&mut commit, raw, env)?;
        }
        p.write(&mut commit);
        commit.commit(false)?;
        // As `serve` does between batches (and counted in the folding time, as there).
        if let Some(closed) = store.snapshot_if_due(SNAPSHOT_EVERY)? {
            snapshot_pauses_s.push(closed.as_secs_f64());
        }
        fold_busy += t.elapsed();
        done += chunk.len();
        if done >= next_sample {
            samples.push(take_sample(done, max_shift_start)?);
            next_sample += step;
        }
    }
    let t = Instant::now();
    store.flush()?;
    fold_busy += t.elapsed();
    // What `serve`'s clean stop does last.
    let stop_snapshot_s = store.snapshot()?.as_secs_f64();
    let (gen_busy_s, raw_bytes, ignored_amendments) = generator
        .join()
        .map_err(|_| anyhow::anyhow!("generator thread panicked"))??;
    let wall_s = wall.elapsed().as_secs_f64();
    if samples.last().is_none_or(|s: &Sample| s.events != done) {
        samples.push(take_sample(done, max_shift_start)?);
    }
    print_result(&Build {
        events: done,
        raw_bytes,
        wall_s,
        gen_busy_s,
        fold_busy_s: fold_busy.as_secs_f64(),
        samples,
        report_month: report_month(&store, &reference, max_shift_start)?.to_string(),
        peak_rss_kib: proc_status_kib("VmHWM"),
        ignored_amendments,
        snapshot_pauses_s,
        stop_snapshot_s,
    })
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

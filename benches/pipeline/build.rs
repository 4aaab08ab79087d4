//! Phase 4, building: the child process that folds the big store, one stage of it.

use super::*;
use abstraction_tracker::store::SNAPSHOT_EVERY;

/// Child: simulates and decodes on one thread (which also writes the PostgreSQL COPY
/// rows), folds with the `Projector` into the store on this one, in commits of
/// `BIG_CHUNK` events (not durable until the final flush: set-up, not the live path).
/// It continues a store built before by skipping the `BENCH_CHILD_SKIP` simulated
/// events already in it (the simulation is seeded), untimed.
pub(crate) fn child_build() -> anyhow::Result<()> {
    let dir = PathBuf::from(env_str("BENCH_CHILD_DIR")?);
    let limit = env_num("BENCH_CHILD_EVENTS", 0)?;
    let skip = env_num("BENCH_CHILD_SKIP", 0)?;
    let officers = env_num("BENCH_CHILD_OFFICERS", 10_000)? as u32;
    let pg_file = std::env::var("BENCH_CHILD_PG_FILE").ok();
    let validator = Validator::new(Reference::west_midlands());
    let reference = Arc::new(validator.reference().clone());
    let store = Store::open_with(&dir, Some(child_engine_kind()?))?;
    store.load_filters()?;
    let mut wall = Instant::now();
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<(Vec<u8>, Envelope)>>(2);
    type GenOut = (f64, usize, u64);
    let generator = std::thread::spawn(move || -> anyhow::Result<GenOut> {
        let mut pg = match pg_file {
            Some(f) => Some(BufWriter::with_capacity(
                1 << 20,
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(f)?,
            )),
            None => None,
        };
        let (mut blocked, mut raw, mut ignored) = (Duration::ZERO, 0usize, 0u64);
        let started = Instant::now();
        let mut chunk = Vec::with_capacity(BIG_CHUNK);
        let mut row = Vec::with_capacity(256);
        let mut seq = skip as u64;
        let (mut skipped, mut skip_time) = (0usize, Duration::ZERO);
        let send = |chunk: &mut Vec<(Vec<u8>, Envelope)>, blocked: &mut Duration| {
            let t = Instant::now();
            let full = std::mem::replace(chunk, Vec::with_capacity(BIG_CHUNK));
            let ok = tx.send(full).is_ok();
            *blocked += t.elapsed();
            ok
        };
        let mut failed: Option<String> = None;
        sim_lines(skip + limit, officers, BIG_FROM, |line| {
            if failed.is_some() {
                return;
            }
            if skipped < skip {
                skipped += 1;
                if skipped == skip {
                    skip_time = started.elapsed();
                    // An empty chunk: the folding thread starts its clocks now.
                    send(&mut chunk, &mut blocked);
                }
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
        if !chunk.is_empty() {
            send(&mut chunk, &mut blocked);
        }
        if let Some(pg) = pg.as_mut() {
            pg.flush()?;
        }
        let busy = (started.elapsed() - blocked - skip_time).as_secs_f64();
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
    let mut last_sample = (Instant::now(), skip);
    let mut max_shift_start = 0i64;
    let take_sample = |done: usize,
                       max_shift_start: i64,
                       last_sample: &mut (Instant, usize)|
     -> anyhow::Result<Sample> {
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
        *last_sample = (Instant::now(), done);
        Ok(s)
    };
    for chunk in rx {
        if chunk.is_empty() && done == 0 {
            wall = Instant::now();
            last_sample = (Instant::now(), skip);
            continue;
        }
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
            samples.push(take_sample(skip + done, max_shift_start, &mut last_sample)?);
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
    if samples
        .last()
        .is_none_or(|s: &Sample| s.events != skip + done)
    {
        samples.push(take_sample(skip + done, max_shift_start, &mut last_sample)?);
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

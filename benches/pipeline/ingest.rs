//! Phases 1 and 3: ingest through a real `nats-server` against raw NATS and sled
//! baselines, then rebuild, on each engine of `BENCH_ENGINES`; and the simulated events
//! and publishing they share.

use super::*;

/// Returns disk bytes per stored event of the ingested store (to size the big store).
pub(crate) fn ingest_phases(
    cfg: &Config,
    rt: &tokio::runtime::Runtime,
    validator: &Arc<Validator>,
    table: &mut Table,
    notes: &mut Vec<String>,
) -> anyhow::Result<f64> {
    println!("\n== Phase 1: ingest ==");
    let t = Instant::now();
    let (payloads, subjects) = generate(cfg.events, cfg.officers, "2024-01-01")?;
    let n = payloads.len();
    let raw_bytes: usize = payloads.iter().map(Vec::len).sum();
    println!(
        "simulated {n} events ({} officers from 2024-01-01), {:.1} MiB of JSON ({:.0} B/event) in {:.1} s",
        cfg.officers,
        raw_bytes as f64 / MIB,
        raw_bytes as f64 / n as f64,
        t.elapsed().as_secs_f64()
    );
    let tmp = tempfile::Builder::new()
        .prefix("pipeline-bench")
        .tempdir()?;
    let nats = common::NatsServer::start();
    let batch = IngestConfig::default().batch;

    let (publish_s, last_seq) = rt.block_on(preload(&nats.url(), &payloads, &subjects))?;
    println!(
        "published {n} events in {publish_s:.2} s ({:.0} events/s, pipelined, up to 4096 PubAcks in flight); last sequence {last_seq}",
        n as f64 / publish_s
    );
    table.row(
        "publish to JetStream (pipelined)",
        rate(n, publish_s),
        "-",
        "-",
        "info",
        "",
    );

    let (raw_sled_s, raw_sled_disk) = raw_sled(&tmp.path().join("raw-sled"), &payloads, batch)?;
    println!(
        "raw sled apply_batch of the payloads keyed by sequence, batches of {batch}, flush per batch: {raw_sled_s:.2} s ({:.0} events/s), {:.0} B/event on disk",
        n as f64 / raw_sled_s,
        raw_sled_disk as f64 / n as f64
    );
    let run = IngestInput {
        rt,
        validator,
        nats: &nats,
        dir: tmp.path(),
        n,
        raw_bytes,
        last_seq,
        batch,
        raw_sled_s,
    };
    let mut per_event_disk = 0.0f64;
    for &engine in &cfg.engines {
        table.engine = Some(engine);
        per_event_disk = per_event_disk.max(ingest_engine(&run, engine, table, notes)?);
        table.engine = None;
    }
    drop(nats);

    table.engine = Some(EngineKind::Sled);
    breakdown(
        validator,
        &payloads,
        batch,
        raw_sled_s,
        tmp.path(),
        table,
        notes,
    )?;
    table.engine = None;
    Ok(per_event_disk)
}

/// What every engine's ingest run shares: the preloaded stream and its baselines.
struct IngestInput<'a> {
    rt: &'a tokio::runtime::Runtime,
    validator: &'a Arc<Validator>,
    nats: &'a common::NatsServer,
    dir: &'a Path,
    n: usize,
    raw_bytes: usize,
    last_seq: u64,
    batch: usize,
    raw_sled_s: f64,
}

/// Phases 1, 1b and 3 on one engine: the preloaded stream ingested by the tracker into
/// a store on `engine` (its own consumer), next to a raw consume of the same stream
/// measured just before it; then the partitioned `serve`s and the rebuild. Returns
/// the store's disk bytes per event.
fn ingest_engine(
    run: &IngestInput,
    engine: EngineKind,
    table: &mut Table,
    notes: &mut Vec<String>,
) -> anyhow::Result<f64> {
    let IngestInput {
        rt,
        validator,
        nats,
        n,
        raw_bytes,
        last_seq,
        batch,
        raw_sled_s,
        ..
    } = *run;
    println!("\n== Phase 1 on {engine}: ingest ==");
    let raw_nats_s = rt.block_on(raw_consumer(&nats.url(), last_seq, batch))?;
    println!(
        "raw async-nats pull consumer: {raw_nats_s:.2} s ({:.0} events/s; AckAll on the last message of each chunk of <= {batch})",
        n as f64 / raw_nats_s
    );

    // The tracker, in a fresh process of its own (as `serve` runs), so its RSS is its own.
    let dir = run.dir.join(format!("tracker-{engine}"));
    let ing: IngestRun = child(
        "ingest",
        &[
            ("BENCH_CHILD_NATS", nats.url()),
            ("BENCH_CHILD_DIR", dir.display().to_string()),
            ("BENCH_CHILD_LAST_SEQ", last_seq.to_string()),
            ("BENCH_CHILD_ENGINE", engine.name().to_string()),
            ("BENCH_CHILD_CONSUMER", format!("{CONSUMER}-{engine}")),
        ],
    )?;
    let ingest_s = ing.secs;
    let (rss_before, rss_after, peak) = (ing.rss_before_kib, ing.rss_after_kib, ing.peak_kib);
    let store = Store::open(&dir)?;
    let stored = store.log_len()?;
    if stored != n as u64 {
        notes.push(format!(
            "{engine}: the tracker stored {stored} of {n} events (the rest were duplicates or rejected)"
        ));
    }
    let ingest_rate = n as f64 / ingest_s;
    println!(
        "tracker Ingestor end to end on {engine}: {ingest_s:.2} s ({ingest_rate:.0} events/s; the ingesting process used {:.1} s of CPU, nats-server not counted); RSS {} -> {} MiB, peak {} MiB",
        ing.cpu_s,
        mib(rss_before),
        mib(rss_after),
        mib(peak)
    );
    println!(
        "the Ingestor handled {:.0} batches, mean {:.0} events and {:.1} ms each (its own batch histogram); {:.0}% of the wall time inside batches",
        ing.batches,
        last_seq as f64 / ing.batches.max(1.0),
        ing.batch_busy_s * 1e3 / ing.batches.max(1.0),
        ing.batch_busy_s * 100.0 / ingest_s
    );
    let growth: Vec<String> = ing
        .samples
        .iter()
        .map(|(seq, kib)| {
            format!(
                "{:.0}%: {}",
                *seq as f64 * 100.0 / last_seq as f64,
                mib(*kib)
            )
        })
        .collect();
    println!(
        "RSS (MiB) of the ingesting process as the checkpoint advanced: {}",
        growth.join(", ")
    );
    let raw_sled_rate = n as f64 / raw_sled_s;
    // Issue 14's target: the broker is the ceiling, so ingest is judged against a raw
    // pull-consume + ack of the same messages.
    table.row(
        "ingest end to end (NATS -> durable ack)",
        rate(n, ingest_s),
        format!("raw pull+AckAll {}", rate(n, raw_nats_s)),
        format!("{:.2}x", raw_nats_s / ingest_s),
        ">= 0.5x",
        verdict(raw_nats_s / ingest_s >= 0.5),
    );
    table.row(
        "ingest vs raw sled apply+flush",
        rate(n, ingest_s),
        format!("raw sled apply+flush {}", rate(n, raw_sled_s)),
        format!("{:.2}x", ingest_rate / raw_sled_rate),
        "info",
        "",
    );
    table.row(
        format!("RSS ingesting {}k events (start -> end, peak)", n / 1000),
        format!(
            "{} -> {} MiB, peak {}",
            mib(rss_before),
            mib(rss_after),
            mib(peak)
        ),
        "-",
        "-",
        "<= 256 MiB, flat",
        verdict(peak <= 256 * 1024),
    );
    let disk = store.size_on_disk();
    let per_event_disk = disk as f64 / n as f64;
    println!(
        "tracker store on {engine}: {:.1} MiB on disk (size_on_disk; {:.1} MiB of blocks allocated), {per_event_disk:.0} B/event vs {:.0} B/event of JSON",
        disk as f64 / MIB,
        allocated_bytes(&dir) as f64 / MIB,
        raw_bytes as f64 / n as f64
    );
    table.row(
        format!("data directory, {}k-event store", n / 1000),
        format!("{per_event_disk:.0} B/event"),
        format!("raw JSON {:.0} B/event", raw_bytes as f64 / n as f64),
        format!("{:.2}x", disk as f64 / raw_bytes as f64),
        "<= 1.5x",
        verdict(disk as f64 <= 1.5 * raw_bytes as f64),
    );
    partition_phase(
        rt,
        &nats.url(),
        &run.dir.join(format!("partitions-{engine}")),
        engine,
        n,
        stored,
        table,
    )?;

    println!("\n== Phase 3 on {engine}: rebuild ==");
    let live = store.derived_snapshot()?;
    let t = Instant::now();
    let (scanned, scanned_bytes) = raw_scan(&store)?;
    let scan_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut parsed = 0usize;
    for v in store.log() {
        let v: serde_json::Value = serde_json::from_slice(&v?)?;
        parsed += usize::from(v.is_object());
    }
    let parse_s = t.elapsed().as_secs_f64();
    let (t, cpu) = (Instant::now(), process_cpu_s());
    let rebuilt = rebuild::rebuild(&store, validator, |_| {})? as usize;
    let (rebuild_s, rebuild_cpu) = (t.elapsed().as_secs_f64(), process_cpu_s() - cpu);
    let same = store.derived_snapshot()? == live;
    println!(
        "raw log scan: {scanned} events, {:.1} MiB in {scan_s:.3} s; scan + serde_json::Value parse: {parse_s:.2} s; rebuild of {rebuilt}: {rebuild_s:.2} s ({rebuild_cpu:.2} s CPU, {} threads); read models identical to live ingestion: {same}",
        scanned_bytes as f64 / MIB,
        cores()
    );
    if !same {
        notes.push(format!(
            "{engine}: rebuild did NOT give the same read models as live ingestion"
        ));
    }
    let rebuild_rate = rebuilt as f64 / rebuild_s;
    table.row(
        format!("rebuild, {}k events (warm cache)", n / 1000),
        rate(rebuilt, rebuild_s),
        format!("raw log scan {}", rate(scanned, scan_s)),
        format!("{:.3}x", rebuild_rate * scan_s / scanned as f64),
        ">= 0.5x",
        verdict(rebuild_rate * scan_s / scanned as f64 >= 0.5),
    );
    table.row(
        "  log scan + JSON parse (no schema, no fold)",
        rate(parsed, parse_s),
        "-",
        "-",
        "info",
        "",
    );
    Ok(per_event_disk)
}

/// Simulated events, each with its subject, stopping after `limit`.
pub(crate) fn generate(
    limit: usize,
    officers: u32,
    from: &str,
) -> anyhow::Result<(Vec<Vec<u8>>, Vec<String>)> {
    #[derive(Deserialize)]
    struct Head<'a> {
        lpa: &'a str,
        #[serde(rename = "type")]
        kind: &'a str,
    }
    let mut payloads = Vec::with_capacity(limit);
    let mut subjects = Vec::with_capacity(limit);
    sim_lines(limit, officers, from, |line| {
        let h: Head = serde_json::from_slice(line).expect("simulated events are JSON");
        subjects.push(format!("neighbourhood.events.{}.{}", h.lpa, h.kind));
        payloads.push(line.to_vec());
    })?;
    Ok((payloads, subjects))
}

/// Streams up to `limit` simulated NDJSON lines to `f` (bounded memory): seed 1, from
/// `from` for as many days as it takes.
pub(crate) fn sim_lines(
    limit: usize,
    officers: u32,
    from: &str,
    f: impl FnMut(&[u8]),
) -> anyhow::Result<usize> {
    let from: jiff::civil::Date = from.parse()?;
    let sim = SimConfig {
        seed: 1,
        from,
        to: from.saturating_add(jiff::Span::new().years(60)),
        officers,
        now: None,
    };
    let mut sink = Lines {
        carry: Vec::new(),
        f,
        left: limit,
    };
    let result = simulate(&sim, &Reference::west_midlands(), &mut sink, &mut |_, _| {});
    match result {
        Err(_) if sink.left == 0 => Ok(limit),
        Err(e) => Err(e.into()),
        Ok(_) => Ok(limit - sink.left),
    }
}

/// A writer that hands complete lines to a closure and fails once it has had enough,
/// which stops `simulate`.
pub(crate) struct Lines<F: FnMut(&[u8])> {
    pub(crate) carry: Vec<u8>,
    pub(crate) f: F,
    pub(crate) left: usize,
}

impl<F: FnMut(&[u8])> Write for Lines<F> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Err(io::Error::other("enough events"));
        }
        self.carry.extend_from_slice(buf);
        let mut start = 0;
        while let Some(i) = self.carry[start..].iter().position(|b| *b == b'\n') {
            if self.left > 0 {
                (self.f)(&self.carry[start..start + i]);
                self.left -= 1;
            }
            start += i + 1;
        }
        self.carry.drain(..start);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub(crate) async fn connect(url: &str) -> anyhow::Result<async_nats::Client> {
    async_nats::connect(url)
        .await
        .with_context(|| format!("connecting to {url}"))
}

/// Publishes every event with its `Nats-Msg-Id`, keeping up to 4096 PubAcks in flight.
pub(crate) async fn preload(
    url: &str,
    payloads: &[Vec<u8>],
    subjects: &[String],
) -> anyhow::Result<(f64, u64)> {
    #[derive(Deserialize)]
    struct Id<'a> {
        event_id: &'a str,
    }
    let js = jetstream::new(connect(url).await?);
    ensure_streams(&js, 1).await?;
    let t = Instant::now();
    let mut window = Window::new(&js, 4096);
    for (p, s) in payloads.iter().zip(subjects) {
        let id: Id = serde_json::from_slice(p)?;
        let payload = bytes::Bytes::copy_from_slice(p);
        if let Some((_, ack)) = window
            .send((), s.clone(), payload, Some(id.event_id))
            .await?
        {
            ack?;
        }
    }
    while let Some((_, ack)) = window.next().await {
        ack?;
    }
    let secs = t.elapsed().as_secs_f64();
    let mut stream = js.get_stream(EVENTS_STREAM).await?;
    let last = stream.info().await?.state.last_sequence;
    Ok((secs, last))
}

/// Baseline: a pull consumer shaped like the tracker's (same batch, AckAll, same
/// max_ack_pending) that only acknowledges.
pub(crate) async fn raw_consumer(url: &str, last_seq: u64, batch: usize) -> anyhow::Result<f64> {
    let js = jetstream::new(connect(url).await?);
    let stream = js.get_stream(EVENTS_STREAM).await?;
    let t = Instant::now();
    let c = stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some("bench-raw".into()),
            ack_policy: consumer::AckPolicy::All,
            max_ack_pending: (batch * 4) as i64,
            ..Default::default()
        })
        .await?;
    let messages = c.stream().max_messages_per_batch(batch).messages().await?;
    let mut chunks = messages.ready_chunks(batch);
    while let Some(chunk) = chunks.next().await {
        let mut last = None;
        for m in chunk {
            last = Some(m.map_err(|e| anyhow::anyhow!("{e}"))?);
        }
        if let Some(m) = last {
            let seq = m
                .info()
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .stream_sequence;
            m.ack().await.map_err(|e| anyhow::anyhow!("{e}"))?;
            if seq >= last_seq {
                break;
            }
        }
    }
    let secs = t.elapsed().as_secs_f64();
    stream.delete_consumer("bench-raw").await?;
    Ok(secs)
}

/// Baseline: the same payloads into a bare sled tree, one key per event.
pub(crate) fn raw_sled(
    dir: &Path,
    payloads: &[Vec<u8>],
    batch: usize,
) -> anyhow::Result<(f64, u64)> {
    let db = sled::Config::new().path(dir).open()?;
    let t = Instant::now();
    let mut seq = 0u64;
    for chunk in payloads.chunks(batch) {
        let mut b = sled::Batch::default();
        for p in chunk {
            seq += 1;
            b.insert(&seq.to_be_bytes(), p.as_slice());
        }
        db.apply_batch(b)?;
        db.flush()?;
    }
    let secs = t.elapsed().as_secs_f64();
    Ok((secs, db.size_on_disk()?))
}

#[derive(Serialize, Deserialize)]
pub(crate) struct IngestRun {
    pub(crate) secs: f64,
    pub(crate) cpu_s: f64,
    /// (checkpoint, VmRSS KiB), about every tenth of the stream.
    pub(crate) samples: Vec<(u64, u64)>,
    pub(crate) rss_before_kib: u64,
    pub(crate) rss_after_kib: u64,
    pub(crate) peak_kib: u64,
    pub(crate) batches: f64,
    pub(crate) batch_busy_s: f64,
}

/// Child: runs the tracker's `Ingestor` (as `serve` does) until the stored checkpoint
/// reaches the stream's last sequence.
pub(crate) fn child_ingest() -> anyhow::Result<()> {
    let url = env_str("BENCH_CHILD_NATS")?;
    let dir = PathBuf::from(env_str("BENCH_CHILD_DIR")?);
    let last_seq = env_num("BENCH_CHILD_LAST_SEQ", 0)? as u64;
    let consumer = env_str("BENCH_CHILD_CONSUMER")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let reference = Reference::west_midlands();
    let validator = Arc::new(Validator::new(reference.clone()));
    let rss_before_kib = proc_status_kib("VmRSS");
    let store = Store::open_with(&dir, Some(child_engine_kind()?))?;
    // As `serve` does before it consumes: on this empty store the filters are complete
    // at once, so a new id or entity reads no sled.
    store.load_filters()?;
    let cpu = process_cpu_s();
    let (secs, samples, metrics) = rt.block_on(async {
        let js = jetstream::new(connect(&url).await?);
        let metrics = Arc::new(Metrics::new(
            store.clone(),
            Arc::new(reference),
            Default::default(),
        ));
        let ingestor = Ingestor {
            js,
            store: store.clone(),
            validator,
            observer: metrics.clone(),
            config: IngestConfig {
                consumer: consumer.clone(),
                ..IngestConfig::default()
            },
            lock: Default::default(),
            touched: None,
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let t = Instant::now();
        let task = tokio::spawn(async move {
            ingestor
                .run(async {
                    let _ = stopped.await;
                })
                .await
        });
        let mut samples = vec![(0, proc_status_kib("VmRSS"))];
        let mut next_sample = last_seq / 10;
        loop {
            let cp = store.checkpoint(&consumer)?;
            if cp >= last_seq {
                break;
            }
            if cp >= next_sample {
                samples.push((cp, proc_status_kib("VmRSS")));
                next_sample = cp + last_seq / 10;
            }
            if task.is_finished() {
                bail!("the ingestor stopped before reaching sequence {last_seq}");
            }
            if t.elapsed() > Duration::from_secs(1800) {
                bail!("ingest did not finish in 30 minutes (checkpoint {cp} of {last_seq})");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let secs = t.elapsed().as_secs_f64();
        samples.push((last_seq, proc_status_kib("VmRSS")));
        let _ = stop.send(());
        task.await??;
        anyhow::Ok((secs, samples, metrics))
    })?;
    let cpu_s = process_cpu_s() - cpu;
    let text = metrics.render();
    let value = |name: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(name)?
                    .strip_prefix(' ')?
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .unwrap_or(0.0)
    };
    print_result(&IngestRun {
        secs,
        cpu_s,
        samples,
        rss_before_kib,
        rss_after_kib: proc_status_kib("VmRSS"),
        peak_kib: proc_status_kib("VmHWM"),
        batches: value("abstraction_tracker_batch_apply_seconds_count"),
        batch_busy_s: value("abstraction_tracker_batch_apply_seconds_sum"),
    })
}

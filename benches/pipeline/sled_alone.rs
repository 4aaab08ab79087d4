//! Phase 3b: sled alone with the tracker's write set, by key order and batch size.

use super::*;
use abstraction_tracker::store::CACHE_BYTES;

/// What sled alone does with the tracker's write set, by key order and batch size: the
/// measurement behind the speed, memory and disk figures sled sets a ceiling on.
pub(crate) const SLED_CASES: [(&str, &str, usize); 9] = [
    ("seq", "1 key/event, sequential (the raw baseline)", 500),
    ("tracker", "tracker keys, UUIDv7 ids (simulator)", 500),
    (
        "tracker-zstd",
        "tracker keys, UUIDv7 ids, zstd level 1",
        500,
    ),
    (
        "tracker-zstd3",
        "tracker keys, UUIDv7 ids, zstd level 3",
        500,
    ),
    (
        "tracker-cache128",
        "tracker keys, UUIDv7 ids, cache 128 MiB",
        500,
    ),
    (
        "tracker-cache512",
        "tracker keys, UUIDv7 ids, cache 512 MiB",
        500,
    ),
    ("random", "tracker keys, random ids (UUIDv4-like)", 500),
    ("random", "tracker keys, random ids, batch 2000", 2000),
    ("tracker", "tracker keys, UUIDv7 ids, batch 2000", 2000),
];

#[derive(Serialize, Deserialize)]
pub(crate) struct SledProbe {
    pub(crate) secs: f64,
    pub(crate) events: usize,
    pub(crate) peak_kib: u64,
    pub(crate) disk: u64,
}

pub(crate) fn sled_phase(cfg: &Config, table: &mut Table) -> anyhow::Result<()> {
    println!(
        "\n== Phase 3b: sled alone, {} simulated events per case (a child process each; apply_batch + flush per batch) ==",
        cfg.sled_events
    );
    let mut base = None;
    for (mode, label, batch) in SLED_CASES {
        let dir = tempfile::Builder::new()
            .prefix("pipeline-bench-sled")
            .tempdir()?;
        let p: SledProbe = child(
            "sled",
            &[
                ("BENCH_CHILD_DIR", dir.path().display().to_string()),
                ("BENCH_CHILD_EVENTS", cfg.sled_events.to_string()),
                ("BENCH_CHILD_MODE", mode.to_string()),
                ("BENCH_CHILD_BATCH", batch.to_string()),
            ],
        )?;
        let r = p.events as f64 / p.secs;
        let base_r = *base.get_or_insert(r);
        println!(
            "{label:<44} {} peak RSS {} MiB, {:.0} B/event on disk",
            rate(p.events, p.secs),
            mib(p.peak_kib),
            p.disk as f64 / p.events as f64
        );
        table.row(
            format!("  sled: {label}"),
            format!(
                "{}, {} MiB, {:.0} B/ev",
                rate(p.events, p.secs),
                mib(p.peak_kib),
                p.disk as f64 / p.events as f64
            ),
            "1 key/event sequential".to_string(),
            format!("{:.2}x", r / base_r),
            "info",
            "",
        );
    }
    Ok(())
}

/// Child: writes simulated events into a bare sled tree (as `Store` configures it) with
/// one key order, then reports the time inside sled, peak RSS and disk. Events are
/// generated as it goes, so the RSS is sled's (plus one batch).
pub(crate) fn child_sled() -> anyhow::Result<()> {
    let dir = PathBuf::from(env_str("BENCH_CHILD_DIR")?);
    let limit = env_num("BENCH_CHILD_EVENTS", 0)?;
    let batch_len = env_num("BENCH_CHILD_BATCH", 500)?;
    let mode = env_str("BENCH_CHILD_MODE")?;
    // sled's settings that act in 0.34.7: its compression (zstd, per log message, at a
    // "compression_factor" of 1 to 22) and its cache size (the tracker's is
    // `CACHE_BYTES`). `mode` and `snapshot_after_ops` are accepted and ignored there,
    // `segment_size` is marked as for testing only, and `flush_every_ms` does not apply
    // when every batch is flushed before it is acknowledged.
    let (mode, zstd, cache) = match mode.as_str() {
        "tracker-zstd" => ("tracker", Some(1), CACHE_BYTES),
        "tracker-zstd3" => ("tracker", Some(3), CACHE_BYTES),
        "tracker-cache128" => ("tracker", None, 128 << 20),
        "tracker-cache512" => ("tracker", None, 512 << 20),
        other => (other, None, CACHE_BYTES),
    };
    let db = sled::Config::new()
        .path(&dir)
        .cache_capacity(cache)
        .use_compression(zstd.is_some())
        .compression_factor(zstd.unwrap_or(5))
        .open()?;
    let mut in_sled = Duration::ZERO;
    let mut batch = sled::Batch::default();
    let (mut seq, mut in_batch) = (0u64, 0usize);
    let mut failed: Option<anyhow::Error> = None;
    let mut write = |batch: sled::Batch| -> anyhow::Result<()> {
        let t = Instant::now();
        db.apply_batch(batch)?;
        db.flush()?;
        in_sled += t.elapsed();
        Ok(())
    };
    let events = sim_lines(limit, 10_000, BIG_FROM, |raw| {
        if failed.is_some() {
            return;
        }
        seq += 1;
        if mode == "seq" {
            batch.insert([b"l/".as_slice(), &seq.to_be_bytes()].concat(), raw);
        } else {
            let env = match decode_stored(raw) {
                Ok(env) => env,
                Err(r) => {
                    failed = Some(anyhow::anyhow!("{r}"));
                    return;
                }
            };
            let id = if mode == "random" {
                // A stand-in for a UUIDv4: a random-looking id, unique by its suffix.
                let mut h = std::collections::hash_map::DefaultHasher::new();
                std::hash::Hash::hash(&env.event_id, &mut h);
                format!("{:016x}-{seq:016x}", std::hash::Hasher::finish(&h))
            } else {
                env.event_id.clone()
            };
            let mut lk = abstraction_tracker::store::keys::entity_prefix(
                &env.lpa,
                &abstraction_tracker::domain::fold::entity_of(&env.event),
            );
            lk.extend_from_slice(id.as_bytes());
            batch.insert(lk, raw);
            batch.insert(
                abstraction_tracker::store::keys::id_key(&id),
                b"".as_slice(),
            );
        }
        in_batch += 1;
        if in_batch == batch_len {
            in_batch = 0;
            if let Err(e) = write(std::mem::take(&mut batch)) {
                failed = Some(e);
            }
        }
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    write(batch)?;
    print_result(&SledProbe {
        secs: in_sled.as_secs_f64(),
        events,
        peak_kib: proc_status_kib("VmHWM"),
        disk: db.size_on_disk()?,
    })
}

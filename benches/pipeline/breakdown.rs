//! Phase 2: where the ingest time goes, measured from outside the `Ingestor`.

use super::*;

/// A `Kv` that counts what the projector reads and writes, by key family.
pub(crate) struct Counting<'a, K: Kv> {
    pub(crate) inner: &'a mut K,
    pub(crate) gets: std::cell::RefCell<BTreeMap<u8, u64>>,
    pub(crate) puts: BTreeMap<u8, (u64, u64)>,
    pub(crate) dels: u64,
}

impl<K: Kv> Kv for Counting<'_, K> {
    fn get(&self, key: &[u8]) -> KvResult<Option<Vec<u8>>> {
        *self.gets.borrow_mut().entry(key[0]).or_default() += 1;
        self.inner.get(key)
    }
    fn scan_prefix_pairs(&self, prefix: &[u8]) -> KvResult<Vec<(Vec<u8>, Vec<u8>)>> {
        *self.gets.borrow_mut().entry(prefix[0]).or_default() += 1;
        self.inner.scan_prefix_pairs(prefix)
    }
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        let f = self.puts.entry(key[0]).or_default();
        f.0 += 1;
        f.1 += (key.len() + value.len()) as u64;
        self.inner.put(key, value);
    }
    fn del(&mut self, key: Vec<u8>) {
        self.dels += 1;
        self.inner.del(key);
    }
}

/// A `Kv` that records the writes it passes on, to replay them into a bare sled tree.
pub(crate) struct Recorder<'a, K: Kv> {
    pub(crate) inner: &'a mut K,
    pub(crate) writes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl<K: Kv> Kv for Recorder<'_, K> {
    fn get(&self, key: &[u8]) -> KvResult<Option<Vec<u8>>> {
        self.inner.get(key)
    }
    fn scan_prefix_pairs(&self, prefix: &[u8]) -> KvResult<Vec<(Vec<u8>, Vec<u8>)>> {
        self.inner.scan_prefix_pairs(prefix)
    }
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.push((key.clone(), Some(value.clone())));
        self.inner.put(key, value);
    }
    fn del(&mut self, key: Vec<u8>) {
        self.writes.push((key.clone(), None));
        self.inner.del(key);
    }
}

/// Mean seconds of one decode + encode of each value, cycling for at least 0.2 s.
pub(crate) fn codec_cycle(values: &[(&[u8], &[u8])], f: impl Fn(&[u8], &[u8])) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let t = Instant::now();
    let mut n = 0usize;
    while t.elapsed() < Duration::from_millis(200) {
        for (k, v) in values.iter().take(5000) {
            f(k, v);
            n += 1;
        }
    }
    t.elapsed().as_secs_f64() / n as f64
}

pub(crate) fn breakdown(
    validator: &Validator,
    payloads: &[Vec<u8>],
    batch: usize,
    raw_sled_s: f64,
    dir: &Path,
    table: &mut Table,
    notes: &mut Vec<String>,
) -> anyhow::Result<()> {
    println!("\n== Phase 2: where ingest time goes (no NATS; CPU = this thread's CPU time) ==");
    let n = payloads.len();
    let (t, cpu) = (Instant::now(), thread_cpu_s());
    let mut parsed = 0usize;
    for p in payloads {
        let v: serde_json::Value = serde_json::from_slice(p)?;
        parsed += usize::from(v.is_object());
    }
    let (parse_s, parse_cpu) = (t.elapsed().as_secs_f64(), thread_cpu_s() - cpu);
    let (t, cpu) = (Instant::now(), thread_cpu_s());
    let envs: Vec<Envelope> = payloads
        .iter()
        .map(|p| validator.decode(p))
        .collect::<Result<_, _>>()
        .map_err(|r| anyhow::anyhow!("a simulated event was refused: {r}"))?;
    let (decode_s, decode_cpu) = (t.elapsed().as_secs_f64(), thread_cpu_s() - cpu);

    // The Projector alone, batch by batch as the Ingestor uses it, over a BTreeMap.
    let mut map = BTreeMap::new();
    let mut counting = Counting {
        inner: &mut map,
        gets: Default::default(),
        puts: BTreeMap::new(),
        dels: 0,
    };
    let (t, cpu) = (Instant::now(), thread_cpu_s());
    for (raws, envs) in payloads.chunks(batch).zip(envs.chunks(batch)) {
        let mut p = Projector::default();
        for (raw, env) in raws.iter().zip(envs) {
            if p.ingest(&mut counting, raw, env)? != Outcome::Applied {
                bail!("simulated event {} not applied", env.event_id);
            }
        }
        p.write(&mut counting);
    }
    let (fold_s, fold_cpu) = (t.elapsed().as_secs_f64(), thread_cpu_s() - cpu);
    let gets = counting.gets.take();
    let (puts, dels) = (std::mem::take(&mut counting.puts), counting.dels);
    let mut families: BTreeMap<u8, (usize, usize)> = BTreeMap::new();
    for (k, v) in &map {
        let f = families.entry(k[0]).or_default();
        f.0 += 1;
        f.1 += k.len() + v.len();
    }
    let logical: usize = families.values().map(|f| f.1).sum();
    println!(
        "serde_json::Value parse alone: {} (CPU {}); Validator::decode alone: {} (CPU {}); Projector over a BTreeMap, {batch}/batch: {} (CPU {})",
        rate(parsed, parse_s),
        rate(parsed, parse_cpu),
        rate(n, decode_s),
        rate(n, decode_cpu),
        rate(n, fold_s),
        rate(n, fold_cpu),
    );
    let per = |x: u64| x as f64 / n as f64;
    let fam: Vec<String> = puts
        .iter()
        .map(|(f, (c, b))| {
            format!(
                "{}/ {:.3} gets {:.3} puts {:.0} B",
                *f as char,
                per(gets.get(f).copied().unwrap_or(0)),
                per(*c),
                per(*b)
            )
        })
        .collect();
    println!(
        "per event, by key family: {}; {:.4} deletes",
        fam.join(", "),
        per(dels)
    );
    let state: Vec<String> = families
        .iter()
        .map(|(f, (keys, bytes))| {
            format!(
                "{}/ {keys} keys {:.0} B/event",
                *f as char,
                *bytes as f64 / n as f64
            )
        })
        .collect();
    println!(
        "final logical state {:.0} B/event (keys + values): {}",
        logical as f64 / n as f64,
        state.join(", ")
    );
    let fam_values = |f: u8| -> Vec<(&[u8], &[u8])> {
        map.iter()
            .filter(|(k, _)| k[0] == f)
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
            .collect()
    };
    let lpa_cycle = codec_cycle(&fam_values(b'a'), |_, v| {
        let m: LpaMonth = serde_json::from_slice(v).expect("LpaMonth");
        std::hint::black_box(serde_json::to_vec(&m).expect("encodes"));
    });
    let sector_cycle = codec_cycle(&fam_values(b's'), |_, v| {
        let m: SectorMonth = serde_json::from_slice(v).expect("SectorMonth");
        std::hint::black_box(serde_json::to_vec(&m).expect("encodes"));
    });
    let a_size = families.get(&b'a').map_or(0.0, |f| f.1 as f64 / f.0 as f64);
    println!(
        "JSON decode + encode: LpaMonth (mean {a_size:.0} B) {:.1} µs, SectorMonth {:.1} µs",
        lpa_cycle * 1e6,
        sector_cycle * 1e6,
    );
    let codec_per_event = per(puts.get(&b'a').map_or(0, |p| p.0)) * lpa_cycle
        + per(puts.get(&b's').map_or(0, |p| p.0)) * sector_cycle;
    println!(
        "=> read-model JSON codec ~{:.1} µs of the Projector's {:.1} µs CPU per event",
        codec_per_event * 1e6,
        fold_cpu / n as f64 * 1e6
    );
    drop(map);

    // The tracker's per-batch work against sled, step by step.
    // The tracker's per-batch work against sled, step by step; the same writes are then
    // replayed into a bare sled tree (apply_batch + flush per batch), timed apart.
    let store = Store::open(&dir.join("offline"))?;
    store.load_filters()?;
    let replay = sled::Config::new().path(dir.join("replay")).open()?;
    let (mut t_dec, mut t_fold, mut t_apply, mut t_flush) = (0.0, 0.0, 0.0, 0.0);
    let (mut t_replay, mut cpu_replay) = (0.0, 0.0);
    let mut keys = 0usize;
    let mut seq = 0u64;
    let (wall, cpu) = (Instant::now(), thread_cpu_s());
    for chunk in payloads.chunks(batch) {
        let t = Instant::now();
        let envs: Vec<Envelope> = chunk
            .iter()
            .map(|p| validator.decode(p).expect("decoded above"))
            .collect();
        t_dec += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mut commit = store.begin();
        let mut rec = Recorder {
            inner: &mut commit,
            writes: Vec::with_capacity(chunk.len() * 4),
        };
        let mut p = Projector::default();
        for (raw, env) in chunk.iter().zip(&envs) {
            p.ingest(&mut rec, raw, env)?;
        }
        p.write(&mut rec);
        let writes = std::mem::take(&mut rec.writes);
        seq += chunk.len() as u64;
        commit.set_checkpoint("offline", seq);
        keys += commit.len();
        t_fold += t.elapsed().as_secs_f64();
        let t = Instant::now();
        commit.commit(false)?;
        t_apply += t.elapsed().as_secs_f64();
        let t = Instant::now();
        store.flush()?;
        t_flush += t.elapsed().as_secs_f64();

        let (t, c) = (Instant::now(), thread_cpu_s());
        let mut b = sled::Batch::default();
        for (k, v) in writes {
            match v {
                Some(v) => b.insert(k, v),
                None => b.remove(k),
            }
        }
        b.insert(b"m/checkpoint/offline".as_slice(), &seq.to_be_bytes());
        replay.apply_batch(b)?;
        replay.flush()?;
        t_replay += t.elapsed().as_secs_f64();
        cpu_replay += thread_cpu_s() - c;
    }
    let (total, total_cpu) = (
        wall.elapsed().as_secs_f64() - t_replay,
        thread_cpu_s() - cpu - cpu_replay,
    );
    let pct = |x: f64| format!("{:.0}%", x * 100.0 / total);
    println!(
        "same pipeline without NATS ({batch}/batch): {} (CPU {}); decode {t_dec:.2} s ({}), Projector into Commit {t_fold:.2} s ({}), sled apply_batch {t_apply:.2} s ({}), flush {t_flush:.2} s ({}); {:.2} distinct keys written per event",
        rate(n, total),
        rate(n, total_cpu),
        pct(t_dec),
        pct(t_fold),
        pct(t_apply),
        pct(t_flush),
        keys as f64 / n as f64
    );
    println!(
        "the same writes replayed into a bare sled tree (apply_batch + flush per batch): {} (CPU {})",
        rate(n, t_replay),
        rate(n, cpu_replay)
    );
    table.row(
        "  bare sled, the tracker's exact write set",
        rate(n, t_replay),
        format!("raw sled, 1 key/event {}", rate(n, raw_sled_s)),
        format!("{:.2}x", raw_sled_s / t_replay),
        "info",
        "",
    );
    table.row(
        "  Validator::decode alone",
        rate(n, decode_s),
        format!("serde_json::Value parse {}", rate(parsed, parse_s)),
        format!("{:.2}x", parse_s / decode_s),
        "info",
        "",
    );
    table.row(
        "  Projector over a BTreeMap alone",
        rate(n, fold_s),
        "-",
        "-",
        "info",
        "",
    );
    table.row(
        "  tracker pipeline without NATS",
        rate(n, total),
        format!(
            "dec {} / fold {} / apply {} / flush {}",
            pct(t_dec),
            pct(t_fold),
            pct(t_apply),
            pct(t_flush)
        ),
        "-",
        "info",
        "",
    );
    let raw_mean = payloads.iter().map(Vec::len).sum::<usize>() as f64 / n as f64;
    notes.push(format!(
        "per event the tracker writes {:.2} distinct sled keys per batch ({:.0} B of keys + values put); the raw sled baseline writes 1 key of {:.0} B",
        keys as f64 / n as f64,
        per(puts.values().map(|p| p.1).sum()),
        raw_mean + 8.0
    ));
    Ok(())
}

//! Phase 3c: the tracker's write set, and the fewer-keys segments layout, on sled, redb
//! and fjall in the same run (issue 14: if no layout on sled can reach a target, show
//! what the stable alternatives do with it).
//!
//! Each engine gets its own child process for the writes (so its peak RSS is its own)
//! and another for the re-open. The writer generates the same simulated events as phase
//! 3b (`sim_lines`, 10,000 officers from `BIG_FROM`, the simulator's UUIDv7 ids) and, in
//! batches of 500 events, writes exactly:
//! - per event, the log entry: key `keys::entity_prefix(lpa, entity_of(event))` followed
//!   by the event id, value the raw JSON bytes;
//! - per event, the id index: key `keys::id_key(event_id)`, empty value;
//! - per batch, once for each distinct LPA and month of the events' `occurred_ms`, a key
//!   `a/<lpa>/<YYYY-MM>` with a 300-byte JSON-like value, and once for each distinct LPA
//!   and local day a key `d/<lpa>/<YYYY-MM-DD>` with a 150-byte one (numbers that vary by
//!   batch, so compression cannot shrink them to nothing); plus `m/checkpoint/x`, 8 bytes.
//!
//! The "segments" layouts are the fewer-keys layout issue 14 proposes, written as the
//! tracker would write it, to learn whether any layout on sled reaches the targets
//! before building one: per batch and LPA, one key `g/<lpa>/<ordinal of the batch's
//! first event, u64 BE>` holding the batch's events of that LPA (length-prefixed raw
//! JSON, zstd level 1; compressing counts outside the engine time); per event one
//! id-index key, `i/` and a 128-bit xxh3 of the id ("hashed") or the id itself ("by
//! id", time-ordered for UUIDv7), whose value locates the event (LPA, segment, place)
//! for the exact check; per entity the batch touched, one state `e/<lpa>/<s|a>/<id>`
//! of `ENTITY_STATE_BYTES` (a compact binary state, so no entity is re-folded from a
//! scan of its events); and the same read models and checkpoint as below.
//!
//! The read models are an approximation: the real fold rewrites the months and days of
//! the shift or abstraction's interval (not of `occurred_ms`) and also the sector, open
//! and officer keys (`s/`, `n/`, `o/`), which are left out here. The log and id keys are
//! the tracker's own.
//!
//! A batch is durable before the next starts: sled `apply_batch` + `flush()`; redb one
//! write transaction with its default durability (`Immediate`); fjall a `WriteBatch`
//! committed, then `persist(PersistMode::SyncAll)`. One tree, table or keyspace each;
//! every engine's cache is `store::CACHE_BYTES` (redb's default is 1 GiB). The time is
//! inside the engine calls only (from the batch's pairs to durable); fjall's background
//! flushes and compactions run on their own threads and count only where they stall a
//! write. Disk is the directory's file sizes after the writer exits (fjall's includes the
//! journal it has not yet flushed into tables, up to 512 MiB by default, which its open
//! replays: its share is printed). The re-open is timed in a new process: open plus one
//! point read of a log key from the middle of the run, after `sync` and dropping the page
//! cache when it may (as root), which it reports as cold or warm.

use super::*;
use abstraction_tracker::domain::calendar::{day_containing_ms, month_of};
use abstraction_tracker::domain::fold::entity_of;
use abstraction_tracker::store::{keys, CACHE_BYTES};
use std::collections::BTreeSet;

const ENGINES: [&str; 3] = ["sled", "redb", "fjall"];
/// The layouts written on every engine: the tracker's own (store format 4), then the
/// fewer-keys layout issue 14 proposes, with its id index keyed by a 128-bit hash of the
/// id, and again keyed by the id itself (time-ordered for UUIDv7 ids).
const LAYOUTS: [(&str, &str); 3] = [
    ("tracker", "tracker write set"),
    ("segments-hash", "segments, hashed id index"),
    ("segments-id", "segments, id index by id"),
];
/// Bytes of a compact binary entity state in the segments layout (ids as 16 bytes, times
/// as i64 ms, codes as one byte, officer and sector strings; amendments make some longer).
const ENTITY_STATE_BYTES: usize = 112;
const ENGINE_BATCH: usize = 500;
const REDB_TABLE: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("kv");

#[derive(Serialize, Deserialize)]
struct WriteProbe {
    secs: f64,
    events: usize,
    raw_bytes: u64,
    peak_kib: u64,
    /// A log key from the middle of the run (hex), for the re-open's point read.
    probe_key: String,
    /// RSS (KiB) after 1M, 3M and 10M events, as far as the run goes.
    rss_samples: Vec<(u64, u64)>,
}

/// Where the writer samples its RSS: the points issue 14 names.
const RSS_AT: [u64; 3] = [1_000_000, 3_000_000, 10_000_000];

/// `1.0M`, `300k`: an event count for a label.
fn count(n: usize) -> String {
    if n >= 1_000_000 {
        format!("{:.1}M", n as f64 / 1e6)
    } else {
        format!("{}k", n / 1000)
    }
}

#[derive(Serialize, Deserialize)]
struct OpenProbe {
    secs: f64,
    cold: bool,
    peak_kib: u64,
}

/// Phase 3c at `events` events per case (`BENCH_SLED_EVENTS`: every layout), and again
/// at `BENCH_ENGINE_BIG_EVENTS` (ten million by default: the segments layout alone, for
/// the restart and memory targets, which are set at 10M).
pub(crate) fn engine_phase(cfg: &Config, table: &mut Table) -> anyhow::Result<()> {
    engine_cases(cfg.sled_events, &LAYOUTS, table)?;
    if cfg.engine_big_events > 0 {
        engine_cases(cfg.engine_big_events, &LAYOUTS[1..2], table)?;
    }
    Ok(())
}

fn engine_cases(events: usize, layouts: &[(&str, &str)], table: &mut Table) -> anyhow::Result<()> {
    println!(
        "\n== Phase 3c: the write sets of {} on sled, redb and fjall, {events} simulated events each (batch {ENGINE_BATCH}, durable per batch, a child process each) ==",
        layouts.iter().map(|(_, l)| *l).collect::<Vec<_>>().join("; ")
    );
    for &(layout, layout_label) in layouts {
        let mut sled_rate = None;
        for engine in ENGINES {
            let dir = tempfile::Builder::new()
                .prefix("pipeline-bench-engine")
                .tempdir()?;
            let env = |mode: &str| {
                vec![
                    ("BENCH_CHILD_DIR", dir.path().display().to_string()),
                    ("BENCH_CHILD_EVENTS", events.to_string()),
                    ("BENCH_CHILD_ENGINE", engine.to_string()),
                    ("BENCH_CHILD_MODE", mode.to_string()),
                    ("BENCH_CHILD_LAYOUT", layout.to_string()),
                ]
            };
            let written = child::<WriteProbe>("engine", &env("write")).and_then(|w| {
                let disk = dir_bytes(dir.path())?;
                let mut open_env = env("open");
                open_env.push(("BENCH_CHILD_KEY", w.probe_key.clone()));
                Ok((w, disk, child::<OpenProbe>("engine", &open_env)?))
            });
            let (w, (disk, journal), o) = match written {
                Ok(r) => r,
                Err(e) if engine != "sled" => {
                    println!("{engine}: skipped, it failed: {e:#}");
                    table.row(
                        format!("  {engine}: {layout_label}, {}", count(events)),
                        format!("skipped: {e}"),
                        "sled, same events",
                        "",
                        "info",
                        "",
                    );
                    continue;
                }
                Err(e) => return Err(e),
            };
            let samples = w
                .rss_samples
                .iter()
                .map(|(n, kib)| format!("{} at {}", mib(*kib), count(*n as usize)))
                .collect::<Vec<_>>()
                .join(", ");
            let samples = if samples.is_empty() {
                samples
            } else {
                format!(" ({samples})")
            };
            let r = w.events as f64 / w.secs;
            let ratio = sled_rate.map_or(1.0, |s| r / s);
            sled_rate.get_or_insert(r);
            let per_event = disk as f64 / w.events as f64;
            let vs_raw = disk as f64 / w.raw_bytes as f64;
            let open = format!(
                "{} {} open + 1 read",
                fmt_ms(o.secs * 1e3),
                if o.cold { "cold" } else { "warm" }
            );
            let journal = if journal > 0 {
                format!(", of which {:.1} MiB journal", journal as f64 / MIB)
            } else {
                String::new()
            };
            println!(
            "{layout_label:<27} {engine:<6} {} ({ratio:.2}x sled), peak RSS {} MiB{samples}, {per_event:.0} B/event on disk ({vs_raw:.2}x the raw JSON{journal}), re-open {open} (peak RSS {} MiB)",
            rate(w.events, w.secs),
            mib(w.peak_kib),
            mib(o.peak_kib),
        );
            table.row(
                format!("  {engine}: {layout_label}, {}", count(events)),
                format!(
                    "{}, {} MiB{samples}, {per_event:.0} B/ev ({vs_raw:.2}x raw), {open}",
                    rate(w.events, w.secs),
                    mib(w.peak_kib),
                ),
                "sled, same layout",
                format!("{ratio:.2}x"),
                "info",
                "",
            );
        }
    }
    Ok(())
}

/// The bytes of every file under a directory (their lengths, as `ls` shows them), and
/// of those the bytes of journal files (`*.jnl`, fjall's: what it replays at open).
fn dir_bytes(dir: &Path) -> anyhow::Result<(u64, u64)> {
    let (mut total, mut journal) = (0, 0);
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            let (t, j) = dir_bytes(&entry.path())?;
            total += t;
            journal += j;
        } else {
            total += meta.len();
            if entry.path().extension().is_some_and(|e| e == "jnl") {
                journal += meta.len();
            }
        }
    }
    Ok((total, journal))
}

/// One engine, opened as phase 3c uses it.
enum Engine {
    Sled(sled::Db),
    Redb(redb::Database),
    Fjall(fjall::Database, fjall::Keyspace),
}

impl Engine {
    fn open(name: &str, dir: &Path) -> anyhow::Result<Engine> {
        Ok(match name {
            "sled" => Engine::Sled(
                sled::Config::new()
                    .path(dir)
                    .cache_capacity(CACHE_BYTES)
                    .open()?,
            ),
            "redb" => Engine::Redb(
                redb::Database::builder()
                    .set_cache_size(CACHE_BYTES as usize)
                    .create(dir.join("tracker.redb"))?,
            ),
            "fjall" => {
                let db = fjall::Database::builder(dir)
                    .cache_size(CACHE_BYTES)
                    .open()?;
                let ks = db.keyspace("kv", fjall::KeyspaceCreateOptions::default)?;
                Engine::Fjall(db, ks)
            }
            other => bail!("unknown engine {other}"),
        })
    }

    /// Writes one batch and returns when it is durable.
    fn write(&self, pairs: &[(Vec<u8>, Vec<u8>)]) -> anyhow::Result<()> {
        match self {
            Engine::Sled(db) => {
                let mut batch = sled::Batch::default();
                for (k, v) in pairs {
                    batch.insert(k.as_slice(), v.as_slice());
                }
                db.apply_batch(batch)?;
                db.flush()?;
            }
            Engine::Redb(db) => {
                let tx = db.begin_write()?;
                {
                    let mut t = tx.open_table(REDB_TABLE)?;
                    for (k, v) in pairs {
                        t.insert(k.as_slice(), v.as_slice())?;
                    }
                }
                tx.commit()?;
            }
            Engine::Fjall(db, ks) => {
                let mut batch = db.batch();
                for (k, v) in pairs {
                    batch.insert(ks, k.as_slice(), v.as_slice());
                }
                batch.commit()?;
                db.persist(fjall::PersistMode::SyncAll)?;
            }
        }
        Ok(())
    }

    fn get(&self, key: &[u8]) -> anyhow::Result<Option<Vec<u8>>> {
        use redb::{ReadableDatabase as _, ReadableTable as _};
        Ok(match self {
            Engine::Sled(db) => db.get(key)?.map(|v| v.to_vec()),
            Engine::Redb(db) => db
                .begin_read()?
                .open_table(REDB_TABLE)?
                .get(key)?
                .map(|v| v.value().to_vec()),
            Engine::Fjall(_, ks) => ks.get(key)?.map(|v| v.to_vec()),
        })
    }
}

/// A JSON-like value of about `len` bytes whose numbers vary with `seed`.
fn model_value(key: &[u8], seed: u64, len: usize) -> Vec<u8> {
    let mut v = format!("{{\"key\":\"{}\",\"n\":[", String::from_utf8_lossy(key));
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    while v.len() + 24 < len {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        v.push_str(&format!("{},", x >> 40));
    }
    v.push_str("0]}");
    v.into_bytes()
}

/// The keys and values of one batch of phase 3c, in one layout.
struct BatchWriter {
    layout: String,
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
    models: BTreeSet<Vec<u8>>,
    /// Segments layouts: this batch's events by LPA (length-prefixed raw JSON), the
    /// entities it touched, and the ordinal of its first event (its segments' key).
    segments: BTreeMap<String, Vec<u8>>,
    entities: BTreeSet<Vec<u8>>,
    first: u64,
    batches: u64,
}

impl BatchWriter {
    /// Adds one event; returns the key a re-open reads back for it.
    fn add(&mut self, env: &Envelope, raw: &[u8], ordinal: u64) -> Vec<u8> {
        let day = day_containing_ms(env.occurred_ms);
        self.models
            .insert(keys::lpa_month_key(&env.lpa, month_of(day)));
        self.models.insert(keys::lpa_day_key(&env.lpa, day));
        let entity = keys::entity_prefix(&env.lpa, &entity_of(&env.event));
        if self.layout == "tracker" {
            let mut lk = entity;
            lk.extend_from_slice(env.event_id.as_bytes());
            self.pairs.push((lk.clone(), raw.to_vec()));
            self.pairs.push((keys::id_key(&env.event_id), Vec::new()));
            return lk;
        }
        if self.segments.is_empty() {
            self.first = ordinal;
        }
        let seg = self.segments.entry(env.lpa.clone()).or_default();
        seg.extend_from_slice(&(raw.len() as u32).to_le_bytes());
        seg.extend_from_slice(raw);
        // The entity state's key: `e/` in place of the log's `l/`.
        let mut ek = entity;
        ek[0] = b'e';
        self.entities.insert(ek);
        let id_key = if self.layout == "segments-hash" {
            let h = xxhash_rust::xxh3::xxh3_128(env.event_id.as_bytes());
            [&b"i/"[..], &h.to_be_bytes()].concat()
        } else {
            keys::id_key(&env.event_id)
        };
        // Where the event is: its segment (LPA, first ordinal) and place in it, for
        // the exact check of a "maybe".
        let mut at = env.lpa.as_bytes().to_vec();
        at.extend_from_slice(&self.first.to_be_bytes());
        at.extend_from_slice(&((ordinal - self.first) as u16).to_be_bytes());
        self.pairs.push((id_key.clone(), at));
        id_key
    }

    /// Writes the batch's segments, entity states, read models and checkpoint to the
    /// engine; returns the time inside the engine (compression is counted outside it).
    fn flush(&mut self, engine: &Engine) -> anyhow::Result<Duration> {
        self.batches += 1;
        for (lpa, seg) in std::mem::take(&mut self.segments) {
            let key = format!("g/{lpa}/").into_bytes();
            let key = [key, self.first.to_be_bytes().to_vec()].concat();
            self.pairs
                .push((key, zstd::stream::encode_all(seg.as_slice(), 1)?));
        }
        for key in std::mem::take(&mut self.entities) {
            let value = model_value(&key, self.batches, ENTITY_STATE_BYTES);
            self.pairs.push((key, value));
        }
        for key in std::mem::take(&mut self.models) {
            let len = if key.starts_with(b"a/") { 300 } else { 150 };
            let value = model_value(&key, self.batches, len);
            self.pairs.push((key, value));
        }
        self.pairs.push((
            keys::checkpoint_key("x"),
            self.batches.to_be_bytes().to_vec(),
        ));
        let t = Instant::now();
        engine.write(&self.pairs)?;
        self.pairs.clear();
        Ok(t.elapsed())
    }
}

/// Child (`BENCH_CHILD=engine`): `BENCH_CHILD_MODE=write` writes the events into one
/// engine in the layout `BENCH_CHILD_LAYOUT`; `open` times the re-open of what the
/// writer left.
pub(crate) fn child_engine() -> anyhow::Result<()> {
    let dir = PathBuf::from(env_str("BENCH_CHILD_DIR")?);
    let name = env_str("BENCH_CHILD_ENGINE")?;
    if env_str("BENCH_CHILD_MODE")? == "open" {
        return child_open(&name, &dir);
    }
    let limit = env_num("BENCH_CHILD_EVENTS", 0)?;
    let engine = Engine::open(&name, &dir)?;
    let mut writer = BatchWriter {
        layout: env_str("BENCH_CHILD_LAYOUT")?,
        pairs: Vec::new(),
        models: BTreeSet::new(),
        segments: BTreeMap::new(),
        entities: BTreeSet::new(),
        first: 0,
        batches: 0,
    };
    let mut in_engine = Duration::ZERO;
    let (mut in_batch, mut raw_bytes, mut seen) = (0usize, 0u64, 0u64);
    let mut probe_key = String::new();
    let mut rss_samples = Vec::new();
    let mut failed: Option<anyhow::Error> = None;
    let events = sim_lines(limit, 10_000, BIG_FROM, |raw| {
        if failed.is_some() {
            return;
        }
        let env = match decode_stored(raw) {
            Ok(env) => env,
            Err(r) => {
                failed = Some(anyhow::anyhow!("{r}"));
                return;
            }
        };
        let key = writer.add(&env, raw, seen);
        seen += 1;
        if RSS_AT.contains(&seen) {
            rss_samples.push((seen, proc_status_kib("VmRSS")));
        }
        if seen == limit as u64 / 2 + 1 {
            probe_key = key.iter().map(|b| format!("{b:02x}")).collect();
        }
        raw_bytes += raw.len() as u64;
        in_batch += 1;
        if in_batch == ENGINE_BATCH {
            in_batch = 0;
            match writer.flush(&engine) {
                Ok(t) => in_engine += t,
                Err(e) => failed = Some(e),
            }
        }
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    if in_batch > 0 {
        in_engine += writer.flush(&engine)?;
    }
    if let Engine::Sled(db) = &engine {
        println!(
            "sled size_on_disk {:.0} B/event",
            db.size_on_disk()? as f64 / events as f64
        );
    }
    let peak_kib = proc_status_kib("VmHWM");
    drop(engine);
    print_result(&WriteProbe {
        secs: in_engine.as_secs_f64(),
        events,
        raw_bytes,
        peak_kib,
        probe_key,
        rss_samples,
    })
}

/// Re-opens what the writer left and reads one log key back, after dropping the page
/// cache when this process may.
fn child_open(name: &str, dir: &Path) -> anyhow::Result<()> {
    let hex = env_str("BENCH_CHILD_KEY")?;
    let key = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()?;
    let cold = drop_page_cache();
    let t = Instant::now();
    let engine = match name {
        // Open what exists: redb's `create` would also open it, but say what is meant.
        "redb" => Engine::Redb(
            redb::Database::builder()
                .set_cache_size(CACHE_BYTES as usize)
                .open(dir.join("tracker.redb"))?,
        ),
        _ => Engine::open(name, dir)?,
    };
    let found = engine.get(&key)?;
    let secs = t.elapsed().as_secs_f64();
    if found.is_none() {
        bail!("{name}: the log key read back after re-opening is missing");
    }
    print_result(&OpenProbe {
        secs,
        cold,
        peak_kib: proc_status_kib("VmHWM"),
    })
}

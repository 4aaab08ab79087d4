//! A measurement, run by hand, of what the store's Bloom filters (`store::bloom`) save
//! on each engine: are they still worth their memory and their loading scan over an LSM
//! tree (fjall) that keeps Bloom filters of its own per table? docs/BENCHMARKS.md holds
//! a run's output.
//!
//! ```text
//! cargo run --release --example store_lookups -- sled 1000000
//! cargo run --release --example store_lookups -- fjall 1000000
//! ```
//!
//! Writes N events (two keys each: log entry and id index, the tracker's own keys,
//! time-ordered ids as the simulator's) in durable batches of 500 through `Commit`,
//! re-opens the store, then times the two questions ingest asks of every event ("is
//! this id stored?", "has this entity any events?") for ids and entities that are not
//! stored (the common case: a new event) and for stored ones, first straight from the
//! engine (filters not loaded: every answer is "maybe"), then with the filters loaded.
//! One engine per process, so the peak RSS printed is that engine's.

use abstraction_tracker::domain::event::Envelope;
use abstraction_tracker::domain::fold::entity_of;
use abstraction_tracker::domain::reference::Reference;
use abstraction_tracker::store::{EngineKind, Kv, Store};
use abstraction_tracker::wire::decode::Validator;
use std::time::Instant;

fn event(v: &Validator, i: u64) -> (Vec<u8>, Envelope) {
    let raw = format!(
        r#"{{"event_id":"0192f0c4-7d1e-7a00-9f00-{i:012}","type":"abstraction.recorded","schema_version":1,"occurred_at":"2024-03-14T08:05:00Z","source":"probe","lpa":"dudley","data":{{"abstraction_id":"A-{i:010}","officer_id":"o-{o}","role":"pc","sector":"dudley-north","reason":"response_cover","scope":"lpa","planned":false,"start":"2024-03-14T08:00:00Z","end":"2024-03-14T10:00:00Z"}}}}"#,
        o = i % 10_000
    );
    let env = v.decode(raw.as_bytes()).expect("a valid event");
    (raw.into_bytes(), env)
}

/// Mean microseconds per event of asking both questions for `events`.
fn lookups(store: &Store, events: &[(Vec<u8>, Envelope)], want: bool) -> f64 {
    let c = store.begin();
    let started = Instant::now();
    for (_, env) in events {
        let id = c.has_event_id(&env.event_id).unwrap();
        let entity = !c
            .entity_events(&env.lpa, &entity_of(&env.event))
            .unwrap()
            .is_empty();
        assert_eq!((id, entity), (want, want), "{}", env.event_id);
    }
    started.elapsed().as_secs_f64() * 1e6 / events.len() as f64
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let engine: EngineKind = args.get(1).map_or("fjall", |s| s.as_str()).parse().unwrap();
    let n: u64 = args.get(2).map_or(1_000_000, |s| s.parse().unwrap());
    let v = Validator::new(Reference::west_midlands());
    let dir = std::env::temp_dir().join(format!("store-lookups-{engine}-{}", std::process::id()));
    {
        let store = Store::open_with(&dir, Some(engine)).unwrap();
        let started = Instant::now();
        let mut written = 0;
        while written < n {
            let mut c = store.begin();
            for i in written..(written + 500).min(n) {
                let (raw, env) = event(&v, i);
                c.append_event(&env, &raw);
            }
            written = (written + 500).min(n);
            c.set_log_len(written);
            c.commit(true).unwrap();
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{engine}: wrote {n} events in durable batches of 500 in {secs:.1} s ({:.0} events/s), {:.0} MiB on disk",
            n as f64 / secs,
            store.size_on_disk() as f64 / 1048576.0
        );
    }
    let store = Store::open_with(&dir, Some(engine)).unwrap();
    let sample = 20_000;
    let absent: Vec<_> = (0..sample).map(|i| event(&v, n + 1 + i)).collect();
    let stored: Vec<_> = (0..sample).map(|i| event(&v, i * (n / sample))).collect();
    let (absent_engine, stored_engine) = (
        lookups(&store, &absent, false),
        lookups(&store, &stored, true),
    );
    let started = Instant::now();
    store.load_filters().unwrap();
    let load = started.elapsed().as_secs_f64();
    let (absent_filtered, stored_filtered) = (
        lookups(&store, &absent, false),
        lookups(&store, &stored, true),
    );
    println!(
        "{engine}: per event, the id and entity questions: new event {absent_engine:.1} µs from the engine, {absent_filtered:.2} µs with the filters; stored event {stored_engine:.1} µs, {stored_filtered:.1} µs with the filters; loading the filters {load:.1} s; peak RSS {:.0} MiB",
        peak_rss_mib()
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

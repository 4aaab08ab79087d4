//! Process and machine figures: RSS, CPU time, load, disk.

use super::*;

/// A field of /proc/self/status in KiB (0 where unavailable).
pub(crate) fn proc_status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

pub(crate) fn mib(kib: u64) -> String {
    format!("{:.0}", kib as f64 / 1024.0)
}

/// User + system CPU seconds from a /proc stat file (clock ticks of 1/100 s).
pub(crate) fn stat_cpu_s(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // After "(comm)": state is field 3, utime 14, stime 15.
    (tick(11) + tick(12)) / 100.0
}

pub(crate) fn thread_cpu_s() -> f64 {
    stat_cpu_s("/proc/thread-self/stat")
}

pub(crate) fn process_cpu_s() -> f64 {
    stat_cpu_s("/proc/self/stat")
}

pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Bytes of disk blocks allocated under `dir`.
pub(crate) fn allocated_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                stack.push(e.path());
            } else {
                total += m.blocks() * 512;
            }
        }
    }
    total
}

/// Free bytes on the filesystem holding `dir`, from `df`.
pub(crate) fn available_bytes(dir: &Path) -> Option<u64> {
    let out = Command::new("df").arg("-Pk").arg(dir).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let kib: u64 = text
        .lines()
        .nth(1)?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Writes dirty pages out and drops the page cache, so the next read comes from disk
/// (needs root; false when it could not, and the read is then warm).
pub(crate) fn drop_page_cache() -> bool {
    let synced = Command::new("sync").status().is_ok_and(|s| s.success());
    synced && std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
}

/// Every stored event of `store`'s log read raw, no decoding: (events, bytes). The
/// baseline rebuild is measured against.
pub(crate) fn raw_scan(store: &Store) -> anyhow::Result<(usize, usize)> {
    let (mut n, mut bytes) = (0usize, 0usize);
    for v in store.log() {
        n += 1;
        bytes += v?.len();
    }
    Ok((n, bytes))
}

//! `simulate`: deterministic NDJSON events on stdout, progress by day on stderr.

use super::args::SimulateArgs;
use abstraction_tracker::tools::simulate;
use anyhow::bail;
use std::io::Write;

pub fn run(a: SimulateArgs) -> anyhow::Result<()> {
    if a.to < a.from {
        bail!("--to {} is before --from {}", a.to, a.from);
    }
    let reference = a.reference.load()?;
    let cfg = simulate::SimConfig {
        seed: a.seed,
        from: a.from,
        to: a.to,
        officers: a.officers,
        now: a.now.map(|t| t.as_second()),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    let pb = super::bar(0, "simulating days");
    let summary = simulate::simulate(&cfg, &reference, &mut out, &mut |done, total| {
        pb.set_length(total);
        pb.set_position(done);
    })?;
    out.flush()?;
    pb.finish_and_clear();
    eprintln!(
        "simulated {} events: {} shifts, {} abstractions, {} corrections",
        summary.events, summary.shifts, summary.abstractions, summary.corrections
    );
    Ok(())
}

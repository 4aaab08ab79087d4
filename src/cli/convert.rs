//! `convert`: copy a stopped store into a new data directory on a chosen engine
//! (contract v3 section 11), then check that every stored month gives the same
//! figures (the `lpas[]` entries of the month API) from both.

use super::args::ConvertArgs;
use abstraction_tracker::app::figures;
use abstraction_tracker::clock::Clock;
use abstraction_tracker::domain::calendar::{Day, Month};
use abstraction_tracker::domain::reference::Reference;
use abstraction_tracker::store::{EngineKind, Store};
use anyhow::Context as _;
use std::path::Path;

pub fn run(a: ConvertArgs) -> anyhow::Result<()> {
    if a.to.exists() {
        anyhow::bail!(
            "--to {} exists: convert writes a new data directory; name one that does not exist",
            a.to.display()
        );
    }
    let reference = a.reference.load()?;
    let from = Store::open_existing(&a.from)?;
    let started = std::time::Instant::now();
    let result = copy_and_check(&from, &a.to, a.engine, &reference);
    if result.is_err() {
        // Written by this command alone (it did not exist): nothing else is lost.
        let _ = std::fs::remove_dir_all(&a.to);
    }
    let (keys, months) = result?;
    eprintln!(
        "converted {} ({} engine) to {} ({} engine): {keys} keys in {:.1}s; the figures of all {months} stored months are equal",
        a.from.display(),
        from.engine(),
        a.to.display(),
        a.engine,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Copies `from` into a new store at `to` and compares every stored month; returns the
/// keys copied and the months compared.
fn copy_and_check(
    from: &Store,
    to: &Path,
    engine: EngineKind,
    reference: &Reference,
) -> anyhow::Result<(u64, usize)> {
    let dest =
        Store::open_with(to, Some(engine)).with_context(|| format!("creating {}", to.display()))?;
    let pb = super::bar(from.key_count_estimate()?, "copying keys");
    let keys = from.copy_into(&dest, |n| pb.inc(n))?;
    pb.finish_and_clear();
    let months = check_same_figures(from, &dest, reference)?;
    Ok((keys, months))
}

/// Every month either store holds gives the same `lpas[]` entries from both, read the
/// way `report --data-dir` reads them; returns how many months were compared.
fn check_same_figures(a: &Store, b: &Store, reference: &Reference) -> anyhow::Result<usize> {
    if a.log_len()? != b.log_len()? {
        anyhow::bail!(
            "the copy holds {} events, the source {}",
            b.log_len()?,
            a.log_len()?
        );
    }
    let months: std::collections::BTreeSet<Month> =
        a.months()?.union(&b.months()?).copied().collect();
    let as_of = Clock::Wall.day();
    let pb = super::bar(months.len() as u64, "comparing months");
    for m in &months {
        let (x, y) = (
            lpas(a, reference, *m, as_of)?,
            lpas(b, reference, *m, as_of)?,
        );
        if x != y {
            anyhow::bail!("month {m} gives other figures from the copy than from the source");
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(months.len())
}

/// The `lpas[]` of a month as `report --data-dir` computes them.
fn lpas(
    store: &Store,
    reference: &Reference,
    month: Month,
    as_of: Day,
) -> anyhow::Result<serde_json::Value> {
    let rep = match store.owned()? {
        Some(owned) if owned.len() < reference.lpas.len() => {
            figures::force_month(store, reference, &owned, &Default::default(), month, as_of)?
        }
        _ => figures::month(store, reference, month, as_of)?,
    };
    Ok(serde_json::to_value(&rep.lpas)?)
}

//! `rebuild`: replay the stored event log into fresh read models (stop `serve` first).

use super::args::RebuildArgs;
use abstraction_tracker::project::rebuild;
use abstraction_tracker::store::Store;
use abstraction_tracker::wire::decode::Validator;

pub fn run(a: RebuildArgs) -> anyhow::Result<()> {
    let store = Store::open_existing_with(&a.data_dir, a.engine.engine)?;
    let reference = a.reference.load()?;
    if let Some(list) = &a.lpas {
        let keep = super::args::parse_lpas(list, &reference)?;
        let dropped = store.drop_lpas(&keep)?;
        store.set_owned(&keep)?;
        eprintln!(
            "dropped {dropped} stored event(s) of LPAs other than {}",
            keep.join(", ")
        );
    }
    let validator = Validator::new(reference);
    let pb = super::bar(store.log_len()?, "rebuilding");
    let started = std::time::Instant::now();
    let n = rebuild::rebuild(&store, &validator, |k| pb.inc(k))?;
    pb.finish_and_clear();
    eprintln!(
        "rebuilt read models from {n} stored event(s) in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

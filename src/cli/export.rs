//! `export`: the stored event log as NDJSON, to `--output` or stdout.

use super::args::ExportArgs;
use abstraction_tracker::store::Store;
use abstraction_tracker::tools::export;
use anyhow::Context as _;

pub fn run(a: ExportArgs) -> anyhow::Result<()> {
    let store = Store::open_existing_with(&a.data_dir, a.engine.engine)?;
    let pb = super::bar(store.log_len()?, "exporting");
    let n = match &a.output {
        Some(p) => {
            let f =
                std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?;
            let mut w = std::io::BufWriter::new(f);
            export::export(&store, &mut w, |k| pb.inc(k))?
        }
        None => {
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::new(stdout.lock());
            export::export(&store, &mut w, |k| pb.inc(k))?
        }
    };
    pb.finish_and_clear();
    eprintln!("exported {n} event(s)");
    Ok(())
}

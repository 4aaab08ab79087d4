//! `--engine` (env `TRACKER_ENGINE`), shared by every command that opens a data
//! directory (contract v3 section 11).

use abstraction_tracker::store::EngineKind;

#[derive(clap::Args, Clone, Copy, Debug)]
pub struct EngineArg {
    /// Storage engine: sled or fjall [default for a new data directory: sled].
    ///
    /// Chosen when a data directory is created and recorded in it: an existing one is
    /// always opened with the engine that created it (omit this to use it), and a
    /// different --engine is refused. sled is the default; fjall (an LSM tree) ingests
    /// faster and takes less disk and memory on large stores (see the README). To move
    /// a store to the other engine, `convert` it while `serve` is stopped.
    #[arg(
        long = "engine",
        env = "TRACKER_ENGINE",
        value_name = "sled|fjall",
        value_parser = parse_engine,
        help_heading = "Storage"
    )]
    pub engine: Option<EngineKind>,
}

pub fn parse_engine(s: &str) -> Result<EngineKind, String> {
    s.parse()
}

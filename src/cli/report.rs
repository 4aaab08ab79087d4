//! `report`: the board's monthly report on stdout, rendered from the store directly or
//! fetched from a running tracker with `--server`.

use super::args::ReportArgs;
use super::client;
use abstraction_tracker::app::figures;
use abstraction_tracker::render;
use abstraction_tracker::store::Store;
use std::io::Write;

pub fn run(a: ReportArgs) -> anyhow::Result<()> {
    let body = match a.server {
        Some(url) => client::fetch_report(&url, a.month, a.format, a.api_token.as_deref())?,
        None => {
            let reference = a.reference.load()?;
            let store = Store::open_existing(&a.data_dir)?;
            let rep = figures::month(&store, &reference, a.month)?;
            render::render(&rep, &reference, a.format)
        }
    };
    std::io::stdout().write_all(body.as_bytes())?;
    Ok(())
}

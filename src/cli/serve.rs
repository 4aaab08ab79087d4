//! `serve`: bind the HTTP listener, then hand over to the library's `serve::run` until
//! SIGINT or SIGTERM.

use super::args::ServeArgs;
use abstraction_tracker::app::serve;
use abstraction_tracker::clock::Clock;
use abstraction_tracker::ingest::IngestConfig;
use anyhow::Context as _;

pub fn run(a: ServeArgs) -> anyhow::Result<()> {
    let reference = a.reference.load()?;
    let lpas = match &a.lpas {
        Some(list) => Some(super::args::parse_lpas(list, &reference)?),
        None => None,
    };
    let config = serve::ServeConfig {
        nats_url: a.nats.nats_url,
        nats_auth: a.nats.auth,
        data_dir: a.data_dir,
        engine: a.engine.engine,
        recover: a.recover,
        reference,
        ingest: IngestConfig {
            consumer: a.consumer,
            filter: a.filter,
            more_filters: Vec::new(),
            batch: a.batch.max(1),
            replicas: a.replicas,
            snapshot_every: a.snapshot_every,
        },
        lpas,
        api_token: a.api_token,
        clock: Clock::from_as_of(a.as_of),
        tuning: a.tuning.tuning(),
    };
    let http_addr = a.http_addr;
    super::runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&http_addr)
            .await
            .with_context(|| format!("binding HTTP address {http_addr}"))?;
        serve::run(config, listener, shutdown_signal()).await
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

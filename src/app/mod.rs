//! The running service: `serve` wires ingest, the HTTP API and the Prometheus
//! exposition together; `figures` gathers a month's report inputs from the store.

pub mod bucket;
pub mod figures;
pub mod http;
pub mod metrics;
pub mod serve;

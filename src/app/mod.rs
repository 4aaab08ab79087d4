//! The running service: `serve` wires ingest, the HTTP API and the Prometheus
//! exposition together; `figures` gathers a month's report inputs from the store; `evidence` the entries
//! behind a figure, and `evidence_http` their routes;
//! `issues` the issued reports in their bucket, and `issues_http` their routes.

pub mod bucket;
pub mod evidence;
pub mod evidence_http;
pub mod figures;
pub mod force;
pub mod http;
pub mod issues;
pub mod issues_http;
pub mod metrics;
pub mod serve;

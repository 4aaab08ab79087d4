//! `abstraction-tracker`: measures how often neighbourhood officers are abstracted
//! from neighbourhood duty, per Local Policing Area, sector and month.
//!
//! # Layout
//!
//! Data flows one way: rostering systems → NATS JetStream → [`ingest`] → [`wire`]
//! (bytes to validated events) → [`project`] (the pure [`domain`] fold, written
//! through [`store`]) → [`app`] (HTTP, `/metrics`) and [`render`] (the board's report).
//!
//! - [`domain`]: pure code, no I/O: events, reason codes, the order-independent fold,
//!   read models, Europe/London months, reference data, plausibility, report figures.
//! - [`wire`]: the JSON envelope: decoding and validation, encoding, subject rules.
//! - [`store`]: every sled call and every key; one atomic batch per commit.
//! - [`project`]: load what an event touches, fold it, write the change; `rebuild`
//!   replays the stored log through the same path.
//! - [`ingest`]: the JetStream consumer; rejected stream; ack only after durable.
//! - [`app`]: `serve`, the HTTP API, Prometheus exposition, report inputs.
//! - [`render`]: the monthly report as md, html (with svg charts), csv, json.
//! - [`tools`]: `publish`, `simulate`, `export`; [`nats`]: connecting with credentials;
//!   [`clock`]: the one "now" (`--as-of`, else the wall clock).
//!
//! The binary's `src/cli/` (clap arguments, each command's wiring, the report client,
//! `probe`) sits on top of all of these; `main.rs` parses and calls `cli::run`.

pub mod app;
pub mod clock;
pub mod domain;
pub mod ingest;
pub mod nats;
pub mod project;
pub mod render;
pub mod store;
pub mod tools;
pub mod wire;

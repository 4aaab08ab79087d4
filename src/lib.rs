//! `abstraction-tracker`: measures how often neighbourhood officers are abstracted
//! from neighbourhood duty, per Local Policing Area, sector and month.
//!
//! # Layout
//!
//! Data flows one way: rostering systems → NATS JetStream → [`ingest`] → [`domain`]
//! (validate, fold) → [`store`] (sled) → [`http`] / CLI.
//!
//! - [`domain`]: pure code, no I/O. Events and validation ([`domain::event`]), the
//!   order-independent fold ([`domain::fold`]), Europe/London months
//!   ([`domain::calendar`]), reference data, read models, report figures.
//! - [`projection`]: applies an event to keyed state through a small KV trait; owns the
//!   key layout.
//! - [`store`]: every sled call; one atomic batch per commit.
//! - [`ingest`]: the JetStream consumer; rejected stream; ack only after durable.
//! - [`http`], [`metrics`]: the HTTP API and Prometheus exposition.
//! - [`figures`], [`render`]: the monthly report, gathered then formatted.
//! - [`publish`], [`simulate`], [`rebuild`], [`export`], [`serve`], [`nats`]: command
//!   implementations.

pub mod app;
pub mod domain;
pub mod ingest;
pub mod nats;
pub mod project;
pub mod render;
pub mod store;
pub mod tools;
pub mod wire;

//! The test kit, shared by `tests/` and `benches/pipeline` (which includes this file
//! with `#[path]`): a real `nats-server -js` per test on a free port with its own store
//! directory, the tracker started for real (in-process or as a child process), event
//! builders that write through `wire::encode`, and publishing through
//! `tools::publish::Window`. Everything is cleaned up on drop. A missing `nats-server`
//! fails the test.
//!
//! A plain module rather than a `testkit` crate or a cargo feature: both `cargo nextest
//! run` and `cargo bench` build it with the dev-dependencies and nothing to switch on,
//! and it never ships in the library.
#![allow(dead_code)]

pub mod cluster;
mod events;
mod http;
mod nats;
mod tracker;

// Each test crate uses part of the kit.
#[allow(unused_imports)]
pub use {events::*, http::*, nats::*, tracker::*};

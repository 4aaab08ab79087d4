//! The domain: pure code with no I/O (no tokio, sled, NATS or HTTP). Events and their
//! validation, the fold, the calendar, reference data, read models and report figures.

pub mod calendar;
pub mod contribution;
pub mod event;
pub mod evidence;
pub mod fold;
pub mod issue;
pub mod listing;
pub mod plausible;
pub mod progress;
pub mod ratio;
pub mod readmodel;
pub mod reference;
pub mod reject;
pub mod report;
pub mod revision;

//! Operator tools behind CLI subcommands: publish a file of events, simulate a
//! force's traffic, export the stored log.

pub mod export;
pub mod publish;
pub mod simulate;

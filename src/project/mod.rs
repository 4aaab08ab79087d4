//! Projection: turns validated events into read-model writes. The projector loads an
//! entity's events, folds them with the pure domain code and writes the delta; rebuild
//! replays the stored log through the same path.

pub mod projector;
pub mod rebuild;

//! natter-replay: the one way events get from the log into a read model, as a library that
//! the projector, its tools and the replay bench share.
//!
//! - [`reader`]: the log read in stretches, decoded on a task of its own.
//! - [`replay`]: stretches applied with their checkpoint in one transaction; bulk loading on
//!   several connections, a room's events on one.

pub mod reader;
pub mod replay;

use natter_bus::BusError;
use natter_projections::ProjectionError;

pub use reader::{Gathered, LogReader, Stretch, Until};
pub use replay::{Applied, Backoff, Bulk, ReplayOptions, Statistics, replay, replay_partitioned};

/// A replay failed: reading the log, or writing the read model.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("nats: {0}")]
    Bus(#[from] BusError),
    #[error("postgres: {0}")]
    Projection(#[from] ProjectionError),
}

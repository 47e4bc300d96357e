//! The processing side of flamestream: decoders, aggregators and writers as actix actors, each
//! a thin shell over a pure core, and the wiring that builds them from a pipeline file.
//!
//! ```text
//! Subscriber ──Delivery──▶ DecodeActor×N ──DecodedUpload──▶ AggregateActor ──WindowFlush──▶ WriteActor ──▶ commit
//!  (bounded)               (SyncArbiter)                     (ticks, bounded)                (SyncArbiter)
//! ```

pub mod actors;
pub mod aggregate;
pub mod config;
pub mod decode;
pub mod metrics;
pub mod processor;

pub use config::{PipelineConfig, Role};

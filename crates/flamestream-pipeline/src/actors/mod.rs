//! The actors: thin shells that move messages to and from the pure cores.

pub mod aggregate_actor;
pub mod decode_actor;
pub mod write_actor;

pub use aggregate_actor::{AddDecoded, AggregateActor, DropPartition, TakeFlush};
pub use decode_actor::{DecodeActor, DecodeDelivery, Decoded};
pub use write_actor::{LoadPositions, PersistFlush, WriteActor};

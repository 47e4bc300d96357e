//! Holds the aggregator; merges decoded uploads and hands out flushes.

use crate::aggregate::Aggregator;
use crate::decode::DecodedUpload;
use crate::metrics as m;
use actix::{Actor, Context, Handler, Message};
use flamestream_model::WindowFlush;

/// A decoded upload to merge; `position` when the source is durable.
pub struct AddDecoded {
    /// The upload.
    pub upload: DecodedUpload,
    /// Its `(partition, offset)`, or `None` to record no position.
    pub position: Option<(i32, i64)>,
}

impl Message for AddDecoded {
    /// Distinct stacks now held (for early flushes).
    type Result = usize;
}

/// Hands over everything merged so far.
pub struct TakeFlush {
    /// The source name stored with positions.
    pub source: String,
    /// Positions to record even without data (e.g. skipped or undecodable messages).
    pub positions: Vec<(i32, i64)>,
}

impl Message for TakeFlush {
    /// One flush per partition.
    type Result = Vec<WindowFlush>;
}

/// Forgets a partition's unflushed data (revoked, or to be re-read after a conflict).
pub struct DropPartition(pub i32);

impl Message for DropPartition {
    type Result = ();
}

/// The aggregator actor.
pub struct AggregateActor {
    core: Aggregator,
}

impl AggregateActor {
    /// An aggregator with windows of `window_secs`.
    pub fn new(window_secs: u64) -> Self {
        AggregateActor {
            core: Aggregator::new(window_secs),
        }
    }
}

impl Actor for AggregateActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(64);
    }
}

impl Handler<AddDecoded> for AggregateActor {
    type Result = usize;

    fn handle(&mut self, msg: AddDecoded, _: &mut Context<Self>) -> usize {
        self.core.add(msg.upload, msg.position);
        metrics::counter!(m::AGGREGATE_SAMPLES).increment(self.core.take_samples_added());
        metrics::gauge!(m::AGGREGATE_OPEN_SERIES).set(self.core.open_series() as f64);
        self.core.open_stacks()
    }
}

impl Handler<TakeFlush> for AggregateActor {
    type Result = actix::MessageResult<TakeFlush>;

    fn handle(&mut self, msg: TakeFlush, _: &mut Context<Self>) -> Self::Result {
        for (partition, offset) in msg.positions {
            self.core.record_position(partition, offset);
        }
        let flush = self.core.take(&msg.source);
        metrics::gauge!(m::AGGREGATE_OPEN_SERIES).set(0.0);
        actix::MessageResult(flush)
    }
}

impl Handler<DropPartition> for AggregateActor {
    type Result = ();

    fn handle(&mut self, msg: DropPartition, _: &mut Context<Self>) {
        self.core.drop_partition(msg.0);
    }
}

//! Persists flushes on a `SyncArbiter` thread (store IO blocks).

use crate::metrics as m;
use actix::{Actor, Handler, Message, SyncContext};
use flamestream_model::{SourcePosition, WindowFlush};
use flamestream_store::{WriteOutcome, Writer};
use std::sync::Arc;
use std::time::Instant;

/// A flush to persist (all or nothing).
pub struct PersistFlush(pub Arc<WindowFlush>);

impl Message for PersistFlush {
    type Result = Result<WriteOutcome, String>;
}

/// Reads the positions the store holds for a source.
pub struct LoadPositions(pub String);

impl Message for LoadPositions {
    type Result = Result<Vec<SourcePosition>, String>;
}

/// The writer actor: one store connection.
pub struct WriteActor {
    writer: Box<dyn Writer>,
}

impl WriteActor {
    /// A writer over `writer`.
    pub fn new(writer: Box<dyn Writer>) -> Self {
        WriteActor { writer }
    }
}

impl Actor for WriteActor {
    type Context = SyncContext<Self>;
}

impl Handler<PersistFlush> for WriteActor {
    type Result = Result<WriteOutcome, String>;

    fn handle(&mut self, msg: PersistFlush, _: &mut SyncContext<Self>) -> Self::Result {
        let kind = self.writer.kind();
        let started = Instant::now();
        match self.writer.write(&msg.0) {
            Ok(WriteOutcome::Written) => {
                metrics::histogram!(m::STORE_WRITE_DURATION, "store" => kind)
                    .record(started.elapsed().as_secs_f64());
                metrics::counter!(m::STORE_ROWS_WRITTEN, "store" => kind)
                    .increment(msg.0.row_count() as u64);
                metrics::counter!(m::AGGREGATE_WINDOWS_FLUSHED)
                    .increment(msg.0.series.len() as u64);
                Ok(WriteOutcome::Written)
            }
            Ok(other) => {
                tracing::info!(outcome = ?other, positions = ?msg.0.positions, "flush not written");
                Ok(other)
            }
            Err(e) => {
                metrics::counter!(m::STORE_WRITE_ERRORS, "store" => kind).increment(1);
                Err(e.to_string())
            }
        }
    }
}

impl Handler<LoadPositions> for WriteActor {
    type Result = Result<Vec<SourcePosition>, String>;

    fn handle(&mut self, msg: LoadPositions, _: &mut SyncContext<Self>) -> Self::Result {
        self.writer.positions(&msg.0).map_err(|e| e.to_string())
    }
}

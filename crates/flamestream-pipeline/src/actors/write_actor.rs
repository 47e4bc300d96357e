//! Persists flushes on a `SyncArbiter` thread (store IO blocks).

use crate::metrics as m;
use actix::{Actor, Handler, Message, SyncContext};
use flamestream_model::WindowFlush;
use flamestream_store::Writer;
use std::sync::Arc;
use std::time::Instant;

/// A flush to persist (all or nothing).
pub struct PersistFlush(pub Arc<WindowFlush>);

impl Message for PersistFlush {
    type Result = Result<(), String>;
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
    type Result = Result<(), String>;

    fn handle(&mut self, msg: PersistFlush, _: &mut SyncContext<Self>) -> Self::Result {
        let kind = self.writer.kind();
        let started = Instant::now();
        match self.writer.write(&msg.0) {
            Ok(()) => {
                metrics::histogram!(m::STORE_WRITE_DURATION, "store" => kind)
                    .record(started.elapsed().as_secs_f64());
                metrics::counter!(m::STORE_ROWS_WRITTEN, "store" => kind)
                    .increment(msg.0.row_count() as u64);
                metrics::counter!(m::AGGREGATE_WINDOWS_FLUSHED)
                    .increment(msg.0.series.len() as u64);
                Ok(())
            }
            Err(e) => {
                metrics::counter!(m::STORE_WRITE_ERRORS, "store" => kind).increment(1);
                Err(e.to_string())
            }
        }
    }
}

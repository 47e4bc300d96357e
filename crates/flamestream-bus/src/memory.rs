//! The in-process bounded queue: the embedded default's stand-in for Kafka.
//!
//! What it guarantees: an upload answered 200 is in memory and will be stored unless the
//! process dies before the next window flush (a crash loses at most one flush interval plus
//! the queue; a graceful stop — SIGTERM, Ctrl-C — drains and stores everything).

use crate::{Delivery, PublishError, RawUpload};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Creates a queue holding at most `capacity` uploads.
pub fn channel(capacity: usize) -> (MemoryPublisher, MemorySubscriber) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let next_offset = Arc::new(AtomicI64::new(0));
    (
        MemoryPublisher {
            tx,
            capacity,
            next_offset,
        },
        MemorySubscriber { rx },
    )
}

/// The edge side of the in-process queue.
#[derive(Clone)]
pub struct MemoryPublisher {
    tx: mpsc::Sender<Delivery>,
    capacity: usize,
    next_offset: Arc<AtomicI64>,
}

impl MemoryPublisher {
    /// Enqueues without waiting; a full queue is an error, never unbounded buffering.
    ///
    /// # Errors
    /// [`PublishError::Full`] or [`PublishError::Unavailable`] once closed.
    pub fn publish(&self, _key: &str, upload: &RawUpload) -> Result<(), PublishError> {
        let permit = self.tx.try_reserve().map_err(|e| match e {
            mpsc::error::TrySendError::Full(()) => PublishError::Full {
                capacity: self.capacity,
            },
            mpsc::error::TrySendError::Closed(()) => {
                PublishError::Unavailable("the ingest queue is shutting down".into())
            }
        })?;
        let offset = self.next_offset.fetch_add(1, Ordering::Relaxed);
        permit.send(Delivery {
            payload: upload.encode_to_bytes(),
            partition: 0,
            offset,
        });
        metrics::gauge!("flamestream_bus_queue_depth", "transport" => "memory")
            .set((self.capacity - self.tx.capacity()) as f64);
        Ok(())
    }

    /// Uploads waiting.
    pub fn depth(&self) -> usize {
        self.capacity - self.tx.capacity()
    }
}

/// The core side of the in-process queue.
pub struct MemorySubscriber {
    rx: mpsc::Receiver<Delivery>,
}

impl MemorySubscriber {
    /// The next upload; `None` once every publisher is dropped and the queue drained.
    pub async fn recv(&mut self) -> Option<Delivery> {
        let d = self.rx.recv().await;
        metrics::gauge!("flamestream_bus_queue_depth", "transport" => "memory")
            .set(self.rx.len() as f64);
        d
    }

    /// Refuses further publishes; buffered uploads can still be received.
    pub fn close(&mut self) {
        self.rx.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn full_queue_refuses_instead_of_growing() {
        let (p, mut s) = channel(2);
        let up = RawUpload::default();
        p.publish("k", &up).unwrap();
        p.publish("k", &up).unwrap();
        assert_eq!(p.publish("k", &up), Err(PublishError::Full { capacity: 2 }));
        assert_eq!(s.recv().await.unwrap().offset, 0);
        p.publish("k", &up).unwrap();
        drop(p);
        assert_eq!(s.recv().await.unwrap().offset, 1);
        assert_eq!(s.recv().await.unwrap().offset, 2);
        assert!(s.recv().await.is_none());
    }
}

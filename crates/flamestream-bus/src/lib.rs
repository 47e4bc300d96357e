//! The transport between the ingest edge and the decoders.
//!
//! The ingest edge holds a [`Publisher`]; the core holds a [`Subscriber`]. Both are enums over
//! the transports (the in-process [`memory`] queue, and Kafka), so the pipeline code is the same
//! whichever carries the uploads.

pub mod envelope;
pub mod kafka;
pub mod memory;

pub use envelope::RawUpload;

use bytes::Bytes;

/// Why a publish failed. Each maps to an HTTP answer at the edge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The queue is full: the client should retry later (503 + `Retry-After`).
    #[error("ingest queue is full ({capacity} uploads waiting): retry later")]
    Full {
        /// Queue capacity.
        capacity: usize,
    },
    /// The transport is down or shutting down (503 + `Retry-After`).
    #[error("transport unavailable: {0}")]
    Unavailable(String),
    /// The message is larger than the transport accepts (413).
    #[error("`max_message_bytes` exceeded: {actual} > {max}")]
    TooLarge {
        /// Encoded size.
        actual: u64,
        /// Transport maximum.
        max: u64,
    },
}

impl PublishError {
    /// A fixed reason for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            PublishError::Full { .. } => "queue_full",
            PublishError::Unavailable(_) => "unavailable",
            PublishError::TooLarge { .. } => "too_large",
        }
    }
}

/// One message read from the transport, with where it came from.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The encoded [`RawUpload`].
    pub payload: Bytes,
    /// Partition (0 for the in-process queue).
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
}

/// The edge side of a transport.
#[derive(Clone)]
pub enum Publisher {
    /// The in-process bounded queue.
    Memory(memory::MemoryPublisher),
    /// Kafka.
    Kafka(kafka::KafkaPublisher),
}

impl Publisher {
    /// Publishes `upload` under `key` (tenant/app, so one app stays on one partition) and
    /// returns once the transport holds it.
    ///
    /// # Errors
    /// [`PublishError`] when the transport is full, down, or the message too large.
    pub async fn publish(&self, key: &str, upload: &RawUpload) -> Result<(), PublishError> {
        match self {
            Publisher::Memory(p) => p.publish(key, upload),
            Publisher::Kafka(p) => p.publish(key, upload).await,
        }
    }

    /// `memory` or `kafka`, for metric labels.
    pub fn transport(&self) -> &'static str {
        match self {
            Publisher::Memory(_) => "memory",
            Publisher::Kafka(_) => "kafka",
        }
    }

    /// Waits up to `timeout` for messages still in flight (on shutdown).
    pub fn flush(&self, timeout: std::time::Duration) {
        if let Publisher::Kafka(p) = self {
            p.flush(timeout);
        }
    }
}

/// The core side of a transport.
pub enum Subscriber {
    /// The in-process bounded queue.
    Memory(memory::MemorySubscriber),
    /// A Kafka consumer group member.
    Kafka(kafka::KafkaSubscriber),
}

impl Subscriber {
    /// The next delivery; `None` once the transport is closed and drained.
    pub async fn recv(&mut self) -> Option<Delivery> {
        match self {
            Subscriber::Memory(s) => s.recv().await,
            Subscriber::Kafka(s) => s.recv().await,
        }
    }

    /// Stops taking new messages; `recv` then drains what is buffered and returns `None`.
    pub fn close(&mut self) {
        match self {
            Subscriber::Memory(s) => s.close(),
            Subscriber::Kafka(s) => s.close(),
        }
    }

    /// True when the transport keeps messages across a crash (positions are then stored and
    /// already-stored messages skipped).
    pub fn durable(&self) -> bool {
        match self {
            Subscriber::Memory(_) => false,
            Subscriber::Kafka(_) => true,
        }
    }

    /// A handle that commits positions from another task.
    pub fn committer(&self) -> Committer {
        match self {
            Subscriber::Memory(_) => Committer::Memory,
            Subscriber::Kafka(s) if s.commits() => {
                Committer::Kafka(s.consumer(), s.topic().to_string())
            }
            Subscriber::Kafka(_) => Committer::Memory,
        }
    }

    /// The source name stored beside positions (the topic for Kafka).
    pub fn source(&self) -> String {
        match self {
            Subscriber::Memory(_) => "memory".to_string(),
            Subscriber::Kafka(s) => s.topic().to_string(),
        }
    }

    /// Partitions revoked since the last call (Kafka rebalances).
    pub fn take_revoked(&self) -> Vec<i32> {
        match self {
            Subscriber::Memory(_) => Vec::new(),
            Subscriber::Kafka(s) => s
                .rebalance_state()
                .revoked
                .lock()
                .map(|mut r| std::mem::take(&mut *r))
                .unwrap_or_default(),
        }
    }

    /// True once after partitions were assigned (stored positions must be reloaded).
    pub fn take_assigned(&self) -> bool {
        match self {
            Subscriber::Memory(_) => false,
            Subscriber::Kafka(s) => s
                .rebalance_state()
                .assigned
                .swap(false, std::sync::atomic::Ordering::SeqCst),
        }
    }

    /// Where `partition` resumes when the store holds nothing for it (Kafka: committed offset,
    /// else the earliest); `None` when unknown.
    pub fn resume_offset(&self, partition: i32) -> Option<i64> {
        match self {
            Subscriber::Memory(_) => None,
            Subscriber::Kafka(s) => s.resume_offset(partition),
        }
    }

    /// Moves the read position of `partition` (after a write conflict).
    ///
    /// # Errors
    /// A message when the transport refuses.
    pub fn seek(&self, partition: i32, offset: i64) -> Result<(), String> {
        match self {
            Subscriber::Memory(_) => Ok(()),
            Subscriber::Kafka(s) => s.seek(partition, offset),
        }
    }
}

/// Commits source positions once the store holds them.
#[derive(Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Committer {
    /// The in-process queue keeps nothing after a crash; commits are no-ops.
    Memory,
    /// Kafka consumer offsets of a topic.
    Kafka(std::sync::Arc<kafka::FlamestreamConsumer>, String),
}

impl Committer {
    /// Commits `(partition, next_offset)` pairs.
    ///
    /// # Errors
    /// A message when the transport refuses the commit.
    pub fn commit(&self, positions: &[(i32, i64)]) -> Result<(), String> {
        match self {
            Committer::Memory => {
                let _ = positions;
                Ok(())
            }
            Committer::Kafka(consumer, topic) => kafka::commit(consumer, topic, positions),
        }
    }
}

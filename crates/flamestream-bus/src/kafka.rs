//! Kafka transport (rdkafka): an idempotent `acks=all` producer at the edge, a consumer group
//! with manual commits in the core.
//!
//! The producer answers only after the delivery report; a full local queue or an unreachable
//! broker is an error the edge turns into 503 — librdkafka's queue is bounded
//! (`queue.buffering.max.kbytes`), never unbounded.

use crate::{Delivery, PublishError, RawUpload};
use bytes::Bytes;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Kafka connection settings shared by producer and consumer.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// Bootstrap brokers.
    pub brokers: String,
    /// Raw uploads topic.
    pub topic: String,
    /// Consumer group.
    pub group_id: String,
    /// Extra librdkafka producer settings.
    pub producer: BTreeMap<String, String>,
    /// Extra librdkafka consumer settings.
    pub consumer: BTreeMap<String, String>,
    /// Largest message the producer sends (body limit plus envelope).
    pub max_message_bytes: u64,
    /// Time librdkafka may take to deliver before the upload is answered 503.
    pub delivery_timeout_ms: u64,
}

fn client_error(e: KafkaError) -> String {
    format!("kafka: {e}")
}

/// The edge side: an idempotent producer.
///
/// A producer that the broker stops accepting (e.g. a broker restarted without the idempotent
/// producer's state, which answers every batch with an error) is replaced by a fresh one with
/// a new producer id; uploads in between are answered 503 and retried by the clients.
#[derive(Clone)]
pub struct KafkaPublisher {
    producer: Arc<std::sync::RwLock<(u64, FutureProducer<BrokerWatch>)>>,
    lost: Arc<AtomicBool>,
    config: Arc<ClientConfig>,
    topic: Arc<str>,
    max_message_bytes: u64,
}

impl KafkaPublisher {
    /// Creates the producer (connects lazily).
    ///
    /// # Errors
    /// A message when librdkafka refuses the configuration.
    pub fn new(s: &KafkaSettings) -> Result<KafkaPublisher, String> {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &s.brokers)
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .set("batch.num.messages", "1000")
            .set("compression.type", "lz4")
            .set(
                "message.max.bytes",
                (s.max_message_bytes + 64 * 1024).to_string(),
            )
            .set("queue.buffering.max.messages", "100000")
            .set("queue.buffering.max.kbytes", "262144")
            .set("message.timeout.ms", s.delivery_timeout_ms.to_string())
            .set("client.id", "flamestream-ingest");
        for (k, v) in &s.producer {
            c.set(k, v);
        }
        let lost = Arc::new(AtomicBool::new(false));
        let producer: FutureProducer<BrokerWatch> = c
            .create_with_context(BrokerWatch { lost: lost.clone() })
            .map_err(client_error)?;
        Ok(KafkaPublisher {
            producer: Arc::new(std::sync::RwLock::new((0, producer))),
            lost,
            config: Arc::new(c),
            topic: s.topic.as_str().into(),
            max_message_bytes: s.max_message_bytes,
        })
    }

    fn current(&self) -> (u64, FutureProducer<BrokerWatch>) {
        let guard = self.producer.read().unwrap_or_else(|e| e.into_inner());
        (guard.0, guard.1.clone())
    }

    /// Replaces generation `generation` of the producer by a fresh one (once, whoever asks).
    fn replace(&self, generation: u64, reason: &KafkaError) {
        let mut guard = self.producer.write().unwrap_or_else(|e| e.into_inner());
        if guard.0 != generation {
            return;
        }
        // Nothing of the old producer may reach the broker later under its old producer id.
        guard
            .1
            .purge(rdkafka::producer::PurgeConfig::default().queue().inflight());
        match self
            .config
            .create_with_context::<_, FutureProducer<BrokerWatch>>(BrokerWatch {
                lost: self.lost.clone(),
            }) {
            Ok(fresh) => {
                tracing::warn!(error = %reason, "kafka producer replaced by a new one (new producer id)");
                metrics::counter!("flamestream_bus_producer_replacements_total").increment(1);
                *guard = (generation + 1, fresh);
            }
            Err(e) => tracing::error!(error = %e, "cannot create a new kafka producer"),
        }
    }

    /// Publishes and waits for the delivery report.
    ///
    /// # Errors
    /// [`PublishError`]: `Full` when librdkafka's bounded queue is full, `TooLarge`, or
    /// `Unavailable` when the broker did not take the message in time.
    pub async fn publish(&self, key: &str, upload: &RawUpload) -> Result<(), PublishError> {
        let payload = upload.encode_to_bytes();
        if payload.len() as u64 > self.max_message_bytes + 64 * 1024 {
            return Err(PublishError::TooLarge {
                actual: payload.len() as u64,
                max: self.max_message_bytes,
            });
        }
        let version = crate::envelope::ENVELOPE_VERSION.to_string();
        let format = upload.param("format").unwrap_or("");
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "flamestream-tenant",
                value: Some(upload.tenant.as_bytes()),
            })
            .insert(Header {
                key: "flamestream-format",
                value: Some(format.as_bytes()),
            })
            .insert(Header {
                key: "flamestream-envelope-version",
                value: Some(version.as_bytes()),
            });
        let record = FutureRecord::to(&self.topic)
            .key(key)
            .payload(&payload[..])
            .headers(headers);
        let (mut generation, mut producer) = self.current();
        if self.lost.swap(false, Ordering::SeqCst) {
            // Every broker went away: start over with a new producer id rather than resume the
            // old sequence against a broker that may have restarted without its state.
            self.replace(
                generation,
                &KafkaError::MessageProduction(RDKafkaErrorCode::AllBrokersDown),
            );
            (generation, producer) = self.current();
        }
        let future = match producer.send_result(record) {
            Ok(f) => f,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                return Err(PublishError::Full { capacity: 100_000 })
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge), _)) => {
                return Err(PublishError::TooLarge {
                    actual: payload.len() as u64,
                    max: self.max_message_bytes,
                })
            }
            Err((e, _)) => return Err(PublishError::Unavailable(client_error(e))),
        };
        metrics::gauge!("flamestream_bus_queue_depth", "transport" => "kafka")
            .set(f64::from(producer.in_flight_count()));
        match future.await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err((KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge), _))) => {
                Err(PublishError::TooLarge {
                    actual: payload.len() as u64,
                    max: self.max_message_bytes,
                })
            }
            Ok(Err((e, _))) => {
                if needs_new_producer(&e) || producer.client().fatal_error().is_some() {
                    self.replace(generation, &e);
                }
                Err(PublishError::Unavailable(format!(
                    "kafka did not confirm the upload: {e}"
                )))
            }
            Err(_) => Err(PublishError::Unavailable(
                "kafka producer is shutting down".into(),
            )),
        }
    }

    /// Waits up to `timeout` for queued messages to be delivered.
    pub fn flush(&self, timeout: Duration) {
        let _ = self.current().1.flush(timeout);
    }

    /// Messages waiting in librdkafka's queue.
    pub fn queue_len(&self) -> i32 {
        self.current().1.in_flight_count()
    }
}

/// Producer context that notices when the connection to the brokers is lost: the next upload
/// then starts a new producer (new producer id) instead of resuming the old idempotent
/// sequence against a broker that may have restarted without its producer state (Tansu 0.6
/// even crashes its storage on that).
pub struct BrokerWatch {
    lost: Arc<AtomicBool>,
}

impl ClientContext for BrokerWatch {
    fn error(&self, error: KafkaError, reason: &str) {
        if matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::AllBrokersDown | RDKafkaErrorCode::BrokerTransportFailure)
        ) {
            self.lost.store(true, Ordering::SeqCst);
        }
        tracing::warn!(error = %error, reason, "kafka producer error");
    }
}

/// Errors after which the producer is no longer accepted by the broker (as opposed to the
/// broker being unreachable, which the same producer survives).
fn needs_new_producer(e: &KafkaError) -> bool {
    use RDKafkaErrorCode::*;
    match e.rdkafka_error_code() {
        Some(
            MessageTimedOut
            | BrokerTransportFailure
            | AllBrokersDown
            | QueueFull
            | MessageSizeTooLarge
            | NotLeaderForPartition
            | LeaderNotAvailable
            | RequestTimedOut
            | NetworkException
            | NotEnoughReplicas
            | NotEnoughReplicasAfterAppend
            | UnknownTopicOrPartition,
        ) => false,
        Some(_) => true,
        None => false,
    }
}

/// Rebalance bookkeeping shared between librdkafka's callbacks and the processor.
#[derive(Default)]
pub struct RebalanceState {
    /// Partitions revoked since the processor last looked.
    pub revoked: Mutex<Vec<i32>>,
    /// Set after an assignment: the processor reloads stored positions.
    pub assigned: AtomicBool,
}

/// Consumer context: counts rebalances and tells the processor about them.
pub struct FlamestreamContext {
    state: Arc<RebalanceState>,
}

impl ClientContext for FlamestreamContext {}

impl ConsumerContext for FlamestreamContext {
    fn pre_rebalance(&self, _: &rdkafka::consumer::BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        metrics::counter!("flamestream_kafka_rebalances_total").increment(1);
        if let Rebalance::Revoke(tpl) = rebalance {
            let parts: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
            tracing::info!(?parts, "kafka partitions revoked");
            if let Ok(mut r) = self.state.revoked.lock() {
                r.extend(parts);
            }
        }
    }

    fn post_rebalance(&self, _: &rdkafka::consumer::BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            let parts: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
            tracing::info!(?parts, "kafka partitions assigned");
            self.state.assigned.store(true, Ordering::SeqCst);
        }
    }
}

/// The consumer type.
pub type FlamestreamConsumer = StreamConsumer<FlamestreamContext>;

/// The core side: a consumer group member with manual commits.
pub struct KafkaSubscriber {
    consumer: Arc<FlamestreamConsumer>,
    topic: String,
    closed: bool,
    state: Arc<RebalanceState>,
    commits: bool,
}

/// `partition → (start offset, end offset)` of a replay.
pub type PartitionRanges = BTreeMap<i32, (i64, i64)>;

/// Where a replay starts or ends on each partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    /// The first offset still in the topic.
    Earliest,
    /// The high watermark.
    Latest,
    /// The first offset whose timestamp is at or after this many ms since the epoch.
    TimeMs(i64),
    /// Explicit offsets per partition (partitions not named use `Earliest` / `Latest`).
    Offsets(BTreeMap<i32, i64>),
}

impl KafkaSubscriber {
    /// Joins `group_id` and subscribes to the topic.
    ///
    /// # Errors
    /// A message when librdkafka refuses the configuration or the subscription.
    pub fn new(s: &KafkaSettings) -> Result<KafkaSubscriber, String> {
        let (consumer, state) = create_consumer(s, &s.group_id, "flamestream-process", |c| {
            c.set("auto.offset.reset", "earliest")
                .set("session.timeout.ms", "10000")
                .set("heartbeat.interval.ms", "1000")
                .set("max.poll.interval.ms", "300000")
                .set("queued.max.messages.kbytes", "65536");
        })?;
        consumer.subscribe(&[&s.topic]).map_err(client_error)?;
        Ok(KafkaSubscriber {
            consumer: Arc::new(consumer),
            topic: s.topic.clone(),
            closed: false,
            state,
            commits: true,
        })
    }

    /// A consumer outside any group that reads `[from, to)` of every partition and commits
    /// nothing (replays). Returns it with `(start, end)` of each partition that has work.
    ///
    /// # Errors
    /// A message when the topic or the offsets cannot be looked up.
    pub fn for_range(
        s: &KafkaSettings,
        from: &Bound,
        to: &Bound,
    ) -> Result<(KafkaSubscriber, PartitionRanges), String> {
        let group = format!("{}-replay-{}", s.group_id, std::process::id());
        let (consumer, state) = create_consumer(s, &group, "flamestream-replay", |_| {})?;
        let timeout = Duration::from_secs(10);
        let metadata = consumer
            .fetch_metadata(Some(&s.topic), timeout)
            .map_err(client_error)?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .find(|t| t.name() == s.topic)
            .map(|t| t.partitions().iter().map(|p| p.id()).collect())
            .unwrap_or_default();
        if partitions.is_empty() {
            return Err(format!(
                "topic `{}` has no partitions or does not exist",
                s.topic
            ));
        }
        let resolve = |bound: &Bound, is_end: bool| -> Result<BTreeMap<i32, i64>, String> {
            let mut out = BTreeMap::new();
            let times = if let Bound::TimeMs(ms) = bound {
                let mut tpl = TopicPartitionList::new();
                for p in &partitions {
                    tpl.add_partition_offset(&s.topic, *p, Offset::Offset(*ms))
                        .map_err(client_error)?;
                }
                Some(
                    consumer
                        .offsets_for_times(tpl, timeout)
                        .map_err(client_error)?,
                )
            } else {
                None
            };
            for p in &partitions {
                let (low, high) = consumer
                    .fetch_watermarks(&s.topic, *p, timeout)
                    .map_err(client_error)?;
                let offset = match bound {
                    Bound::Earliest => low,
                    Bound::Latest => high,
                    Bound::Offsets(map) => {
                        map.get(p)
                            .copied()
                            .unwrap_or(if is_end { high } else { low })
                    }
                    Bound::TimeMs(_) => times
                        .as_ref()
                        .and_then(|t| t.find_partition(&s.topic, *p))
                        .and_then(|e| match e.offset() {
                            Offset::Offset(o) => Some(o),
                            _ => None,
                        })
                        .unwrap_or(high),
                };
                out.insert(*p, offset.clamp(low, high));
            }
            Ok(out)
        };
        let starts = resolve(from, false)?;
        let ends = resolve(to, true)?;
        let mut tpl = TopicPartitionList::new();
        let mut work = BTreeMap::new();
        for (p, start) in &starts {
            let end = ends.get(p).copied().unwrap_or(*start);
            if end > *start {
                tpl.add_partition_offset(&s.topic, *p, Offset::Offset(*start))
                    .map_err(client_error)?;
                work.insert(*p, (*start, end));
            }
        }
        consumer.assign(&tpl).map_err(client_error)?;
        Ok((
            KafkaSubscriber {
                consumer: Arc::new(consumer),
                topic: s.topic.clone(),
                closed: false,
                state,
                commits: false,
            },
            work,
        ))
    }

    /// True when this subscriber commits offsets (a group member; replays do not).
    pub fn commits(&self) -> bool {
        self.commits
    }

    /// The next message; `None` once closed.
    pub async fn recv(&mut self) -> Option<Delivery> {
        loop {
            if self.closed {
                return None;
            }
            match self.consumer.recv().await {
                Ok(m) => {
                    return Some(Delivery {
                        payload: Bytes::copy_from_slice(m.payload().unwrap_or_default()),
                        partition: m.partition(),
                        offset: m.offset(),
                    })
                }
                Err(e) => {
                    tracing::warn!(error = %e, "kafka consume error; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    /// Stops consuming.
    pub fn close(&mut self) {
        self.closed = true;
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Rebalance bookkeeping.
    pub fn rebalance_state(&self) -> Arc<RebalanceState> {
        self.state.clone()
    }

    /// Moves the fetch position of `partition` to `offset`.
    ///
    /// # Errors
    /// A message when librdkafka refuses.
    pub fn seek(&self, partition: i32, offset: i64) -> Result<(), String> {
        self.consumer
            .seek(
                &self.topic,
                partition,
                Offset::Offset(offset),
                Duration::from_secs(10),
            )
            .map_err(client_error)
    }

    /// Where the group resumes `partition` when the store holds nothing for it: the committed
    /// offset, else the first offset still in the topic (blocking lookups, ≤ 10 s).
    pub fn resume_offset(&self, partition: i32) -> Option<i64> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&self.topic, partition);
        if let Ok(committed) = self.consumer.committed_offsets(tpl, Duration::from_secs(5)) {
            if let Some(Offset::Offset(o)) = committed
                .find_partition(&self.topic, partition)
                .map(|e| e.offset())
            {
                return Some(o);
            }
        }
        self.consumer
            .fetch_watermarks(&self.topic, partition, Duration::from_secs(5))
            .ok()
            .map(|(low, _)| low)
    }

    /// The shared consumer (for commits and lag).
    pub fn consumer(&self) -> Arc<FlamestreamConsumer> {
        self.consumer.clone()
    }
}

/// A consumer of group `group` with manual commits; `tune` adds settings before the user's
/// `[transport.kafka.consumer]` overrides are applied.
fn create_consumer(
    s: &KafkaSettings,
    group: &str,
    client_id: &str,
    tune: impl FnOnce(&mut ClientConfig),
) -> Result<(FlamestreamConsumer, Arc<RebalanceState>), String> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &s.brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set(
            "fetch.message.max.bytes",
            (s.max_message_bytes + 64 * 1024).to_string(),
        )
        .set("client.id", client_id);
    tune(&mut c);
    for (k, v) in &s.consumer {
        c.set(k, v);
    }
    let state = Arc::new(RebalanceState::default());
    let consumer = c
        .create_with_context(FlamestreamContext {
            state: state.clone(),
        })
        .map_err(client_error)?;
    Ok((consumer, state))
}

/// Commits `(partition, next_offset)` pairs of `topic` asynchronously.
///
/// # Errors
/// A message when librdkafka refuses.
pub fn commit(
    consumer: &FlamestreamConsumer,
    topic: &str,
    positions: &[(i32, i64)],
) -> Result<(), String> {
    let mut tpl = TopicPartitionList::new();
    for (p, next) in positions {
        tpl.add_partition_offset(topic, *p, Offset::Offset(*next))
            .map_err(client_error)?;
    }
    consumer
        .commit(&tpl, rdkafka::consumer::CommitMode::Async)
        .map_err(client_error)?;
    metrics::counter!("flamestream_kafka_commits_total").increment(1);
    Ok(())
}

/// Publishes per-partition consumer lag (`high watermark − position`) as a gauge; blocking,
/// meant for a background thread.
pub fn report_lag(consumer: &FlamestreamConsumer, topic: &str) {
    let Ok(assignment) = consumer.assignment() else {
        return;
    };
    let Ok(positions) = consumer.position() else {
        return;
    };
    for e in assignment.elements_for_topic(topic) {
        let p = e.partition();
        let Ok((_, high)) = consumer.fetch_watermarks(topic, p, Duration::from_secs(2)) else {
            continue;
        };
        let pos = positions
            .find_partition(topic, p)
            .and_then(|x| match x.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            })
            .unwrap_or(0);
        metrics::gauge!("flamestream_kafka_consumer_lag_messages", "partition" => p.to_string())
            .set((high - pos).max(0) as f64);
    }
}

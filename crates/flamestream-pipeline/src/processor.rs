//! The processing loop: reads deliveries, keeps a bounded number of decodes in flight, feeds
//! the aggregator in source order, flushes on a timer (or when memory is full), and hands
//! flushes to a writer task that persists them and only then commits their positions.
//!
//! No double counting, with a durable source (Kafka):
//! - The store keeps, per partition, the next offset it holds, written in the same step as
//!   the data. Deliveries below it are skipped (restarts, replays, rebalances).
//! - Each flush covers one partition's offset range; the store refuses a range it already
//!   holds in whole or in part (a rebalance race). On such a conflict the partition's
//!   unflushed data is dropped and the partition is re-read from the store's position.
//! - On a revoke the partition's unflushed data is dropped: the new owner re-reads it from the
//!   committed offset.
//! - Rebalance callbacks run inside the poll that returns a delivery, so they are taken into
//!   account before that delivery is judged.
//! - When a partition's consumer is moved back (it resumed past the store's position), the
//!   partition's unflushed data is dropped too; and within one epoch an offset below the last
//!   one taken is never taken again (a re-delivery would count twice).
//!
//! Stopping (the `shutdown` signal) closes the subscriber, drains what it buffered, flushes,
//! writes and commits before returning — nothing answered 200 is lost by a graceful stop.

use crate::actors::{
    AddDecoded, AggregateActor, DecodeActor, DecodeDelivery, Decoded, DropPartition, LoadPositions,
    PersistFlush, TakeFlush, WriteActor,
};
use crate::config::PipelineConfig;
use crate::decode::DecodeFailure;
use actix::{Actor, Addr, MailboxError, SyncArbiter};
use flamestream_bus::{Committer, Subscriber};
use flamestream_model::WindowFlush;
use flamestream_store::{WriteOutcome, Writer};
use futures_util::stream::{FuturesOrdered, StreamExt};
use futures_util::FutureExt;
use rustc_hash::{FxHashMap, FxHashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// What a processor run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessSummary {
    /// Uploads decoded and aggregated.
    pub uploads: u64,
    /// Uploads that failed to decode.
    pub errors: u64,
    /// Deliveries skipped because the store already held them.
    pub already_stored: u64,
    /// Flushes refused by the store because another writer stored their range first.
    pub conflicts: u64,
    /// Deliveries skipped because the pipeline already held them (read again after the
    /// consumer was moved back).
    pub redelivered: u64,
}

/// Options beyond the pipeline file.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Stop once every partition reached these offsets (replay): `partition → end offset`.
    pub stop_at: Option<FxHashMap<i32, i64>>,
    /// Count only; write nothing (replay `--dry-run`).
    pub dry_run: bool,
}

type DecodeResult = Result<Result<Decoded, ((i32, i64), DecodeFailure)>, MailboxError>;

/// Runs the processing role until `shutdown` turns true (or the transport ends), then drains.
///
/// Must run inside an actix system (it starts actors).
///
/// # Errors
/// A message when the store cannot be read at start or an actor stopped.
pub async fn run(
    config: &PipelineConfig,
    subscriber: Subscriber,
    writer: Box<dyn Writer>,
    shutdown: watch::Receiver<bool>,
) -> Result<ProcessSummary, String> {
    run_with(
        config,
        subscriber,
        writer,
        shutdown,
        RunOptions::default(),
        |_| {},
    )
    .await
}

/// [`run`] with options and a progress callback (called with the summary after each upload).
///
/// # Errors
/// A message when the store cannot be read at start or an actor stopped.
pub async fn run_with(
    config: &PipelineConfig,
    mut subscriber: Subscriber,
    writer: Box<dyn Writer>,
    mut shutdown: watch::Receiver<bool>,
    options: RunOptions,
    mut progress: impl FnMut(&ProcessSummary),
) -> Result<ProcessSummary, String> {
    let source = subscriber.source();
    let durable = subscriber.durable();
    let limits = config.limits.clone();
    let decoders = config.process.decoders.max(1);
    let decode: Addr<DecodeActor> =
        SyncArbiter::start(decoders, move || DecodeActor::new(limits.clone()));
    let aggregate = AggregateActor::new(config.process.window_secs).start();
    let writer_cell = std::sync::Mutex::new(Some(writer));
    let write: Addr<WriteActor> = SyncArbiter::start(1, move || {
        WriteActor::new(
            writer_cell
                .lock()
                .ok()
                .and_then(|mut w| w.take())
                .unwrap_or_else(|| Box::new(NoWriter)),
        )
    });

    // A group member resumes where the store stops; a replay reads exactly the range it was given.
    let resumes_from_store = durable && matches!(subscriber.committer(), Committer::Kafka(..));
    let mut track = Tracker::new(durable, resumes_from_store);
    if durable {
        track.stored = load_positions(&write, &source).await?;
        tracing::info!(stored = ?track.stored, source = %source, "stored positions loaded");
    }

    let (flush_tx, flush_rx) = mpsc::channel::<(WindowFlush, u64)>(2);
    let feedback = Arc::new(StoreFeedback::default());
    let writer_task = tokio::spawn(write_loop(
        write.clone(),
        flush_rx,
        subscriber.committer(),
        feedback.clone(),
        options.dry_run,
    ));

    let max_in_flight = decoders * 4;
    let max_open_stacks = config.process.max_open_stacks;
    let mut in_flight: FuturesOrdered<
        futures_util::future::BoxFuture<'static, (i32, u64, DecodeResult)>,
    > = FuturesOrdered::new();
    let mut tick = tokio::time::interval(Duration::from_secs(
        config.process.flush_interval_secs.max(1),
    ));
    tick.tick().await;
    let mut closed = false;
    let mut ended = false;
    let mut done_partitions: FxHashMap<i32, bool> = FxHashMap::default();
    let mut extra_positions: Vec<(i32, i64)> = Vec::new();
    let mut summary = ProcessSummary::default();
    loop {
        if ended && in_flight.is_empty() {
            break;
        }
        track.take_written(&feedback);
        for (partition, stored_next) in feedback.take_conflicts() {
            summary.conflicts += 1;
            track
                .conflict(
                    partition,
                    stored_next,
                    &subscriber,
                    &aggregate,
                    &mut extra_positions,
                )
                .await?;
        }
        track
            .rebalance(
                &subscriber,
                &write,
                &source,
                &aggregate,
                &mut extra_positions,
            )
            .await?;
        tokio::select! {
            biased;
            changed = shutdown.changed(), if !closed => {
                if changed.is_err() || *shutdown.borrow() {
                    tracing::info!("processor draining");
                    subscriber.close();
                    closed = true;
                }
            }
            // The writer refused a flush: handled at the top of the loop.
            () = feedback.conflict_signal.notified() => {}
            Some((partition, epoch, result)) = in_flight.next(), if !in_flight.is_empty() => {
                if track.epoch(partition) != epoch {
                    continue;
                }
                match result {
                    Ok(Ok(decoded)) => {
                        summary.uploads += 1;
                        let position = durable.then_some(decoded.position);
                        let open = aggregate
                            .send(AddDecoded { upload: decoded.upload, position })
                            .await
                            .map_err(|e| format!("aggregator stopped: {e}"))?;
                        if open > max_open_stacks {
                            tracing::info!(open, max_open_stacks, "early flush: `process.max_open_stacks` reached");
                            flush(&aggregate, &source, &mut extra_positions, &track.epochs, &flush_tx).await?;
                        }
                    }
                    Ok(Err((position, _))) => {
                        summary.errors += 1;
                        if durable {
                            extra_positions.push(position);
                        }
                    }
                    Err(e) => return Err(format!("decoder stopped: {e}")),
                }
                progress(&summary);
            }
            delivery = subscriber.recv(), if !ended && in_flight.len() < max_in_flight => {
                match delivery {
                    Some(d) => {
                        // librdkafka runs the rebalance callbacks inside the poll that returned
                        // `d`: `d` is judged under the assignment it came from.
                        track
                            .rebalance(&subscriber, &write, &source, &aggregate, &mut extra_positions)
                            .await?;
                        if let Some(stop) = &options.stop_at {
                            let end = stop.get(&d.partition).copied().unwrap_or(0);
                            if d.offset >= end {
                                done_partitions.insert(d.partition, true);
                                if stop.keys().all(|p| done_partitions.contains_key(p)) {
                                    subscriber.close();
                                    closed = true;
                                }
                                continue;
                            }
                        }
                        let partition = d.partition;
                        let offset = d.offset;
                        let admit = track.admit(&subscriber, partition, offset);
                        if admit == Admit::MovedBack {
                            // Everything from the position it was moved back to will be read
                            // again; what the pipeline holds of it must not count twice.
                            track.drop_pending(partition, &aggregate, &mut extra_positions).await?;
                            continue;
                        }
                        if let Some(stop) = &options.stop_at {
                            if offset + 1 >= stop.get(&partition).copied().unwrap_or(0) {
                                done_partitions.insert(partition, true);
                            }
                        }
                        match admit {
                            Admit::Decode(epoch) => {
                                let fut = decode.send(DecodeDelivery(d)).map(move |r| (partition, epoch, r));
                                in_flight.push_back(fut.boxed());
                            }
                            Admit::AlreadyStored => {
                                metrics::counter!(crate::metrics::DECODE_ALREADY_STORED).increment(1);
                                summary.already_stored += 1;
                                progress(&summary);
                            }
                            Admit::Redelivered => {
                                metrics::counter!(crate::metrics::DECODE_REDELIVERED).increment(1);
                                summary.redelivered += 1;
                            }
                            Admit::MovedBack => {}
                        }
                        if let Some(stop) = &options.stop_at {
                            if stop.keys().all(|p| done_partitions.contains_key(p)) {
                                subscriber.close();
                                closed = true;
                            }
                        }
                    }
                    None => ended = true,
                }
            }
            _ = tick.tick() => {
                flush(&aggregate, &source, &mut extra_positions, &track.epochs, &flush_tx).await?;
            }
        }
    }
    flush(
        &aggregate,
        &source,
        &mut extra_positions,
        &track.epochs,
        &flush_tx,
    )
    .await?;
    drop(flush_tx);
    writer_task
        .await
        .map_err(|e| format!("writer task failed: {e}"))?;
    tracing::info!(?summary, "processor stopped");
    Ok(summary)
}

/// Per-partition bookkeeping of a durable source: what the store holds, which results are
/// current, and which partitions must line up with the store before their data counts.
struct Tracker {
    /// Offsets are positions in a durable log (Kafka); the in-process queue numbers uploads in
    /// no particular order, so nothing here applies to it.
    durable: bool,
    /// The store's next offset per partition: deliveries below it are skipped.
    stored: FxHashMap<i32, i64>,
    /// Bumped when a partition's unflushed data is dropped; older results and flushes are void.
    epochs: FxHashMap<i32, u64>,
    /// The offset after the last delivery taken in the partition's current epoch. A delivery
    /// below it is already in the pipeline (in a decoder, a window or a flush): read again, it
    /// would count twice.
    taken_next: FxHashMap<i32, i64>,
    /// Every partition's first delivery is checked (at start, and after an assignment).
    verify_all: bool,
    verified: FxHashSet<i32>,
    /// Partitions whose next delivery is checked (after a revoke or a conflict).
    verify: FxHashSet<i32>,
    /// Partitions already moved back once since their check began.
    seeked: FxHashSet<i32>,
}

/// What to do with a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admit {
    /// Decode it; its result counts if the partition is still in this epoch.
    Decode(u64),
    /// The store already holds it.
    AlreadyStored,
    /// The pipeline already holds it.
    Redelivered,
    /// The consumer resumed past where the store stops and was moved back.
    MovedBack,
}

impl Tracker {
    fn new(durable: bool, resumes_from_store: bool) -> Tracker {
        Tracker {
            durable,
            stored: FxHashMap::default(),
            epochs: FxHashMap::default(),
            taken_next: FxHashMap::default(),
            verify_all: resumes_from_store,
            verified: FxHashSet::default(),
            verify: FxHashSet::default(),
            seeked: FxHashSet::default(),
        }
    }

    fn epoch(&self, partition: i32) -> u64 {
        self.epochs.get(&partition).copied().unwrap_or(0)
    }

    /// The store holds `partition` below `next` (positions only move forward).
    fn stored_up_to(&mut self, partition: i32, next: i64) {
        raise_in(&mut self.stored, partition, next);
    }

    /// Takes the positions the writer stored since the last call.
    fn take_written(&mut self, feedback: &StoreFeedback) {
        for (p, next) in take_map(&feedback.written) {
            self.stored_up_to(p, next);
        }
    }

    /// Forgets everything the pipeline holds of `partition` that is not stored yet: it will be
    /// read again.
    async fn drop_pending(
        &mut self,
        partition: i32,
        aggregate: &Addr<AggregateActor>,
        extra_positions: &mut Vec<(i32, i64)>,
    ) -> Result<(), String> {
        *self.epochs.entry(partition).or_default() += 1;
        self.taken_next.remove(&partition);
        extra_positions.retain(|(q, _)| *q != partition);
        aggregate
            .send(DropPartition(partition))
            .await
            .map_err(|e| format!("aggregator stopped: {e}"))
    }

    /// The store refused a flush of `partition`: it holds the partition up to `stored_next`.
    /// What the pipeline holds of the partition is dropped and it is re-read from there.
    async fn conflict(
        &mut self,
        partition: i32,
        stored_next: i64,
        subscriber: &Subscriber,
        aggregate: &Addr<AggregateActor>,
        extra_positions: &mut Vec<(i32, i64)>,
    ) -> Result<(), String> {
        self.stored_up_to(partition, stored_next);
        self.drop_pending(partition, aggregate, extra_positions)
            .await?;
        self.verify.insert(partition);
        // Should the seek fail, the check of the partition's next delivery tries again.
        match subscriber.seek(partition, stored_next) {
            Ok(()) => {
                self.seeked.insert(partition);
            }
            Err(e) => {
                tracing::warn!(partition, stored_next, error = %e, "seek after a write conflict failed")
            }
        }
        tracing::info!(
            partition,
            stored_next,
            "write conflict: partition re-read from the store's position"
        );
        Ok(())
    }

    /// Rebalances: forgets revoked partitions, reloads positions after an assignment.
    async fn rebalance(
        &mut self,
        subscriber: &Subscriber,
        write: &Addr<WriteActor>,
        source: &str,
        aggregate: &Addr<AggregateActor>,
        extra_positions: &mut Vec<(i32, i64)>,
    ) -> Result<(), String> {
        for p in subscriber.take_revoked() {
            self.drop_pending(p, aggregate, extra_positions).await?;
            self.verify.insert(p);
            self.seeked.remove(&p);
        }
        if subscriber.take_assigned() {
            for (p, next) in load_positions(write, source).await? {
                self.stored_up_to(p, next);
            }
            self.verify_all = true;
            self.verified.clear();
            self.seeked.clear();
            tracing::info!(stored = ?self.stored, "stored positions reloaded after an assignment");
        }
        Ok(())
    }

    /// Decides about the delivery at `offset` of `partition`. The first delivery after an
    /// assignment or a drop must start where the store stops (or, with nothing stored, where
    /// the group resumes): a consumer that resumed past it is moved back, once.
    fn admit(&mut self, subscriber: &Subscriber, partition: i32, offset: i64) -> Admit {
        let p = partition;
        if self.verify.contains(&p) || (self.verify_all && !self.verified.contains(&p)) {
            let expected = match self.stored.get(&p) {
                Some(&s) => Some(s),
                None => subscriber.resume_offset(p),
            };
            if let Some(s) = expected {
                if offset > s {
                    if !self.seeked.contains(&p) {
                        tracing::info!(
                            partition = p,
                            offset,
                            expected = s,
                            "consumer resumed past the expected position; moving it back"
                        );
                        match subscriber.seek(p, s) {
                            Ok(()) => {
                                self.seeked.insert(p);
                            }
                            // Not moved: this delivery is dropped all the same, and the next
                            // one tries again.
                            Err(e) => {
                                tracing::warn!(partition = p, error = %e, "seek to the expected position failed")
                            }
                        }
                        return Admit::MovedBack;
                    }
                    tracing::warn!(
                        partition = p,
                        offset,
                        expected = s,
                        "offsets before the first available one are gone from the topic"
                    );
                }
            }
            tracing::info!(partition = p, offset, stored = ?self.stored.get(&p), "partition position verified");
            self.verify.remove(&p);
            self.verified.insert(p);
            self.seeked.remove(&p);
        }
        if self.stored.get(&p).is_some_and(|next| offset < *next) {
            return Admit::AlreadyStored;
        }
        if !self.durable {
            return Admit::Decode(self.epoch(p));
        }
        if self.taken_next.get(&p).is_some_and(|next| offset < *next) {
            tracing::debug!(
                partition = p,
                offset,
                "delivery already in the pipeline; skipped"
            );
            return Admit::Redelivered;
        }
        self.taken_next.insert(p, offset + 1);
        Admit::Decode(self.epoch(p))
    }
}

async fn load_positions(
    write: &Addr<WriteActor>,
    source: &str,
) -> Result<FxHashMap<i32, i64>, String> {
    let positions = write
        .send(LoadPositions(source.to_string()))
        .await
        .map_err(|e| format!("writer stopped: {e}"))?
        .map_err(|e| format!("cannot read stored positions: {e}"))?;
    Ok(positions
        .into_iter()
        .map(|p| (p.partition, p.next_offset))
        .collect())
}

async fn flush(
    aggregate: &Addr<AggregateActor>,
    source: &str,
    extra_positions: &mut Vec<(i32, i64)>,
    epochs: &FxHashMap<i32, u64>,
    flush_tx: &mpsc::Sender<(WindowFlush, u64)>,
) -> Result<(), String> {
    let flushes = aggregate
        .send(TakeFlush {
            source: source.to_string(),
            positions: std::mem::take(extra_positions),
        })
        .await
        .map_err(|e| format!("aggregator stopped: {e}"))?;
    for flush in flushes {
        let partition = flush.positions.first().map_or(0, |p| p.partition);
        let epoch = epochs.get(&partition).copied().unwrap_or(0);
        flush_tx
            .send((flush, epoch))
            .await
            .map_err(|_| "writer task stopped".to_string())?;
    }
    Ok(())
}

/// What the writer tells the processor about the store. Maps keyed by partition, so the
/// writer never waits for the processor and what waits is bounded by the partition count.
#[derive(Default)]
struct StoreFeedback {
    /// Positions written since the processor last looked.
    written: std::sync::Mutex<FxHashMap<i32, i64>>,
    /// Flushes refused because the store holds part of their range: partition → stored next.
    conflicts: std::sync::Mutex<FxHashMap<i32, i64>>,
    /// Wakes the processor after a conflict.
    conflict_signal: tokio::sync::Notify,
}

impl StoreFeedback {
    fn take_conflicts(&self) -> FxHashMap<i32, i64> {
        take_map(&self.conflicts)
    }
}

/// Takes a shared map's content, leaving it empty.
fn take_map(map: &std::sync::Mutex<FxHashMap<i32, i64>>) -> FxHashMap<i32, i64> {
    match map.lock() {
        Ok(mut m) => std::mem::take(&mut *m),
        Err(e) => std::mem::take(&mut *e.into_inner()),
    }
}

/// Records `next` for `partition` unless a larger one is there.
fn raise(map: &std::sync::Mutex<FxHashMap<i32, i64>>, partition: i32, next: i64) {
    raise_in(
        &mut map.lock().unwrap_or_else(|e| e.into_inner()),
        partition,
        next,
    );
}

/// Records `next` for `partition` in `map` unless a larger one is there.
fn raise_in(map: &mut FxHashMap<i32, i64>, partition: i32, next: i64) {
    let e = map.entry(partition).or_insert(next);
    *e = (*e).max(next);
}

async fn write_loop(
    write: Addr<WriteActor>,
    mut flushes: mpsc::Receiver<(WindowFlush, u64)>,
    committer: Committer,
    feedback: Arc<StoreFeedback>,
    dry_run: bool,
) {
    // Partitions whose flushes up to an epoch are void after a conflict.
    let mut void_through: FxHashMap<i32, u64> = FxHashMap::default();
    while let Some((flush, epoch)) = flushes.recv().await {
        if dry_run {
            continue;
        }
        let partition = flush.positions.first().map(|p| p.partition);
        if let Some(p) = partition {
            if void_through.get(&p).is_some_and(|e| epoch <= *e) {
                continue;
            }
        }
        let flush = Arc::new(flush);
        let mut backoff = Duration::from_millis(100);
        let outcome = loop {
            match write.send(PersistFlush(flush.clone())).await {
                Ok(Ok(outcome)) => break outcome,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "store write failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
                Err(e) => {
                    tracing::error!(error = %e, "writer actor stopped; flush not stored");
                    return;
                }
            }
        };
        match outcome {
            WriteOutcome::Written => {
                let positions: Vec<(i32, i64)> = flush
                    .positions
                    .iter()
                    .map(|p| (p.partition, p.next_offset))
                    .collect();
                if !positions.is_empty() {
                    for (p, next) in &positions {
                        raise(&feedback.written, *p, *next);
                    }
                    if let Err(e) = committer.commit(&positions) {
                        // The store holds the positions too, so a failed commit only delays lag.
                        tracing::warn!(error = %e, "offset commit failed; the store's positions stay authoritative");
                    }
                }
            }
            // Nothing to commit: the store is already past this range, and committing its end
            // would move the group's offset backwards.
            WriteOutcome::AlreadyStored => {}
            WriteOutcome::Conflict {
                partition,
                stored_next,
            } => {
                void_through.insert(partition, epoch);
                raise(&feedback.conflicts, partition, stored_next);
                feedback.conflict_signal.notify_one();
            }
        }
    }
}

struct NoWriter;

impl Writer for NoWriter {
    fn write(&mut self, _: &WindowFlush) -> Result<WriteOutcome, flamestream_store::StoreError> {
        Err(flamestream_store::StoreError::Other(
            "writer was already taken".into(),
        ))
    }
    fn positions(
        &mut self,
        _: &str,
    ) -> Result<Vec<flamestream_model::SourcePosition>, flamestream_store::StoreError> {
        Ok(Vec::new())
    }
    fn kind(&self) -> &'static str {
        "none"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscriber() -> Subscriber {
        // Seeks succeed and nothing is committed: the Kafka decisions without a broker.
        Subscriber::Memory(flamestream_bus::memory::channel(1).1)
    }

    #[test]
    fn a_delivery_taken_once_is_not_taken_again_in_the_same_epoch() {
        let sub = subscriber();
        let mut t = Tracker::new(true, true);
        t.stored.insert(0, 5);
        // Resumed past the store's position: moved back, once.
        assert_eq!(t.admit(&sub, 0, 7), Admit::MovedBack);
        assert_eq!(t.admit(&sub, 0, 5), Admit::Decode(0));
        assert_eq!(t.admit(&sub, 0, 6), Admit::Decode(0));
        // Read again (a seek back the processor did not drop for): skipped.
        assert_eq!(t.admit(&sub, 0, 5), Admit::Redelivered);
        assert_eq!(t.admit(&sub, 0, 6), Admit::Redelivered);
        assert_eq!(t.admit(&sub, 0, 3), Admit::AlreadyStored);
        assert_eq!(t.admit(&sub, 0, 7), Admit::Decode(0));
        // Another partition is checked on its own.
        assert_eq!(t.admit(&sub, 1, 0), Admit::Decode(0));
    }

    #[test]
    fn after_a_drop_the_partition_is_taken_again_from_where_it_is_read() {
        let sub = subscriber();
        let mut t = Tracker::new(true, true);
        assert_eq!(t.admit(&sub, 0, 0), Admit::Decode(0));
        assert_eq!(t.admit(&sub, 0, 1), Admit::Decode(0));
        // What drop_pending does, without the aggregator.
        *t.epochs.entry(0).or_default() += 1;
        t.taken_next.remove(&0);
        assert_eq!(t.admit(&sub, 0, 0), Admit::Decode(1));
        assert_eq!(t.admit(&sub, 0, 1), Admit::Decode(1));
    }

    #[test]
    fn written_positions_move_the_store_position_forward_only() {
        let feedback = StoreFeedback::default();
        let mut t = Tracker::new(true, true);
        raise(&feedback.written, 0, 10);
        raise(&feedback.written, 0, 4);
        t.take_written(&feedback);
        assert_eq!(t.stored.get(&0), Some(&10));
        t.stored_up_to(0, 7);
        assert_eq!(t.stored.get(&0), Some(&10));
        assert!(take_map(&feedback.written).is_empty());
    }

    #[test]
    fn the_in_process_queue_is_never_judged_by_offset() {
        // Its numbers are taken before the send, so they arrive out of order.
        let sub = subscriber();
        let mut t = Tracker::new(false, false);
        assert_eq!(t.admit(&sub, 0, 6), Admit::Decode(0));
        assert_eq!(t.admit(&sub, 0, 5), Admit::Decode(0));
    }

    #[test]
    fn a_replay_is_not_moved_back_to_the_store_position() {
        let sub = subscriber();
        let mut t = Tracker::new(true, false);
        t.stored.insert(0, 2);
        assert_eq!(t.admit(&sub, 0, 10), Admit::Decode(0));
        assert_eq!(t.admit(&sub, 0, 1), Admit::AlreadyStored);
    }
}

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

    // Positions already stored: deliveries before them are skipped.
    let mut stored: FxHashMap<i32, i64> = FxHashMap::default();
    if durable {
        stored = load_positions(&write, &source).await?;
        tracing::info!(?stored, source = %source, "stored positions loaded");
    }
    // Bumped when a partition's unflushed data is dropped; older results and flushes are void.
    let mut epochs: FxHashMap<i32, u64> = FxHashMap::default();
    // Partitions whose next delivery must line up with the stored position (after an
    // assignment or a drop): a consumer that resumes past it is moved back, once.
    let mut verify_all = durable;
    let mut verified: FxHashSet<i32> = FxHashSet::default();
    let mut verify: FxHashSet<i32> = FxHashSet::default();
    let mut seeked: FxHashSet<i32> = FxHashSet::default();

    let (flush_tx, flush_rx) = mpsc::channel::<(WindowFlush, u64)>(2);
    let (conflict_tx, mut conflict_rx) = mpsc::channel::<(i32, i64)>(64);
    let writer_task = tokio::spawn(write_loop(
        write.clone(),
        flush_rx,
        subscriber.committer(),
        conflict_tx,
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
        // Rebalances: forget revoked partitions, reload positions after an assignment.
        for p in subscriber.take_revoked() {
            *epochs.entry(p).or_default() += 1;
            verify.insert(p);
            seeked.remove(&p);
            aggregate
                .send(DropPartition(p))
                .await
                .map_err(|e| format!("aggregator stopped: {e}"))?;
            extra_positions.retain(|(q, _)| *q != p);
        }
        if subscriber.take_assigned() {
            stored = load_positions(&write, &source).await?;
            verify_all = true;
            verified.clear();
            seeked.clear();
            tracing::info!(?stored, "stored positions reloaded after an assignment");
        }
        tokio::select! {
            biased;
            changed = shutdown.changed(), if !closed => {
                if changed.is_err() || *shutdown.borrow() {
                    tracing::info!("processor draining");
                    subscriber.close();
                    closed = true;
                }
            }
            Some((partition, stored_next)) = conflict_rx.recv() => {
                summary.conflicts += 1;
                *epochs.entry(partition).or_default() += 1;
                aggregate.send(DropPartition(partition)).await.map_err(|e| format!("aggregator stopped: {e}"))?;
                extra_positions.retain(|(q, _)| *q != partition);
                stored.insert(partition, stored_next);
                verify.insert(partition);
                seeked.insert(partition);
                if let Err(e) = subscriber.seek(partition, stored_next) {
                    tracing::warn!(partition, stored_next, error = %e, "seek after a write conflict failed");
                }
                tracing::info!(partition, stored_next, "write conflict: partition re-read from the store's position");
            }
            Some((partition, epoch, result)) = in_flight.next(), if !in_flight.is_empty() => {
                if epochs.get(&partition).copied().unwrap_or(0) != epoch {
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
                            flush(&aggregate, &source, &mut extra_positions, &epochs, &flush_tx).await?;
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
                            if d.offset + 1 >= end {
                                done_partitions.insert(d.partition, true);
                            }
                        }
                        let p = d.partition;
                        if verify.contains(&p) || (verify_all && !verified.contains(&p)) {
                            // The first delivery after an assignment or a drop must start where
                            // the store stops (or, with nothing stored, where the group resumes).
                            let expected = match stored.get(&p) {
                                Some(&s) => Some(s),
                                None => subscriber.resume_offset(p),
                            };
                            if let Some(s) = expected {
                                if d.offset > s {
                                    if !seeked.contains(&p) {
                                        tracing::info!(partition = p, offset = d.offset, expected = s, "consumer resumed past the expected position; moving it back");
                                        if let Err(e) = subscriber.seek(p, s) {
                                            tracing::warn!(partition = p, error = %e, "seek to the expected position failed");
                                        }
                                        seeked.insert(p);
                                        continue;
                                    }
                                    tracing::warn!(partition = p, offset = d.offset, expected = s, "offsets before the first available one are gone from the topic");
                                }
                            }
                            tracing::info!(partition = p, offset = d.offset, stored = ?stored.get(&p), "partition position verified");
                            verify.remove(&p);
                            verified.insert(p);
                            seeked.remove(&p);
                        }
                        if stored.get(&d.partition).is_some_and(|next| d.offset < *next) {
                            metrics::counter!(crate::metrics::DECODE_ALREADY_STORED).increment(1);
                            summary.already_stored += 1;
                            progress(&summary);
                        } else {
                            let partition = d.partition;
                            let epoch = epochs.get(&partition).copied().unwrap_or(0);
                            let fut = decode.send(DecodeDelivery(d)).map(move |r| (partition, epoch, r));
                            in_flight.push_back(fut.boxed());
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
                flush(&aggregate, &source, &mut extra_positions, &epochs, &flush_tx).await?;
            }
        }
    }
    flush(
        &aggregate,
        &source,
        &mut extra_positions,
        &epochs,
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

async fn write_loop(
    write: Addr<WriteActor>,
    mut flushes: mpsc::Receiver<(WindowFlush, u64)>,
    committer: Committer,
    conflicts: mpsc::Sender<(i32, i64)>,
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
            WriteOutcome::Written | WriteOutcome::AlreadyStored => {
                let positions: Vec<(i32, i64)> = flush
                    .positions
                    .iter()
                    .map(|p| (p.partition, p.next_offset))
                    .collect();
                if !positions.is_empty() {
                    if let Err(e) = committer.commit(&positions) {
                        // The store holds the positions too, so a failed commit only delays lag.
                        tracing::warn!(error = %e, "offset commit failed; the store's positions stay authoritative");
                    }
                }
            }
            WriteOutcome::Conflict {
                partition,
                stored_next,
            } => {
                void_through.insert(partition, epoch);
                let _ = conflicts.send((partition, stored_next)).await;
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

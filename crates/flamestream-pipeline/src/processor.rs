//! The processing loop: reads deliveries, keeps a bounded number of decodes in flight, feeds
//! the aggregator in source order, flushes on a timer (or when memory is full), and hands
//! flushes to a writer task that persists them and only then commits their positions.
//!
//! Stopping (the `shutdown` signal) closes the subscriber, drains what it buffered, flushes,
//! writes and commits before returning — nothing answered 200 is lost by a graceful stop.

use crate::actors::{
    AddDecoded, AggregateActor, DecodeActor, DecodeDelivery, PersistFlush, TakeFlush, WriteActor,
};
use crate::config::PipelineConfig;
use actix::{Actor, Addr, SyncArbiter};
use flamestream_bus::{Committer, Subscriber};
use flamestream_model::WindowFlush;
use flamestream_store::Writer;
use futures_util::stream::{FuturesOrdered, StreamExt};
use rustc_hash::FxHashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Runs the processing role until `shutdown` turns true (or the transport ends), then drains.
///
/// Must run inside an actix system (it starts actors).
///
/// # Errors
/// A message when the store cannot be read at start.
pub async fn run(
    config: &PipelineConfig,
    mut subscriber: Subscriber,
    mut writer: Box<dyn Writer>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<ProcessSummary, String> {
    let source = subscriber.source();
    let durable = subscriber.durable();
    // Positions already stored: deliveries before them are skipped (restarts, replays).
    let mut stored: FxHashMap<i32, i64> = FxHashMap::default();
    if durable {
        for p in writer
            .positions(&source)
            .map_err(|e| format!("cannot read stored positions: {e}"))?
        {
            stored.insert(p.partition, p.next_offset);
        }
    }
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
    let (flush_tx, flush_rx) = mpsc::channel::<WindowFlush>(1);
    let writer_task = tokio::spawn(write_loop(write, flush_rx, subscriber.committer()));

    let max_in_flight = decoders * 4;
    let max_open_stacks = config.process.max_open_stacks;
    let mut in_flight = FuturesOrdered::new();
    let mut tick = tokio::time::interval(Duration::from_secs(
        config.process.flush_interval_secs.max(1),
    ));
    tick.tick().await;
    let mut closed = false;
    let mut ended = false;
    let mut extra_positions: Vec<(i32, i64)> = Vec::new();
    let mut summary = ProcessSummary::default();
    loop {
        if ended && in_flight.is_empty() {
            break;
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
            Some(result) = in_flight.next(), if !in_flight.is_empty() => {
                match result {
                    Ok(Ok(decoded)) => {
                        let decoded: crate::actors::Decoded = decoded;
                        summary.uploads += 1;
                        let position = durable.then_some(decoded.position);
                        let open = aggregate
                            .send(AddDecoded { upload: decoded.upload, position })
                            .await
                            .map_err(|e| format!("aggregator stopped: {e}"))?;
                        if open > max_open_stacks {
                            tracing::info!(open, max_open_stacks, "early flush: `process.max_open_stacks` reached");
                            flush(&aggregate, &source, &mut extra_positions, &flush_tx).await?;
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
            }
            delivery = subscriber.recv(), if !ended && in_flight.len() < max_in_flight => {
                match delivery {
                    Some(d) => {
                        if stored.get(&d.partition).is_some_and(|next| d.offset < *next) {
                            metrics::counter!(crate::metrics::DECODE_ALREADY_STORED).increment(1);
                            summary.already_stored += 1;
                            continue;
                        }
                        in_flight.push_back(decode.send(DecodeDelivery(d)));
                    }
                    None => ended = true,
                }
            }
            _ = tick.tick() => {
                flush(&aggregate, &source, &mut extra_positions, &flush_tx).await?;
            }
        }
    }
    flush(&aggregate, &source, &mut extra_positions, &flush_tx).await?;
    drop(flush_tx);
    writer_task
        .await
        .map_err(|e| format!("writer task failed: {e}"))?;
    tracing::info!(
        uploads = summary.uploads,
        errors = summary.errors,
        "processor stopped"
    );
    Ok(summary)
}

/// What a processor run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessSummary {
    /// Uploads decoded and aggregated.
    pub uploads: u64,
    /// Uploads that failed to decode.
    pub errors: u64,
    /// Deliveries skipped because the store already held them.
    pub already_stored: u64,
}

async fn flush(
    aggregate: &Addr<AggregateActor>,
    source: &str,
    extra_positions: &mut Vec<(i32, i64)>,
    flush_tx: &mpsc::Sender<WindowFlush>,
) -> Result<(), String> {
    let flush = aggregate
        .send(TakeFlush {
            source: source.to_string(),
            positions: std::mem::take(extra_positions),
        })
        .await
        .map_err(|e| format!("aggregator stopped: {e}"))?;
    if flush.series.is_empty() && flush.positions.is_empty() {
        return Ok(());
    }
    flush_tx
        .send(flush)
        .await
        .map_err(|_| "writer task stopped".to_string())
}

async fn write_loop(
    write: Addr<WriteActor>,
    mut flushes: mpsc::Receiver<WindowFlush>,
    committer: Committer,
) {
    while let Some(flush) = flushes.recv().await {
        let flush = Arc::new(flush);
        let mut backoff = Duration::from_millis(100);
        loop {
            match write.send(PersistFlush(flush.clone())).await {
                Ok(Ok(())) => break,
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
        }
        let positions: Vec<(i32, i64)> = flush
            .positions
            .iter()
            .map(|p| (p.partition, p.next_offset))
            .collect();
        if !positions.is_empty() {
            if let Err(e) = committer.commit(&positions) {
                // The store holds the positions too, so a failed commit only delays lag metrics.
                tracing::warn!(error = %e, "offset commit failed; the store's positions stay authoritative");
            }
        }
    }
}

struct NoWriter;

impl Writer for NoWriter {
    fn write(&mut self, _: &WindowFlush) -> Result<(), flamestream_store::StoreError> {
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

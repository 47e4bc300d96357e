//! `flamestream replay`: re-reads a range of the raw topic into a store.
//!
//! Messages the store already holds (its stored position per partition) are skipped, so a
//! replay of the same range twice changes no totals; a new, empty store receives everything.

use crate::serve::{kafka_settings, writer_for};
use flamestream_bus::kafka::{Bound, KafkaSubscriber};
use flamestream_bus::Subscriber;
use flamestream_pipeline::config::TransportKind;
use flamestream_pipeline::processor::{run_with, RunOptions};
use flamestream_pipeline::PipelineConfig;
use std::collections::BTreeMap;

/// Parses `earliest`/`latest`, an RFC 3339 time, or `P:O[,P:O…]`.
///
/// # Errors
/// A message naming the accepted forms.
pub fn parse_bound(text: &str, is_start: bool) -> anyhow::Result<Bound> {
    let t = text.trim();
    match t {
        "earliest" => return Ok(Bound::Earliest),
        "latest" => return Ok(Bound::Latest),
        _ => {}
    }
    if let Ok(time) = humantime::parse_rfc3339_weak(t) {
        let ms = time
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| anyhow::anyhow!("`{t}` is before 1970"))?
            .as_millis() as i64;
        return Ok(Bound::TimeMs(ms));
    }
    let mut offsets = BTreeMap::new();
    for part in t.split(',') {
        let (p, o) = part
            .split_once(':')
            .and_then(|(p, o)| Some((p.trim().parse::<i32>().ok()?, o.trim().parse::<i64>().ok()?)))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "`--{}` = `{t}` is invalid: use `{}`, an RFC 3339 time like `2026-11-27T10:00:00Z`, or `PARTITION:OFFSET[,PARTITION:OFFSET]`",
                    if is_start { "from" } else { "to" },
                    if is_start { "earliest" } else { "latest" }
                )
            })?;
        offsets.insert(p, o);
    }
    Ok(Bound::Offsets(offsets))
}

/// Runs the replay and prints a summary.
pub async fn replay(
    config: PipelineConfig,
    from: Bound,
    to: Bound,
    dry_run: bool,
    quiet: bool,
) -> anyhow::Result<()> {
    if config.transport.kind != TransportKind::Kafka {
        anyhow::bail!(
            "replay reads the raw Kafka topic: the pipeline's `transport.kind` must be `kafka`"
        );
    }
    let settings = kafka_settings(&config);
    let (subscriber, work) = KafkaSubscriber::for_range(&settings, &from, &to)
        .map_err(|e| anyhow::anyhow!("kafka at `{}`: {e}", settings.brokers))?;
    let total: i64 = work.values().map(|(s, e)| e - s).sum();
    eprintln!(
        "replaying {total} message(s) of `{}` from {} partition(s){}",
        settings.topic,
        work.len(),
        if dry_run {
            " (dry run: nothing is written)"
        } else {
            ""
        }
    );
    if total == 0 {
        println!("nothing to replay");
        return Ok(());
    }
    let writer = writer_for(&config)?;
    let bar = if quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(total as u64)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} messages {per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    actix_rt::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = stop_tx.send(true);
        }
    });
    let options = RunOptions {
        stop_at: Some(work.iter().map(|(p, (_, end))| (*p, *end)).collect()),
        dry_run,
    };
    let summary = run_with(
        &config,
        Subscriber::Kafka(subscriber),
        writer,
        stop_rx,
        options,
        |s| {
            bar.set_position(s.uploads + s.errors + s.already_stored);
            metrics::counter!("flamestream_replay_messages_total")
                .absolute(s.uploads + s.errors + s.already_stored);
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!(e))?;
    bar.finish_and_clear();
    println!(
        "replay done: {} upload(s) decoded{}, {} already stored (skipped), {} undecodable, {} write conflict(s)",
        summary.uploads,
        if dry_run { " (not written)" } else { " and stored" },
        summary.already_stored,
        summary.errors,
        summary.conflicts
    );
    Ok(())
}

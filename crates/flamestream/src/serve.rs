//! `flamestream serve`: builds the transport, store, actors and HTTP server of a pipeline
//! file, runs them, and stops them in order on SIGTERM/Ctrl-C (stop accepting, drain, flush,
//! write, exit).

use anyhow::Context;
use flamestream_bus::kafka::{KafkaPublisher, KafkaSettings, KafkaSubscriber};
use flamestream_bus::{memory, Publisher, Subscriber};
use flamestream_http::AppState;
use flamestream_pipeline::config::{StoreKind, TransportKind};
use flamestream_pipeline::{PipelineConfig, Role};
use flamestream_store::clickhouse::{ClickhouseSettings, ClickhouseStore};
use flamestream_store::sqlite::SqliteStore;
use flamestream_store::{Reader, StoreError, Writer};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::watch;

fn sqlite(config: &PipelineConfig) -> anyhow::Result<SqliteStore> {
    let path = config.sqlite_path();
    SqliteStore::open(&path).with_context(|| {
        format!(
            "cannot open the SQLite store at `{}`: check `server.data_dir` / FLAMESTREAM_DATA_DIR",
            path.display()
        )
    })
}

/// The Kafka settings of a pipeline.
pub fn kafka_settings(config: &PipelineConfig) -> KafkaSettings {
    let k = &config.transport.kafka;
    KafkaSettings {
        brokers: k.brokers.clone(),
        topic: k.topic.clone(),
        group_id: k.group_id.clone(),
        producer: k.producer.clone(),
        consumer: k.consumer.clone(),
        max_message_bytes: config.limits.max_body_bytes + 64 * 1024,
        delivery_timeout_ms: k.delivery_timeout_ms,
    }
}

/// The ClickHouse store of a pipeline.
pub fn clickhouse(config: &PipelineConfig) -> anyhow::Result<ClickhouseStore> {
    let c = &config.store.clickhouse;
    Ok(ClickhouseStore::new(ClickhouseSettings {
        url: c.url.clone(),
        database: c.database.clone(),
        user: c.user.clone(),
        password: c.password.clone(),
        ttl_days: c.ttl_days,
    })?)
}

/// A reader and a writer (or `None`).
pub type StoreHandles = (Arc<dyn Reader>, Option<Box<dyn Writer>>);

/// The store of a pipeline as a reader, and a writer when `for_writing`.
///
/// A ClickHouse that does not answer yet is not fatal (writes retry with backoff); a
/// ClickHouse without the schema is: run `flamestream migrate`.
pub fn open_store(config: &PipelineConfig, for_writing: bool) -> anyhow::Result<StoreHandles> {
    match config.store.kind {
        StoreKind::Sqlite => {
            let store = sqlite(config)?;
            let writer: Option<Box<dyn Writer>> = if for_writing {
                Some(Box::new(store.writer()?))
            } else {
                None
            };
            Ok((Arc::new(store), writer))
        }
        StoreKind::Clickhouse => {
            let store = clickhouse(config)?;
            match store.check_schema() {
                Ok(()) => {}
                Err(StoreError::Unavailable(e)) => tracing::warn!(
                    error = %e,
                    url = %config.store.clickhouse.url,
                    "clickhouse does not answer yet; writes will retry"
                ),
                Err(e) => anyhow::bail!(
                    "clickhouse at `{}` is not ready: {e}",
                    config.store.clickhouse.url
                ),
            }
            let writer: Option<Box<dyn Writer>> = if for_writing {
                Some(Box::new(store.writer()?))
            } else {
                None
            };
            Ok((Arc::new(store), writer))
        }
    }
}

/// A writer for the pipeline's store.
pub fn writer_for(config: &PipelineConfig) -> anyhow::Result<Box<dyn Writer>> {
    open_store(config, true)?
        .1
        .ok_or_else(|| anyhow::anyhow!("the store has no writer"))
}

/// Connectivity checks for `flamestream check`.
pub fn check(config: &PipelineConfig) -> anyhow::Result<()> {
    match config.store.kind {
        StoreKind::Sqlite => {
            let store = sqlite(config)?;
            println!("ok: sqlite store at {}", store.path().display());
        }
        StoreKind::Clickhouse => {
            let store = clickhouse(config)?;
            let version = store.ping().map_err(|e| {
                anyhow::anyhow!("clickhouse at `{}`: {e}", config.store.clickhouse.url)
            })?;
            store.check_schema().map_err(|e| {
                anyhow::anyhow!("clickhouse at `{}`: {e}", config.store.clickhouse.url)
            })?;
            println!(
                "ok: clickhouse {version} at {} has the flamestream schema in `{}`",
                config.store.clickhouse.url, config.store.clickhouse.database
            );
        }
    }
    match config.transport.kind {
        TransportKind::Memory => println!(
            "ok: in-process queue (capacity {})",
            config.transport.queue_capacity
        ),
        TransportKind::Kafka => {
            let settings = kafka_settings(config);
            let (_, work) = KafkaSubscriber::for_range(
                &settings,
                &flamestream_bus::kafka::Bound::Earliest,
                &flamestream_bus::kafka::Bound::Latest,
            )
            .map_err(|e| anyhow::anyhow!("kafka at `{}`: {e}", settings.brokers))?;
            println!(
                "ok: kafka at {} has topic `{}` ({} partition(s) holding messages)",
                settings.brokers,
                settings.topic,
                work.len()
            );
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler installs");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Runs the roles of `config` until a stop signal.
pub async fn serve(config: PipelineConfig) -> anyhow::Result<()> {
    let metrics = flamestream_http::ops::prometheus();
    let (publisher, subscriber): (Option<Publisher>, Option<Subscriber>) =
        match config.transport.kind {
            TransportKind::Memory => {
                let (p, s) = memory::channel(config.transport.queue_capacity);
                (Some(Publisher::Memory(p)), Some(Subscriber::Memory(s)))
            }
            TransportKind::Kafka => {
                let settings = kafka_settings(&config);
                let publisher = if config.runs(Role::Ingest) {
                    Some(Publisher::Kafka(
                        KafkaPublisher::new(&settings)
                            .map_err(|e| anyhow::anyhow!("kafka producer: {e}"))?,
                    ))
                } else {
                    None
                };
                let subscriber = if config.runs(Role::Process) {
                    let sub = KafkaSubscriber::new(&settings)
                        .map_err(|e| anyhow::anyhow!("kafka consumer: {e}"))?;
                    let consumer = sub.consumer();
                    let topic = settings.topic.clone();
                    std::thread::Builder::new()
                        .name("kafka-lag".into())
                        .spawn(move || loop {
                            flamestream_bus::kafka::report_lag(&consumer, &topic);
                            std::thread::sleep(std::time::Duration::from_secs(10));
                        })?;
                    Some(Subscriber::Kafka(sub))
                } else {
                    None
                };
                (publisher, subscriber)
            }
        };
    let publisher = publisher.filter(|_| config.runs(Role::Ingest));
    let flush_publisher = publisher.clone();
    let subscriber = subscriber.filter(|_| config.runs(Role::Process));

    let needs_store = config.runs(Role::Process) || config.runs(Role::Query);
    let (store_reader, store_writer) = if needs_store {
        let (reader, writer) = open_store(&config, config.runs(Role::Process))?;
        (Some(reader), writer)
    } else {
        (None, None)
    };

    let (stop_tx, stop_rx) = watch::channel(false);
    let processor = match (subscriber, store_writer) {
        (Some(sub), Some(writer)) if config.runs(Role::Process) => {
            let cfg = config.clone();
            Some(actix_rt::spawn(async move {
                flamestream_pipeline::processor::run(&cfg, sub, writer, stop_rx).await
            }))
        }
        _ => None,
    };

    let ready = Arc::new(AtomicBool::new(false));
    let state = actix_web::web::Data::new(AppState {
        config: config.clone(),
        publisher,
        reader: store_reader.filter(|_| config.runs(Role::Query)),
        metrics,
        ready: ready.clone(),
    });
    let listen = config.server.listen.clone();
    let mut server = actix_web::HttpServer::new({
        let state = state.clone();
        move || {
            let state = state.clone();
            actix_web::App::new().configure(move |cfg| flamestream_http::configure(cfg, state))
        }
    })
    .disable_signals()
    .shutdown_timeout(30);
    if config.server.workers > 0 {
        server = server.workers(config.server.workers);
    }
    let server = server
        .bind(&listen)
        .with_context(|| format!("cannot listen on `{listen}`: is another process using it? set --listen or FLAMESTREAM_LISTEN"))?
        .run();
    let handle = server.handle();
    let server_task = actix_rt::spawn(server);
    ready.store(true, Ordering::Relaxed);
    tracing::info!(
        listen = %listen,
        roles = ?config.roles,
        transport = ?config.transport.kind,
        store = ?config.store.kind,
        "flamestream is serving"
    );

    shutdown_signal().await;
    tracing::info!("stopping: no new uploads; draining the queue");
    ready.store(false, Ordering::Relaxed);
    handle.stop(true).await;
    let _ = server_task.await;
    if let Some(p) = &flush_publisher {
        p.flush(std::time::Duration::from_secs(30));
    }
    let _ = stop_tx.send(true);
    if let Some(p) = processor {
        match p.await {
            Ok(Ok(summary)) => tracing::info!(?summary, "processor drained"),
            Ok(Err(e)) => anyhow::bail!("processor failed: {e}"),
            Err(e) => anyhow::bail!("processor task failed: {e}"),
        }
    }
    tracing::info!("stopped");
    Ok(())
}

//! `flamestream`: the one binary. Subcommands: `serve`, `validate`, `check`, `migrate`,
//! `replay`. See the README for the data flow.

mod replay;
mod serve;

use anyhow::Context;
use clap::{Parser, Subcommand};
use flamestream_pipeline::PipelineConfig;
use std::path::PathBuf;

/// mimalloc instead of glibc's malloc: decoding allocates and frees buffers of a few hundred
/// KiB per upload, which glibc maps and unmaps each time (page faults cost ~20 % of a heap
/// profile's decode); mimalloc keeps them in its segments (`benches/README.md`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "flamestream",
    version,
    about = "Continuous-profiling ingestion: Pyroscope- and DeepFlow-compatible ingest → queue → decode → aggregate → store → flame graphs"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Args, Clone, Default)]
struct PipelineArgs {
    /// Pipeline file (TOML); the compiled-in `pipelines/embedded.toml` when absent.
    #[arg(long, short = 'p', env = "FLAMESTREAM_PIPELINE")]
    pipeline: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the roles of a pipeline file (default: everything in one process, SQLite, port 4040).
    Serve {
        #[command(flatten)]
        pipeline: PipelineArgs,
        /// Listen address (overrides the file and FLAMESTREAM_LISTEN).
        #[arg(long)]
        listen: Option<String>,
        /// Data directory for the SQLite file (overrides the file and FLAMESTREAM_DATA_DIR).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Aggregation window in seconds (overrides the file and FLAMESTREAM_WINDOW_SECS).
        #[arg(long)]
        window_secs: Option<u64>,
    },
    /// Check pipeline files and print every error; no IO beyond reading them.
    Validate {
        /// Files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Check connectivity to the transport and the store of a pipeline file.
    Check {
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// Create or upgrade the store's schema.
    Migrate {
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// Re-read a range of the raw Kafka topic into the store, without double counting.
    Replay {
        #[command(flatten)]
        pipeline: PipelineArgs,
        /// Start: `earliest`, an RFC 3339 time, or `PARTITION:OFFSET[,PARTITION:OFFSET…]`.
        #[arg(long, default_value = "earliest")]
        from: String,
        /// End (exclusive): `latest`, an RFC 3339 time, or `PARTITION:OFFSET[,…]`.
        #[arg(long, default_value = "latest")]
        to: String,
        /// Count what would be replayed; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Write into this SQLite file instead of the pipeline's store (e.g. a new store).
        #[arg(long)]
        sqlite_path: Option<PathBuf>,
        /// No progress bar (for logs and CI).
        #[arg(long)]
        quiet: bool,
    },
}

fn load(args: &PipelineArgs) -> anyhow::Result<PipelineConfig> {
    let mut config = match &args.pipeline {
        Some(path) => PipelineConfig::load(path)?,
        None => PipelineConfig::embedded(),
    };
    config.apply_env(std::env::vars());
    Ok(config)
}

fn validated(config: PipelineConfig, origin: &str) -> anyhow::Result<PipelineConfig> {
    let errors = config.validate();
    if errors.is_empty() {
        Ok(config)
    } else {
        anyhow::bail!(
            "pipeline `{origin}` has {} error(s):\n  - {}",
            errors.len(),
            errors.join("\n  - ")
        )
    }
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve {
        pipeline: PipelineArgs::default(),
        listen: None,
        data_dir: None,
        window_secs: None,
    }) {
        Command::Serve {
            pipeline,
            listen,
            data_dir,
            window_secs,
        } => {
            let origin = pipeline
                .pipeline
                .as_ref()
                .map_or("pipelines/embedded.toml (built in)".to_string(), |p| {
                    p.display().to_string()
                });
            let mut config = load(&pipeline)?;
            if let Some(l) = listen {
                config.server.listen = l;
            }
            if let Some(d) = data_dir {
                config.server.data_dir = d;
            }
            if let Some(w) = window_secs {
                config.process.window_secs = w;
                config.process.flush_interval_secs = w;
            }
            let config = validated(config, &origin)?;
            actix_rt::System::new().block_on(serve::serve(config))
        }
        Command::Validate { files } => {
            let mut failed = 0;
            for file in &files {
                let result = PipelineConfig::load(file)
                    .map_err(anyhow::Error::from)
                    .and_then(|c| validated(c, &file.display().to_string()));
                match result {
                    Ok(_) => println!("ok: {}", file.display()),
                    Err(e) => {
                        failed += 1;
                        eprintln!("error: {e:#}");
                    }
                }
            }
            if failed > 0 {
                anyhow::bail!("{failed} of {} pipeline file(s) invalid", files.len());
            }
            Ok(())
        }
        Command::Check { pipeline } => {
            let config = validated(load(&pipeline)?, "pipeline")?;
            // The Kafka client needs a runtime even for metadata look-ups.
            actix_rt::System::new().block_on(async { serve::check(&config) })
        }
        Command::Replay {
            pipeline,
            from,
            to,
            dry_run,
            sqlite_path,
            quiet,
        } => {
            let mut config = validated(load(&pipeline)?, "pipeline")?;
            if let Some(p) = sqlite_path {
                config.store.kind = flamestream_pipeline::config::StoreKind::Sqlite;
                config.store.sqlite_path = p;
            }
            let from = replay::parse_bound(&from, true)?;
            let to = replay::parse_bound(&to, false)?;
            actix_rt::System::new().block_on(replay::replay(config, from, to, dry_run, quiet))
        }
        Command::Migrate { pipeline } => {
            let config = validated(load(&pipeline)?, "pipeline")?;
            match config.store.kind {
                flamestream_pipeline::config::StoreKind::Sqlite => {
                    let path = config.sqlite_path();
                    flamestream_store::sqlite::SqliteStore::open(&path)
                        .with_context(|| format!("cannot open `{}`", path.display()))?;
                    println!("sqlite schema is current at {}", path.display());
                }
                flamestream_pipeline::config::StoreKind::Clickhouse => {
                    let store = serve::clickhouse(&config)?;
                    let url = &config.store.clickhouse.url;
                    let version = store
                        .ping()
                        .with_context(|| format!("clickhouse at `{url}` does not answer"))?;
                    let applied = store
                        .migrate()
                        .with_context(|| format!("migrating clickhouse at `{url}`"))?;
                    println!(
                        "clickhouse {version} at {url}: schema of `{}` is current ({} statement(s) run, all idempotent)",
                        config.store.clickhouse.database,
                        applied.len()
                    );
                }
            }
            Ok(())
        }
    }
}

//! What every handler shares.

use flamestream_bus::Publisher;
use flamestream_pipeline::PipelineConfig;
use flamestream_store::Reader;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Shared state of the HTTP server.
pub struct AppState {
    /// The pipeline file in force.
    pub config: PipelineConfig,
    /// The transport, when this process runs the ingest role.
    pub publisher: Option<Publisher>,
    /// The store, when this process runs the query role.
    pub reader: Option<Arc<dyn Reader>>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// False while starting or draining (`/ready` answers 503).
    pub ready: Arc<AtomicBool>,
}

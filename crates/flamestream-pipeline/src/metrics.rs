//! The one catalogue of flamestream's metrics: every name and label set is here.
//!
//! Names follow `flamestream_<stage>_<what>_<unit>[_total]`; labels come from fixed sets
//! (format, status, reason, transport, store, partition) — never app names or label values.

/// Uploads answered, by `format` and HTTP `status`.
pub const INGEST_REQUESTS: &str = "flamestream_ingest_requests_total";
/// Body bytes received, by `format`.
pub const INGEST_RECEIVED_BYTES: &str = "flamestream_ingest_received_bytes_total";
/// Uploads refused, by `reason` (a limit name or an error kind).
pub const INGEST_REJECTED: &str = "flamestream_ingest_rejected_total";
/// Time to answer an upload, by `format`.
pub const INGEST_REQUEST_DURATION: &str = "flamestream_ingest_request_duration_seconds";
/// Time for the transport to hold an upload, by `transport`.
pub const BUS_PUBLISH_DURATION: &str = "flamestream_bus_publish_duration_seconds";
/// Publishes that failed, by `transport` and `reason`.
pub const BUS_PUBLISH_FAILURES: &str = "flamestream_bus_publish_failures_total";
/// Uploads decoded, by `format`.
pub const DECODE_UPLOADS: &str = "flamestream_decode_uploads_total";
/// Uploads that failed to decode, by `format` and `reason`.
pub const DECODE_ERRORS: &str = "flamestream_decode_errors_total";
/// Time to decode one upload, by `format`.
pub const DECODE_DURATION: &str = "flamestream_decode_duration_seconds";
/// Folded lines skipped because they had no valid count.
pub const DECODE_SKIPPED_LINES: &str = "flamestream_decode_skipped_lines_total";
/// Deliveries skipped because the store already holds them (replays, restarts).
pub const DECODE_ALREADY_STORED: &str = "flamestream_decode_already_stored_total";
/// Deliveries skipped because the pipeline already held them (read again after a seek back).
pub const DECODE_REDELIVERED: &str = "flamestream_decode_redelivered_total";
/// Samples (stack, value pairs) merged into windows.
pub const AGGREGATE_SAMPLES: &str = "flamestream_aggregate_samples_total";
/// Series-windows held in memory.
pub const AGGREGATE_OPEN_SERIES: &str = "flamestream_aggregate_open_series";
/// Series-windows flushed to the store.
pub const AGGREGATE_WINDOWS_FLUSHED: &str = "flamestream_aggregate_windows_flushed_total";
/// Time to persist one flush, by `store`.
pub const STORE_WRITE_DURATION: &str = "flamestream_store_write_duration_seconds";
/// Rows persisted, by `store`.
pub const STORE_ROWS_WRITTEN: &str = "flamestream_store_rows_written_total";
/// Failed write attempts, by `store`.
pub const STORE_WRITE_ERRORS: &str = "flamestream_store_write_errors_total";

/// Registers descriptions so `/metrics` explains each name.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        INGEST_REQUESTS,
        "Uploads answered, by format and HTTP status."
    );
    describe_counter!(
        INGEST_RECEIVED_BYTES,
        Unit::Bytes,
        "Body bytes received, by format."
    );
    describe_counter!(
        INGEST_REJECTED,
        "Uploads refused, by reason (limit name or error kind)."
    );
    describe_histogram!(
        INGEST_REQUEST_DURATION,
        Unit::Seconds,
        "Time to answer an upload."
    );
    describe_histogram!(
        BUS_PUBLISH_DURATION,
        Unit::Seconds,
        "Time for the transport to hold an upload."
    );
    describe_counter!(
        BUS_PUBLISH_FAILURES,
        "Publishes that failed, by transport and reason."
    );
    describe_gauge!(
        "flamestream_bus_queue_depth",
        "Uploads waiting in the transport's queue."
    );
    describe_counter!(DECODE_UPLOADS, "Uploads decoded, by format.");
    describe_counter!(
        DECODE_ERRORS,
        "Uploads that failed to decode, by format and reason."
    );
    describe_histogram!(DECODE_DURATION, Unit::Seconds, "Time to decode one upload.");
    describe_counter!(
        DECODE_SKIPPED_LINES,
        "Folded lines skipped for lack of a valid count."
    );
    describe_counter!(
        DECODE_ALREADY_STORED,
        "Deliveries skipped because the store already holds them."
    );
    describe_counter!(
        DECODE_REDELIVERED,
        "Deliveries skipped because the pipeline already held them (read again after the consumer was moved back)."
    );
    describe_counter!(AGGREGATE_SAMPLES, "Samples merged into windows.");
    describe_gauge!(AGGREGATE_OPEN_SERIES, "Series-windows held in memory.");
    describe_counter!(
        AGGREGATE_WINDOWS_FLUSHED,
        "Series-windows flushed to the store."
    );
    describe_histogram!(
        STORE_WRITE_DURATION,
        Unit::Seconds,
        "Time to persist one flush."
    );
    describe_counter!(STORE_ROWS_WRITTEN, "Rows persisted, by store.");
    describe_counter!(STORE_WRITE_ERRORS, "Failed write attempts, by store.");
}

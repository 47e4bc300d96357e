//! Decodes deliveries on a `SyncArbiter`, off the HTTP workers' event loop.

use crate::decode::{decode_envelope, DecodeFailure, DecodedUpload};
use crate::metrics as m;
use actix::{Actor, Handler, Message, SyncContext};
use flamestream_bus::{Delivery, RawUpload};
use flamestream_model::Limits;
use std::time::Instant;

/// A delivery to decode.
pub struct DecodeDelivery(pub Delivery);

/// A decoded delivery and its source position.
pub struct Decoded {
    /// The decoded upload.
    pub upload: DecodedUpload,
    /// `(partition, offset)` it came from.
    pub position: (i32, i64),
}

impl Message for DecodeDelivery {
    type Result = Result<Decoded, ((i32, i64), DecodeFailure)>;
}

/// The decoder actor.
pub struct DecodeActor {
    limits: Limits,
}

impl DecodeActor {
    /// A decoder enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        DecodeActor { limits }
    }
}

impl Actor for DecodeActor {
    type Context = SyncContext<Self>;
}

impl Handler<DecodeDelivery> for DecodeActor {
    type Result = Result<Decoded, ((i32, i64), DecodeFailure)>;

    fn handle(&mut self, msg: DecodeDelivery, _: &mut SyncContext<Self>) -> Self::Result {
        let d = msg.0;
        let position = (d.partition, d.offset);
        let started = Instant::now();
        let envelope = RawUpload::decode_bytes(&d.payload)
            .map_err(|e| (position, DecodeFailure::Envelope(e.to_string())))?;
        match decode_envelope(&envelope, &self.limits) {
            Ok(upload) => {
                metrics::counter!(m::DECODE_UPLOADS, "format" => upload.format).increment(1);
                metrics::histogram!(m::DECODE_DURATION, "format" => upload.format)
                    .record(started.elapsed().as_secs_f64());
                Ok(Decoded { upload, position })
            }
            Err(e) => {
                let (format, reason) = e.labels();
                metrics::counter!(m::DECODE_ERRORS, "format" => format, "reason" => reason)
                    .increment(1);
                tracing::warn!(upload_id = %envelope.id, tenant = %envelope.tenant, error = %e, "upload not decoded");
                Err((position, e))
            }
        }
    }
}

//! The protobuf envelope every raw upload travels in, on Kafka and in the in-process queue alike.

use bytes::Bytes;
use std::collections::BTreeMap;

/// Current envelope version, also sent as a Kafka header.
pub const ENVELOPE_VERSION: u32 = 1;

/// Which endpoint received the upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Endpoint {
    /// `/ingest` and its aliases.
    Ingest = 0,
    /// Connect `/push.v1.PusherService/Push`.
    Push = 1,
}

/// A raw upload as received, plus what the decoders need to know about the request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RawUpload {
    /// [`ENVELOPE_VERSION`].
    #[prost(uint32, tag = "1")]
    pub version: u32,
    /// Unique id of the upload (UUID v4).
    #[prost(string, tag = "2")]
    pub id: String,
    /// Tenant from `X-Scope-OrgID`.
    #[prost(string, tag = "3")]
    pub tenant: String,
    /// When the edge received it, ns since the epoch.
    #[prost(int64, tag = "4")]
    pub received_at_ns: i64,
    /// Which endpoint received it.
    #[prost(enumeration = "Endpoint", tag = "5")]
    pub endpoint: i32,
    /// Query parameters as received (`name`, `from`, `until`, `format`, `sampleRate` …).
    #[prost(btree_map = "string, string", tag = "6")]
    pub params: BTreeMap<String, String>,
    /// `Content-Type` as received.
    #[prost(string, tag = "7")]
    pub content_type: String,
    /// `Content-Encoding` as received.
    #[prost(string, tag = "8")]
    pub content_encoding: String,
    /// The body, exactly as received.
    #[prost(bytes = "bytes", tag = "9")]
    pub body: Bytes,
    /// Labels the edge adds to every series (e.g. `cluster`).
    #[prost(btree_map = "string, string", tag = "10")]
    pub extra_labels: BTreeMap<String, String>,
    /// Start of the profiled range, ns since the epoch (resolved at the edge).
    #[prost(int64, tag = "11")]
    pub from_ns: i64,
    /// End of the profiled range, ns since the epoch.
    #[prost(int64, tag = "12")]
    pub until_ns: i64,
}

impl RawUpload {
    /// Encodes the envelope.
    pub fn encode_to_bytes(&self) -> Bytes {
        Bytes::from(prost::Message::encode_to_vec(self))
    }

    /// Decodes an envelope.
    ///
    /// # Errors
    /// The prost error when the bytes are not an envelope.
    pub fn decode_bytes(bytes: &[u8]) -> Result<RawUpload, prost::DecodeError> {
        prost::Message::decode(bytes)
    }

    /// A query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trips() {
        let mut up = RawUpload {
            version: ENVELOPE_VERSION,
            id: "x".into(),
            tenant: "t".into(),
            body: Bytes::from_static(b"a;b 1"),
            ..Default::default()
        };
        up.params.insert("name".into(), "app".into());
        let back = RawUpload::decode_bytes(&up.encode_to_bytes()).unwrap();
        assert_eq!(back, up);
        assert_eq!(back.param("name"), Some("app"));
    }
}

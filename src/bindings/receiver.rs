//! `NativeReceiver`: the napi face of [`protocol::receiver::Receiver`]. Converts and calls,
//! no protocol decisions: bytes come in as Buffers, events go out as plain `{ kind, … }`
//! objects and protocol errors as `{ code, status, message, rangeError }` records (never
//! thrown), which `lib/receiver.js` turns into ws's error objects.

use bytes::Bytes;
use napi::bindgen_prelude::{BufferSlice, Env, Object, Result};
use napi_derive::napi;

use crate::protocol::error::ProtocolError;
use crate::protocol::receiver::{Event, Receiver, ReceiverConfig};

/// Options of `new NativeReceiver()`, as ws's `Receiver` options. Limits are 0 (or absent)
/// for unlimited.
#[napi(object)]
pub struct NativeReceiverOptions {
    /// Server role: incoming frames must be masked (else they must not be).
    pub is_server: Option<bool>,
    /// Largest message in bytes (ws's `maxPayload`).
    pub max_payload: Option<f64>,
    /// Most frames per message (ws's `maxFragments`).
    pub max_fragments: Option<f64>,
    /// Most chunks buffered at once (ws's `maxBufferedChunks`).
    pub max_buffered_chunks: Option<f64>,
    /// Skip UTF-8 validation of text messages and close reasons.
    pub skip_utf8_validation: Option<bool>,
    /// permessage-deflate was negotiated: RSV1 is allowed on the first frame of a message.
    pub per_message_deflate: Option<bool>,
}

/// A protocol error as data: ws's `err.code`, close status (`err[kStatusCode]`), full
/// message, and whether ws throws a `RangeError` (else a plain `Error`).
#[napi(object)]
pub struct ProtocolErrorRecord {
    /// ws's `err.code`, e.g. `WS_ERR_INVALID_OPCODE`.
    pub code: String,
    /// The close status to send (1002, 1007, 1008 or 1009).
    pub status: u32,
    /// ws's full message, prefix included.
    pub message: String,
    /// True for a `RangeError`, false for an `Error`.
    pub range_error: bool,
}

impl From<ProtocolError> for ProtocolErrorRecord {
    fn from(err: ProtocolError) -> Self {
        Self {
            code: err.code().to_owned(),
            status: u32::from(err.close_status()),
            message: err.message(),
            range_error: err.is_range_error(),
        }
    }
}

/// A JS number option as a limit: absent, negative or NaN is 0 (unlimited), as ws's
/// `options.x | 0` followed by its `x > 0` checks.
fn limit(value: Option<f64>) -> u64 {
    match value {
        Some(v) if v >= 1.0 => v as u64,
        _ => 0,
    }
}

/// The incremental WebSocket frame parser of one connection (ws's `Receiver` without the
/// stream and the events): push chunks, then call `next()` until it returns null.
#[napi]
pub struct NativeReceiver {
    inner: Receiver,
}

#[napi]
impl NativeReceiver {
    /// A receiver at the start of a connection.
    #[napi(constructor)]
    pub fn new(options: Option<NativeReceiverOptions>) -> Self {
        let config = match options {
            Some(o) => ReceiverConfig {
                is_server: o.is_server.unwrap_or(false),
                max_payload: limit(o.max_payload),
                max_fragments: limit(o.max_fragments),
                max_buffered_chunks: usize::try_from(limit(o.max_buffered_chunks))
                    .unwrap_or(usize::MAX),
                skip_utf8_validation: o.skip_utf8_validation.unwrap_or(false),
                per_message_deflate: o.per_message_deflate.unwrap_or(false),
            },
            None => ReceiverConfig::default(),
        };
        Self { inner: Receiver::new(config) }
    }

    /// Buffers a copy of `chunk`. Returns the `WS_ERR_TOO_MANY_BUFFERED_PARTS` record when
    /// `maxBufferedChunks` chunks are already buffered, else null. Input after a close frame
    /// or an error is dropped.
    #[napi]
    pub fn push(&mut self, chunk: BufferSlice) -> Option<ProtocolErrorRecord> {
        self.inner.push(&chunk).err().map(ProtocolErrorRecord::from)
    }

    /// Parses as far as possible and returns the next event, or null when more bytes (or an
    /// inflate result) are needed. After an `error` event the receiver is dead.
    #[napi(
        js_name = "next",
        ts_return_type = "{ kind: 'message', binary: boolean, data: Buffer[] } | { kind: 'ping', data: Buffer } | { kind: 'pong', data: Buffer } | { kind: 'close', code: number, reason: Buffer } | { kind: 'inflate', data: Buffer, fin: boolean } | { kind: 'error', error: ProtocolErrorRecord } | null"
    )]
    pub fn next_event<'env>(&mut self, env: &'env Env) -> Result<Option<Object<'env>>> {
        let Some(outcome) = self.inner.next() else { return Ok(None) };
        let mut object = Object::new(env)?;
        match outcome {
            Ok(Event::Message { binary, data }) => {
                object.set("kind", "message")?;
                object.set("binary", binary)?;
                let mut array = env.create_array(u32::try_from(data.len()).unwrap_or(u32::MAX))?;
                for (i, fragment) in data.iter().enumerate() {
                    array.set(i as u32, &BufferSlice::copy_from(env, fragment)?)?;
                }
                object.set("data", array)?;
            }
            Ok(Event::Ping(data)) => {
                object.set("kind", "ping")?;
                object.set("data", &BufferSlice::copy_from(env, &data)?)?;
            }
            Ok(Event::Pong(data)) => {
                object.set("kind", "pong")?;
                object.set("data", &BufferSlice::copy_from(env, &data)?)?;
            }
            Ok(Event::Close { code, reason }) => {
                object.set("kind", "close")?;
                object.set("code", u32::from(code))?;
                object.set("reason", &BufferSlice::copy_from(env, &reason)?)?;
            }
            Ok(Event::Inflate { data, fin }) => {
                object.set("kind", "inflate")?;
                object.set("data", &BufferSlice::copy_from(env, &data)?)?;
                object.set("fin", fin)?;
            }
            Err(err) => {
                object.set("kind", "error")?;
                object.set("error", ProtocolErrorRecord::from(err))?;
            }
        }
        Ok(Some(object))
    }

    /// The inflated bytes of the pending `inflate` event (then call `next()` again). `fin`
    /// repeats the event's flag. Ignored when no inflate is pending.
    #[napi]
    pub fn push_inflated(&mut self, data: BufferSlice, fin: bool) {
        self.inner.push_inflated(Bytes::copy_from_slice(&data), fin);
    }

    /// ws's `_totalPayloadLength`: payload bytes of the current message's frames so far,
    /// reset when its final frame completes.
    #[napi(getter)]
    pub fn total_payload_length(&self) -> f64 {
        self.inner.total_payload_length() as f64
    }

    /// ws's receiver state: 0 GET_INFO, 1 GET_PAYLOAD_LENGTH_16, 2 GET_PAYLOAD_LENGTH_64,
    /// 3 GET_MASK, 4 GET_DATA, 5 INFLATING.
    #[napi(getter)]
    pub fn state(&self) -> u32 {
        u32::from(self.inner.state())
    }
}

//! `NativeReceiver`: the napi face of [`protocol::receiver::Receiver`]. Converts and calls,
//! no protocol decisions: bytes come in as Buffers; events go out in batches, as number
//! records in a caller-owned `Float64Array` plus one Buffer holding all their payloads
//! (`drain()`: one napi call and one allocation per batch instead of one object, array and
//! Buffer per event, which cost ~1.6 µs an event); protocol errors go out as
//! `{ code, status, message, rangeError }` records (never thrown), which `lib/receiver.js`
//! turns into ws's error objects.

use bytes::Bytes;
use napi::bindgen_prelude::{BufferSlice, Env, Error, Float64ArraySlice, Result, Status};
use napi_derive::napi;

use crate::protocol::error::ProtocolError;
use crate::protocol::receiver::{Event, Receiver, ReceiverConfig};

use super::frame::alloc_buffer;

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

/// Slots per `drain()` record: kind, argument, offset, length.
const STRIDE: usize = 4;

// `drain()` record kinds.
const KIND_END: f64 = 0.0;
const KIND_MESSAGE: f64 = 1.0;
const KIND_PING: f64 = 2.0;
const KIND_PONG: f64 = 3.0;
const KIND_CLOSE: f64 = 4.0;
const KIND_INFLATE: f64 = 5.0;
const KIND_ERROR: f64 = 6.0;
const KIND_FRAGMENT: f64 = 7.0;
const KIND_GROW: f64 = 8.0;

/// The most payload bytes a `drain()` batch holds, unless one event alone is larger (it
/// then comes alone). A payload handed to JS is a view that keeps its whole batch alive:
/// this bounds what a small kept message pins to about what ws's views pin (the socket
/// chunk they came in, 64 KiB for a Node socket read).
const MAX_BATCH_BYTES: usize = 64 * 1024;

/// Writes record number `slot` of `drain()`.
fn write_record(out: &mut [f64], slot: usize, record: [f64; STRIDE]) {
    out[slot * STRIDE..(slot + 1) * STRIDE].copy_from_slice(&record);
}

/// An outcome of the parser and `totalPayloadLength` when it came out.
type Polled = (std::result::Result<Event, ProtocolError>, u64);

/// The incremental WebSocket frame parser of one connection (ws's `Receiver` without the
/// stream and the events): push chunks, then call `drain()` until it returns null.
#[napi]
pub struct NativeReceiver {
    inner: Receiver,
    /// An outcome `drain()` had no room for, returned first by the next `drain()`.
    held: Option<Polled>,
    /// The error of the last `drain()` `error` record.
    error: Option<ProtocolError>,
}

impl NativeReceiver {
    /// The next outcome, a held one first.
    fn poll(&mut self) -> Option<Polled> {
        self.held.take().or_else(|| {
            let outcome = self.inner.next()?;
            Some((outcome, self.inner.total_payload_length()))
        })
    }
}

#[napi]
impl NativeReceiver {
    /// A receiver at the start of a connection.
    #[napi(catch_unwind, constructor)]
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
        Self { inner: Receiver::new(config), held: None, error: None }
    }

    /// Buffers a copy of `chunk`. Returns the `WS_ERR_TOO_MANY_BUFFERED_PARTS` record when
    /// `maxBufferedChunks` chunks are already buffered, else null. Input after a close frame
    /// or an error is dropped.
    #[napi(catch_unwind)]
    pub fn push(&mut self, chunk: BufferSlice) -> Option<ProtocolErrorRecord> {
        self.inner.push(&chunk).err().map(ProtocolErrorRecord::from)
    }

    /// Parses as far as possible and hands out every event ready, in one call: writes
    /// 4-number records into `out` and returns a new Buffer holding their payloads (never
    /// reused: JS may keep views into it), or null (and `out[0] = 0`) when no event is ready.
    /// A record is `[kind, arg, offset, length]`, payload `buf[offset, offset+length)`;
    /// kind 0 ends the list:
    /// - `1` message: `arg` 1 binary, 0 text; the range covers the whole message. When it has
    ///   more than one fragment one `7` record per fragment follows.
    /// - `2` ping / `3` pong: `arg` is `totalPayloadLength` when the frame was parsed.
    /// - `4` close: `arg` is the code, the range the reason.
    /// - `5` inflate: `arg` 1 when final; the range is the compressed fragment. The list
    ///   stops; call `pushInflated()`, then `drain()` again.
    /// - `6` error: the list stops; `takeError()` returns the record. The receiver is dead.
    ///
    /// A batch holds at most 64 KiB of payloads, or one larger event alone.
    /// `out.length` must be at least 8; events that do not fit wait for the next call. When
    /// the first event alone does not fit (a message of many fragments), `drain()` returns
    /// null with `out[0] = 8` and `out[1]` the length `out` needs; the event waits.
    #[napi(catch_unwind)]
    pub fn drain<'env>(
        &mut self,
        env: &'env Env,
        mut out: Float64ArraySlice,
    ) -> Result<Option<BufferSlice<'env>>> {
        // SAFETY: the typed array outlives this synchronous call and no JS runs meanwhile.
        let out = unsafe { out.as_mut() };
        let slots = out.len() / STRIDE;
        if slots < 2 {
            return Err(Error::new(Status::InvalidArg, "drain() needs room for 2 records"));
        }
        let mut events: Vec<(Polled, bool)> = Vec::new();
        let mut used = 0;
        let mut total = 0usize;
        while used + 1 < slots && total < MAX_BATCH_BYTES {
            let Some(polled) = self.poll() else { break };
            let fragments = match &polled.0 {
                Ok(Event::Message { data, .. }) if data.len() > 1 => data.len(),
                _ => 0,
            };
            let with_fragments = fragments > 0;
            let need = 1 + fragments;
            let size = match &polled.0 {
                Ok(Event::Message { data, .. }) => data.iter().map(Bytes::len).sum(),
                Ok(Event::Ping(d) | Event::Pong(d)) => d.len(),
                Ok(Event::Close { reason, .. }) => reason.len(),
                Ok(Event::Inflate { data, .. }) => data.len(),
                Err(_) => 0,
            };
            let no_room = used + need + 1 > slots;
            if no_room || (used > 0 && total + size > MAX_BATCH_BYTES) {
                self.held = Some(polled);
                if used == 0 {
                    // The caller grows `out` and calls again (`need` plus the end record).
                    out[0] = KIND_GROW;
                    out[1] = ((need + 1) * STRIDE) as f64;
                    return Ok(None);
                }
                break;
            }
            total += size;
            used += need;
            let last = matches!(polled.0, Ok(Event::Inflate { .. }) | Err(_));
            events.push((polled, with_fragments));
            if last {
                break;
            }
        }
        if events.is_empty() {
            out[0] = KIND_END;
            return Ok(None);
        }

        // One new Buffer per call, copied into: JS keeps views into it, so it is never
        // reused. (Handing a lone large message out as an external Buffer over the Rust
        // allocation was measured slower, for 64 KiB and 200 KB messages: V8's
        // external-memory accounting and the finalizers cost more than the copy saves.)
        let mut buf = alloc_buffer(env, total)?;
        let mut offset = 0usize;
        let mut slot = 0usize;
        for ((outcome, total_payload), with_fragments) in events {
            // Borrowed, not collected: no allocation per event.
            let (kind, arg, pieces): (f64, f64, &[Bytes]) = match &outcome {
                Ok(Event::Message { binary, data }) => {
                    (KIND_MESSAGE, f64::from(u8::from(*binary)), data)
                }
                Ok(Event::Ping(d)) => (KIND_PING, total_payload as f64, std::slice::from_ref(d)),
                Ok(Event::Pong(d)) => (KIND_PONG, total_payload as f64, std::slice::from_ref(d)),
                Ok(Event::Close { code, reason }) => {
                    (KIND_CLOSE, f64::from(*code), std::slice::from_ref(reason))
                }
                Ok(Event::Inflate { data, fin }) => {
                    (KIND_INFLATE, f64::from(u8::from(*fin)), std::slice::from_ref(data))
                }
                Err(_) => (KIND_ERROR, 0.0, &[]),
            };
            let start = offset;
            let first_fragment = slot + 1;
            slot += if with_fragments { 1 + pieces.len() } else { 1 };
            for (i, piece) in pieces.iter().enumerate() {
                buf[offset..offset + piece.len()].copy_from_slice(piece);
                if with_fragments {
                    write_record(
                        out,
                        first_fragment + i,
                        [KIND_FRAGMENT, 0.0, offset as f64, piece.len() as f64],
                    );
                }
                offset += piece.len();
            }
            write_record(
                out,
                first_fragment - 1,
                [kind, arg, start as f64, (offset - start) as f64],
            );
            if let Err(err) = outcome {
                self.error = Some(err);
            }
        }
        out[slot * STRIDE] = KIND_END;
        Ok(Some(buf))
    }

    /// The error of the last `error` record of `drain()`, once; else null.
    #[napi(catch_unwind)]
    pub fn take_error(&mut self) -> Option<ProtocolErrorRecord> {
        self.error.take().map(ProtocolErrorRecord::from)
    }

    /// The inflated bytes of the pending `inflate` event (then call `drain()` again). `fin`
    /// repeats the event's flag. Ignored when no inflate is pending.
    #[napi(catch_unwind)]
    pub fn push_inflated(&mut self, data: BufferSlice, fin: bool) {
        self.inner.push_inflated(Bytes::copy_from_slice(&data), fin);
    }

    /// ws's `_totalPayloadLength`: payload bytes of the current message's frames so far,
    /// reset when its final frame completes.
    #[napi(catch_unwind, getter)]
    pub fn total_payload_length(&self) -> f64 {
        self.inner.total_payload_length() as f64
    }

    /// ws's receiver state: 0 GET_INFO, 1 GET_PAYLOAD_LENGTH_16, 2 GET_PAYLOAD_LENGTH_64,
    /// 3 GET_MASK, 4 GET_DATA, 5 INFLATING.
    #[napi(catch_unwind, getter)]
    pub fn state(&self) -> u32 {
        u32::from(self.inner.state())
    }
}

//! permessage-deflate (RFC 7692): the per-connection compressor and decompressor, and the
//! negotiation of the extension's parameters. Sans-IO: no sockets, no napi. zlib is the
//! pure-Rust zlib-rs (the only pure-Rust implementation that honours window bits): the
//! compressor uses its own API, the only one that sets `memLevel` and `strategy`; the
//! decompressor goes through flate2 on the same zlib-rs backend (inflate has neither knob, and
//! flate2's `Decompress` already gives the uninitialised-output call the bomb guard relies on).
//!
//! The mechanics mirror ws's `lib/permessage-deflate.js`: every fragment is compressed with
//! `Z_SYNC_FLUSH`, the `00 00 ff ff` tail of the empty stored block that the flush produces is
//! removed from the last fragment of a message (RFC 7692 §7.2.1) and appended again before the
//! last fragment is inflated (§7.2.2); with `*_no_context_takeover` the LZ77 window is dropped
//! after each message (§7.1.1).

use std::fmt;
use std::ops::RangeInclusive;

use flate2::{Decompress, FlushDecompress, Status};
use zlib_rs::{Deflate, DeflateFlush, Method, Strategy};

use super::error::ProtocolError;

/// The tail that `Z_SYNC_FLUSH` appends (an empty stored block), RFC 7692 §7.2.1.
pub const TRAILER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// zlib's `Z_DEFAULT_COMPRESSION` (level 6), as Node's default.
pub const DEFAULT_LEVEL: i32 = -1;

/// zlib's default `memLevel`.
pub const DEFAULT_MEM_LEVEL: u8 = 8;

/// zlib's `Z_DEFAULT_STRATEGY`.
pub const DEFAULT_STRATEGY: i32 = 0;

/// The largest window (32 KiB), zlib's and RFC 7692's default.
pub const MAX_WINDOW_BITS: u8 = 15;

/// The smallest window RFC 7692 §7.1.2 allows to negotiate (256 bytes).
pub const MIN_WINDOW_BITS: u8 = 8;

/// The smallest window zlib (and zlib-rs) can use for a raw deflate stream.
const MIN_RAW_WINDOW_BITS: u8 = 9;

/// The levels Node's zlib accepts (`Z_MIN_LEVEL` to `Z_MAX_LEVEL`).
pub const LEVEL_RANGE: RangeInclusive<i32> = -1..=9;

/// The `memLevel`s Node's zlib accepts (`Z_MIN_MEMLEVEL` to `Z_MAX_MEMLEVEL`).
pub const MEM_LEVEL_RANGE: RangeInclusive<i32> = 1..=9;

/// The strategies Node's zlib accepts (`Z_DEFAULT_STRATEGY` to `Z_FIXED`).
pub const STRATEGY_RANGE: RangeInclusive<i32> = 0..=4;

/// The window bits Node's zlib accepts (`Z_MIN_WINDOWBITS` to `Z_MAX_WINDOWBITS`).
pub const WINDOW_BITS_RANGE: RangeInclusive<i32> = 8..=15;

/// Output grows by at least this much at a time while inflating.
const MIN_INFLATE_CHUNK: usize = 1024;

/// ... and by at most this much, so a bomb never makes us reserve far beyond the limit.
const MAX_INFLATE_CHUNK: usize = 4 * 1024 * 1024;

/// Options of a [`Deflater`] (Node's `zlibDeflateOptions` plus the negotiated parameters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateConfig {
    /// The base-2 logarithm of the window the peer accepts (`*_max_window_bits`), 8 to 15.
    pub window_bits: u8,
    /// The compression level, 0 to 9, or -1 for zlib's default (6).
    pub level: i32,
    /// zlib's `memLevel`, 1 to 9: it trades memory for compression. In zlib-rs it sizes the
    /// literal buffer (`4 << (mem_level + 6)` bytes: 64 KiB at 8, 4 KiB at 4); unlike zlib,
    /// the hash table is a fixed 64 Ki entries (128 KiB) whatever the level.
    pub mem_level: u8,
    /// zlib's `strategy`, 0 (`Z_DEFAULT_STRATEGY`) to 4 (`Z_FIXED`).
    pub strategy: i32,
    /// Drop the window after each message (`*_no_context_takeover` for our direction).
    pub no_context_takeover: bool,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        Self {
            window_bits: MAX_WINDOW_BITS,
            level: DEFAULT_LEVEL,
            mem_level: DEFAULT_MEM_LEVEL,
            strategy: DEFAULT_STRATEGY,
            no_context_takeover: false,
        }
    }
}

/// An error as Node's zlib reports it: `err.code` and the message. A failure of the
/// compressor (`Z_STREAM_ERROR`: zlib only fails on a stream in an inconsistent state, which
/// the parameters checked by [`Deflater::new`] rule out; it surfaces as an error rather than
/// as a corrupt frame), or a zlib option out of its range (`ERR_OUT_OF_RANGE`, thrown as a
/// `RangeError`, Node `lib/zlib.js` `checkRangesOrGetDefault`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZlibError {
    code: &'static str,
    message: String,
}

impl ZlibError {
    /// Node's `err.code`.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The message, e.g. `The value of "options.memLevel" is out of range. It must be >= 1
    /// and <= 9. Received 10`.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ZlibError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ZlibError {}

/// A JS number as Node's `ERR_OUT_OF_RANGE` prints it: integers without a fraction, and
/// integers beyond 2^32 with `_` separators (Node `addNumericalSeparator`).
fn js_number(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if value.fract() != 0.0 || value.abs() >= 1e21 {
        return value.to_string();
    }
    let digits = format!("{}", value.abs() as u128);
    let sign = if value < 0.0 { "-" } else { "" };
    if value.abs() <= 4_294_967_296.0 {
        return format!("{sign}{digits}");
    }
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push('_');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}")
}

/// Checks one numeric zlib option as Node's zlib does: absent or `NaN` is `default`, an
/// infinite or out-of-range value is an [`ZlibError`], and a fraction is dropped (Node
/// reads the value as an `Int32`). `name` is the option's key, e.g. `memLevel`.
pub fn zlib_option(
    name: &str,
    value: Option<f64>,
    range: RangeInclusive<i32>,
    default: i32,
) -> Result<i32, ZlibError> {
    let value = match value {
        Some(v) if !v.is_nan() => v,
        _ => return Ok(default),
    };
    let expected = if value.is_finite() {
        if value >= f64::from(*range.start()) && value <= f64::from(*range.end()) {
            // In range, hence within i32; `as` truncates towards zero as `Int32Value` does.
            return Ok(value as i32);
        }
        format!(">= {} and <= {}", range.start(), range.end())
    } else {
        "a finite number".to_owned()
    };
    Err(ZlibError {
        code: "ERR_OUT_OF_RANGE",
        message: format!(
            "The value of \"options.{name}\" is out of range. It must be {expected}. Received {}",
            js_number(value)
        ),
    })
}

/// The last bytes of one direction's uncompressed stream, at most a window: the dictionary a
/// compressor or decompressor dropped while idle needs to go on with context takeover. A
/// window-sized ring while the stream is in use, the bytes alone once compacted.
#[derive(Clone, Debug)]
struct History {
    /// A ring of `window` bytes while in use; else the bytes in order.
    bytes: Vec<u8>,
    /// Where the next byte goes in the ring.
    at: usize,
    /// Bytes held (at most `window`).
    len: usize,
    /// The ring is allocated.
    ring: bool,
    window: usize,
}

impl History {
    fn new(window: usize) -> Self {
        Self { bytes: Vec::new(), at: 0, len: 0, ring: false, window }
    }

    /// Appends `data`, keeping the last `window` bytes.
    fn push(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        if !self.ring {
            let held = std::mem::take(&mut self.bytes);
            self.bytes = vec![0; self.window];
            self.ring = true;
            self.at = 0;
            self.len = 0;
            self.push(&held);
        }
        let data = &data[data.len().saturating_sub(self.window)..];
        let first = data.len().min(self.window - self.at);
        self.bytes[self.at..self.at + first].copy_from_slice(&data[..first]);
        self.bytes[..data.len() - first].copy_from_slice(&data[first..]);
        self.at = (self.at + data.len()) % self.window;
        self.len = (self.len + data.len()).min(self.window);
    }

    /// Frees the ring, keeping only the bytes held, in order.
    fn compact(&mut self) {
        if !self.ring {
            return;
        }
        let start = (self.at + self.window - self.len) % self.window;
        let mut bytes = Vec::with_capacity(self.len);
        if start + self.len <= self.window {
            bytes.extend_from_slice(&self.bytes[start..start + self.len]);
        } else {
            bytes.extend_from_slice(&self.bytes[start..]);
            bytes.extend_from_slice(&self.bytes[..self.at]);
        }
        *self = Self { bytes, at: 0, len: 0, ring: false, window: self.window };
    }

    /// The bytes held, in order, once compacted (empty while in use).
    fn dictionary(&self) -> &[u8] {
        if self.ring {
            &[]
        } else {
            &self.bytes
        }
    }

    /// Forgets everything (a new stream starts).
    fn clear(&mut self) {
        *self = Self::new(self.window);
    }
}

/// A zlib stream that can be freed between messages, keeping its last window (`History`)
/// as the dictionary of the stream rebuilt for the next message.
struct Codec<S> {
    /// `None` while compacted.
    stream: Option<S>,
    history: History,
    /// Between messages: compaction is allowed.
    idle: bool,
}

impl<S> Codec<S> {
    fn new(stream: S, window: usize) -> Self {
        Self { stream: Some(stream), history: History::new(window), idle: true }
    }

    /// Frees the stream when idle; false when there was nothing to free or a message is
    /// under way.
    fn compact(&mut self) -> bool {
        if !self.idle || self.stream.is_none() {
            return false;
        }
        self.stream = None;
        self.history.compact();
        true
    }
}

/// The compressor of one direction of a connection: a raw zlib-rs deflate stream with every
/// zlib option Node's `zlibDeflateOptions` has (`level`, `memLevel`, `strategy`) applied.
///
/// [`Deflater::compact`] frees the zlib state of an idle compressor (about 320 KiB at the
/// default settings), keeping only the last window of input: the next message starts a new
/// stream with that window as its dictionary, so its back-references reach as far as they
/// would have, and the peer, whose window holds the same bytes, sees one continuous stream.
pub struct Deflater {
    /// Between messages when the last fragment compressed had FIN.
    codec: Codec<Deflate>,
    config: zlib_rs::DeflateConfig,
    no_context_takeover: bool,
}

impl fmt::Debug for Deflater {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deflater").field("no_context_takeover", &self.no_context_takeover).finish()
    }
}

impl Deflater {
    /// Creates a compressor. Out-of-range values are clamped to what zlib accepts (an unknown
    /// strategy is the default one): callers that must refuse them, as Node's zlib does,
    /// check them first with [`zlib_option`].
    pub fn new(config: DeflateConfig) -> Self {
        // zlib >= 1.2.9 and zlib-rs refuse a 256-byte window for a raw stream (madler/zlib#171),
        // so windowBits 8 deflates with 9, as Node does (nodejs/node#16511). That is still
        // valid for a peer that asked for 8: zlib never emits a distance above MAX_DIST =
        // window size - MIN_LOOKAHEAD (262), which is 250 bytes for a 512-byte window (zlib-rs
        // `State::max_dist`, checked by every deflate algorithm), so every back-reference fits
        // the peer's 256-byte window. The test `window_bits_8_output_fits_a_256_byte_window`
        // checks the distances.
        let window_bits = config.window_bits.clamp(MIN_RAW_WINDOW_BITS, MAX_WINDOW_BITS);
        let zlib_config = zlib_rs::DeflateConfig {
            level: config.level.clamp(*LEVEL_RANGE.start(), *LEVEL_RANGE.end()),
            method: Method::Deflated,
            // Negative window bits select a raw stream (no zlib header), zlib's convention.
            window_bits: -i32::from(window_bits),
            mem_level: i32::from(config.mem_level)
                .clamp(*MEM_LEVEL_RANGE.start(), *MEM_LEVEL_RANGE.end()),
            strategy: Strategy::try_from(config.strategy).unwrap_or_default(),
        };
        // Every field is in the range zlib-rs checks, so its initialisation (which asserts
        // success) cannot fail but on an allocation failure, which aborts anyway.
        Self {
            codec: Codec::new(Deflate::new_with_config(zlib_config), 1 << window_bits),
            config: zlib_config,
            no_context_takeover: config.no_context_takeover,
        }
    }

    /// Whether the zlib state is allocated (not compacted).
    pub fn is_allocated(&self) -> bool {
        self.codec.stream.is_some()
    }

    /// Frees the zlib state between messages (see [`Deflater`]); false when there was
    /// nothing to free or a message is under way.
    pub fn compact(&mut self) -> bool {
        self.codec.compact()
    }

    /// Compresses one fragment of a message with `Z_SYNC_FLUSH`. With `fin` (the last
    /// fragment) the `00 00 ff ff` tail is removed (RFC 7692 §7.2.1) and, without context
    /// takeover, the window is dropped afterwards.
    pub fn compress(&mut self, data: &[u8], fin: bool) -> Result<Vec<u8>, ZlibError> {
        let (config, history) = (self.config, &self.codec.history);
        let stream = self.codec.stream.get_or_insert_with(|| {
            let mut stream = Deflate::new_with_config(config);
            if !history.dictionary().is_empty() {
                // The window of the compacted stream: cannot fail on a fresh raw stream.
                let _ = stream.set_dictionary(history.dictionary());
            }
            stream
        });
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        let mut consumed = 0usize;

        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(1024));
            }
            let start = out.len();
            let spare = out.spare_capacity_mut();
            let room = spare.len();
            let input = data.get(consumed..).unwrap_or_default();
            let (before_in, before_out) = (stream.total_in(), stream.total_out());
            // Uninitialised output, as flate2's `compress_vec` does: zeroing it first is
            // wasted work.
            let result = stream.compress_uninit(input, spare, DeflateFlush::SyncFlush);
            let read = (stream.total_in() - before_in) as usize;
            let written = ((stream.total_out() - before_out) as usize).min(room);
            // SAFETY: zlib initialised the first `written` bytes of the spare capacity (its
            // `total_out` counts exactly the bytes it wrote, at most `room`), so the first
            // `start + written` bytes are initialised and within the capacity.
            unsafe { out.set_len(start + written) };
            // `BufError` (no progress possible, e.g. a second flush without input) is not a
            // failure: the progress check below ends the loop.
            if let Err(err) = result {
                let message = stream.error_message().unwrap_or(err.as_str()).to_owned();
                self.reset();
                return Err(ZlibError { code: "Z_STREAM_ERROR", message });
            }
            consumed += read;
            // zlib's contract: a flush is complete when deflate returns with output space
            // left. The progress check guards against a stream that can make none.
            if (consumed >= data.len() && written < room) || (read == 0 && written == 0) {
                break;
            }
        }

        if fin {
            if out.ends_with(&TRAILER) {
                out.truncate(out.len() - TRAILER.len());
            }
            // A second sync flush without new input produces nothing (zlib answers Z_BUF_ERROR).
            // An empty final fragment would make the receiver's appended tail the start of a
            // stored block, so send one empty stored block without its tail instead:
            // `00` (RFC 7692 §7.2.3.6).
            if out.is_empty() {
                out.push(0x00);
            }
        }
        if self.no_context_takeover {
            if fin {
                stream.reset();
            }
        } else {
            self.codec.history.push(data);
        }
        self.codec.idle = fin;
        Ok(out)
    }

    /// Drops the window and any pending state: the next fragment starts a fresh stream.
    pub fn reset(&mut self) {
        if let Some(stream) = self.codec.stream.as_mut() {
            stream.reset();
        }
        self.codec.history.clear();
        self.codec.idle = true;
    }
}

/// Options of an [`Inflater`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InflateConfig {
    /// The base-2 logarithm of the peer's window (`*_max_window_bits`), 8 to 15.
    pub window_bits: u8,
    /// Drop the window after each message (`*_no_context_takeover` for the peer's direction).
    pub no_context_takeover: bool,
    /// The largest inflated message in bytes, 0 for unlimited (ws's `maxPayload`).
    pub max_payload: u64,
}

impl Default for InflateConfig {
    fn default() -> Self {
        Self { window_bits: MAX_WINDOW_BITS, no_context_takeover: false, max_payload: 0 }
    }
}

/// A failure of the decompressor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InflateError {
    /// The inflated message is larger than `max_payload` (ws's 1009 error).
    MaxPayloadExceeded,
    /// The input is not a valid deflate stream; zlib's message, as Node's zlib reports it
    /// (e.g. `invalid stored block lengths`).
    Data(String),
}

impl InflateError {
    /// ws's `err.code` or Node zlib's: `WS_ERR_UNSUPPORTED_MESSAGE_LENGTH` or `Z_DATA_ERROR`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MaxPayloadExceeded => ProtocolError::MaxPayloadExceeded.code(),
            Self::Data(_) => "Z_DATA_ERROR",
        }
    }

    /// Node zlib's `err.errno` (`Z_DATA_ERROR` is -3); `None` for the ws error.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Self::MaxPayloadExceeded => None,
            Self::Data(_) => Some(-3),
        }
    }

    /// The close status ws sends for the error: 1009, or 1007 for corrupt data
    /// (ws `inflateOnError`).
    pub fn close_status(&self) -> u16 {
        match self {
            Self::MaxPayloadExceeded => ProtocolError::MaxPayloadExceeded.close_status(),
            Self::Data(_) => 1007,
        }
    }

    /// The full message (`Max payload size exceeded` or zlib's).
    pub fn message(&self) -> String {
        match self {
            Self::MaxPayloadExceeded => ProtocolError::MaxPayloadExceeded.message(),
            Self::Data(message) => message.clone(),
        }
    }
}

impl fmt::Display for InflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for InflateError {}

/// The decompressor of the peer's direction of a connection. [`Inflater::compact`] frees the
/// zlib state of an idle one (its window, about 40 KiB), keeping the last window of output as
/// the dictionary of the next message.
pub struct Inflater {
    /// Between messages when the last fragment inflated had FIN: the stream is then at a
    /// block boundary and holds nothing but its window.
    codec: Codec<Decompress>,
    window_bits: u8,
    no_context_takeover: bool,
    max_payload: u64,
    /// Inflated bytes of the current message so far.
    message_length: u64,
}

impl fmt::Debug for Inflater {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inflater")
            .field("window_bits", &self.window_bits)
            .field("no_context_takeover", &self.no_context_takeover)
            .field("max_payload", &self.max_payload)
            .field("message_length", &self.message_length)
            .finish()
    }
}

/// What happened to one input slice.
enum Inflated {
    /// All input consumed, all output produced.
    Done,
    /// The peer ended the deflate stream (a block with BFINAL set).
    StreamEnd,
}

impl Inflater {
    /// Creates a decompressor whose window is at least as large as the peer's.
    pub fn new(config: InflateConfig) -> Self {
        // flate2 panics outside 9..=15; a 512-byte window decodes everything a peer limited
        // to 256 bytes may send.
        let window_bits = config.window_bits.clamp(MIN_RAW_WINDOW_BITS, MAX_WINDOW_BITS);
        Self {
            codec: Codec::new(
                Decompress::new_with_window_bits(false, window_bits),
                1 << window_bits,
            ),
            window_bits,
            no_context_takeover: config.no_context_takeover,
            max_payload: config.max_payload,
            message_length: 0,
        }
    }

    /// Inflates one fragment of a message; with `fin` the `00 00 ff ff` tail is appended
    /// first (RFC 7692 §7.2.2). `max_payload` is enforced while inflating, across the
    /// message's fragments, so a bomb stops one byte past the limit and is never allocated.
    /// After an error the decompressor starts afresh (ws drops its zlib stream).
    pub fn decompress(&mut self, data: &[u8], fin: bool) -> Result<Vec<u8>, InflateError> {
        if self.codec.stream.is_none() {
            let mut stream = Decompress::new_with_window_bits(false, self.window_bits);
            if !self.codec.history.dictionary().is_empty() {
                // A raw inflate stream takes a dictionary at any time: cannot fail.
                let _ = stream.set_dictionary(self.codec.history.dictionary());
            }
            self.codec.stream = Some(stream);
        }
        self.codec.idle = false;
        let mut out = Vec::new();
        // Most messages inflate to a few times their compressed size: start there.
        let hint = data.len().saturating_mul(4);
        let result = match self.inflate_into(data, hint, &mut out) {
            Ok(Inflated::Done) if fin => self.inflate_into(&TRAILER, hint, &mut out),
            other => other,
        };
        match result {
            Err(err) => {
                self.reset();
                Err(err)
            }
            Ok(Inflated::StreamEnd) => {
                // The peer closed the deflate stream: as ws, which then creates a new zlib
                // stream, start a fresh one for what follows; the rest of the input is
                // ignored, as Node's zlib does after the end of the stream.
                let length = self.message_length;
                self.reset();
                if !fin {
                    self.message_length = length;
                    self.codec.idle = false;
                }
                Ok(out)
            }
            Ok(Inflated::Done) => {
                if self.no_context_takeover {
                    if fin {
                        self.reset();
                    }
                } else {
                    self.codec.history.push(&out);
                }
                if fin {
                    self.message_length = 0;
                    self.codec.idle = true;
                }
                Ok(out)
            }
        }
    }

    /// Whether the zlib state is allocated (not compacted).
    pub fn is_allocated(&self) -> bool {
        self.codec.stream.is_some()
    }

    /// Frees the zlib state between messages (see [`Inflater`]); false when there was
    /// nothing to free or a message is under way.
    pub fn compact(&mut self) -> bool {
        self.codec.compact()
    }

    /// Drops the window, any pending state and the current message's length.
    pub fn reset(&mut self) {
        if let Some(stream) = self.codec.stream.as_mut() {
            stream.reset(false);
        }
        self.codec.history.clear();
        self.message_length = 0;
        self.codec.idle = true;
    }

    /// Inflates `input` with `Z_SYNC_FLUSH`, appending to `out`.
    fn inflate_into(
        &mut self,
        input: &[u8],
        hint: usize,
        out: &mut Vec<u8>,
    ) -> Result<Inflated, InflateError> {
        let mut consumed = 0usize;
        loop {
            // Room left before the limit, plus one byte to detect that it is crossed.
            let room = if self.max_payload == 0 {
                usize::MAX
            } else {
                let left = self.max_payload.saturating_sub(self.message_length);
                usize::try_from(left).unwrap_or(usize::MAX).saturating_add(1)
            };
            if out.capacity() - out.len() < MIN_INFLATE_CHUNK {
                out.reserve(out.len().max(hint).clamp(MIN_INFLATE_CHUNK, MAX_INFLATE_CHUNK));
            }
            let start = out.len();
            let spare = out.spare_capacity_mut();
            // Never more output space than the limit allows, so a bomb is never written out.
            let chunk = spare.len().min(room);
            let spare = spare.get_mut(..chunk).unwrap_or_default();

            let rest = input.get(consumed..).unwrap_or_default();
            let Some(stream) = self.codec.stream.as_mut() else {
                return Err(InflateError::Data("no inflate stream".to_owned()));
            };
            let (before_in, before_out) = (stream.total_in(), stream.total_out());
            // Uninitialised output: zeroing it first costs a good part of the inflate itself.
            let status = stream.decompress_uninit(rest, spare, FlushDecompress::Sync);
            let read = (stream.total_in() - before_in) as usize;
            let written = ((stream.total_out() - before_out) as usize).min(chunk);
            // SAFETY: zlib initialised the first `written` bytes of the spare capacity (its
            // `total_out` counts exactly the bytes it wrote, at most `chunk`), so the first
            // `start + written` bytes are initialised and within the capacity.
            unsafe { out.set_len(start + written) };
            consumed += read;

            let status = status.map_err(|err| {
                InflateError::Data(err.message().unwrap_or("data error").to_owned())
            })?;

            self.message_length += written as u64;
            if self.max_payload > 0 && self.message_length > self.max_payload {
                return Err(InflateError::MaxPayloadExceeded);
            }
            if status == Status::StreamEnd {
                return Ok(Inflated::StreamEnd);
            }
            // Done when the input is used up and zlib left output space unused (it had
            // nothing more to write); also stop when no progress is possible.
            if (consumed >= input.len() && written < chunk) || (read == 0 && written == 0) {
                return Ok(Inflated::Done);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Negotiation (RFC 7692 §7.1), as ws's PerMessageDeflate offer()/accept(): for the Rust
// transport; the Node-socket transport negotiates in lib/permessage-deflate.js.
// ---------------------------------------------------------------------------------------

/// The parameters of RFC 7692 §7.1, in the order they were set (ws formats a JS object, whose
/// keys keep insertion order).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PerMessageDeflateParams {
    /// `server_no_context_takeover`.
    pub server_no_context_takeover: bool,
    /// `client_no_context_takeover`.
    pub client_no_context_takeover: bool,
    /// `server_max_window_bits=N`.
    pub server_max_window_bits: Option<u8>,
    /// `client_max_window_bits[=N]`.
    pub client_max_window_bits: Option<ClientMaxWindowBits>,
    order: Vec<ParamKey>,
}

/// The value of `client_max_window_bits`: bare in a client's offer ("I support it"), else N.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientMaxWindowBits {
    /// The parameter without a value (RFC 7692 §7.1.2.2).
    Bare,
    /// `client_max_window_bits=N`.
    Bits(u8),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ParamKey {
    ServerNoContextTakeover,
    ClientNoContextTakeover,
    ServerMaxWindowBits,
    ClientMaxWindowBits,
}

impl ParamKey {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "server_no_context_takeover" => Some(Self::ServerNoContextTakeover),
            "client_no_context_takeover" => Some(Self::ClientNoContextTakeover),
            "server_max_window_bits" => Some(Self::ServerMaxWindowBits),
            "client_max_window_bits" => Some(Self::ClientMaxWindowBits),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::ServerNoContextTakeover => "server_no_context_takeover",
            Self::ClientNoContextTakeover => "client_no_context_takeover",
            Self::ServerMaxWindowBits => "server_max_window_bits",
            Self::ClientMaxWindowBits => "client_max_window_bits",
        }
    }
}

impl PerMessageDeflateParams {
    /// Sets `server_no_context_takeover`.
    pub fn set_server_no_context_takeover(&mut self) {
        self.server_no_context_takeover = true;
        self.touch(ParamKey::ServerNoContextTakeover);
    }

    /// Sets `client_no_context_takeover`.
    pub fn set_client_no_context_takeover(&mut self) {
        self.client_no_context_takeover = true;
        self.touch(ParamKey::ClientNoContextTakeover);
    }

    /// Sets `server_max_window_bits`.
    pub fn set_server_max_window_bits(&mut self, bits: u8) {
        self.server_max_window_bits = Some(bits);
        self.touch(ParamKey::ServerMaxWindowBits);
    }

    /// Sets or removes `client_max_window_bits`.
    pub fn set_client_max_window_bits(&mut self, value: Option<ClientMaxWindowBits>) {
        self.client_max_window_bits = value;
        if value.is_some() {
            self.touch(ParamKey::ClientMaxWindowBits);
        } else {
            self.order.retain(|&key| key != ParamKey::ClientMaxWindowBits);
        }
    }

    fn touch(&mut self, key: ParamKey) {
        if !self.order.contains(&key) {
            self.order.push(key);
        }
    }

    /// The parameters as an extension element, ready for [`super::extension::format`].
    pub fn to_extension(&self) -> super::extension::Extension {
        let params = self
            .order
            .iter()
            .map(|&key| {
                let value = match key {
                    ParamKey::ServerMaxWindowBits => {
                        self.server_max_window_bits.map(|bits| bits.to_string())
                    }
                    ParamKey::ClientMaxWindowBits => match self.client_max_window_bits {
                        Some(ClientMaxWindowBits::Bits(bits)) => Some(bits.to_string()),
                        _ => None,
                    },
                    _ => None,
                };
                super::extension::ExtensionParam { key: key.name().to_owned(), value }
            })
            .collect();
        super::extension::Extension { name: EXTENSION_NAME.to_owned(), params }
    }
}

/// The extension's registered name.
pub const EXTENSION_NAME: &str = "permessage-deflate";

/// A `*MaxWindowBits` option of ws's `PerMessageDeflate`: absent, `true`, `false` or a number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WindowBitsOption {
    /// Not given (`undefined`).
    #[default]
    Unset,
    /// `true`: advertise/accept support.
    Enabled,
    /// `false`: refuse the parameter.
    Disabled,
    /// A window size, 8 to 15.
    Bits(u8),
}

/// A `*NoContextTakeover` option: absent, `true` or `false` (ws tells `false` from absent).
pub type FlagOption = Option<bool>;

/// ws's `PerMessageDeflate` negotiation options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NegotiationOptions {
    /// `serverNoContextTakeover`.
    pub server_no_context_takeover: FlagOption,
    /// `clientNoContextTakeover`.
    pub client_no_context_takeover: FlagOption,
    /// `serverMaxWindowBits`.
    pub server_max_window_bits: WindowBitsOption,
    /// `clientMaxWindowBits`.
    pub client_max_window_bits: WindowBitsOption,
}

/// A failed negotiation, with ws's message. `type_error` tells ws's `TypeError`s from its
/// plain `Error`s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NegotiationError {
    /// ws's message, e.g. `Unknown parameter "foo"`.
    pub message: String,
    /// True where ws throws a `TypeError`.
    pub type_error: bool,
}

impl NegotiationError {
    fn error(message: String) -> Self {
        Self { message, type_error: false }
    }

    fn type_error(key: &str, value: Option<&str>) -> Self {
        let value = value.unwrap_or("true");
        Self {
            message: format!("Invalid value for parameter \"{key}\": {value}"),
            type_error: true,
        }
    }
}

impl fmt::Display for NegotiationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for NegotiationError {}

impl NegotiationOptions {
    /// The client's offer, as ws's `offer()`.
    pub fn offer(&self) -> PerMessageDeflateParams {
        let mut params = PerMessageDeflateParams::default();
        if self.server_no_context_takeover == Some(true) {
            params.set_server_no_context_takeover();
        }
        if self.client_no_context_takeover == Some(true) {
            params.set_client_no_context_takeover();
        }
        if let WindowBitsOption::Bits(bits) = self.server_max_window_bits {
            params.set_server_max_window_bits(bits);
        }
        match self.client_max_window_bits {
            WindowBitsOption::Bits(bits) => {
                params.set_client_max_window_bits(Some(ClientMaxWindowBits::Bits(bits)));
            }
            WindowBitsOption::Enabled | WindowBitsOption::Unset => {
                params.set_client_max_window_bits(Some(ClientMaxWindowBits::Bare));
            }
            WindowBitsOption::Disabled => {}
        }
        params
    }

    /// Picks the first acceptable offer and completes it, as ws's `acceptAsServer()`.
    /// `offers` are the `permessage-deflate` elements of the client's header.
    pub fn accept_as_server(
        &self,
        offers: &[super::extension::Extension],
    ) -> Result<PerMessageDeflateParams, NegotiationError> {
        let offers = normalize_params(offers, true)?;
        let accepted = offers.into_iter().find(|params| {
            let refuses_server_no_context_takeover =
                self.server_no_context_takeover == Some(false) && params.server_no_context_takeover;
            let refuses_server_window = params.server_max_window_bits.is_some_and(|offered| {
                match self.server_max_window_bits {
                    WindowBitsOption::Disabled => true,
                    WindowBitsOption::Bits(bits) => bits > offered,
                    _ => false,
                }
            });
            let needs_client_window =
                matches!(self.client_max_window_bits, WindowBitsOption::Bits(_))
                    && params.client_max_window_bits.is_none();
            !(refuses_server_no_context_takeover || refuses_server_window || needs_client_window)
        });
        let Some(mut accepted) = accepted else {
            return Err(NegotiationError::error(
                "None of the extension offers can be accepted".to_owned(),
            ));
        };

        if self.server_no_context_takeover == Some(true) {
            accepted.set_server_no_context_takeover();
        }
        if self.client_no_context_takeover == Some(true) {
            accepted.set_client_no_context_takeover();
        }
        if let WindowBitsOption::Bits(bits) = self.server_max_window_bits {
            accepted.set_server_max_window_bits(bits);
        }
        if let WindowBitsOption::Bits(bits) = self.client_max_window_bits {
            accepted.set_client_max_window_bits(Some(ClientMaxWindowBits::Bits(bits)));
        } else if accepted.client_max_window_bits == Some(ClientMaxWindowBits::Bare)
            || self.client_max_window_bits == WindowBitsOption::Disabled
        {
            accepted.set_client_max_window_bits(None);
        }
        Ok(accepted)
    }

    /// Checks the server's response, as ws's `acceptAsClient()`. `response` holds the
    /// `permessage-deflate` elements of the server's header; ws reads the first.
    pub fn accept_as_client(
        &self,
        response: &[super::extension::Extension],
    ) -> Result<PerMessageDeflateParams, NegotiationError> {
        let Some(mut params) = normalize_params(response, false)?.into_iter().next() else {
            return Err(NegotiationError::error(
                "None of the extension offers can be accepted".to_owned(),
            ));
        };

        if self.client_no_context_takeover == Some(false) && params.client_no_context_takeover {
            return Err(NegotiationError::error(
                "Unexpected parameter \"client_no_context_takeover\"".to_owned(),
            ));
        }

        match params.client_max_window_bits {
            None => {
                if let WindowBitsOption::Bits(bits) = self.client_max_window_bits {
                    params.set_client_max_window_bits(Some(ClientMaxWindowBits::Bits(bits)));
                }
            }
            Some(ClientMaxWindowBits::Bits(got)) => {
                let refused = match self.client_max_window_bits {
                    WindowBitsOption::Disabled => true,
                    WindowBitsOption::Bits(bits) => got > bits,
                    _ => false,
                };
                if refused {
                    return Err(NegotiationError::error(
                        "Unexpected or invalid parameter \"client_max_window_bits\"".to_owned(),
                    ));
                }
            }
            // normalize_params refuses a bare value from a server.
            Some(ClientMaxWindowBits::Bare) => {}
        }
        Ok(params)
    }
}

/// Validates and converts the parameters of each element, as ws's `normalizeParams()`:
/// one value per parameter, window bits 8 to 15, flags without a value, no unknown name.
/// The bare `client_max_window_bits` is allowed only in an offer (`is_server`).
pub fn normalize_params(
    elements: &[super::extension::Extension],
    is_server: bool,
) -> Result<Vec<PerMessageDeflateParams>, NegotiationError> {
    elements.iter().map(|element| normalize_one(element, is_server)).collect()
}

fn normalize_one(
    element: &super::extension::Extension,
    is_server: bool,
) -> Result<PerMessageDeflateParams, NegotiationError> {
    let mut params = PerMessageDeflateParams::default();
    // ws walks the keys of an object, each once, in order of first appearance, and checks
    // for repeated values first.
    for (index, param) in element.params.iter().enumerate() {
        let key = param.key.as_str();
        if element.params.get(..index).unwrap_or_default().iter().any(|p| p.key == key) {
            continue;
        }
        if element.params.iter().skip(index + 1).any(|p| p.key == key) {
            return Err(NegotiationError::error(format!(
                "Parameter \"{key}\" must have only a single value"
            )));
        }
        let value = param.value.as_deref();
        match ParamKey::from_name(key) {
            Some(ParamKey::ClientMaxWindowBits) => match value {
                Some(text) => {
                    let bits = window_bits(text)
                        .ok_or_else(|| NegotiationError::type_error(key, value))?;
                    params.set_client_max_window_bits(Some(ClientMaxWindowBits::Bits(bits)));
                }
                None if is_server => {
                    params.set_client_max_window_bits(Some(ClientMaxWindowBits::Bare));
                }
                None => return Err(NegotiationError::type_error(key, value)),
            },
            Some(ParamKey::ServerMaxWindowBits) => {
                let bits = value
                    .and_then(window_bits)
                    .ok_or_else(|| NegotiationError::type_error(key, value))?;
                params.set_server_max_window_bits(bits);
            }
            Some(ParamKey::ClientNoContextTakeover) => {
                if value.is_some() {
                    return Err(NegotiationError::type_error(key, value));
                }
                params.set_client_no_context_takeover();
            }
            Some(ParamKey::ServerNoContextTakeover) => {
                if value.is_some() {
                    return Err(NegotiationError::type_error(key, value));
                }
                params.set_server_no_context_takeover();
            }
            None => return Err(NegotiationError::error(format!("Unknown parameter \"{key}\""))),
        }
    }
    Ok(params)
}

/// A window-bits value as ws reads it: JS `+value` must be an integer from 8 to 15. Covers
/// what JS's `Number()` accepts of a token: decimal with sign, fraction and exponent
/// (`10`, `+10`, `010`, `10.0`, `1e1`), and `0x`/`0o`/`0b` integers.
fn window_bits(text: &str) -> Option<u8> {
    let radix = match text.get(..2) {
        Some("0x" | "0X") => Some(16),
        Some("0o" | "0O") => Some(8),
        Some("0b" | "0B") => Some(2),
        _ => None,
    };
    let number = match radix {
        Some(radix) => {
            let digits = text.get(2..)?;
            if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
                return None;
            }
            u64::from_str_radix(digits, radix).ok()? as f64
        }
        None => {
            // Rust also accepts "inf"/"NaN", which are not integers either way.
            if !text.bytes().all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)) {
                return None;
            }
            text.parse::<f64>().ok()?
        }
    };
    if number.fract() == 0.0 && (8.0..=15.0).contains(&number) {
        Some(number as u8)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::extension::{parse, Extension};

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A deterministic, moderately compressible byte stream.
    fn sample(len: usize, seed: u32) -> Vec<u8> {
        let words: [&[u8]; 6] = [b"alpha ", b"beta ", b"gamma ", b"delta ", b"\x00\xff", b"z"];
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            if state.is_multiple_of(3) {
                out.push((state >> 8) as u8);
            } else {
                out.extend_from_slice(words[(state as usize >> 4) % words.len()]);
            }
        }
        out.truncate(len);
        out
    }

    fn deflater(window_bits: u8, no_context_takeover: bool) -> Deflater {
        Deflater::new(DeflateConfig {
            window_bits,
            no_context_takeover,
            ..DeflateConfig::default()
        })
    }

    fn inflater(window_bits: u8, no_context_takeover: bool, max_payload: u64) -> Inflater {
        Inflater::new(InflateConfig { window_bits, no_context_takeover, max_payload })
    }

    #[test]
    fn compresses_hello_as_rfc_7692_section_7_2_3_1() {
        let mut d = deflater(15, false);
        assert_eq!(hex(&d.compress(b"Hello", true).unwrap()), "f248cdc9c90700");
    }

    #[test]
    fn inflates_the_rfc_7692_examples() {
        // §7.2.3.1 (one compressed block, whole and split in two fragments), §7.2.3.3 (stored
        // block) and §7.2.3.5 (two deflate blocks in one message).
        let cases: [&[&[u8]]; 4] = [
            &[&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]],
            &[&[0xf2, 0x48, 0xcd], &[0xc9, 0xc9, 0x07, 0x00]],
            &[&[0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00]],
            &[&[0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00]],
        ];
        for fragments in cases {
            let mut i = inflater(15, false, 0);
            let mut out = Vec::new();
            for (index, fragment) in fragments.iter().enumerate() {
                out.extend(i.decompress(fragment, index + 1 == fragments.len()).unwrap());
            }
            assert_eq!(out, b"Hello");
        }
    }

    #[test]
    fn shares_the_window_across_messages_with_context_takeover() {
        // RFC 7692 §7.2.3.2: the second "Hello" is a back-reference into the first message.
        let mut d = deflater(15, false);
        assert_eq!(hex(&d.compress(b"Hello", true).unwrap()), "f248cdc9c90700");
        assert_eq!(hex(&d.compress(b"Hello", true).unwrap()), "f200110000");

        let mut i = inflater(15, false, 0);
        assert_eq!(
            i.decompress(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], true).unwrap(),
            b"Hello"
        );
        assert_eq!(i.decompress(&[0xf2, 0x00, 0x11, 0x00, 0x00], true).unwrap(), b"Hello");
    }

    #[test]
    fn history_keeps_the_last_window_in_order() {
        let mut history = History::new(16);
        let mut all = Vec::new();
        for (i, len) in [3usize, 9, 1, 20, 7, 16, 5].into_iter().enumerate() {
            let chunk = sample(len, i as u32);
            history.push(&chunk);
            all.extend_from_slice(&chunk);
            let mut copy = history.clone();
            copy.compact();
            assert_eq!(copy.dictionary(), &all[all.len().saturating_sub(16)..]);
        }
        history.compact();
        // Pushing after a compaction continues from the bytes kept.
        history.push(b"xyz");
        all.extend_from_slice(b"xyz");
        history.compact();
        assert_eq!(history.dictionary(), &all[all.len() - 16..]);
    }

    #[test]
    fn a_compacted_deflater_goes_on_with_its_window_as_the_dictionary() {
        for window_bits in [9, 12, 15] {
            let mut d = deflater(window_bits, false);
            let mut continuous = inflater(window_bits, false, 0);
            // Within reach of a back-reference: zlib's largest distance is a window less 262.
            let first = sample(((1 << window_bits) - 262) / 2, 1);
            let c1 = d.compress(&first, true).unwrap();
            assert!(d.compact());
            assert!(!d.compact(), "nothing left to free");
            let c2 = d.compress(&first, true).unwrap();
            // The repeat is mostly back-references into the previous message.
            assert!(c2.len() < c1.len() / 2, "window {window_bits}: {} vs {}", c2.len(), c1.len());
            assert_eq!(continuous.decompress(&c1, true).unwrap(), first);
            assert_eq!(continuous.decompress(&c2, true).unwrap(), first);
        }
    }

    #[test]
    fn a_compacted_inflater_goes_on_with_its_window_as_the_dictionary() {
        let mut d = deflater(15, false);
        let mut i = inflater(15, false, 0);
        let messages = [sample(40_000, 2), sample(500, 3), sample(40_000, 2)];
        for message in &messages {
            let compressed = d.compress(message, true).unwrap();
            assert_eq!(&i.decompress(&compressed, true).unwrap(), message);
            assert!(i.compact());
            assert!(d.compact());
        }
    }

    #[test]
    fn compaction_waits_for_the_end_of_a_message() {
        let mut d = deflater(15, false);
        let mut i = inflater(15, false, 0);
        let part = d.compress(b"first fragment ", false).unwrap();
        assert!(!d.compact());
        assert_eq!(i.decompress(&part, false).unwrap(), b"first fragment ");
        assert!(!i.compact());
        let last = d.compress(b"and the last", true).unwrap();
        assert_eq!(i.decompress(&last, true).unwrap(), b"and the last");
        assert!(d.compact());
        assert!(i.compact());
    }

    #[test]
    fn restarts_the_window_after_each_message_without_context_takeover() {
        let mut d = deflater(15, true);
        let first = d.compress(b"Hello", true).unwrap();
        let second = d.compress(b"Hello", true).unwrap();
        assert_eq!(hex(&first), "f248cdc9c90700");
        assert_eq!(first, second);

        // A fresh inflater decodes any message on its own.
        let mut i = inflater(15, true, 0);
        assert_eq!(i.decompress(&first, true).unwrap(), b"Hello");
        assert_eq!(i.decompress(&second, true).unwrap(), b"Hello");
    }

    #[test]
    fn an_inflater_without_context_takeover_rejects_back_references_into_the_last_message() {
        let mut d = deflater(15, false);
        let first = d.compress(b"Hello", true).unwrap();
        let second = d.compress(b"Hello", true).unwrap();
        let mut i = inflater(15, true, 0);
        assert_eq!(i.decompress(&first, true).unwrap(), b"Hello");
        let err = i.decompress(&second, true).unwrap_err();
        assert_eq!(err, InflateError::Data("invalid distance too far back".to_owned()));
    }

    #[test]
    fn round_trips_with_every_window_size() {
        for bits in MIN_WINDOW_BITS..=MAX_WINDOW_BITS {
            for no_context_takeover in [false, true] {
                let mut d = deflater(bits, no_context_takeover);
                let mut i = inflater(bits, no_context_takeover, 0);
                for message in 0..4 {
                    let data = sample(70_000, u32::from(bits) * 10 + message);
                    let compressed = d.compress(&data, true).unwrap();
                    assert!(compressed.len() < data.len());
                    assert_eq!(i.decompress(&compressed, true).unwrap(), data, "bits {bits}");
                }
            }
        }
    }

    /// Decodes a raw deflate stream just far enough to list its match distances.
    fn match_distances(data: &[u8]) -> Vec<usize> {
        struct Bits<'a> {
            data: &'a [u8],
            pos: usize,
        }
        impl Bits<'_> {
            fn bit(&mut self) -> usize {
                let b = (self.data[self.pos / 8] >> (self.pos % 8)) & 1;
                self.pos += 1;
                usize::from(b)
            }
            fn bits(&mut self, n: usize) -> usize {
                (0..n).fold(0, |acc, i| acc | (self.bit() << i))
            }
            fn code(&mut self, lengths: &[usize]) -> usize {
                // Canonical Huffman decoding, one bit at a time.
                let (mut code, mut first, mut index) = (0usize, 0usize, 0usize);
                for len in 1..16 {
                    code |= self.bit();
                    let count = lengths.iter().filter(|&&l| l == len).count();
                    if code < first + count {
                        let mut symbols: Vec<usize> =
                            (0..lengths.len()).filter(|&s| lengths[s] == len).collect();
                        symbols.sort_unstable();
                        return symbols[code - first];
                    }
                    index += count;
                    first = (first + count) << 1;
                    code <<= 1;
                }
                panic!("bad code after {index} symbols");
            }
        }
        const LEN_BASE: [usize; 29] = [
            3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99,
            115, 131, 163, 195, 227, 258,
        ];
        const LEN_EXTRA: [usize; 29] =
            [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
        const DIST_BASE: [usize; 30] = [
            1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025,
            1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
        ];
        const DIST_EXTRA: [usize; 30] = [
            0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12,
            12, 13, 13,
        ];
        let mut r = Bits { data, pos: 0 };
        let mut distances = Vec::new();
        while r.pos + 10 < data.len() * 8 {
            let _final = r.bit();
            let kind = r.bits(2);
            let (lit, dist) = match kind {
                0 => {
                    r.pos = r.pos.div_ceil(8) * 8;
                    let len = r.bits(16);
                    r.bits(16);
                    r.pos += len * 8;
                    continue;
                }
                1 => {
                    let mut lit = vec![8; 144];
                    lit.extend([9; 112]);
                    lit.extend([7; 24]);
                    lit.extend([8; 8]);
                    (lit, vec![5; 30])
                }
                2 => {
                    let (hlit, hdist, hclen) = (r.bits(5) + 257, r.bits(5) + 1, r.bits(4) + 4);
                    const ORDER: [usize; 19] =
                        [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];
                    let mut cl = [0usize; 19];
                    for &o in ORDER.iter().take(hclen) {
                        cl[o] = r.bits(3);
                    }
                    let mut lengths = Vec::new();
                    while lengths.len() < hlit + hdist {
                        match r.code(&cl) {
                            s @ 0..=15 => lengths.push(s),
                            16 => {
                                let prev = *lengths.last().unwrap();
                                let n = 3 + r.bits(2);
                                lengths.extend(std::iter::repeat_n(prev, n));
                            }
                            17 => {
                                let n = 3 + r.bits(3);
                                lengths.extend(std::iter::repeat_n(0, n));
                            }
                            _ => {
                                let n = 11 + r.bits(7);
                                lengths.extend(std::iter::repeat_n(0, n));
                            }
                        }
                    }
                    let dist = lengths.split_off(hlit);
                    (lengths, dist)
                }
                _ => panic!("reserved block type"),
            };
            loop {
                let sym = r.code(&lit);
                if sym < 256 {
                    continue;
                }
                if sym == 256 {
                    break;
                }
                r.bits(LEN_EXTRA[sym - 257]);
                let _ = LEN_BASE[sym - 257];
                let d = r.code(&dist);
                distances.push(DIST_BASE[d] + r.bits(DIST_EXTRA[d]));
            }
        }
        distances
    }

    #[test]
    fn the_distance_decoder_sees_long_distances_with_a_large_window() {
        let data = sample(20_000, 7);
        let mut d = deflater(15, false);
        let out = d.compress(&data, true).unwrap();
        assert!(match_distances(&out).iter().any(|&dist| dist > 256));
    }

    #[test]
    fn window_bits_8_output_fits_a_256_byte_window() {
        // See Deflater::new: deflating with a 512-byte window never references more than
        // 250 bytes back, so a peer that asked for 256 bytes can inflate it.
        for level in [1, 2, 4, 6, 9] {
            let mut d =
                Deflater::new(DeflateConfig { window_bits: 8, level, ..DeflateConfig::default() });
            for message in 0..3 {
                let data = sample(30_000, level as u32 * 100 + message);
                let out = d.compress(&data, message == 2).unwrap();
                let distances = match_distances(&out);
                assert!(!distances.is_empty());
                assert!(distances.iter().all(|&dist| dist <= 256), "level {level}");
            }
        }
    }

    #[test]
    fn round_trips_fragmented_messages() {
        let data = sample(200_000, 3);
        let mut d = deflater(12, false);
        let mut i = inflater(12, false, 0);
        for _ in 0..3 {
            let pieces: Vec<&[u8]> = data.chunks(33_333).collect();
            let mut frames = Vec::new();
            for (index, piece) in pieces.iter().enumerate() {
                frames.push(d.compress(piece, index + 1 == pieces.len()).unwrap());
            }
            let mut out = Vec::new();
            for (index, frame) in frames.iter().enumerate() {
                out.extend(i.decompress(frame, index + 1 == frames.len()).unwrap());
            }
            assert_eq!(out, data);
        }
    }

    #[test]
    fn an_empty_final_fragment_after_a_flushed_one_is_still_a_valid_stream() {
        let mut d = deflater(15, false);
        let mut i = inflater(15, false, 0);
        for _ in 0..2 {
            let a = d.compress(b"Hello", false).unwrap();
            let b = d.compress(b"", true).unwrap();
            assert!(!b.is_empty());
            let mut out = i.decompress(&a, false).unwrap();
            out.extend(i.decompress(&b, true).unwrap());
            assert_eq!(out, b"Hello");
        }
    }

    #[test]
    fn compresses_an_empty_message_to_a_single_zero_byte() {
        // RFC 7692 §7.2.3.6.
        let mut d = deflater(15, true);
        assert_eq!(d.compress(b"", true).unwrap(), [0x00]);
        let mut i = inflater(15, false, 0);
        assert_eq!(i.decompress(&[0x00], true).unwrap(), b"");
    }

    #[test]
    fn stops_a_decompression_bomb_at_the_limit() {
        // 64 MiB of zeros compress to about 64 KiB; the limit is 1 MiB.
        let mut d = deflater(15, false);
        let zeros = vec![0u8; 64 << 20];
        let bomb = d.compress(&zeros, true).unwrap();
        assert!(bomb.len() < 128 << 10);

        let mut i = inflater(15, false, 1 << 20);
        assert_eq!(i.decompress(&bomb, true), Err(InflateError::MaxPayloadExceeded));
        // The same inflater works again afterwards.
        let mut d = deflater(15, false);
        assert_eq!(i.decompress(&d.compress(b"Hello", true).unwrap(), true).unwrap(), b"Hello");
    }

    #[test]
    fn counts_the_limit_across_the_fragments_of_a_message() {
        let mut d = deflater(15, false);
        let a = d.compress(&[b'a'; 600], false).unwrap();
        let b = d.compress(&[b'b'; 600], true).unwrap();
        let mut i = inflater(15, false, 1000);
        assert_eq!(i.decompress(&a, false).unwrap().len(), 600);
        assert_eq!(i.decompress(&b, true), Err(InflateError::MaxPayloadExceeded));

        // The count restarts with each message, and the limit itself is allowed.
        let mut d = deflater(15, false);
        let mut i = inflater(15, false, 1000);
        for _ in 0..3 {
            let exact = d.compress(&[b'c'; 1000], true).unwrap();
            assert_eq!(i.decompress(&exact, true).unwrap().len(), 1000);
        }
    }

    #[test]
    fn reports_corrupt_data_as_node_zlib_does() {
        let mut i = inflater(15, false, 0);
        // A stored block whose NLEN is not the complement of LEN.
        let err = i.decompress(&[0x00, 0x05, 0x00, 0x00, 0x00], true).unwrap_err();
        assert_eq!(err, InflateError::Data("invalid stored block lengths".to_owned()));
        assert_eq!(err.code(), "Z_DATA_ERROR");
        assert_eq!(err.errno(), Some(-3));
        assert_eq!(err.close_status(), 1007);

        let err = i.decompress(&[0xff], true).unwrap_err();
        assert_eq!(err.message(), "invalid block type");
        assert_eq!(InflateError::MaxPayloadExceeded.code(), "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH");
        assert_eq!(InflateError::MaxPayloadExceeded.message(), "Max payload size exceeded");
        assert_eq!(InflateError::MaxPayloadExceeded.close_status(), 1009);
    }

    #[test]
    fn starts_a_new_stream_after_the_peer_ends_one() {
        // "Hello" in a final block (BFINAL set), then a new message.
        let mut i = inflater(15, false, 0);
        assert_eq!(
            i.decompress(&[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], true).unwrap(),
            b"Hello"
        );
        assert_eq!(
            i.decompress(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], true).unwrap(),
            b"Hello"
        );
    }

    #[test]
    fn random_input_never_panics_the_inflater() {
        let mut i = inflater(9, false, 1 << 16);
        for seed in 0..3000 {
            let data = sample(1 + seed as usize % 200, seed);
            let _ = i.decompress(&data, seed % 3 == 0);
        }
    }

    fn offer(header: &str) -> Vec<Extension> {
        parse(header).unwrap()
    }

    #[test]
    fn offers_the_bare_client_max_window_bits_by_default() {
        let options = NegotiationOptions::default();
        let ext = options.offer().to_extension();
        assert_eq!(
            crate::protocol::extension::format(&[ext]),
            "permessage-deflate; client_max_window_bits"
        );

        let options = NegotiationOptions {
            server_no_context_takeover: Some(true),
            client_no_context_takeover: Some(true),
            server_max_window_bits: WindowBitsOption::Bits(10),
            client_max_window_bits: WindowBitsOption::Disabled,
        };
        assert_eq!(
            crate::protocol::extension::format(&[options.offer().to_extension()]),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10"
        );
    }

    #[test]
    fn accepts_the_first_acceptable_offer_as_a_server() {
        let options = NegotiationOptions {
            server_max_window_bits: WindowBitsOption::Bits(12),
            client_max_window_bits: WindowBitsOption::Bits(11),
            ..NegotiationOptions::default()
        };
        let offers = offer(
            "permessage-deflate; server_max_window_bits=10, \
             permessage-deflate; client_max_window_bits; server_max_window_bits=13",
        );
        let accepted = options.accept_as_server(&offers).unwrap();
        assert_eq!(accepted.server_max_window_bits, Some(12));
        assert_eq!(accepted.client_max_window_bits, Some(ClientMaxWindowBits::Bits(11)));
        assert_eq!(
            crate::protocol::extension::format(&[accepted.to_extension()]),
            "permessage-deflate; client_max_window_bits=11; server_max_window_bits=12"
        );

        // The bare parameter is dropped from the response when no size is requested.
        let accepted = NegotiationOptions::default()
            .accept_as_server(&offer("permessage-deflate; client_max_window_bits"))
            .unwrap();
        assert_eq!(accepted.client_max_window_bits, None);
        assert_eq!(
            crate::protocol::extension::format(&[accepted.to_extension()]),
            "permessage-deflate"
        );
    }

    #[test]
    fn refuses_offers_as_ws_does() {
        let refuse = |options: NegotiationOptions, header: &str| {
            options.accept_as_server(&offer(header)).unwrap_err().message
        };
        let none = "None of the extension offers can be accepted";
        let options =
            NegotiationOptions { server_no_context_takeover: Some(false), ..Default::default() };
        assert_eq!(refuse(options, "permessage-deflate; server_no_context_takeover"), none);
        let options = NegotiationOptions {
            server_max_window_bits: WindowBitsOption::Disabled,
            ..Default::default()
        };
        assert_eq!(refuse(options, "permessage-deflate; server_max_window_bits=10"), none);
        let options = NegotiationOptions {
            client_max_window_bits: WindowBitsOption::Bits(10),
            ..Default::default()
        };
        assert_eq!(refuse(options, "permessage-deflate"), none);

        let err = NegotiationOptions::default()
            .accept_as_server(&offer("permessage-deflate; foo"))
            .unwrap_err();
        assert_eq!(
            err,
            NegotiationError { message: "Unknown parameter \"foo\"".to_owned(), type_error: false }
        );
        let err = NegotiationOptions::default()
            .accept_as_server(&offer(
                "permessage-deflate; server_max_window_bits=7; server_max_window_bits=9",
            ))
            .unwrap_err();
        assert_eq!(
            err.message,
            "Parameter \"server_max_window_bits\" must have only a single value"
        );
        for (header, message) in [
            (
                "permessage-deflate; server_max_window_bits",
                "Invalid value for parameter \"server_max_window_bits\": true",
            ),
            (
                "permessage-deflate; server_max_window_bits=16",
                "Invalid value for parameter \"server_max_window_bits\": 16",
            ),
            (
                "permessage-deflate; client_max_window_bits=7",
                "Invalid value for parameter \"client_max_window_bits\": 7",
            ),
            (
                "permessage-deflate; client_no_context_takeover=10",
                "Invalid value for parameter \"client_no_context_takeover\": 10",
            ),
            (
                "permessage-deflate; server_no_context_takeover=\"1\"",
                "Invalid value for parameter \"server_no_context_takeover\": 1",
            ),
        ] {
            let err = NegotiationOptions::default().accept_as_server(&offer(header)).unwrap_err();
            assert_eq!((err.message.as_str(), err.type_error), (message, true), "{header}");
        }
    }

    #[test]
    fn reads_window_bits_as_javascript_numbers() {
        for (text, bits) in [
            ("10", Some(10)),
            ("010", Some(10)),
            ("+9", Some(9)),
            ("1e1", Some(10)),
            ("15.0", Some(15)),
            ("0xa", Some(10)),
            ("0b1000", Some(8)),
            ("10.5", None),
            ("16", None),
            ("0x", None),
            ("abc", None),
            ("inf", None),
        ] {
            assert_eq!(window_bits(text), bits, "{text}");
        }
    }

    #[test]
    fn checks_the_response_as_a_client() {
        let options = NegotiationOptions {
            client_max_window_bits: WindowBitsOption::Bits(10),
            ..Default::default()
        };
        let params = options.accept_as_client(&offer("permessage-deflate")).unwrap();
        assert_eq!(params.client_max_window_bits, Some(ClientMaxWindowBits::Bits(10)));
        let err = options
            .accept_as_client(&offer("permessage-deflate; client_max_window_bits=11"))
            .unwrap_err();
        assert_eq!(err.message, "Unexpected or invalid parameter \"client_max_window_bits\"");

        let options =
            NegotiationOptions { client_no_context_takeover: Some(false), ..Default::default() };
        let err = options
            .accept_as_client(&offer("permessage-deflate; client_no_context_takeover"))
            .unwrap_err();
        assert_eq!(err.message, "Unexpected parameter \"client_no_context_takeover\"");

        let err = NegotiationOptions::default()
            .accept_as_client(&offer("permessage-deflate; client_max_window_bits"))
            .unwrap_err();
        assert_eq!(err.message, "Invalid value for parameter \"client_max_window_bits\": true");
        assert!(err.type_error);
    }

    #[test]
    fn applies_mem_level_and_strategy_and_still_round_trips() {
        let data = sample(200_000, 7);
        let compress = |level: i32, mem_level: u8, strategy: i32| {
            let mut d = Deflater::new(DeflateConfig {
                level,
                mem_level,
                strategy,
                ..DeflateConfig::default()
            });
            let out = d.compress(&data, true).unwrap();
            assert_eq!(inflater(15, false, 0).decompress(&out, true).unwrap(), data);
            out
        };
        let default = compress(-1, 8, 0);
        // Z_HUFFMAN_ONLY emits no back-references, so its output is larger than the default
        // strategy's; Z_RLE and Z_FIXED differ too (Z_FILTERED only changes the choice of
        // short matches, which this sample may not have). Were the options ignored, all of
        // these would be byte-identical to the default. (`assert!` keeps a failure's output
        // short.)
        assert!(compress(-1, 8, 2).len() > default.len());
        assert!(compress(-1, 8, 3) != default);
        assert!(compress(-1, 8, 4) != default);
        compress(-1, 8, 1);
        // A smaller memLevel means a smaller hash table and literal buffer: other output.
        assert!(compress(-1, 1, 0) != default);
        assert!(compress(-1, 1, 0).len() > default.len());
        assert!(compress(6, 8, 0) == default);
    }

    #[test]
    fn clamps_out_of_range_options_instead_of_panicking() {
        for (level, mem_level, strategy) in [(-5, 0, -1), (42, 200, 99), (i32::MIN, 10, 5)] {
            let mut d = Deflater::new(DeflateConfig {
                window_bits: 0,
                level,
                mem_level,
                strategy,
                no_context_takeover: false,
            });
            let out = d.compress(b"Hello Hello Hello", true).unwrap();
            assert_eq!(inflater(9, false, 0).decompress(&out, true).unwrap(), b"Hello Hello Hello");
        }
    }

    #[test]
    fn checks_zlib_options_as_node_does() {
        assert_eq!(zlib_option("level", None, LEVEL_RANGE, -1), Ok(-1));
        assert_eq!(zlib_option("level", Some(f64::NAN), LEVEL_RANGE, -1), Ok(-1));
        assert_eq!(zlib_option("level", Some(9.0), LEVEL_RANGE, -1), Ok(9));
        assert_eq!(zlib_option("memLevel", Some(4.7), MEM_LEVEL_RANGE, 8), Ok(4));
        assert_eq!(zlib_option("level", Some(-0.5), LEVEL_RANGE, -1), Ok(0));
        for (name, value, range, message) in [
            (
                "memLevel",
                10.0,
                MEM_LEVEL_RANGE,
                "The value of \"options.memLevel\" is out of range. It must be >= 1 and <= 9. \
                 Received 10",
            ),
            (
                "level",
                -1.5,
                LEVEL_RANGE,
                "The value of \"options.level\" is out of range. It must be >= -1 and <= 9. \
                 Received -1.5",
            ),
            (
                "strategy",
                f64::INFINITY,
                STRATEGY_RANGE,
                "The value of \"options.strategy\" is out of range. It must be a finite number. \
                 Received Infinity",
            ),
            (
                "windowBits",
                1e10,
                WINDOW_BITS_RANGE,
                "The value of \"options.windowBits\" is out of range. It must be >= 8 and <= 15. \
                 Received 10_000_000_000",
            ),
        ] {
            let err = zlib_option(name, Some(value), range, 0).unwrap_err();
            assert_eq!((err.code(), err.message()), ("ERR_OUT_OF_RANGE", message));
        }
    }
}

//! The incremental frame receiver: bytes in ([`Receiver::push`]), events out (the
//! [`Iterator`] impl). Sans-IO: no sockets, no napi, no inflater; a compressed fragment comes
//! out as [`Event::Inflate`] and the caller hands the inflated bytes back with
//! [`Receiver::push_inflated`].
//!
//! It follows ws's `lib/receiver.js` state machine (`GET_INFO` … `INFLATING`, same numbers)
//! and checks in the same order, so a peer sees the same error as with ws. One deliberate
//! difference: text is validated fragment by fragment and fails on the first fragment after
//! which the message can no longer be valid UTF-8 (Autobahn 6.4.x), where ws waits for the
//! final fragment.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

use super::close_code::CloseCode;
use super::error::ProtocolError;
use super::frame::{OPCODE_BINARY, OPCODE_CLOSE, OPCODE_CONTINUATION, OPCODE_PING, OPCODE_TEXT};
use super::mask;
use super::utf8::{self, StreamValidator};

/// Options of a [`Receiver`], as ws's `Receiver` constructor options. Limits are 0 for
/// unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceiverConfig {
    /// Server role: frames from the client must be masked, else they must not be
    /// (RFC 6455 §5.1).
    pub is_server: bool,
    /// Largest message, in bytes: the sum of the frames' payload lengths, and separately the
    /// inflated size of a compressed message.
    pub max_payload: u64,
    /// Most frames per data message (empty ones count).
    pub max_fragments: u64,
    /// Most chunks buffered at once without being fully consumed.
    pub max_buffered_chunks: usize,
    /// Accept text messages and close reasons without checking their UTF-8.
    pub skip_utf8_validation: bool,
    /// permessage-deflate was negotiated: RSV1 may be set on the first frame of a data
    /// message (RFC 7692 §6).
    pub per_message_deflate: bool,
}

/// What the receiver found in the bytes pushed so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete data message: its non-empty fragments in order (inflated when it was
    /// compressed). Text has been validated as UTF-8 unless validation is skipped.
    Message {
        /// Binary (opcode 2) rather than text (opcode 1).
        binary: bool,
        /// The payload, one element per non-empty fragment (empty for an empty message).
        data: Vec<Bytes>,
    },
    /// A ping with its application data.
    Ping(Bytes),
    /// A pong with its application data.
    Pong(Bytes),
    /// A close frame: code 1005 and an empty reason when it had no payload. The receiver
    /// ignores everything after it, as ws does.
    Close {
        /// The validated status code.
        code: u16,
        /// The reason, validated UTF-8 unless validation is skipped.
        reason: Bytes,
    },
    /// A compressed fragment to inflate; hand the result back with
    /// [`Receiver::push_inflated`] before expecting more events.
    Inflate {
        /// The compressed fragment, unmasked.
        data: Bytes,
        /// It is the message's final fragment (the caller appends `00 00 ff ff`).
        fin: bool,
    },
}

/// ws's receiver states, with ws's numbers (`Receiver.prototype._state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    /// Waiting for the first two bytes of a frame.
    GetInfo = 0,
    /// Waiting for the 16-bit extended payload length.
    GetPayloadLength16 = 1,
    /// Waiting for the 64-bit extended payload length.
    GetPayloadLength64 = 2,
    /// Waiting for the masking key.
    GetMask = 3,
    /// Waiting for the payload.
    GetData = 4,
    /// Waiting for [`Receiver::push_inflated`].
    Inflating = 5,
}

/// What one step of the state machine produced.
enum Step {
    /// Keep parsing.
    Continue,
    /// More bytes (or an inflate result) are needed.
    NeedMore,
    /// An event for the caller.
    Emit(Event),
}

/// Frames whose payload spans chunks from this size on are gathered into one buffer as
/// they arrive (smaller ones are joined once complete).
const GATHER_MIN: usize = 64 * 1024;

/// The most a gathering buffer reserves up front; a larger payload grows it as it arrives.
const GATHER_CAPACITY_MAX: usize = 4 * 1024 * 1024;

/// An incremental WebSocket frame parser for one connection and one direction.
#[derive(Debug)]
pub struct Receiver {
    config: ReceiverConfig,
    /// Pushed chunks not yet fully consumed (ws's `_buffers`), with their total length.
    buffers: VecDeque<BytesMut>,
    buffered_bytes: usize,
    /// The only buffer holds the start of a large frame's payload, sized for all of it: the
    /// next chunks are appended to it, so the payload is copied once, not twice.
    gathering: bool,
    /// Chunks folded into the gathering buffer beyond the one it counts as, so that
    /// `max_buffered_chunks` counts what ws's `_buffers` would hold.
    folded_chunks: usize,
    state: State,

    // The current frame (ws's `_fin`, `_opcode`, `_masked`, `_mask`, `_payloadLength`).
    fin: bool,
    /// The frame's opcode, a continuation's replaced by its message's (as ws does).
    opcode: u8,
    masked: bool,
    mask: [u8; 4],
    payload_length: u64,
    /// Payload bytes of the current text frame already fed to the UTF-8 validator while the
    /// frame was still arriving (Autobahn 6.4.x: fail fast within a frame, too).
    frame_validated: usize,

    // The current data message.
    /// Its first frame had RSV1 set.
    compressed: bool,
    /// Its opcode while it is fragmented, else 0.
    fragmented: u8,
    total_payload_length: u64,
    /// Inflated bytes so far, for the `max_payload` check on compressed messages.
    message_length: u64,
    num_fragments: u64,
    fragments: Vec<Bytes>,
    utf8: StreamValidator,

    /// A close frame was received: the rest of the input is ignored (ws's `_write()`).
    closed: bool,
    /// An error was returned: the receiver is dead.
    errored: bool,
    /// The outcome of [`Receiver::push_inflated`], returned by the next `next()`.
    pending: Option<Result<Event, ProtocolError>>,
}

impl Receiver {
    /// A receiver at the start of a connection.
    pub fn new(config: ReceiverConfig) -> Self {
        Self {
            config,
            buffers: VecDeque::new(),
            buffered_bytes: 0,
            gathering: false,
            folded_chunks: 0,
            state: State::GetInfo,
            fin: false,
            opcode: 0,
            masked: false,
            mask: [0; 4],
            payload_length: 0,
            frame_validated: 0,
            compressed: false,
            fragmented: 0,
            total_payload_length: 0,
            message_length: 0,
            num_fragments: 0,
            fragments: Vec::new(),
            utf8: StreamValidator::new(),
            closed: false,
            errored: false,
            pending: None,
        }
    }

    /// Buffers a copy of `chunk`. Fails with
    /// [`ProtocolError::TooManyBufferedChunks`] when `max_buffered_chunks` chunks are already
    /// buffered (as ws's `_write()`: chunks only partly consumed still count). Input after a
    /// close frame or an error is dropped.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), ProtocolError> {
        if self.closed || self.errored {
            return Ok(());
        }
        let limit = self.config.max_buffered_chunks;
        if limit > 0 && self.buffers.len() + self.folded_chunks >= limit {
            self.errored = true;
            return Err(ProtocolError::TooManyBufferedChunks);
        }
        if chunk.is_empty() {
            return Ok(());
        }
        let mut rest = chunk;
        if self.gathering {
            // Only the payload's bytes join it; what follows the frame is a chunk of its own
            // (which then stands for this chunk in the count).
            let need = self.payload_remaining();
            let (payload, after) = rest.split_at(need.min(rest.len()));
            if let Some(gathered) = self.buffers.back_mut() {
                gathered.extend_from_slice(payload);
            }
            self.buffered_bytes += payload.len();
            self.gathering = payload.len() < need;
            if after.is_empty() {
                self.folded_chunks += 1;
            }
            rest = after;
        }
        if !rest.is_empty() {
            self.buffered_bytes += rest.len();
            self.buffers.push_back(BytesMut::from(rest));
        }
        Ok(())
    }

    /// Payload bytes of the current frame not buffered yet (in [`State::GetData`]).
    fn payload_remaining(&self) -> usize {
        usize::try_from(self.payload_length)
            .unwrap_or(usize::MAX)
            .saturating_sub(self.buffered_bytes)
    }

    /// Starts gathering a large frame's payload into one buffer (everything buffered is the
    /// start of it). Its capacity is bounded: a peer's length alone allocates little.
    fn gather(&mut self, len: usize) {
        let mut gathered = BytesMut::with_capacity(len.min(GATHER_CAPACITY_MAX));
        let count = self.buffers.len();
        for chunk in self.buffers.drain(..) {
            gathered.extend_from_slice(&chunk);
        }
        self.buffers.push_back(gathered);
        self.folded_chunks += count.saturating_sub(1);
        self.gathering = true;
    }

    /// Hands back the inflated bytes of the pending [`Event::Inflate`]. `fin` repeats the
    /// event's flag; the receiver trusts its own copy. Ignored unless the receiver is in
    /// [`State::Inflating`]. The outcome (a message, an error, or nothing for a non-final
    /// fragment) comes out of the next `next()`.
    pub fn push_inflated(&mut self, data: Bytes, fin: bool) {
        // The event's own flag decides; the argument mirrors the surface JS codes against.
        let _ = fin;
        if self.state != State::Inflating || self.errored {
            return;
        }
        self.pending = match self.inflated(data) {
            Ok(Step::Emit(event)) => Some(Ok(event)),
            Ok(_) => None,
            Err(err) => Some(Err(err)),
        };
    }

    /// ws's `_totalPayloadLength`: payload bytes of the current message's frames so far,
    /// reset when its final frame completes.
    pub fn total_payload_length(&self) -> u64 {
        self.total_payload_length
    }

    /// ws's state number (0 `GET_INFO` … 5 `INFLATING`).
    pub fn state(&self) -> u8 {
        self.state as u8
    }

    /// Bytes pushed and not consumed yet.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered_bytes
    }

    /// One step of ws's `startLoop()`.
    fn step(&mut self) -> Result<Step, ProtocolError> {
        match self.state {
            State::GetInfo => self.get_info(),
            State::GetPayloadLength16 => {
                let Some(bytes) = self.take_array::<2>() else { return Ok(Step::NeedMore) };
                self.payload_length = u64::from(u16::from_be_bytes(bytes));
                self.have_length()
            }
            State::GetPayloadLength64 => {
                let Some(bytes) = self.take_array::<8>() else { return Ok(Step::NeedMore) };
                let length = u64::from_be_bytes(bytes);
                // As ws's getPayloadLength64(): JS counts exactly only up to 2^53 - 1.
                if length > (1 << 53) - 1 {
                    return Err(ProtocolError::UnsupportedPayloadLength);
                }
                self.payload_length = length;
                self.have_length()
            }
            State::GetMask => {
                let Some(key) = self.take_array::<4>() else { return Ok(Step::NeedMore) };
                self.mask = key;
                self.state = State::GetData;
                Ok(Step::Continue)
            }
            State::GetData => self.get_data(),
            State::Inflating => Ok(Step::NeedMore),
        }
    }

    /// ws's `getInfo()`: the first two bytes, checked in ws's order.
    fn get_info(&mut self) -> Result<Step, ProtocolError> {
        let Some([b0, b1]) = self.take_array::<2>() else { return Ok(Step::NeedMore) };

        // RFC 6455 §5.2: RSV bits MUST be 0 unless an extension defines them.
        if b0 & 0x30 != 0 {
            return Err(ProtocolError::UnexpectedRsv23);
        }
        let compressed = b0 & 0x40 != 0;
        if compressed && !self.config.per_message_deflate {
            return Err(ProtocolError::UnexpectedRsv1);
        }

        self.fin = b0 & 0x80 != 0;
        self.opcode = b0 & 0x0f;
        self.payload_length = u64::from(b1 & 0x7f);

        match self.opcode {
            OPCODE_CONTINUATION => {
                // RFC 7692 §6.1: RSV1 only on the first frame of a message.
                if compressed {
                    return Err(ProtocolError::UnexpectedRsv1);
                }
                // RFC 6455 §5.4: a continuation needs a message to continue.
                if self.fragmented == 0 {
                    return Err(ProtocolError::InvalidOpcode(0));
                }
                self.opcode = self.fragmented;
            }
            OPCODE_TEXT | OPCODE_BINARY => {
                // RFC 6455 §5.4: fragments of different messages MUST NOT interleave.
                if self.fragmented != 0 {
                    return Err(ProtocolError::InvalidOpcode(self.opcode));
                }
                self.compressed = compressed;
            }
            0x08..=0x0a => {
                // RFC 6455 §5.5: control frames MUST NOT be fragmented.
                if !self.fin {
                    return Err(ProtocolError::ExpectedFin);
                }
                // RFC 7692 §6.1: control frames are never compressed.
                if compressed {
                    return Err(ProtocolError::UnexpectedRsv1);
                }
                // RFC 6455 §5.5: at most 125 bytes; §5.5.1: a close body starts with a
                // 2-byte code, so 1 byte is malformed.
                if self.payload_length > 125
                    || (self.opcode == OPCODE_CLOSE && self.payload_length == 1)
                {
                    return Err(ProtocolError::InvalidControlPayloadLength(b1 & 0x7f));
                }
            }
            other => return Err(ProtocolError::InvalidOpcode(other)),
        }

        if !self.fin && self.fragmented == 0 {
            self.fragmented = self.opcode;
        }
        self.masked = b1 & 0x80 != 0;

        // RFC 6455 §5.1: a server MUST close on an unmasked frame, a client on a masked one.
        if self.config.is_server {
            if !self.masked {
                return Err(ProtocolError::ExpectedMask);
            }
        } else if self.masked {
            return Err(ProtocolError::UnexpectedMask);
        }

        match self.payload_length {
            126 => {
                self.state = State::GetPayloadLength16;
                Ok(Step::Continue)
            }
            127 => {
                self.state = State::GetPayloadLength64;
                Ok(Step::Continue)
            }
            _ => self.have_length(),
        }
    }

    /// ws's `haveLength()`: enforce `max_payload` as soon as the length is known, before
    /// buffering a byte of the payload.
    fn have_length(&mut self) -> Result<Step, ProtocolError> {
        if self.payload_length > 0 && self.opcode < 0x08 {
            self.total_payload_length =
                self.total_payload_length.saturating_add(self.payload_length);
            let max = self.config.max_payload;
            if max > 0 && self.total_payload_length > max {
                return Err(ProtocolError::MaxPayloadExceeded);
            }
        }
        self.state = if self.masked { State::GetMask } else { State::GetData };
        Ok(Step::Continue)
    }

    /// ws's `getData()`.
    fn get_data(&mut self) -> Result<Step, ProtocolError> {
        let data = if self.payload_length > 0 {
            let Ok(len) = usize::try_from(self.payload_length) else { return Ok(Step::NeedMore) };
            if self.buffered_bytes < len {
                if !self.gathering && len >= GATHER_MIN {
                    self.gather(len);
                }
                self.check_partial_text()?;
                return Ok(Step::NeedMore);
            }
            let mut data = self.consume(len);
            self.gathering = false;
            self.folded_chunks = 0;
            // The first `frame_validated` bytes were unmasked in place as they arrived.
            let done = self.frame_validated;
            if self.masked && self.mask != [0; 4] && done < data.len() {
                mask::unmask_from(&mut data[done..], self.mask, done);
            }
            data.freeze()
        } else {
            Bytes::new()
        };

        if self.opcode > 0x07 {
            return self.control_message(data);
        }

        // ws #2329: every frame counts, empty ones included.
        if self.config.max_fragments > 0 {
            self.num_fragments += 1;
            if self.num_fragments > self.config.max_fragments {
                return Err(ProtocolError::TooManyFragments);
            }
        }

        if self.compressed {
            self.state = State::Inflating;
            return Ok(Step::Emit(Event::Inflate { data, fin: self.fin }));
        }

        let validated = std::mem::take(&mut self.frame_validated);
        if !data.is_empty() {
            self.check_text(data.get(validated..).unwrap_or_default(), validated > 0)?;
            self.fragments.push(data);
        }
        self.data_message()
    }

    /// Validates the part of an uncompressed text frame that has arrived so far, so that a
    /// frame whose first bytes already cannot be UTF-8 fails before the rest of it arrives
    /// (RFC 6455 §8.1 "fail fast"; ws waits for the whole message here).
    fn check_partial_text(&mut self) -> Result<(), ProtocolError> {
        if self.opcode != OPCODE_TEXT
            || self.compressed
            || self.config.skip_utf8_validation
            || self.buffered_bytes <= self.frame_validated
        {
            return Ok(());
        }
        // Every buffered byte belongs to this frame (the frame is longer than the buffer):
        // unmask the new bytes in place, once, and validate them where they lie.
        let mut offset = 0;
        let mut valid = true;
        for chunk in self.buffers.iter_mut() {
            let start = self.frame_validated.saturating_sub(offset).min(chunk.len());
            offset += chunk.len();
            let fresh = &mut chunk[start..];
            if fresh.is_empty() {
                continue;
            }
            if self.masked {
                mask::unmask_from(fresh, self.mask, offset - fresh.len());
            }
            valid = valid && self.utf8.feed(fresh);
        }
        self.frame_validated = self.buffered_bytes;
        if valid {
            Ok(())
        } else {
            Err(ProtocolError::InvalidUtf8)
        }
    }

    /// ws's `decompress()` callback: count the inflated bytes against `max_payload`.
    fn inflated(&mut self, data: Bytes) -> Result<Step, ProtocolError> {
        if !data.is_empty() {
            self.message_length = self.message_length.saturating_add(data.len() as u64);
            let max = self.config.max_payload;
            if max > 0 && self.message_length > max {
                return Err(ProtocolError::MaxPayloadExceeded);
            }
            self.check_text(&data, false)?;
            self.fragments.push(data);
        }
        self.data_message()
    }

    /// Validates the next non-empty piece of a text message (RFC 6455 §8.1), failing fast.
    /// `continued` says the validator already holds the start of this frame.
    fn check_text(&mut self, data: &[u8], continued: bool) -> Result<(), ProtocolError> {
        if self.opcode != OPCODE_TEXT || self.config.skip_utf8_validation {
            return Ok(());
        }
        let valid = if self.fin && self.fragments.is_empty() && !continued {
            // The whole message in one piece: no state to carry.
            utf8::is_valid(data)
        } else {
            self.utf8.feed(data)
        };
        if valid {
            Ok(())
        } else {
            Err(ProtocolError::InvalidUtf8)
        }
    }

    /// ws's `dataMessage()`: a non-final fragment waits for the next frame; a final one
    /// completes the message and resets the message state. On an error the state stays
    /// where it was, as in ws.
    fn data_message(&mut self) -> Result<Step, ProtocolError> {
        if !self.fin {
            self.state = State::GetInfo;
            return Ok(Step::Continue);
        }

        let binary = self.opcode == OPCODE_BINARY;
        let data = std::mem::take(&mut self.fragments);
        self.total_payload_length = 0;
        self.message_length = 0;
        self.fragmented = 0;
        self.num_fragments = 0;

        if !binary && !self.config.skip_utf8_validation {
            // A code point cut by the end of the message.
            let complete = self.utf8.finish();
            self.utf8.reset();
            if !complete {
                return Err(ProtocolError::InvalidUtf8);
            }
        }
        self.state = State::GetInfo;
        Ok(Step::Emit(Event::Message { binary, data }))
    }

    /// ws's `controlMessage()`.
    /// On an error the state stays `GetData`, as in ws.
    fn control_message(&mut self, data: Bytes) -> Result<Step, ProtocolError> {
        match self.opcode {
            OPCODE_CLOSE => {
                let event = match *data.as_ref() {
                    [] => {
                        Event::Close { code: CloseCode::NO_STATUS_RECEIVED.0, reason: Bytes::new() }
                    }
                    [hi, lo, ..] => {
                        let code = u16::from_be_bytes([hi, lo]);
                        if !CloseCode(code).is_valid() {
                            return Err(ProtocolError::InvalidCloseCode(code));
                        }
                        let reason = data.slice(2..);
                        if !self.config.skip_utf8_validation && !utf8::is_valid(&reason) {
                            return Err(ProtocolError::InvalidUtf8);
                        }
                        Event::Close { code, reason }
                    }
                    // Rejected in get_info(); kept as the same error for totality.
                    [_] => return Err(ProtocolError::InvalidControlPayloadLength(1)),
                };
                // As ws's `_write()`: nothing after a close frame is parsed.
                self.closed = true;
                self.buffers.clear();
                self.buffered_bytes = 0;
                self.state = State::GetInfo;
                Ok(Step::Emit(event))
            }
            OPCODE_PING => {
                self.state = State::GetInfo;
                Ok(Step::Emit(Event::Ping(data)))
            }
            _ => {
                self.state = State::GetInfo;
                Ok(Step::Emit(Event::Pong(data)))
            }
        }
    }

    /// Removes `N` bytes from the front of the buffered chunks, or returns `None` (consuming
    /// nothing) when fewer are buffered.
    fn take_array<const N: usize>(&mut self) -> Option<[u8; N]> {
        if self.buffered_bytes < N {
            return None;
        }
        let mut out = [0u8; N];
        let mut filled = 0;
        while filled < N {
            let front = self.buffers.front_mut()?;
            let n = front.len().min(N - filled);
            out[filled..filled + n].copy_from_slice(&front[..n]);
            front.advance(n);
            filled += n;
            if front.is_empty() {
                self.buffers.pop_front();
            }
        }
        self.buffered_bytes -= N;
        Some(out)
    }

    /// ws's `consume(n)`: `n` bytes off the front, without copying when they sit in one
    /// chunk. The caller has checked `n <= buffered_bytes`.
    fn consume(&mut self, n: usize) -> BytesMut {
        self.buffered_bytes -= n;
        if let Some(front) = self.buffers.front_mut() {
            if n < front.len() {
                return front.split_to(n);
            }
            if n == front.len() {
                return self.buffers.pop_front().unwrap_or_default();
            }
        }
        let mut out = BytesMut::with_capacity(n);
        while out.len() < n {
            let Some(front) = self.buffers.front_mut() else { break };
            let want = n - out.len();
            if front.len() <= want {
                out.extend_from_slice(front);
                self.buffers.pop_front();
            } else {
                out.extend_from_slice(&front.split_to(want));
            }
        }
        out
    }
}

impl Iterator for Receiver {
    type Item = Result<Event, ProtocolError>;

    /// Parses as far as the buffered bytes allow and returns the next event or error, or
    /// `None` when more bytes (or an inflate result) are needed. After an error, after a
    /// close frame, it returns `None` for ever. Not fused: more input brings more events.
    fn next(&mut self) -> Option<Self::Item> {
        if let Some(outcome) = self.pending.take() {
            self.errored = outcome.is_err();
            return Some(outcome);
        }
        if self.errored || self.closed {
            return None;
        }
        loop {
            match self.step() {
                Ok(Step::Continue) => {}
                Ok(Step::NeedMore) => return None,
                Ok(Step::Emit(event)) => return Some(Ok(event)),
                Err(err) => {
                    self.errored = true;
                    return Some(Err(err));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::{encode_frame, OPCODE_PONG};

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn client() -> ReceiverConfig {
        ReceiverConfig::default()
    }

    fn server() -> ReceiverConfig {
        ReceiverConfig { is_server: true, ..ReceiverConfig::default() }
    }

    fn pmd() -> ReceiverConfig {
        ReceiverConfig { per_message_deflate: true, ..ReceiverConfig::default() }
    }

    /// Feeds `input` as one chunk and collects every outcome.
    fn run(config: ReceiverConfig, input: &[u8]) -> Vec<Result<Event, ProtocolError>> {
        let mut receiver = Receiver::new(config);
        let mut out = Vec::new();
        if let Err(err) = receiver.push(input) {
            out.push(Err(err));
        }
        out.extend(&mut receiver);
        out
    }

    /// Feeds `input` one byte at a time (draining after each) and collects every outcome.
    fn run_bytewise(config: ReceiverConfig, input: &[u8]) -> Vec<Result<Event, ProtocolError>> {
        let mut receiver = Receiver::new(config);
        let mut out = Vec::new();
        for byte in input {
            if let Err(err) = receiver.push(std::slice::from_ref(byte)) {
                out.push(Err(err));
            }
            out.extend(&mut receiver);
        }
        out
    }

    /// Both ways of feeding must agree; returns the outcomes.
    fn both(config: ReceiverConfig, input: &[u8]) -> Vec<Result<Event, ProtocolError>> {
        let whole = run(config, input);
        assert_eq!(whole, run_bytewise(config, input), "one chunk and byte-at-a-time differ");
        whole
    }

    fn error_of(config: ReceiverConfig, input: &[u8]) -> ProtocolError {
        let out = both(config, input);
        match out.last() {
            Some(Err(err)) => *err,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    fn text(s: &str) -> Event {
        let data = if s.is_empty() { vec![] } else { vec![Bytes::copy_from_slice(s.as_bytes())] };
        Event::Message { binary: false, data }
    }

    fn binary(parts: &[&[u8]]) -> Event {
        Event::Message {
            binary: true,
            data: parts.iter().map(|p| Bytes::copy_from_slice(p)).collect(),
        }
    }

    #[test]
    fn parses_an_unmasked_text_message() {
        assert_eq!(both(client(), &hex("810548656c6c6f")), [Ok(text("Hello"))]);
    }

    #[test]
    fn parses_a_masked_text_message_as_server() {
        assert_eq!(
            both(server(), &hex("81933483a86801b992524fa1c60959e68a5216e6cb005ba1d5")),
            [Ok(text("5:::{\"name\":\"echo\"}"))]
        );
    }

    #[test]
    fn parses_the_rfc_6455_examples() {
        assert_eq!(both(server(), &hex("818537fa213d7f9f4d5158")), [Ok(text("Hello"))]);
        assert_eq!(
            both(client(), &hex("010348656c 80026c6f")),
            [Ok(Event::Message {
                binary: false,
                data: vec![Bytes::from_static(b"Hel"), Bytes::from_static(b"lo")]
            })]
        );
        assert_eq!(
            both(client(), &hex("890548656c6c6f")),
            [Ok(Event::Ping(Bytes::from_static(b"Hello")))]
        );
        assert_eq!(
            both(server(), &hex("8a8537fa213d7f9f4d5158")),
            [Ok(Event::Pong(Bytes::from_static(b"Hello")))]
        );
        let mut big = hex("827e0100");
        big.extend(std::iter::repeat_n(0x61, 256));
        assert_eq!(both(client(), &big), [Ok(binary(&[&[0x61; 256]]))]);
        let mut huge = hex("827f0000000000010000");
        huge.extend(std::iter::repeat_n(0x62, 65_536));
        assert_eq!(run(client(), &huge), [Ok(binary(&[&vec![0x62; 65_536]]))]);
    }

    #[test]
    fn parses_a_close_frame_with_and_without_a_body() {
        assert_eq!(
            both(client(), &hex("8800")),
            [Ok(Event::Close { code: 1005, reason: Bytes::new() })]
        );
        assert_eq!(
            both(client(), &hex("880703e848656c6c6f")),
            [Ok(Event::Close { code: 1000, reason: Bytes::from_static(b"Hello") })]
        );
    }

    #[test]
    fn ignores_everything_after_a_close_frame() {
        let mut receiver = Receiver::new(client());
        receiver.push(&hex("8800 810548656c6c6f")).unwrap();
        assert_eq!(receiver.next(), Some(Ok(Event::Close { code: 1005, reason: Bytes::new() })));
        assert_eq!(receiver.next(), None);
        receiver.push(&hex("8100")).unwrap();
        assert_eq!(receiver.next(), None);
        assert_eq!(receiver.state(), 0);
    }

    #[test]
    fn parses_a_ping_in_the_middle_of_a_fragmented_message() {
        let input = hex("010248658900 80036c6c6f");
        assert_eq!(
            both(client(), &input),
            [
                Ok(Event::Ping(Bytes::new())),
                Ok(Event::Message {
                    binary: false,
                    data: vec![Bytes::from_static(b"He"), Bytes::from_static(b"llo")]
                })
            ]
        );
    }

    #[test]
    fn parses_thousands_of_empty_frames_in_one_chunk() {
        let input: Vec<u8> = std::iter::repeat_n([0x81, 0x00], 20_000).flatten().collect();
        let out = run(client(), &input);
        assert_eq!(out.len(), 20_000);
        assert!(out.iter().all(|e| *e == Ok(Event::Message { binary: false, data: vec![] })));
    }

    #[test]
    fn skips_unmasking_with_an_all_zero_key() {
        assert_eq!(both(server(), &hex("81850000000048656c6c6f")), [Ok(text("Hello"))]);
    }

    #[test]
    fn total_payload_length_resets_only_on_the_final_frame() {
        let mut receiver = Receiver::new(ReceiverConfig { max_payload: 10, ..client() });
        receiver.push(&hex("02024865")).unwrap();
        assert_eq!(receiver.next(), None);
        assert_eq!(receiver.total_payload_length(), 2);
        receiver.push(&hex("8900")).unwrap();
        assert_eq!(receiver.next(), Some(Ok(Event::Ping(Bytes::new()))));
        assert_eq!(receiver.total_payload_length(), 2);
        receiver.push(&hex("80036c6c6f")).unwrap();
        assert_eq!(receiver.next(), Some(Ok(binary(&[b"He", b"llo"]))));
        assert_eq!(receiver.total_payload_length(), 0);
    }

    #[test]
    fn reports_ws_state_numbers_while_parsing() {
        let mut receiver = Receiver::new(server());
        let frame = encode_frame(&[1; 300], OPCODE_BINARY, true, false, Some(KEY));
        let mut states = Vec::new();
        for byte in &frame {
            receiver.push(std::slice::from_ref(byte)).unwrap();
            if let Some(event) = receiver.next() {
                assert_eq!(event, Ok(binary(&[&[1; 300]])));
            }
            states.push(receiver.state());
        }
        assert_eq!(&states[..8], &[0, 1, 1, 3, 3, 3, 3, 4]);
        assert_eq!(states.last(), Some(&0));
        let mut receiver = Receiver::new(client());
        receiver.push(&hex("827f00")).unwrap();
        assert_eq!(receiver.next(), None);
        assert_eq!(receiver.state(), 2);
    }

    // Errors, in ws's test/receiver.test.js order.

    #[test]
    fn rejects_rsv1_without_permessage_deflate() {
        assert_eq!(error_of(server(), &hex("c28000000000")), ProtocolError::UnexpectedRsv1);
    }

    #[test]
    fn rejects_rsv1_on_a_continuation_frame() {
        assert_eq!(
            both(pmd(), &hex("010141 c00142")),
            [Err(ProtocolError::UnexpectedRsv1)],
            "the first fragment is not compressed, so it completes silently"
        );
    }

    #[test]
    fn rejects_rsv2_and_rsv3() {
        assert_eq!(error_of(server(), &hex("a200")), ProtocolError::UnexpectedRsv23);
        assert_eq!(error_of(server(), &hex("9200")), ProtocolError::UnexpectedRsv23);
    }

    #[test]
    fn rsv2_is_checked_before_rsv1() {
        assert_eq!(error_of(client(), &hex("e100")), ProtocolError::UnexpectedRsv23);
    }

    #[test]
    fn rejects_a_continuation_frame_without_a_message() {
        assert_eq!(error_of(server(), &hex("008000000000")), ProtocolError::InvalidOpcode(0));
    }

    #[test]
    fn rejects_a_new_data_frame_inside_a_fragmented_message() {
        assert_eq!(error_of(client(), &hex("010141 0100")), ProtocolError::InvalidOpcode(1));
        assert_eq!(error_of(client(), &hex("020141 0200")), ProtocolError::InvalidOpcode(2));
    }

    #[test]
    fn rejects_reserved_opcodes() {
        for opcode in [3u8, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf] {
            assert_eq!(
                error_of(client(), &[0x80 | opcode, 0x00]),
                ProtocolError::InvalidOpcode(opcode)
            );
        }
    }

    #[test]
    fn rejects_a_fragmented_control_frame() {
        assert_eq!(error_of(server(), &hex("0900")), ProtocolError::ExpectedFin);
        assert_eq!(error_of(server(), &hex("0800")), ProtocolError::ExpectedFin);
    }

    #[test]
    fn rejects_rsv1_on_a_control_frame_even_with_permessage_deflate() {
        assert_eq!(error_of(pmd(), &hex("c900")), ProtocolError::UnexpectedRsv1);
        // FIN is checked first.
        assert_eq!(error_of(pmd(), &hex("4900")), ProtocolError::ExpectedFin);
    }

    #[test]
    fn rejects_an_unmasked_frame_as_server() {
        assert_eq!(error_of(server(), &hex("810548656c6c6f")), ProtocolError::ExpectedMask);
    }

    #[test]
    fn rejects_a_masked_frame_as_client() {
        assert_eq!(
            error_of(client(), &hex("818537fa213d7f9f4d5158")),
            ProtocolError::UnexpectedMask
        );
    }

    #[test]
    fn rejects_a_control_frame_over_125_bytes() {
        assert_eq!(
            error_of(client(), &hex("897e")),
            ProtocolError::InvalidControlPayloadLength(126)
        );
        assert_eq!(
            error_of(client(), &hex("8a7f")),
            ProtocolError::InvalidControlPayloadLength(127)
        );
    }

    #[test]
    fn control_length_is_checked_before_the_mask() {
        assert_eq!(
            error_of(server(), &hex("887e")),
            ProtocolError::InvalidControlPayloadLength(126)
        );
    }

    #[test]
    fn rejects_a_payload_length_over_2_pow_53_minus_1() {
        assert_eq!(
            error_of(client(), &hex("827f0020000000000000")),
            ProtocolError::UnsupportedPayloadLength
        );
        // 2^53 - 1 itself is accepted (and waits for the payload).
        assert_eq!(both(client(), &hex("827f001fffffffffffff")), []);
    }

    #[test]
    fn rejects_invalid_utf8_in_a_text_frame() {
        assert_eq!(error_of(client(), &hex("8104cebae1bd")), ProtocolError::InvalidUtf8);
    }

    #[test]
    fn rejects_invalid_utf8_before_the_rest_of_the_frame_arrives() {
        // Autobahn 6.4.3/6.4.4: a 10-byte text frame whose first bytes already cannot be
        // UTF-8 fails at once, masked or not.
        let frame = encode_frame(b"\xce\xba\xffrest-of", OPCODE_TEXT, true, false, None);
        let mut receiver = Receiver::new(client());
        assert_eq!(receiver.push(&frame[..5]), Ok(()));
        assert_eq!(receiver.next(), Some(Err(ProtocolError::InvalidUtf8)));

        let frame = encode_frame(b"\xce\xba\xffrest-of", OPCODE_TEXT, true, false, Some(KEY));
        let mut receiver = Receiver::new(server());
        for byte in &frame[..9] {
            assert_eq!(receiver.push(std::slice::from_ref(byte)), Ok(()));
            if let Some(out) = receiver.next() {
                assert_eq!(out, Err(ProtocolError::InvalidUtf8));
                return;
            }
        }
        panic!("the invalid byte was not reported before the frame completed");
    }

    #[test]
    fn rejects_invalid_utf8_on_the_first_fragment_that_cannot_be_valid() {
        // "κ" then an impossible byte in the first fragment: no need to wait for FIN.
        let out = both(client(), &hex("0103ceba ff"));
        assert_eq!(out, [Err(ProtocolError::InvalidUtf8)]);
        // A code point split across fragments is fine.
        assert_eq!(
            both(client(), &hex("0101ce 8001ba")),
            [Ok(Event::Message {
                binary: false,
                data: vec![Bytes::from_static(&[0xce]), Bytes::from_static(&[0xba])]
            })]
        );
        // A truncated code point at the end of the message is not.
        assert_eq!(error_of(client(), &hex("0101ce 8000")), ProtocolError::InvalidUtf8);
    }

    #[test]
    fn accepts_invalid_utf8_when_validation_is_skipped() {
        let config = ReceiverConfig { skip_utf8_validation: true, ..client() };
        assert_eq!(
            both(config, &hex("8104cebae1bd")),
            [Ok(Event::Message {
                binary: false,
                data: vec![Bytes::from_static(&[0xce, 0xba, 0xe1, 0xbd])]
            })]
        );
        assert_eq!(
            both(config, &hex("880603efcebae1bd")),
            [Ok(Event::Close {
                code: 1007,
                reason: Bytes::from_static(&[0xce, 0xba, 0xe1, 0xbd])
            })]
        );
    }

    #[test]
    fn binary_messages_are_not_validated() {
        assert_eq!(both(client(), &hex("8202ffff")), [Ok(binary(&[&[0xff, 0xff]]))]);
    }

    #[test]
    fn rejects_a_close_frame_of_1_byte() {
        assert_eq!(error_of(client(), &hex("8801")), ProtocolError::InvalidControlPayloadLength(1));
    }

    #[test]
    fn rejects_an_invalid_close_code() {
        assert_eq!(error_of(client(), &hex("88020000")), ProtocolError::InvalidCloseCode(0));
        assert_eq!(error_of(client(), &hex("880203ed")), ProtocolError::InvalidCloseCode(1005));
    }

    #[test]
    fn rejects_a_close_reason_with_invalid_utf8() {
        assert_eq!(error_of(client(), &hex("880603efcebae1bd")), ProtocolError::InvalidUtf8);
    }

    #[test]
    fn rejects_a_frame_over_max_payload_before_buffering_it() {
        let config = ReceiverConfig { max_payload: 20 * 1024, ..server() };
        let frame = encode_frame(&vec![0; 200 * 1024], OPCODE_BINARY, true, false, Some(KEY));
        let mut receiver = Receiver::new(config);
        receiver.push(&frame[..10]).unwrap();
        assert_eq!(receiver.next(), Some(Err(ProtocolError::MaxPayloadExceeded)));
        assert_eq!(receiver.next(), None);
    }

    #[test]
    fn gathers_a_large_payload_across_chunks_and_counts_them_as_ws_does() {
        let payload: Vec<u8> = (0..200 * 1024).map(|i| (i % 251) as u8).collect();
        let mut input = encode_frame(&payload, OPCODE_BINARY, true, false, Some(KEY));
        input.extend_from_slice(&encode_frame(&[], 0x0a, true, false, Some(KEY)));
        let cuts = [100, 70_000, 70_001, 150_000, input.len() - 1];
        let mut receiver = Receiver::new(server());
        let mut out = Vec::new();
        let mut from = 0;
        for &to in cuts.iter().chain([input.len()].iter()) {
            receiver.push(&input[from..to]).unwrap();
            out.extend(&mut receiver);
            from = to;
        }
        assert_eq!(out, [Ok(binary(&[&payload])), Ok(Event::Pong(Bytes::new()))]);

        // ws's `_buffers` holds every chunk of the unfinished frame: the third one is refused.
        let config = ReceiverConfig { max_buffered_chunks: 2, ..server() };
        let mut receiver = Receiver::new(config);
        receiver.push(&input[..100]).unwrap();
        assert_eq!(receiver.next(), None);
        receiver.push(&input[100..70_000]).unwrap();
        assert_eq!(receiver.next(), None);
        assert_eq!(receiver.push(&input[70_000..]), Err(ProtocolError::TooManyBufferedChunks));
    }

    #[test]
    fn max_payload_counts_the_fragments_of_a_message() {
        let config = ReceiverConfig { max_payload: 4, ..client() };
        assert_eq!(
            both(config, &hex("0202aaaa 8002bbbb")),
            [Ok(binary(&[&[0xaa, 0xaa], &[0xbb, 0xbb]]))]
        );
        assert_eq!(
            error_of(config, &hex("0202aaaa 8003bbbbbb")),
            ProtocolError::MaxPayloadExceeded
        );
        // Control frames do not count.
        assert_eq!(both(config, &hex("0202aaaa 8905 0102030405 8002bbbb")).len(), 2);
    }

    #[test]
    fn rejects_too_many_fragments() {
        let config = ReceiverConfig { max_fragments: 2, ..client() };
        assert_eq!(error_of(config, &hex("020161 000162 000163")), ProtocolError::TooManyFragments);
    }

    #[test]
    fn empty_fragments_count_toward_max_fragments() {
        let config = ReceiverConfig { max_fragments: 2, ..client() };
        assert_eq!(error_of(config, &hex("0200 0000 0000")), ProtocolError::TooManyFragments);
        assert_eq!(both(config, &hex("0200 8000")), [Ok(binary(&[]))]);
    }

    #[test]
    fn rejects_too_many_buffered_chunks() {
        let mut receiver = Receiver::new(ReceiverConfig { max_buffered_chunks: 2, ..client() });
        receiver.push(&hex("8205")).unwrap();
        assert_eq!(receiver.next(), None);
        receiver.push(&[0x61]).unwrap();
        assert_eq!(receiver.next(), None);
        receiver.push(&[0x62]).unwrap();
        assert_eq!(receiver.next(), None);
        assert_eq!(receiver.push(&[0x63]), Err(ProtocolError::TooManyBufferedChunks));
        assert_eq!(receiver.next(), None);
    }

    #[test]
    fn a_partly_consumed_chunk_still_counts_as_buffered() {
        let mut receiver = Receiver::new(ReceiverConfig { max_buffered_chunks: 1, ..client() });
        receiver.push(&hex("8100 8205 61")).unwrap();
        assert_eq!(receiver.next(), Some(Ok(text(""))));
        assert_eq!(receiver.next(), None);
        assert_eq!(receiver.push(&[0x62]), Err(ProtocolError::TooManyBufferedChunks));
    }

    #[test]
    fn the_state_stays_where_ws_leaves_it_after_an_error() {
        for (input, state) in [
            ("8300", 0),
            ("827e ffff", 1),
            ("8803 03e8ff", 4),
            ("0101ce 8000", 4),
            ("820161 000162", 0),
        ] {
            let config = ReceiverConfig { max_payload: 100, max_fragments: 1, ..client() };
            let mut receiver = Receiver::new(config);
            receiver.push(&hex(input)).unwrap();
            let errors: Vec<_> = (&mut receiver).filter(Result::is_err).collect();
            assert_eq!(errors.len(), 1, "{input}");
            assert_eq!(receiver.state(), state, "{input}");
        }
    }

    #[test]
    fn the_receiver_is_dead_after_an_error() {
        let mut receiver = Receiver::new(client());
        receiver.push(&hex("83008100")).unwrap();
        assert_eq!(receiver.next(), Some(Err(ProtocolError::InvalidOpcode(3))));
        assert_eq!(receiver.next(), None);
        receiver.push(&hex("8100")).unwrap();
        assert_eq!(receiver.next(), None);
    }

    // permessage-deflate: the caller inflates.

    #[test]
    fn hands_compressed_fragments_out_and_takes_the_inflated_bytes_back() {
        let mut receiver = Receiver::new(pmd());
        receiver.push(&hex("4103aabbcc 8002ddee 8900")).unwrap();
        assert_eq!(
            receiver.next(),
            Some(Ok(Event::Inflate { data: Bytes::from_static(&[0xaa, 0xbb, 0xcc]), fin: false }))
        );
        assert_eq!(receiver.state(), 5);
        assert_eq!(receiver.next(), None, "waits for the inflate result");
        receiver.push_inflated(Bytes::from_static(b"Hel"), false);
        assert_eq!(receiver.state(), 0);
        assert_eq!(receiver.total_payload_length(), 3);
        assert_eq!(
            receiver.next(),
            Some(Ok(Event::Inflate { data: Bytes::from_static(&[0xdd, 0xee]), fin: true }))
        );
        receiver.push_inflated(Bytes::from_static(b"lo"), true);
        assert_eq!(
            receiver.next(),
            Some(Ok(Event::Message {
                binary: false,
                data: vec![Bytes::from_static(b"Hel"), Bytes::from_static(b"lo")]
            }))
        );
        assert_eq!(receiver.total_payload_length(), 0);
        assert_eq!(receiver.next(), Some(Ok(Event::Ping(Bytes::new()))));
    }

    #[test]
    fn an_empty_compressed_message_yields_an_empty_message() {
        let mut receiver = Receiver::new(pmd());
        receiver.push(&hex("c10100 8800 8100")).unwrap();
        assert_eq!(
            receiver.next(),
            Some(Ok(Event::Inflate { data: Bytes::from_static(&[0]), fin: true }))
        );
        receiver.push_inflated(Bytes::new(), true);
        assert_eq!(receiver.next(), Some(Ok(text(""))));
        assert_eq!(receiver.next(), Some(Ok(Event::Close { code: 1005, reason: Bytes::new() })));
        assert_eq!(receiver.next(), None);
    }

    #[test]
    fn validates_inflated_text() {
        let mut receiver = Receiver::new(pmd());
        receiver.push(&hex("c10100")).unwrap();
        assert!(matches!(receiver.next(), Some(Ok(Event::Inflate { .. }))));
        receiver.push_inflated(Bytes::from_static(&[0xce, 0xba, 0xe1, 0xbd]), true);
        assert_eq!(receiver.next(), Some(Err(ProtocolError::InvalidUtf8)));
        assert_eq!(receiver.next(), None);
    }

    #[test]
    fn fails_fast_on_inflated_text_that_cannot_be_valid() {
        let mut receiver = Receiver::new(pmd());
        receiver.push(&hex("410100 800100")).unwrap();
        assert!(matches!(receiver.next(), Some(Ok(Event::Inflate { fin: false, .. }))));
        receiver.push_inflated(Bytes::from_static(&[0x61, 0xff]), false);
        assert_eq!(receiver.next(), Some(Err(ProtocolError::InvalidUtf8)));
    }

    #[test]
    fn counts_inflated_bytes_toward_max_payload() {
        let mut receiver = Receiver::new(ReceiverConfig { max_payload: 25, ..pmd() });
        receiver.push(&hex("410100 800100")).unwrap();
        assert!(matches!(receiver.next(), Some(Ok(Event::Inflate { .. }))));
        receiver.push_inflated(Bytes::from(vec![0x41; 15]), false);
        assert!(matches!(receiver.next(), Some(Ok(Event::Inflate { .. }))));
        receiver.push_inflated(Bytes::from(vec![0x41; 15]), true);
        assert_eq!(receiver.next(), Some(Err(ProtocolError::MaxPayloadExceeded)));
    }

    #[test]
    fn compressed_fragments_count_toward_max_fragments() {
        let mut receiver = Receiver::new(ReceiverConfig { max_fragments: 1, ..pmd() });
        receiver.push(&hex("410100 800100")).unwrap();
        assert!(matches!(receiver.next(), Some(Ok(Event::Inflate { .. }))));
        receiver.push_inflated(Bytes::from_static(b"foo"), false);
        assert_eq!(receiver.next(), Some(Err(ProtocolError::TooManyFragments)));
    }

    #[test]
    fn push_inflated_outside_inflating_is_ignored() {
        let mut receiver = Receiver::new(pmd());
        receiver.push_inflated(Bytes::from_static(b"x"), false);
        assert_eq!(receiver.next(), None);
        receiver.push(&hex("8100")).unwrap();
        assert_eq!(receiver.next(), Some(Ok(text(""))));
    }

    #[test]
    fn random_bytes_never_panic_in_any_role() {
        let mut rng = Rng(0x0123_4567_89ab_cdef);
        for _ in 0..2000 {
            let config = ReceiverConfig {
                is_server: rng.below(2) == 0,
                per_message_deflate: rng.below(2) == 0,
                max_payload: rng.below(3) as u64 * 100,
                max_fragments: rng.below(3) as u64,
                max_buffered_chunks: rng.below(3) * 4,
                skip_utf8_validation: rng.below(2) == 0,
            };
            let mut receiver = Receiver::new(config);
            let n = rng.below(300);
            let input = rng.bytes(n);
            for chunk in input.chunks(1 + rng.below(16)) {
                if receiver.push(chunk).is_err() {
                    break;
                }
                while let Some(outcome) = receiver.next() {
                    if let Ok(Event::Inflate { data, fin }) = outcome {
                        receiver.push_inflated(data, fin);
                    }
                }
            }
            assert!(receiver.state() <= 5);
        }
    }

    // parse(encode(x)) == x across random chunk boundaries.

    /// xorshift64*: small, seeded, good enough to pick sizes and split points.
    struct Rng(u64);

    impl Rng {
        fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next_u64() % n as u64) as usize
        }

        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next_u64() as u8).collect()
        }

        fn text(&mut self, n: usize) -> String {
            const PIECES: [&str; 6] = ["a", "Hello", "é", "κόσμε", "€", "😀"];
            let mut s = String::new();
            while s.len() < n {
                s.push_str(PIECES[self.below(PIECES.len())]);
            }
            s
        }

        fn size(&mut self) -> usize {
            match self.below(10) {
                0 => 0,
                1..=5 => self.below(126),
                6..=8 => 126 + self.below(1000),
                _ => 65_536 + self.below(3000),
            }
        }
    }

    /// Splits `data` into fragments at random points (empty fragments allowed).
    fn fragment(rng: &mut Rng, data: &[u8]) -> Vec<Vec<u8>> {
        let count = 1 + rng.below(4);
        let mut cuts: Vec<usize> = (1..count).map(|_| rng.below(data.len() + 1)).collect();
        cuts.sort_unstable();
        let mut out = Vec::new();
        let mut start = 0;
        for cut in cuts.into_iter().chain([data.len()]) {
            out.push(data[start..cut].to_vec());
            start = cut;
        }
        out
    }

    #[test]
    fn parse_of_encode_is_the_identity_across_random_chunk_boundaries() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..200 {
            let is_server = rng.below(2) == 0;
            let per_message_deflate = rng.below(2) == 0;
            let mut wire = Vec::new();
            let mut expected = Vec::new();
            for _ in 0..1 + rng.below(8) {
                let key = if is_server { Some([rng.next_u64() as u8, 1, 2, 3]) } else { None };
                match rng.below(5) {
                    0 | 1 => {
                        let binary = rng.below(2) == 0;
                        let len = rng.size();
                        let payload =
                            if binary { rng.bytes(len) } else { rng.text(len).into_bytes() };
                        let parts = fragment(&mut rng, &payload);
                        let last = parts.len() - 1;
                        // With permessage-deflate, RSV1 on the first frame; the harness
                        // below "inflates" with the identity.
                        let compressed = per_message_deflate && rng.below(2) == 0;
                        for (i, part) in parts.iter().enumerate() {
                            let opcode = match (i, binary) {
                                (0, true) => OPCODE_BINARY,
                                (0, false) => OPCODE_TEXT,
                                _ => OPCODE_CONTINUATION,
                            };
                            let rsv1 = compressed && i == 0;
                            wire.extend(encode_frame(part, opcode, i == last, rsv1, key));
                            // A control frame may sit between fragments.
                            if i != last && rng.below(3) == 0 {
                                wire.extend(encode_frame(b"mid", OPCODE_PING, true, false, key));
                                expected.push(Event::Ping(Bytes::from_static(b"mid")));
                            }
                        }
                        let data =
                            parts.into_iter().filter(|p| !p.is_empty()).map(Bytes::from).collect();
                        expected.push(Event::Message { binary, data });
                    }
                    2 => {
                        let n = rng.below(126);
                        let payload = rng.bytes(n);
                        wire.extend(encode_frame(&payload, OPCODE_PING, true, false, key));
                        expected.push(Event::Ping(Bytes::from(payload)));
                    }
                    _ => {
                        let n = rng.below(126);
                        let payload = rng.bytes(n);
                        wire.extend(encode_frame(&payload, OPCODE_PONG, true, false, key));
                        expected.push(Event::Pong(Bytes::from(payload)));
                    }
                }
            }
            let close_last = rng.below(2) == 0;
            if close_last {
                let key = if is_server { Some(KEY) } else { None };
                let mut body = 4000u16.to_be_bytes().to_vec();
                body.extend_from_slice("bye €".as_bytes());
                wire.extend(encode_frame(&body, OPCODE_CLOSE, true, false, key));
                expected.push(Event::Close {
                    code: 4000,
                    reason: Bytes::from_static("bye €".as_bytes()),
                });
                // Ignored: it follows the close frame.
                wire.extend(encode_frame(b"late", OPCODE_BINARY, true, false, key));
            }

            let config =
                ReceiverConfig { is_server, per_message_deflate, ..ReceiverConfig::default() };
            let mut receiver = Receiver::new(config);
            let mut got = Vec::new();
            let mut rest = &wire[..];
            while !rest.is_empty() {
                let n = match rng.below(4) {
                    0 => 1,
                    1 => 1 + rng.below(8),
                    2 => 1 + rng.below(200),
                    _ => 1 + rng.below(70_000),
                }
                .min(rest.len());
                let (chunk, tail) = rest.split_at(n);
                receiver.push(chunk).unwrap();
                while let Some(outcome) = receiver.next() {
                    match outcome.unwrap() {
                        Event::Inflate { data, fin } => receiver.push_inflated(data, fin),
                        event => got.push(event),
                    }
                }
                rest = tail;
            }
            assert_eq!(got, expected, "round {round}");
            assert_eq!(receiver.state(), 0);
        }
    }
}

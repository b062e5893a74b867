//! Frame layout and encoding (RFC 6455 §5.2). Sans-IO: bytes in, bytes out, no napi.
//!
//! The encoder writes what ws's `Sender.frame()` writes: the shortest length form that ws
//! picks (7-bit up to 125, 16-bit up to 65535, else 64-bit) and, for masked frames, the
//! payload XORed in the same pass as the copy ([`mask::mask_into`]).

use super::mask;

/// Opcode of a continuation frame.
pub const OPCODE_CONTINUATION: u8 = 0x0;
/// Opcode of a text frame.
pub const OPCODE_TEXT: u8 = 0x1;
/// Opcode of a binary frame.
pub const OPCODE_BINARY: u8 = 0x2;
/// Opcode of a close frame.
pub const OPCODE_CLOSE: u8 = 0x8;
/// Opcode of a ping frame.
pub const OPCODE_PING: u8 = 0x9;
/// Opcode of a pong frame.
pub const OPCODE_PONG: u8 = 0xa;

/// Longest payload of a control frame (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// A frame opcode (RFC 6455 §5.2), with the reserved values kept as they came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// 0x0: continues a fragmented message.
    Continuation,
    /// 0x1: a text (UTF-8) data frame.
    Text,
    /// 0x2: a binary data frame.
    Binary,
    /// 0x8: a close control frame.
    Close,
    /// 0x9: a ping control frame.
    Ping,
    /// 0xA: a pong control frame.
    Pong,
    /// 0x3-0x7 and 0xB-0xF: reserved, a protocol error when received.
    Reserved(u8),
}

impl OpCode {
    /// The opcode of the low 4 bits of `byte`.
    pub fn from_u8(byte: u8) -> Self {
        match byte & 0x0f {
            OPCODE_CONTINUATION => Self::Continuation,
            OPCODE_TEXT => Self::Text,
            OPCODE_BINARY => Self::Binary,
            OPCODE_CLOSE => Self::Close,
            OPCODE_PING => Self::Ping,
            OPCODE_PONG => Self::Pong,
            other => Self::Reserved(other),
        }
    }

    /// The 4-bit wire value.
    pub fn as_u8(self) -> u8 {
        match self {
            Self::Continuation => OPCODE_CONTINUATION,
            Self::Text => OPCODE_TEXT,
            Self::Binary => OPCODE_BINARY,
            Self::Close => OPCODE_CLOSE,
            Self::Ping => OPCODE_PING,
            Self::Pong => OPCODE_PONG,
            Self::Reserved(other) => other & 0x0f,
        }
    }

    /// True for close, ping, pong and the reserved control range 0xB-0xF (the high bit of
    /// the opcode is set, RFC 6455 §5.5).
    pub fn is_control(self) -> bool {
        self.as_u8() & 0x08 != 0
    }
}

/// The fields of a frame header (RFC 6455 §5.2), the payload length already decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameHeader {
    /// FIN: this is the final fragment of a message.
    pub fin: bool,
    /// RSV1: with permessage-deflate, the message is compressed (RFC 7692 §6).
    pub rsv1: bool,
    /// RSV2: no extension we support uses it.
    pub rsv2: bool,
    /// RSV3: no extension we support uses it.
    pub rsv3: bool,
    /// The 4-bit opcode.
    pub opcode: u8,
    /// The masking key, when the MASK bit is set.
    pub mask: Option<[u8; 4]>,
    /// The payload length in bytes.
    pub payload_len: u64,
}

impl FrameHeader {
    /// The encoded size of this header: 2 bytes, plus 2 or 8 for the extended length, plus
    /// 4 for the masking key.
    pub fn encoded_len(&self) -> usize {
        let extended = match self.payload_len {
            0..=125 => 0,
            126..=65_535 => 2,
            _ => 8,
        };
        2 + extended + if self.mask.is_some() { 4 } else { 0 }
    }

    /// The encoded header: a 14-byte buffer (the longest header) and how much of it is used.
    pub fn to_bytes(&self) -> ([u8; MAX_HEADER_LEN], usize) {
        let mut out = [0u8; MAX_HEADER_LEN];
        let mut first = self.opcode & 0x0f;
        if self.fin {
            first |= 0x80;
        }
        if self.rsv1 {
            first |= 0x40;
        }
        if self.rsv2 {
            first |= 0x20;
        }
        if self.rsv3 {
            first |= 0x10;
        }
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        out[0] = first;
        // As ws's Sender.frame(): 16-bit form below 65536, 64-bit form above.
        let mut len = match self.payload_len {
            len @ 0..=125 => {
                out[1] = mask_bit | len as u8;
                2
            }
            len @ 126..=65_535 => {
                out[1] = mask_bit | 126;
                out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                4
            }
            len => {
                out[1] = mask_bit | 127;
                out[2..10].copy_from_slice(&len.to_be_bytes());
                10
            }
        };
        if let Some(key) = self.mask {
            out[len..len + 4].copy_from_slice(&key);
            len += 4;
        }
        (out, len)
    }

    /// Appends the encoded header to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let (bytes, len) = self.to_bytes();
        out.extend_from_slice(&bytes[..len]);
    }
}

/// Longest frame header: 2 bytes, a 64-bit length and a masking key.
pub const MAX_HEADER_LEN: usize = 14;

/// Size of the frame [`encode_frame`] writes for a `payload_len`-byte payload.
pub fn frame_len(payload_len: usize, masked: bool) -> usize {
    let header = FrameHeader {
        payload_len: payload_len as u64,
        mask: masked.then_some([0; 4]),
        ..FrameHeader::default()
    };
    header.encoded_len() + payload_len
}

/// The header alone of a frame carrying `len` payload bytes (for large payloads the caller
/// writes, already masked, separately).
pub fn encode_header(
    len: u64,
    opcode: u8,
    fin: bool,
    rsv1: bool,
    mask: Option<[u8; 4]>,
) -> Vec<u8> {
    let header =
        FrameHeader { fin, rsv1, opcode, mask, payload_len: len, ..FrameHeader::default() };
    let mut out = Vec::with_capacity(header.encoded_len());
    header.write_to(&mut out);
    out
}

/// A whole frame: header then `payload`, masked with `mask` while it is copied.
pub fn encode_frame(
    payload: &[u8],
    opcode: u8,
    fin: bool,
    rsv1: bool,
    mask: Option<[u8; 4]>,
) -> Vec<u8> {
    let mut out = vec![0; frame_len(payload.len(), mask.is_some())];
    encode_frame_into(&mut out, payload, opcode, fin, rsv1, mask);
    out
}

/// Writes the frame [`encode_frame`] returns into `out` (for a buffer the caller allocated,
/// e.g. a Node `Buffer`, so the payload is copied only once) and returns the bytes written:
/// [`frame_len`] when `out` is large enough, else as much as fits.
pub fn encode_frame_into(
    out: &mut [u8],
    payload: &[u8],
    opcode: u8,
    fin: bool,
    rsv1: bool,
    mask: Option<[u8; 4]>,
) -> usize {
    let header = FrameHeader {
        fin,
        rsv1,
        opcode,
        mask,
        payload_len: payload.len() as u64,
        ..FrameHeader::default()
    };
    let (bytes, start) = header.to_bytes();
    let start = start.min(out.len());
    let (head, body) = out.split_at_mut(start);
    head.copy_from_slice(&bytes[..start]);
    let written = payload.len().min(body.len());
    match mask {
        Some(key) => mask::mask_into(payload, key, body),
        None => body[..written].copy_from_slice(&payload[..written]),
    }
    start + written
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    #[test]
    fn rfc_6455_single_frame_unmasked_text_message() {
        // RFC 6455 §5.7: 0x81 0x05 0x48 0x65 0x6c 0x6c 0x6f contains "Hello".
        assert_eq!(
            encode_frame(b"Hello", OPCODE_TEXT, true, false, None),
            [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]
        );
    }

    #[test]
    fn rfc_6455_single_frame_masked_text_message() {
        assert_eq!(
            encode_frame(b"Hello", OPCODE_TEXT, true, false, Some(KEY)),
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
    }

    #[test]
    fn rfc_6455_fragmented_unmasked_text_message() {
        assert_eq!(
            encode_frame(b"Hel", OPCODE_TEXT, false, false, None),
            [0x01, 0x03, 0x48, 0x65, 0x6c]
        );
        assert_eq!(
            encode_frame(b"lo", OPCODE_CONTINUATION, true, false, None),
            [0x80, 0x02, 0x6c, 0x6f]
        );
    }

    #[test]
    fn rfc_6455_unmasked_ping_and_masked_pong() {
        assert_eq!(
            encode_frame(b"Hello", OPCODE_PING, true, false, None),
            [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]
        );
        assert_eq!(
            encode_frame(b"Hello", OPCODE_PONG, true, false, Some(KEY)),
            [0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
    }

    #[test]
    fn rfc_6455_256_byte_binary_message_uses_the_16_bit_length() {
        let frame = encode_frame(&[0xab; 256], OPCODE_BINARY, true, false, None);
        assert_eq!(&frame[..4], &[0x82, 0x7e, 0x01, 0x00]);
        assert_eq!(frame.len(), 4 + 256);
        assert!(frame[4..].iter().all(|&b| b == 0xab));
    }

    #[test]
    fn rfc_6455_64_kib_binary_message_uses_the_64_bit_length() {
        let frame = encode_frame(&vec![7; 65_536], OPCODE_BINARY, true, false, None);
        assert_eq!(&frame[..10], &[0x82, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00]);
        assert_eq!(frame.len(), 10 + 65_536);
    }

    #[test]
    fn length_forms_switch_where_ws_switches_them() {
        assert_eq!(encode_header(125, OPCODE_BINARY, true, false, None), [0x82, 125]);
        assert_eq!(encode_header(126, OPCODE_BINARY, true, false, None), [0x82, 126, 0, 126]);
        assert_eq!(
            encode_header(65_535, OPCODE_BINARY, true, false, None),
            [0x82, 126, 0xff, 0xff]
        );
        assert_eq!(
            encode_header(65_536, OPCODE_BINARY, true, false, None),
            [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]
        );
        assert_eq!(
            encode_header((1 << 53) - 1, OPCODE_BINARY, true, false, None),
            [0x82, 127, 0x00, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
    }

    #[test]
    fn header_sets_rsv1_mask_and_key_for_compressed_masked_frames() {
        assert_eq!(
            encode_header(300, OPCODE_TEXT, false, true, Some(KEY)),
            [0x41, 0xfe, 0x01, 0x2c, 0x37, 0xfa, 0x21, 0x3d]
        );
    }

    #[test]
    fn encode_frame_header_matches_encode_header_for_every_length_form() {
        for len in [0usize, 1, 125, 126, 1000, 65_535, 65_536, 70_000] {
            for mask in [None, Some(KEY)] {
                let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let frame = encode_frame(&payload, OPCODE_BINARY, true, false, mask);
                let header = encode_header(len as u64, OPCODE_BINARY, true, false, mask);
                assert_eq!(&frame[..header.len()], &header[..]);
                let mut body = frame[header.len()..].to_vec();
                if let Some(key) = mask {
                    mask::unmask(&mut body, key);
                }
                assert_eq!(body, payload);
            }
        }
    }

    #[test]
    fn encode_frame_into_fills_a_caller_buffer_and_stops_at_its_end() {
        let mut out = [0u8; 11];
        assert_eq!(encode_frame_into(&mut out, b"Hello", OPCODE_TEXT, true, false, Some(KEY)), 11);
        assert_eq!(out, [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
        let mut short = [0u8; 4];
        assert_eq!(encode_frame_into(&mut short, b"Hello", OPCODE_TEXT, true, false, None), 4);
        assert_eq!(short, [0x81, 0x05, 0x48, 0x65]);
        let mut tiny = [0u8; 1];
        assert_eq!(encode_frame_into(&mut tiny, b"Hello", OPCODE_TEXT, true, false, None), 1);
        assert_eq!(frame_len(5, true), 11);
        assert_eq!(frame_len(65_536, false), 65_546);
    }

    #[test]
    fn opcodes_round_trip_and_classify() {
        for byte in 0..16u8 {
            assert_eq!(OpCode::from_u8(byte).as_u8(), byte);
            assert_eq!(OpCode::from_u8(byte).is_control(), byte >= 8);
        }
        assert_eq!(OpCode::from_u8(3), OpCode::Reserved(3));
        assert_eq!(OpCode::from_u8(0x89), OpCode::Ping);
    }
}

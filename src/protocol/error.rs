//! Protocol errors of the sans-IO core (no napi, no I/O): one variant per `WS_ERR_*` failure
//! that ws's `lib/receiver.js` can report, with ws's exact code, close status, error class
//! and message. The bindings turn these into `{ code, status, message, rangeError }` records
//! and `lib/receiver.js` builds ws's error object from them.

use std::fmt;

/// The prefix ws's `createError()` adds to frame-level errors (`prefix === true`).
const PREFIX: &str = "Invalid WebSocket frame: ";

/// A receiver error, named after ws's `err.code` (`UnexpectedRsv1` is
/// `WS_ERR_UNEXPECTED_RSV_1`). Small and `Copy`: it travels by value through the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolError {
    /// RSV2 or RSV3 set (no extension we support defines them; RFC 6455 §5.2).
    UnexpectedRsv23,
    /// RSV1 set without permessage-deflate, on a continuation frame or on a control frame
    /// (RFC 7692 §6).
    UnexpectedRsv1,
    /// A reserved opcode, a continuation frame with no message to continue, or a new data
    /// frame inside a fragmented message (RFC 6455 §5.2, §5.4). Holds the opcode.
    InvalidOpcode(u8),
    /// A fragmented control frame (RFC 6455 §5.5).
    ExpectedFin,
    /// A control frame longer than 125 bytes, or a close frame of exactly 1 byte
    /// (RFC 6455 §5.5, §5.5.1). Holds the 7-bit length field.
    InvalidControlPayloadLength(u8),
    /// An unmasked frame received by a server (RFC 6455 §5.1).
    ExpectedMask,
    /// A masked frame received by a client (RFC 6455 §5.1).
    UnexpectedMask,
    /// A close frame whose status code may not be sent on the wire (RFC 6455 §7.4).
    InvalidCloseCode(u16),
    /// A text message or close reason that is not valid UTF-8 (RFC 6455 §8.1).
    InvalidUtf8,
    /// A 64-bit payload length above 2^53 - 1, the largest length JS can count exactly.
    UnsupportedPayloadLength,
    /// The message (compressed frames so far, or inflated data) is over `maxPayload`.
    MaxPayloadExceeded,
    /// More than `maxBufferedChunks` chunks are buffered without completing a frame.
    TooManyBufferedChunks,
    /// The message has more than `maxFragments` frames.
    TooManyFragments,
}

impl ProtocolError {
    /// ws's `err.code`, e.g. `WS_ERR_INVALID_OPCODE`.
    pub fn code(self) -> &'static str {
        match self {
            Self::UnexpectedRsv23 => "WS_ERR_UNEXPECTED_RSV_2_3",
            Self::UnexpectedRsv1 => "WS_ERR_UNEXPECTED_RSV_1",
            Self::InvalidOpcode(_) => "WS_ERR_INVALID_OPCODE",
            Self::ExpectedFin => "WS_ERR_EXPECTED_FIN",
            Self::InvalidControlPayloadLength(_) => "WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH",
            Self::ExpectedMask => "WS_ERR_EXPECTED_MASK",
            Self::UnexpectedMask => "WS_ERR_UNEXPECTED_MASK",
            Self::InvalidCloseCode(_) => "WS_ERR_INVALID_CLOSE_CODE",
            Self::InvalidUtf8 => "WS_ERR_INVALID_UTF8",
            Self::UnsupportedPayloadLength => "WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH",
            Self::MaxPayloadExceeded => "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH",
            Self::TooManyBufferedChunks | Self::TooManyFragments => {
                "WS_ERR_TOO_MANY_BUFFERED_PARTS"
            }
        }
    }

    /// The close status ws sends for this error (ws's `err[kStatusCode]`).
    pub fn close_status(self) -> u16 {
        match self {
            Self::InvalidUtf8 => 1007,
            Self::TooManyBufferedChunks | Self::TooManyFragments => 1008,
            Self::UnsupportedPayloadLength | Self::MaxPayloadExceeded => 1009,
            _ => 1002,
        }
    }

    /// True when ws throws a `RangeError`; only `InvalidUtf8` is a plain `Error`.
    pub fn is_range_error(self) -> bool {
        !matches!(self, Self::InvalidUtf8)
    }

    /// True when ws prefixes the message with `Invalid WebSocket frame: `.
    pub fn has_prefix(self) -> bool {
        !matches!(
            self,
            Self::UnsupportedPayloadLength
                | Self::MaxPayloadExceeded
                | Self::TooManyBufferedChunks
                | Self::TooManyFragments
        )
    }

    /// ws's full `err.message`, prefix included.
    pub fn message(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.has_prefix() {
            f.write_str(PREFIX)?;
        }
        match *self {
            Self::UnexpectedRsv23 => f.write_str("RSV2 and RSV3 must be clear"),
            Self::UnexpectedRsv1 => f.write_str("RSV1 must be clear"),
            Self::InvalidOpcode(opcode) => write!(f, "invalid opcode {opcode}"),
            Self::ExpectedFin => f.write_str("FIN must be set"),
            Self::InvalidControlPayloadLength(len) => write!(f, "invalid payload length {len}"),
            Self::ExpectedMask => f.write_str("MASK must be set"),
            Self::UnexpectedMask => f.write_str("MASK must be clear"),
            Self::InvalidCloseCode(code) => write!(f, "invalid status code {code}"),
            Self::InvalidUtf8 => f.write_str("invalid UTF-8 sequence"),
            Self::UnsupportedPayloadLength => {
                f.write_str("Unsupported WebSocket frame: payload length > 2^53 - 1")
            }
            Self::MaxPayloadExceeded => f.write_str("Max payload size exceeded"),
            Self::TooManyBufferedChunks => f.write_str("Too many buffered chunks"),
            Self::TooManyFragments => f.write_str("Too many message fragments"),
        }
    }
}

impl std::error::Error for ProtocolError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts the whole ws error shape, as ws's test/receiver.test.js does.
    fn check(err: ProtocolError, code: &str, status: u16, range: bool, message: &str) {
        assert_eq!(err.code(), code);
        assert_eq!(err.close_status(), status);
        assert_eq!(err.is_range_error(), range);
        assert_eq!(err.message(), message);
    }

    #[test]
    fn the_error_stays_small() {
        assert!(std::mem::size_of::<ProtocolError>() <= 16);
    }

    #[test]
    fn unexpected_rsv_2_3_matches_ws() {
        check(
            ProtocolError::UnexpectedRsv23,
            "WS_ERR_UNEXPECTED_RSV_2_3",
            1002,
            true,
            "Invalid WebSocket frame: RSV2 and RSV3 must be clear",
        );
    }

    #[test]
    fn unexpected_rsv_1_matches_ws() {
        check(
            ProtocolError::UnexpectedRsv1,
            "WS_ERR_UNEXPECTED_RSV_1",
            1002,
            true,
            "Invalid WebSocket frame: RSV1 must be clear",
        );
    }

    #[test]
    fn invalid_opcode_matches_ws() {
        check(
            ProtocolError::InvalidOpcode(3),
            "WS_ERR_INVALID_OPCODE",
            1002,
            true,
            "Invalid WebSocket frame: invalid opcode 3",
        );
        assert_eq!(
            ProtocolError::InvalidOpcode(0).message(),
            "Invalid WebSocket frame: invalid opcode 0"
        );
    }

    #[test]
    fn expected_fin_matches_ws() {
        check(
            ProtocolError::ExpectedFin,
            "WS_ERR_EXPECTED_FIN",
            1002,
            true,
            "Invalid WebSocket frame: FIN must be set",
        );
    }

    #[test]
    fn invalid_control_payload_length_matches_ws() {
        check(
            ProtocolError::InvalidControlPayloadLength(126),
            "WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH",
            1002,
            true,
            "Invalid WebSocket frame: invalid payload length 126",
        );
    }

    #[test]
    fn expected_mask_matches_ws() {
        check(
            ProtocolError::ExpectedMask,
            "WS_ERR_EXPECTED_MASK",
            1002,
            true,
            "Invalid WebSocket frame: MASK must be set",
        );
    }

    #[test]
    fn unexpected_mask_matches_ws() {
        check(
            ProtocolError::UnexpectedMask,
            "WS_ERR_UNEXPECTED_MASK",
            1002,
            true,
            "Invalid WebSocket frame: MASK must be clear",
        );
    }

    #[test]
    fn invalid_close_code_matches_ws() {
        check(
            ProtocolError::InvalidCloseCode(0),
            "WS_ERR_INVALID_CLOSE_CODE",
            1002,
            true,
            "Invalid WebSocket frame: invalid status code 0",
        );
    }

    #[test]
    fn invalid_utf8_is_a_plain_error_with_status_1007() {
        check(
            ProtocolError::InvalidUtf8,
            "WS_ERR_INVALID_UTF8",
            1007,
            false,
            "Invalid WebSocket frame: invalid UTF-8 sequence",
        );
    }

    #[test]
    fn unsupported_payload_length_has_no_prefix() {
        check(
            ProtocolError::UnsupportedPayloadLength,
            "WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH",
            1009,
            true,
            "Unsupported WebSocket frame: payload length > 2^53 - 1",
        );
    }

    #[test]
    fn max_payload_exceeded_has_no_prefix() {
        check(
            ProtocolError::MaxPayloadExceeded,
            "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH",
            1009,
            true,
            "Max payload size exceeded",
        );
    }

    #[test]
    fn too_many_buffered_chunks_matches_ws() {
        check(
            ProtocolError::TooManyBufferedChunks,
            "WS_ERR_TOO_MANY_BUFFERED_PARTS",
            1008,
            true,
            "Too many buffered chunks",
        );
    }

    #[test]
    fn too_many_fragments_shares_the_buffered_parts_code() {
        check(
            ProtocolError::TooManyFragments,
            "WS_ERR_TOO_MANY_BUFFERED_PARTS",
            1008,
            true,
            "Too many message fragments",
        );
    }
}

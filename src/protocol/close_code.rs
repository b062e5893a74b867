//! Close status codes (RFC 6455 §7.4). Sans-IO: plain numbers, no napi.

/// A close frame status code. The consts are RFC 6455 §7.4.1's defined codes plus the
/// later IANA registrations ws accepts (1012-1014).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose of the connection has been fulfilled.
    pub const NORMAL: Self = Self(1000);
    /// 1001: an endpoint is going away (server down, page navigated away).
    pub const GOING_AWAY: Self = Self(1001);
    /// 1002: a protocol error.
    pub const PROTOCOL_ERROR: Self = Self(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: Self = Self(1003);
    /// 1004: reserved, meaning to be defined.
    pub const RESERVED: Self = Self(1004);
    /// 1005: no status code was present; must not be sent in a close frame.
    pub const NO_STATUS_RECEIVED: Self = Self(1005);
    /// 1006: the connection closed without a close frame; must not be sent.
    pub const ABNORMAL_CLOSURE: Self = Self(1006);
    /// 1007: data inconsistent with the message type (e.g. non-UTF-8 text).
    pub const INVALID_FRAME_PAYLOAD_DATA: Self = Self(1007);
    /// 1008: a message that violates the endpoint's policy.
    pub const POLICY_VIOLATION: Self = Self(1008);
    /// 1009: a message too big to process.
    pub const MESSAGE_TOO_BIG: Self = Self(1009);
    /// 1010: the client expected the server to negotiate an extension.
    pub const MANDATORY_EXTENSION: Self = Self(1010);
    /// 1011: the server met an unexpected condition.
    pub const INTERNAL_ERROR: Self = Self(1011);
    /// 1012: the service is restarting (IANA registry).
    pub const SERVICE_RESTART: Self = Self(1012);
    /// 1013: try again later (IANA registry).
    pub const TRY_AGAIN_LATER: Self = Self(1013);
    /// 1014: the gateway got an invalid response (IANA registry).
    pub const BAD_GATEWAY: Self = Self(1014);
    /// 1015: TLS handshake failure; must not be sent.
    pub const TLS_HANDSHAKE: Self = Self(1015);

    /// True when the code may appear in a close frame, as ws's `isValidStatusCode`
    /// (lib/validation.js): 1000-1014 except 1004-1006, or 3000-4999 (registered and
    /// private-use ranges, RFC 6455 §7.4.2).
    pub fn is_valid(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        Self(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> Self {
        code.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ws's `isValidStatusCode`, written out as the reference.
    fn ws_is_valid(code: u16) -> bool {
        ((1000..=1014).contains(&code) && code != 1004 && code != 1005 && code != 1006)
            || (3000..=4999).contains(&code)
    }

    #[test]
    fn is_valid_agrees_with_ws_for_every_u16() {
        for code in 0..=u16::MAX {
            assert_eq!(CloseCode(code).is_valid(), ws_is_valid(code), "{code}");
        }
    }

    #[test]
    fn reserved_and_local_only_codes_are_invalid_on_the_wire() {
        for code in [
            CloseCode::RESERVED,
            CloseCode::NO_STATUS_RECEIVED,
            CloseCode::ABNORMAL_CLOSURE,
            CloseCode::TLS_HANDSHAKE,
            CloseCode(0),
            CloseCode(999),
            CloseCode(2999),
            CloseCode(5000),
        ] {
            assert!(!code.is_valid(), "{code:?}");
        }
    }

    #[test]
    fn defined_codes_are_valid() {
        for code in [CloseCode::NORMAL, CloseCode::PROTOCOL_ERROR, CloseCode::BAD_GATEWAY] {
            assert!(code.is_valid());
        }
        assert_eq!(u16::from(CloseCode::MESSAGE_TOO_BIG), 1009);
        assert_eq!(CloseCode::from(4000), CloseCode(4000));
    }
}

//! Opening-handshake helpers (RFC 6455 §4): the `Sec-WebSocket-Key` check and the
//! `Sec-WebSocket-Accept` value. Sans-IO, no napi.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha1::{Digest, Sha1};

/// The GUID appended to the key before hashing (RFC 6455 §1.3).
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Whether `key` is a valid `Sec-WebSocket-Key`: the base64 of 16 bytes, i.e. 22 base64
/// characters and `==` (RFC 6455 §4.2.1 item 5), exactly ws's `/^[+/0-9A-Za-z]{22}==$/`.
pub fn is_valid_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    bytes.len() == 24
        && bytes.ends_with(b"==")
        && bytes.iter().take(22).all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// The `Sec-WebSocket-Accept` value for a key: base64(SHA-1(key + GUID)) (RFC 6455 §4.2.2).
pub fn accept_key(key: &str) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key.as_bytes());
    sha1.update(GUID.as_bytes());
    STANDARD.encode(sha1.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computes_the_accept_value_of_rfc_6455_section_1_3() {
        assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn accepts_the_base64_of_16_bytes() {
        assert!(is_valid_key("dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(is_valid_key("++++//////0000zzzzZZ9A=="));
    }

    #[test]
    fn rejects_other_keys() {
        for key in [
            "",
            "dGhlIHNhbXBsZSBub25jZQ=",
            "dGhlIHNhbXBsZSBub25jZQ===",
            "dGhlIHNhbXBsZSBub25jZQ==\n",
            " dGhlIHNhbXBsZSBub25jZQ==",
            "dGhlIHNhbXBsZSBub25jZ===",
            "dGhlIHNhbXBsZSBub25jZ-==",
            "dGhlIHNhbXBsZSBub25jZé==",
        ] {
            assert!(!is_valid_key(key), "{key:?}");
        }
    }
}

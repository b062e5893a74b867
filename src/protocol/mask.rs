//! Masking (RFC 6455 §5.3): XOR with a 4-byte key.

/// Unmasks (or masks: XOR is its own inverse) `buf` in place with `key`.
pub fn unmask(buf: &mut [u8], key: [u8; 4]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}

/// Writes `src` XOR `key` into `dst` (same length) in one pass.
pub fn mask_into(src: &[u8], key: [u8; 4], dst: &mut [u8]) {
    for (i, (d, s)) in dst.iter_mut().zip(src).enumerate() {
        *d = s ^ key[i & 3];
    }
}

//! Masking (RFC 6455 §5.3): XOR of the payload with a 4-byte key, octet `i` with key octet
//! `i MOD 4`. Sans-IO: plain slices in, no napi.
//!
//! The hot loop XORs 64-byte blocks as 8 words with the key splatted into a register, which
//! LLVM turns into vector instructions: SSE2 (x86-64 baseline) in the portable build, and
//! AVX2 when the CPU has it, chosen at run time (`is_x86_feature_detected!`), never with
//! `target-cpu=native` (the addon ships as one binary for every x86-64 CPU). From 256 bytes
//! on, the destination is first brought to a 32-byte boundary and the key rotated
//! accordingly, so block stores never straddle a cache line. Shorter buffers go 8 bytes at
//! a time with no set-up. Payloads that arrive in pieces use the `_from` variants, which
//! take the payload position of the first byte.

/// Bytes per block of the vector loop: 4 SSE2 or 2 AVX2 registers, a multiple of 4 so every
/// block starts at key octet 0.
const BLOCK: usize = 64;

/// From this length on, aligning the destination and dispatching to the vector loop pays;
/// below it, 8-byte words do.
const LARGE: usize = 256;

/// Destination alignment sought before the block loop (one AVX2 register).
const ALIGN: usize = 32;

/// Unmasks (or masks: XOR is its own inverse) `buf` in place with `key`, `buf[0]` taking
/// key octet 0.
pub fn unmask(buf: &mut [u8], key: [u8; 4]) {
    unmask_from(buf, key, 0);
}

/// Unmasks `buf` in place when it does not start the payload: `key_offset` is the position
/// of `buf[0]` in the payload (only `key_offset % 4` matters), so a payload that arrives in
/// several chunks can be unmasked chunk by chunk.
pub fn unmask_from(buf: &mut [u8], key: [u8; 4], key_offset: usize) {
    let key = rotate(key, key_offset);
    if buf.len() < LARGE {
        xor_words_in_place(buf, key);
        return;
    }
    let head = buf.as_ptr().align_offset(ALIGN).min(buf.len());
    let (first, rest) = buf.split_at_mut(head);
    xor_words_in_place(first, key);
    let key = rotate(key, head);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        unsafe { unmask_avx2(rest, key) };
        return;
    }
    unmask_blocks(rest, key);
}

/// Writes `src` XOR `key` into `dst` in one pass, `src[0]` taking key octet 0. Only the
/// first `min(src.len(), dst.len())` bytes are written.
pub fn mask_into(src: &[u8], key: [u8; 4], dst: &mut [u8]) {
    mask_into_from(src, key, 0, dst);
}

/// [`mask_into`] for a `src` that does not start the payload: `key_offset` is the position
/// of `src[0]` in the payload (only `key_offset % 4` matters).
pub fn mask_into_from(src: &[u8], key: [u8; 4], key_offset: usize, dst: &mut [u8]) {
    let key = rotate(key, key_offset);
    let len = src.len().min(dst.len());
    let (src, dst) = (&src[..len], &mut dst[..len]);
    if len < LARGE {
        xor_words_into(src, key, dst);
        return;
    }
    let head = dst.as_ptr().align_offset(ALIGN).min(len);
    let (src_head, src_rest) = src.split_at(head);
    let (dst_head, dst_rest) = dst.split_at_mut(head);
    xor_words_into(src_head, key, dst_head);
    let key = rotate(key, head);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        unsafe { mask_avx2(src_rest, key, dst_rest) };
        return;
    }
    mask_blocks(src_rest, key, dst_rest);
}

/// The key as seen from payload position `offset`: octet `j` becomes `key[(offset + j) % 4]`.
#[inline]
fn rotate(key: [u8; 4], offset: usize) -> [u8; 4] {
    u32::from_le_bytes(key).rotate_right(8 * (offset % 4) as u32).to_le_bytes()
}

/// The key repeated over 8 bytes. Built with register shifts rather than byte stores: a
/// pattern assembled byte by byte in memory and then loaded as a vector stalls on store
/// forwarding, which cost more than masking a few hundred bytes.
#[inline(always)]
fn key_word(key: [u8; 4]) -> u64 {
    let k = u64::from(u32::from_ne_bytes(key));
    k | (k << 32)
}

#[inline(always)]
fn xor_bytes_in_place(buf: &mut [u8], key: [u8; 4]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
}

#[inline(always)]
fn xor_bytes_into(src: &[u8], key: [u8; 4], dst: &mut [u8]) {
    for (i, (d, s)) in dst.iter_mut().zip(src).enumerate() {
        *d = s ^ key[i % 4];
    }
}

/// 8 bytes at a time (unaligned loads and stores are cheap on every x86-64 and aarch64
/// CPU), then the last 0-7 bytes.
#[inline(always)]
fn xor_words_in_place(buf: &mut [u8], key: [u8; 4]) {
    let word = key_word(key);
    let mut words = buf.chunks_exact_mut(8);
    for w in &mut words {
        let v = u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]) ^ word;
        w.copy_from_slice(&v.to_ne_bytes());
    }
    // 8 is a multiple of 4: the tail starts at key octet 0.
    xor_bytes_in_place(words.into_remainder(), key);
}

/// The copying form of [`xor_words_in_place`].
#[inline(always)]
fn xor_words_into(src: &[u8], key: [u8; 4], dst: &mut [u8]) {
    let word = key_word(key);
    let mut dst_words = dst.chunks_exact_mut(8);
    let mut src_words = src.chunks_exact(8);
    for (d, s) in (&mut dst_words).zip(&mut src_words) {
        let v = u64::from_ne_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]) ^ word;
        d.copy_from_slice(&v.to_ne_bytes());
    }
    xor_bytes_into(src_words.remainder(), key, dst_words.into_remainder());
}

/// The block loop, in place: 8 words per block, which LLVM turns into two AVX2 or four SSE2
/// XORs with the key splatted in a register. `inline(always)` so each caller compiles it
/// for its own target features.
#[inline(always)]
fn unmask_blocks(buf: &mut [u8], key: [u8; 4]) {
    let word = key_word(key);
    let mut blocks = buf.chunks_exact_mut(BLOCK);
    for block in &mut blocks {
        for w in block.chunks_exact_mut(8) {
            let v = u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]) ^ word;
            w.copy_from_slice(&v.to_ne_bytes());
        }
    }
    // BLOCK is a multiple of 4, so the tail starts at key octet 0 again.
    xor_words_in_place(blocks.into_remainder(), key);
}

/// The block loop, copying; see [`unmask_blocks`].
#[inline(always)]
fn mask_blocks(src: &[u8], key: [u8; 4], dst: &mut [u8]) {
    let word = key_word(key);
    let mut dst_blocks = dst.chunks_exact_mut(BLOCK);
    let mut src_blocks = src.chunks_exact(BLOCK);
    for (d, s) in (&mut dst_blocks).zip(&mut src_blocks) {
        for (d, s) in d.chunks_exact_mut(8).zip(s.chunks_exact(8)) {
            let v = u64::from_ne_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]) ^ word;
            d.copy_from_slice(&v.to_ne_bytes());
        }
    }
    xor_words_into(src_blocks.remainder(), key, dst_blocks.into_remainder());
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn unmask_avx2(buf: &mut [u8], key: [u8; 4]) {
    unmask_blocks(buf, key);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn mask_avx2(src: &[u8], key: [u8; 4], dst: &mut [u8]) {
    mask_blocks(src, key, dst);
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    fn reference(data: &[u8], key: [u8; 4], key_offset: usize) -> Vec<u8> {
        data.iter().enumerate().map(|(i, b)| b ^ key[(i + key_offset) % 4]).collect()
    }

    /// Every length the brief asks for (0..=70), plus the lengths around the switch to the
    /// aligned vector loop.
    fn lengths() -> impl Iterator<Item = usize> {
        (0..=70).chain(LARGE - 8..=LARGE + 2 * BLOCK + ALIGN)
    }

    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + 7) as u8).collect()
    }

    #[test]
    fn unmask_matches_the_byte_loop_for_every_length_and_offset() {
        for len in lengths() {
            for offset in 0..=7 {
                let mut backing = vec![0u8; len + offset];
                backing[offset..].copy_from_slice(&sample(len));
                unmask(&mut backing[offset..], KEY);
                assert_eq!(
                    &backing[offset..],
                    &reference(&sample(len), KEY, 0)[..],
                    "{len}/{offset}"
                );
            }
        }
    }

    #[test]
    fn unmask_from_honours_the_key_offset() {
        for len in lengths() {
            for offset in 0..=7 {
                for key_offset in 0..=5 {
                    let mut backing = vec![0u8; len + offset];
                    backing[offset..].copy_from_slice(&sample(len));
                    unmask_from(&mut backing[offset..], KEY, key_offset);
                    assert_eq!(&backing[offset..], &reference(&sample(len), KEY, key_offset)[..]);
                }
            }
        }
    }

    #[test]
    fn mask_into_matches_the_byte_loop_for_every_length_and_both_offsets() {
        for len in lengths() {
            for src_offset in 0..=7 {
                for dst_offset in 0..=7 {
                    let mut src = vec![0u8; len + src_offset];
                    src[src_offset..].copy_from_slice(&sample(len));
                    let mut dst = vec![0xaau8; len + dst_offset];
                    mask_into(&src[src_offset..], KEY, &mut dst[dst_offset..]);
                    assert_eq!(&dst[dst_offset..], &reference(&sample(len), KEY, 0)[..]);
                    assert!(dst[..dst_offset].iter().all(|&b| b == 0xaa));
                }
            }
        }
    }

    #[test]
    fn mask_into_from_honours_the_key_offset() {
        for len in lengths() {
            for key_offset in 0..=5 {
                let mut dst = vec![0u8; len + 1];
                mask_into_from(&sample(len), KEY, key_offset, &mut dst[1..]);
                assert_eq!(&dst[1..], &reference(&sample(len), KEY, key_offset)[..]);
            }
        }
    }

    #[test]
    fn large_buffers_take_the_block_path_and_stay_exact() {
        for len in [4096 + 3, 65_536, 1_000_003] {
            let data = sample(len);
            let mut buf = data.clone();
            unmask(&mut buf[1..], KEY);
            assert_eq!(&buf[1..], &reference(&data[1..], KEY, 0)[..]);
            let mut dst = vec![0u8; len];
            mask_into(&data, KEY, &mut dst[..]);
            assert_eq!(dst, reference(&data, KEY, 0));
        }
    }

    #[test]
    fn masking_twice_restores_the_payload() {
        let data = sample(1000);
        let mut buf = data.clone();
        unmask(&mut buf, KEY);
        unmask(&mut buf, KEY);
        assert_eq!(buf, data);
    }

    #[test]
    fn mask_into_writes_only_the_shorter_length() {
        let mut dst = [0u8; 3];
        mask_into(&[1, 2, 3, 4, 5], [1, 1, 1, 1], &mut dst);
        assert_eq!(dst, [0, 3, 2]);
        let mut dst = [9u8; 5];
        mask_into(&[1, 2], [1, 1, 1, 1], &mut dst);
        assert_eq!(dst, [0, 3, 9, 9, 9]);
    }

    #[test]
    fn rfc_6455_masked_hello_unmasks() {
        // RFC 6455 §5.7: "A single-frame masked text message" 0x81 0x85 0x37 0xfa 0x21 0x3d
        // 0x7f 0x9f 0x4d 0x51 0x58 contains "Hello".
        let mut payload = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
        unmask(&mut payload, KEY);
        assert_eq!(&payload, b"Hello");
    }
}

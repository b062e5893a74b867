//! UTF-8 validation (RFC 3629, as RFC 6455 §8.1 requires for text and close reasons): whole
//! buffers, and a streaming validator for fragmented messages. Sans-IO: slices in, no napi.
//!
//! Whole buffers go through an AVX-512 validator (below) on CPUs that have AVX-512 BW and
//! VBMI2 (Ice Lake, Zen 4 and later: the generation where 512-bit instructions no longer
//! slow the clock down), chosen at run time, and through simdutf8 (SSE4.2/AVX2, also chosen
//! at run time) elsewhere and for inputs under 64 bytes. The streaming validator fails fast,
//! as RFC 6455 §8.1 asks ("When an endpoint is to interpret a byte stream as UTF-8 but finds
//! that the byte stream is not, in fact, a valid UTF-8 stream, that endpoint MUST _Fail the
//! WebSocket Connection_") and Autobahn 6.4 checks: it reports the first fragment after
//! which no continuation could make the message valid, including a truncated sequence whose
//! bytes so far are already impossible (`F5`, `C0`, `ED A0`, `F4 90`).

/// True when `buf` is entirely valid UTF-8.
pub fn is_valid(buf: &[u8]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if buf.len() >= 64 && avx512::available() {
        // SAFETY: the CPU has the features `avx512::validate` is compiled for.
        return unsafe { avx512::validate(buf) };
    }
    simdutf8::basic::from_utf8(buf).is_ok()
}

/// Validates a text message fragment by fragment, failing on the first fragment after which
/// the message can no longer be valid UTF-8.
///
/// Carries at most 3 bytes (an incomplete code point) from one fragment to the next: memory
/// does not grow with the message.
#[derive(Debug, Default, Clone)]
pub struct StreamValidator {
    /// The incomplete code point at the end of the last fragment; `pending[..pending_len]`.
    pending: [u8; 3],
    pending_len: u8,
    /// Sticky: once invalid, the message stays invalid until `reset`.
    failed: bool,
}

impl StreamValidator {
    /// A validator at the start of a message.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next fragment; false once the message can no longer be valid (and for every
    /// fragment after that, until `reset`).
    pub fn feed(&mut self, chunk: &[u8]) -> bool {
        if self.failed {
            return false;
        }
        let ok = self.feed_inner(chunk);
        self.failed = !ok;
        ok
    }

    /// True when everything fed so far forms complete, valid UTF-8 (call at the final fragment).
    pub fn finish(&self) -> bool {
        !self.failed && self.pending_len == 0
    }

    /// Forgets any state, ready for the next message.
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    fn feed_inner(&mut self, mut chunk: &[u8]) -> bool {
        if self.pending_len > 0 {
            // Complete the code point left over from the previous fragment, checking each
            // byte as it arrives so an impossible one fails on this fragment.
            let held = usize::from(self.pending_len);
            let lead = self.pending[0];
            let need = sequence_len(lead);
            let mut have = held;
            while have < need {
                let Some((&b, rest)) = chunk.split_first() else {
                    self.pending_len = have as u8;
                    return true;
                };
                if !is_continuation(lead, have, b) {
                    return false;
                }
                if have < self.pending.len() {
                    self.pending[have] = b;
                }
                have += 1;
                chunk = rest;
            }
            self.pending_len = 0;
        }
        // The common case first: a fragment that is complete, valid UTF-8 by itself.
        if is_valid(chunk) {
            return true;
        }
        match simdutf8::compat::from_utf8(chunk) {
            Ok(_) => true,
            // `error_len() == None` means the input ended inside a code point whose bytes so
            // far are a valid prefix (the checks of `is_continuation`); anything else is an
            // impossible byte.
            Err(e) if e.error_len().is_none() => {
                let tail = &chunk[e.valid_up_to()..];
                self.pending[..tail.len()].copy_from_slice(tail);
                self.pending_len = tail.len() as u8;
                true
            }
            Err(_) => false,
        }
    }
}

/// The length of the code point a (valid) lead byte starts.
fn sequence_len(lead: u8) -> usize {
    match lead {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

/// Whether `b` may be byte `pos` (1-based after the lead) of a code point starting with `lead`
/// (RFC 3629 §4, the `UTF8-2`..`UTF8-4` rules: no overlongs, no surrogates, nothing above
/// U+10FFFF).
fn is_continuation(lead: u8, pos: usize, b: u8) -> bool {
    let range = match (pos, lead) {
        (1, 0xe0) => 0xa0..=0xbf,
        (1, 0xed) => 0x80..=0x9f,
        (1, 0xf0) => 0x90..=0xbf,
        (1, 0xf4) => 0x80..=0x8f,
        _ => 0x80..=0xbf,
    };
    range.contains(&b)
}

/// A 64-bytes-at-a-time validator with AVX-512, the "lookup" algorithm of John Keiser and
/// Daniel Lemire, "Validating UTF-8 In Less Than One Instruction Per Byte" (Software:
/// Practice and Experience, 2021), as simdjson and simdutf implement it: three 16-entry
/// table lookups classify each pair of adjacent bytes into error bits, and a saturating
/// subtraction checks that 3- and 4-byte sequences have their continuation bytes.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;
    use std::sync::atomic::{AtomicU8, Ordering};

    // Error bits of a byte pair (previous byte, current byte), named as in the paper.
    /// A lead byte followed by ASCII or another lead byte.
    const TOO_SHORT: u8 = 1 << 0;
    /// ASCII followed by a continuation byte.
    const TOO_LONG: u8 = 1 << 1;
    /// E0 followed by 80..9F.
    const OVERLONG_3: u8 = 1 << 2;
    /// F4 followed by 90..BF, or F5..FF followed by a continuation byte.
    const TOO_LARGE: u8 = 1 << 3;
    /// ED followed by A0..BF (U+D800..U+DFFF).
    const SURROGATE: u8 = 1 << 4;
    /// C0 or C1 followed by a continuation byte.
    const OVERLONG_2: u8 = 1 << 5;
    /// F5..FF followed by 80..8F.
    const TOO_LARGE_1000: u8 = 1 << 6;
    /// F0 followed by 80..8F.
    const OVERLONG_4: u8 = 1 << 6;
    /// Two continuation bytes in a row (fine only inside a 3- or 4-byte sequence).
    const TWO_CONTS: u8 = 1 << 7;
    /// The bits that do not depend on the previous byte's low nibble.
    const CARRY: u8 = TOO_SHORT | TOO_LONG | TWO_CONTS;

    /// Indexed by the previous byte's high nibble.
    const BYTE_1_HIGH: [u8; 16] = [
        TOO_LONG,
        TOO_LONG,
        TOO_LONG,
        TOO_LONG,
        TOO_LONG,
        TOO_LONG,
        TOO_LONG,
        TOO_LONG,
        TWO_CONTS,
        TWO_CONTS,
        TWO_CONTS,
        TWO_CONTS,
        TOO_SHORT | OVERLONG_2,
        TOO_SHORT,
        TOO_SHORT | OVERLONG_3 | SURROGATE,
        TOO_SHORT | TOO_LARGE | TOO_LARGE_1000 | OVERLONG_4,
    ];

    /// Indexed by the previous byte's low nibble.
    const BYTE_1_LOW: [u8; 16] = [
        CARRY | OVERLONG_3 | OVERLONG_2 | OVERLONG_4,
        CARRY | OVERLONG_2,
        CARRY,
        CARRY,
        CARRY | TOO_LARGE,
        CARRY | TOO_LARGE | TOO_LARGE_1000,
        CARRY | TOO_LARGE | TOO_LARGE_1000,
        CARRY | TOO_LARGE | TOO_LARGE_1000,
        CARRY | TOO_LARGE | TOO_LARGE_1000,
        CARRY | TOO_LARGE | TOO_LARGE_1000,
        CARRY | TOO_LARGE | TOO_LARGE_1000,
        CARRY | TOO_LARGE | TOO_LARGE_1000,
        CARRY | TOO_LARGE | TOO_LARGE_1000,
        CARRY | TOO_LARGE | TOO_LARGE_1000 | SURROGATE,
        CARRY | TOO_LARGE | TOO_LARGE_1000,
        CARRY | TOO_LARGE | TOO_LARGE_1000,
    ];

    /// Indexed by the current byte's high nibble.
    const BYTE_2_HIGH: [u8; 16] = [
        TOO_SHORT,
        TOO_SHORT,
        TOO_SHORT,
        TOO_SHORT,
        TOO_SHORT,
        TOO_SHORT,
        TOO_SHORT,
        TOO_SHORT,
        TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE_1000 | OVERLONG_4,
        TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE,
        TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE,
        TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE,
        TOO_SHORT,
        TOO_SHORT,
        TOO_SHORT,
        TOO_SHORT,
    ];

    /// 0 = not probed yet, 1 = usable, 2 = not usable.
    static STATE: AtomicU8 = AtomicU8::new(0);

    /// Whether the CPU has what [`validate`] is compiled for.
    #[inline]
    pub(super) fn available() -> bool {
        match STATE.load(Ordering::Relaxed) {
            1 => true,
            2 => false,
            _ => {
                let yes = std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vbmi2");
                STATE.store(if yes { 1 } else { 2 }, Ordering::Relaxed);
                yes
            }
        }
    }

    /// A 16-byte table repeated in each 128-bit lane, for `vpshufb`.
    const fn lanes(t: [u8; 16]) -> [u8; 64] {
        let mut out = [0u8; 64];
        let mut i = 0;
        while i < 64 {
            out[i] = t[i % 16];
            i += 1;
        }
        out
    }

    static BYTE_1_HIGH_X4: [u8; 64] = lanes(BYTE_1_HIGH);
    static BYTE_1_LOW_X4: [u8; 64] = lanes(BYTE_1_LOW);
    static BYTE_2_HIGH_X4: [u8; 64] = lanes(BYTE_2_HIGH);

    /// A block ends inside a code point when its last byte is a lead byte, or its
    /// second-to-last a 3/4-byte lead, or its third-to-last a 4-byte lead: bytes above these
    /// limits.
    static INCOMPLETE_MAX: [u8; 64] = {
        let mut out = [0xffu8; 64];
        out[61] = 0xf0 - 1;
        out[62] = 0xe0 - 1;
        out[63] = 0xc0 - 1;
        out
    };

    /// Loads one of the 64-byte tables above.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn load(t: &[u8; 64]) -> __m512i {
        // SAFETY: 64 readable bytes; unaligned load.
        unsafe { _mm512_loadu_si512(t.as_ptr().cast()) }
    }

    /// The stream as seen `N = 16 - SHIFT` bytes back: `input` shifted up by `N` bytes, with
    /// the last `N` bytes of `previous` in front (`prev::<15>` is the previous byte).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn prev<const SHIFT: i32>(input: __m512i, previous: __m512i) -> __m512i {
        // Lane k of `rotated` is lane k-1 of the stream (lane 3 of `previous` for k = 0);
        // `alignr`, per 128-bit lane, then takes its top N bytes and the low 16 - N of
        // lane k.
        let lanes = _mm512_setr_epi32(28, 29, 30, 31, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11);
        let rotated = _mm512_permutex2var_epi32(input, lanes, previous);
        _mm512_alignr_epi8::<SHIFT>(input, rotated)
    }

    /// The validator's registers between blocks.
    struct State {
        byte_1_high: __m512i,
        byte_1_low: __m512i,
        byte_2_high: __m512i,
        incomplete_max: __m512i,
        /// Accumulated error bits; any set bit means invalid.
        error: __m512i,
        /// The previous block (the bytes before this one, for the pair lookups).
        previous: __m512i,
        /// Nonzero when the previous block ended inside a code point.
        prev_incomplete: __m512i,
    }

    impl State {
        #[inline]
        #[target_feature(enable = "avx512f,avx512bw")]
        fn new() -> Self {
            Self {
                byte_1_high: load(&BYTE_1_HIGH_X4),
                byte_1_low: load(&BYTE_1_LOW_X4),
                byte_2_high: load(&BYTE_2_HIGH_X4),
                incomplete_max: load(&INCOMPLETE_MAX),
                error: _mm512_setzero_si512(),
                previous: _mm512_setzero_si512(),
                prev_incomplete: _mm512_setzero_si512(),
            }
        }

        /// An all-ASCII stretch ending with `last`: valid unless the bytes before it
        /// ended inside a code point.
        #[inline]
        #[target_feature(enable = "avx512f,avx512bw")]
        fn ascii(&mut self, last: __m512i) {
            self.error = _mm512_or_si512(self.error, self.prev_incomplete);
            self.prev_incomplete = _mm512_setzero_si512();
            self.previous = last;
        }

        /// Checks the next 64 bytes.
        #[inline]
        #[target_feature(enable = "avx512f,avx512bw")]
        fn block(&mut self, input: __m512i) {
            if _mm512_movepi8_mask(input) == 0 {
                self.ascii(input);
                return;
            }
            let low_nibble = _mm512_set1_epi8(0x0f);
            let prev1 = prev::<15>(input, self.previous);
            let hi1 = _mm512_and_si512(_mm512_srli_epi16::<4>(prev1), low_nibble);
            let lo1 = _mm512_and_si512(prev1, low_nibble);
            let hi2 = _mm512_and_si512(_mm512_srli_epi16::<4>(input), low_nibble);
            let special = _mm512_and_si512(
                _mm512_and_si512(
                    _mm512_shuffle_epi8(self.byte_1_high, hi1),
                    _mm512_shuffle_epi8(self.byte_1_low, lo1),
                ),
                _mm512_shuffle_epi8(self.byte_2_high, hi2),
            );
            // Bytes 2 after a 3/4-byte lead and 3 after a 4-byte lead must be
            // continuations: exactly where TWO_CONTS (bit 7) is expected.
            let prev2 = prev::<14>(input, self.previous);
            let prev3 = prev::<13>(input, self.previous);
            let must23 = _mm512_or_si512(
                _mm512_subs_epu8(prev2, _mm512_set1_epi8((0xe0u8 - 0x80) as i8)),
                _mm512_subs_epu8(prev3, _mm512_set1_epi8((0xf0u8 - 0x80) as i8)),
            );
            let must23_80 = _mm512_and_si512(must23, _mm512_set1_epi8(0x80u8 as i8));
            self.error = _mm512_or_si512(self.error, _mm512_xor_si512(must23_80, special));
            self.prev_incomplete = _mm512_subs_epu8(input, self.incomplete_max);
            self.previous = input;
        }
    }

    /// Validates `buf`.
    ///
    /// # Safety
    /// Only call when [`available`] returned true.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi2")]
    pub(super) fn validate(buf: &[u8]) -> bool {
        let mut state = State::new();

        // Two blocks at a time, so that ASCII text costs one test per 128 bytes.
        let mut pairs = buf.chunks_exact(128);
        for pair in &mut pairs {
            // SAFETY: `pair` is 128 readable bytes; unaligned loads.
            let (a, b) = unsafe {
                (
                    _mm512_loadu_si512(pair.as_ptr().cast()),
                    _mm512_loadu_si512(pair.as_ptr().add(64).cast()),
                )
            };
            if _mm512_movepi8_mask(_mm512_or_si512(a, b)) == 0 {
                state.ascii(b);
            } else {
                state.block(a);
                state.block(b);
            }
        }
        let mut blocks = pairs.remainder().chunks_exact(64);
        for block in &mut blocks {
            // SAFETY: `block` is 64 readable bytes; unaligned load.
            state.block(unsafe { _mm512_loadu_si512(block.as_ptr().cast()) });
        }
        let tail = blocks.remainder();
        if !tail.is_empty() {
            // The last partial block, padded with zeros (ASCII), which also catches a
            // code point cut off by the end of the buffer.
            let mask: __mmask64 = (1u64 << tail.len()) - 1;
            // SAFETY: a masked load reads only the `tail.len()` bytes the mask selects
            // (AVX-512 suppresses faults on the masked-off ones).
            state.block(unsafe { _mm512_maskz_loadu_epi8(mask, tail.as_ptr().cast()) });
        }
        let error = _mm512_or_si512(state.error, state.prev_incomplete);
        _mm512_test_epi8_mask(error, error) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// Feeds `fragments` and returns the index of the first one that returns false, or
    /// `None` when all are accepted.
    fn first_failure(fragments: &[Vec<u8>]) -> Option<usize> {
        let mut v = StreamValidator::new();
        fragments.iter().position(|f| !v.feed(f))
    }

    /// True when `prefix` could still be extended into valid UTF-8.
    fn is_valid_prefix(prefix: &[u8]) -> bool {
        match std::str::from_utf8(prefix) {
            Ok(_) => true,
            Err(e) => e.error_len().is_none(),
        }
    }

    const KOSME: &str = "cebae1bdb9cf83cebcceb5";

    /// Interesting bytes: ASCII, continuation ranges' edges, every kind of lead byte.
    const ALPHABET: [u8; 23] = [
        0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1,
        0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf4, 0xf5, 0xff,
    ];

    /// A small deterministic generator, enough to scatter test bytes.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> usize {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (self.0 >> 33) as usize
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx512_validator_agrees_with_std_around_block_boundaries() {
        if !avx512::available() {
            return;
        }
        // SAFETY: available() checked the CPU.
        let check = |buf: &[u8]| {
            let got = unsafe { avx512::validate(buf) };
            assert_eq!(got, std::str::from_utf8(buf).is_ok(), "{buf:02x?}");
        };
        let mut buf = [b'a'; 130];
        for a in ALPHABET {
            for b in ALPHABET {
                for c in ALPHABET {
                    for d in [0x41, 0x80, 0x8f, 0x90, 0xbf, 0xc2, 0xe0, 0xf0, 0xf4] {
                        let seq = [a, b, c, d];
                        // Straddling the first block boundary, and ending the buffer at
                        // and after a full block.
                        for at in [0, 60, 61, 62, 63, 64, 126] {
                            buf[at..at + 4].copy_from_slice(&seq);
                            check(&buf);
                            buf[at..at + 4].copy_from_slice(b"aaaa");
                        }
                        for end in [64, 65, 67, 128] {
                            let mut v = vec![b'a'; end];
                            for (k, byte) in seq.iter().enumerate().take(end.min(4)) {
                                v[end - 4 + k] = *byte;
                            }
                            check(&v);
                            check(&v[..end - 1]);
                        }
                    }
                }
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx512_validator_agrees_with_std_on_scattered_text() {
        if !avx512::available() {
            return;
        }
        let text = "κόσμε ascii € text 𐍈 more ascii, ".repeat(20).into_bytes();
        let mut rng = Lcg(7);
        for len in 0..text.len() {
            for flips in 0..3 {
                let mut buf = text[..len].to_vec();
                for _ in 0..flips {
                    if len > 0 {
                        let at = rng.next() % len;
                        buf[at] = ALPHABET[rng.next() % ALPHABET.len()];
                    }
                }
                // SAFETY: available() checked the CPU.
                let got = unsafe { avx512::validate(&buf) };
                assert_eq!(got, std::str::from_utf8(&buf).is_ok(), "{buf:02x?}");
                assert_eq!(is_valid(&buf), got);
            }
        }
    }

    #[test]
    fn whole_buffers_follow_rfc_3629() {
        assert!(is_valid(b""));
        assert!(is_valid("κόσμε € 𐍈 $".as_bytes()));
        assert!(!is_valid(&[0xf8]));
        assert!(!is_valid(&[0xc0, 0xa0]));
        assert!(!is_valid(&[0xe0, 0x80, 0xa0]));
        assert!(!is_valid(&[0xf0, 0x80, 0x80, 0xa0]));
        assert!(!is_valid(&[0xed, 0xa0, 0x80]));
        assert!(!is_valid(&[0xf4, 0x90, 0x80, 0x80]));
        assert!(!is_valid(&[0xf5, 0x80, 0x80, 0x80]));
        assert!(!is_valid(&[0xe2, 0x82]));
    }

    #[test]
    fn valid_text_split_at_every_byte_is_accepted() {
        // Autobahn 6.2.x: a valid message in fragments cut at every possible point.
        let text = hex(&format!("{KOSME}f09f9880e282acc3a924f48fbfbf"));
        for i in 0..=text.len() {
            for j in i..=text.len() {
                let mut v = StreamValidator::new();
                assert!(v.feed(&text[..i]));
                assert!(v.feed(&text[i..j]));
                assert!(v.feed(&text[j..]));
                assert!(v.finish(), "split at {i}/{j}");
            }
        }
        let mut v = StreamValidator::new();
        assert!(text.iter().all(|b| v.feed(&[*b])));
        assert!(v.finish());
    }

    #[test]
    fn invalid_code_point_fails_on_the_fragment_that_carries_it() {
        // Autobahn 6.4.1: "κόσμε" | F4 90 80 80 | "edited": the second fragment fails.
        let frags = [hex(KOSME), hex("f4908080"), b"edited".to_vec()];
        assert_eq!(first_failure(&frags), Some(1));
        // 6.4.2: "κόσμεF4" | 90 | "80 80 edited": fails on the lone 90.
        let frags = [hex(&format!("{KOSME}f4")), hex("90"), hex("8080656469746564")];
        assert_eq!(first_failure(&frags), Some(1));
    }

    #[test]
    fn impossible_byte_in_a_byte_by_byte_stream_fails_at_that_byte() {
        // Autobahn 6.4.3/6.4.4 send "κόσμε F4 90 80 80 edited" in small pieces.
        let text = hex(&format!("{KOSME}f4908080656469746564"));
        let bytes: Vec<Vec<u8>> = text.iter().map(|b| vec![*b]).collect();
        assert_eq!(first_failure(&bytes), Some(hex(KOSME).len() + 1));
        for size in 1..=5 {
            let chunks: Vec<Vec<u8>> = text.chunks(size).map(<[u8]>::to_vec).collect();
            let at = (hex(KOSME).len() + 1) / size;
            assert_eq!(first_failure(&chunks), Some(at), "chunk size {size}");
        }
    }

    #[test]
    fn truncated_sequences_that_are_already_impossible_fail_at_once() {
        for bad in ["f5", "c0", "c1", "ff", "80", "eda0", "f490", "e080", "f080", "f8"] {
            let frags = [hex(KOSME), hex(bad)];
            assert_eq!(first_failure(&frags), Some(1), "{bad}");
            // The same bytes split across fragments fail on the impossible byte.
            let bytes = hex(bad);
            let mut v = StreamValidator::new();
            assert!(v.feed(&bytes[..1]) == is_valid_prefix(&bytes[..1]), "{bad}");
        }
    }

    #[test]
    fn valid_prefixes_are_held_until_the_final_fragment() {
        for ok in ["f4", "f48f", "f48fbf", "ed9f", "e0a0", "f090", "c2"] {
            let mut v = StreamValidator::new();
            assert!(v.feed(&hex(ok)), "{ok}");
            assert!(!v.finish(), "{ok} is incomplete");
        }
    }

    #[test]
    fn a_failed_message_stays_failed_until_reset() {
        let mut v = StreamValidator::new();
        assert!(!v.feed(&[0xff]));
        assert!(!v.feed(b"a"));
        assert!(!v.finish());
        v.reset();
        assert!(v.feed(b"a"));
        assert!(v.finish());
    }

    #[test]
    fn reset_forgets_an_incomplete_code_point() {
        let mut v = StreamValidator::new();
        assert!(v.feed(&[0xe2, 0x82]));
        v.reset();
        assert!(v.feed(b"x"));
        assert!(v.finish());
    }

    #[test]
    fn fails_exactly_when_the_prefix_stops_being_extendable() {
        // Every 1..=4-byte sequence over interesting bytes, split at every point: the first
        // failing fragment is the first whose prefix cannot be completed, and `finish`
        // agrees with a whole-buffer check.
        let alphabet = ALPHABET;
        let mut seqs: Vec<Vec<u8>> = vec![vec![]];
        for _ in 0..4 {
            seqs = seqs
                .iter()
                .flat_map(|s| {
                    alphabet.iter().map(move |&b| {
                        let mut t = s.clone();
                        t.push(b);
                        t
                    })
                })
                .collect();
            for s in &seqs {
                check_every_split(s);
            }
        }
    }

    fn check_every_split(bytes: &[u8]) {
        // One split point is enough to exercise carrying; byte-by-byte covers the rest.
        for cut in 0..=bytes.len() {
            let frags = [bytes[..cut].to_vec(), bytes[cut..].to_vec()];
            let expected = (0..frags.len()).find(|&k| {
                let end = if k == 0 { cut } else { bytes.len() };
                !is_valid_prefix(&bytes[..end])
            });
            assert_eq!(first_failure(&frags), expected, "{bytes:02x?} cut at {cut}");
        }
        let mut v = StreamValidator::new();
        let mut failed_at = None;
        for (i, b) in bytes.iter().enumerate() {
            if !v.feed(&[*b]) {
                failed_at = Some(i);
                break;
            }
        }
        let expected = (1..=bytes.len()).find(|&n| !is_valid_prefix(&bytes[..n])).map(|n| n - 1);
        assert_eq!(failed_at, expected, "{bytes:02x?} byte by byte");
        if failed_at.is_none() {
            assert_eq!(v.finish(), std::str::from_utf8(bytes).is_ok(), "{bytes:02x?}");
        }
    }
}

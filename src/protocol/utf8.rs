//! UTF-8 validation (RFC 3629, as RFC 6455 §8.1 requires for text and close reasons): whole
//! buffers, and a streaming validator for fragmented messages. Sans-IO: slices in, no napi.
//!
//! Both use simdutf8, which picks SSE4.2/AVX2 at run time. The streaming validator fails fast,
//! as RFC 6455 §8.1 asks ("When an endpoint is to interpret a byte stream as UTF-8 but finds
//! that the byte stream is not, in fact, a valid UTF-8 stream, that endpoint MUST _Fail the
//! WebSocket Connection_") and Autobahn 6.4 checks: it reports the first fragment after
//! which no continuation could make the message valid, including a truncated sequence whose
//! bytes so far are already impossible (`F5`, `C0`, `ED A0`, `F4 90`).

/// True when `buf` is entirely valid UTF-8.
pub fn is_valid(buf: &[u8]) -> bool {
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
        let alphabet = [
            0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0,
            0xe1, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf4, 0xf5, 0xff,
        ];
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

//! UTF-8 validation: whole buffers and a streaming validator for fragmented messages.

/// True when `buf` is entirely valid UTF-8.
pub fn is_valid(buf: &[u8]) -> bool {
    simdutf8::basic::from_utf8(buf).is_ok()
}

/// Validates a text message fragment by fragment, failing on the first fragment after which
/// the message can no longer be valid UTF-8.
#[derive(Debug, Default)]
pub struct StreamValidator {
    pending: Vec<u8>,
}

impl StreamValidator {
    /// A validator at the start of a message.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next fragment; false once the message can no longer be valid.
    pub fn feed(&mut self, chunk: &[u8]) -> bool {
        self.pending.extend_from_slice(chunk);
        match std::str::from_utf8(&self.pending) {
            Ok(_) => {
                self.pending.clear();
                true
            }
            Err(e) if e.error_len().is_none() => {
                let tail = self.pending.split_off(e.valid_up_to());
                self.pending = tail;
                true
            }
            Err(_) => false,
        }
    }

    /// True when everything fed so far forms complete, valid UTF-8 (call at the final fragment).
    pub fn finish(&self) -> bool {
        self.pending.is_empty()
    }

    /// Forgets any state, ready for the next message.
    pub fn reset(&mut self) {
        self.pending.clear();
    }
}

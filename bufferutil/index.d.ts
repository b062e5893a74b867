/**
 * Masks `length` bytes of `source` with the 4-byte `mask` into `output`, starting at
 * `output[offset]` (`output[offset + i] = source[i] ^ mask[i & 3]`).
 */
export function mask(
  source: Uint8Array,
  mask: Uint8Array,
  output: Uint8Array,
  offset: number,
  length: number
): void;

/**
 * Unmasks `buffer` in place with the 4-byte `mask` (`buffer[i] ^= mask[i & 3]`).
 */
export function unmask(buffer: Uint8Array, mask: Uint8Array): void;

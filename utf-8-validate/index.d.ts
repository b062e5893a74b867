/**
 * Checks whether `buf` contains only valid UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF).
 */
declare function isValidUTF8(
  buf: ArrayBufferView | ArrayBuffer | SharedArrayBuffer
): boolean;

export = isValidUTF8;

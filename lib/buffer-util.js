'use strict';

const { EMPTY_BUFFER } = require('./constants');

//
// `Buffer[Symbol.species]` is Node's internal `FastBuffer`: a `Buffer` view over an
// existing `ArrayBuffer` without `Buffer.from()`'s argument dispatch.
//
const FastBuffer = Buffer[Symbol.species];

//
// Below these sizes a JS loop is cheaper than crossing into native code: measured on
// Node 20 (bench/mask-utf8.bench.js), a call to the addon costs about as much as
// masking 48 bytes or unmasking 32 bytes in JS, the thresholds ws uses for bufferutil.
//
const MASK_NATIVE_MIN = 48;
const UNMASK_NATIVE_MIN = 32;

/**
 * Merges an array of buffers into a new buffer.
 *
 * @param {Buffer[]} list The array of buffers to concat
 * @param {Number} totalLength The total length of buffers in the list
 * @return {Buffer} The resulting buffer
 * @public
 */
function concat(list, totalLength) {
  const count = list.length;

  if (count === 0) return EMPTY_BUFFER;
  if (count === 1) return list[0];

  const target = Buffer.allocUnsafe(totalLength);
  let written = 0;

  for (let i = 0; i < count; i++) {
    const chunk = list[i];

    target.set(chunk, written);
    written += chunk.length;
  }

  //
  // `totalLength` is the caller's count; if the chunks hold fewer bytes, return only
  // what was written so that uninitialized memory never leaks out.
  //
  return written < totalLength
    ? new FastBuffer(target.buffer, target.byteOffset, written)
    : target;
}

/**
 * Masks a buffer using the given mask (pure JS).
 *
 * @param {Buffer} source The buffer to mask
 * @param {Buffer} mask The mask to use
 * @param {Buffer} output The buffer where to store the result
 * @param {Number} offset The offset at which to start writing
 * @param {Number} length The number of bytes to mask.
 * @private
 */
function jsMask(source, mask, output, offset, length) {
  for (let i = 0; i < length; i++) {
    output[offset + i] = source[i] ^ mask[i & 3];
  }
}

/**
 * Unmasks a buffer using the given mask (pure JS).
 *
 * @param {Buffer} buffer The buffer to unmask
 * @param {Buffer} mask The mask to use
 * @private
 */
function jsUnmask(buffer, mask) {
  const length = buffer.length;

  for (let i = 0; i < length; i++) {
    buffer[i] ^= mask[i & 3];
  }
}

/**
 * Converts a buffer to an `ArrayBuffer`.
 *
 * @param {Buffer} buf The buffer to convert
 * @return {ArrayBuffer} Converted buffer
 * @public
 */
function toArrayBuffer(buf) {
  const { buffer, byteOffset, length } = buf;

  //
  // A view of a whole `ArrayBuffer` can hand it out as is; a view of a slice (pooled
  // buffers, receiver fragments) must be copied out.
  //
  if (length === buffer.byteLength) return buffer;

  return buffer.slice(byteOffset, byteOffset + length);
}

/**
 * Converts `data` to a `Buffer`.
 *
 * `toBuffer.readOnly` tells the caller whether the result shares memory with
 * `data` (`true`) or is a fresh copy it may modify (`false`).
 *
 * @param {*} data The data to convert
 * @return {Buffer} The buffer
 * @throws {TypeError}
 * @public
 */
function toBuffer(data) {
  toBuffer.readOnly = true;

  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return new FastBuffer(data);
  if (ArrayBuffer.isView(data)) {
    return new FastBuffer(data.buffer, data.byteOffset, data.byteLength);
  }

  const buf = Buffer.from(data);

  toBuffer.readOnly = false;
  return buf;
}

module.exports = {
  concat,
  mask: jsMask,
  toArrayBuffer,
  toBuffer,
  unmask: jsUnmask
};

//
// `WS_NO_BUFFER_UTIL` keeps its ws meaning: no native masking, only the JS loops.
//
if (!process.env.WS_NO_BUFFER_UTIL) {
  const native = require('./native');

  /**
   * Masks a buffer using the given mask.
   *
   * @param {Buffer} source The buffer to mask
   * @param {Buffer} mask The mask to use
   * @param {Buffer} output The buffer where to store the result
   * @param {Number} offset The offset at which to start writing
   * @param {Number} length The number of bytes to mask.
   * @public
   */
  module.exports.mask = function mask(source, mask, output, offset, length) {
    if (length < MASK_NATIVE_MIN) jsMask(source, mask, output, offset, length);
    else native.mask(source, mask, output, offset, length);
  };

  /**
   * Unmasks a buffer using the given mask.
   *
   * @param {Buffer} buffer The buffer to unmask
   * @param {Buffer} mask The mask to use
   * @public
   */
  module.exports.unmask = function unmask(buffer, mask) {
    if (buffer.length < UNMASK_NATIVE_MIN) jsUnmask(buffer, mask);
    else native.unmask(buffer, mask);
  };
}

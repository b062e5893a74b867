'use strict';

//
// A drop-in for the npm package `bufferutil` 4.x: the same two functions with the same
// arguments, implemented in the ws-rs addon (src/bindings/utils.rs). Install it under
// the name `bufferutil` (or `require('ws-rs/bufferutil')`) and the real `ws` uses it.
//
// The functions are the native ones themselves, with no JS wrapper in between: like the
// C package, they are meant for payloads where a native call pays (ws calls them from
// 48 bytes for `mask` and 32 for `unmask`). Unlike the C package, a wrong argument type
// throws a `TypeError` instead of aborting the process, and offsets or lengths beyond a
// buffer never touch memory outside it.
//

const native = require('../lib/native.js');

module.exports = {
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
  mask: native.mask,

  /**
   * Unmasks a buffer using the given mask.
   *
   * @param {Buffer} buffer The buffer to unmask
   * @param {Buffer} mask The mask to use
   * @public
   */
  unmask: native.unmask
};

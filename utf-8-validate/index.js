'use strict';

//
// A drop-in for the npm package `utf-8-validate` 6.x: the module is the validating
// function itself, implemented in the ws-rs addon (src/bindings/utils.rs, simdutf8).
// Install it under the name `utf-8-validate` (or `require('ws-rs/utf-8-validate')`) and
// the real `ws` uses it.
//
// The export is the native function itself, with no JS wrapper in between. It accepts a
// Buffer, any TypedArray, a DataView or an ArrayBuffer, and throws a `TypeError` for
// anything else (the C package aborts the process).
//

const { isValidUTF8 } = require('../lib/native.js');

/**
 * Checks if a given buffer contains only correct UTF-8.
 *
 * @param {(Buffer|TypedArray|DataView|ArrayBuffer)} buf The buffer to check
 * @return {Boolean} `true` if `buf` contains only correct UTF-8, else `false`
 * @public
 */
module.exports = isValidUTF8;

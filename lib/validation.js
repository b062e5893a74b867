'use strict';

const { isUtf8 } = require('buffer');

const { isUint8Array } = require('util').types;

const { EMPTY_BUFFER, hasBlob } = require('./constants');

//
// Below this size a JS loop beats any native call (the addon's and `buffer.isUtf8`'s
// fixed cost is about what the loop spends on 24 bytes, measured on Node 20 with
// bench/mask-utf8.bench.js), the threshold ws uses for `buffer.isUtf8`.
//
const UTF8_NATIVE_MIN = 24;

//
// `tchar` of RFC 7230 §3.2.6, the characters allowed in a header token:
// "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|"
// / "~" / DIGIT / ALPHA. `tokenChars[code] === 1` for those, 0 for the other 7-bit
// codes. A plain array, like ws's, because extension and subprotocol parsing index it.
//
const tokenChars = new Array(128).fill(0);

for (const char of "!#$%&'*+-.^_`|~") tokenChars[char.charCodeAt(0)] = 1;
for (let code = 0x30; code <= 0x39; code++) tokenChars[code] = 1;
for (let code = 0x41; code <= 0x5a; code++) {
  tokenChars[code] = 1;
  tokenChars[code + 0x20] = 1;
}

/**
 * Checks if a status code is allowed in a close frame.
 *
 * RFC 6455 §7.4: 1000-1014 except the codes that must never be sent (1004 is
 * reserved, 1005 and 1006 are for local reporting only), and 3000-4999 for
 * libraries and applications. ws's rule, kept exactly.
 *
 * @param {Number} code The status code
 * @return {Boolean} `true` if the status code is valid, else `false`
 * @public
 */
function isValidStatusCode(code) {
  if (code >= 3000 && code <= 4999) return true;
  if (code < 1000 || code > 1014) return false;
  return code < 1004 || code > 1006;
}

/**
 * Checks if a given buffer contains only correct UTF-8 (pure JS).
 *
 * Follows the `UTF8-char` grammar of RFC 3629 §4: the second byte's range depends on
 * the lead byte, which rules out overlong forms, surrogates (U+D800-U+DFFF) and code
 * points above U+10FFFF.
 *
 * @param {Buffer} buf The buffer to check
 * @return {Boolean} `true` if `buf` contains only correct UTF-8, else `false`
 * @private
 */
function jsIsValidUTF8(buf) {
  const length = buf.length;
  let i = 0;

  while (i < length) {
    const lead = buf[i];

    if (lead < 0x80) {
      i++;
      continue;
    }

    let trailing;
    let low = 0x80;
    let high = 0xbf;

    if (lead >= 0xc2 && lead <= 0xdf) {
      trailing = 1;
    } else if (lead >= 0xe0 && lead <= 0xef) {
      trailing = 2;
      if (lead === 0xe0) low = 0xa0;
      else if (lead === 0xed) high = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      trailing = 3;
      if (lead === 0xf0) low = 0x90;
      else if (lead === 0xf4) high = 0x8f;
    } else {
      return false;
    }

    if (i + trailing >= length) return false;

    const second = buf[i + 1];

    if (second < low || second > high) return false;

    for (let j = 2; j <= trailing; j++) {
      if ((buf[i + j] & 0xc0) !== 0x80) return false;
    }

    i += trailing + 1;
  }

  return true;
}

/**
 * Determines whether a value is a `Blob`.
 *
 * @param {*} value The value to be tested
 * @return {Boolean} `true` if `value` is a `Blob`, else `false`
 * @private
 */
function isBlob(value) {
  if (!hasBlob || typeof value !== 'object' || value === null) return false;

  const tag = value[Symbol.toStringTag];

  return (
    (tag === 'Blob' || tag === 'File') &&
    typeof value.arrayBuffer === 'function' &&
    typeof value.type === 'string' &&
    typeof value.stream === 'function'
  );
}

/**
 * Validates the arguments of `close()` and builds the close frame body: the
 * status code and the reason, with ws's errors.
 *
 * @param {Number} [code] The status code
 * @param {(String|Buffer)} [data] The reason
 * @return {Buffer} The body
 * @throws {TypeError} If `code` or `data` is not valid
 * @throws {RangeError} If the reason is longer than 123 bytes
 * @public
 */
function closeFrameBody(code, data) {
  if (code === undefined) return EMPTY_BUFFER;

  if (typeof code !== 'number' || !isValidStatusCode(code)) {
    throw new TypeError('First argument must be a valid error code number');
  }

  if (data === undefined || !data.length) {
    const buf = Buffer.allocUnsafe(2);

    buf.writeUInt16BE(code, 0);
    return buf;
  }

  const length = Buffer.byteLength(data);

  // RFC 6455 §5.5: a control frame payload is at most 125 bytes.
  if (length > 123) {
    throw new RangeError('The message must not be greater than 123 bytes');
  }

  const buf = Buffer.allocUnsafe(2 + length);

  buf.writeUInt16BE(code, 0);

  if (typeof data === 'string') {
    buf.write(data, 2);
  } else if (isUint8Array(data)) {
    buf.set(data, 2);
  } else {
    throw new TypeError('Second argument must be a string or a Uint8Array');
  }

  return buf;
}

module.exports = {
  closeFrameBody,
  isBlob,
  isValidStatusCode,
  isValidUTF8: jsIsValidUTF8,
  tokenChars
};

if (!process.env.WS_NO_UTF_8_VALIDATE) {
  const native = require('./native');

  /**
   * Checks if a given buffer contains only correct UTF-8.
   *
   * @param {Buffer} buf The buffer to check
   * @return {Boolean} `true` if `buf` contains only correct UTF-8, else `false`
   * @public
   */
  module.exports.isValidUTF8 = function isValidUTF8(buf) {
    return buf.length < UTF8_NATIVE_MIN
      ? jsIsValidUTF8(buf)
      : native.isValidUTF8(buf);
  };
} else if (isUtf8) {
  //
  // `WS_NO_UTF_8_VALIDATE` keeps its ws meaning: no validation addon. What remains is
  // what ws itself does without one: Node's own `buffer.isUtf8()` where it exists,
  // else the JS loop.
  //
  module.exports.isValidUTF8 = function isValidUTF8(buf) {
    return buf.length < UTF8_NATIVE_MIN ? jsIsValidUTF8(buf) : isUtf8(buf);
  };
}

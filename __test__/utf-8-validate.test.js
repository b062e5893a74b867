'use strict';

const assert = require('assert');
const crypto = require('crypto');
const path = require('path');
const { isUtf8 } = require('buffer');

const isValidUTF8 = require('../utf-8-validate');

const C_UTF_8_VALIDATE = path.join(
  __dirname,
  '..',
  'node_modules',
  'utf-8-validate'
);

describe('utf-8-validate drop-in', () => {
  it('exports the validating function itself, like utf-8-validate 6.x', () => {
    assert.strictEqual(typeof isValidUTF8, 'function');
    assert.strictEqual(
      require('../utf-8-validate/package.json').main,
      'index.js'
    );
  });

  it('accepts valid UTF-8 of every length', () => {
    assert.strictEqual(isValidUTF8(Buffer.alloc(0)), true);
    assert.strictEqual(isValidUTF8(Buffer.from('a')), true);
    assert.strictEqual(
      isValidUTF8(Buffer.from('κόσμε € 𐍈 $'.repeat(1000))),
      true
    );
    // prettier-ignore
    assert.strictEqual(isValidUTF8(Buffer.from([
      0xe2, 0x82, 0xac, // €
      0xf0, 0x90, 0x8c, 0x88, // 𐍈
      0x24 // $
    ])), true);
    assert.strictEqual(
      isValidUTF8(Buffer.from([0xf4, 0x8f, 0xbf, 0xbf])),
      true
    );
    assert.strictEqual(isValidUTF8(Buffer.from([0xed, 0x9f, 0xbf])), true);
  });

  it('rejects invalid bytes, overlongs, surrogates and code points > U+10FFFF', () => {
    for (const bytes of [
      [0xf8],
      [0xff],
      [0x80],
      [0xc0, 0xa0],
      [0xc1, 0xbf],
      [0xe0, 0x80, 0xa0],
      [0xf0, 0x80, 0x80, 0xa0],
      [0xed, 0xa0, 0x80],
      [0xed, 0xbf, 0xbf],
      [0xf4, 0x90, 0x80, 0x80],
      [0xf5, 0x80, 0x80, 0x80],
      [0xe2, 0x82],
      [0xce, 0xba, 0xe1]
    ]) {
      assert.strictEqual(isValidUTF8(Buffer.from(bytes)), false, bytes);

      //
      // Also past the first SIMD block, after ASCII and after multi-byte text.
      //
      const longer = Buffer.concat([
        Buffer.from('x'.repeat(100) + 'κόσμε'.repeat(20)),
        Buffer.from(bytes)
      ]);

      assert.strictEqual(isValidUTF8(longer), false, bytes);
    }
  });

  it('agrees with buffer.isUtf8 and the C utf-8-validate on random input', () => {
    const cIsValidUTF8 = require(C_UTF_8_VALIDATE);
    const text = Buffer.from('κόσμε € 𐍈 ascii text '.repeat(10));

    for (let i = 0; i < 2000; i++) {
      const buf = Buffer.from(text.subarray(0, 1 + (i % text.length)));

      //
      // Flip up to two random bytes so that about half the inputs are invalid.
      //
      for (let j = i % 3; j > 0; j--) {
        buf[crypto.randomInt(buf.length)] = crypto.randomInt(256);
      }

      const expected = isUtf8 ? isUtf8(buf) : cIsValidUTF8(buf);

      assert.strictEqual(isValidUTF8(buf), expected, buf.toString('hex'));
      assert.strictEqual(cIsValidUTF8(buf), expected);
    }
  });

  it('accepts any TypedArray, a DataView and an ArrayBuffer', () => {
    const valid = new TextEncoder().encode('héllo wörld');
    const invalid = new Uint8Array([0x61, 0xc0, 0x80, 0x61]);

    for (const [bytes, expected] of [
      [valid, true],
      [invalid, false]
    ]) {
      const { buffer, byteOffset, byteLength } = bytes;

      assert.strictEqual(isValidUTF8(bytes), expected);
      assert.strictEqual(
        isValidUTF8(new DataView(buffer, byteOffset, byteLength)),
        expected
      );
      assert.strictEqual(
        isValidUTF8(buffer.slice(byteOffset, byteOffset + byteLength)),
        expected
      );
      assert.strictEqual(
        isValidUTF8(new Int8Array(buffer, byteOffset, byteLength)),
        expected
      );
    }

    //
    // Wider elements are checked by bytes, as the C package does.
    //
    assert.strictEqual(isValidUTF8(new Uint16Array([0x4161])), true);
    assert.strictEqual(isValidUTF8(new Uint32Array([0xffffffff])), false);
    assert.strictEqual(isValidUTF8(new Float64Array(2)), true);
  });

  it('checks only the bytes of a view, not its whole ArrayBuffer', () => {
    const backing = Buffer.from([0xff, 0x61, 0x62, 0xff]);

    assert.strictEqual(isValidUTF8(backing.subarray(1, 3)), true);
    assert.strictEqual(isValidUTF8(backing), false);
  });

  it('throws a TypeError for a value that is not a buffer', () => {
    for (const value of ['abc', 1, null, undefined, {}, [0x61]]) {
      assert.throws(
        () => isValidUTF8(value),
        (err) => err instanceof TypeError && err.code === 'ERR_INVALID_ARG_TYPE'
      );
    }
  });
});

'use strict';

const assert = require('assert');
const crypto = require('crypto');

const {
  closeFrameBody,
  isBlob,
  isValidStatusCode,
  isValidUTF8,
  tokenChars
} = require('../lib/validation');
const { runChild } = require('./helpers/child');

describe('lib/validation', () => {
  describe('isValidStatusCode', () => {
    it("follows ws's rule for every code", () => {
      for (let code = -1; code <= 70000; code++) {
        const expected =
          (code >= 1000 &&
            code <= 1014 &&
            code !== 1004 &&
            code !== 1005 &&
            code !== 1006) ||
          (code >= 3000 && code <= 4999);

        assert.strictEqual(isValidStatusCode(code), expected, String(code));
      }
    });

    it('rejects non-integers and non-numbers outside the ranges', () => {
      assert.strictEqual(isValidStatusCode(NaN), false);
      assert.strictEqual(isValidStatusCode(undefined), false);
      assert.strictEqual(isValidStatusCode(999.5), false);
      assert.strictEqual(isValidStatusCode(5000.5), false);
      //
      // ws does not check for integers: 1000.5 and '3000' pass its range tests.
      //
      assert.strictEqual(isValidStatusCode(1000.5), true);
      assert.strictEqual(isValidStatusCode('3000'), true);
    });
  });

  describe('tokenChars', () => {
    it('is a 128-entry array marking the RFC 7230 tchar set', () => {
      const tchar = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]$/;

      assert.ok(Array.isArray(tokenChars));
      assert.strictEqual(tokenChars.length, 128);
      for (let code = 0; code < 128; code++) {
        const expected = tchar.test(String.fromCharCode(code)) ? 1 : 0;

        assert.strictEqual(tokenChars[code], expected, String(code));
      }
    });
  });

  describe('isBlob', () => {
    it('recognises a Blob and a File', () => {
      assert.strictEqual(isBlob(new Blob(['a'])), true);
      if (typeof File !== 'undefined') {
        assert.strictEqual(isBlob(new File(['a'], 'a.txt')), true);
      }
    });

    it('rejects other values', () => {
      for (const value of [
        null,
        undefined,
        'blob',
        Buffer.from('a'),
        new ArrayBuffer(1),
        { [Symbol.toStringTag]: 'Blob' }
      ]) {
        assert.strictEqual(isBlob(value), false);
      }
    });
  });

  describe('isValidUTF8', () => {
    it('passes the cases of ws test/validation.test.js', () => {
      assert.strictEqual(isValidUTF8(Buffer.from([0xf8])), false);
      assert.strictEqual(isValidUTF8(Buffer.from([0xc0, 0xa0])), false);
      assert.strictEqual(isValidUTF8(Buffer.from([0xe0, 0x80, 0xa0])), false);
      assert.strictEqual(
        isValidUTF8(Buffer.from([0xf4, 0x90, 0x80, 0x80])),
        false
      );
      assert.strictEqual(isValidUTF8(Buffer.from([0xed, 0xa0, 0x80])), false);
      assert.strictEqual(
        isValidUTF8(
          Buffer.from([0xe2, 0x82, 0xac, 0xf0, 0x90, 0x8c, 0x88, 0x24])
        ),
        true
      );
    });

    it('agrees with buffer.isUtf8 on both sides of the native threshold', () => {
      const { isUtf8 } = require('buffer');
      const text = Buffer.from('aé€𐍈'.repeat(20));

      for (let length = 0; length <= 80; length++) {
        for (let trial = 0; trial < 20; trial++) {
          const buf = Buffer.from(text.subarray(0, length));

          if (length && trial % 2) {
            buf[crypto.randomInt(length)] = crypto.randomInt(256);
          }

          assert.strictEqual(
            isValidUTF8(buf),
            isUtf8(buf),
            buf.toString('hex')
          );
        }
      }
    });

    it('checks every 1-4 byte sequence over boundary bytes like buffer.isUtf8', () => {
      const { isUtf8 } = require('buffer');
      // prettier-ignore
      const bytes = [
        0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf,
        0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff
      ];
      const buf = Buffer.alloc(4);

      for (const a of bytes) {
        for (const b of bytes) {
          for (const c of bytes) {
            for (const d of bytes) {
              buf[0] = a;
              buf[1] = b;
              buf[2] = c;
              buf[3] = d;
              for (let n = 1; n <= 4; n++) {
                const view = buf.subarray(0, n);

                assert.strictEqual(isValidUTF8(view), isUtf8(view));
              }
            }
          }
        }
      }
    });

    it('uses the addon unless WS_NO_UTF_8_VALIDATE is set', () => {
      const code =
        "const { isValidUTF8 } = require('./lib/validation');" +
        "const native = require('./lib/native');" +
        'let calls = 0; const orig = native.isValidUTF8;' +
        'native.isValidUTF8 = (b) => (calls++, orig(b));' +
        "const ok = isValidUTF8(Buffer.from('x'.repeat(100)));" +
        'console.log(ok, calls)';

      assert.strictEqual(runChild(code, {}), 'true 1');
      assert.strictEqual(
        runChild(code, { WS_NO_UTF_8_VALIDATE: '1' }),
        'true 0'
      );
    });
  });

  describe('closeFrameBody', () => {
    it("builds the body of a close frame with ws's errors", () => {
      assert.strictEqual(closeFrameBody().length, 0);
      assert.deepStrictEqual(closeFrameBody(1000), Buffer.from('03e8', 'hex'));
      assert.deepStrictEqual(
        closeFrameBody(4000, 'bye'),
        Buffer.from('0fa0627965', 'hex')
      );
      assert.deepStrictEqual(
        closeFrameBody(1001, new Uint8Array([1, 2])),
        Buffer.from('03e90102', 'hex')
      );
      assert.throws(() => closeFrameBody(1005), {
        name: 'TypeError',
        message: 'First argument must be a valid error code number'
      });
      assert.throws(() => closeFrameBody(1000, 'x'.repeat(124)), {
        name: 'RangeError',
        message: 'The message must not be greater than 123 bytes'
      });
      assert.throws(() => closeFrameBody(1000, new Uint16Array(1)), {
        name: 'TypeError',
        message: 'Second argument must be a string or a Uint8Array'
      });
    });
  });
});

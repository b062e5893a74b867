'use strict';

const assert = require('assert');
const crypto = require('crypto');

const {
  concat,
  mask,
  toArrayBuffer,
  toBuffer,
  unmask
} = require('../lib/buffer-util');
const { EMPTY_BUFFER } = require('../lib/constants');
const { runChild } = require('./helpers/child');

describe('lib/buffer-util', () => {
  describe('concat', () => {
    it('returns EMPTY_BUFFER for an empty list and the buffer itself for one', () => {
      const buf = Buffer.from('abc');

      assert.strictEqual(concat([], 0), EMPTY_BUFFER);
      assert.strictEqual(concat([buf], 3), buf);
    });

    it('merges the buffers in order', () => {
      const buf = concat(
        [Buffer.from([1, 2]), Buffer.from([3]), Buffer.from([4, 5, 6])],
        6
      );

      assert.deepStrictEqual([...buf], [1, 2, 3, 4, 5, 6]);
    });

    it('never returns uninitialized data', () => {
      const buf = concat([Buffer.from([1, 2]), Buffer.from([3, 4])], 100);

      assert.deepStrictEqual([...buf], [1, 2, 3, 4]);
    });

    it('accepts Uint8Array chunks', () => {
      const buf = concat([new Uint8Array([1]), Buffer.from([2])], 2);

      assert.ok(Buffer.isBuffer(buf));
      assert.deepStrictEqual([...buf], [1, 2]);
    });
  });

  describe('mask and unmask', () => {
    const key = Buffer.from([0x12, 0x34, 0x56, 0x78]);

    it('match the byte loop on both sides of the native threshold', () => {
      for (let length = 0; length <= 300; length++) {
        const source = crypto.randomBytes(length);
        const expected = Buffer.alloc(length + 5);
        const actual = Buffer.alloc(length + 5);

        for (let i = 0; i < length; i++) {
          expected[5 + i] = source[i] ^ key[i & 3];
        }

        mask(source, key, actual, 5, length);
        assert.ok(actual.equals(expected), `mask ${length}`);

        unmask(actual.subarray(5), key);
        assert.ok(actual.subarray(5).equals(source), `unmask ${length}`);
      }
    });

    it('use the addon unless WS_NO_BUFFER_UTIL is set', () => {
      const code =
        "const b = require('./lib/buffer-util');" +
        'console.log(b.mask.name, b.unmask.name)';

      assert.strictEqual(runChild(code, {}), 'mask unmask');
      assert.strictEqual(
        runChild(code, { WS_NO_BUFFER_UTIL: '1' }),
        'jsMask jsUnmask'
      );
    });

    it('give the same result with WS_NO_BUFFER_UTIL set', () => {
      const code =
        "const b = require('./lib/buffer-util');" +
        'const s = Buffer.alloc(100, 7), o = Buffer.alloc(100);' +
        'b.mask(s, Buffer.from([1, 2, 3, 4]), o, 0, 100);' +
        "b.unmask(s, Buffer.from([1, 2, 3, 4])); console.log(o.toString('hex'), s.equals(o))";
      const native = runChild(code, {});

      assert.strictEqual(runChild(code, { WS_NO_BUFFER_UTIL: '1' }), native);
      assert.ok(native.endsWith(' true'));
    });
  });

  describe('toArrayBuffer', () => {
    it('returns the underlying ArrayBuffer of a whole view', () => {
      const ab = new ArrayBuffer(4);

      assert.strictEqual(toArrayBuffer(Buffer.from(ab)), ab);
    });

    it('copies out the bytes of a partial view', () => {
      const buf = Buffer.from('hello world').subarray(6);
      const ab = toArrayBuffer(buf);

      assert.ok(ab instanceof ArrayBuffer);
      assert.strictEqual(Buffer.from(ab).toString(), 'world');
    });
  });

  describe('toBuffer', () => {
    it('returns a Buffer as is and marks it read-only', () => {
      const buf = Buffer.from('abc');

      assert.strictEqual(toBuffer(buf), buf);
      assert.strictEqual(toBuffer.readOnly, true);
    });

    it('wraps an ArrayBuffer and views without copying', () => {
      const ab = new ArrayBuffer(8);
      const fromAb = toBuffer(ab);

      assert.strictEqual(toBuffer.readOnly, true);
      assert.strictEqual(fromAb.buffer, ab);

      const view = new Uint16Array(ab, 2, 2);
      const fromView = toBuffer(view);

      assert.strictEqual(toBuffer.readOnly, true);
      assert.strictEqual(fromView.buffer, ab);
      assert.strictEqual(fromView.byteOffset, 2);
      assert.strictEqual(fromView.length, 4);

      const fromDataView = toBuffer(new DataView(ab, 1, 3));

      assert.strictEqual(fromDataView.length, 3);
    });

    it('copies anything else with Buffer.from and marks it writable', () => {
      const buf = toBuffer('héllo');

      assert.strictEqual(toBuffer.readOnly, false);
      assert.strictEqual(buf.toString(), 'héllo');

      assert.deepStrictEqual([...toBuffer([1, 2, 3])], [1, 2, 3]);
      assert.strictEqual(toBuffer.readOnly, false);
    });

    it('throws a TypeError for a value Buffer.from rejects', () => {
      assert.throws(() => toBuffer(1), TypeError);
    });
  });
});

'use strict';

const assert = require('assert');
const crypto = require('crypto');
const path = require('path');

const bufferUtil = require('../bufferutil');

const C_BUFFERUTIL = path.join(__dirname, '..', 'node_modules', 'bufferutil');

/**
 * The byte loop `bufferutil`'s JS fallback runs, as the reference.
 *
 * @param {Buffer} source The buffer to mask
 * @param {Buffer} mask The mask to use
 * @param {Buffer} output The buffer where to store the result
 * @param {Number} offset The offset at which to start writing
 * @param {Number} length The number of bytes to mask
 * @private
 */
function referenceMask(source, mask, output, offset, length) {
  for (let i = 0; i < length; i++) {
    output[offset + i] = source[i] ^ mask[i & 3];
  }
}

/**
 * Returns a view of `length` random bytes that starts `shift` bytes into its
 * `ArrayBuffer`, to exercise every alignment.
 *
 * @param {Number} length The view length
 * @param {Number} shift The byte offset of the view
 * @return {Buffer}
 * @private
 */
function unaligned(length, shift) {
  const backing = Buffer.alloc(length + shift + 8);

  crypto.randomFillSync(backing);
  return backing.subarray(shift, shift + length);
}

describe('bufferutil drop-in', () => {
  const key = Buffer.from([0x6d, 0xb6, 0xb2, 0x80]);

  it('exports mask and unmask like bufferutil 4.x', () => {
    assert.deepStrictEqual(Object.keys(bufferUtil).sort(), ['mask', 'unmask']);
    assert.strictEqual(typeof bufferUtil.mask, 'function');
    assert.strictEqual(typeof bufferUtil.unmask, 'function');
    assert.strictEqual(require('../bufferutil/package.json').main, 'index.js');
  });

  describe('mask', () => {
    it('matches the byte loop for every length, offset and alignment', () => {
      for (const length of [...Array(71).keys(), 255, 256, 257, 1000, 4099]) {
        for (let shift = 0; shift < 8; shift++) {
          const source = unaligned(length, shift);

          for (const offset of [0, 1, 2, 3, 6, 10, 14]) {
            const expected = Buffer.alloc(length + offset + 3, 0x55);
            const actual = Buffer.from(expected);

            referenceMask(source, key, expected, offset, length);
            bufferUtil.mask(source, key, actual, offset, length);
            assert.ok(actual.equals(expected), `${length}/${shift}/${offset}`);
          }
        }
      }
    });

    it('masks only `length` bytes of a longer source', () => {
      const source = Buffer.from(
        'Hello, World! This is a long enough payload.'
      );
      const expected = Buffer.alloc(60);
      const actual = Buffer.alloc(60);

      referenceMask(source, key, expected, 4, 20);
      bufferUtil.mask(source, key, actual, 4, 20);
      assert.ok(actual.equals(expected));
    });

    it('gives the same bytes as the C bufferutil', () => {
      const cBufferUtil = require(C_BUFFERUTIL);

      for (const length of [48, 100, 1024, 65536 + 3]) {
        const source = crypto.randomBytes(length);
        const mask = crypto.randomBytes(4);
        const expected = Buffer.alloc(length + 6);
        const actual = Buffer.alloc(length + 6);

        cBufferUtil.mask(source, mask, expected, 6, length);
        bufferUtil.mask(source, mask, actual, 6, length);
        assert.ok(actual.equals(expected), `length ${length}`);
      }
    });

    it('masks in place when source and output are the same buffer', () => {
      const data = crypto.randomBytes(1000);
      const expected = Buffer.alloc(1000);
      const buf = Buffer.from(data);

      referenceMask(data, key, expected, 0, 1000);
      bufferUtil.mask(buf, key, buf, 0, 1000);
      assert.ok(buf.equals(expected));
    });

    it('reads the whole source first when source and output overlap', () => {
      const backing = crypto.randomBytes(1100);
      const source = Buffer.from(backing.subarray(0, 1000));
      const expected = Buffer.from(backing);

      referenceMask(source, key, expected, 10, 1000);
      bufferUtil.mask(backing.subarray(0, 1000), key, backing, 10, 1000);
      assert.ok(backing.equals(expected));
    });

    it('never writes outside the output buffer', () => {
      const backing = Buffer.alloc(64, 0xaa);
      const output = backing.subarray(16, 48);
      const source = crypto.randomBytes(100);

      bufferUtil.mask(source, key, output, 20, 100);
      bufferUtil.mask(source, key, output, -5, 100);
      bufferUtil.mask(source, key, output, 1e9, 100);
      bufferUtil.mask(source, key, output, 0, -1);
      bufferUtil.mask(source.subarray(0, 3), key, output, 0, 100);
      assert.ok(backing.subarray(0, 16).every((b) => b === 0xaa));
      assert.ok(backing.subarray(48).every((b) => b === 0xaa));

      //
      // What lands inside is what the JS fallback writes (it drops out-of-range
      // stores).
      //
      const expected = Buffer.alloc(32, 0xaa);
      const actual = Buffer.alloc(32, 0xaa);

      referenceMask(source, key, expected, -5, 100);
      bufferUtil.mask(source, key, actual, -5, 100);
      assert.ok(actual.equals(expected));
    });

    it('accepts any ArrayBufferView', () => {
      const source = new Uint8Array(crypto.randomBytes(64));
      const output = new DataView(new ArrayBuffer(64));
      const expected = Buffer.alloc(64);

      referenceMask(source, key, expected, 0, 64);
      bufferUtil.mask(source, new Uint8Array(key), output, 0, 64);
      assert.ok(Buffer.from(output.buffer).equals(expected));
    });

    it('throws a TypeError for a value that is not a buffer', () => {
      assert.throws(
        () => bufferUtil.mask('abc', key, Buffer.alloc(3), 0, 3),
        (err) => err instanceof TypeError && err.code === 'ERR_INVALID_ARG_TYPE'
      );
      assert.throws(
        () => bufferUtil.mask(Buffer.alloc(3), key, Buffer.alloc(3), 'x', 3),
        TypeError
      );
    });
  });

  describe('unmask', () => {
    it('matches the byte loop for every length and alignment', () => {
      for (const length of [...Array(71).keys(), 255, 256, 257, 1000, 4099]) {
        for (let shift = 0; shift < 8; shift++) {
          const buf = unaligned(length, shift);
          const expected = Buffer.from(buf);

          referenceMask(buf, key, expected, 0, length);
          bufferUtil.unmask(buf, key);
          assert.ok(buf.equals(expected), `${length}/${shift}`);
        }
      }
    });

    it('is its own inverse', () => {
      const data = crypto.randomBytes(1 << 20);
      const buf = Buffer.from(data);

      bufferUtil.unmask(buf, key);
      assert.ok(!buf.equals(data));
      bufferUtil.unmask(buf, key);
      assert.ok(buf.equals(data));
    });

    it('unmasks RFC 6455 §5.7 "Hello"', () => {
      const payload = Buffer.from('7f9f4d5158', 'hex');

      bufferUtil.unmask(payload, Buffer.from('37fa213d', 'hex'));
      assert.strictEqual(payload.toString(), 'Hello');
    });

    it('treats the missing octets of a short mask as 0', () => {
      const buf = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]);

      bufferUtil.unmask(buf, Buffer.from([0xff, 0xff]));
      assert.deepStrictEqual([...buf], [0xfe, 0xfd, 3, 4, 0xfa, 0xf9, 7, 8]);
    });

    it('throws a TypeError for a value that is not a buffer', () => {
      assert.throws(() => bufferUtil.unmask([1, 2, 3], key), TypeError);
      assert.throws(() => bufferUtil.unmask(Buffer.alloc(3)), TypeError);
    });
  });
});

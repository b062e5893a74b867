'use strict';

const assert = require('assert');
const crypto = require('crypto');

const PerMessageDeflate = require('../lib/permessage-deflate');
const { kStatusCode } = require('../lib/constants');

/**
 * Returns a `PerMessageDeflate` that accepted `params`.
 *
 * @param {Object} [options] The constructor options
 * @param {Object} [params] The accepted parameters
 * @return {PerMessageDeflate} The extension
 */
function negotiated(options, params = {}) {
  const perMessageDeflate = new PerMessageDeflate(options);

  perMessageDeflate.accept([
    Object.fromEntries(Object.entries(params).map(([k, v]) => [k, [v]]))
  ]);
  return perMessageDeflate;
}

/**
 * Promisifies `compress()` / `decompress()`.
 *
 * @param {PerMessageDeflate} perMessageDeflate The extension
 * @param {String} method `'compress'` or `'decompress'`
 * @param {Buffer} data The input
 * @param {Boolean} fin The `fin` argument
 * @return {Promise<Buffer>} The output
 */
function run(perMessageDeflate, method, data, fin) {
  return new Promise((resolve, reject) => {
    perMessageDeflate[method](data, fin, (err, buf) =>
      err ? reject(err) : resolve(buf)
    );
  });
}

describe('PerMessageDeflate (ws-rs)', () => {
  it('frees an idle compressor and goes on with its window as the dictionary', async function () {
    this.timeout(10000);

    const zlib = require('zlib');
    const { NativeDeflate } = require('../lib/native');
    const { compact } = NativeDeflate.prototype;
    const freed = [];

    NativeDeflate.prototype.compact = function () {
      const result = compact.call(this);

      freed.push(result);
      return result;
    };

    try {
      const perMessageDeflate = new PerMessageDeflate({ threshold: 0 }, true);

      perMessageDeflate.accept([{}]);

      const message = Buffer.from(crypto.randomBytes(3000).toString('base64'));
      const compress = () =>
        new Promise((resolve, reject) => {
          perMessageDeflate.compress(message, true, (err, data) =>
            err ? reject(err) : resolve(data)
          );
        });
      const first = await compress();

      //
      // The idle sweep runs every second: within two, the compressor is
      // freed.
      //
      await new Promise((resolve) => setTimeout(resolve, 2200));
      assert.deepStrictEqual(freed, [true]);

      const second = await compress();
      const tail = Buffer.from([0x00, 0x00, 0xff, 0xff]);

      //
      // One continuous stream for the peer: the repeat is back-references
      // into the first message.
      //
      assert.ok(second.length * 10 < first.length);
      assert.deepStrictEqual(
        zlib.inflateRawSync(Buffer.concat([first, tail, second, tail]), {
          finishFlush: zlib.constants.Z_SYNC_FLUSH
        }),
        Buffer.concat([message, message])
      );
      perMessageDeflate.cleanup();
    } finally {
      NativeDeflate.prototype.compact = compact;
    }
  });

  it('never calls back synchronously', (done) => {
    const perMessageDeflate = negotiated();
    let returned = false;

    perMessageDeflate.compress(Buffer.from('x'), true, (err, data) => {
      assert.ok(returned);
      assert.ifError(err);

      let returnedAgain = false;

      perMessageDeflate.decompress(data, true, (err, buf) => {
        assert.ok(returnedAgain);
        assert.ifError(err);
        assert.deepStrictEqual(buf, Buffer.from('x'));
        done();
      });
      returnedAgain = true;
    });
    returned = true;
  });

  it('round-trips small and large fragments, keeping their order', async () => {
    const sender = negotiated();
    const receiver = negotiated({ isServer: true });
    const parts = [
      Buffer.from('tiny'),
      crypto.randomBytes(200 * 1024),
      Buffer.alloc(300 * 1024, 'z'),
      Buffer.from('end')
    ];

    //
    // All the operations are started at once: the results must still come
    // back in order even though the large ones run off-thread.
    //
    const compressed = await Promise.all(
      parts.map((part, i) =>
        run(sender, 'compress', part, i === parts.length - 1)
      )
    );
    const inflated = await Promise.all(
      compressed.map((data, i) =>
        run(receiver, 'decompress', data, i === parts.length - 1)
      )
    );

    assert.deepStrictEqual(Buffer.concat(inflated), Buffer.concat(parts));
  });

  it('strips the 00 00 ff ff tail only on the final fragment', async () => {
    const perMessageDeflate = negotiated();
    const first = await run(
      perMessageDeflate,
      'compress',
      Buffer.from('a'),
      false
    );
    const last = await run(
      perMessageDeflate,
      'compress',
      Buffer.from('b'),
      true
    );

    assert.deepStrictEqual(first.subarray(-4), Buffer.from('0000ffff', 'hex'));
    assert.notDeepStrictEqual(
      last.subarray(-4),
      Buffer.from('0000ffff', 'hex')
    );
  });

  it('shapes inflate errors like zlib errors and recovers', async () => {
    const perMessageDeflate = negotiated();

    await assert.rejects(
      run(perMessageDeflate, 'decompress', Buffer.from('ffff', 'hex'), true),
      (err) => {
        assert.strictEqual(err.constructor, Error);
        assert.strictEqual(err.code, 'Z_DATA_ERROR');
        assert.strictEqual(err.errno, -3);
        assert.strictEqual(err[kStatusCode], 1007);
        return true;
      }
    );
    assert.strictEqual(perMessageDeflate._inflate, null);

    const data = await run(
      perMessageDeflate,
      'compress',
      Buffer.from('ok'),
      true
    );

    assert.deepStrictEqual(
      await run(perMessageDeflate, 'decompress', data, true),
      Buffer.from('ok')
    );
  });

  it('fails with a RangeError when the inflated data exceeds `maxPayload`', async () => {
    const perMessageDeflate = negotiated({ maxPayload: 1024 });
    const data = await run(
      perMessageDeflate,
      'compress',
      Buffer.alloc(2 * 1024 * 1024, 'a'),
      true
    );

    await assert.rejects(
      run(perMessageDeflate, 'decompress', data, true),
      (err) => {
        assert.strictEqual(err.constructor, RangeError);
        assert.strictEqual(err.message, 'Max payload size exceeded');
        assert.strictEqual(err.code, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
        assert.strictEqual(err[kStatusCode], 1009);
        return true;
      }
    );
  });

  it('resets the compressor between messages without context takeover', async () => {
    const perMessageDeflate = negotiated(
      { isServer: true },
      { server_no_context_takeover: true }
    );
    const text = Buffer.from('hello hello hello hello');
    const first = await run(perMessageDeflate, 'compress', text, true);
    const second = await run(perMessageDeflate, 'compress', text, true);

    assert.deepStrictEqual(first, second);
  });

  it('fails a pending compression and drops a pending decompression on cleanup', (done) => {
    const perMessageDeflate = negotiated();
    const big = crypto.randomBytes(256 * 1024);

    perMessageDeflate.decompress(Buffer.from('ff', 'hex'), false, () => {
      done(new Error('The dropped decompression called back'));
    });
    perMessageDeflate.compress(big, true, (err) => {
      assert.strictEqual(
        err.message,
        'The deflate stream was closed while data was being processed'
      );

      // The concurrency slots were released: new operations still run.
      setImmediate(() => {
        run(perMessageDeflate, 'compress', Buffer.from('again'), true)
          .then((data) => run(perMessageDeflate, 'decompress', data, true))
          .then((data) => {
            assert.deepStrictEqual(data, Buffer.from('again'));
            setImmediate(done);
          }, done);
      });
    });
    perMessageDeflate.cleanup();
    assert.strictEqual(perMessageDeflate._deflate, null);
    assert.strictEqual(perMessageDeflate._inflate, null);
  });

  it('exposes the zlib options on `_deflate` and `_inflate`', async () => {
    const perMessageDeflate = negotiated({
      zlibDeflateOptions: { level: 2, chunkSize: 1024 },
      zlibInflateOptions: { chunkSize: 4096 }
    });
    const data = await run(
      perMessageDeflate,
      'compress',
      Buffer.from('a'),
      true
    );

    await run(perMessageDeflate, 'decompress', data, true);
    assert.strictEqual(perMessageDeflate._deflate._level, 2);
    assert.strictEqual(perMessageDeflate._deflate._chunkSize, 1024);
    assert.strictEqual(perMessageDeflate._inflate._chunkSize, 4096);
  });

  it('rejects window bits outside 8-15 with ws messages', () => {
    for (const value of ['7', '16', '1.5', 'x']) {
      assert.throws(
        () =>
          new PerMessageDeflate({ isServer: true }).accept([
            { server_max_window_bits: [value] }
          ]),
        {
          constructor: TypeError,
          message: `Invalid value for parameter "server_max_window_bits": ${value}`
        }
      );
    }
  });

  it("throws Node zlib's TypeError for a zlib option that is not a number", () => {
    const zlib = require('zlib');

    for (const value of ['x', null, {}, true, 'a'.repeat(40), Symbol('s')]) {
      let expected;

      try {
        zlib.createDeflateRaw({ memLevel: value });
      } catch (err) {
        expected = err;
      }

      const perMessageDeflate = new PerMessageDeflate({
        zlibDeflateOptions: { memLevel: value }
      });

      perMessageDeflate.accept([{}]);
      assert.throws(
        () => perMessageDeflate.compress(Buffer.from('hi'), true, () => {}),
        (err) =>
          err instanceof TypeError &&
          err.code === expected.code &&
          err.message === expected.message
      );
    }
  });

  it('compresses below the threshold only with context takeover', () => {
    const takeover = new PerMessageDeflate({ isServer: true, threshold: 10 });

    takeover.accept([{}]);
    assert.strictEqual(takeover.compresses(1), true);

    const noTakeover = new PerMessageDeflate({
      isServer: true,
      threshold: 10,
      serverNoContextTakeover: true
    });

    noTakeover.accept([{ server_no_context_takeover: [true] }]);
    assert.strictEqual(noTakeover.compresses(9), false);
    assert.strictEqual(noTakeover.compresses(10), true);
  });
});

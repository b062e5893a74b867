'use strict';

const assert = require('assert');
const crypto = require('crypto');
const path = require('path');
const zlib = require('zlib');

const {
  NativeDeflate,
  NativeInflate,
  acceptKey,
  isValidKey,
  parseExtensionHeader,
  parseSubprotocolHeader
} = require('../lib/native');

const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/**
 * Builds a moderately compressible buffer: repeated words mixed with random
 * bytes.
 *
 * @param {Number} length The length of the buffer
 * @return {Buffer} The buffer
 */
function sample(length) {
  const parts = [];
  let size = 0;

  while (size < length) {
    const part =
      Math.random() < 0.5
        ? Buffer.from('permessage-deflate ')
        : crypto.randomBytes(8);
    parts.push(part);
    size += part.length;
  }

  return Buffer.concat(parts).subarray(0, length);
}

/**
 * Inflates the compressed fragments of one message with Node's zlib.
 *
 * @param {Buffer[]} fragments The compressed fragments, as sent
 * @param {Number} [windowBits=15] The window of the inflater
 * @return {Buffer} The message
 */
function nodeInflate(fragments, windowBits = 15) {
  return zlib.inflateRawSync(Buffer.concat([...fragments, TRAILER]), {
    finishFlush: zlib.constants.Z_SYNC_FLUSH,
    windowBits
  });
}

describe('NativeDeflate', () => {
  it('compresses "Hello" as RFC 7692 section 7.2.3.1', () => {
    const deflate = new NativeDeflate({});

    assert.strictEqual(
      deflate.compress(Buffer.from('Hello'), true).toString('hex'),
      'f248cdc9c90700'
    );
  });

  it('reuses the window across messages unless told not to', () => {
    const takeover = new NativeDeflate({});
    const hello = Buffer.from('Hello');

    takeover.compress(hello, true);
    assert.strictEqual(
      takeover.compress(hello, true).toString('hex'),
      'f200110000'
    );

    const noTakeover = new NativeDeflate({ noContextTakeover: true });

    noTakeover.compress(hello, true);
    assert.strictEqual(
      noTakeover.compress(hello, true).toString('hex'),
      'f248cdc9c90700'
    );
  });

  it('produces streams that Node zlib inflates, for every window size', () => {
    for (let windowBits = 8; windowBits <= 15; windowBits++) {
      const deflate = new NativeDeflate({ windowBits });
      const data = sample(50000);
      const compressed = deflate.compress(data, true);

      assert.ok(compressed.length < data.length);
      //
      // Node inflates a raw stream with at least a 512-byte window, so 8 is
      // checked with 9 here; the Rust tests check the distances against 256.
      //
      assert.ok(
        nodeInflate([compressed], Math.max(windowBits, 9)).equals(data)
      );
    }
  });

  it('keeps the tail of every fragment but the last', () => {
    const deflate = new NativeDeflate({ level: 1 });
    const data = sample(30000);
    const fragments = [
      deflate.compress(data.subarray(0, 10000), false),
      deflate.compress(data.subarray(10000, 20000), false),
      deflate.compress(data.subarray(20000), true)
    ];

    assert.ok(fragments[0].subarray(-4).equals(TRAILER));
    assert.ok(fragments[1].subarray(-4).equals(TRAILER));
    assert.ok(!fragments[2].subarray(-4).equals(TRAILER));
    assert.ok(nodeInflate(fragments).equals(data));
  });

  it('compresses an empty message to a single zero byte', () => {
    const deflate = new NativeDeflate();

    assert.ok(deflate.compress(Buffer.alloc(0), true).equals(Buffer.from([0])));
  });

  it('accepts the level, memLevel and strategy options', () => {
    const data = sample(20000);

    for (const options of [
      { level: 0 },
      { level: 9, memLevel: 9 },
      { memLevel: 1, strategy: zlib.constants.Z_HUFFMAN_ONLY },
      { level: -1, strategy: zlib.constants.Z_RLE }
    ]) {
      const deflate = new NativeDeflate(options);

      assert.ok(nodeInflate([deflate.compress(data, true)]).equals(data));
    }
  });

  it('applies memLevel and strategy (the output changes)', () => {
    const data = sample(60000);
    const compress = (options) =>
      new NativeDeflate(options).compress(data, true);
    const reference = compress({});

    //
    // Were the options ignored, these would all be byte-identical to the
    // default stream.
    //
    for (const options of [
      { memLevel: 1 },
      { strategy: zlib.constants.Z_HUFFMAN_ONLY },
      { strategy: zlib.constants.Z_RLE },
      { strategy: zlib.constants.Z_FIXED }
    ]) {
      const compressed = compress(options);

      assert.ok(!compressed.equals(reference), JSON.stringify(options));
      assert.ok(nodeInflate([compressed]).equals(data));
    }

    assert.ok(
      compress({ strategy: zlib.constants.Z_HUFFMAN_ONLY }).length >
        reference.length
    );
    assert.ok(
      compress({ level: 6, memLevel: 8, strategy: 0 }).equals(reference)
    );
  });

  it('rejects out-of-range options as Node zlib does', () => {
    for (const options of [
      { level: -2 },
      { level: 10 },
      { memLevel: 0 },
      { memLevel: 10 },
      { strategy: -1 },
      { strategy: 5 },
      { strategy: Infinity },
      { windowBits: 7 },
      { windowBits: 16 },
      { memLevel: 1e10 }
    ]) {
      let expected;

      try {
        zlib.createDeflateRaw(options);
      } catch (err) {
        expected = err;
      }

      assert.ok(expected, JSON.stringify(options));
      assert.throws(
        () => new NativeDeflate(options),
        (err) => {
          assert.ok(err instanceof RangeError);
          assert.strictEqual(err.code, expected.code);
          assert.strictEqual(err.message, expected.message);
          return true;
        },
        JSON.stringify(options)
      );
    }

    //
    // NaN falls back to the default and fractions are truncated, as in Node.
    //
    for (const options of [
      { memLevel: NaN },
      { level: 4.5 },
      { memLevel: 8.9 }
    ]) {
      const data = sample(1000);

      assert.ok(
        nodeInflate([new NativeDeflate(options).compress(data, true)]).equals(
          data
        )
      );
    }
  });

  it('makes send() throw as ws does for a bad zlibDeflateOptions', async () => {
    /**
     * Runs one server with `memLevel: 10` and returns what its send() threw.
     *
     * @param {Object} lib The library (ws-rs or npm ws)
     * @return {Promise<Error>} The error
     */
    function sendError(lib) {
      return new Promise((resolve, reject) => {
        const wss = new lib.WebSocketServer(
          {
            port: 0,
            perMessageDeflate: {
              threshold: 0,
              zlibDeflateOptions: { memLevel: 10 }
            }
          },
          () => {
            const ws = new lib(`ws://127.0.0.1:${wss.address().port}`);

            ws.on('open', () => ws.send('hello'));
            ws.on('error', () => {});
            ws.on('close', () => wss.close());
          }
        );
        const timer = setTimeout(() => reject(new Error('timeout')), 5000);

        wss.on('connection', (ws) => {
          ws.on('message', (data) => {
            clearTimeout(timer);
            try {
              ws.send(data);
              reject(new Error('send() did not throw'));
            } catch (err) {
              resolve(err);
            }
            ws.terminate();
          });
        });
      });
    }

    const ours = await sendError(require('..'));
    const theirs = await sendError(require('ws'));

    assert.ok(ours instanceof RangeError);
    assert.strictEqual(ours.code, theirs.code);
    assert.strictEqual(ours.message, theirs.message);
  });

  it('restarts the stream after reset()', () => {
    const deflate = new NativeDeflate({});
    const hello = Buffer.from('Hello');

    deflate.compress(hello, true);
    deflate.reset();
    assert.strictEqual(
      deflate.compress(hello, true).toString('hex'),
      'f248cdc9c90700'
    );
  });

  it('compresses on the thread pool with compressAsync()', async () => {
    const deflate = new NativeDeflate({ windowBits: 10 });
    const messages = [sample(100000), sample(5), sample(300000)];
    const sync = new NativeDeflate({ windowBits: 10 });

    for (const data of messages) {
      const compressed = await deflate.compressAsync(data, true);

      assert.ok(compressed.equals(sync.compress(data, true)));
    }
  });
});

describe('NativeInflate', () => {
  it('inflates the RFC 7692 examples', () => {
    const inflate = new NativeInflate({});

    assert.strictEqual(
      inflate.decompress(Buffer.from('f248cdc9c90700', 'hex'), true).toString(),
      'Hello'
    );
    assert.strictEqual(
      inflate.decompress(Buffer.from('f200110000', 'hex'), true).toString(),
      'Hello'
    );

    const fresh = new NativeInflate({});
    const first = fresh.decompress(Buffer.from('f248cd', 'hex'), false);
    const second = fresh.decompress(Buffer.from('c9c90700', 'hex'), true);

    assert.strictEqual(Buffer.concat([first, second]).toString(), 'Hello');
  });

  it('inflates what Node zlib deflates, for every window size', () => {
    for (let windowBits = 9; windowBits <= 15; windowBits++) {
      const inflate = new NativeInflate({ windowBits });

      for (let i = 0; i < 3; i++) {
        const data = sample(40000);
        const compressed = zlib.deflateRawSync(data, { windowBits });

        assert.ok(inflate.decompress(compressed, true).equals(data));
      }
    }
  });

  it('inflates a fragmented message across calls', () => {
    const data = sample(200000);
    const compressed = zlib
      .deflateRawSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH })
      .subarray(0, -4);
    const inflate = new NativeInflate({});
    const out = [];

    for (let i = 0; i < compressed.length; i += 1000) {
      const end = Math.min(i + 1000, compressed.length);

      out.push(
        inflate.decompress(
          compressed.subarray(i, end),
          end === compressed.length
        )
      );
    }

    assert.ok(Buffer.concat(out).equals(data));
  });

  it('drops the window after each message with noContextTakeover', () => {
    const deflate = new NativeDeflate({});
    const first = deflate.compress(Buffer.from('Hello'), true);
    const second = deflate.compress(Buffer.from('Hello'), true);
    const inflate = new NativeInflate({ noContextTakeover: true });

    assert.strictEqual(inflate.decompress(first, true).toString(), 'Hello');
    assert.throws(() => inflate.decompress(second, true), {
      code: 'Z_DATA_ERROR',
      message: 'invalid distance too far back'
    });
  });

  it('stops a decompression bomb at maxPayload', () => {
    const bomb = zlib
      .deflateRawSync(Buffer.alloc(256 * 1024 * 1024), {
        finishFlush: zlib.constants.Z_SYNC_FLUSH
      })
      .subarray(0, -4);
    const inflate = new NativeInflate({ maxPayload: 1024 * 1024 });

    assert.ok(bomb.length < 512 * 1024);

    const before = process.memoryUsage().rss;

    assert.throws(
      () => inflate.decompress(bomb, true),
      (err) => {
        assert.ok(err instanceof Error);
        assert.strictEqual(err.code, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
        assert.strictEqual(err.message, 'Max payload size exceeded');
        return true;
      }
    );
    assert.ok(process.memoryUsage().rss - before < 64 * 1024 * 1024);

    //
    // The inflater starts afresh after an error.
    //
    const hello = zlib.deflateRawSync(Buffer.from('Hello'));

    assert.strictEqual(inflate.decompress(hello, true).toString(), 'Hello');
  });

  it('counts maxPayload across the fragments of a message', () => {
    const deflate = new NativeDeflate({});
    const first = deflate.compress(Buffer.alloc(600, 'a'), false);
    const last = deflate.compress(Buffer.alloc(600, 'b'), true);
    const inflate = new NativeInflate({ maxPayload: 1000 });

    assert.strictEqual(inflate.decompress(first, false).length, 600);
    assert.throws(() => inflate.decompress(last, true), {
      code: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH',
      message: 'Max payload size exceeded'
    });

    const exact = new NativeDeflate({}).compress(Buffer.alloc(1000), true);

    assert.strictEqual(inflate.decompress(exact, true).length, 1000);
  });

  it('throws errors shaped as Node zlib ones on corrupt data', () => {
    const inflate = new NativeInflate({});
    const data = Buffer.from([0x00, 0x05, 0x00, 0x00, 0x00]);
    let nodeError;

    try {
      zlib.inflateRawSync(data);
    } catch (err) {
      nodeError = err;
    }

    assert.throws(
      () => inflate.decompress(data, true),
      (err) => {
        assert.strictEqual(err.code, nodeError.code);
        assert.strictEqual(err.message, nodeError.message);
        assert.strictEqual(err.message, 'invalid stored block lengths');
        return true;
      }
    );
  });

  it('inflates on the thread pool with decompressAsync()', async () => {
    const data = sample(500000);
    const inflate = new NativeInflate({ windowBits: 11 });
    const compressed = zlib.deflateRawSync(data, { windowBits: 11 });

    assert.ok((await inflate.decompressAsync(compressed, true)).equals(data));
    assert.ok((await inflate.decompressAsync(compressed, true)).equals(data));
  });

  it('rejects decompressAsync() with the same errors', async () => {
    const bomb = zlib.deflateRawSync(Buffer.alloc(16 * 1024 * 1024));
    const inflate = new NativeInflate({ maxPayload: 65536 });

    await assert.rejects(inflate.decompressAsync(bomb, true), {
      code: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH',
      message: 'Max payload size exceeded'
    });
    await assert.rejects(
      inflate.decompressAsync(Buffer.from([0xff]), true),
      (err) => {
        assert.ok(err instanceof Error);
        assert.strictEqual(err.code, 'Z_DATA_ERROR');
        assert.strictEqual(err.message, 'invalid block type');
        return true;
      }
    );
  });
});

describe('header helpers', () => {
  it('parseExtensionHeader() lists the offers in header order', () => {
    assert.deepStrictEqual(
      parseExtensionHeader(
        'permessage-deflate; client_max_window_bits; server_max_window_bits="10", foo'
      ),
      [
        {
          name: 'permessage-deflate',
          params: [
            { key: 'client_max_window_bits', value: true },
            { key: 'server_max_window_bits', value: '10' }
          ]
        },
        { name: 'foo', params: [] }
      ]
    );
  });

  it('parseExtensionHeader() throws with ws messages', () => {
    assert.throws(() => parseExtensionHeader('foo;bar="baz"qux'), {
      message: 'Unexpected character at index 13'
    });
    assert.throws(() => parseExtensionHeader('foo;bar='), {
      message: 'Unexpected end of input'
    });
    assert.throws(() => parseExtensionHeader('fo\u00e9'), {
      message: 'Unexpected character at index 2'
    });
  });

  it('parseSubprotocolHeader() lists the names and refuses duplicates', () => {
    assert.deepStrictEqual(parseSubprotocolHeader('foo , bar\t,baz'), [
      'foo',
      'bar',
      'baz'
    ]);
    assert.throws(() => parseSubprotocolHeader('foo,bar,foo'), {
      message: 'The "foo" subprotocol is duplicated'
    });
    assert.throws(() => parseSubprotocolHeader('foo,bar,'), {
      message: 'Unexpected end of input'
    });
  });

  it('acceptKey() computes the RFC 6455 section 1.3 example', () => {
    assert.strictEqual(
      acceptKey('dGhlIHNhbXBsZSBub25jZQ=='),
      's3pPLMBiTxaQ9kYGzzhZRbK+xOo='
    );
  });

  it('isValidKey() follows the ws key regex', () => {
    assert.strictEqual(isValidKey('dGhlIHNhbXBsZSBub25jZQ=='), true);
    assert.strictEqual(isValidKey('dGhlIHNhbXBsZSBub25jZQ='), false);
    assert.strictEqual(isValidKey('dGhlIHNhbXBsZSBub25jZQ==\n'), false);
    assert.strictEqual(isValidKey(''), false);
  });
});

describe('header parsers against npm ws', () => {
  //
  // npm ws does not export its lib/ modules: load them by path.
  //
  const wsLib = path.join(path.dirname(require.resolve('ws')), 'lib');
  const wsExtension = require(path.join(wsLib, 'extension.js'));
  const wsSubprotocol = require(path.join(wsLib, 'subprotocol.js'));

  /**
   * Runs a parser and returns its result or its error message.
   *
   * @param {Function} fn The parser
   * @param {String} header The header value
   * @return {Object} `{ value }` or `{ error }`
   */
  function outcome(fn, header) {
    try {
      return { value: fn(header) };
    } catch (err) {
      return { error: err.message };
    }
  }

  /**
   * Builds a random header from characters that exercise every rule.
   *
   * @param {String} alphabet The characters to pick from
   * @return {String} The header
   */
  function randomHeader(alphabet) {
    const length = Math.floor(Math.random() * 16);
    let header = '';

    for (let i = 0; i < length; i++) {
      header += alphabet[Math.floor(Math.random() * alphabet.length)];
    }

    return header;
  }

  it('parseExtensionHeader() agrees with ws on random headers', () => {
    const alphabet = 'ab1;,= \t"\\@é';

    for (let i = 0; i < 20000; i++) {
      const header = randomHeader(alphabet);
      const expected = outcome(wsExtension.parse, header);
      const actual = outcome(parseExtensionHeader, header);

      if (expected.error !== undefined) {
        assert.deepStrictEqual(actual, expected, header);
        continue;
      }

      const offers = Object.create(null);

      for (const { name, params } of actual.value) {
        const offer = Object.create(null);

        for (const { key, value } of params) {
          if (offer[key] === undefined) offer[key] = [value];
          else offer[key].push(value);
        }

        if (offers[name] === undefined) offers[name] = [offer];
        else offers[name].push(offer);
      }

      assert.deepStrictEqual(offers, expected.value, header);
    }
  });

  it('parseSubprotocolHeader() agrees with ws on random headers', () => {
    const alphabet = 'ab, \t@é';

    for (let i = 0; i < 20000; i++) {
      const header = randomHeader(alphabet);
      const expected = outcome(wsSubprotocol.parse, header);
      const actual = outcome(parseSubprotocolHeader, header);

      if (expected.error !== undefined) {
        assert.deepStrictEqual(actual, expected, header);
      } else {
        assert.deepStrictEqual(actual.value, [...expected.value], header);
      }
    }
  });
});

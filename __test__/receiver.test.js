'use strict';

const assert = require('assert');
const crypto = require('crypto');

const PerMessageDeflate = require('../lib/permessage-deflate');
const Receiver = require('../lib/receiver');
const Sender = require('../lib/sender');
const { EMPTY_BUFFER, kStatusCode } = require('../lib/constants');

/**
 * Returns a `PerMessageDeflate` that accepted a default offer.
 *
 * @return {PerMessageDeflate} The extension
 */
function deflate() {
  const perMessageDeflate = new PerMessageDeflate();

  perMessageDeflate.accept([{}]);
  return perMessageDeflate;
}

/**
 * Compresses a message with `perMessageDeflate` and frames it (unmasked).
 *
 * @param {PerMessageDeflate} perMessageDeflate The extension
 * @param {Buffer} data The message
 * @param {Number} opcode The opcode
 * @return {Promise<Buffer>} The frame
 */
function compressedFrame(perMessageDeflate, data, opcode) {
  return new Promise((resolve, reject) => {
    perMessageDeflate.compress(data, true, (err, buf) => {
      if (err) return reject(err);
      resolve(
        Buffer.concat(
          Sender.frame(buf, {
            fin: true,
            rsv1: true,
            opcode,
            mask: false,
            readOnly: false
          })
        )
      );
    });
  });
}

describe('Receiver (ws-rs)', () => {
  it('inflates even a small message on the thread pool, in state 5 meanwhile', async () => {
    const { NativeInflate } = require('../lib/native');
    const { decompress, decompressAsync } = NativeInflate.prototype;
    const calls = [];

    NativeInflate.prototype.decompress = function (...args) {
      calls.push('sync');
      return decompress.apply(this, args);
    };
    NativeInflate.prototype.decompressAsync = function (...args) {
      calls.push('pool');
      return decompressAsync.apply(this, args);
    };

    try {
      const receiver = new Receiver({
        extensions: { [PerMessageDeflate.extensionName]: deflate() }
      });
      const frame = await compressedFrame(deflate(), Buffer.from('hi'), 1);
      const messages = [];
      const received = new Promise((resolve) => {
        receiver.on('message', (data) => {
          if (messages.push(data.toString()) === 2) resolve();
        });
      });

      receiver.write(Buffer.concat([frame, frame]));
      assert.strictEqual(receiver._state, 5);
      await received;
      assert.deepStrictEqual(messages, ['hi', 'hi']);
      assert.deepStrictEqual(calls, ['pool', 'pool']);
    } finally {
      NativeInflate.prototype.decompress = decompress;
      NativeInflate.prototype.decompressAsync = decompressAsync;
    }
  });

  it('parses frames fed one byte at a time', (done) => {
    const receiver = new Receiver({ isServer: true });
    const msg = crypto.randomBytes(300);
    const frames = Buffer.concat([
      ...Sender.frame(msg.subarray(0, 200), {
        fin: false,
        opcode: 2,
        mask: true,
        readOnly: true
      }),
      ...Sender.frame(Buffer.from('ping'), {
        fin: true,
        opcode: 9,
        mask: true,
        readOnly: true
      }),
      ...Sender.frame(msg.subarray(200), {
        fin: true,
        opcode: 0,
        mask: true,
        readOnly: true
      })
    ]);
    const events = [];

    receiver.on('ping', (data) => events.push(['ping', data.toString()]));
    receiver.on('message', (data, isBinary) => {
      events.push(['message', isBinary]);
      assert.deepStrictEqual(data, msg);
      assert.deepStrictEqual(events, [
        ['ping', 'ping'],
        ['message', true]
      ]);
      done();
    });

    for (let i = 0; i < frames.length; i++) {
      receiver.write(frames.subarray(i, i + 1));
    }
  });

  it('reports the parser state while a frame is incomplete', () => {
    const receiver = new Receiver();

    assert.strictEqual(receiver._state, 0);
    receiver.write(Buffer.from([0x82, 0x7e]));
    assert.strictEqual(receiver._state, 1);
    receiver.write(Buffer.from([0x01, 0x00]));
    assert.strictEqual(receiver._state, 4);
    assert.strictEqual(receiver._totalPayloadLength, 256);
  });

  it('gives `EMPTY_BUFFER` for empty messages and pings', (done) => {
    const receiver = new Receiver({ binaryType: 'fragments' });
    const seen = [];

    receiver.on('ping', (data) => seen.push(data === EMPTY_BUFFER));
    receiver.on('message', (data, isBinary) => {
      seen.push(isBinary ? Array.isArray(data) && data.length === 0 : data);
      if (seen.length < 3) return;
      assert.deepStrictEqual(seen, [true, EMPTY_BUFFER, true]);
      assert.strictEqual(seen[1], EMPTY_BUFFER);
      done();
    });

    // Ping, empty text (two empty fragments), empty binary.
    receiver.write(Buffer.from('89000100800082 00'.replace(/ /g, ''), 'hex'));
  });

  it('reads `binaryType` when the message is emitted', (done) => {
    const receiver = new Receiver();

    receiver.once('message', (data) => {
      assert.ok(Buffer.isBuffer(data));
      receiver._binaryType = 'arraybuffer';
      receiver.once('message', (data) => {
        assert.ok(data instanceof ArrayBuffer);
        assert.deepStrictEqual(Buffer.from(data), Buffer.from('ab'));
        done();
      });
    });

    receiver.write(Buffer.from('8201618202 6162'.replace(/ /g, ''), 'hex'));
  });

  it('emits `conclude` and ignores the bytes that follow a close frame', (done) => {
    const receiver = new Receiver();
    const events = [];

    receiver.on('message', () => events.push('message'));
    receiver.on('conclude', (code, reason) => {
      events.push('conclude');
      assert.strictEqual(code, 1000);
      assert.deepStrictEqual(reason, Buffer.from('bye'));
    });
    receiver.on('finish', () => {
      assert.deepStrictEqual(events, ['message', 'conclude']);
      done();
    });

    receiver.write(Buffer.from('8100880503e8627965810161', 'hex'));
  });

  it('builds errors with the class, code, message and status of ws', (done) => {
    const receiver = new Receiver({ isServer: true });

    receiver.on('error', (err) => {
      assert.strictEqual(err.constructor, RangeError);
      assert.strictEqual(err.code, 'WS_ERR_EXPECTED_MASK');
      assert.strictEqual(
        err.message,
        'Invalid WebSocket frame: MASK must be set'
      );
      assert.strictEqual(err[kStatusCode], 1002);
      assert.ok(!/createError/.test(err.stack));
      done();
    });

    receiver.write(Buffer.from('8100', 'hex'));
  });

  it('reports invalid UTF-8 as an Error with status 1007', (done) => {
    const receiver = new Receiver();

    receiver.on('error', (err) => {
      assert.strictEqual(err.constructor, Error);
      assert.strictEqual(err.code, 'WS_ERR_INVALID_UTF8');
      assert.strictEqual(err[kStatusCode], 1007);
      done();
    });

    receiver.write(Buffer.from('8102c328', 'hex'));
  });

  it('reports state 5 while inflating and 6 while deferring', async () => {
    const perMessageDeflate = deflate();
    const receiver = new Receiver({
      allowSynchronousEvents: false,
      extensions: { 'permessage-deflate': perMessageDeflate }
    });
    const frame = await compressedFrame(
      deflate(),
      Buffer.from('compressed'),
      2
    );
    const states = [];

    const message = new Promise((resolve) => {
      receiver.on('message', (data, isBinary) => {
        states.push(receiver._state);
        assert.ok(isBinary);
        resolve(data.toString());
      });
    });

    receiver.write(frame);
    states.push(receiver._state);
    assert.strictEqual(await message, 'compressed');
    assert.deepStrictEqual(states, [5, 6]);
    assert.strictEqual(receiver._state, 0);
  });

  it('keeps message order across compressed and plain messages', (done) => {
    const sender = deflate();
    const receiver = new Receiver({
      extensions: { 'permessage-deflate': deflate() }
    });
    const big = crypto.randomBytes(64 * 1024).toString('hex');
    const expected = ['a', big, 'b', 'c', big.slice(1), 'd'];
    const received = [];

    receiver.on('message', (data, isBinary) => {
      assert.ok(!isBinary);
      received.push(data.toString());
      if (received.length === expected.length) {
        assert.deepStrictEqual(received, expected);
        done();
      }
    });

    (async () => {
      const frames = [];

      for (const [i, text] of expected.entries()) {
        if (i % 3 === 2) {
          frames.push(
            ...Sender.frame(Buffer.from(text), {
              fin: true,
              opcode: 1,
              mask: false
            })
          );
        } else {
          frames.push(await compressedFrame(sender, Buffer.from(text), 1));
        }
      }

      receiver.write(Buffer.concat(frames));
    })().catch(done);
  });

  it('fails with 1009 when an inflated message exceeds `maxPayload`', (done) => {
    const receiver = new Receiver({
      extensions: { 'permessage-deflate': deflate() },
      maxPayload: 1000
    });

    receiver.on('message', () => done(new Error('Unexpected message')));
    receiver.on('error', (err) => {
      assert.strictEqual(err.constructor, RangeError);
      assert.strictEqual(err.message, 'Max payload size exceeded');
      assert.strictEqual(err.code, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
      assert.strictEqual(err[kStatusCode], 1009);
      done();
    });

    compressedFrame(deflate(), Buffer.alloc(100 * 1024, 'a'), 2).then(
      (frame) => receiver.write(frame),
      done
    );
  });

  it('fails with 1007 when a compressed frame is corrupt', (done) => {
    const receiver = new Receiver({
      extensions: { 'permessage-deflate': deflate() }
    });

    receiver.on('error', (err) => {
      assert.strictEqual(err.code, 'Z_DATA_ERROR');
      assert.strictEqual(err.errno, -3);
      assert.strictEqual(err[kStatusCode], 1007);
      done();
    });

    receiver.write(Buffer.from('c105ffffffffff', 'hex'));
  });

  it('reports `_totalPayloadLength` as it was when each event was parsed', () => {
    const receiver = new Receiver({ maxPayload: 100 });
    const seen = [];

    receiver.on('ping', () =>
      seen.push(['ping', receiver._totalPayloadLength])
    );
    receiver.on('pong', () =>
      seen.push(['pong', receiver._totalPayloadLength])
    );
    receiver.on('message', () => {
      seen.push(['message', receiver._totalPayloadLength, receiver._state]);
    });

    //
    // A fragment, a ping, the last fragment, a pong, and the start of the
    // next message, in one chunk.
    //
    receiver.write(Buffer.from('02024865890080036c6c6f8a00010548', 'hex'));

    assert.deepStrictEqual(seen, [
      ['ping', 2],
      ['message', 0, 0],
      ['pong', 0]
    ]);
    assert.strictEqual(receiver._totalPayloadLength, 5);
    assert.strictEqual(receiver._state, 4);
  });

  it('emits one event per turn and a later error last without sync events', (done) => {
    const receiver = new Receiver({ allowSynchronousEvents: false });
    const seen = [];

    receiver.on('message', (data) => {
      seen.push(data.toString());
      assert.strictEqual(receiver._state, 6);
    });
    receiver.on('ping', (data) => seen.push(`ping ${data}`));
    receiver.on('error', (err) => {
      assert.strictEqual(err.code, 'WS_ERR_INVALID_OPCODE');
      assert.deepStrictEqual(seen, ['a', 'ping b', 'c']);
      done();
    });

    receiver.write(
      Buffer.from('810161890162810163 8300'.replace(' ', ''), 'hex')
    );
    assert.deepStrictEqual(seen, []);

    setImmediate(() => assert.deepStrictEqual(seen, ['a']));
  });

  it('gives every fragment to the `fragments` binary type', (done) => {
    const receiver = new Receiver({ binaryType: 'fragments' });
    const frames = [Buffer.from('0201aa', 'hex')];

    for (let i = 1; i < 299; i++) frames.push(Buffer.from([0x00, 0x01, i]));
    frames.push(Buffer.from('0001ff 8001ee'.replace(' ', ''), 'hex'));

    receiver.on('message', (data, isBinary) => {
      assert.ok(isBinary);
      assert.strictEqual(data.length, 301);
      assert.deepStrictEqual(data[0], Buffer.from([0xaa]));
      assert.deepStrictEqual(data[298], Buffer.from([298 & 0xff]));
      assert.deepStrictEqual(data[300], Buffer.from([0xee]));
      done();
    });

    receiver.write(Buffer.concat(frames));
  });

  it('never changes a payload it handed out', () => {
    const receiver = new Receiver({ binaryType: 'fragments' });
    const kept = [];

    receiver.on('message', (data) => kept.push(data));
    receiver.on('ping', (data) => kept.push(data));

    for (let i = 0; i < 200; i++) {
      const byte = (i & 0xff).toString(16).padStart(2, '0');

      receiver.write(
        Buffer.from(`8201${byte}8901${byte}0201${byte}8001${byte}`, 'hex')
      );
    }

    assert.strictEqual(kept.length, 600);
    for (let i = 0; i < 200; i++) {
      assert.deepStrictEqual(kept[i * 3], [Buffer.from([i])]);
      assert.deepStrictEqual(kept[i * 3 + 1], Buffer.from([i]));
      assert.deepStrictEqual(kept[i * 3 + 2], [
        Buffer.from([i]),
        Buffer.from([i])
      ]);
    }
  });

  it('does not let a small message pin a large one', () => {
    const receiver = new Receiver();
    const large = Buffer.alloc(100 * 1024, 'x');
    const kept = [];

    receiver.on('message', (data) => kept.push(data));
    receiver.write(
      Buffer.concat([
        ...Sender.frame(large, {
          fin: true,
          rsv1: false,
          opcode: 2,
          mask: false,
          readOnly: false
        }),
        Buffer.from('820161', 'hex')
      ])
    );

    assert.strictEqual(kept.length, 2);
    assert.deepStrictEqual(kept[0], large);
    assert.deepStrictEqual(kept[1], Buffer.from('a'));
    assert.notStrictEqual(kept[1].buffer, kept[0].buffer);
    assert.ok(kept[1].buffer.byteLength <= 64 * 1024);
  });

  it('starts with a small record array and grows it for bursts, in order', () => {
    const receiver = new Receiver();
    const seen = [];

    receiver.on('message', (data) => seen.push(data.toString()));
    receiver.on('ping', (data) => seen.push(`ping ${data}`));

    receiver.write(Buffer.from('810161', 'hex'));
    assert.deepStrictEqual(seen, ['a']);
    assert.ok(receiver._out.byteLength <= 256);

    const frames = [];
    const expected = [];

    for (let i = 0; i < 1000; i++) {
      const text = String(i);

      frames.push(Buffer.from([i % 7 ? 0x81 : 0x89, text.length]));
      frames.push(Buffer.from(text));
      expected.push(i % 7 ? text : `ping ${text}`);
    }

    receiver.write(Buffer.concat(frames));
    assert.deepStrictEqual(seen.slice(1), expected);
  });
});

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
});

'use strict';

const assert = require('assert');
const crypto = require('crypto');

const PerMessageDeflate = require('../lib/permessage-deflate');
const Receiver = require('../lib/receiver');
const Sender = require('../lib/sender');

/**
 * A socket that records writes and calls write callbacks asynchronously.
 */
class RecordingSocket {
  constructor() {
    this.chunks = [];
    this.corked = 0;
    this.destroyed = false;
  }

  cork() {
    this.corked++;
  }

  uncork() {
    this.corked--;
  }

  write(chunk, cb) {
    this.chunks.push(chunk);
    if (cb) setImmediate(cb);
    return true;
  }

  /**
   * The written bytes.
   *
   * @return {Buffer} The concatenated chunks
   */
  bytes() {
    return Buffer.concat(
      this.chunks.map((chunk) =>
        typeof chunk === 'string' ? Buffer.from(chunk) : chunk
      )
    );
  }
}

/**
 * Parses `bytes` with a receiver and resolves with its events.
 *
 * @param {Buffer} bytes The frames
 * @param {Object} options The receiver options
 * @param {Number} count The number of events to wait for
 * @return {Promise<Array>} The events
 */
function receive(bytes, options, count) {
  return new Promise((resolve, reject) => {
    const receiver = new Receiver(options);
    const events = [];
    const push = (name) => (data) => {
      events.push([name, Buffer.from(data).toString()]);
      if (events.length === count) resolve(events);
    };

    receiver.on('message', push('message'));
    receiver.on('ping', push('ping'));
    receiver.on('pong', push('pong'));
    receiver.on('conclude', (code) => {
      events.push(['close', code]);
      if (events.length === count) resolve(events);
    });
    receiver.on('error', reject);
    receiver.write(bytes);
  });
}

describe('Sender (ws-rs)', () => {
  describe('.frame', () => {
    it('masks a read-only buffer into a single new frame', () => {
      for (const length of [0, 5, 125, 126, 65535, 65536, 200 * 1024]) {
        const data = crypto.randomBytes(length);
        const copy = Buffer.from(data);
        const key = Buffer.from([1, 2, 3, 4]);
        const list = Sender.frame(data, {
          fin: true,
          opcode: 2,
          mask: true,
          readOnly: true,
          generateMask: (mask) => key.copy(mask)
        });

        assert.strictEqual(list.length, 1);
        assert.deepStrictEqual(data, copy);

        const frame = list[0];
        const offset = frame.length - length;

        assert.strictEqual(frame[0], 0x82);
        assert.strictEqual(frame[1] & 0x80, 0x80);
        assert.deepStrictEqual(frame.subarray(offset - 4, offset), key);

        for (let i = 0; i < length; i++) {
          assert.strictEqual(frame[offset + i], copy[i] ^ key[i & 3]);
        }
      }
    });

    it('masks a writable buffer in place', () => {
      const data = Buffer.from('hello');
      const list = Sender.frame(data, {
        fin: true,
        opcode: 1,
        mask: true,
        readOnly: false,
        maskBuffer: Buffer.alloc(4),
        generateMask: (mask) => mask.fill(0xff)
      });

      assert.strictEqual(list.length, 2);
      assert.strictEqual(list[1], data);
      assert.deepStrictEqual(
        list[0],
        Buffer.from([0x81, 0x85, 0xff, 0xff, 0xff, 0xff])
      );
      assert.deepStrictEqual(
        data,
        Buffer.from('hello').map((b) => b ^ 0xff)
      );
    });

    it('does not touch the payload when the masking key is zero', () => {
      const data = Buffer.from('abc');
      const list = Sender.frame(data, {
        fin: false,
        opcode: 2,
        rsv1: true,
        mask: true,
        readOnly: true,
        generateMask: (mask) => mask.fill(0)
      });

      assert.deepStrictEqual(list, [
        Buffer.from([0x42, 0x83, 0, 0, 0, 0]),
        Buffer.from('abc')
      ]);
      assert.strictEqual(list[1], data);
    });

    it('writes 16-bit and 64-bit extended payload lengths', () => {
      const [header16] = Sender.frame(Buffer.alloc(300), {
        fin: true,
        opcode: 2
      });
      const [header64] = Sender.frame(Buffer.alloc(70000), {
        fin: true,
        opcode: 2
      });

      assert.deepStrictEqual(header16, Buffer.from('827e012c', 'hex'));
      assert.deepStrictEqual(
        header64,
        Buffer.from('827f0000000000011170', 'hex')
      );
    });

    it('draws a new random masking key for each frame', () => {
      const keys = new Set();

      for (let i = 0; i < 100; i++) {
        const [frame] = Sender.frame(Buffer.from('x'), {
          fin: true,
          opcode: 1,
          mask: true,
          readOnly: true
        });

        keys.add(frame.subarray(2, 6).toString('hex'));
      }

      assert.ok(keys.size > 90);
    });
  });

  describe('#send', () => {
    it('keeps order when a large message is compressed off-thread', async () => {
      const socket = new RecordingSocket();
      const perMessageDeflate = new PerMessageDeflate();

      perMessageDeflate.accept([{}]);

      const sender = new Sender(socket, {
        'permessage-deflate': perMessageDeflate
      });
      const big = crypto.randomBytes(100 * 1024).toString('hex');
      const callbacks = [];

      sender.send(big, { compress: true, fin: true }, () => callbacks.push(1));
      assert.strictEqual(sender._state, 1);
      sender.ping('p', false, () => callbacks.push(2));
      sender.send('small', { compress: true, fin: true }, () =>
        callbacks.push(3)
      );
      sender.send('plain', { compress: false, fin: true }, () =>
        callbacks.push(4)
      );
      assert.ok(sender._bufferedBytes > 200 * 1024);

      await new Promise((resolve) => sender.close(1000, 'end', false, resolve));

      assert.deepStrictEqual(callbacks, [1, 2, 3, 4]);
      assert.strictEqual(sender._bufferedBytes, 0);
      assert.strictEqual(sender._state, 0);

      const inflater = new PerMessageDeflate({ isServer: true });

      inflater.accept([{}]);

      const events = await receive(
        socket.bytes(),
        { extensions: { 'permessage-deflate': inflater } },
        5
      );

      assert.deepStrictEqual(events, [
        ['message', big],
        ['ping', 'p'],
        ['message', 'small'],
        ['message', 'plain'],
        ['close', 1000]
      ]);
    });

    it('fails the pending callbacks if the socket is destroyed while compressing', (done) => {
      const socket = new RecordingSocket();
      const perMessageDeflate = new PerMessageDeflate();

      perMessageDeflate.accept([{}]);

      const sender = new Sender(socket, {
        'permessage-deflate': perMessageDeflate
      });
      const errors = [];
      const onError = (err) => {
        errors.push(err.message);
        if (errors.length < 2) return;
        assert.deepStrictEqual(errors, [
          'The socket was closed while data was being compressed',
          'The socket was closed while data was being compressed'
        ]);
        assert.strictEqual(socket.chunks.length, 0);
        done();
      };

      sender.send('foo', { compress: true, fin: true }, onError);
      sender.send('bar', { compress: false, fin: true }, onError);
      socket.destroyed = true;
    });

    it('sends a Blob after the data queued before it', async () => {
      const socket = new RecordingSocket();
      const sender = new Sender(socket);
      const done = new Promise((resolve) => {
        sender.send(new Blob(['blob']), { binary: true, fin: true });
        assert.strictEqual(sender._state, 2);
        sender.send('text', { fin: true }, resolve);
      });

      await done;

      const events = await receive(socket.bytes(), {}, 2);

      assert.deepStrictEqual(events, [
        ['message', 'blob'],
        ['message', 'text']
      ]);
    });
  });
});

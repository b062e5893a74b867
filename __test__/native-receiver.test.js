'use strict';

const assert = require('assert');

const { NativeReceiver, encodeFrame } = require('../lib/native');

/**
 * Calls `drain()` until it returns null and turns its records into
 * `{ kind, … }` objects (a message's `data` is its fragments).
 *
 * @param {NativeReceiver} receiver The receiver
 * @return {Object[]} The events
 */
function drainEvents(receiver) {
  const out = new Float64Array(64);
  const events = [];
  let buf;

  while ((buf = receiver.drain(out)) !== null) {
    let i = 0;

    while (out[i] !== 0) {
      const kind = out[i];
      const arg = out[i + 1];
      const data = buf.subarray(out[i + 2], out[i + 2] + out[i + 3]);

      i += 4;

      if (kind === 1) {
        const fragments = [];

        while (out[i] === 7) {
          fragments.push(buf.subarray(out[i + 2], out[i + 2] + out[i + 3]));
          i += 4;
        }

        if (fragments.length === 0 && data.length !== 0) fragments.push(data);
        events.push({ kind: 'message', binary: arg === 1, data: fragments });
      } else if (kind === 2) {
        events.push({ kind: 'ping', data });
      } else if (kind === 3) {
        events.push({ kind: 'pong', data });
      } else if (kind === 4) {
        events.push({ kind: 'close', code: arg, reason: data });
      } else if (kind === 5) {
        events.push({ kind: 'inflate', data, fin: arg === 1 });
      } else {
        assert.strictEqual(kind, 6);
        events.push({ kind: 'error', error: receiver.takeError() });
      }
    }
  }

  return events;
}

/**
 * Pushes hex-encoded chunks and collects every event `drain()` returns.
 *
 * @param {NativeReceiver} receiver The receiver
 * @param {...String} chunks The chunks, as hex strings
 * @return {Object[]} The events, push errors included as `{ kind: 'push-error' }`
 */
function feed(receiver, ...chunks) {
  const events = [];

  for (const chunk of chunks) {
    const error = receiver.push(Buffer.from(chunk.replace(/\s/g, ''), 'hex'));

    if (error) events.push({ kind: 'push-error', error });

    events.push(...drainEvents(receiver));
  }

  return events;
}

describe('NativeReceiver', () => {
  it('parses an unmasked text message', () => {
    const receiver = new NativeReceiver({ isServer: false });

    assert.deepStrictEqual(feed(receiver, '810548656c6c6f'), [
      { kind: 'message', binary: false, data: [Buffer.from('Hello')] }
    ]);
    assert.strictEqual(receiver.state, 0);
  });

  it('parses a masked text message fed one byte at a time', () => {
    const receiver = new NativeReceiver({ isServer: true });
    const bytes = '818537fa213d7f9f4d5158'.match(/../g);
    const events = feed(receiver, ...bytes);

    assert.deepStrictEqual(events, [
      { kind: 'message', binary: false, data: [Buffer.from('Hello')] }
    ]);
  });

  it('returns the fragments of a fragmented message and control frames', () => {
    const receiver = new NativeReceiver({ maxPayload: 10 });

    assert.deepStrictEqual(feed(receiver, '02024865'), []);
    assert.strictEqual(receiver.totalPayloadLength, 2);
    assert.deepStrictEqual(feed(receiver, '8900', '8a0161'), [
      { kind: 'ping', data: Buffer.alloc(0) },
      { kind: 'pong', data: Buffer.from('a') }
    ]);
    assert.deepStrictEqual(feed(receiver, '80036c6c6f'), [
      {
        kind: 'message',
        binary: true,
        data: [Buffer.from('He'), Buffer.from('llo')]
      }
    ]);
    assert.strictEqual(receiver.totalPayloadLength, 0);
  });

  it('parses large messages in one chunk and across chunks', () => {
    const payload = Buffer.alloc(200 * 1024);

    for (let i = 0; i < payload.length; i++) payload[i] = i % 251;

    const frame = encodeFrame(payload, 2, true, false, null);
    const whole = new NativeReceiver();

    assert.strictEqual(whole.push(frame), null);
    assert.ok(drainEvents(whole)[0].data[0].equals(payload));

    const split = new NativeReceiver();

    split.push(frame.subarray(0, 1000));
    split.push(frame.subarray(1000, 70000));
    assert.deepStrictEqual(drainEvents(split), []);
    assert.strictEqual(split.state, 4);
    split.push(frame.subarray(70000));

    const [event] = drainEvents(split);

    assert.strictEqual(event.data.length, 1);
    assert.ok(event.data[0].equals(payload));
  });

  it('parses close frames and ignores what follows them', () => {
    assert.deepStrictEqual(feed(new NativeReceiver(), '8800 8100'), [
      { kind: 'close', code: 1005, reason: Buffer.alloc(0) }
    ]);
    assert.deepStrictEqual(
      feed(new NativeReceiver({}), '880403e86869', '8100'),
      [{ kind: 'close', code: 1000, reason: Buffer.from('hi') }]
    );
  });

  it('reports ws state numbers', () => {
    const receiver = new NativeReceiver({ isServer: true });

    feed(receiver, '82');
    assert.strictEqual(receiver.state, 0);
    feed(receiver, 'fe');
    assert.strictEqual(receiver.state, 1);
    feed(receiver, '0100');
    assert.strictEqual(receiver.state, 3);
    feed(receiver, '00000000');
    assert.strictEqual(receiver.state, 4);
  });

  it('emits errors as records and then stays silent', () => {
    const receiver = new NativeReceiver();

    assert.deepStrictEqual(feed(receiver, '8300 8100'), [
      {
        kind: 'error',
        error: {
          code: 'WS_ERR_INVALID_OPCODE',
          status: 1002,
          message: 'Invalid WebSocket frame: invalid opcode 3',
          rangeError: true
        }
      }
    ]);
    assert.deepStrictEqual(feed(receiver, '8100'), []);
  });

  it('emits an error if a text frame contains invalid UTF-8 data', () => {
    assert.deepStrictEqual(feed(new NativeReceiver(), '8104cebae1bd'), [
      {
        kind: 'error',
        error: {
          code: 'WS_ERR_INVALID_UTF8',
          status: 1007,
          message: 'Invalid WebSocket frame: invalid UTF-8 sequence',
          rangeError: false
        }
      }
    ]);
  });

  it('honors `skipUtf8Validation`', () => {
    const receiver = new NativeReceiver({ skipUtf8Validation: true });

    assert.deepStrictEqual(feed(receiver, '8102cebd'), [
      { kind: 'message', binary: false, data: [Buffer.from('cebd', 'hex')] }
    ]);
  });

  it('emits an error if a frame payload length is bigger than `maxPayload`', () => {
    const receiver = new NativeReceiver({ maxPayload: 4 });

    assert.deepStrictEqual(feed(receiver, '8205'), [
      {
        kind: 'error',
        error: {
          code: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH',
          status: 1009,
          message: 'Max payload size exceeded',
          rangeError: true
        }
      }
    ]);
  });

  it('emits an error if there are too many message fragments', () => {
    const receiver = new NativeReceiver({ maxFragments: 2 });
    const events = feed(receiver, '0200', '0000', '0000');

    assert.strictEqual(events.length, 1);
    assert.strictEqual(events[0].error.code, 'WS_ERR_TOO_MANY_BUFFERED_PARTS');
    assert.strictEqual(events[0].error.message, 'Too many message fragments');
    assert.strictEqual(events[0].error.status, 1008);
  });

  it('returns an error record from `push()` if there are too many buffered chunks', () => {
    const receiver = new NativeReceiver({ maxBufferedChunks: 2 });

    assert.deepStrictEqual(feed(receiver, '8205', '61', '62', '63'), [
      {
        kind: 'push-error',
        error: {
          code: 'WS_ERR_TOO_MANY_BUFFERED_PARTS',
          status: 1008,
          message: 'Too many buffered chunks',
          rangeError: true
        }
      }
    ]);
  });

  it('hands compressed fragments out and takes the inflated data back', () => {
    const receiver = new NativeReceiver({ perMessageDeflate: true });

    assert.deepStrictEqual(feed(receiver, '4101aa 8001bb'), [
      { kind: 'inflate', data: Buffer.from([0xaa]), fin: false }
    ]);
    assert.strictEqual(receiver.state, 5);
    assert.deepStrictEqual(drainEvents(receiver), []);

    receiver.pushInflated(Buffer.from('foo'), false);
    assert.deepStrictEqual(drainEvents(receiver), [
      { kind: 'inflate', data: Buffer.from([0xbb]), fin: true }
    ]);

    receiver.pushInflated(Buffer.from('bar'), true);
    assert.deepStrictEqual(drainEvents(receiver), [
      {
        kind: 'message',
        binary: false,
        data: [Buffer.from('foo'), Buffer.from('bar')]
      }
    ]);
    assert.deepStrictEqual(drainEvents(receiver), []);
  });

  it('rejects RSV1 without `perMessageDeflate`', () => {
    const [event] = feed(new NativeReceiver(), 'c100');

    assert.strictEqual(event.error.code, 'WS_ERR_UNEXPECTED_RSV_1');
    assert.strictEqual(
      event.error.message,
      'Invalid WebSocket frame: RSV1 must be clear'
    );
  });
});

describe('NativeReceiver#drain()', () => {
  /**
   * Reads the records `drain()` wrote.
   *
   * @param {Float64Array} out The records
   * @param {Buffer} buf The payloads
   * @return {Array[]} `[kind, arg, payload]` per record
   */
  function records(out, buf) {
    const list = [];

    for (let i = 0; out[i] !== 0; i += 4) {
      list.push([
        out[i],
        out[i + 1],
        buf.subarray(out[i + 2], out[i + 2] + out[i + 3])
      ]);
    }

    return list;
  }

  it('returns every ready event in one call', () => {
    const receiver = new NativeReceiver({ maxPayload: 100 });
    const out = new Float64Array(64);

    receiver.push(
      Buffer.from(
        '02024865 8900 80036c6c6f 8a0161 880403e86869 8100'.replace(/ /g, ''),
        'hex'
      )
    );

    const buf = receiver.drain(out);

    assert.deepStrictEqual(records(out, buf), [
      [2, 2, Buffer.alloc(0)],
      [1, 1, Buffer.from('Hello')],
      [7, 0, Buffer.from('He')],
      [7, 0, Buffer.from('llo')],
      [3, 0, Buffer.from('a')],
      [4, 1000, Buffer.from('hi')]
    ]);
    assert.strictEqual(receiver.drain(out), null);
    assert.strictEqual(out[0], 0);
  });

  it('keeps events that do not fit for the next call', () => {
    const input = Buffer.from('810161810162010163800164', 'hex');

    /**
     * Drains `input` with room for `size` numbers per call.
     *
     * @param {Number} size The length of the records array
     * @return {String[]} `kind:payload` per record
     */
    function drainAll(size) {
      const receiver = new NativeReceiver();
      const out = new Float64Array(size);
      const seen = [];
      let buf;

      receiver.push(input);

      while ((buf = receiver.drain(out)) !== null) {
        for (const [kind, , data] of records(out, buf)) {
          seen.push(`${kind}:${data}`);
        }
      }

      return seen;
    }

    assert.deepStrictEqual(drainAll(16), ['1:a', '1:b', '1:cd', '7:c', '7:d']);
    assert.deepStrictEqual(drainAll(8), ['1:a', '1:b']);
  });

  it('asks for a larger array when one message does not fit', () => {
    const receiver = new NativeReceiver();
    const out = new Float64Array(8);

    receiver.push(Buffer.from('010163800164810165', 'hex'));

    assert.strictEqual(receiver.drain(out), null);
    assert.deepStrictEqual([out[0], out[1]], [8, 16]);

    //
    // The message waits for a call with room for it.
    //
    const larger = new Float64Array(out[1]);
    const buf = receiver.drain(larger);

    assert.deepStrictEqual(records(larger, buf), [
      [1, 0, Buffer.from('cd')],
      [7, 0, Buffer.from('c')],
      [7, 0, Buffer.from('d')]
    ]);
    assert.deepStrictEqual(records(out, receiver.drain(out)), [
      [1, 0, Buffer.from('e')]
    ]);
  });

  it('keeps a batch within 64 KiB unless one event is larger', () => {
    const receiver = new NativeReceiver();
    const out = new Float64Array(1024);
    const small = encodeFrame(Buffer.alloc(1000, 1), 2, true, false, null);
    const large = encodeFrame(Buffer.alloc(100000, 2), 2, true, false, null);
    const sizes = [];
    let buf;

    receiver.push(
      Buffer.concat([...Array(100).fill(small), large, small, large])
    );

    while ((buf = receiver.drain(out)) !== null) {
      const count = records(out, buf).length;

      sizes.push(`${count}:${buf.length}`);
    }

    assert.deepStrictEqual(sizes, [
      '65:65000',
      '35:35000',
      '1:100000',
      '1:1000',
      '1:100000'
    ]);
  });

  it('hands out a new Buffer on every call', () => {
    const receiver = new NativeReceiver();
    const out = new Float64Array(64);

    receiver.push(Buffer.from('810161', 'hex'));

    const first = receiver.drain(out);

    receiver.push(Buffer.from('810162', 'hex'));

    const second = receiver.drain(out);

    assert.notStrictEqual(first.buffer, second.buffer);
    assert.deepStrictEqual(first, Buffer.from('a'));
    assert.deepStrictEqual(second, Buffer.from('b'));
  });

  it('stops at an inflate record and at an error record', () => {
    const receiver = new NativeReceiver({ perMessageDeflate: true });
    const out = new Float64Array(64);

    receiver.push(Buffer.from('8900 c101aa 8300'.replace(/ /g, ''), 'hex'));

    assert.deepStrictEqual(records(out, receiver.drain(out)), [
      [2, 0, Buffer.alloc(0)],
      [5, 1, Buffer.from([0xaa])]
    ]);
    assert.strictEqual(receiver.drain(out), null);

    receiver.pushInflated(Buffer.from('x'), true);
    assert.deepStrictEqual(records(out, receiver.drain(out)), [
      [1, 0, Buffer.from('x')],
      [6, 0, Buffer.alloc(0)]
    ]);
    assert.deepStrictEqual(receiver.takeError(), {
      code: 'WS_ERR_INVALID_OPCODE',
      status: 1002,
      message: 'Invalid WebSocket frame: invalid opcode 3',
      rangeError: true
    });
    assert.strictEqual(receiver.takeError(), null);
    assert.strictEqual(receiver.drain(out), null);
  });
});

describe('encodeFrame', () => {
  it('encodes the RFC 6455 examples', () => {
    const key = Buffer.from('37fa213d', 'hex');

    assert.strictEqual(
      encodeFrame(Buffer.from('Hello'), 1, true, false, null).toString('hex'),
      '810548656c6c6f'
    );
    assert.strictEqual(
      encodeFrame(Buffer.from('Hello'), 1, true, false, key).toString('hex'),
      '818537fa213d7f9f4d5158'
    );
    assert.strictEqual(
      encodeFrame(Buffer.from('Hel'), 1, false, false, null).toString('hex'),
      '010348656c'
    );
  });

  it('round-trips through NativeReceiver', () => {
    const payload = Buffer.alloc(70000, 0x61);
    const frame = encodeFrame(
      payload,
      2,
      true,
      true,
      Buffer.from([1, 2, 3, 4])
    );
    const receiver = new NativeReceiver({
      isServer: true,
      perMessageDeflate: true
    });

    receiver.push(frame);
    const [event] = drainEvents(receiver);

    assert.strictEqual(event.kind, 'inflate');
    assert.ok(event.data.equals(payload));
  });
});

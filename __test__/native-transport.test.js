'use strict';

const assert = require('assert');
const crypto = require('crypto');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const { once } = require('events');
const { spawn } = require('child_process');

const WebSocket = require('../lib/websocket');
const WebSocketServer = require('../lib/websocket-server');
const { NativeSocket } = require('../lib/native-socket');
const { GUID, kStatusCode } = require('../lib/constants');

/**
 * Start a native-transport `WebSocketServer` on an ephemeral port.
 *
 * @param {Object} [options] Extra server options
 * @return {Promise<Object>} `{ wss, url }`
 */
function startServer(options) {
  return new Promise((resolve) => {
    const wss = new WebSocketServer(
      { port: 0, transport: 'native', ...options },
      () => {
        resolve({ wss, url: `ws://localhost:${wss.address().port}` });
      }
    );
  });
}

/**
 * Connect a native-transport client and wait for both ends to open.
 *
 * @param {Object} ctx `{ wss, url }`
 * @param {Object} [options] Extra client options
 * @return {Promise<Array>} `[client, serverSide, request]`
 */
async function connect(ctx, options) {
  const connection = once(ctx.wss, 'connection');
  const ws = new WebSocket(ctx.url, { transport: 'native', ...options });
  const [[sws, req]] = await Promise.all([connection, once(ws, 'open')]);

  return [ws, sws, req];
}

/**
 * Close a server and wait for it.
 *
 * @param {WebSocketServer} wss The server
 * @return {Promise}
 */
function stop(wss) {
  for (const client of wss.clients) client.terminate();
  return new Promise((resolve) => wss.close(resolve));
}

/**
 * A masked frame, as a client sends it.
 *
 * @param {Number} opcode The opcode
 * @param {Buffer} payload The payload (at most 125 bytes)
 * @return {Buffer}
 */
function maskedFrame(opcode, payload) {
  const key = crypto.randomBytes(4);
  const out = Buffer.alloc(6 + payload.length);

  out[0] = 0x80 | opcode;
  out[1] = 0x80 | payload.length;
  key.copy(out, 2);
  for (let i = 0; i < payload.length; i++) {
    out[6 + i] = payload[i] ^ key[i & 3];
  }
  return out;
}

/**
 * Open a raw TCP connection and perform the opening handshake by hand,
 * writing `extra` in the same packet as the request.
 *
 * @param {Number} port The server port
 * @param {Buffer} [extra] Bytes sent right after the request
 * @return {Promise<Array>} `[socket, response]` (the bytes after the 101)
 */
function rawUpgrade(port, extra) {
  return new Promise((resolve, reject) => {
    const key = crypto.randomBytes(16).toString('base64');
    const socket = net.connect(port, '127.0.0.1', () => {
      const request = Buffer.from(
        'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n' +
          'Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n' +
          `Sec-WebSocket-Key: ${key}\r\n\r\n`
      );

      socket.write(extra ? Buffer.concat([request, extra]) : request);
    });
    let buffered = Buffer.alloc(0);

    socket.on('error', reject);
    socket.on('data', function onData(chunk) {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');

      if (end === -1) return;

      const head = buffered.slice(0, end).toString();
      const accept = crypto
        .createHash('sha1')
        .update(key + GUID)
        .digest('base64');

      assert.ok(head.startsWith('HTTP/1.1 101 '));
      assert.ok(head.includes(`Sec-WebSocket-Accept: ${accept}`));
      socket.removeListener('data', onData);
      socket.pause();
      resolve([socket, buffered.slice(end + 4)]);
    });
  });
}

/**
 * Read exactly `n` bytes from a paused socket, starting with `first`.
 *
 * @param {net.Socket} socket The socket
 * @param {Buffer} first Bytes already read
 * @param {Number} n The number of bytes
 * @return {Promise<Buffer>}
 */
function readBytes(socket, first, n) {
  return new Promise((resolve) => {
    let buffered = first;

    if (buffered.length >= n) {
      resolve(buffered.slice(0, n));
      return;
    }

    socket.on('data', function onData(chunk) {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < n) return;
      socket.removeListener('data', onData);
      resolve(buffered.slice(0, n));
    });
    socket.resume();
  });
}

describe('native transport', function () {
  this.timeout(10000);

  let ctx;

  afterEach(async () => {
    if (ctx) await stop(ctx.wss);
    ctx = null;
  });

  it('takes over both ends and keeps the address fields', async () => {
    ctx = await startServer();

    const [ws, sws, req] = await connect(ctx);

    assert.ok(ws._socket instanceof NativeSocket);
    assert.ok(sws._socket instanceof NativeSocket);
    assert.ok(req.socket.destroyed, 'the Node socket let go of the fd');
    assert.strictEqual(typeof req.socket.remoteAddress, 'string');
    assert.strictEqual(sws._socket.remoteAddress, req.socket.remoteAddress);
    assert.strictEqual(sws._socket.remotePort, req.socket.remotePort);
    assert.strictEqual(sws._socket.localPort, ctx.wss.address().port);
    assert.strictEqual(ws._socket.remotePort, ctx.wss.address().port);

    ws.close();

    const [[code], [serverCode]] = await Promise.all([
      once(ws, 'close'),
      once(sws, 'close')
    ]);

    assert.strictEqual(code, 1005);
    assert.strictEqual(serverCode, 1005);
  });

  it('takes over by default, and leaves the socket to Node when told', async () => {
    const previous = process.env.WS_RS_TRANSPORT;

    delete process.env.WS_RS_TRANSPORT;

    try {
      ctx = await startServer({ transport: undefined });

      let [ws, sws] = await connect(ctx, { transport: undefined });

      assert.ok(ws._socket instanceof NativeSocket);
      assert.ok(sws._socket instanceof NativeSocket);
      ws.terminate();
      await stop(ctx.wss);

      process.env.WS_RS_TRANSPORT = 'node';
      ctx = await startServer({ transport: undefined });
      [ws, sws] = await connect(ctx, { transport: undefined });
      assert.ok(ws._socket instanceof net.Socket);
      assert.ok(sws._socket instanceof net.Socket);
      ws.terminate();
    } finally {
      if (previous === undefined) delete process.env.WS_RS_TRANSPORT;
      else process.env.WS_RS_TRANSPORT = previous;
    }
  });

  it('echoes text and binary messages with permessage-deflate', async () => {
    ctx = await startServer({ perMessageDeflate: { threshold: 0 } });

    const [ws, sws] = await connect(ctx);
    const big = crypto.randomBytes(1024 * 1024);
    const text = 'héllo '.repeat(10000);

    assert.strictEqual(ws.extensions, 'permessage-deflate');
    sws.on('message', (data, isBinary) => sws.send(data, { binary: isBinary }));

    ws.send(text);
    let [data, isBinary] = await once(ws, 'message');

    assert.strictEqual(isBinary, false);
    assert.strictEqual(data.toString(), text);

    ws.send(big);
    [data, isBinary] = await once(ws, 'message');
    assert.strictEqual(isBinary, true);
    assert.ok(data.equals(big));

    ws.send('ab', { fin: false });
    ws.send('cd', { fin: true });
    [data] = await once(ws, 'message');
    assert.strictEqual(data.toString(), 'abcd');

    ws.close(4000, 'done');

    const [code, reason] = await once(ws, 'close');

    assert.strictEqual(code, 4000);
    assert.strictEqual(reason.toString(), 'done');
  });

  it('parses pipelined data in `head` and writes the 101 first', async () => {
    ctx = await startServer();

    const received = new Promise((resolve) => {
      ctx.wss.on('connection', (sws) => {
        sws.send('from connection listener');
        sws.on('message', (data) => resolve(data.toString()));
      });
    });
    const [socket, rest] = await rawUpgrade(
      ctx.wss.address().port,
      maskedFrame(1, Buffer.from('pipelined'))
    );

    assert.strictEqual(await received, 'pipelined');

    const expected = Buffer.concat([
      Buffer.from([0x81, 24]),
      Buffer.from('from connection listener')
    ]);
    const frame = await readBytes(socket, rest, expected.length);

    assert.ok(frame.equals(expected));
    socket.destroy();
  });

  it('answers pings in Rust and still emits `ping`', async () => {
    ctx = await startServer();

    const [ws, sws] = await connect(ctx);
    const pinged = once(sws, 'ping');

    ws.ping('hi');

    const [[payload], [pong]] = await Promise.all([pinged, once(ws, 'pong')]);

    assert.strictEqual(payload.toString(), 'hi');
    assert.strictEqual(pong.toString(), 'hi');
    ws.terminate();
  });

  it('calls send callbacks and keeps `bufferedAmount` exact', async () => {
    ctx = await startServer();

    const [ws, sws] = await connect(ctx);

    //
    // An idle connection takes a small frame at once, as a `net.Socket`
    // does: nothing is buffered, and the callback still comes later.
    //
    let called = false;
    const small = new Promise((resolve, reject) => {
      ws.send(Buffer.alloc(1000), (err) => {
        called = true;
        if (err) reject(err);
        else resolve();
      });
    });

    assert.strictEqual(ws.bufferedAmount, 0);
    assert.strictEqual(called, false);
    await small;

    //
    // With the peer not reading, a large message cannot all go: the whole
    // message counts until its callback.
    //
    sws.pause();

    const size = 16 * 1024 * 1024;
    const big = new Promise((resolve, reject) => {
      ws.send(Buffer.alloc(size), (err) => (err ? reject(err) : resolve()));
    });

    assert.strictEqual(ws.bufferedAmount, size);
    const after = new Promise((resolve) => ws.send('after', resolve));

    assert.strictEqual(ws.bufferedAmount, size + 5);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.strictEqual(ws.bufferedAmount, size + 5);
    sws.resume();
    await big;
    assert.strictEqual(await after, null);
    assert.strictEqual(ws.bufferedAmount, 0);
    ws.terminate();
  });

  it('reports a protocol error as ws does: error, then close', async () => {
    ctx = await startServer();

    const connection = once(ctx.wss, 'connection');
    const [socket] = await rawUpgrade(ctx.wss.address().port);
    const [sws] = await connection;
    const events = [];

    const closed = new Promise((resolve) => {
      sws.on('error', (err) => events.push(err));
      sws.on('close', (code) => {
        events.push(code);
        resolve();
      });
    });

    //
    // An unmasked frame from a client.
    //
    socket.write(Buffer.from([0x81, 0x01, 0x61]));
    socket.resume();
    await closed;

    assert.strictEqual(events.length, 2);
    assert.ok(events[0] instanceof RangeError);
    assert.strictEqual(
      events[0].message,
      'Invalid WebSocket frame: MASK must be set'
    );
    assert.strictEqual(events[0].code, 'WS_ERR_EXPECTED_MASK');
    assert.strictEqual(events[0][kStatusCode], 1002);
    assert.strictEqual(events[1], 1006);
    socket.destroy();
  });

  it('closes with 1009 when an inflated message exceeds `maxPayload`', async () => {
    ctx = await startServer({ perMessageDeflate: true, maxPayload: 1000 });

    const [ws, sws] = await connect(ctx);
    const errored = new Promise((resolve) => sws.on('error', resolve));
    const closed = new Promise((resolve) => ws.on('close', resolve));

    ws.send(Buffer.alloc(5000));

    const err = await errored;
    const code = await closed;

    assert.ok(err instanceof RangeError);
    assert.strictEqual(err.code, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
    assert.strictEqual(code, 1009);
  });

  it("throws Node zlib's error for bad zlibDeflateOptions on the first compressed send", async () => {
    ctx = await startServer({
      perMessageDeflate: { threshold: 0, zlibDeflateOptions: { memLevel: 10 } }
    });

    const [ws, sws] = await connect(ctx);

    assert.strictEqual(sws._socket.constructor.name, 'NativeSocket');
    assert.throws(() => sws.send('hello'), {
      name: 'RangeError',
      code: 'ERR_OUT_OF_RANGE',
      message:
        'The value of "options.memLevel" is out of range. It must be >= 1 and <= 9. Received 10'
    });
    ws.terminate();
  });

  it('reports 1006 when the peer terminates', async () => {
    ctx = await startServer();
    ctx.wss.on('connection', (sws) => sws.terminate());

    const ws = new WebSocket(ctx.url, { transport: 'native' });
    const [code] = await once(ws, 'close');

    assert.strictEqual(code, 1006);
  });

  it('stops delivering while paused and resumes', async () => {
    ctx = await startServer();

    const [ws, sws] = await connect(ctx);
    let received = 0;

    ws.on('message', () => received++);
    ws.pause();
    assert.strictEqual(ws._socket.isPaused(), true);
    sws.send('a');
    sws.send('b');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.strictEqual(received, 0);
    ws.resume();
    await once(ws, 'message');
    if (received < 2) await once(ws, 'message');
    assert.strictEqual(received, 2);
    ws.terminate();
  });

  it('reads a paused socket up to its high water mark, through `push()`, and parses what it holds when it closes', async () => {
    ctx = await startServer();

    const [ws, sws] = await connect(ctx);
    const received = [];
    const pushed = [];
    const push = ws._socket.push;

    ws.on('message', (data) => received.push(data.toString()));
    ws._socket.push = function (chunk) {
      pushed.push(this._readableState.length);
      return push.call(this, chunk);
    };
    ws.pause();
    sws.send('held');

    //
    // The chunk is read while paused (as a paused `net.Socket` reads into its
    // buffer) and counted, but nothing is emitted.
    //
    while (ws._socket._readableState.length === 0) {
      await new Promise((resolve) => setImmediate(resolve));
    }

    assert.strictEqual(ws._socket._readableState.length, 6);
    assert.deepStrictEqual(pushed, [0]);
    assert.deepStrictEqual(received, []);

    //
    // A big message stops the reading after about a high water mark: the
    // rest waits in the kernel and in the sender.
    //
    sws.send(Buffer.alloc(8 * 1024 * 1024));
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(ws._socket._readableState.length <= 6 + 128 * 1024);
    assert.ok(sws.bufferedAmount > 0);

    const closed = once(ws, 'close');

    ws.terminate();
    await closed;
    assert.strictEqual(received[0], 'held');
  });

  it("emits no 'finish' when destroyed right after end()", async () => {
    const ctx = await startServer();
    const [ws, sws] = await connect(ctx);
    let finished = false;

    sws._socket.on('finish', () => (finished = true));
    sws._socket.end();
    sws._socket.destroy();
    await once(sws._socket, 'close');
    await new Promise((resolve) => setImmediate(resolve));
    assert.strictEqual(finished, false);
    ws.terminate();
    await stop(ctx.wss);
  });

  it("keeps the WebSocket's and stand-ins' listener tables out of dictionary mode", async () => {
    //
    // A dictionary-mode `_events` costs about 300 bytes per emitter, kept for
    // the life of every connection.
    //
    const script =
      `const { WebSocket, WebSocketServer } = require(${JSON.stringify(
        require.resolve('..')
      )});` +
      'const wss = new WebSocketServer({ port: 0 }, () => {' +
      '  new WebSocket(`ws://127.0.0.1:${wss.address().port}`);' +
      '});' +
      "wss.on('connection', (ws) => {" +
      "  ws.on('message', () => {});" +
      '  console.log(%HasFastProperties(ws._events),' +
      '    %HasFastProperties(ws._socket._events),' +
      '    %HasFastProperties(ws._receiver._events));' +
      '  process.exit(0);' +
      '});';
    const child = spawn(process.execPath, [
      '--allow-natives-syntax',
      '-e',
      script
    ]);
    let out = '';

    child.stdout.on('data', (chunk) => (out += chunk));
    await once(child, 'exit');
    assert.strictEqual(out, 'true true true\n');
  });

  it("delivers nothing more from a connection another connection's listener terminated", async () => {
    ctx = await startServer();

    const [a, sa] = await connect(ctx);
    const [b, sb] = await connect(ctx);
    const received = [];

    //
    // Both messages usually become readable in one turn of the event loop:
    // the first one read terminates the other connection, whose message
    // must then not come (it came first if it was read first).
    //
    sa.on('message', () => {
      received.push('a');
      sb.terminate();
    });
    sb.on('message', () => received.push('b'));
    a.send('x');
    b.send('y');
    await once(sb, 'close');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(
      ['a', 'b,a'].includes(received.join()),
      `received ${received.join()}`
    );
    a.terminate();
  });

  it('holds one descriptor per adopted connection end', async function () {
    if (!fs.existsSync('/proc/self/fd')) this.skip();

    ctx = await startServer();

    const open = () => fs.readdirSync('/proc/self/fd').length;
    const before = open();
    const pairs = [];

    for (let i = 0; i < 20; i++) pairs.push(await connect(ctx));

    //
    // Both ends are in this process: 40 sockets, each a single descriptor
    // once Node's own is closed (a second `dup()` per connection would
    // halve the connections a `ulimit -n` allows).
    //
    await new Promise((resolve) => setImmediate(resolve));
    const added = open() - before;

    assert.ok(added >= 40 && added <= 44, `${added} descriptors`);
    for (const [ws] of pairs) ws.terminate();
  });

  it('writes raw bytes with `_socket.write()`, with callbacks and `drain`', async () => {
    ctx = await startServer();

    const [ws, sws] = await connect(ctx);
    const message = once(ws, 'message');
    const written = new Promise((resolve) => {
      assert.strictEqual(
        sws._socket.write(Buffer.from([0x81, 0x02, 0x68, 0x69]), resolve),
        true
      );
    });

    assert.strictEqual(await written, null);

    const [data] = await message;

    assert.strictEqual(data.toString(), 'hi');

    //
    // Past the high water mark, `write()` says stop and `drain` follows once
    // everything is written.
    //
    const frame = Buffer.concat([
      Buffer.from([0x82, 0x7e, 0x80, 0x00]),
      Buffer.alloc(0x8000)
    ]);

    assert.strictEqual(sws._socket.write(frame), false);
    assert.strictEqual(sws._socket._writableState.needDrain, true);
    await once(sws._socket, 'drain');
    assert.strictEqual(sws._socket._writableState.length, 0);
    ws.terminate();
  });

  it('delivers compressed messages a runtime trip apart, all of them after `terminate()`', async () => {
    ctx = await startServer({ perMessageDeflate: true });

    const connection = once(ctx.wss, 'connection');
    const ws = new WebSocket(ctx.url, { transport: 'native' });
    const [[sws]] = await Promise.all([connection, once(ws, 'open')]);
    const messages = [];
    const states = [];

    ws.on('message', (data) => {
      if (messages.push(data.toString()) > 1) return;

      setImmediate(() => {
        process.nextTick(() => {
          states.push(ws._receiver._state);
          ws.terminate();
        });
      });
    });

    //
    // Four compressed empty text messages in one write.
    //
    sws._socket.write(Buffer.from('c10100'.repeat(4), 'hex'));

    const [code] = await once(ws, 'close');

    assert.deepStrictEqual(states, [5]);
    assert.deepStrictEqual(messages, ['', '', '', '']);
    assert.strictEqual(code, 1006);
  });

  it("closes the socket right after 'end' when the peer ended first, while a message still inflates", async () => {
    ctx = await startServer({ perMessageDeflate: true });

    const [ws, sws] = await connect(ctx);
    const messages = [];
    const states = [];

    ws.on('message', (data) => messages.push(data.toString()));
    ws._socket.on('end', () => states.push(['end', ws._receiver._state]));
    ws._socket.on('close', () => states.push(['close', ws._receiver._state]));

    //
    // A compressed empty text message, then the FIN: both reach the
    // client's kernel before it reads anything. Its socket closes as a Node
    // socket does, a turn or two after `'end'`, while the receiver still
    // inflates (ws's "consumes all received data when connection is closed").
    //
    sws._socket.write(Buffer.from('c10100', 'hex'));
    sws._socket.end();

    const [code] = await once(ws, 'close');

    assert.deepStrictEqual(states, [
      ['end', 5],
      ['close', 5]
    ]);
    assert.deepStrictEqual(messages, ['']);
    assert.strictEqual(code, 1006);
  });

  it('does not hand bytes given to `push()` to `push()` again', async () => {
    ctx = await startServer();

    const [ws, sws] = await connect(ctx);
    const push = ws._socket.push;
    const received = [];
    let pushes = 0;

    ws.on('message', (data) => received.push(data.toString()));
    ws._socket.push = function (chunk) {
      pushes++;
      return push.call(this, chunk);
    };

    //
    // As on a `net.Socket`, only the chunks read from the connection go
    // through `push()` (ws's "consumes all received data when connection is
    // closed (2/2)" watches it to catch the next chunk read).
    //
    push.call(ws._socket, Buffer.from('8102686981027961', 'hex'));
    while (received.length < 2) {
      await new Promise((resolve) => setImmediate(resolve));
    }

    assert.strictEqual(pushes, 0);

    const message = once(ws, 'message');

    sws.send('read');
    await message;
    assert.deepStrictEqual(received, ['hi', 'ya', 'read']);
    assert.strictEqual(pushes, 1);
    ws.terminate();
    await once(ws, 'close');
  });

  it('holds the socket while the receiver has a full chunk to handle', async () => {
    ctx = await startServer({ perMessageDeflate: true });

    const [ws] = await connect(ctx);
    const events = [];
    const big = Buffer.alloc(16 * 1024, 1);

    ws.on('message', (data) => {
      events.push(`message ${data.length}`);
      if (data.length === big.length) {
        process.nextTick(() => {
          events.push(`needDrain ${ws._receiver._writableState.needDrain}`);
          events.push(`paused ${ws._socket.isPaused()}`);
        });
      }
    });
    ws._socket.on('pause', () => events.push('pause'));
    ws._receiver.on('drain', () => {
      events.push('drain');
      events.push(`paused ${ws._socket.isPaused()}`);
    });

    //
    // An unmasked 16 KiB binary frame and a compressed 1-byte one, pushed as
    // one chunk.
    //
    ws._socket.push(
      Buffer.concat([
        Buffer.from([0x82, 0x7e, 0x40, 0x00]),
        big,
        Buffer.from('c203620700', 'hex')
      ])
    );

    await once(ws._receiver, 'drain');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepStrictEqual(events, [
      'message 16384',
      'pause',
      'needDrain true',
      'paused true',
      'message 1',
      'drain',
      'paused false'
    ]);
    ws.terminate();
  });

  it("waits for the connections Rust took over before the server's `close`", async () => {
    for (const clientTracking of [true, false]) {
      const { wss, url } = await startServer({ clientTracking });
      const connection = once(wss, 'connection');
      const ws = new WebSocket(url, { transport: 'native' });
      const [[sws]] = await Promise.all([connection, once(ws, 'open')]);
      let closed = false;

      wss.close(() => {
        closed = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.strictEqual(closed, false);
      assert.strictEqual(sws._socket.constructor.name, 'NativeSocket');
      ws.close();
      await once(wss, 'close');
      assert.strictEqual(closed, true);
    }
  });

  it("forgets a closed client before its `'close'` listeners, without one of its own", async () => {
    const { wss, url } = await startServer();
    const connection = once(wss, 'connection');
    const ws = new WebSocket(url);
    const [[sws]] = await Promise.all([connection, once(ws, 'open')]);

    //
    // ws adds a listener per client; holding none saves its closure and
    // listener table on every open connection.
    //
    assert.strictEqual(sws.listenerCount('close'), 0);
    assert.strictEqual(wss._nativeConnections, 1);

    const tracked = new Promise((resolve) => {
      sws.on('close', () =>
        resolve([wss.clients.size, wss._nativeConnections])
      );
    });

    ws.close();
    assert.deepStrictEqual(await tracked, [0, 0]);
    sws.emitClose();
    assert.strictEqual(wss._nativeConnections, 0);
    await new Promise((resolve) => wss.close(resolve));
  });

  it('delivers a message of more fragments than a batch has records', async () => {
    ctx = await startServer();

    const [ws, sws] = await connect(ctx);
    const count = 5000;

    ws.binaryType = 'fragments';
    for (let i = 0; i < count; i++) {
      sws.send(Buffer.from([i & 0xff]), { binary: true, fin: i === count - 1 });
    }

    const [[fragments]] = await Promise.all([once(ws, 'message')]);

    assert.strictEqual(fragments.length, count);
    assert.ok(fragments.every((fragment, i) => fragment[0] === (i & 0xff)));
    ws.terminate();
  });

  it("emits the facade's `pause` at once and `resume` on the next tick", async () => {
    ctx = await startServer();

    const [ws] = await connect(ctx);
    const events = [];

    ws._socket.on('pause', () => events.push('pause'));
    ws._socket.on('resume', () => events.push('resume'));
    ws.pause();
    assert.deepStrictEqual(events, ['pause']);
    assert.strictEqual(ws._socket.isPaused(), true);
    ws.resume();
    assert.deepStrictEqual(events, ['pause']);
    await new Promise((resolve) => process.nextTick(resolve));
    assert.deepStrictEqual(events, ['pause', 'resume']);
    ws.terminate();
  });

  it("reports the sender's compressing state until the message is written", async () => {
    ctx = await startServer({ perMessageDeflate: { threshold: 0 } });

    const [ws] = await connect(ctx, { perMessageDeflate: { threshold: 0 } });

    assert.strictEqual(ws._sender._state, 0);

    const sent = new Promise((resolve) => ws.send('compress me', resolve));

    assert.strictEqual(ws._sender._state, 1);
    assert.strictEqual(await sent, null);
    assert.strictEqual(ws._sender._state, 0);
    ws.terminate();
  });

  it('applies backpressure to a slow reader', async () => {
    ctx = await startServer();

    const [ws, sws] = await connect(ctx);
    const chunk = Buffer.alloc(64 * 1024);
    const total = 256;
    let received = 0;

    ws.on('message', () => received++);
    ws.pause();
    for (let i = 0; i < total; i++) sws.send(chunk);

    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.strictEqual(received, 0);
    assert.ok(
      sws.bufferedAmount > 0,
      'the kernel buffers filled up and the rest waits in Rust'
    );

    ws.resume();
    while (received < total) await once(ws, 'message');
    assert.strictEqual(sws.bufferedAmount, 0);
    ws.terminate();
  });

  it('emits messages one per turn without `allowSynchronousEvents`', async () => {
    ctx = await startServer({ allowSynchronousEvents: false });

    const [ws, sws] = await connect(ctx);
    const order = [];

    sws.on('message', (data) => {
      order.push(data.toString());
      process.nextTick(() => order.push('tick'));
    });
    ws.send('a');
    ws.send('b');
    ws.close();
    await once(sws, 'close');
    assert.deepStrictEqual(order, ['a', 'tick', 'b', 'tick']);
  });

  it('connects over a `ws+unix:` URL', async () => {
    const socketPath = path.join(
      os.tmpdir(),
      `ws-rs-native-${process.pid}-${Date.now()}.sock`
    );
    const server = require('http').createServer();
    const wss = new WebSocketServer({ server, transport: 'native' });

    await new Promise((resolve) => server.listen(socketPath, resolve));
    wss.on('connection', (sws) => {
      sws.on('message', (data) => sws.send(data));
    });

    const ws = new WebSocket(`ws+unix:${socketPath}`, { transport: 'native' });

    await once(ws, 'open');
    assert.ok(ws._socket instanceof NativeSocket);
    ws.send('over unix');

    const [data] = await once(ws, 'message');

    assert.strictEqual(data.toString(), 'over unix');
    ws.close();
    await once(ws, 'close');
    await new Promise((resolve) => wss.close(resolve));
    await new Promise((resolve) => server.close(resolve));
    fs.rmSync(socketPath, { force: true });
  });

  it('closes the connections of a terminated worker', async () => {
    const { Worker } = require('worker_threads');

    ctx = await startServer();

    const closed = new Promise((resolve) => {
      ctx.wss.on('connection', (sws) => {
        sws.on('message', (data) => sws.send(data));
        sws.on('close', resolve);
      });
    });
    const worker = new Worker(
      `
      const { parentPort, workerData } = require('worker_threads');
      const WebSocket = require(workerData.lib);
      const ws = new WebSocket(workerData.url, { transport: 'native' });
      ws.on('open', () => ws.send('from worker'));
      ws.on('message', (data) => parentPort.postMessage(String(data)));
      `,
      {
        eval: true,
        workerData: { lib: path.join(__dirname, '..'), url: ctx.url }
      }
    );
    const [message] = await once(worker, 'message');

    assert.strictEqual(message, 'from worker');
    await worker.terminate();
    assert.strictEqual(await closed, 1006);
  });

  it('delivers the rest of a batch, fragments kept, after a listener threw', async () => {
    ctx = await startServer();

    const [ws, sws] = await connect(ctx);
    const listeners = process.listeners('uncaughtException');
    const thrown = [];
    const received = [];

    process.removeAllListeners('uncaughtException');
    process.on('uncaughtException', (err) => thrown.push(err.message));

    try {
      ws.binaryType = 'fragments';
      ws.on('message', (data) => {
        received.push(data.map((fragment) => fragment.toString()).join('|'));
        if (received.length === 1) throw new Error('boom');
      });

      //
      // Both messages leave in one write, so they most likely arrive in one
      // batch; either way the second comes with its fragments.
      //
      sws._socket.write(
        Buffer.from([
          ...[0x82, 0x01, 0x61],
          ...[0x02, 0x01, 0x62],
          ...[0x00, 0x01, 0x63],
          ...[0x80, 0x01, 0x64]
        ])
      );

      await new Promise((resolve) => {
        const check = () =>
          received.length === 2 ? resolve() : setImmediate(check);

        check();
      });
    } finally {
      process.removeAllListeners('uncaughtException');
      for (const listener of listeners)
        process.on('uncaughtException', listener);
    }

    assert.deepStrictEqual(thrown, ['boom']);
    assert.deepStrictEqual(received, ['a', 'b|c|d']);
    ws.terminate();
  });

  it('surfaces an exception thrown in a listener as uncaught', async () => {
    const script = `
      const WebSocket = require(${JSON.stringify(path.join(__dirname, '..'))});
      const wss = new WebSocket.Server({ port: 0, transport: 'native' }, () => {
        const ws = new WebSocket('ws://localhost:' + wss.address().port, {
          transport: 'native'
        });
        ws.on('open', () => ws.send('x'));
      });
      wss.on('connection', (ws) => {
        ws.on('message', () => {
          throw new Error('boom');
        });
      });
    `;
    const child = spawn(process.execPath, ['-e', script]);
    let stderr = '';

    child.stderr.on('data', (chunk) => (stderr += chunk));

    const [exitCode] = await once(child, 'exit');

    assert.strictEqual(exitCode, 1);
    assert.ok(stderr.includes('Error: boom'));
  });

  it('exits cleanly on `process.exit()` while messages flow both ways', async () => {
    const script = `
      const WebSocket = require(${JSON.stringify(path.join(__dirname, '..'))});
      const wss = new WebSocket.Server({ port: 0, transport: 'native' }, () => {
        for (let i = 0; i < 4; i++) {
          const ws = new WebSocket('ws://localhost:' + wss.address().port, {
            transport: 'native'
          });
          let count = 0;
          ws.on('message', (data) => {
            ws.send(data);
            if (++count === 200 && i === 3) process.exit(0);
          });
        }
      });
      wss.on('connection', (ws) => {
        const flood = () => {
          for (let i = 0; i < 50; i++) ws.send('x'.repeat(1000));
          setImmediate(flood);
        };
        flood();
      });
    `;
    const child = spawn(process.execPath, ['-e', script]);
    let stderr = '';

    child.stderr.on('data', (chunk) => (stderr += chunk));

    const [exitCode, signal] = await once(child, 'exit');

    assert.strictEqual(signal, null);
    assert.strictEqual(exitCode, 0);
    assert.strictEqual(stderr, '');
  });

  it('keeps the process alive while a connection is open, then exits', async () => {
    const script = `
      const WebSocket = require(${JSON.stringify(path.join(__dirname, '..'))});
      const wss = new WebSocket.Server({ port: 0, transport: 'native' }, () => {
        const ws = new WebSocket('ws://localhost:' + wss.address().port, {
          transport: 'native'
        });
        ws.on('open', () => {
          wss.close();
          setTimeout(() => ws.close(), 300);
        });
        ws.on('close', (code) => console.log('closed', code));
      });
    `;
    const child = spawn(process.execPath, ['-e', script]);
    let output = '';

    child.stdout.on('data', (chunk) => (output += chunk));

    const started = Date.now();
    const [exitCode] = await once(child, 'exit');

    assert.strictEqual(exitCode, 0);
    assert.strictEqual(output.trim(), 'closed 1005');
    assert.ok(Date.now() - started >= 300, 'the connection held the loop');
  });
});

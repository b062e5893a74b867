'use strict';

const assert = require('assert');
const crypto = require('crypto');
const EventEmitter = require('events');
const { Duplex, pipeline, Readable, Writable } = require('stream');

const WebSocket = require('..');
const createWebSocketStream = require('../lib/stream');

/**
 * Starts an echo server (or one with a custom connection listener).
 *
 * @param {Function} [onConnection] The `'connection'` listener
 * @param {Object} [options] Extra server options
 * @return {Promise<Object>} `{ wss, url }`
 */
function startServer(onConnection, options) {
  return new Promise((resolve) => {
    const wss = new WebSocket.Server({ port: 0, ...options }, () => {
      resolve({ wss, url: `ws://localhost:${wss.address().port}` });
    });

    wss.on(
      'connection',
      onConnection ||
        ((ws) => {
          ws.on('message', (data, isBinary) => {
            ws.send(data, { binary: isBinary });
          });
        })
    );
  });
}

/**
 * Closes a server, terminating its clients.
 *
 * @param {WebSocketServer} wss The server
 * @return {Promise<void>}
 */
function stop(wss) {
  for (const ws of wss.clients) ws.terminate();
  return new Promise((resolve) => wss.close(() => resolve()));
}

describe('createWebSocketStream (ws-rs)', () => {
  it('is exported as WebSocket.createWebSocketStream', () => {
    assert.strictEqual(WebSocket.createWebSocketStream, createWebSocketStream);
  });

  it('forces the options ws forces', () => {
    const duplex = createWebSocketStream(new EventEmitter(), {
      objectMode: true,
      autoDestroy: true,
      emitClose: true,
      highWaterMark: 7
    });

    assert.ok(duplex instanceof Duplex);
    assert.strictEqual(duplex._readableState.objectMode, false);
    assert.strictEqual(duplex._writableState.objectMode, false);
    assert.strictEqual(duplex._readableState.autoDestroy, false);
    assert.strictEqual(duplex._writableState.emitClose, false);
    assert.strictEqual(duplex.readableHighWaterMark, 7);
  });

  it('ignores read/write/final/destroy functions in the options', async () => {
    const { wss, url } = await startServer();
    const duplex = createWebSocketStream(new WebSocket(url), {
      read() {
        throw new Error('custom read');
      },
      write() {
        throw new Error('custom write');
      }
    });

    duplex.write('ping');

    const [chunk] = await new Promise((resolve) => {
      duplex.once('data', (...args) => resolve(args));
    });

    assert.strictEqual(chunk.toString(), 'ping');
    duplex.destroy();
    await stop(wss);
  });

  it('queues writes until the websocket is open, then echoes', async () => {
    const { wss, url } = await startServer();
    const ws = new WebSocket(url);
    const duplex = createWebSocketStream(ws);
    const payload = crypto.randomBytes(100000);

    assert.strictEqual(ws.readyState, WebSocket.CONNECTING);
    duplex.write(payload);

    const chunk = await new Promise((resolve) => duplex.once('data', resolve));

    assert.ok(Buffer.isBuffer(chunk));
    assert.ok(chunk.equals(payload));
    duplex.destroy();
    await stop(wss);
  });

  it('turns text messages into strings in readable object mode', async () => {
    const { wss, url } = await startServer((ws) => {
      ws.send('text');
      ws.send(Buffer.from('bytes'));
    });
    const duplex = createWebSocketStream(new WebSocket(url), {
      readableObjectMode: true
    });
    const chunks = [];

    await new Promise((resolve) => {
      duplex.on('data', (chunk) => {
        chunks.push(chunk);
        if (chunks.length === 2) resolve();
      });
    });

    assert.strictEqual(chunks[0], 'text');
    assert.ok(Buffer.isBuffer(chunks[1]));
    assert.strictEqual(chunks[1].toString(), 'bytes');
    duplex.destroy();
    await stop(wss);
  });

  it('closes the websocket cleanly when both sides end', async () => {
    let serverClose;
    const { wss, url } = await startServer((ws) => {
      serverClose = new Promise((resolve) => {
        ws.on('close', (code) => resolve(code));
      });
      ws.on('message', (data) => ws.send(data));
    });
    const ws = new WebSocket(url);
    const duplex = createWebSocketStream(ws, { encoding: 'utf8' });
    const received = [];
    const closed = new Promise((resolve) => duplex.on('close', resolve));

    duplex.on('data', (chunk) => {
      received.push(chunk);
      if (received.length === 2) duplex.end();
    });
    duplex.write('a');
    duplex.write('b');

    await closed;
    assert.deepStrictEqual(received, ['a', 'b']);
    assert.strictEqual(duplex.destroyed, true);
    assert.strictEqual(ws.readyState, WebSocket.CLOSED);
    assert.strictEqual(await serverClose, 1005);
    await stop(wss);
  });

  it('ends the readable side when the peer closes', async () => {
    const { wss, url } = await startServer((ws) => {
      ws.send('last');
      ws.close(1000);
    });
    const duplex = createWebSocketStream(new WebSocket(url));
    const chunks = [];

    await new Promise((resolve) => {
      duplex.on('data', (chunk) => chunks.push(chunk.toString()));
      duplex.on('end', resolve);
    });

    assert.deepStrictEqual(chunks, ['last']);
    duplex.end();
    await new Promise((resolve) => duplex.on('close', resolve));
    await stop(wss);
  });

  it('terminates the websocket when destroyed', async () => {
    let serverClose;
    const { wss, url } = await startServer((ws) => {
      serverClose = new Promise((resolve) => ws.on('close', resolve));
    });
    const ws = new WebSocket(url);
    const duplex = createWebSocketStream(ws);

    await new Promise((resolve) => ws.on('open', resolve));

    const closed = new Promise((resolve) => duplex.on('close', resolve));

    duplex.destroy();
    await closed;
    assert.strictEqual(ws.readyState, WebSocket.CLOSED);
    assert.strictEqual(await serverClose, 1006);
    await stop(wss);
  });

  it('is destroyed with the error of a failed handshake', async () => {
    const { wss, url } = await startServer(null, { path: '/only' });
    const duplex = createWebSocketStream(new WebSocket(`${url}/other`));
    const closed = new Promise((resolve) => duplex.on('close', resolve));
    const err = await new Promise((resolve) => duplex.on('error', resolve));

    assert.strictEqual(err.message, 'Unexpected server response: 400');
    assert.strictEqual(duplex.destroyed, true);
    await closed;
    await stop(wss);
  });

  it('rethrows errors nobody else listens to', async () => {
    //
    // A closed websocket-like emitter: destroying the stream then needs no
    // socket.
    //
    const ws = Object.assign(new EventEmitter(), { readyState: 3, CLOSED: 3 });
    const duplex = createWebSocketStream(ws);
    const err = new Error('boom');

    assert.throws(
      () => duplex.emit('error', err),
      (thrown) => thrown === err
    );
    assert.strictEqual(duplex.destroyed, true);
  });

  it('pauses the websocket on backpressure and resumes it on read', async () => {
    const count = 20;
    const { wss, url } = await startServer((ws) => {
      const chunk = Buffer.alloc(1024);

      for (let i = 0; i < count; i++) ws.send(chunk);
    });
    const ws = new WebSocket(url);
    const duplex = createWebSocketStream(ws, { highWaterMark: 1024 });

    await new Promise((resolve) => {
      ws.on('message', function onMessage() {
        if (ws.isPaused) {
          ws.removeListener('message', onMessage);
          resolve();
        }
      });
    });

    let received = 0;

    await new Promise((resolve) => {
      duplex.on('data', () => {
        if (++received === count) resolve();
      });
    });

    assert.strictEqual(ws.isPaused, false);
    duplex.destroy();
    await stop(wss);
  });

  it('works in a pipeline', async () => {
    const { wss, url } = await startServer();
    const duplex = createWebSocketStream(new WebSocket(url));
    const received = [];
    const sink = new Writable({
      write(chunk, encoding, callback) {
        received.push(chunk.toString());
        if (received.length === 3) duplex.end();
        callback();
      }
    });

    await new Promise((resolve, reject) => {
      pipeline(duplex, sink, (err) => (err ? reject(err) : resolve()));
      Readable.from(['x', 'y', 'z']).on('data', (chunk) => duplex.write(chunk));
    });

    assert.deepStrictEqual(received, ['x', 'y', 'z']);
    await stop(wss);
  });
});

'use strict';

const assert = require('assert');
const crypto = require('crypto');
const http = require('http');
const net = require('net');
const os = require('os');
const path = require('path');
const { URL } = require('url');

const WebSocket = require('../lib/websocket');
const WebSocketServer = require('../lib/websocket-server');
const { GUID, kStatusCode } = require('../lib/constants');
const { CloseEvent, ErrorEvent, MessageEvent } = require('../lib/event-target');

/**
 * Start a `WebSocketServer` on an ephemeral port.
 *
 * @param {Object} [options] Extra server options
 * @return {Promise<Object>} `{ wss, url }`
 */
function startServer(options) {
  return new Promise((resolve) => {
    const wss = new WebSocketServer({ port: 0, ...options }, () => {
      resolve({ wss, url: `ws://localhost:${wss.address().port}` });
    });
  });
}

/**
 * Start an HTTP server whose `'upgrade'` events are handled by `onUpgrade`.
 *
 * @param {(Function|null)} onUpgrade `(req, socket, head)` listener
 * @return {Promise<Object>} `{ server, url }`
 */
function startRawServer(onUpgrade) {
  return new Promise((resolve) => {
    const server = http.createServer();

    //
    // Upgraded sockets are no longer tracked by the server; keep them so
    // that `stop()` can destroy them.
    //
    server.upgraded = new Set();

    //
    // Without an `'upgrade'` listener, Node.js hands upgrade requests to the
    // `'request'` listeners.
    //
    if (onUpgrade) {
      server.on('upgrade', (req, socket, head) => {
        server.upgraded.add(socket);
        onUpgrade(req, socket, head);
      });
    }
    server.listen(0, () => {
      resolve({ server, url: `ws://localhost:${server.address().port}` });
    });
  });
}

/**
 * The accept value for a key.
 *
 * @param {String} key The `Sec-WebSocket-Key`
 * @return {String}
 */
function acceptKey(key) {
  return crypto
    .createHash('sha1')
    .update(key + GUID)
    .digest('base64');
}

/**
 * Wait for an event, failing after a bounded delay.
 *
 * @param {EventEmitter} emitter The emitter
 * @param {String} event The event name
 * @param {Number} [ms=2000] The timeout
 * @return {Promise<Array>} The event arguments
 */
function once(emitter, event, ms = 2000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`timed out waiting for '${event}'`));
    }, ms);

    emitter.once(event, (...args) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

/**
 * Wait for the `'error'` event and the `'close'` event that follows it.
 *
 * @param {WebSocket} ws The WebSocket
 * @return {Promise<Object>} `{ err, code, readyState }` where `readyState` is
 *     read in the `'error'` listener
 */
function errorAndClose(ws) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out')), 2000);
    const result = {};

    ws.once('error', (err) => {
      result.err = err;
      result.readyState = ws.readyState;
    });
    ws.once('close', (code) => {
      clearTimeout(timer);
      result.code = code;
      resolve(result);
    });
  });
}

/**
 * Close a server and all its clients.
 *
 * @param {(WebSocketServer|http.Server)} server The server
 * @return {Promise}
 */
function stop(server) {
  if (server.clients) {
    for (const ws of server.clients) ws.terminate();
  }

  if (server.upgraded) {
    for (const socket of server.upgraded) socket.destroy();
    server.closeAllConnections();
  }

  return new Promise((resolve) => server.close(() => resolve()));
}

describe('WebSocket', function () {
  this.timeout(5000);

  describe('class', () => {
    it('has the ready-state constants on the class and the prototype', () => {
      ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'].forEach((name, value) => {
        for (const holder of [WebSocket, WebSocket.prototype]) {
          const descriptor = Object.getOwnPropertyDescriptor(holder, name);

          assert.strictEqual(descriptor.value, value);
          assert.strictEqual(descriptor.enumerable, true);
          assert.strictEqual(descriptor.writable, false);
        }
      });
    });

    it('exposes enumerable accessors and `on*` attributes', () => {
      for (const name of [
        'binaryType',
        'bufferedAmount',
        'extensions',
        'isPaused',
        'protocol',
        'readyState',
        'url',
        'onopen',
        'onclose',
        'onerror',
        'onmessage'
      ]) {
        const descriptor = Object.getOwnPropertyDescriptor(
          WebSocket.prototype,
          name
        );

        assert.strictEqual(descriptor.enumerable, true, name);
        assert.strictEqual(descriptor.configurable, true, name);
        assert.strictEqual(typeof descriptor.get, 'function', name);
      }
    });
  });

  describe('constructor', () => {
    it('throws on an invalid URL', () => {
      assert.throws(() => new WebSocket('foo'), {
        name: 'SyntaxError',
        message: 'Invalid URL: foo'
      });
    });

    it('throws on an unsupported scheme, a fragment, or an empty IPC path', () => {
      assert.throws(() => new WebSocket('ftp://localhost'), {
        name: 'SyntaxError',
        message:
          'The URL\'s protocol must be one of "ws:", "wss:", "http:", ' +
          '"https:", or "ws+unix:"'
      });
      assert.throws(() => new WebSocket('ws://localhost/#frag'), {
        name: 'SyntaxError',
        message: 'The URL contains a fragment identifier'
      });
      assert.throws(() => new WebSocket('ws+unix:'), {
        name: 'SyntaxError',
        message: "The URL's pathname is empty"
      });
    });

    it('throws on an unsupported protocol version', () => {
      assert.throws(
        () => new WebSocket('ws://localhost', { protocolVersion: 1000 }),
        {
          name: 'RangeError',
          message:
            'Unsupported protocol version: 1000 (supported versions: 8, 13)'
        }
      );
    });

    it('throws on invalid or duplicated subprotocols', () => {
      for (const protocols of [['a', 'a'], ['a b'], [''], [1]]) {
        assert.throws(() => new WebSocket('ws://localhost', protocols), {
          name: 'SyntaxError',
          message: 'An invalid or duplicated subprotocol was specified'
        });
      }
    });

    it('maps `http:`/`https:` to `ws:`/`wss:` without mutating a `URL`', () => {
      const url = new URL('http://localhost:1/path?x=1');
      const ws = new WebSocket(url, { agent: false });

      ws.on('error', () => {});
      assert.strictEqual(ws.url, 'ws://localhost:1/path?x=1');
      assert.strictEqual(url.protocol, 'http:');
      assert.strictEqual(ws.readyState, WebSocket.CONNECTING);
      ws.terminate();
    });
  });

  describe('connection', () => {
    let ctx;

    afterEach(() => (ctx ? stop(ctx.wss) : undefined));

    it('emits `upgrade` then `open` and negotiates defaults', async () => {
      ctx = await startServer({ perMessageDeflate: true });

      const ws = new WebSocket(ctx.url);
      const events = [];

      ws.on('upgrade', (res) => events.push(['upgrade', res.statusCode]));
      ws.on('open', () => events.push(['open', ws.readyState]));
      await once(ws, 'open');

      assert.deepStrictEqual(events, [
        ['upgrade', 101],
        ['open', WebSocket.OPEN]
      ]);
      assert.strictEqual(ws.extensions, 'permessage-deflate');
      assert.strictEqual(ws.protocol, '');
      assert.strictEqual(ws.url, `${ctx.url}/`);
      assert.strictEqual(ws.bufferedAmount, 0);
      assert.strictEqual(ws._isServer, false);
      ws.close();
      await once(ws, 'close');
    });

    it('treats an object as second argument as the options', async () => {
      ctx = await startServer({ perMessageDeflate: true });

      const ws = new WebSocket(ctx.url, { perMessageDeflate: false });

      await once(ws, 'open');
      assert.strictEqual(ws.extensions, '');
      ws.terminate();
    });

    it('negotiates a subprotocol', async () => {
      ctx = await startServer();

      const ws = new WebSocket(ctx.url, ['foo', 'bar']);

      await once(ws, 'open');
      assert.strictEqual(ws.protocol, 'foo');
      ws.terminate();
    });

    it('exchanges text and binary messages, honouring `binaryType`', async () => {
      ctx = await startServer();
      ctx.wss.on('connection', (ws) => {
        ws.on('message', (data, isBinary) =>
          ws.send(data, { binary: isBinary })
        );
      });

      const ws = new WebSocket(ctx.url);

      await once(ws, 'open');

      ws.send('héllo');
      let [data, isBinary] = await once(ws, 'message');
      assert.ok(Buffer.isBuffer(data));
      assert.strictEqual(data.toString(), 'héllo');
      assert.strictEqual(isBinary, false);

      ws.binaryType = 'arraybuffer';
      ws.send(new Uint8Array([1, 2, 3]));
      [data, isBinary] = await once(ws, 'message');
      assert.ok(data instanceof ArrayBuffer);
      assert.deepStrictEqual([...new Uint8Array(data)], [1, 2, 3]);
      assert.strictEqual(isBinary, true);

      ws.binaryType = 'fragments';
      ws.send(Buffer.from('ab'), { fin: false });
      ws.send(Buffer.from('cd'));
      [data] = await once(ws, 'message');
      assert.ok(Array.isArray(data));
      assert.strictEqual(Buffer.concat(data).toString(), 'abcd');

      ws.binaryType = 'not-a-type';
      assert.strictEqual(ws.binaryType, 'fragments');

      ws.send(42, (err) => assert.ifError(err));
      [data, isBinary] = await once(ws, 'message');
      assert.strictEqual(data.toString(), '42');
      ws.terminate();
    });

    it('closes cleanly with a code and reason on both sides', async () => {
      ctx = await startServer();

      const serverClose = once(ctx.wss, 'connection').then(([sws]) =>
        once(sws, 'close')
      );
      const ws = new WebSocket(ctx.url);

      await once(ws, 'open');
      ws.close(4000, 'bye');
      assert.strictEqual(ws.readyState, WebSocket.CLOSING);

      const [code, reason] = await once(ws, 'close');

      assert.strictEqual(code, 4000);
      assert.strictEqual(reason.toString(), 'bye');
      assert.strictEqual(ws.readyState, WebSocket.CLOSED);
      assert.strictEqual(ws._closeFrameReceived, true);
      assert.strictEqual(ws._closeFrameSent, true);

      const [serverCode, serverReason] = await serverClose;

      assert.strictEqual(serverCode, 4000);
      assert.strictEqual(serverReason.toString(), 'bye');
    });

    it('reports 1005 when the close frame has no status code', async () => {
      ctx = await startServer();
      ctx.wss.on('connection', (sws) => sws.close());

      const ws = new WebSocket(ctx.url);
      const [code, reason] = await once(ws, 'close');

      assert.strictEqual(code, 1005);
      assert.strictEqual(reason.length, 0);
    });

    it('reports 1006 when the peer terminates', async () => {
      ctx = await startServer();
      ctx.wss.on('connection', (sws) => sws.terminate());

      const ws = new WebSocket(ctx.url);
      const [code] = await once(ws, 'close');

      assert.strictEqual(code, 1006);
    });

    it('validates the close code and reason', async () => {
      ctx = await startServer();

      const ws = new WebSocket(ctx.url);

      await once(ws, 'open');
      assert.throws(() => ws.close(1004), {
        name: 'TypeError',
        message: 'First argument must be a valid error code number'
      });
      assert.throws(() => ws.close(1000, 'x'.repeat(124)), {
        name: 'RangeError',
        message: 'The message must not be greater than 123 bytes'
      });
      assert.strictEqual(ws.readyState, WebSocket.OPEN);
      ws.terminate();
    });

    it('throws when sending while connecting', async () => {
      ctx = await startServer();

      const ws = new WebSocket(ctx.url);
      const message = 'WebSocket is not open: readyState 0 (CONNECTING)';

      assert.throws(() => ws.send('x'), { message });
      assert.throws(() => ws.ping(), { message });
      assert.throws(() => ws.pong(), { message });
      await once(ws, 'open');
      ws.terminate();
    });

    it('fails callbacks and counts bytes sent after closing', async () => {
      ctx = await startServer();

      const ws = new WebSocket(ctx.url);

      await once(ws, 'open');
      ws.close();

      const before = ws.bufferedAmount;
      const errors = await Promise.all(
        ['send', 'ping', 'pong'].map(
          (method) =>
            new Promise((resolve) => ws[method]('abc', (err) => resolve(err)))
        )
      );

      for (const err of errors) {
        assert.strictEqual(
          err.message,
          'WebSocket is not open: readyState 2 (CLOSING)'
        );
      }

      assert.strictEqual(ws.bufferedAmount, before + 9);
      await once(ws, 'close');

      const err = await new Promise((resolve) => ws.send('x', resolve));

      assert.strictEqual(
        err.message,
        'WebSocket is not open: readyState 3 (CLOSED)'
      );
    });

    it('answers pings automatically unless `autoPong` is false', async () => {
      ctx = await startServer();

      const connection = once(ctx.wss, 'connection');
      const ws = new WebSocket(ctx.url);
      const [sws] = await connection;

      await once(ws, 'open');
      sws.ping('hi');

      const [[ping], [pong]] = await Promise.all([
        once(ws, 'ping'),
        once(sws, 'pong')
      ]);

      assert.strictEqual(ping.toString(), 'hi');
      assert.strictEqual(pong.toString(), 'hi');

      const quiet = new WebSocket(ctx.url, { autoPong: false });
      const [sws2] = await once(ctx.wss, 'connection');
      let ponged = false;

      sws2.on('pong', () => {
        ponged = true;
      });
      await once(quiet, 'open');
      sws2.ping();
      await once(quiet, 'ping');
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.strictEqual(ponged, false);
      ws.terminate();
      quiet.terminate();
    });

    it('pauses and resumes the delivery of messages', async () => {
      ctx = await startServer();

      const connection = once(ctx.wss, 'connection');
      const ws = new WebSocket(ctx.url);
      const [sws] = await connection;
      let received = 0;

      assert.strictEqual(ws.isPaused, false);
      ws.pause();
      assert.strictEqual(ws.isPaused, false, 'no-op while connecting');
      await once(ws, 'open');
      ws.on('message', () => received++);
      ws.pause();
      assert.strictEqual(ws.isPaused, true);
      sws.send('a');
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.strictEqual(received, 0);
      ws.resume();
      assert.strictEqual(ws.isPaused, false);
      await once(ws, 'message');
      ws.terminate();
    });

    it('terminates when the close handshake times out', async () => {
      ctx = await startServer();

      const connection = once(ctx.wss, 'connection');
      const ws = new WebSocket(ctx.url, { closeTimeout: 50 });
      const [sws] = await connection;

      await once(ws, 'open');

      //
      // The server stops reading, so it never answers the close frame.
      //
      sws._socket.pause();
      sws._socket.removeAllListeners('data');
      ws.close();
      assert.notStrictEqual(ws._closeTimer, null);

      const [code] = await once(ws, 'close');

      assert.strictEqual(code, 1006);
    });

    it('supports the `on*` attributes and `addEventListener`', async () => {
      ctx = await startServer();
      ctx.wss.on('connection', (sws) => {
        sws.send('text');
        sws.close(1000, 'done');
      });

      const ws = new WebSocket(ctx.url);
      const events = [];
      const onopen = () => events.push('open');

      ws.onopen = onopen;
      assert.strictEqual(ws.onopen, onopen);
      ws.onerror = 'not a function';
      assert.strictEqual(ws.onerror, null);
      ws.onmessage = (event) => {
        assert.ok(event instanceof MessageEvent);
        assert.strictEqual(event.target, ws);
        events.push(event.data);
      };
      ws.addEventListener('close', (event) => {
        assert.ok(event instanceof CloseEvent);
        events.push([event.code, event.reason, event.wasClean]);
      });

      await once(ws, 'close');
      assert.deepStrictEqual(events, ['open', 'text', [1000, 'done', true]]);

      ws.onopen = null;
      assert.strictEqual(ws.listenerCount('open'), 0);
    });
  });

  describe('handshake failures', () => {
    let server;

    afterEach(() => (server ? stop(server) : undefined));

    it('fails with "Unexpected server response" on a non-101 status', async () => {
      ({ server } = await startRawServer(null));
      server.on('request', (req, res) => {
        res.writeHead(403);
        res.end();
      });

      const { port } = server.address();

      const ws = new WebSocket(`ws://localhost:${port}`);
      const { err, code, readyState } = await errorAndClose(ws);

      assert.strictEqual(err.message, 'Unexpected server response: 403');
      assert.strictEqual(readyState, WebSocket.CLOSING);

      assert.strictEqual(code, 1006);
    });

    it('lets an `unexpected-response` listener handle the response', async () => {
      ({ server } = await startRawServer(null));
      server.on('request', (req, res) => {
        res.writeHead(401);
        res.end();
      });

      const ws = new WebSocket(`ws://localhost:${server.address().port}`);

      ws.on('error', () => assert.fail('unexpected error'));

      const [req, res] = await once(ws, 'unexpected-response');

      assert.strictEqual(req, ws._req);
      assert.strictEqual(res.statusCode, 401);
      req.destroy();
      ws.removeAllListeners('error');
      ws.on('error', () => {});
    });

    for (const [title, respond, message] of [
      [
        'an invalid Sec-WebSocket-Accept header',
        () => 'Sec-WebSocket-Accept: wrong',
        'Invalid Sec-WebSocket-Accept header'
      ],
      [
        'an unrequested subprotocol',
        (key) =>
          `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n` +
          'Sec-WebSocket-Protocol: foo',
        'Server sent a subprotocol but none was requested'
      ],
      [
        'an unrequested extension',
        (key) =>
          `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n` +
          'Sec-WebSocket-Extensions: foo',
        'Server indicated an extension that was not requested'
      ],
      [
        'an invalid extension header',
        (key) =>
          `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n` +
          'Sec-WebSocket-Extensions: permessage-deflate; =',
        'Invalid Sec-WebSocket-Extensions header'
      ]
    ]) {
      it(`fails on ${title}`, async () => {
        let url;

        ({ server, url } = await startRawServer((req, socket) => {
          socket.end(
            'HTTP/1.1 101 Switching Protocols\r\n' +
              'Upgrade: websocket\r\n' +
              'Connection: Upgrade\r\n' +
              `${respond(req.headers['sec-websocket-key'])}\r\n\r\n`
          );
        }));

        const ws = new WebSocket(url);

        const { err, code } = await errorAndClose(ws);

        assert.strictEqual(err.message, message);

        assert.strictEqual(code, 1006);
      });
    }

    it('aborts with a message when closed while connecting', async () => {
      ({ server } = await startRawServer(() => {}));

      const ws = new WebSocket(`ws://localhost:${server.address().port}`);
      const events = [];

      ws.on('error', (err) => events.push(err.message));
      ws.on('close', (code) => events.push(code));
      ws.close();
      assert.strictEqual(ws.readyState, WebSocket.CLOSING);
      await once(ws, 'close');
      assert.deepStrictEqual(events, [
        'WebSocket was closed before the connection was established',
        1006
      ]);
    });

    it('times out the opening handshake', async () => {
      ({ server } = await startRawServer(() => {}));

      const ws = new WebSocket(`ws://localhost:${server.address().port}`, {
        handshakeTimeout: 50
      });
      const { err, code } = await errorAndClose(ws);

      assert.strictEqual(err.message, 'Opening handshake has timed out');
      assert.strictEqual(code, 1006);
    });

    it('reports connection errors', async () => {
      ({ server } = await startRawServer(() => {}));

      const { port } = server.address();

      await stop(server);
      server = null;

      const ws = new WebSocket(`ws://localhost:${port}`);
      const { err, code } = await errorAndClose(ws);

      assert.strictEqual(err.code, 'ECONNREFUSED');
      assert.strictEqual(ws._req, null);
      assert.strictEqual(code, 1006);
    });
  });

  describe('request options', () => {
    let server;

    afterEach(() => (server ? stop(server) : undefined));

    it('sends credentials, origin, custom headers, and version 8 headers', async () => {
      let headers;

      ({ server } = await startRawServer((req, socket) => {
        headers = req.headers;
        socket.destroy();
      }));

      const { port } = server.address();
      const ws = new WebSocket(`ws://us%40er:p%3Ass@localhost:${port}/p?q`, {
        headers: { 'X-Custom': 'yes' },
        origin: 'https://example.com',
        protocolVersion: 8,
        perMessageDeflate: { clientMaxWindowBits: 10 }
      });

      ws.on('error', () => {});
      await once(ws, 'close');

      assert.strictEqual(
        headers.authorization,
        'Basic ' + Buffer.from('us@er:p:ss').toString('base64')
      );
      assert.strictEqual(headers['x-custom'], 'yes');
      assert.strictEqual(
        headers['sec-websocket-origin'],
        'https://example.com'
      );
      assert.strictEqual(headers.origin, undefined);
      assert.strictEqual(headers['sec-websocket-version'], '8');
      assert.strictEqual(
        headers['sec-websocket-extensions'],
        'permessage-deflate; client_max_window_bits=10'
      );
      assert.strictEqual(headers.upgrade, 'websocket');
    });

    it('lets `finishRequest` finish the request', async () => {
      let header;

      ({ server } = await startRawServer((req, socket) => {
        header = req.headers['x-late'];
        socket.destroy();
      }));

      let passed;
      const ws = new WebSocket(`ws://localhost:${server.address().port}`, {
        finishRequest(req, websocket) {
          passed = websocket;
          req.setHeader('X-Late', '1');
          req.end();
        }
      });

      assert.strictEqual(passed, ws);

      ws.on('error', () => {});
      await once(ws, 'close');
      assert.strictEqual(header, '1');
    });

    it('follows redirects and emits `redirect`', async () => {
      const { wss, url } = await startServer();
      let hops = 0;

      ({ server } = await startRawServer((req, socket) => {
        hops++;
        socket.end('HTTP/1.1 302 Found\r\n' + `Location: ${url}/final\r\n\r\n`);
      }));

      const ws = new WebSocket(`ws://localhost:${server.address().port}`, {
        followRedirects: true
      });
      const [redirectUrl, req] = await once(ws, 'redirect');

      assert.strictEqual(redirectUrl, `${url}/final`);
      assert.strictEqual(req, ws._req);
      await once(ws, 'open');
      assert.strictEqual(ws._redirects, 1);
      assert.strictEqual(ws.url, `${url}/final`);
      assert.strictEqual(hops, 1);
      ws.terminate();
      await stop(wss);
    });

    it('stops after `maxRedirects`', async () => {
      ({ server } = await startRawServer((req, socket) => {
        socket.end('HTTP/1.1 302 Found\r\nLocation: /again\r\n\r\n');
      }));

      const ws = new WebSocket(`ws://localhost:${server.address().port}`, {
        followRedirects: true,
        maxRedirects: 2
      });
      const { err, code } = await errorAndClose(ws);

      assert.strictEqual(err.message, 'Maximum redirects exceeded');
      assert.strictEqual(ws._redirects, 3);
      assert.strictEqual(code, 1006);
    });

    it('connects over a `ws+unix:` URL', async function () {
      if (process.platform === 'win32') this.skip();

      const socketPath = path.join(
        os.tmpdir(),
        `ws-rs-${process.pid}-${Date.now()}.sock`
      );
      const httpServer = http.createServer();
      const wss = new WebSocketServer({ server: httpServer });

      await new Promise((resolve) => httpServer.listen(socketPath, resolve));

      const connection = once(wss, 'connection');
      const ws = new WebSocket(`ws+unix:${socketPath}:/chat?x=1`);
      const [, req] = await connection;

      assert.strictEqual(req.url, '/chat?x=1');
      await once(ws, 'open');
      ws.terminate();
      await once(ws, 'close');
      await new Promise((resolve) => wss.close(resolve));
      await new Promise((resolve) => httpServer.close(resolve));
    });
  });

  describe('protocol errors', () => {
    let server;

    afterEach(() => (server ? stop(server) : undefined));

    /**
     * Open a raw server that completes the handshake and then writes `bytes`.
     *
     * @param {Buffer} bytes The frames to send
     * @return {Promise<WebSocket>} The client
     */
    async function clientReceiving(bytes) {
      ({ server } = await startRawServer((req, socket) => {
        const key = req.headers['sec-websocket-key'];

        socket.on('error', () => {});
        socket.on('data', () => socket.end());
        socket.write(
          'HTTP/1.1 101 Switching Protocols\r\n' +
            'Upgrade: websocket\r\n' +
            'Connection: Upgrade\r\n' +
            `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`
        );
        socket.write(bytes);
      }));

      return new WebSocket(`ws://localhost:${server.address().port}`);
    }

    it('errors and closes with 1002 on a masked frame from a server', async () => {
      const ws = await clientReceiving(
        Buffer.from('818300000000616263', 'hex')
      );
      const { err, code } = await errorAndClose(ws);

      assert.ok(err instanceof RangeError);
      assert.strictEqual(err.code, 'WS_ERR_UNEXPECTED_MASK');
      assert.strictEqual(err[kStatusCode], 1002);

      assert.strictEqual(code, 1006);
      assert.strictEqual(ws._closeFrameSent, true);
    });

    it('errors with 1009 when `maxPayload` is exceeded', async () => {
      const { wss, url } = await startServer();

      server = wss;

      wss.on('connection', (sws) => sws.send(Buffer.alloc(20)));

      const ws = new WebSocket(url, { maxPayload: 10 });
      const { err, code } = await errorAndClose(ws);

      assert.strictEqual(err.code, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
      assert.strictEqual(err[kStatusCode], 1009);
      assert.strictEqual(code, 1006);
    });

    it('delivers an `ErrorEvent` to `onerror`', async () => {
      const ws = await clientReceiving(Buffer.from('8f00', 'hex'));
      const [event] = await new Promise((resolve) => {
        ws.onerror = (...args) => resolve(args);
      });

      assert.ok(event instanceof ErrorEvent);
      assert.strictEqual(event.error.code, 'WS_ERR_INVALID_OPCODE');
      assert.strictEqual(
        event.message,
        'Invalid WebSocket frame: invalid opcode 15'
      );
      await once(ws, 'close');
    });
  });

  describe('#setSocket', () => {
    it('drives a server-side WebSocket over any connected socket', async () => {
      const server = net.createServer();

      await new Promise((resolve) => server.listen(0, resolve));

      const accepted = once(server, 'connection');
      const clientSocket = net.connect(server.address().port);
      const [serverSocket] = await accepted;
      const sws = new WebSocket(null, undefined, {
        autoPong: true,
        closeTimeout: 1000
      });

      assert.strictEqual(sws._isServer, true);
      assert.strictEqual(sws.readyState, WebSocket.CONNECTING);

      const opened = once(sws, 'open');

      sws.setSocket(serverSocket, Buffer.from('8181000000006e', 'hex'), {
        allowSynchronousEvents: true,
        maxPayload: 0
      });
      await opened;
      assert.strictEqual(sws.readyState, WebSocket.OPEN);
      assert.strictEqual(sws._socket, serverSocket);

      //
      // The head already holds a masked text frame ("n").
      //
      const [data, isBinary] = await once(sws, 'message');

      assert.strictEqual(data.toString(), 'n');
      assert.strictEqual(isBinary, false);

      const chunk = once(clientSocket, 'data');

      sws.send('ok');

      const [frame] = await chunk;

      assert.strictEqual(frame.toString('hex'), '81026f6b');
      clientSocket.destroy();

      const [code] = await once(sws, 'close');

      assert.strictEqual(code, 1006);
      await new Promise((resolve) => server.close(resolve));
    });
  });
});

'use strict';

const assert = require('assert');
const crypto = require('crypto');
const http = require('http');
const net = require('net');
const { Duplex } = require('stream');

const WebSocket = require('..');
const WebSocketServer = require('../lib/websocket-server');
const NpmWebSocket = require('ws');

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/**
 * Starts a `WebSocketServer` on an ephemeral port.
 *
 * @param {Object} [options] Extra server options
 * @return {Promise<WebSocketServer>} The listening server
 */
function listen(options) {
  return new Promise((resolve, reject) => {
    const wss = new WebSocketServer({ port: 0, ...options }, () => {
      resolve(wss);
    });

    wss.once('error', reject);
  });
}

/**
 * Closes a server and waits for its `'close'` event.
 *
 * @param {WebSocketServer} wss The server
 * @return {Promise<void>}
 */
function close(wss) {
  return new Promise((resolve) => wss.close(() => resolve()));
}

/**
 * Sends raw bytes to a port and collects everything until the peer closes.
 *
 * @param {Number} port The port
 * @param {String} request The raw request
 * @return {Promise<String>} The raw response
 */
function rawExchange(port, request) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    const chunks = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no answer within 5 s'));
    }, 5000);

    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString());
    });
  });
}

/**
 * Builds an upgrade request.
 *
 * @param {Object} [overrides] Header fields to set (`null` removes one)
 * @param {String} [requestLine] The request line
 * @return {String} The raw request
 */
function upgradeRequest(overrides, requestLine = 'GET / HTTP/1.1') {
  const fields = {
    Host: 'localhost',
    Connection: 'Upgrade',
    Upgrade: 'websocket',
    'Sec-WebSocket-Key': KEY,
    'Sec-WebSocket-Version': '13',
    ...overrides
  };
  let request = `${requestLine}\r\n`;

  for (const name of Object.keys(fields)) {
    if (fields[name] !== null) request += `${name}: ${fields[name]}\r\n`;
  }

  return `${request}\r\n`;
}

/**
 * Builds the response ws writes when it refuses a handshake.
 *
 * @param {Number} code The status code
 * @param {String} [body] The body (defaults to the status text)
 * @param {String} [extra] Extra header lines, each ending with CRLF
 * @return {String} The raw response
 */
function refusal(code, body = http.STATUS_CODES[code], extra = '') {
  return (
    `HTTP/1.1 ${code} ${http.STATUS_CODES[code]}\r\n` +
    'Connection: close\r\n' +
    'Content-Type: text/html\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    extra +
    `\r\n${body}`
  );
}

/**
 * Opens an npm ws client and resolves when it is open.
 *
 * @param {String} url The server URL
 * @param {(String|String[])} [protocols] The subprotocols
 * @param {Object} [options] Client options
 * @return {Promise<NpmWebSocket>} The open client
 */
function connect(url, protocols, options) {
  return new Promise((resolve, reject) => {
    const ws = new NpmWebSocket(url, protocols, options);

    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/**
 * Creates two connected in-memory duplex streams.
 *
 * @return {Duplex[]} The two ends
 */
function duplexPair() {
  const ends = [];

  for (let i = 0; i < 2; i++) {
    ends.push(
      new Duplex({
        read() {},
        write(chunk, encoding, callback) {
          ends[1 - i].push(chunk);
          callback();
        },
        final(callback) {
          ends[1 - i].push(null);
          callback();
        }
      })
    );
  }

  return ends;
}

describe('WebSocketServer (ws-rs)', () => {
  describe('constructor', () => {
    const message =
      /^TypeError: One and only one of the "port", "server", or "noServer" options must be specified$/;

    it('requires exactly one of port, server and noServer', () => {
      const server = http.createServer();

      assert.throws(() => new WebSocketServer(), message);
      assert.throws(() => new WebSocketServer({}), message);
      assert.throws(
        () => new WebSocketServer({ port: 0, noServer: true }),
        message
      );
      assert.throws(() => new WebSocketServer({ port: 0, server }), message);
      assert.throws(
        () => new WebSocketServer({ noServer: true, server }),
        message
      );
    });

    it('fills in ws defaults and keeps unknown options', () => {
      const wss = new WebSocketServer({ noServer: true, custom: 1 });

      assert.strictEqual(wss.options.custom, 1);
      assert.strictEqual(wss.options.maxPayload, 104857600);
      assert.strictEqual(wss.options.maxFragments, 131072);
      assert.strictEqual(wss.options.maxBufferedChunks, 1048576);
      assert.strictEqual(wss.options.closeTimeout, 30000);
      assert.strictEqual(wss.options.allowSynchronousEvents, true);
      assert.strictEqual(wss.options.autoPong, true);
      assert.strictEqual(wss.options.perMessageDeflate, false);
      assert.strictEqual(wss.options.WebSocket, WebSocket);
      assert.strictEqual(wss._state, 0);
      assert.strictEqual(wss._server, undefined);
      assert.ok(wss.clients instanceof Set);
    });

    it('turns `perMessageDeflate: true` into an empty object', () => {
      const wss = new WebSocketServer({
        noServer: true,
        perMessageDeflate: true,
        clientTracking: false
      });

      assert.deepStrictEqual(wss.options.perMessageDeflate, {});
      assert.strictEqual(wss.clients, undefined);
    });

    it('is exposed as WebSocket.Server and WebSocket.WebSocketServer', () => {
      assert.strictEqual(WebSocket.Server, WebSocketServer);
      assert.strictEqual(WebSocket.WebSocketServer, WebSocketServer);
    });
  });

  describe('internal HTTP server', () => {
    it('answers plain requests with 426', async () => {
      const wss = await listen();
      const response = await rawExchange(
        wss.address().port,
        'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'
      );

      assert.match(response, /^HTTP\/1\.1 426 Upgrade Required\r\n/);
      assert.match(response, /\r\nContent-Type: text\/plain\r\n/);
      assert.match(response, /\r\nContent-Length: 16\r\n/);
      assert.ok(response.endsWith('\r\n\r\nUpgrade Required'));
      await close(wss);
    });

    it('forwards bind errors as `error` events', async () => {
      const first = await listen();
      const second = new WebSocketServer({ port: first.address().port });
      const err = await new Promise((resolve) => second.on('error', resolve));

      assert.strictEqual(err.code, 'EADDRINUSE');
      await close(first);
    });

    it('returns null from address() after close', async () => {
      const wss = await listen();

      await close(wss);
      assert.strictEqual(wss.address(), null);
      assert.strictEqual(wss._state, 2);
    });
  });

  describe('handshake', () => {
    let wss;
    let port;

    beforeEach(async () => {
      wss = await listen();
      port = wss.address().port;
    });

    afterEach(async () => {
      for (const ws of wss.clients) ws.terminate();
      await close(wss);
    });

    it('answers 101 with the RFC 6455 accept value', async () => {
      const response = await new Promise((resolve) => {
        const socket = net.connect(port, '127.0.0.1', () => {
          socket.write(upgradeRequest());
        });

        socket.once('data', (chunk) => {
          socket.destroy();
          resolve(chunk.toString());
        });
      });

      //
      // The key and accept value are the example of RFC 6455 section 1.3.
      //
      assert.strictEqual(
        response,
        'HTTP/1.1 101 Switching Protocols\r\n' +
          'Upgrade: websocket\r\n' +
          'Connection: Upgrade\r\n' +
          'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n'
      );
    });

    const cases = [
      {
        title: 'a method other than GET with 405',
        request: upgradeRequest({}, 'POST / HTTP/1.1'),
        response: refusal(405, 'Invalid HTTP method')
      },
      {
        title: 'a missing Upgrade header with 400',
        request: upgradeRequest({ Upgrade: null, Connection: 'close' }),
        response: null
      },
      {
        title: 'an Upgrade header other than websocket with 400',
        request: upgradeRequest({ Upgrade: 'h2c' }),
        response: refusal(400, 'Invalid Upgrade header')
      },
      {
        title: 'a missing key with 400',
        request: upgradeRequest({ 'Sec-WebSocket-Key': null }),
        response: refusal(400, 'Missing or invalid Sec-WebSocket-Key header')
      },
      {
        title: 'a key that is not 16 bytes of base64 with 400',
        request: upgradeRequest({ 'Sec-WebSocket-Key': 'P5l8BJcZwRc=' }),
        response: refusal(400, 'Missing or invalid Sec-WebSocket-Key header')
      },
      {
        title: 'a missing version with 400 and the versions it knows',
        request: upgradeRequest({ 'Sec-WebSocket-Version': null }),
        response: refusal(
          400,
          'Missing or invalid Sec-WebSocket-Version header',
          'Sec-WebSocket-Version: 13, 8\r\n'
        )
      },
      {
        title: 'an unknown version with 400',
        request: upgradeRequest({ 'Sec-WebSocket-Version': '12' }),
        response: refusal(
          400,
          'Missing or invalid Sec-WebSocket-Version header',
          'Sec-WebSocket-Version: 13, 8\r\n'
        )
      },
      {
        title: 'a malformed Sec-WebSocket-Protocol with 400',
        request: upgradeRequest({ 'Sec-WebSocket-Protocol': 'chat,,x' }),
        response: refusal(400, 'Invalid Sec-WebSocket-Protocol header')
      }
    ];

    for (const { title, request, response } of cases) {
      it(`refuses ${title}`, async () => {
        const actual = await rawExchange(port, request);

        if (response === null) {
          //
          // Without `Connection: Upgrade` Node treats the request as a plain
          // one, which the internal server answers with 426.
          //
          assert.match(actual, /^HTTP\/1\.1 426 /);
        } else {
          assert.strictEqual(actual, response);
        }
      });
    }

    it('emits `wsClientError` instead of answering when listened to', async () => {
      const seen = new Promise((resolve) => {
        wss.on('wsClientError', (err, socket, req) => {
          socket.end("HTTP/1.1 418 I'm a Teapot\r\n\r\n");
          resolve({ err, req });
        });
      });
      const response = await rawExchange(
        port,
        upgradeRequest({ 'Sec-WebSocket-Version': '7' })
      );
      const { err, req } = await seen;

      assert.ok(err instanceof Error);
      assert.strictEqual(
        err.message,
        'Missing or invalid Sec-WebSocket-Version header'
      );
      assert.strictEqual(req.headers['sec-websocket-version'], '7');
      assert.strictEqual(response, "HTTP/1.1 418 I'm a Teapot\r\n\r\n");
    });

    it('lets `headers` listeners edit the response', async () => {
      wss.on('headers', (headers, req) => {
        assert.ok(req instanceof http.IncomingMessage);
        headers.push('X-Powered-By: ws-rs');
      });

      const ws = await new Promise((resolve, reject) => {
        const client = new NpmWebSocket(`ws://localhost:${port}`);

        client.on('upgrade', (res) => {
          assert.strictEqual(res.headers['x-powered-by'], 'ws-rs');
        });
        client.on('open', () => resolve(client));
        client.on('error', reject);
      });

      ws.terminate();
    });
  });

  describe('subprotocols', () => {
    it('picks the first offered protocol by default', async () => {
      const wss = await listen();
      const connected = new Promise((resolve) => wss.on('connection', resolve));
      const client = await connect(`ws://localhost:${wss.address().port}`, [
        'b',
        'a'
      ]);
      const ws = await connected;

      assert.strictEqual(client.protocol, 'b');
      assert.strictEqual(ws.protocol, 'b');
      client.terminate();
      await close(wss);
    });

    it('asks handleProtocols and omits the header when it says false', async () => {
      const calls = [];
      const wss = await listen({
        handleProtocols(protocols, req) {
          calls.push([...protocols], req.url);
          return protocols.has('none') ? false : 'a';
        }
      });
      const url = `ws://localhost:${wss.address().port}/x`;
      const first = await connect(url, ['b', 'a']);
      const second = await new Promise((resolve) => {
        const ws = new NpmWebSocket(url, ['none']);

        //
        // A client that offered protocols must get one back (RFC 6455
        // section 4.1): npm ws fails the handshake.
        //
        ws.on('error', (err) => resolve(err));
      });

      assert.strictEqual(first.protocol, 'a');
      assert.deepStrictEqual(calls, [['b', 'a'], '/x', ['none'], '/x']);
      assert.strictEqual(second.message, 'Server sent no subprotocol');
      first.terminate();
      await close(wss);
    });
  });

  describe('verifyClient', () => {
    it('refuses synchronously with 401', async () => {
      let info;
      const wss = await listen({
        verifyClient(i) {
          info = i;
          return false;
        }
      });
      const response = await rawExchange(
        wss.address().port,
        upgradeRequest({ Origin: 'http://example.org' })
      );

      assert.strictEqual(response, refusal(401));
      assert.strictEqual(info.origin, 'http://example.org');
      assert.strictEqual(info.secure, false);
      assert.ok(info.req instanceof http.IncomingMessage);
      await close(wss);
    });

    it('reads Sec-WebSocket-Origin for version 8 clients', async () => {
      let origin;
      const wss = await listen({
        verifyClient(info) {
          origin = info.origin;
          return false;
        }
      });

      await rawExchange(
        wss.address().port,
        upgradeRequest({
          'Sec-WebSocket-Version': '8',
          'Sec-WebSocket-Origin': 'http://eight.example',
          Origin: 'http://thirteen.example'
        })
      );
      assert.strictEqual(origin, 'http://eight.example');
      await close(wss);
    });

    it('refuses asynchronously with a status code, body and headers', async () => {
      const wss = await listen({
        verifyClient(info, cb) {
          setImmediate(cb, false, 403, 'Go away', { 'X-Reason': 'test' });
        }
      });
      const response = await rawExchange(wss.address().port, upgradeRequest());

      assert.strictEqual(
        response,
        refusal(403, 'Go away', 'X-Reason: test\r\n')
      );
      await close(wss);
    });

    it('accepts asynchronously', async () => {
      const wss = await listen({
        verifyClient(info, cb) {
          setImmediate(cb, true);
        }
      });
      const client = await connect(`ws://localhost:${wss.address().port}`);

      client.terminate();
      await close(wss);
    });

    it('destroys the socket if it half-closed while verifying', async () => {
      let connections = 0;
      const wss = await listen({
        verifyClient(info, cb) {
          info.req.socket.once('end', () => cb(true));
        }
      });

      wss.on('connection', () => connections++);

      const response = await new Promise((resolve) => {
        const socket = net.connect(wss.address().port, '127.0.0.1', () => {
          socket.end(upgradeRequest());
        });
        const chunks = [];

        socket.on('data', (chunk) => chunks.push(chunk));
        socket.on('close', () => resolve(Buffer.concat(chunks).toString()));
      });

      assert.strictEqual(response, '');
      assert.strictEqual(connections, 0);
      await close(wss);
    });
  });

  describe('path and shouldHandle', () => {
    it('compares the path without the query string', () => {
      const wss = new WebSocketServer({ noServer: true, path: '/ws' });

      assert.strictEqual(wss.shouldHandle({ url: '/ws' }), true);
      assert.strictEqual(wss.shouldHandle({ url: '/ws?x=1' }), true);
      assert.strictEqual(wss.shouldHandle({ url: '/ws/' }), false);
      assert.strictEqual(wss.shouldHandle({ url: '/' }), false);
    });

    it('answers 400 on another path, even with a wsClientError listener', async () => {
      const wss = await listen({ path: '/ws' });

      wss.on('wsClientError', () => assert.fail('unexpected wsClientError'));

      const response = await rawExchange(
        wss.address().port,
        upgradeRequest({}, 'GET /other HTTP/1.1')
      );

      assert.strictEqual(response, refusal(400));
      await close(wss);
    });
  });

  describe('handleUpgrade and completeUpgrade', () => {
    it('upgrades over any duplex stream', (done) => {
      const wss = new WebSocketServer({ noServer: true });
      const [serverEnd, clientEnd] = duplexPair();
      const req = {
        method: 'GET',
        url: '/',
        headers: {
          connection: 'Upgrade',
          upgrade: 'websocket',
          'sec-websocket-key': KEY,
          'sec-websocket-version': '13'
        },
        socket: {}
      };
      let response = '';

      clientEnd.on('data', (chunk) => {
        response += chunk.toString('latin1');

        const end = response.indexOf('\r\n\r\n');

        if (end === -1) return;

        assert.ok(response.startsWith('HTTP/1.1 101 Switching Protocols'));
        clientEnd.removeAllListeners('data');

        //
        // A masked "hi" text frame (mask 00 00 00 00).
        //
        clientEnd.write(Buffer.from('818200000000' + '6869', 'hex'));
      });

      wss.handleUpgrade(req, serverEnd, Buffer.alloc(0), (ws, request) => {
        assert.strictEqual(request, req);
        assert.ok(wss.clients.has(ws));
        ws.on('message', (data, isBinary) => {
          assert.strictEqual(data.toString(), 'hi');
          assert.strictEqual(isBinary, false);
          ws.terminate();
        });
        ws.on('close', () => {
          assert.strictEqual(wss.clients.size, 0);
          done();
        });
      });
    });

    it('throws if the same socket is upgraded twice', (done) => {
      const wss = new WebSocketServer({ noServer: true });
      const [serverEnd] = duplexPair();
      const req = { method: 'GET', url: '/', headers: {} };

      wss.completeUpgrade(
        {},
        KEY,
        new Set(),
        req,
        serverEnd,
        Buffer.alloc(0),
        (ws) => {
          assert.throws(
            () =>
              wss.completeUpgrade(
                {},
                KEY,
                new Set(),
                req,
                serverEnd,
                Buffer.alloc(0),
                () => {
                  assert.fail('upgraded twice');
                }
              ),
            /^Error: server\.handleUpgrade\(\) was called more than once with the same socket, possibly due to a misconfiguration$/
          );
          ws.terminate();
          done();
        }
      );
    });

    it('answers 503 once the server is closing', (done) => {
      const wss = new WebSocketServer({ noServer: true });
      const [serverEnd, clientEnd] = duplexPair();
      let response = '';

      wss.close();
      clientEnd.on('data', (chunk) => (response += chunk));
      clientEnd.on('end', () => {
        assert.strictEqual(response, refusal(503));
        done();
      });
      wss.completeUpgrade(
        {},
        KEY,
        new Set(),
        {},
        serverEnd,
        Buffer.alloc(0),
        () => {
          assert.fail('upgraded while closing');
        }
      );
    });

    it('passes the receiver limits and uses the WebSocket option', async () => {
      class Custom extends WebSocket {}

      const wss = await listen({
        WebSocket: Custom,
        maxPayload: 1000,
        maxFragments: 10,
        maxBufferedChunks: 20,
        closeTimeout: 1234
      });
      const connected = new Promise((resolve) => wss.on('connection', resolve));
      const client = await connect(`ws://localhost:${wss.address().port}`);
      const ws = await connected;

      assert.ok(ws instanceof Custom);
      assert.strictEqual(ws._receiver._maxPayload, 1000);
      assert.strictEqual(ws._receiver._maxFragments, 10);
      assert.strictEqual(ws._receiver._maxBufferedChunks, 20);
      ws.close();
      assert.strictEqual(ws._closeTimer._idleTimeout, 1234);
      client.terminate();
      await close(wss);
    });

    it('refuses messages over maxPayload with 1009', async () => {
      const wss = await listen({ maxPayload: 4 });
      const serverError = new Promise((resolve) => {
        wss.on('connection', (ws) => ws.on('error', resolve));
      });
      const client = await connect(`ws://localhost:${wss.address().port}`);
      const code = await new Promise((resolve) => {
        client.on('close', resolve);
        client.send('12345');
      });

      const err = await serverError;

      assert.strictEqual(code, 1009);
      assert.ok(err instanceof RangeError);
      assert.strictEqual(err.code, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
      assert.strictEqual(err.message, 'Max payload size exceeded');
      await close(wss);
    });
  });

  describe('permessage-deflate', () => {
    it('is not negotiated by default', async () => {
      const wss = await listen();
      const client = await connect(`ws://localhost:${wss.address().port}`);

      assert.strictEqual(client.extensions, '');
      client.terminate();
      await close(wss);
    });

    it('negotiates the configured parameters and round-trips a message', async () => {
      const wss = await listen({
        perMessageDeflate: { serverNoContextTakeover: true, threshold: 0 }
      });
      let header;

      wss.on('headers', (headers) => {
        header = headers.find((line) =>
          line.startsWith('Sec-WebSocket-Extensions:')
        );
      });
      wss.on('connection', (ws) => {
        ws.on('message', (data, isBinary) =>
          ws.send(data, { binary: isBinary })
        );
      });

      const client = await connect(`ws://localhost:${wss.address().port}`);
      const echo = await new Promise((resolve) => {
        client.once('message', (data) => resolve(data.toString()));
        client.send('a'.repeat(2048));
      });

      assert.strictEqual(
        header,
        'Sec-WebSocket-Extensions: permessage-deflate; ' +
          'server_no_context_takeover'
      );
      assert.strictEqual(client.extensions, 'permessage-deflate');
      assert.strictEqual(echo, 'a'.repeat(2048));
      client.terminate();
      await close(wss);
    });

    it('refuses a malformed Sec-WebSocket-Extensions header with 400', async () => {
      const wss = await listen({ perMessageDeflate: true });
      const response = await rawExchange(
        wss.address().port,
        upgradeRequest({
          'Sec-WebSocket-Extensions': 'permessage-deflate; foo=bar'
        })
      );

      assert.strictEqual(
        response,
        refusal(400, 'Invalid or unacceptable Sec-WebSocket-Extensions header')
      );
      await close(wss);
    });
  });

  describe('close()', () => {
    it('leaves a server it did not create open, and unhooks from it', async () => {
      const server = http.createServer();

      await new Promise((resolve) => server.listen(0, resolve));

      const events = ['upgrade', 'listening', 'error'];
      const before = events.map((event) => server.listenerCount(event));
      const wss = new WebSocketServer({ server });

      assert.deepStrictEqual(
        events.map((event) => server.listenerCount(event)),
        before.map((count) => count + 1)
      );
      await close(wss);
      assert.strictEqual(server.listening, true);
      assert.deepStrictEqual(
        events.map((event) => server.listenerCount(event)),
        before
      );
      assert.strictEqual(wss._server, null);
      await new Promise((resolve) => server.close(resolve));
    });

    it('forwards `listening` from an attached server', (done) => {
      const server = http.createServer();
      const wss = new WebSocketServer({ server });

      wss.on('listening', () => {
        assert.strictEqual(wss.address().port, server.address().port);
        wss.close();
        server.close(done);
      });
      server.listen(0);
    });

    it('waits for tracked clients in noServer mode', (done) => {
      const wss = new WebSocketServer({ noServer: true });
      const [serverEnd] = duplexPair();
      let closed = false;

      wss.completeUpgrade(
        {},
        KEY,
        new Set(),
        {},
        serverEnd,
        Buffer.alloc(0),
        (ws) => {
          wss.close(() => {
            closed = true;
            assert.strictEqual(wss.clients.size, 0);
            done();
          });
          setImmediate(() => {
            assert.strictEqual(closed, false);
            assert.strictEqual(wss._state, 1);
            ws.terminate();
          });
        }
      );
    });

    it('reports an error to callbacks once the server is closed', (done) => {
      const wss = new WebSocketServer({
        noServer: true,
        clientTracking: false
      });

      wss.close(() => {
        wss.close((err) => {
          assert.ok(err instanceof Error);
          assert.strictEqual(err.message, 'The server is not running');
          done();
        });
      });
    });

    it('throws from address() in noServer mode', () => {
      const wss = new WebSocketServer({ noServer: true });

      assert.throws(
        () => wss.address(),
        /^Error: The server is operating in "noServer" mode$/
      );
    });
  });

  describe('interoperability', () => {
    it('serves a ws-rs client and an npm ws client alike', async () => {
      const wss = await listen();

      wss.on('connection', (ws) => {
        ws.on('message', (data, isBinary) =>
          ws.send(data, { binary: isBinary })
        );
      });

      const url = `ws://localhost:${wss.address().port}`;
      const payload = crypto.randomBytes(70000);

      for (const Client of [WebSocket, NpmWebSocket]) {
        const client = new Client(url);
        const echo = await new Promise((resolve, reject) => {
          client.on('open', () => client.send(payload));
          client.on('message', (data, isBinary) => resolve({ data, isBinary }));
          client.on('error', reject);
        });

        assert.ok(echo.isBinary);
        assert.ok(echo.data.equals(payload));
        client.terminate();
      }

      await close(wss);
    });
  });
});

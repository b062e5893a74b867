'use strict';

const assert = require('assert');
const crypto = require('crypto');
const http = require('http');
const net = require('net');
const os = require('os');
const { once } = require('events');
const { spawn } = require('child_process');

const NpmWebSocket = require('ws');
const WebSocket = require('../lib/websocket');
const WebSocketServer = require('../lib/websocket-server');
const { NativeSocket } = require('../lib/native-socket');
const { GUID } = require('../lib/constants');

/**
 * Starts a `nativeHttp` server.
 *
 * @param {Object} [options] Extra server options
 * @return {Promise<WebSocketServer>} The listening server
 */
function startServer(options) {
  return new Promise((resolve, reject) => {
    const wss = new WebSocketServer(
      { port: 0, nativeHttp: true, ...options },
      () => resolve(wss)
    );

    wss.once('error', reject);
  });
}

/**
 * Closes a server and its clients.
 *
 * @param {WebSocketServer} wss The server
 * @return {Promise}
 */
function stop(wss) {
  for (const client of wss.clients) client.terminate();
  return new Promise((resolve) => wss.close(() => resolve()));
}

/**
 * Sends raw bytes and collects everything the server sends until it closes.
 *
 * @param {Number} port The server's port
 * @param {(Buffer|String)} bytes What to send
 * @return {Promise<String>} The bytes received, as latin1
 */
function exchange(port, bytes) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    const chunks = [];

    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
}

/**
 * An upgrade request head.
 *
 * @param {Object} [extra] More header lines, by name
 * @return {String}
 */
function upgradeRequest(extra) {
  const fields = {
    Host: 'localhost',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': crypto.randomBytes(16).toString('base64'),
    'Sec-WebSocket-Version': '13',
    ...extra
  };
  let head = 'GET /chat?room=1 HTTP/1.1\r\n';

  for (const name of Object.keys(fields))
    head += `${name}: ${fields[name]}\r\n`;
  return `${head}\r\n`;
}

describe('WebSocketServer with nativeHttp', () => {
  it('upgrades with a request shaped as a Node server makes it', async () => {
    const wss = await startServer();
    const { port, family, address } = wss.address();

    assert.strictEqual(address, '::');
    assert.strictEqual(family, 'IPv6');

    wss.on('headers', (lines) => lines.push('X-Seen: 1'));

    const client = new WebSocket(`ws://127.0.0.1:${port}/chat?room=1`, {
      headers: { 'X-Twice': 'a', Cookie: 'c=1' }
    });
    const opened = once(client, 'open');
    const [[sws, req], [response]] = await Promise.all([
      once(wss, 'connection'),
      once(client, 'upgrade')
    ]);

    assert.strictEqual(response.headers['x-seen'], '1');
    assert.ok(sws._socket instanceof NativeSocket);
    assert.ok(req instanceof http.IncomingMessage);
    assert.strictEqual(req.method, 'GET');
    assert.strictEqual(req.url, '/chat?room=1');
    assert.strictEqual(req.httpVersion, '1.1');
    assert.strictEqual(req.headers.host, `127.0.0.1:${port}`);
    assert.strictEqual(req.headers['x-twice'], 'a');
    assert.strictEqual(req.headers.upgrade, 'websocket');
    assert.ok(req.rawHeaders.includes('X-Twice'));
    assert.strictEqual(req.socket.remoteAddress, '::ffff:127.0.0.1');
    assert.strictEqual(req.socket.remoteFamily, 'IPv6');
    assert.strictEqual(req.socket.localPort, port);
    assert.strictEqual(sws._socket.remotePort, req.socket.remotePort);

    await opened;
    sws.on('message', (data, isBinary) => sws.send(data, { binary: isBinary }));
    client.send('hello');

    const [data] = await once(client, 'message');

    assert.strictEqual(data.toString(), 'hello');
    client.close();
    await once(client, 'close');
    await stop(wss);
  });

  it('joins repeated request headers as a Node server does', async () => {
    const wss = await startServer();
    const request = upgradeRequest().replace(
      '\r\n\r\n',
      '\r\nX-A: 1\r\nx-a: 2\r\nSet-Cookie: a\r\nset-cookie: b\r\nHost: other\r\n\r\n'
    );
    const connection = once(wss, 'connection');
    const socket = net.connect(wss.address().port, '127.0.0.1', () => {
      socket.write(request);
    });
    const [, req] = await connection;

    assert.strictEqual(req.headers['x-a'], '1, 2');
    assert.deepStrictEqual(req.headers['set-cookie'], ['a', 'b']);
    assert.strictEqual(req.headers.host, 'localhost');
    socket.destroy();
    await stop(wss);
  });

  it('parses what the client sent right behind its request head', async () => {
    const wss = await startServer({ host: '127.0.0.1' });

    assert.strictEqual(wss.address().family, 'IPv4');

    const payload = Buffer.from('early');
    const key = crypto.randomBytes(4);
    const frame = Buffer.concat([
      Buffer.from([0x81, 0x80 | payload.length]),
      key,
      payload.map((byte, i) => byte ^ key[i & 3])
    ]);
    const message = new Promise((resolve) => {
      wss.on('connection', (sws) => {
        sws.on('message', (data, isBinary) => resolve([data, isBinary]));
      });
    });
    const socket = net.connect(wss.address().port, '127.0.0.1', () => {
      socket.write(Buffer.concat([Buffer.from(upgradeRequest()), frame]));
    });
    const [data, isBinary] = await message;

    assert.strictEqual(data.toString(), 'early');
    assert.strictEqual(isBinary, false);
    socket.destroy();
    await stop(wss);
  });

  it('answers a plain request with 426 and closes the connection', async () => {
    const wss = await startServer();
    const port = wss.address().port;
    const get = await exchange(port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n');

    assert.ok(get.startsWith('HTTP/1.1 426 Upgrade Required\r\n'), get);
    assert.ok(get.endsWith('\r\n\r\nUpgrade Required'), get);

    const head = await exchange(port, 'HEAD / HTTP/1.1\r\nHost: a\r\n\r\n');

    assert.ok(head.startsWith('HTTP/1.1 426 '), head);
    assert.ok(head.endsWith('\r\n\r\n'), head);
    await stop(wss);
  });

  it('answers malformed and oversized heads with 400 and 431', async () => {
    const wss = await startServer();
    const port = wss.address().port;
    const malformed = await exchange(port, 'NOT HTTP\r\n\r\n');

    assert.strictEqual(
      malformed,
      'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n'
    );

    const oversized = await exchange(
      port,
      `GET / HTTP/1.1\r\nX: ${'a'.repeat(17 * 1024)}\r\n\r\n`
    );

    assert.ok(oversized.startsWith('HTTP/1.1 431 '), oversized);
    await stop(wss);
  });

  it("writes ws's handshake errors and the `verifyClient` ones", async () => {
    const wss = await startServer({
      verifyClient: (info, cb) => {
        setImmediate(() => {
          if (info.req.url === '/no') cb(false, 401, 'Go away', { 'X-Why': 1 });
          else cb(true);
        });
      }
    });
    const port = wss.address().port;
    const badKey = await exchange(
      port,
      upgradeRequest({ 'Sec-WebSocket-Key': 'short' })
    );

    assert.ok(badKey.startsWith('HTTP/1.1 400 Bad Request\r\n'), badKey);
    assert.ok(
      badKey.endsWith('Missing or invalid Sec-WebSocket-Key header'),
      badKey
    );

    const refused = await exchange(
      port,
      upgradeRequest().replace('/chat?room=1', '/no')
    );

    assert.ok(refused.startsWith('HTTP/1.1 401 Unauthorized\r\n'), refused);
    assert.ok(refused.includes('\r\nX-Why: 1\r\n'), refused);
    assert.ok(refused.endsWith('\r\n\r\nGo away'), refused);
    await stop(wss);
  });

  /**
   * Starts a server whose `verifyClient` waits, and a client whose upgrade
   * request it holds; the server must never upgrade it.
   *
   * @return {Promise<Object>} The server, the client, the request's socket and
   *     `verifyClient`'s callback
   */
  async function heldRequest() {
    let decide;
    const asked = new Promise((resolve) => {
      decide = resolve;
    });
    const wss = await startServer({
      verifyClient: (info, cb) => decide([info.req.socket, cb])
    });

    wss.on('connection', () => assert.fail('a gone client was upgraded'));

    const client = net.connect(wss.address().port, '127.0.0.1', () => {
      client.write(upgradeRequest());
    });
    const [socket, cb] = await asked;

    return { wss, client, socket, cb };
  }

  /**
   * Lets `verifyClient` accept a request whose client left, then stops the
   * server.
   *
   * @param {Object} held What `heldRequest()` returned
   */
  async function acceptGone({ wss, cb }) {
    cb(true);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await stop(wss);
  }

  it('notices a client that leaves while `verifyClient` decides', async () => {
    const held = await heldRequest();

    held.client.destroy();

    const [hadError] = await once(held.socket, 'close');

    assert.strictEqual(hadError, false);
    assert.strictEqual(held.socket.destroyed, true);
    await acceptGone(held);
  });

  it('reports a client that resets while `verifyClient` decides as Node does', async () => {
    const held = await heldRequest();
    const errors = [];

    held.socket.on('error', (err) => errors.push(err));
    held.client.resetAndDestroy();

    //
    // Not `once()`: it rejects on `'error'`.
    //
    const hadError = await new Promise((resolve) =>
      held.socket.on('close', resolve)
    );

    assert.strictEqual(hadError, true);
    assert.deepStrictEqual(
      errors.map((err) => [err.code, err.syscall, err.message]),
      [['ECONNRESET', 'read', 'read ECONNRESET']]
    );
    await acceptGone(held);
  });

  it("lets a `'wsClientError'` listener answer on the socket", async () => {
    const wss = await startServer();

    wss.on('wsClientError', (err, socket, req) => {
      assert.strictEqual(
        err.message,
        'Missing or invalid Sec-WebSocket-Version header'
      );
      assert.strictEqual(req.headers['sec-websocket-version'], '7');
      socket.write('HTTP/1.1 418 ');
      socket.end("I'm a teapot\r\n\r\n");
    });

    const response = await exchange(
      wss.address().port,
      upgradeRequest({ 'Sec-WebSocket-Version': '7' })
    );

    assert.strictEqual(response, "HTTP/1.1 418 I'm a teapot\r\n\r\n");
    await stop(wss);
  });

  it('interoperates with the npm ws client', async () => {
    const wss = await startServer({ perMessageDeflate: true });
    const client = new NpmWebSocket(
      `ws://localhost:${wss.address().port}`,
      'chat'
    );
    const [[sws]] = await Promise.all([
      once(wss, 'connection'),
      once(client, 'open')
    ]);

    assert.strictEqual(sws.protocol, 'chat');
    assert.strictEqual(client.extensions, 'permessage-deflate');
    sws.on('message', (data) => sws.send(data));
    client.send('x'.repeat(10000));

    const [data] = await once(client, 'message');

    assert.strictEqual(data.toString(), 'x'.repeat(10000));
    client.close(4000);

    const [code] = await once(sws, 'close');

    assert.strictEqual(code, 4000);
    await stop(wss);
  });

  it('reports an address in use as a Node server does', async () => {
    const node = http.createServer();

    await new Promise((resolve) => node.listen(0, '127.0.0.1', resolve));

    const port = node.address().port;
    const [expected] = await once(
      http.createServer().listen(port, '127.0.0.1'),
      'error'
    );
    const wss = new WebSocketServer({
      port,
      host: '127.0.0.1',
      nativeHttp: true
    });
    const [err] = await once(wss, 'error');

    assert.strictEqual(err.message, expected.message);
    assert.strictEqual(err.code, 'EADDRINUSE');
    assert.strictEqual(err.errno, expected.errno);
    assert.strictEqual(err.syscall, 'listen');
    assert.strictEqual(err.port, port);
    assert.throws(
      () => new WebSocketServer({ port: 70000, nativeHttp: true }),
      { name: 'RangeError', code: 'ERR_SOCKET_BAD_PORT' }
    );
    node.close();
    wss.close();
  });

  it('takes a scoped IPv6 address as Node does', async () => {
    //
    // An unknown interface scopes nothing: the kernel refuses to bind a
    // link-local address without one.
    //
    const host = 'fe80::1%no-such-interface';
    const [expected] = await once(net.createServer().listen(0, host), 'error');
    const wss = new WebSocketServer({ port: 0, host, nativeHttp: true });
    const [err] = await once(wss, 'error');

    assert.strictEqual(err.message, expected.message);
    assert.strictEqual(err.code, expected.code);
    assert.strictEqual(err.address, host);
    assert.strictEqual(err.port, undefined);
    wss.close();

    //
    // A link-local address of this machine's, with its interface's name.
    //
    const [name, entry] =
      Object.entries(os.networkInterfaces())
        .flatMap(([name, entries]) => entries.map((entry) => [name, entry]))
        .find(([, entry]) => entry.family === 'IPv6' && entry.scopeid > 0) ||
      [];

    if (name === undefined) return;

    const scoped = `${entry.address}%${name}`;
    const node = net.createServer().listen(0, scoped);

    await once(node, 'listening');

    const server = await startServer({ host: scoped });

    assert.deepStrictEqual(server.address(), {
      ...node.address(),
      port: server.address().port
    });
    assert.strictEqual(server.address().address, scoped);
    node.close();
    await new Promise((resolve) => server.close(resolve));
  });

  it('stops listening at once on close, leaving open connections be', async () => {
    const wss = await startServer({ host: 'localhost' });
    const port = wss.address().port;
    const client = new WebSocket(`ws://localhost:${port}`);
    const [[sws]] = await Promise.all([
      once(wss, 'connection'),
      once(client, 'open')
    ]);
    const closed = once(wss, 'close');

    wss.close();
    assert.strictEqual(wss.address(), null);
    await assert.rejects(
      new Promise((resolve, reject) => {
        net.connect(port, '127.0.0.1', resolve).on('error', reject);
      }),
      { code: 'ECONNREFUSED' }
    );

    sws.send('still here');

    const [data] = await once(client, 'message');

    assert.strictEqual(data.toString(), 'still here');
    client.close();
    await closed;
  });

  /**
   * Runs a `nativeHttp` server in a child process until it exits on its own.
   *
   * @param {String} onListening The body of the server's listening callback,
   *     with `wss` in scope
   * @return {Promise<Object>} The exit code, what it printed and how long it
   *     ran, in milliseconds
   */
  async function runServerChild(onListening) {
    const script =
      `const { WebSocketServer } = require(${JSON.stringify(
        require.resolve('..')
      )});` +
      'const wss = new WebSocketServer({ port: 0, nativeHttp: true }, () => {' +
      onListening +
      '});';
    const started = Date.now();
    const child = spawn(process.execPath, ['-e', script]);
    let out = '';

    child.stdout.on('data', (chunk) => (out += chunk));

    const [code] = await once(child, 'exit');

    return { code, out, ran: Date.now() - started };
  }

  it('holds the event loop while it listens', async () => {
    const { code, out, ran } = await runServerChild(
      "console.log('listening'); setTimeout(() => wss.close(), 300);"
    );

    assert.strictEqual(code, 0);
    assert.strictEqual(out, 'listening\n');
    assert.ok(ran >= 300);
  });

  it('lets the process exit while it listens once unref()ed', async () => {
    const { code, out } = await runServerChild(
      'wss._server.unref().ref().unref();' +
        "console.log('listening', wss._server.listening);"
    );

    assert.strictEqual(code, 0);
    assert.strictEqual(out, 'listening true\n');
  });

  it('is the default of port servers with WS_RS_NATIVE_HTTP=1', async () => {
    const saved = {
      WS_RS_NATIVE_HTTP: process.env.WS_RS_NATIVE_HTTP,
      WS_RS_TRANSPORT: process.env.WS_RS_TRANSPORT
    };

    process.env.WS_RS_NATIVE_HTTP = '1';
    delete process.env.WS_RS_TRANSPORT;

    try {
      const wss = await startServer({ nativeHttp: undefined });
      const node = new WebSocketServer({ port: 0, transport: 'node' });

      assert.strictEqual(wss.options.nativeHttp, true);
      assert.ok(!(wss._server instanceof http.Server));
      assert.strictEqual(node.options.nativeHttp, false);
      assert.ok(node._server instanceof http.Server);
      await stop(wss);
      await stop(node);

      //
      // `WS_RS_TRANSPORT=node` counts as asking for the Node transport.
      //
      process.env.WS_RS_TRANSPORT = 'node';

      const byEnv = new WebSocketServer({ port: 0 });

      assert.strictEqual(byEnv.options.nativeHttp, false);
      await stop(byEnv);
    } finally {
      for (const name of Object.keys(saved)) {
        if (saved[name] === undefined) delete process.env[name];
        else process.env[name] = saved[name];
      }
    }
  });

  it('listens once, and not after an early close', async () => {
    const wss = await startServer();

    assert.throws(() => wss._server.listen(0), {
      code: 'ERR_SERVER_ALREADY_LISTEN'
    });
    await stop(wss);

    const early = new WebSocketServer({ port: 0, nativeHttp: true });
    let listening = false;

    early.on('listening', () => (listening = true));
    await new Promise((resolve) => early.close(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    assert.strictEqual(listening, false);
  });

  it('needs the native transport', () => {
    assert.throws(
      () =>
        new WebSocketServer({ port: 0, nativeHttp: true, transport: 'node' }),
      /The `nativeHttp` option needs the native transport/
    );
  });

  it('computes the accept key of the handshake', async () => {
    const wss = await startServer();
    const key = crypto.randomBytes(16).toString('base64');
    const socket = net.connect(wss.address().port, '127.0.0.1', () => {
      socket.write(upgradeRequest({ 'Sec-WebSocket-Key': key }));
    });
    const [chunk] = await once(socket, 'data');
    const accept = crypto
      .createHash('sha1')
      .update(key + GUID)
      .digest('base64');

    assert.ok(
      chunk.toString().includes(`\r\nSec-WebSocket-Accept: ${accept}\r\n`)
    );
    socket.destroy();
    await stop(wss);
  });
});

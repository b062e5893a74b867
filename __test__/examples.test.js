'use strict';

//
// Runs every program in examples/ the way its header describes, against ws-rs clients:
// the servers through their exported `start` functions (port 0), the stdin example and
// the demo as child processes, and the README's "existing `ws` imports resolve to
// ws-rs" alias in a throw-away npm project.
//

const assert = require('assert');
const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');
const { execFile, spawn } = require('child_process');

const WebSocket = require('..');
const { generate, haveOpenssl } = require('./helpers/certs');

const root = path.join(__dirname, '..');
const examples = path.join(root, 'examples');

/**
 * Waits for an event, failing after `ms` milliseconds.
 *
 * @param {EventEmitter} emitter The emitter
 * @param {String} event The event name
 * @param {Number} [ms=3000] The time limit
 * @return {Promise<Array>} The event's arguments
 * @private
 */
function once(emitter, event, ms = 3000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.removeListener(event, listener);
      reject(new Error(`no '${event}' event within ${ms} ms`));
    }, ms);

    /**
     * @param {...*} args The event's arguments
     * @private
     */
    function listener(...args) {
      clearTimeout(timer);
      resolve(args);
    }

    emitter.once(event, listener);
  });
}

/**
 * Collects the next `count` messages of a client as strings.
 *
 * @param {WebSocket} ws The client
 * @param {Number} count How many messages
 * @param {Number} [ms=3000] The time limit
 * @return {Promise<String[]>} The messages
 * @private
 */
function messages(ws, count, ms = 3000) {
  return new Promise((resolve, reject) => {
    const received = [];
    const timer = setTimeout(() => {
      ws.removeListener('message', onMessage);
      reject(
        new Error(`got ${received.length} of ${count} messages: ${received}`)
      );
    }, ms);

    /**
     * @param {Buffer} data The message
     * @private
     */
    function onMessage(data) {
      received.push(data.toString());
      if (received.length === count) {
        clearTimeout(timer);
        ws.removeListener('message', onMessage);
        resolve(received);
      }
    }

    ws.on('message', onMessage);
  });
}

/**
 * Opens a client and waits for its 'open' event.
 *
 * @param {String} url The URL
 * @param {Object} [options] The `WebSocket` options
 * @return {Promise<WebSocket>} The open client
 * @private
 */
async function open(url, options) {
  const ws = new WebSocket(url, options);

  await once(ws, 'open');
  return ws;
}

/**
 * Opens a client and collects its first message in the same tick as the open, so that
 * a greeting sent by the server on 'connection' is not missed.
 *
 * @param {String} url The URL
 * @param {Object} [options] The `WebSocket` options
 * @return {Promise<Array>} `[ws, firstMessage]`
 * @private
 */
async function openWithGreeting(url, options) {
  const ws = new WebSocket(url, options);
  const [first] = await messages(ws, 1);

  return [ws, first];
}

/**
 * Expects a handshake to be refused with an HTTP status.
 *
 * @param {String} url The URL
 * @param {Object} [options] The `WebSocket` options
 * @return {Promise<Number>} The status code
 * @private
 */
async function refusedStatus(url, options) {
  const ws = new WebSocket(url, options);
  const [, res] = await once(ws, 'unexpected-response');

  ws.on('error', () => {});
  res.resume();
  ws.terminate();
  return res.statusCode;
}

/**
 * Makes an HTTP request and reads the whole response.
 *
 * @param {String} url The URL
 * @param {Object} [options] `http.request` options
 * @return {Promise<Object>} `{ res, body }`
 * @private
 */
function request(url, options = {}) {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith('https:') ? require('https') : http;
    const req = mod.request(url, options, (res) => {
      let body = '';

      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ res, body }));
    });

    req.setTimeout(3000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Runs a command and resolves with its output, failing after `ms` milliseconds.
 *
 * @param {String} file The command
 * @param {String[]} args Its arguments
 * @param {Object} [options] `execFile` options (`input` is written to stdin)
 * @return {Promise<String>} Its standard output
 * @private
 */
function run(file, args, { input, ...options } = {}) {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { timeout: 10000, ...options },
      (err, stdout, stderr) => {
        if (err) {
          err.message += `\n${stderr}`;
          reject(err);
          return;
        }
        resolve(stdout);
      }
    );

    if (input !== undefined) child.stdin.end(input);
  });
}

describe('examples/', function () {
  this.timeout(15000);

  describe('echo-server.js', () => {
    it('echoes text as text and binary as binary', async () => {
      const server = await require('../examples/echo-server').start({
        port: 0
      });
      const ws = await open(server.url);

      ws.send('hello');
      const [text, textIsBinary] = await once(ws, 'message');
      ws.send(Buffer.from([1, 2, 3]));
      const [binary, binaryIsBinary] = await once(ws, 'message');

      assert.strictEqual(text.toString(), 'hello');
      assert.strictEqual(textIsBinary, false);
      assert.deepStrictEqual([...binary], [1, 2, 3]);
      assert.strictEqual(binaryIsBinary, true);

      ws.close();
      await once(ws, 'close');
      await server.close();
    });
  });

  describe('broadcast.js', () => {
    it('sends to all but the sender, or to all with "all:"', async () => {
      const server = await require('../examples/broadcast').start({ port: 0 });
      const [a, b, c] = await Promise.all(
        [1, 2, 3].map(() => open(server.url))
      );
      const got = new Map([a, b, c].map((ws) => [ws, []]));

      for (const ws of [a, b, c])
        ws.on('message', (data) => got.get(ws).push(String(data)));

      const others = Promise.all([messages(b, 1), messages(c, 1)]);

      a.send('from a');
      await others;

      const everyone = Promise.all([
        messages(a, 1),
        messages(b, 1),
        messages(c, 1)
      ]);

      b.send('all: from b');
      await everyone;

      assert.deepStrictEqual(got.get(a), ['all: from b']);
      assert.deepStrictEqual(got.get(b), ['from a', 'all: from b']);
      assert.deepStrictEqual(got.get(c), ['from a', 'all: from b']);

      await server.close();
    });
  });

  describe('external-server.js', () => {
    it('shares a port with an HTTP server', async () => {
      const server = await require('../examples/external-server').start({
        port: 0
      });
      const { res, body } = await request(server.httpUrl);

      assert.strictEqual(res.statusCode, 200);
      assert.match(body, /also speaks WebSocket/);

      const ws = await open(server.url);

      ws.send('ping');
      assert.deepStrictEqual(await messages(ws, 1), ['received over ws: ping']);
      await server.close();
    });

    it('shares a port with an HTTPS server (wss://)', async function () {
      if (!haveOpenssl()) this.skip();

      const pki = generate();
      const server = await require('../examples/external-server').start({
        port: 0,
        tls: pki.server
      });

      try {
        const { res } = await request(server.httpUrl, { ca: pki.ca });

        assert.strictEqual(res.statusCode, 200);

        const ws = await open(server.url, { ca: pki.ca });

        ws.send('ping');
        assert.deepStrictEqual(await messages(ws, 1), [
          'received over wss: ping'
        ]);
      } finally {
        await server.close();
        fs.rmSync(pki.dir, { recursive: true, force: true });
      }
    });
  });

  describe('multiple-servers.js', () => {
    it('routes by path and refuses unknown paths', async () => {
      const server = await require('../examples/multiple-servers').start({
        port: 0
      });
      const [foo, fooGreeting] = await openWithGreeting(`${server.url}/foo`);
      const [bar, barGreeting] = await openWithGreeting(`${server.url}/bar`);

      assert.strictEqual(fooGreeting, 'welcome to /foo');
      assert.strictEqual(barGreeting, 'welcome to /bar');
      assert.strictEqual(server.servers['/foo'].clients.size, 1);
      assert.strictEqual(server.servers['/bar'].clients.size, 1);
      assert.strictEqual(foo.readyState, WebSocket.OPEN);
      assert.strictEqual(bar.readyState, WebSocket.OPEN);

      assert.strictEqual(await refusedStatus(`${server.url}/baz`), 404);
      await server.close();
    });
  });

  describe('client-auth.js', () => {
    it('accepts a known token and refuses others with 401', async () => {
      const server = await require('../examples/client-auth').start({
        port: 0
      });
      const [ws, greeting] = await openWithGreeting(server.url, {
        headers: { Authorization: 'Bearer secret-alice' }
      });

      assert.strictEqual(greeting, 'hello alice');
      ws.send('hi');
      assert.deepStrictEqual(await messages(ws, 1), ['alice said: hi']);

      assert.strictEqual(await refusedStatus(server.url), 401);
      assert.strictEqual(
        await refusedStatus(server.url, {
          headers: { Authorization: 'Bearer nope' }
        }),
        401
      );
      assert.strictEqual(server.wss.clients.size, 1);
      await server.close();
    });
  });

  describe('heartbeat.js', () => {
    const { startServer, connect } = require('../examples/heartbeat');

    it('keeps answering clients and terminates a silent one (server side)', async () => {
      // Short periods keep the test fast; 100 ms leaves a loaded machine time for a pong.
      const server = await startServer({ port: 0, interval: 100 });
      const healthy = connect(server.url, { interval: 100, latency: 400 });
      const silent = new WebSocket(server.url, { autoPong: false });
      let pings = 0;

      healthy.on('ping', () => pings++);
      await Promise.all([once(healthy, 'open'), once(silent, 'open')]);

      const [code] = await once(silent, 'close');

      assert.strictEqual(code, 1006);
      await new Promise((resolve) => setTimeout(resolve, 250));
      assert.strictEqual(healthy.readyState, WebSocket.OPEN);
      assert.ok(pings >= 3, `${pings} pings`);
      await server.close();
    });

    it('terminates the connection when the pings stop (client side)', async () => {
      const quiet = await require('../examples/echo-server').start({ port: 0 });
      const ws = connect(quiet.url, { interval: 50, latency: 50 });
      const opened = Date.now();

      await once(ws, 'open');

      const [code] = await once(ws, 'close');

      assert.strictEqual(code, 1006);
      assert.ok(Date.now() - opened >= 90);
      await quiet.close();
    });
  });

  describe('stream-stdin.js', () => {
    it('pipes stdin through the WebSocket to stdout (own server)', async () => {
      const stdout = await run(
        process.execPath,
        [path.join(examples, 'stream-stdin.js')],
        {
          input: 'hello\nfrom stdin\n'
        }
      );

      assert.strictEqual(stdout, 'HELLO\nFROM STDIN\n');
    });

    it('pipes stdin to a server given by URL', async () => {
      const server = await require('../examples/echo-server').start({
        port: 0
      });

      try {
        const stdout = await run(
          process.execPath,
          [path.join(examples, 'stream-stdin.js'), server.url],
          { input: 'echo me\n' }
        );

        assert.strictEqual(stdout, 'echo me\n');
      } finally {
        await server.close();
      }
    });
  });

  describe('express-style.js', () => {
    it('lets only logged-in sessions upgrade', async () => {
      const server = await require('../examples/express-style').start({
        port: 0
      });

      try {
        const login = await request(`${server.httpUrl}/login`, {
          method: 'POST'
        });

        assert.strictEqual(login.res.statusCode, 200);
        assert.strictEqual(JSON.parse(login.body).result, 'OK');

        const cookie = login.res.headers['set-cookie'][0].split(';')[0];
        const [ws, greeting] = await openWithGreeting(server.url, {
          headers: { cookie }
        });
        const { userId } = JSON.parse(login.body);

        assert.strictEqual(greeting, `welcome ${userId}`);
        ws.send('hi');
        assert.deepStrictEqual(await messages(ws, 1), [`${userId}: hi`]);

        assert.strictEqual(await refusedStatus(server.url), 401);
        assert.strictEqual(
          await refusedStatus(server.url, {
            headers: { cookie: `sid=${'0'.repeat(32)}` }
          }),
          401
        );

        const missing = await request(`${server.httpUrl}/nothing`);

        assert.strictEqual(missing.res.statusCode, 404);
      } finally {
        await server.close();
      }
    });
  });

  describe('demo/server.js (npm start)', () => {
    it('runs as `npm start` does, on the port given in argv', async () => {
      const child = spawn(
        process.execPath,
        [path.join(examples, 'demo', 'server.js'), '0'],
        {
          stdio: ['ignore', 'pipe', 'pipe']
        }
      );

      try {
        let output = '';

        child.stdout.setEncoding('utf8');
        await new Promise((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`no banner: ${output}`)),
            5000
          );

          child.stdout.on('data', (chunk) => {
            output += chunk;
            if (/http:\/\/127\.0\.0\.1:\d+\//.test(output)) {
              clearTimeout(timer);
              resolve();
            }
          });
          child.once('exit', (code) =>
            reject(new Error(`exited with ${code}: ${output}`))
          );
        });

        const url = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(output)[1];
        const page = await request(url);

        assert.strictEqual(page.res.statusCode, 200);
        assert.match(page.body, /new WebSocket\(/);

        const ws = new WebSocket(`${url.replace('http', 'ws')}chat`, {
          perMessageDeflate: true
        });
        const first = messages(ws, 3);

        await once(ws, 'open');
        assert.strictEqual(ws.extensions, 'permessage-deflate');

        const [welcome, joined, stats] = (await first).map((data) =>
          JSON.parse(data)
        );

        assert.strictEqual(welcome.type, 'welcome');
        assert.strictEqual(welcome.extensions, 'permessage-deflate');
        assert.deepStrictEqual(joined, {
          type: 'system',
          text: `${welcome.name} joined`
        });
        assert.strictEqual(stats.connections, 1);

        ws.send(JSON.stringify({ type: 'chat', text: 'hi' }));

        const chat = JSON.parse((await messages(ws, 1))[0]);

        assert.strictEqual(chat.from, welcome.name);
        assert.strictEqual(chat.text, 'hi');
        ws.close();
      } finally {
        child.kill();
      }
    });
  });

  describe('the npm alias in the README', () => {
    it("makes an unchanged `require('ws')` and `import ... from 'ws'` load ws-rs", async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ws-rs-alias-'));

      try {
        fs.writeFileSync(
          path.join(dir, 'package.json'),
          JSON.stringify({ name: 'app', version: '1.0.0', private: true })
        );
        await run(
          'npm',
          [
            'install',
            '--offline',
            '--ignore-scripts',
            '--no-audit',
            '--no-fund',
            '--loglevel=error',
            `ws@file:${root}`
          ],
          { cwd: dir }
        );

        const manifest = JSON.parse(
          fs.readFileSync(path.join(dir, 'package.json'), 'utf8')
        );

        assert.match(manifest.dependencies.ws, /^file:/);

        const cjs = `'use strict';
const WebSocket = require('ws');
const wss = new WebSocket.Server({ port: 0 }, () => {
  const ws = new WebSocket('ws://127.0.0.1:' + wss.address().port);
  ws.on('message', (data) => {
    console.log(require('ws/package.json').name, String(data));
    ws.close();
    wss.close();
  });
});
wss.on('connection', (ws) => ws.send('hello'));
`;
        const esm = `import WebSocket, { WebSocketServer } from 'ws';
const wss = new WebSocketServer({ port: 0 }, () => {
  const ws = new WebSocket('ws://127.0.0.1:' + wss.address().port);
  ws.on('message', (data) => {
    console.log(String(data));
    ws.close();
    wss.close();
  });
});
wss.on('connection', (ws) => ws.send('hello from esm'));
`;

        fs.writeFileSync(path.join(dir, 'app.js'), cjs);
        fs.writeFileSync(path.join(dir, 'app.mjs'), esm);

        assert.strictEqual(
          await run(process.execPath, ['app.js'], { cwd: dir }),
          'ws-rs hello\n'
        );
        assert.strictEqual(
          await run(process.execPath, ['app.mjs'], { cwd: dir }),
          'hello from esm\n'
        );
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});

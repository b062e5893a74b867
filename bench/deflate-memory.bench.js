'use strict';

//
// Server memory per permessage-deflate connection, and 16 KiB deflate echo throughput:
// ws-rs against npm ws (node_modules/ws, with bufferutil and utf-8-validate), each with
// the default zlib options and with `zlibDeflateOptions: { memLevel: 4 }`.
//
// For every case a fresh server process (one WebSocketServer, permessage-deflate on) and a
// fresh clients process (same library as the server) are forked. The clients open
// CONNECTIONS connections; each sends one 16 KiB JSON-like text message, which the server
// echoes (one message each way, both compressed; the server keeps its deflate and inflate
// streams, as ws does with context takeover). Once every client has its echo, the server
// runs two GCs and reports RSS, V8 heap and external memory minus what it used before the
// first connection, divided by the number of connections. Then the clients close and
// THROUGHPUT_CONNECTIONS connections echo 16 KiB messages, WINDOW in flight each, for
// THROUGHPUT_MS: msgs/s counts completed round trips (both ends' compression included).
//
// Loopback only, every step bounded by STEP_TIMEOUT_MS. Usage:
//   node bench/deflate-memory.bench.js [connections]
//

const os = require('os');
const path = require('path');
const { fork } = require('child_process');
const { nextMessage } = require('./ipc');

const root = path.join(__dirname, '..');
const CONNECTIONS = Number(process.argv[2]) || 1000;
const MESSAGE_SIZE = 16 * 1024;
const CONNECT_BATCH = 50;
const THROUGHPUT_CONNECTIONS = 4;
const WINDOW = 8;
const THROUGHPUT_MS = 2000;
const STEP_TIMEOUT_MS = 20000;

const CASES = [
  { impl: 'ws-rs', zlib: null },
  { impl: 'ws', zlib: null },
  { impl: 'ws-rs', zlib: { memLevel: 4 } },
  { impl: 'ws', zlib: { memLevel: 4 } },
  //
  // Without permessage-deflate: what a connection costs besides its zlib streams.
  //
  { impl: 'ws-rs', zlib: false },
  { impl: 'ws', zlib: false }
];

/**
 * Loads the library under test.
 *
 * @param {String} impl `'ws-rs'` or `'ws'`
 * @return {Function} The `WebSocket` class (with `WebSocketServer`)
 */
function load(impl) {
  return impl === 'ws'
    ? require(path.join(root, 'node_modules', 'ws'))
    : require(root);
}

/**
 * Builds a 16 KiB JSON-like text: an array of records with a few varying
 * fields, so that it compresses about as well as typical API payloads.
 *
 * @param {Number} seed The seed of the generator
 * @return {String} The text, exactly `MESSAGE_SIZE` bytes of ASCII
 */
function jsonLike(seed) {
  const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot'];
  let state = (seed * 2654435761 + 1) >>> 0;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
  const items = [];
  let length = 2;

  while (length < MESSAGE_SIZE) {
    const item = JSON.stringify({
      id: next() % 100000,
      user: `user-${next() % 5000}`,
      tags: [words[next() % 6], words[next() % 6]],
      score: (next() % 10000) / 10000,
      active: next() % 2 === 0,
      note: `${words[next() % 6]} ${words[next() % 6]} ${next().toString(36)}`
    });

    items.push(item);
    length += item.length + 1;
  }

  const text = `[${items.join(',')}]`;

  return text.length > MESSAGE_SIZE
    ? `${text.slice(0, MESSAGE_SIZE - 1)}]`
    : text;
}

/**
 * The server process: listens, echoes, and reports its memory on request.
 *
 * @param {String} impl The library
 * @param {(Object|null)} zlib `zlibDeflateOptions`, or null for the defaults
 */
function server(impl, zlib) {
  const { WebSocketServer } = load(impl);
  const perMessageDeflate =
    zlib === false ? false : zlib ? { zlibDeflateOptions: zlib } : true;
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    perMessageDeflate
  });

  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
      ws.send(data, { binary: isBinary });
    });
  });

  wss.on('listening', () => {
    global.gc();
    global.gc();
    process.send({ port: wss.address().port, memory: process.memoryUsage() });
  });

  process.on('message', (message) => {
    if (message.cmd !== 'measure') return;

    //
    // Let pending (thread-pool) compressions finish and their buffers go.
    //
    setTimeout(() => {
      global.gc();
      global.gc();
      process.send({
        memory: process.memoryUsage(),
        clients: wss.clients.size
      });
    }, 300);
  });

  process.on('disconnect', () => process.exit(0));
}

/**
 * Opens one client connection and resolves once it is open.
 *
 * @param {Function} WebSocket The client class
 * @param {Number} port The server port
 * @return {Promise<WebSocket>}
 */
function connect(WebSocket, port) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, {
      perMessageDeflate: true
    });

    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/**
 * The clients process: the memory phase, then the throughput phase.
 *
 * @param {String} impl The library
 * @param {Number} port The server port
 */
async function clients(impl, port) {
  const WebSocket = load(impl);
  const sockets = [];
  const started = Date.now();
  let echoed = 0;
  let resolveAll;
  const allEchoed = new Promise((resolve) => (resolveAll = resolve));

  for (let i = 0; i < CONNECTIONS; i += CONNECT_BATCH) {
    const batch = [];

    for (let j = i; j < Math.min(i + CONNECT_BATCH, CONNECTIONS); j++) {
      batch.push(
        connect(WebSocket, port).then((ws) => {
          const text = jsonLike(j + 1);

          ws.once('message', (data, isBinary) => {
            if (isBinary || data.length !== text.length) {
              throw new Error('bad echo');
            }
            if (++echoed === CONNECTIONS) resolveAll();
          });
          ws.send(text);
          sockets.push(ws);
        })
      );
    }

    await Promise.all(batch);
  }

  await allEchoed;
  process.send({
    exchangedMs: Date.now() - started,
    connections: sockets.length
  });

  await new Promise((resolve) => {
    process.once('message', resolve);
  });

  await Promise.all(
    sockets.map(
      (ws) =>
        new Promise((resolve) => {
          ws.once('close', resolve);
          ws.close();
        })
    )
  );

  //
  // Throughput: THROUGHPUT_CONNECTIONS connections, WINDOW messages in flight on each.
  //
  const texts = [jsonLike(7), jsonLike(8), jsonLike(9), jsonLike(10)];
  const conns = [];

  for (let i = 0; i < THROUGHPUT_CONNECTIONS; i++) {
    conns.push(await connect(WebSocket, port));
  }

  let done = 0;
  let stopping = false;
  const start = process.hrtime.bigint();

  await new Promise((resolve) => {
    let open = conns.length;

    for (const ws of conns) {
      let sent = 0;
      let received = 0;

      ws.on('message', () => {
        received++;
        done++;
        if (!stopping) {
          ws.send(texts[sent++ & 3]);
        } else if (received === sent && --open === 0) {
          resolve();
        }
      });

      for (let k = 0; k < WINDOW; k++) ws.send(texts[sent++ & 3]);
    }

    setTimeout(() => {
      stopping = true;
    }, THROUGHPUT_MS);
  });

  const seconds = Number(process.hrtime.bigint() - start) / 1e9;

  for (const ws of conns) ws.terminate();
  process.send({ msgsPerSecond: done / seconds });
  process.on('disconnect', () => process.exit(0));
}

/**
 * Runs one case in fresh processes.
 *
 * @param {Object} c The case
 * @return {Promise<Object>} The measurements
 */
async function runCase(c) {
  const args = [JSON.stringify(c)];
  const execArgv = ['--expose-gc'];
  const srv = fork(__filename, ['server', ...args], { execArgv });
  let cli;

  try {
    const ready = await nextMessage(srv, 'server start', STEP_TIMEOUT_MS);

    cli = fork(__filename, ['clients', ...args, String(ready.port)], {
      execArgv
    });

    const exchanged = await nextMessage(
      cli,
      'the 1000-connection exchange',
      STEP_TIMEOUT_MS
    );

    srv.send({ cmd: 'measure' });

    const measured = await nextMessage(
      srv,
      'the server measurement',
      STEP_TIMEOUT_MS
    );

    cli.send({ cmd: 'throughput' });

    const throughput = await nextMessage(
      cli,
      'the throughput run',
      STEP_TIMEOUT_MS
    );
    const per = (key) =>
      (measured.memory[key] - ready.memory[key]) / exchanged.connections;

    return {
      connections: measured.clients,
      exchangedMs: exchanged.exchangedMs,
      rss: per('rss'),
      heap: per('heapUsed'),
      external: per('external'),
      rssTotal: measured.memory.rss,
      msgsPerSecond: throughput.msgsPerSecond
    };
  } finally {
    srv.kill();
    if (cli) cli.kill();
  }
}

/**
 * Formats a byte count per connection.
 *
 * @param {Number} bytes The byte count
 * @return {String}
 */
function kib(bytes) {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

/**
 * Runs every case and prints the table.
 */
async function main() {
  const ws = require(path.join(root, 'node_modules', 'ws', 'package.json'));
  let bufferutil = 'absent';

  try {
    require.resolve('bufferutil', {
      paths: [path.join(root, 'node_modules', 'ws')]
    });
    require.resolve('utf-8-validate', {
      paths: [path.join(root, 'node_modules', 'ws')]
    });
    bufferutil = 'installed';
  } catch {
    // Reported as absent.
  }

  console.log(
    `permessage-deflate: ${CONNECTIONS} connections, one ${MESSAGE_SIZE}-byte ` +
      `JSON-like text message each way; npm ws ${ws.version} ` +
      `(bufferutil/utf-8-validate ${bufferutil}); ulimit -n permitting ` +
      `(2 x ${CONNECTIONS} fds in 2 processes)`
  );

  const results = [];

  for (const c of CASES) {
    const name =
      c.zlib === false
        ? `${c.impl} (no deflate)`
        : `${c.impl}${c.zlib ? ` ${JSON.stringify(c.zlib)}` : ''}`;

    try {
      results.push({ name, c, r: await runCase(c) });
    } catch (err) {
      console.log(`${name}: ${err.message}`);
      process.exitCode = 1;
      results.push({ name, c, r: null });
    }
  }

  const rows = [
    [
      'case',
      'conns',
      'setup ms',
      'RSS/conn',
      'heap/conn',
      'ext/conn',
      'echo msgs/s'
    ]
  ];

  for (const { name, r } of results) {
    if (!r) continue;
    rows.push([
      name,
      String(r.connections),
      String(r.exchangedMs),
      kib(r.rss),
      kib(r.heap),
      kib(r.external),
      r.msgsPerSecond.toFixed(0)
    ]);
  }

  const widths = rows[0].map((_, i) =>
    Math.max(...rows.map((row) => row[i].length))
  );

  console.log('');
  for (const row of rows) {
    console.log(
      row
        .map((cell, i) =>
          i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])
        )
        .join('  ')
    );
  }

  const find = (impl, zlib) =>
    results.find(
      (x) => x.c.impl === impl && x.c.zlib !== false && !!x.c.zlib === zlib
    );
  const ratio = (a, b, key) =>
    a && b && a.r && b.r ? `${(a.r[key] / b.r[key]).toFixed(2)}x` : 'n/a';

  console.log('');
  for (const zlib of [false, true]) {
    const label = zlib ? 'memLevel 4' : 'defaults  ';

    console.log(
      `ws-rs / ws, ${label}: RSS/conn ${ratio(find('ws-rs', zlib), find('ws', zlib), 'rss')}, ` +
        `echo msgs/s ${ratio(find('ws-rs', zlib), find('ws', zlib), 'msgsPerSecond')}`
    );
  }
  for (const impl of ['ws-rs', 'ws']) {
    console.log(
      `memLevel 4 / defaults, ${impl.padEnd(5)}: RSS/conn ` +
        `${ratio(find(impl, true), find(impl, false), 'rss')}, echo msgs/s ` +
        `${ratio(find(impl, true), find(impl, false), 'msgsPerSecond')}`
    );
  }
  const bare = (impl) =>
    results.find((x) => x.c.impl === impl && x.c.zlib === false);

  for (const impl of ['ws-rs', 'ws']) {
    const a = find(impl, false);
    const b = bare(impl);

    if (a && b && a.r && b.r) {
      console.log(
        `deflate streams alone, ${impl.padEnd(5)}: ${kib(a.r.rss - b.r.rss)} RSS/conn ` +
          '(defaults minus no deflate)'
      );
    }
  }
  console.log(
    `\n${os.cpus().length} CPUs; RSS/heap/external are the server's growth from ` +
      'before the first connection, after two GCs, divided by the connections.'
  );
}

if (process.argv[2] === 'server') {
  const c = JSON.parse(process.argv[3]);

  server(c.impl, c.zlib);
} else if (process.argv[2] === 'clients') {
  const c = JSON.parse(process.argv[3]);

  clients(c.impl, Number(process.argv[4])).catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}

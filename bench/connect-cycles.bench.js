'use strict';

//
// Connect/close churn (issue 4): "after 100,000 connect/close cycles, RSS returns to
// within 10% of where it settled after the first 10,000".
//
// For each transport a fresh server process (a ws-rs WebSocketServer on port 0, run with
// --expose-gc, WS_RS_TRANSPORT set to the transport) and a fresh client process (npm ws
// from node_modules, so that client memory stays out of the server's RSS) are forked. The
// client opens a connection, closes it as soon as it is open and counts the cycle once the
// 'close' event fires, keeping INFLIGHT connections in flight. Every SAMPLE cycles it lets
// the connections in flight finish, the server waits until it holds no client, runs three
// GCs and reports process.memoryUsage(): one line per sample. The verdict compares the RSS
// at the first sample (10,000 cycles) with the RSS at the last one (100,000 cycles).
//
// Most of what RSS gains after the first sample, with either transport and with npm ws as
// the server alike, is V8's young generation (about 32 MiB of semi-spaces, committed early)
// whose pages become resident as the run goes on: heapUsed and external stay flat, and with
// `--max-semi-space-size=1` the growth falls to about 2%.
//
// Loopback only; each transport is bounded by DEADLINE_MS. Usage:
//   node bench/connect-cycles.bench.js [options]
//   --transport node|native|both   (default both)
//   --cycles N                     (default 100000)
//   --sample N                     (default 10000)
//   --inflight N                   (default 50)
//   --deflate                      negotiate permessage-deflate on every connection
// The module under test is $WS_RS_MODULE (default: this package).
//

const path = require('path');
const { fork } = require('child_process');
const { nextMessage } = require('./ipc');

const root = path.join(__dirname, '..');
const MODULE = process.env.WS_RS_MODULE
  ? path.resolve(process.env.WS_RS_MODULE)
  : root;
const DEADLINE_MS = 180000;
const STEP_TIMEOUT_MS = 20000;
const LIMIT = 0.1;

/**
 * Parses the command line.
 *
 * @return {Object} The options
 */
function parseArgs() {
  const opts = {
    transports: ['node', 'native'],
    cycles: 100000,
    sample: 10000,
    inflight: 50,
    deflate: false
  };
  const argv = process.argv.slice(2);

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];

    if (arg === '--transport') {
      const value = argv[++i];

      if (value !== 'node' && value !== 'native' && value !== 'both') {
        throw new Error('--transport must be node, native or both');
      }
      opts.transports = value === 'both' ? ['node', 'native'] : [value];
    } else if (
      arg === '--cycles' ||
      arg === '--sample' ||
      arg === '--inflight'
    ) {
      const value = Number(argv[++i]);

      if (!Number.isInteger(value) || value <= 0) {
        throw new Error(`${arg} needs a positive integer`);
      }
      opts[arg.slice(2)] = value;
    } else if (arg === '--deflate') {
      opts.deflate = true;
    } else {
      throw new Error(`unknown argument: ${arg}`);
    }
  }

  if (opts.cycles % opts.sample !== 0) {
    throw new Error('--cycles must be a multiple of --sample');
  }

  return opts;
}

/**
 * Runs `global.gc()` a few times with turns of the event loop in between, so
 * that weak callbacks and finalizers (native handles) get to run.
 *
 * @return {Promise<void>}
 */
async function settle() {
  for (let i = 0; i < 3; i++) {
    global.gc();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * The server process: accepts connections and reports its memory on request.
 *
 * @param {Object} opts The options
 */
function server(opts) {
  const { WebSocketServer } = require(MODULE);
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    perMessageDeflate: opts.deflate
  });
  let socketClass = null;
  let connections = 0;
  let errors = 0;

  wss.on('connection', (ws) => {
    connections++;
    if (socketClass === null) socketClass = ws._socket.constructor.name;
    ws.on('error', () => errors++);
  });

  wss.on('listening', async () => {
    await settle();
    process.send({
      port: wss.address().port,
      memory: process.memoryUsage()
    });
  });

  process.on('message', async (message) => {
    if (message.cmd !== 'measure') return;

    //
    // The client has seen every close; the server may still be finishing its
    // side of the last closing handshakes.
    //
    const deadline = Date.now() + 5000;

    while (wss.clients.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }

    await settle();
    process.send({
      memory: process.memoryUsage(),
      clients: wss.clients.size,
      connections,
      errors,
      socketClass
    });
  });

  process.on('disconnect', () => process.exit(0));
}

/**
 * The client process: opens and closes connections, pausing at every sample.
 *
 * @param {Object} opts The options
 * @param {Number} port The server port
 */
function client(opts, port) {
  const WebSocket = require(path.join(root, 'node_modules', 'ws'));
  const url = `ws://127.0.0.1:${port}`;
  let started = 0;
  let done = 0;
  let errors = 0;
  let target = opts.sample;

  /**
   * Starts connections until INFLIGHT are in flight or the sample is reached.
   */
  function fill() {
    while (started - done < opts.inflight && started < target) {
      started++;
      cycle();
    }
  }

  /**
   * One cycle: open, close on 'open', count on 'close'.
   */
  function cycle() {
    const ws = new WebSocket(url, { perMessageDeflate: opts.deflate });

    ws.on('open', () => ws.close());
    ws.on('error', () => errors++);
    ws.on('close', () => {
      done++;
      if (done === target) {
        process.send({ cycles: done, errors });
      } else {
        fill();
      }
    });
  }

  process.on('message', (message) => {
    if (message.cmd !== 'continue') return;
    target += opts.sample;
    fill();
  });
  process.on('disconnect', () => process.exit(0));

  fill();
}

/**
 * Formats a byte count in MiB.
 *
 * @param {Number} bytes The byte count
 * @return {String}
 */
function mib(bytes) {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

/**
 * Formats `process.memoryUsage()`.
 *
 * @param {Object} m The memory usage
 * @return {String}
 */
function formatMemory(m) {
  return (
    `rss ${mib(m.rss)}  heapUsed ${mib(m.heapUsed)}  heapTotal ${mib(m.heapTotal)}  ` +
    `external ${mib(m.external)}  arrayBuffers ${mib(m.arrayBuffers)}`
  );
}

/**
 * Runs the cycles for one transport in fresh processes.
 *
 * @param {Object} opts The options
 * @param {String} transport `'node'` or `'native'`
 * @return {Promise<Boolean>} Whether the RSS stayed within the limit
 */
async function runTransport(opts, transport) {
  const env = { ...process.env, WS_RS_TRANSPORT: transport };
  const argv = [JSON.stringify(opts)];
  const srv = fork(__filename, ['server', ...argv], {
    env,
    execArgv: ['--expose-gc']
  });
  let cli;
  const started = Date.now();
  const deadline = started + DEADLINE_MS;
  const remaining = () => Math.max(1, deadline - Date.now());

  try {
    const ready = await nextMessage(srv, 'server start', STEP_TIMEOUT_MS);

    console.log(`${transport}: start       ${formatMemory(ready.memory)}`);
    cli = fork(__filename, ['client', ...argv, String(ready.port)], {
      env: { ...process.env, WS_RS_TRANSPORT: 'node' }
    });

    const samples = [];

    while (samples.length < opts.cycles / opts.sample) {
      const progress = await nextMessage(
        cli,
        `${transport}: ${(samples.length + 1) * opts.sample} cycles`,
        remaining()
      );

      srv.send({ cmd: 'measure' });

      const measured = await nextMessage(
        srv,
        'the server measurement',
        STEP_TIMEOUT_MS
      );

      if (measured.socketClass !== null) {
        const expected = transport === 'native' ? 'NativeSocket' : 'Socket';

        if (measured.socketClass !== expected) {
          throw new Error(
            `${transport}: the server's socket is a ${measured.socketClass}, ` +
              `not a ${expected}`
          );
        }
      }

      samples.push(measured.memory.rss);
      console.log(
        `${transport}: ${String(progress.cycles).padStart(6)} cycles ` +
          `${formatMemory(measured.memory)}  clients ${measured.clients}  ` +
          `errors ${progress.errors}/${measured.errors}  ` +
          `${((Date.now() - started) / 1000).toFixed(1)} s`
      );

      if (samples.length < opts.cycles / opts.sample) {
        cli.send({ cmd: 'continue' });
      }
    }

    const first = samples[0];
    const last = samples[samples.length - 1];
    const growth = (last - first) / first;
    const ok = growth <= LIMIT;

    console.log(
      `${transport}: verdict RSS at ${opts.sample} cycles ${mib(first)}, ` +
        `at ${opts.cycles} cycles ${mib(last)}, growth ` +
        `${(growth * 100).toFixed(1)}% (limit ${LIMIT * 100}%): ` +
        `${ok ? 'PASS' : 'FAIL'} (${((Date.now() - started) / 1000).toFixed(1)} s)`
    );

    return ok;
  } finally {
    srv.kill();
    if (cli) cli.kill();
  }
}

/**
 * Runs every selected transport.
 */
async function main() {
  const opts = parseArgs();
  let failed = false;

  console.log(
    `connect/close cycles: ${opts.cycles} per transport, ${opts.inflight} in ` +
      `flight, server ${MODULE}, client npm ws, permessage-deflate ` +
      `${opts.deflate ? 'on' : 'off'}; server memory after GC every ` +
      `${opts.sample} cycles`
  );

  for (const transport of opts.transports) {
    if (
      transport === 'native' &&
      !require('fs').existsSync(path.join(MODULE, 'lib', 'native-socket.js'))
    ) {
      console.log('native: skipped (no lib/native-socket.js in the module)');
      continue;
    }

    try {
      if (!(await runTransport(opts, transport))) failed = true;
    } catch (err) {
      console.log(`${transport}: ${err.message}`);
      failed = true;
    }
  }

  process.exitCode = failed ? 1 : 0;
}

if (process.argv[2] === 'server') {
  server(JSON.parse(process.argv[3]));
} else if (process.argv[2] === 'client') {
  client(JSON.parse(process.argv[3]), Number(process.argv[4]));
} else {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}

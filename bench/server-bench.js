'use strict';

//
// Server benchmarks (issue 5): ws-rs against `ws` and uWebSockets.js, client and
// server in separate processes over loopback. Every peer runs every selected scenario
// in the same run; each result line carries the ratio to `ws` (plain) and to `ws` with
// bufferutil and utf-8-validate (`ws-bu`), and the server's CPU time per message.
//
// Usage: npm run bench:server [-- options]
//   --runs N          repeat everything N times (interleaved), report median [min-max]
//   --scenario LIST   comma-separated id prefixes, e.g. `A,C.1000` (default: all)
//   --peer LIST       comma-separated peers (default: ws,ws-bu,ws-rs,ws-rs-native,ws-rs-http,
//                     uws); ws-rs-http is the native transport with `nativeHttp: true`
//   --duration S      measured window of the throughput scenarios (default 2)
//   --warmup S        warm-up before each window (default 0.5)
//   --conns N         connections of scenario E (default 10000, scaled to `ulimit -n`)
//   --json FILE       also write the raw results as JSON
//
// Not picked up by `npm run bench` (bench/index.js runs `*.bench.js`): a full run takes
// several minutes.
//

const fs = require('fs');
const os = require('os');
const path = require('path');
const { fork, spawnSync } = require('child_process');
const { scenarios } = require('./scenarios');

const ALL_PEERS = ['ws', 'ws-bu', 'ws-rs', 'ws-rs-native', 'ws-rs-http', 'uws'];

/**
 * Parses the command line.
 *
 * @return {Object} The options
 */
function parseArgs() {
  const opts = {
    runs: 1,
    scenario: [],
    peer: ALL_PEERS,
    duration: 2,
    warmup: 0.5,
    conns: 10000,
    json: null
  };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const [key, inline] = argv[i].replace(/^--/, '').split('=');
    const value = inline !== undefined ? inline : argv[++i];
    switch (key) {
      case 'runs':
      case 'duration':
      case 'warmup':
      case 'conns':
        opts[key] = Number(value);
        break;
      case 'scenario':
      case 'peer':
        opts[key] = value.split(',').filter(Boolean);
        break;
      case 'json':
        opts.json = value;
        break;
      default:
        throw new Error(`unknown option: ${argv[i]}`);
    }
  }
  return opts;
}

/**
 * Forks a child that speaks the request/reply IPC protocol of `bench/peers/`.
 *
 * @param {String} file The child script
 * @param {String[]} args Its arguments
 * @param {Object} env Extra environment variables
 * @param {String[]} execArgv Node flags
 * @return {Promise<Object>} `{ child, req(msg), ready }` once the child is ready
 */
function spawnChild(file, args, env, execArgv) {
  const child = fork(path.join(__dirname, 'peers', file), args, {
    env: { ...process.env, ...env },
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  });
  const pending = new Map();
  let nextId = 1;

  return new Promise((resolve, reject) => {
    const onExit = (code, signal) => {
      const err = new Error(`${file} exited (${code ?? signal})`);
      for (const { reject: fail } of pending.values()) fail(err);
      pending.clear();
      reject(err);
    };

    child.on('exit', onExit);
    child.on('message', (msg) => {
      if (msg.type === 'ready') {
        resolve({
          child,
          ready: msg,
          port: msg.port,
          req(request) {
            const id = nextId++;
            return new Promise((res, rej) => {
              pending.set(id, { resolve: res, reject: rej });
              child.send({ ...request, id });
            });
          },
          kill() {
            child.removeListener('exit', onExit);
            return new Promise((res) => {
              if (child.exitCode !== null || child.signalCode !== null) res();
              else {
                child.once('exit', res);
                child.kill('SIGKILL');
              }
            });
          }
        });
        return;
      }
      const waiter = pending.get(msg.id);
      if (waiter) {
        pending.delete(msg.id);
        waiter.resolve(msg);
      }
    });
  });
}

/**
 * Environment of a peer's server process.
 *
 * @param {String} peer The peer
 * @return {Object} The extra variables
 */
function peerEnv(peer) {
  switch (peer) {
    case 'ws':
      return { WS_NO_BUFFER_UTIL: '1', WS_NO_UTF_8_VALIDATE: '1' };
    case 'ws-rs-native':
    case 'ws-rs-http':
      return { WS_RS_TRANSPORT: 'native' };
    case 'ws-rs':
      return { WS_RS_TRANSPORT: 'node' };
    default:
      return {};
  }
}

const sleep = (s) => new Promise((resolve) => setTimeout(resolve, s * 1000));

/**
 * Runs one scenario against one peer, with fresh processes.
 *
 * @param {Object} scenario The scenario
 * @param {String} peer The peer
 * @param {Object} opts The options
 * @return {Promise<Object>} The result (or `{ error }`)
 */
async function runOne(scenario, peer, opts) {
  const children = [];
  const h = {
    opts,
    async server(deflate) {
      const server = await spawnChild(
        'server.js',
        [peer, deflate ? '1' : '0'],
        peerEnv(peer),
        ['--expose-gc']
      );
      children.push(server);
      return server;
    },
    async clients(k) {
      const list = await Promise.all(
        Array.from({ length: k }, () => spawnChild('client.js', [], {}, []))
      );
      children.push(...list);
      return list;
    },
    async window(server, clients) {
      await sleep(opts.warmup);
      const snap = async () => {
        const [usage, ...counts] = await Promise.all([
          server.req({ cmd: 'usage' }),
          ...clients.map((c) => c.req({ cmd: 'count' }))
        ]);
        return {
          t: process.hrtime.bigint(),
          cpu: usage.cpu.user + usage.cpu.system,
          messages: counts.reduce((sum, c) => sum + c.messages, 0),
          clientCpu: counts.map((c) => c.cpu.user + c.cpu.system)
        };
      };
      const a = await snap();
      await sleep(opts.duration);
      const b = await snap();
      return {
        seconds: Number(b.t - a.t) / 1e9,
        messages: b.messages - a.messages,
        cpuUs: b.cpu - a.cpu,
        // The busiest client process's share of one core: near 100 % means the
        // client, not the server, set the pace.
        clientBusy: Math.max(
          ...b.clientCpu.map(
            (cpu, i) => (cpu - a.clientCpu[i]) / 1e6 / (Number(b.t - a.t) / 1e9)
          )
        )
      };
    }
  };

  try {
    const result = await scenario.run(h);
    if (peer === 'ws-rs-native' || peer === 'ws-rs-http') {
      const usage = await children[0].req({ cmd: 'usage' });
      result.socketType = usage.socketType;
    }
    return result;
  } catch (err) {
    return { error: err.message };
  } finally {
    await Promise.all(children.map((c) => c.kill()));
  }
}

/**
 * Tells whether this checkout supports `WS_RS_TRANSPORT=native`: a server started with
 * it must resolve its transport to `'native'` and an accepted connection must not sit
 * on a `net.Socket`.
 *
 * @return {Promise<String|null>} null when supported, else why not
 */
async function probeNative() {
  let server;
  let client;
  try {
    server = await spawnChild(
      'server.js',
      ['ws-rs', '0'],
      peerEnv('ws-rs-native'),
      []
    );
    if (server.ready.transport !== 'native') {
      return (
        'WS_RS_TRANSPORT=native not recognised (transport resolves to ' +
        `'${server.ready.transport}')`
      );
    }
    client = await spawnChild('client.js', [], {}, []);
    const r = await client.req({
      cmd: 'connect',
      port: server.port,
      n: 1,
      inflight: 1,
      deflate: false,
      hello: { size: 64, binary: false }
    });
    if (r.errors) return 'a connection over the native transport failed';
    const usage = await server.req({ cmd: 'usage' });
    if (usage.socketType === 'Socket') {
      return 'WS_RS_TRANSPORT=native accepted but connections still use net.Socket';
    }
    return null;
  } catch (err) {
    return `native transport probe failed: ${err.message}`;
  } finally {
    if (client) await client.kill();
    if (server) await server.kill();
  }
}

/**
 * Median and range of numbers.
 *
 * @param {Number[]} values The values
 * @return {Object} `{ median, min, max }`
 */
function stats(values) {
  const sorted = values.slice().sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median =
    sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1] };
}

/**
 * Formats a number with 3 significant digits and a k/M suffix.
 *
 * @param {Number} n The number
 * @return {String} The text
 */
function fmt(n) {
  if (!Number.isFinite(n)) return '-';
  const abs = Math.abs(n);
  if (abs >= 1e6) return `${(n / 1e6).toPrecision(3)}M`;
  if (abs >= 1e4) return `${(n / 1e3).toPrecision(3)}k`;
  if (abs >= 100) return n.toFixed(0);
  if (abs >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

/**
 * Formats one result line.
 *
 * @param {Object} scenario The scenario
 * @param {String} peer The peer
 * @param {Object[]} results The results of every run
 * @param {Object} base `{ ws, 'ws-bu' }` medians to compare with
 * @param {Number} runs The number of runs
 * @return {String} The line
 */
function line(scenario, peer, results, base, runs) {
  const ok = results.filter((r) => !r.error);
  const head = `${scenario.id.padEnd(10)} ${peer.padEnd(13)}`;
  if (ok.length === 0) return `${head} error: ${results[0].error}`;

  const first = ok[0];
  const v = stats(ok.map((r) => r.value));
  let text = `${fmt(v.median).padStart(7)} ${first.unit.padEnd(8)}`;
  text += runs > 1 ? ` [${fmt(v.min)}-${fmt(v.max)}]`.padEnd(18) : ''.padEnd(0);
  if (first.mbps !== undefined) {
    text += ` ${fmt(stats(ok.map((r) => r.mbps)).median).padStart(6)} MB/s`;
  } else text += ''.padEnd(12);
  if (first.cpu !== undefined) {
    const cpu = stats(ok.map((r) => r.cpu)).median;
    text += `  cpu ${fmt(cpu).padStart(6)} ${first.cpuUnit.padEnd(7)}`;
  } else text += ''.padEnd(22);

  const ratio = (b) => {
    if (!b) return '   -  ';
    const r = v.median / b;
    return `x${r.toFixed(2)}`.padStart(6);
  };
  text += `  ${ratio(base.ws)} vs ws  ${ratio(base['ws-bu'])} vs ws-bu`;
  if (!first.higherIsBetter) text += ' (lower is better)';
  const extras = ok.map((r) => r.extra).filter(Boolean);
  if (extras.length) text += `  (${extras[extras.length - 1]})`;
  if (ok.length < results.length) {
    text += `  ${results.length - ok.length} run(s) failed`;
  }
  return `${head} ${text}`;
}

async function main() {
  const opts = parseArgs();
  const notes = [];

  const limit = Number(
    spawnSync('sh', ['-c', 'ulimit -n']).stdout.toString().trim()
  );
  // The server holds every connection; each client process half of them.
  if (Number.isFinite(limit) && opts.conns + 200 > limit) {
    const scaled = Math.max(100, Math.floor((limit - 200) / 1000) * 1000);
    notes.push(
      `ulimit -n is ${limit}: scenario E scaled down from ${opts.conns} to ${scaled} ` +
        'connections'
    );
    opts.conns = scaled;
  }

  let peers = ALL_PEERS.filter((p) => opts.peer.includes(p));
  if (peers.includes('ws-rs-native')) {
    const why = await probeNative();
    if (why) {
      notes.push(`ws-rs-native skipped: ${why}`);
      peers = peers.filter((p) => p !== 'ws-rs-native');
    }
  }

  const selected = scenarios.filter(
    (s) =>
      opts.scenario.length === 0 ||
      opts.scenario.some((prefix) => s.id.startsWith(prefix))
  );

  const cpus = os.cpus();
  const load = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  console.log(
    `ws-rs server benchmarks: Node ${process.version}, ${os.platform()} ${os.arch()}, ` +
      `${cpus.length} x ${cpus[0].model}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ` +
      `load ${load}, ulimit -n ${limit}`
  );
  console.log(
    `runs ${opts.runs}, window ${opts.duration} s after ${opts.warmup} s warm-up, ` +
      `E with ${opts.conns} connections; clients: npm ws ${require('ws/package.json').version} ` +
      'with bufferutil, separate processes'
  );
  for (const note of notes) console.log(`note: ${note}`);

  const results = new Map();
  const started = Date.now();

  for (let run = 0; run < opts.runs; run++) {
    for (const scenario of selected) {
      for (const peer of peers) {
        const t0 = Date.now();
        const result = await runOne(scenario, peer, opts);
        const key = `${scenario.id}\0${peer}`;
        if (!results.has(key)) results.set(key, []);
        results.get(key).push(result);
        const shown = result.error
          ? `error: ${result.error}`
          : `${fmt(result.value)} ${result.unit}` +
            (result.cpu !== undefined
              ? `, cpu ${fmt(result.cpu)} ${result.cpuUnit}`
              : '') +
            (result.extra ? ` (${result.extra})` : '');
        process.stderr.write(
          `  run ${run + 1} ${scenario.id} ${peer}: ${shown} ` +
            `[${((Date.now() - t0) / 1000).toFixed(1)} s]\n`
        );
      }
    }
  }

  console.log('');
  for (const scenario of selected) {
    const medianOf = (peer) => {
      const ok = (results.get(`${scenario.id}\0${peer}`) || []).filter(
        (r) => !r.error
      );
      return ok.length ? stats(ok.map((r) => r.value)).median : undefined;
    };
    const base = { ws: medianOf('ws'), 'ws-bu': medianOf('ws-bu') };
    for (const peer of peers) {
      console.log(
        line(
          scenario,
          peer,
          results.get(`${scenario.id}\0${peer}`),
          base,
          opts.runs
        )
      );
    }
  }
  console.log(`\ntotal ${((Date.now() - started) / 1000).toFixed(0)} s`);

  if (opts.json) {
    fs.writeFileSync(
      opts.json,
      JSON.stringify(
        { opts, notes, results: Object.fromEntries(results) },
        null,
        2
      )
    );
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

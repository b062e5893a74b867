'use strict';

//
// Scenarios of `bench/server-bench.js` (issue 5). Each one runs against a fresh server
// process of one peer and fresh client processes (npm `ws` with bufferutil), all on
// loopback, and returns one result:
//
//   { value, unit, higherIsBetter, mbps?, cpu?, cpuUnit?, extra? }
//
// `cpu` is the server's process.cpuUsage() (user + system) over the measured window,
// divided by the messages (or connections) of that window, in microseconds.
//

/**
 * The result of a message-rate scenario.
 *
 * @param {Object} w The measurement window (`messages`, `seconds`, `cpuUs`,
 *     `clientBusy`)
 * @param {Number} size Payload size
 * @param {String} cpuUnit What the server CPU time is divided by
 * @return {Object} The result
 */
function messageRate(w, size, cpuUnit) {
  const rate = w.messages / w.seconds;

  return {
    value: rate,
    unit: 'msg/s',
    higherIsBetter: true,
    mbps: (rate * size) / 1e6,
    cpu: w.cpuUs / w.messages,
    cpuUnit,
    extra: `client cpu ${(w.clientBusy * 100).toFixed(0)}%`
  };
}

/**
 * Starts a server and one client process with one connection to it.
 *
 * @param {Object} h The harness
 * @param {Boolean} deflate Whether permessage-deflate is negotiated
 * @return {Promise<Object>} `{ server, client }`
 */
async function oneConnection(h, deflate) {
  const server = await h.server(deflate);
  const [client] = await h.clients(1);
  await client.req({
    cmd: 'connect',
    port: server.port,
    n: 1,
    inflight: 1,
    deflate
  });
  return { server, client };
}

/**
 * Opens `n` connections to `server`, split over the client processes, 50 in
 * flight each.
 *
 * @param {Object} server The server process
 * @param {Object[]} clients Two client processes
 * @param {Number} n Connections
 * @param {Boolean} deflate Whether permessage-deflate is negotiated
 * @param {Object} [hello] `{ size, binary }` of one message each way
 * @return {Promise<Object[]>} The clients' replies
 */
function connectSplit(server, clients, n, deflate, hello) {
  return Promise.all(
    clients.map((client, i) =>
      client.req({
        cmd: 'connect',
        port: server.port,
        n: i === 0 ? Math.ceil(n / 2) : Math.floor(n / 2),
        inflight: 50,
        deflate,
        hello
      })
    )
  );
}

/**
 * Round trips on one connection: the client sends, waits for the echo, sends again.
 *
 * @param {Number} size Payload size
 * @param {Boolean} binary Binary or text frames
 * @param {Boolean} deflate Whether permessage-deflate is negotiated
 * @return {Function} The scenario body
 */
function echo(size, binary, deflate) {
  return async (h) => {
    const { server, client } = await oneConnection(h, deflate);
    await client.req({ cmd: 'echo', size, binary, json: deflate });
    const w = await h.window(server, [client]);
    await client.req({ cmd: 'stop' });
    // The server handles two messages per round trip (one in, one out): the CPU
    // figure is per round trip, the unit counted.
    return messageRate(w, size, 'µs/rt');
  };
}

/**
 * One-way streaming from the server to one client, respecting `bufferedAmount`.
 *
 * @param {Number} size Payload size
 * @return {Function} The scenario body
 */
function stream(size) {
  return async (h) => {
    const { server, client } = await oneConnection(h, false);
    await server.req({ cmd: 'stream', size });
    const w = await h.window(server, [client]);
    await server.req({ cmd: 'stop' });
    return messageRate(w, size, 'µs/msg');
  };
}

/**
 * Broadcast: one server, `n` clients (split over two client processes), one 64-byte
 * message to every client per round.
 *
 * @param {Number} n Connections
 * @param {Number} size Payload size
 * @return {Function} The scenario body
 */
function broadcast(n, size) {
  return async (h) => {
    const server = await h.server(false);
    const clients = await h.clients(2);
    await connectSplit(server, clients, n, false);
    await server.req({ cmd: 'broadcast', size });
    const w = await h.window(server, clients);
    await server.req({ cmd: 'stop' });
    return messageRate(w, size, 'µs/msg');
  };
}

//
// How long the connections of an idle-memory scenario rest before RSS is read: ws-rs frees
// the zlib state of a (de)compressor unused for a second or two (uWS and ws never do, so
// the wait changes nothing for them).
//
const IDLE_SETTLE_MS = 2500;

/**
 * Server RSS per connection: `n` connections (split over two client processes), each
 * sends one message and gets its echo (so permessage-deflate contexts exist), then all
 * stay idle for `IDLE_SETTLE_MS`. RSS is read after a full GC, before and after.
 *
 * @param {Number|Function} n Connections (or a function of the options)
 * @param {Boolean} deflate Whether permessage-deflate is negotiated
 * @param {Object} hello `{ size, binary }` of the one message each way
 * @return {Function} The scenario body
 */
function idle(n, deflate, hello) {
  return async (h) => {
    const count = typeof n === 'function' ? n(h.opts) : n;
    const server = await h.server(deflate);
    const clients = await h.clients(2);
    const before = await server.req({ cmd: 'usage', gc: true });
    const replies = await connectSplit(server, clients, count, deflate, hello);
    await new Promise((resolve) => setTimeout(resolve, IDLE_SETTLE_MS));
    const after = await server.req({ cmd: 'usage', gc: true });
    const errors = replies.reduce((sum, r) => sum + r.errors, 0);
    const open = after.connections;
    return {
      value: (after.rss - before.rss) / 1024 / open,
      unit: 'KiB/conn',
      higherIsBetter: false,
      extra:
        `rss ${(after.rss / 1048576).toFixed(0)} MiB, ${open} open` +
        (errors ? `, ${errors} failed` : '')
    };
  };
}

/**
 * Connection rate: open and close `total` connections, `inflight` at a time.
 *
 * @param {Number} total Connections
 * @param {Number} inflight Concurrency
 * @return {Function} The scenario body
 */
function churn(total, inflight) {
  return async (h) => {
    const server = await h.server(false);
    const [client] = await h.clients(1);
    // Warm the server's code paths a little first.
    await client.req({ cmd: 'churn', port: server.port, total: 100, inflight });
    const u0 = await server.req({ cmd: 'usage' });
    const r = await client.req({
      cmd: 'churn',
      port: server.port,
      total,
      inflight
    });
    const u1 = await server.req({ cmd: 'usage' });
    const cpuUs = u1.cpu.user + u1.cpu.system - (u0.cpu.user + u0.cpu.system);
    return {
      value: total / (r.ms / 1000),
      unit: 'conn/s',
      higherIsBetter: true,
      cpu: cpuUs / total,
      cpuUnit: 'µs/conn',
      extra: r.errors ? `${r.errors} errors` : undefined
    };
  };
}

/** The scenarios, in run order. */
const scenarios = [
  { id: 'A.64t', title: 'echo 64 B text, 1 conn', run: echo(64, false, false) },
  {
    id: 'A.64b',
    title: 'echo 64 B binary, 1 conn',
    run: echo(64, true, false)
  },
  { id: 'A.16k', title: 'echo 16 KiB binary', run: echo(16384, true, false) },
  { id: 'A.1m', title: 'echo 1 MiB binary', run: echo(1048576, true, false) },
  { id: 'B.64', title: 'stream 64 B s->c', run: stream(64) },
  { id: 'B.16k', title: 'stream 16 KiB s->c', run: stream(16384) },
  { id: 'C.1000', title: 'broadcast 64 B to 1000', run: broadcast(1000, 64) },
  {
    id: 'D.deflate',
    title: 'deflate echo 16 KiB JSON',
    run: echo(16384, false, true)
  },
  {
    id: 'D.rss1000',
    title: 'RSS, 1000 deflating conns',
    run: idle(1000, true, { size: 16384, binary: false })
  },
  {
    id: 'E.plain',
    title: 'idle RSS, no deflate',
    run: idle((opts) => opts.conns, false, { size: 64, binary: false })
  },
  {
    id: 'E.deflate',
    title: 'idle RSS, deflate',
    run: idle((opts) => opts.conns, true, { size: 2048, binary: false })
  },
  {
    id: 'F.2000',
    title: 'open+close 2000, 50 in flight',
    run: churn(2000, 50)
  },
  //
  // The same at length: F.2000 lasts under a second, most of it before V8 has
  // optimized a JavaScript server's per-connection code.
  //
  {
    id: 'F.20k',
    title: 'open+close 20000, 50 in flight',
    run: churn(20000, 50)
  }
];

module.exports = { scenarios };

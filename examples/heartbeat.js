'use strict';

//
// Heartbeat: detect broken connections that TCP alone would not report for a long time
// (a peer that vanished without a FIN, a dead NAT mapping).
//
// - Server side: every `interval` ms, each client that did not answer the previous ping
//   with a pong is terminated; the others are pinged again.
// - Client side: the server pings every `interval` ms, so a client that hears nothing
//   (no ping) for `interval + latency` ms terminates the connection itself.
//
// Usage: node examples/heartbeat.js [port]    (a server and one client, printing beats)
//

const { WebSocket, WebSocketServer } = require('ws-rs');
const { listen, run } = require('./support');

/**
 * Starts a server that pings its clients and drops those that stop answering.
 *
 * @param {Object} [options] Options
 * @param {Number} [options.port=8080] The port (0 picks a free one)
 * @param {String} [options.host='127.0.0.1'] The address to listen on
 * @param {Number} [options.interval=30000] Milliseconds between pings
 * @return {Promise<Object>} Resolves with `{ wss, port, url, close }` once listening
 * @public
 */
function startServer({
  port = 8080,
  host = '127.0.0.1',
  interval = 30000
} = {}) {
  const alive = new WeakMap();

  const wss = new WebSocketServer({ port, host });

  wss.on('connection', (ws) => {
    alive.set(ws, true);
    ws.on('error', console.error);
    ws.on('pong', () => alive.set(ws, true));
  });

  const timer = setInterval(() => {
    for (const ws of wss.clients) {
      if (!alive.get(ws)) {
        ws.terminate();
        continue;
      }

      alive.set(ws, false);
      ws.ping();
    }
  }, interval);

  wss.on('close', () => clearInterval(timer));

  return listen({
    server: wss,
    host,
    wss: [wss],
    onClose: () => clearInterval(timer)
  }).then((listening) => ({ wss, ...listening }));
}

/**
 * Connects a client that terminates the connection when the server's pings stop.
 *
 * @param {String} url The server URL
 * @param {Object} [options] Options
 * @param {Number} [options.interval=30000] The server's ping interval in ms
 * @param {Number} [options.latency=1000] Extra time allowed for a ping to arrive
 * @param {Object} [options.wsOptions] Options for the `WebSocket` constructor
 * @return {WebSocket} The client
 * @public
 */
function connect(url, { interval = 30000, latency = 1000, wsOptions } = {}) {
  const ws = new WebSocket(url, wsOptions);
  let timeout;

  /**
   * Restarts the countdown to termination: called on open and on every ping.
   *
   * @private
   */
  function heartbeat() {
    clearTimeout(timeout);
    timeout = setTimeout(() => ws.terminate(), interval + latency);
  }

  ws.on('error', console.error);
  ws.on('open', heartbeat);
  ws.on('ping', heartbeat);
  ws.on('close', () => clearTimeout(timeout));

  return ws;
}

module.exports = { startServer, connect };

if (require.main === module) {
  run(
    ({ port }) => startServer({ port, interval: 2000 }),
    ({ url }) => {
      console.log(`heartbeat server on ${url}, pinging every 2 s`);

      const ws = connect(url, { interval: 2000 });

      ws.on('ping', () => console.log('client: ping received, pong sent'));
      ws.on('close', (code) => console.log(`client: closed (${code})`));
    }
  );
}

'use strict';

//
// Server-side adapters of `bench/server-bench.js`: one small object per library with
// the same surface, so every peer runs exactly the same server program.
//
//   { port, transport, count(), stream(size) -> { stop() }, broadcast(size) -> { stop() } }
//
// Peers:
// - `ws`, `ws-bu`: npm `ws` (the orchestrator sets WS_NO_BUFFER_UTIL=1 and
//   WS_NO_UTF_8_VALIDATE=1 for the plain `ws` server process; `ws-bu` loads bufferutil and
//   utf-8-validate);
// - `ws-rs`, `ws-rs-native`: this package (`require('../..')`); the orchestrator sets
//   WS_RS_TRANSPORT=native for the second one;
// - `uws`: uWebSockets.js through `@trufflesuite/uws-js-unofficial`.
//

const path = require('path');

/** Per-connection high-water mark of the streaming scenario (B). */
const STREAM_HWM = 1024 * 1024;

/** Per-connection high-water mark of the broadcast scenario (C). */
const BROADCAST_HWM = 64 * 1024;

/**
 * Bytes a streaming connection sends per event-loop turn. A fast reader in another
 * process can keep `bufferedAmount` at 0 for ever; without a budget the sending loop
 * would never yield to I/O (and to the orchestrator's `stop`).
 */
const TICK_BYTES = 1024 * 1024;

const BINARY = { binary: true };
const TEXT = { binary: false };

/**
 * Creates the adapter of a ws-compatible library (`ws` or ws-rs).
 *
 * @param {Object} lib The module (`require('ws')` or `require('ws-rs')`)
 * @param {Boolean} deflate Whether to offer permessage-deflate
 * @param {Function} [transportOf] Tells the transport from the library
 * @param {Object} [extra] More server options
 * @return {Promise<Object>} The adapter
 */
function wsLike(lib, deflate, transportOf, extra) {
  const wss = new lib.WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    perMessageDeflate: deflate,
    maxPayload: 4 * 1024 * 1024,
    ...extra
  });
  let socketType = null;

  wss.on('connection', (ws) => {
    if (socketType === null) {
      socketType = ws._socket ? ws._socket.constructor.name : 'none';
    }
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => {
      ws.send(data, isBinary ? BINARY : TEXT);
    });
  });

  return new Promise((resolve, reject) => {
    wss.on('error', reject);
    wss.on('listening', () => {
      resolve({
        port: wss.address().port,
        transport: transportOf ? transportOf() : 'node',
        socketType: () => socketType,
        count: () => wss.clients.size,

        stream(size) {
          const buf = Buffer.alloc(size, 120);
          let stopped = false;

          /**
           * Sends until `bufferedAmount` reaches the high-water mark, then sends one
           * more with a callback and resumes when it has been written.
           *
           * @param {Object} ws The WebSocket
           */
          const pump = (ws) => {
            for (let sent = 0; !stopped && ws.readyState === 1; sent += size) {
              if (ws.bufferedAmount >= STREAM_HWM) {
                ws.send(buf, BINARY, (err) => {
                  if (!err) pump(ws);
                });
                return;
              }
              if (sent >= TICK_BYTES) {
                setImmediate(pump, ws);
                return;
              }
              ws.send(buf, BINARY);
            }
          };

          for (const ws of wss.clients) pump(ws);
          return { stop: () => (stopped = true) };
        },

        broadcast(size) {
          const buf = Buffer.alloc(size, 120);
          let stopped = false;

          // One message to every client per round, the README's
          // `wss.clients.forEach((c) => c.send(data))` pattern; wait while any client is
          // above the high-water mark so nothing piles up without bound.
          const round = () => {
            if (stopped) return;
            let max = 0;
            for (const ws of wss.clients) {
              const amount = ws.bufferedAmount;
              if (amount > max) max = amount;
            }
            if (max >= BROADCAST_HWM) {
              setTimeout(round, 1);
              return;
            }
            for (const ws of wss.clients) ws.send(buf, BINARY);
            setImmediate(round);
          };

          round();
          return { stop: () => (stopped = true) };
        }
      });
    });
  });
}

/**
 * Creates the uWebSockets.js adapter: echo in `message`, streaming driven by `drain`,
 * broadcast through its pub/sub (`app.publish()`), the idiomatic uWS way.
 *
 * @param {Boolean} deflate Whether to offer permessage-deflate (a dedicated compressor
 *     and decompressor per connection, like ws's context takeover)
 * @return {Promise<Object>} The adapter
 */
function uws(deflate) {
  const uWS = require('@trufflesuite/uws-js-unofficial');
  const sockets = new Set();
  const waiting = new Map();

  const app = uWS.App().ws('/*', {
    compression: deflate
      ? uWS.DEDICATED_COMPRESSOR | uWS.DEDICATED_DECOMPRESSOR
      : uWS.DISABLED,
    maxPayloadLength: 4 * 1024 * 1024,
    maxBackpressure: 1024 * 1024 * 1024,
    closeOnBackpressureLimit: false,
    idleTimeout: 0,
    open: (ws) => {
      sockets.add(ws);
      ws.subscribe('b');
    },
    message: (ws, message, isBinary) => {
      ws.send(message, isBinary, deflate);
    },
    drain: (ws) => {
      const pump = waiting.get(ws);
      if (pump) {
        waiting.delete(ws);
        pump(ws);
      }
    },
    close: (ws) => {
      sockets.delete(ws);
      waiting.delete(ws);
    }
  });

  return new Promise((resolve, reject) => {
    app.listen('127.0.0.1', 0, (token) => {
      if (!token) {
        reject(new Error('uWS listen failed'));
        return;
      }
      resolve({
        port: uWS.us_socket_local_port(token),
        transport: 'uws',
        socketType: () => 'uws',
        count: () => sockets.size,

        stream(size) {
          const buf = Buffer.alloc(size, 120);
          let stopped = false;

          const burst = (ws) => {
            for (let sent = 0; !stopped && sockets.has(ws); sent += size) {
              if (ws.getBufferedAmount() >= STREAM_HWM) {
                waiting.set(ws, pump);
                return;
              }
              if (sent >= TICK_BYTES) {
                setImmediate(pump, ws);
                return;
              }
              ws.send(buf, true, false);
            }
          };

          // Outside its own callbacks uWS writes every send() straight to the socket;
          // `cork()` batches them, as its documentation tells users to do.
          const pump = (ws) => {
            if (sockets.has(ws)) ws.cork(() => burst(ws));
          };

          for (const ws of sockets) pump(ws);
          return {
            stop: () => {
              stopped = true;
              waiting.clear();
            }
          };
        },

        broadcast(size) {
          const buf = Buffer.alloc(size, 120);
          let stopped = false;

          const round = () => {
            if (stopped) return;
            let max = 0;
            for (const ws of sockets) {
              const amount = ws.getBufferedAmount();
              if (amount > max) max = amount;
            }
            if (max >= BROADCAST_HWM) {
              setTimeout(round, 1);
              return;
            }
            app.publish('b', buf, true, false);
            setImmediate(round);
          };

          round();
          return { stop: () => (stopped = true) };
        }
      });
    });
  });
}

/**
 * Creates the adapter of a peer.
 *
 * @param {String} peer The peer name
 * @param {Boolean} deflate Whether to offer permessage-deflate
 * @return {Promise<Object>} The adapter
 */
function createAdapter(peer, deflate) {
  switch (peer) {
    case 'ws':
    case 'ws-bu':
      return wsLike(require('ws'), deflate);
    case 'ws-rs':
    case 'ws-rs-native':
    case 'ws-rs-http': {
      const root = path.join(__dirname, '..', '..');
      let transportOf = () => 'node';
      try {
        const { resolveTransport } = require(
          path.join(root, 'lib', 'native-socket.js')
        );
        if (typeof resolveTransport === 'function') {
          transportOf = () => resolveTransport();
        }
      } catch {
        // No native transport in this checkout: the Node-socket transport.
      }
      return wsLike(
        require(root),
        deflate,
        transportOf,
        peer === 'ws-rs-http' ? { nativeHttp: true } : {}
      );
    }
    case 'uws':
      return uws(deflate);
    default:
      return Promise.reject(new Error(`unknown peer: ${peer}`));
  }
}

module.exports = { createAdapter };

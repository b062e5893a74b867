'use strict';

//
// Helpers for tests that run two WebSocket implementations against each other: bounded
// waits, servers on `port: 0` that are tracked for the after-hooks, and a TCP tap that
// records the bytes both peers put on the wire so the frames can be inspected.
//

const net = require('net');

const DEFAULT_WAIT = 5000;

/**
 * Waits for one emission of `event`, with a time limit.
 *
 * @param {EventEmitter} emitter The emitter to listen on
 * @param {String} event The event name
 * @param {Number} [ms=5000] The time limit
 * @return {Promise<Array>} Resolves with the listener arguments
 * @public
 */
function once(emitter, event, ms = DEFAULT_WAIT) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.removeListener(event, onEvent);
      reject(new Error(`timed out after ${ms} ms waiting for '${event}'`));
    }, ms);

    /**
     * The one-shot listener.
     *
     * @param {...*} args The event arguments
     * @private
     */
    function onEvent(...args) {
      clearTimeout(timer);
      resolve(args);
    }

    emitter.once(event, onEvent);
  });
}

/**
 * Races a promise against a time limit.
 *
 * @param {Promise} promise The promise
 * @param {Number} ms The time limit
 * @param {String} what What is awaited (for the error message)
 * @return {Promise} Settles like `promise`, or rejects after `ms`
 * @public
 */
function withTimeout(promise, ms, what) {
  let timer;
  const limit = new Promise((resolve, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

/**
 * Collects `count` `'message'` events of a WebSocket.
 *
 * @param {WebSocket} ws The WebSocket
 * @param {Number} count How many messages to wait for
 * @param {Number} [ms=5000] The time limit
 * @return {Promise<Array<{data: Buffer, isBinary: Boolean}>>} The messages in order
 * @public
 */
function collect(ws, count, ms = DEFAULT_WAIT) {
  const messages = [];
  return withTimeout(
    new Promise((resolve) => {
      if (count === 0) return resolve(messages);
      ws.on('message', function onMessage(data, isBinary) {
        messages.push({ data, isBinary });
        if (messages.length === count) {
          ws.removeListener('message', onMessage);
          resolve(messages);
        }
      });
    }),
    ms,
    `${count} messages (got ${messages.length})`
  );
}

/**
 * Keeps track of everything a test opens, so that an after-hook can close it.
 */
class Tracker {
  constructor() {
    this.servers = [];
    this.sockets = [];
    this.closers = [];
  }

  /**
   * Starts a WebSocket server on 127.0.0.1, port 0.
   *
   * @param {Function} WebSocket The `WebSocket` class of the implementation
   * @param {Object} [options] Extra server options
   * @return {Promise<WebSocketServer>} The listening server
   */
  async server(WebSocket, options = {}) {
    const wss = new WebSocket.Server({
      host: '127.0.0.1',
      port: 0,
      ...options
    });
    this.track(wss);
    await once(wss, 'listening');
    return wss;
  }

  /**
   * Tracks a WebSocket server created elsewhere (e.g. on an existing HTTP server).
   *
   * @param {WebSocketServer} wss The server
   * @return {WebSocketServer} The same server
   */
  track(wss) {
    this.servers.push(wss);
    wss.on('connection', (ws) => this.sockets.push(ws));
    return wss;
  }

  /**
   * Creates a client and tracks it.
   *
   * @param {Function} WebSocket The `WebSocket` class of the implementation
   * @param {...*} args The constructor arguments
   * @return {WebSocket} The client
   */
  client(WebSocket, ...args) {
    const ws = new WebSocket(...args);
    this.sockets.push(ws);
    return ws;
  }

  /**
   * Registers a cleanup function.
   *
   * @param {Function} fn Called (and awaited) by `cleanup()`
   */
  defer(fn) {
    this.closers.push(fn);
  }

  /**
   * Terminates every WebSocket and closes every server (bounded).
   *
   * @return {Promise} Resolves when done
   */
  async cleanup() {
    const sockets = this.sockets.splice(0);
    const servers = this.servers.splice(0);
    const closers = this.closers.splice(0);

    for (const ws of sockets) {
      if (!ws.listenerCount('error')) ws.on('error', () => {});
      if (ws.readyState !== ws.CLOSED) ws.terminate();
    }
    const pending = servers.map((wss) =>
      withTimeout(
        new Promise((resolve) => wss.close(() => resolve())),
        2000,
        'a server to close'
      ).catch(() => {})
    );
    for (const fn of closers) pending.push(Promise.resolve().then(fn));
    await Promise.all(pending);
  }
}

/**
 * Starts a TCP tap: a proxy on 127.0.0.1:0 that forwards to `targetPort` and records the
 * bytes of each connection in both directions.
 *
 * @param {Number} targetPort The port to forward to
 * @param {Tracker} tracker Closes the tap in its cleanup
 * @return {Promise<Object>} `{ port, connections }`; each connection has `up` (client to
 *     server) and `down` (server to client) arrays of Buffers and a `done` promise that
 *     resolves once both sides are closed
 * @public
 */
async function tap(targetPort, tracker) {
  const connections = [];
  const sockets = new Set();
  const proxy = net.createServer((inbound) => {
    const outbound = net.connect(targetPort, '127.0.0.1');
    const conn = { up: [], down: [] };
    let open = 2;
    conn.done = new Promise((resolve) => {
      const onClose = () => {
        if (--open === 0) resolve();
      };
      inbound.on('close', onClose);
      outbound.on('close', onClose);
    });
    connections.push(conn);
    for (const [from, to, log] of [
      [inbound, outbound, conn.up],
      [outbound, inbound, conn.down]
    ]) {
      sockets.add(from);
      from.on('data', (chunk) => {
        log.push(chunk);
        to.write(chunk);
      });
      from.on('end', () => to.end());
      from.on('error', () => to.destroy());
      from.on('close', () => {
        sockets.delete(from);
        to.destroy();
      });
    }
  });
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  tracker.defer(
    () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        proxy.close(() => resolve());
      })
  );
  return { port: proxy.address().port, connections };
}

/**
 * Splits a recorded direction of a WebSocket connection into its HTTP head and frames.
 * Payloads are unmasked; a trailing incomplete frame is reported as `truncated`.
 *
 * @param {Buffer[]} chunks The recorded bytes
 * @return {Object} `{ head, headers, frames, truncated }`, `headers` lower-cased
 * @public
 */
function parseWire(chunks) {
  const buf = Buffer.concat(chunks);
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) {
    return {
      head: buf.toString('latin1'),
      headers: {},
      frames: [],
      truncated: false
    };
  }
  const head = buf.toString('latin1', 0, end);
  const headers = {};
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }

  const frames = [];
  let offset = end + 4;
  let truncated = false;
  while (offset < buf.length) {
    if (buf.length - offset < 2) {
      truncated = true;
      break;
    }
    const b0 = buf[offset];
    const b1 = buf[offset + 1];
    let length = b1 & 0x7f;
    let pos = offset + 2;
    if (length === 126) {
      if (buf.length < pos + 2) {
        truncated = true;
        break;
      }
      length = buf.readUInt16BE(pos);
      pos += 2;
    } else if (length === 127) {
      if (buf.length < pos + 8) {
        truncated = true;
        break;
      }
      length = Number(buf.readBigUInt64BE(pos));
      pos += 8;
    }
    const masked = (b1 & 0x80) !== 0;
    let mask = null;
    if (masked) {
      mask = buf.subarray(pos, pos + 4);
      pos += 4;
    }
    if (buf.length < pos + length) {
      truncated = true;
      break;
    }
    const payload = Buffer.from(buf.subarray(pos, pos + length));
    if (mask)
      for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
    frames.push({
      fin: (b0 & 0x80) !== 0,
      rsv1: (b0 & 0x40) !== 0,
      rsv2: (b0 & 0x20) !== 0,
      rsv3: (b0 & 0x10) !== 0,
      opcode: b0 & 0x0f,
      masked,
      length,
      payload
    });
    offset = pos + length;
  }
  return { head, headers, frames, truncated };
}

/**
 * The shape of a frame sequence without compressed payload sizes, which depend on the
 * deflate implementation: opcode, FIN, RSV1, and the length of uncompressed data frames
 * and of control frames.
 *
 * @param {Object[]} frames Frames from `parseWire()`
 * @return {String[]} One line per frame
 * @public
 */
function frameShapes(frames) {
  let compressed = false;
  return frames.map((f) => {
    if (f.opcode === 1 || f.opcode === 2) compressed = f.rsv1;
    const dataFrame = f.opcode < 8;
    const size = dataFrame && compressed ? 'deflated' : `${f.length}`;
    return `op=${f.opcode} fin=${+f.fin} rsv1=${+f.rsv1} len=${size}`;
  });
}

module.exports = {
  Tracker,
  collect,
  frameShapes,
  once,
  parseWire,
  tap,
  withTimeout
};

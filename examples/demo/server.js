'use strict';

//
// The `npm start` demo: an HTTP server that serves one page (./index.html) and a ws-rs
// WebSocketServer on the same port. The page is a chat room that uses the browser's own
// `WebSocket`: every open tab sees every message, the live number of connections and how
// many messages per second the server handles.
//
// Usage: npm start [-- <port>]        or   PORT=9000 npm start
// Listens on 127.0.0.1 (default port 8080).
//
// permessage-deflate is enabled with `threshold: 0` so that even short chat lines travel
// compressed in both directions: the browser compresses what it sends, and the server's
// frames go through the Rust deflate of ws-rs.
//

const fs = require('fs');
const http = require('http');
const path = require('path');
const { WebSocket, WebSocketServer } = require('ws-rs');
const { listen, run } = require('../support');

const PAGE = path.join(__dirname, 'index.html');
const MAX_TEXT = 500;

/**
 * Starts the demo.
 *
 * @param {Object} [options] Options
 * @param {Number} [options.port=8080] The port (0 picks a free one)
 * @param {String} [options.host='127.0.0.1'] The address to listen on
 * @param {Number} [options.statsInterval=1000] How often (ms) every client is sent the
 *     connection count and the message rate
 * @return {Promise<Object>} Resolves with `{ server, wss, port, url, close }` once listening
 * @public
 */
function start({ port = 8080, host = '127.0.0.1', statsInterval = 1000 } = {}) {
  const page = fs.readFileSync(PAGE);
  const server = http.createServer((req, res) => {
    const { pathname } = new URL(req.url, 'http://localhost');

    if (
      req.method === 'GET' &&
      (pathname === '/' || pathname === '/index.html')
    ) {
      res.writeHead(200, {
        'Content-Type': 'text/html; charset=utf-8',
        'Content-Length': page.length,
        'Cache-Control': 'no-store'
      });
      res.end(page);
      return;
    }

    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('Not found\n');
  });

  const wss = new WebSocketServer({
    server,
    path: '/chat',
    maxPayload: 64 * 1024,
    perMessageDeflate: { threshold: 0 }
  });

  let nextId = 1;
  let handled = 0;
  let rate = 0;

  /**
   * Sends a JSON value to every open client.
   *
   * @param {Object} value The value to send
   * @private
   */
  function broadcast(value) {
    const data = JSON.stringify(value);

    for (const client of wss.clients) {
      if (client.readyState === WebSocket.OPEN) client.send(data);
    }
  }

  /**
   * Sends the live numbers to every client.
   *
   * @private
   */
  function broadcastStats() {
    broadcast({ type: 'stats', connections: wss.clients.size, rate });
  }

  wss.on('connection', (ws) => {
    const name = `guest-${nextId++}`;

    ws.send(
      JSON.stringify({ type: 'welcome', name, extensions: ws.extensions })
    );
    broadcast({ type: 'system', text: `${name} joined` });
    broadcastStats();

    ws.on('message', (data, isBinary) => {
      handled++;
      if (isBinary) return;

      let message;

      try {
        message = JSON.parse(data.toString());
      } catch {
        return;
      }

      if (
        message === null ||
        message.type !== 'chat' ||
        typeof message.text !== 'string'
      ) {
        return;
      }

      const text = message.text.trim().slice(0, MAX_TEXT);

      if (text) broadcast({ type: 'chat', from: name, text, at: Date.now() });
    });

    ws.on('close', () => {
      broadcast({ type: 'system', text: `${name} left` });
      broadcastStats();
    });

    ws.on('error', () => {
      // The 'close' event follows; nothing else to do for a chat participant.
    });
  });

  const timer = setInterval(() => {
    rate = (handled * 1000) / statsInterval;
    handled = 0;
    broadcastStats();
  }, statsInterval);
  timer.unref();

  return listen({
    server,
    port,
    host,
    wss: [wss],
    scheme: 'http',
    onClose: () => clearInterval(timer)
  }).then((listening) => ({
    server,
    wss,
    ...listening,
    // The page, which connects to `/chat` on the same port.
    url: `${listening.url}/`
  }));
}

module.exports = { start };

if (require.main === module) {
  run(start, (demo) => {
    console.log(`ws-rs demo: open ${demo.url} in a few tabs (Ctrl+C to stop)`);
  });
}

'use strict';

//
// Echo server: every message comes back to its sender, text as text and binary as
// binary.
//
// Usage: node examples/echo-server.js [port]      (default 8080, on 127.0.0.1)
// Try:   node -e "const W = require('ws-rs'); const ws = new W('ws://127.0.0.1:8080');
//          ws.on('open', () => ws.send('hi')); ws.on('message', (m) => { console.log(String(m)); ws.close(); })"
//

const { WebSocketServer } = require('ws-rs');
const { listen, run } = require('./support');

/**
 * Starts the echo server.
 *
 * @param {Object} [options] Options
 * @param {Number} [options.port=8080] The port (0 picks a free one)
 * @param {String} [options.host='127.0.0.1'] The address to listen on
 * @return {Promise<Object>} Resolves with `{ wss, port, url, close }` once listening
 * @public
 */
function start({ port = 8080, host = '127.0.0.1' } = {}) {
  const wss = new WebSocketServer({ port, host });

  wss.on('connection', (ws) => {
    ws.on('error', console.error);
    ws.on('message', (data, isBinary) => {
      ws.send(data, { binary: isBinary });
    });
  });

  return listen({ server: wss, host, wss: [wss] }).then((listening) => ({
    wss,
    ...listening
  }));
}

module.exports = { start };

if (require.main === module) {
  run(start, ({ url }) => console.log(`echo server listening on ${url}`));
}

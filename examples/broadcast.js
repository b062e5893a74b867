'use strict';

//
// Broadcast: a text message starting with "all:" goes to every connected client,
// the sender included; any other message goes to every client except the sender.
//
// Usage: node examples/broadcast.js [port]      (default 8080, on 127.0.0.1)
//

const { WebSocket, WebSocketServer } = require('ws-rs');
const { listen, run } = require('./support');

/**
 * Starts the broadcast server.
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
      const toAll = !isBinary && data.toString().startsWith('all:');

      // Broadcast to all clients, or to all but the sender.
      wss.clients.forEach((client) => {
        if ((toAll || client !== ws) && client.readyState === WebSocket.OPEN) {
          client.send(data, { binary: isBinary });
        }
      });
    });
  });

  return listen({ server: wss, host, wss: [wss] }).then((listening) => ({
    wss,
    ...listening
  }));
}

module.exports = { start };

if (require.main === module) {
  run(start, ({ url }) => console.log(`broadcast server listening on ${url}`));
}

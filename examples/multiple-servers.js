'use strict';

//
// Multiple WebSocket servers on one HTTP server, chosen by the request path: each
// `WebSocketServer` is created with `noServer: true` and the HTTP server's 'upgrade'
// listener hands the request to the one that owns the path. Other paths are refused.
//
// Usage: node examples/multiple-servers.js [port]   then connect to /foo or /bar
//

const http = require('http');
const { WebSocketServer } = require('ws-rs');
const { listen, run } = require('./support');

/**
 * Starts one HTTP server with a WebSocket server on `/foo` and another on `/bar`.
 *
 * @param {Object} [options] Options
 * @param {Number} [options.port=8080] The port (0 picks a free one)
 * @param {String} [options.host='127.0.0.1'] The address to listen on
 * @return {Promise<Object>} Resolves with `{ server, servers, port, url, close }`
 * @public
 */
function start({ port = 8080, host = '127.0.0.1' } = {}) {
  const server = http.createServer();
  const servers = {
    '/foo': new WebSocketServer({ noServer: true }),
    '/bar': new WebSocketServer({ noServer: true })
  };

  for (const [path, wss] of Object.entries(servers)) {
    wss.on('connection', (ws) => {
      ws.on('error', console.error);
      ws.send(`welcome to ${path}`);
    });
  }

  server.on('upgrade', (req, socket, head) => {
    const { pathname } = new URL(req.url, 'http://localhost');
    const wss = servers[pathname];

    if (!wss) {
      socket.end(
        'HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'
      );
      return;
    }

    wss.handleUpgrade(req, socket, head, (ws) => {
      wss.emit('connection', ws, req);
    });
  });

  const wss = Object.values(servers);

  return listen({ server, port, host, wss }).then((listening) => ({
    server,
    servers,
    ...listening
  }));
}

module.exports = { start };

if (require.main === module) {
  run(start, ({ url }) => {
    console.log(`WebSocket servers on ${url}/foo and ${url}/bar`);
  });
}

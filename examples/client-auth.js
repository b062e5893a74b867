'use strict';

//
// Client authentication during the opening handshake: the HTTP server's 'upgrade'
// listener checks the request (here a bearer token) before ws-rs completes the
// handshake, and answers `401 Unauthorized` without upgrading when it fails. The
// authenticated user is passed on to the 'connection' listener.
//
// Usage: node examples/client-auth.js [port]
// Try:   a client with `{ headers: { Authorization: 'Bearer secret-alice' } }`
//

const http = require('http');
const { WebSocketServer } = require('ws-rs');
const { listen, run } = require('./support');

/**
 * The known tokens and their users (a real server would look them up).
 */
const TOKENS = new Map([
  ['secret-alice', { name: 'alice' }],
  ['secret-bob', { name: 'bob' }]
]);

/**
 * Finds the user of a request from its `Authorization: Bearer` header.
 *
 * @param {http.IncomingMessage} req The upgrade request
 * @return {Object|undefined} The user, if the token is known
 * @private
 */
function authenticate(req) {
  const match = /^Bearer (\S+)$/.exec(req.headers.authorization || '');

  return match ? TOKENS.get(match[1]) : undefined;
}

/**
 * Logs socket errors that happen before the upgrade completes.
 *
 * @param {Error} err The error
 * @private
 */
function onSocketError(err) {
  console.error(err);
}

/**
 * Starts a server that only accepts authenticated WebSocket clients.
 *
 * @param {Object} [options] Options
 * @param {Number} [options.port=8080] The port (0 picks a free one)
 * @param {String} [options.host='127.0.0.1'] The address to listen on
 * @return {Promise<Object>} Resolves with `{ server, wss, port, url, close }`
 * @public
 */
function start({ port = 8080, host = '127.0.0.1' } = {}) {
  const server = http.createServer();
  const wss = new WebSocketServer({ noServer: true });

  wss.on('connection', (ws, req, user) => {
    ws.on('error', console.error);
    ws.on('message', (data) => {
      ws.send(`${user.name} said: ${data}`);
    });
    ws.send(`hello ${user.name}`);
  });

  server.on('upgrade', (req, socket, head) => {
    socket.on('error', onSocketError);

    const user = authenticate(req);

    if (!user) {
      socket.write('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
      socket.destroy();
      return;
    }

    socket.removeListener('error', onSocketError);
    wss.handleUpgrade(req, socket, head, (ws) => {
      wss.emit('connection', ws, req, user);
    });
  });

  return listen({ server, port, host, wss: [wss] }).then((listening) => ({
    server,
    wss,
    ...listening
  }));
}

module.exports = { start, TOKENS };

if (require.main === module) {
  run(start, ({ url }) => {
    console.log(
      `authenticated WebSocket server on ${url} (token: secret-alice)`
    );
  });
}

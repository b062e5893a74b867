'use strict';

//
// An external HTTP or HTTPS server: the WebSocket server shares the port of a server
// that also answers plain HTTP requests. Pass a key and certificate and it is HTTPS
// (`wss://`), otherwise HTTP (`ws://`).
//
// Usage: node examples/external-server.js [port]
//        TLS_KEY=key.pem TLS_CERT=cert.pem node examples/external-server.js [port]
//

const fs = require('fs');
const http = require('http');
const https = require('https');
const { WebSocketServer } = require('ws-rs');
const { listen, run } = require('./support');

/**
 * Starts an HTTP(S) server with a WebSocket server on it.
 *
 * @param {Object} [options] Options
 * @param {Number} [options.port=8080] The port (0 picks a free one)
 * @param {String} [options.host='127.0.0.1'] The address to listen on
 * @param {Object} [options.tls] `{ key, cert }` (PEM) to serve HTTPS and `wss://`
 * @return {Promise<Object>} Resolves with `{ server, wss, port, url, httpUrl, close }`
 * @public
 */
function start({ port = 8080, host = '127.0.0.1', tls } = {}) {
  /**
   * Answers the plain HTTP requests.
   *
   * @param {http.IncomingMessage} req The request
   * @param {http.ServerResponse} res The response
   * @private
   */
  function onRequest(req, res) {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('This server also speaks WebSocket\n');
  }

  const server = tls
    ? https.createServer(tls, onRequest)
    : http.createServer(onRequest);
  const wss = new WebSocketServer({ server });

  wss.on('connection', (ws, req) => {
    ws.on('error', console.error);
    ws.on('message', (data) => {
      ws.send(`received over ${req.socket.encrypted ? 'wss' : 'ws'}: ${data}`);
    });
  });

  const scheme = tls ? 's' : '';

  return listen({ server, port, host, wss: [wss], scheme: `ws${scheme}` }).then(
    (listening) => ({
      server,
      wss,
      ...listening,
      httpUrl: `http${scheme}://${host}:${listening.port}/`
    })
  );
}

module.exports = { start };

if (require.main === module) {
  const tls =
    process.env.TLS_KEY && process.env.TLS_CERT
      ? {
          key: fs.readFileSync(process.env.TLS_KEY),
          cert: fs.readFileSync(process.env.TLS_CERT)
        }
      : undefined;

  run(
    (options) => start({ ...options, tls }),
    ({ url, httpUrl }) => console.log(`HTTP on ${httpUrl}, WebSocket on ${url}`)
  );
}

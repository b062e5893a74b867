'use strict';

//
// `createWebSocketStream`: a WebSocket as a Node.js Duplex stream. Standard input is
// piped into the WebSocket and what comes back is piped to standard output; when stdin
// ends, the stream ends, the connection closes and the process exits.
//
// Usage: echo hello | node examples/stream-stdin.js [ws://host:port]
// Without a URL it starts its own server that answers every message in upper case.
//

const { createWebSocketStream, WebSocket, WebSocketServer } = require('ws-rs');

/**
 * Starts a server that answers every message in upper case.
 *
 * @return {Promise<WebSocketServer>} Resolves once listening on a free port
 * @private
 */
function startUpperCaseServer() {
  return new Promise((resolve) => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' }, () =>
      resolve(wss)
    );

    wss.on('connection', (ws) => {
      ws.on('error', console.error);
      ws.on('message', (data) => ws.send(data.toString().toUpperCase()));
    });
  });
}

/**
 * Pipes `input` through a WebSocket to `output`.
 *
 * @param {String} url The server URL
 * @param {stream.Readable} input Where the data comes from
 * @param {stream.Writable} output Where the answers go
 * @return {Promise<void>} Resolves when the connection is closed
 * @public
 */
function pipeThrough(url, input, output) {
  const ws = new WebSocket(url);
  const duplex = createWebSocketStream(ws, { encoding: 'utf8' });

  duplex.on('error', console.error);
  input.pipe(duplex);
  duplex.pipe(output, { end: false });

  return new Promise((resolve) => ws.once('close', () => resolve()));
}

module.exports = { pipeThrough };

if (require.main === module) {
  (async () => {
    let wss;
    let url = process.argv[2];

    if (!url) {
      wss = await startUpperCaseServer();
      url = `ws://127.0.0.1:${wss.address().port}`;
    }

    await pipeThrough(url, process.stdin, process.stdout);
    if (wss) wss.close();
  })();
}

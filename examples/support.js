'use strict';

//
// The plumbing shared by the examples, so that each example file shows only its
// WebSocket code: waiting for a server to listen, the `close()` that every `start()`
// returns, and running an example from the command line. Not an example itself.
//

const { WebSocketServer } = require('ws-rs');

/**
 * Waits until `server` listens and resolves with `{ port, url, close }`.
 *
 * @param {Object} options Options
 * @param {(http.Server|https.Server|WebSocketServer)} options.server What listens:
 *     an HTTP(S) server, which is told to listen on `port` and `host`, or a
 *     `WebSocketServer` created with the `port` option, which listens on its own
 * @param {Number} [options.port] The port for the HTTP(S) server (0 picks a free one)
 * @param {String} options.host The address to listen on
 * @param {WebSocketServer[]} options.wss The WebSocket servers that `close()` closes
 * @param {String} [options.scheme='ws'] The scheme of `url`
 * @param {Function} [options.onClose] Called first by `close()`, e.g. to stop a timer
 * @return {Promise<Object>} Resolves with the actual `port`, the `url` of the
 *     WebSocket server and `close()`, which terminates every client and closes the
 *     servers and resolves when they are closed
 * @public
 */
function listen({ server, port, host, wss, scheme = 'ws', onClose }) {
  return new Promise((resolve, reject) => {
    const onListening = () => {
      server.removeListener('error', reject);

      const actual = server.address().port;

      resolve({
        port: actual,
        url: `${scheme}://${host}:${actual}`,
        close() {
          if (onClose) onClose();
          for (const webSocketServer of wss) {
            // `wss.close()` leaves open connections alone (as in ws): end them first.
            for (const client of webSocketServer.clients) client.terminate();
            if (webSocketServer !== server) webSocketServer.close();
          }
          return new Promise((done) => server.close(() => done()));
        }
      });
    };

    server.once('error', reject);
    if (server instanceof WebSocketServer) {
      server.once('listening', onListening);
    } else {
      server.listen(port, host, onListening);
    }
  });
}

/**
 * Runs an example from the command line: starts it on the port given as the first
 * argument or in `PORT` (8080 by default) and closes it on Ctrl+C or `SIGTERM`.
 *
 * @param {Function} start `({ port })`, resolving with an object with `close()`
 * @param {Function} onStart Called with what `start` resolved with, e.g. to print
 *     where the example listens
 * @public
 */
function run(start, onStart) {
  const port = Number(process.argv[2] || process.env.PORT || 8080);

  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`Invalid port: ${process.argv[2] || process.env.PORT}`);
    process.exit(2);
  }

  start({ port }).then(
    (started) => {
      onStart(started);

      // `once`: a second Ctrl+C ends the process at once, as by default.
      const stop = () => started.close().then(() => process.exit(0));

      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    },
    (err) => {
      console.error(`Cannot listen on 127.0.0.1:${port}: ${err.message}`);
      process.exit(1);
    }
  );
}

module.exports = { listen, run };

'use strict';

//
// Express-style integration: an app made of connect-style middleware `(req, res, next)`
// serves HTTP, and the same session middleware runs on the WebSocket upgrade request so
// that only logged-in users get a WebSocket. With Express itself the shape is the same:
// pass the Express app to `http.createServer(app)` and call the session parser (for
// example `express-session`) from the 'upgrade' listener as below. The tiny `createApp`
// here stands in for Express so that the example needs no other package.
//
// Usage: node examples/express-style.js [port]
//   curl -i -X POST http://127.0.0.1:8080/login   -> Set-Cookie: sid=...
//   then connect to ws://127.0.0.1:8080 with that Cookie header
//

const crypto = require('crypto');
const http = require('http');
const { WebSocketServer } = require('ws-rs');
const { listen, run } = require('./support');

/**
 * A minimal connect/Express-like app: `use(fn)`, `post(path, fn)` and the app itself
 * is the request listener.
 *
 * @return {Function} The app
 * @private
 */
function createApp() {
  const stack = [];

  /**
   * Runs the middleware stack for one request.
   *
   * @param {http.IncomingMessage} req The request
   * @param {http.ServerResponse} res The response
   * @private
   */
  function app(req, res) {
    let index = 0;

    const next = (err) => {
      const layer = stack[index++];

      if (err || !layer) {
        res.statusCode = err ? 500 : 404;
        res.end(err ? 'Internal Server Error\n' : 'Not Found\n');
        return;
      }

      if (layer.method && layer.method !== req.method) return next();
      if (
        layer.path &&
        layer.path !== new URL(req.url, 'http://localhost').pathname
      ) {
        return next();
      }

      try {
        layer.fn(req, res, next);
      } catch (error) {
        next(error);
      }
    };

    next();
  }

  app.use = (fn) => stack.push({ fn });
  app.post = (path, fn) => stack.push({ method: 'POST', path, fn });
  return app;
}

/**
 * Makes a cookie-based session middleware with an in-memory store.
 *
 * @return {Function} `(req, res, next)`: sets `req.session` (an object, empty for a
 *     new visitor) and `req.sessionId`
 * @private
 */
function createSessionParser() {
  const sessions = new Map();

  return function sessionParser(req, res, next) {
    const match = /(?:^|;\s*)sid=([0-9a-f]{32})/.exec(req.headers.cookie || '');

    if (match && sessions.has(match[1])) {
      req.sessionId = match[1];
    } else {
      req.sessionId = crypto.randomBytes(16).toString('hex');
      sessions.set(req.sessionId, {});
      if (res.setHeader) {
        res.setHeader(
          'Set-Cookie',
          `sid=${req.sessionId}; HttpOnly; SameSite=Strict`
        );
      }
    }

    req.session = sessions.get(req.sessionId);
    next();
  };
}

/**
 * Starts the app and its WebSocket server on one port.
 *
 * @param {Object} [options] Options
 * @param {Number} [options.port=8080] The port (0 picks a free one)
 * @param {String} [options.host='127.0.0.1'] The address to listen on
 * @return {Promise<Object>} Resolves with `{ server, wss, port, url, httpUrl, close }`
 * @public
 */
function start({ port = 8080, host = '127.0.0.1' } = {}) {
  const sessionParser = createSessionParser();
  const app = createApp();
  let nextUser = 1;

  app.use(sessionParser);
  app.post('/login', (req, res) => {
    req.session.userId = `user-${nextUser++}`;
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ result: 'OK', userId: req.session.userId }));
  });
  app.post('/logout', (req, res) => {
    delete req.session.userId;
    res.end('{"result":"OK"}');
  });

  const server = http.createServer(app);
  const wss = new WebSocketServer({ noServer: true });

  server.on('upgrade', (req, socket, head) => {
    socket.on('error', console.error);

    // The upgrade request has no response object; the parser only reads cookies here.
    sessionParser(req, {}, () => {
      if (!req.session.userId) {
        socket.write('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
        socket.destroy();
        return;
      }

      socket.removeListener('error', console.error);
      wss.handleUpgrade(req, socket, head, (ws) => {
        wss.emit('connection', ws, req);
      });
    });
  });

  wss.on('connection', (ws, req) => {
    const { userId } = req.session;

    ws.on('error', console.error);
    ws.on('message', (data) => ws.send(`${userId}: ${data}`));
    ws.send(`welcome ${userId}`);
  });

  return listen({ server, port, host, wss: [wss] }).then((listening) => ({
    server,
    wss,
    ...listening,
    httpUrl: `http://${host}:${listening.port}`
  }));
}

module.exports = { start, createApp };

if (require.main === module) {
  run(start, ({ httpUrl }) => {
    console.log(
      `app on ${httpUrl}: POST /login, then open a WebSocket with the cookie`
    );
  });
}

'use strict';

const EventEmitter = require('events');
const http = require('http');

const extension = require('./extension');
const PerMessageDeflate = require('./permessage-deflate');
const subprotocol = require('./subprotocol');
const NativeHttpServer = require('./native-server');
const WebSocket = require('./websocket');
const { canAdopt, NativeSocket, resolveTransport } = require('./native-socket');
const { CLOSE_TIMEOUT, kWebSocket } = require('./constants');

//
// `Sec-WebSocket-Accept` (RFC 6455 section 4.2.2) and the key check (16 bytes
// of base64, section 4.1) are computed by the native core.
//
const { acceptKey, isValidKey } = require('./native');

//
// The life cycle of a server, in ws's numbers: `_state` is read by users and
// by ws's tests.
//
const RUNNING = 0;
const CLOSING = 1;
const CLOSED = 2;

const OPTIONS_ERROR =
  'One and only one of the "port", "server", or "noServer" options must be ' +
  'specified';

/**
 * Class representing a WebSocket server.
 *
 * @extends EventEmitter
 */
class WebSocketServer extends EventEmitter {
  /**
   * Create a `WebSocketServer` instance.
   *
   * @param {Object} options Configuration options
   * @param {Boolean} [options.allowSynchronousEvents=true] Specifies whether
   *     any of the `'message'`, `'ping'`, and `'pong'` events can be emitted
   *     multiple times in the same tick
   * @param {Boolean} [options.autoPong=true] Specifies whether or not to
   *     automatically send a pong in response to a ping
   * @param {Number} [options.backlog=511] The maximum length of the queue of
   *     pending connections
   * @param {Boolean} [options.clientTracking=true] Specifies whether or not to
   *     track clients
   * @param {Number} [options.closeTimeout=30000] Duration in milliseconds to
   *     wait for the closing handshake to finish after `websocket.close()` is
   *     called
   * @param {Function} [options.handleProtocols] A hook to handle protocols
   * @param {String} [options.host] The hostname where to bind the server
   * @param {Number} [options.maxBufferedChunks=1048576] The maximum number of
   *     buffered data chunks
   * @param {Number} [options.maxFragments=131072] The maximum number of message
   *     fragments
   * @param {Number} [options.maxPayload=104857600] The maximum allowed message
   *     size
   * @param {Boolean} [options.nativeHttp=false] ws-rs only: with `port`, Rust
   *     listens and reads the HTTP handshake (`_server` is then not an
   *     `http.Server`)
   * @param {Boolean} [options.noServer=false] Enable no server mode
   * @param {String} [options.path] Accept only connections matching this path
   * @param {(Boolean|Object)} [options.perMessageDeflate=false] Enable/disable
   *     permessage-deflate
   * @param {Number} [options.port] The port where to bind the server
   * @param {(http.Server|https.Server)} [options.server] A pre-created HTTP/S
   *     server to use
   * @param {Boolean} [options.skipUTF8Validation=false] Specifies whether or
   *     not to skip UTF-8 validation for text and close messages
   * @param {Function} [options.verifyClient] A hook to reject connections
   * @param {Function} [options.WebSocket=WebSocket] Specifies the `WebSocket`
   *     class to use. It must be the `WebSocket` class or class that extends it
   * @param {Function} [callback] A listener for the `listening` event
   */
  constructor(options, callback) {
    super();

    const opts = Object.assign(
      {
        allowSynchronousEvents: true,
        autoPong: true,
        maxBufferedChunks: 1024 * 1024,
        maxFragments: 128 * 1024,
        maxPayload: 100 * 1024 * 1024,
        skipUTF8Validation: false,
        perMessageDeflate: false,
        handleProtocols: null,
        clientTracking: true,
        closeTimeout: CLOSE_TIMEOUT,
        verifyClient: null,
        noServer: false,
        backlog: null, // `net` picks its default (511)
        server: null,
        host: null,
        nativeHttp: undefined,
        path: null,
        port: null,
        WebSocket
      },
      options
    );

    const hasPort = opts.port !== null && opts.port !== undefined;
    const modes = [hasPort, opts.server, opts.noServer].filter(Boolean);

    if (modes.length !== 1) {
      throw new TypeError(OPTIONS_ERROR);
    }

    if (opts.nativeHttp === undefined) {
      opts.nativeHttp =
        process.env.WS_RS_NATIVE_HTTP === '1' &&
        resolveTransport(opts.transport) !== 'node';
    }

    if (hasPort && opts.nativeHttp) {
      if (opts.transport === 'node') {
        throw new TypeError(
          'The `nativeHttp` option needs the native transport'
        );
      }

      //
      // Its connections are Rust's from the first byte: no Node socket to
      // fall back to.
      //
      opts.transport = 'native';
      this._server = new NativeHttpServer();
      this._server.listen(opts.port, opts.host, opts.backlog, callback);
    } else if (hasPort) {
      this._server = http.createServer(answerUpgradeRequired);
      this._server.listen(opts.port, opts.host, opts.backlog, callback);
    } else if (opts.server) {
      this._server = opts.server;
    }

    if (this._server) this._removeListeners = forwardServerEvents(this);

    if (opts.perMessageDeflate === true) opts.perMessageDeflate = {};

    if (opts.clientTracking) this.clients = new Set();

    this._shouldEmitClose = false;
    this._nativeConnections = 0;
    this._forgetClosed = (ws) => forgetClosed(this, ws);
    this.options = opts;
    this._state = RUNNING;
  }

  /**
   * Returns the bound address, the address family name, and port of the server
   * as reported by the operating system if listening on an IP socket.
   * If the server is listening on a pipe or UNIX domain socket, the name is
   * returned as a string.
   *
   * @return {(Object|String|null)} The address of the server
   * @public
   */
  address() {
    if (this.options.noServer) {
      throw new Error('The server is operating in "noServer" mode');
    }

    return this._server ? this._server.address() : null;
  }

  /**
   * Stop the server from accepting new connections and emit the `'close'` event
   * when all existing connections are closed.
   *
   * @param {Function} [cb] A one-time listener for the `'close'` event
   * @public
   */
  close(cb) {
    if (this._state === CLOSED) {
      if (cb) {
        this.once('close', () => cb(new Error('The server is not running')));
      }
      process.nextTick(emitClose, this);
      return;
    }

    if (cb) this.once('close', cb);
    if (this._state === CLOSING) return;

    this._state = CLOSING;

    const server = this._server;
    const ownsServer = !this.options.noServer && !this.options.server;

    if (server) {
      this._removeListeners();
      this._removeListeners = null;
      this._server = null;
    }

    if (ownsServer) {
      //
      // The HTTP server was created here: its `'close'` event marks the end,
      // once its connections, upgraded ones included, are closed (they are
      // not closed here: ws documents this). It no longer counts those Rust
      // took over: they are counted here.
      //
      server.close(() => {
        if (this._nativeConnections === 0) emitClose(this);
        else this._shouldEmitClose = true;
      });
      return;
    }

    if (this.clients && this.clients.size) {
      //
      // Wait for the tracked clients: the last one to close emits `'close'`.
      //
      this._shouldEmitClose = true;
    } else {
      process.nextTick(emitClose, this);
    }
  }

  /**
   * See if a given request should be handled by this server instance.
   *
   * @param {http.IncomingMessage} req Request object to inspect
   * @return {Boolean} `true` if the request is valid, else `false`
   * @public
   */
  shouldHandle(req) {
    const path = this.options.path;

    if (!path) return true;

    //
    // The query string does not take part in the comparison.
    //
    const url = req.url;
    const query = url.indexOf('?');

    return (query === -1 ? url : url.slice(0, query)) === path;
  }

  /**
   * Handle a HTTP Upgrade request.
   *
   * @param {http.IncomingMessage} req The request object
   * @param {Duplex} socket The network socket between the server and client
   * @param {Buffer} head The first packet of the upgraded stream
   * @param {Function} cb Callback
   * @public
   */
  handleUpgrade(req, socket, head, cb) {
    socket.on('error', socketOnError);

    const headers = req.headers;
    const key = headers['sec-websocket-key'];
    const upgrade = headers.upgrade;
    const version = Number(headers['sec-websocket-version']);

    //
    // RFC 6455 section 4.2.1 lists what a valid opening handshake is made of.
    // The checks run in ws's order so that the same request fails in the same
    // way.
    //
    if (req.method !== 'GET') {
      rejectOrReport(this, req, socket, 405, 'Invalid HTTP method');
      return;
    }

    if (typeof upgrade !== 'string' || upgrade.toLowerCase() !== 'websocket') {
      rejectOrReport(this, req, socket, 400, 'Invalid Upgrade header');
      return;
    }

    if (key === undefined || !isValidKey(key)) {
      rejectOrReport(
        this,
        req,
        socket,
        400,
        'Missing or invalid Sec-WebSocket-Key header'
      );
      return;
    }

    //
    // Version 8 is the last draft (hybi-10) and is accepted too, like ws does.
    //
    if (version !== 13 && version !== 8) {
      rejectOrReport(
        this,
        req,
        socket,
        400,
        'Missing or invalid Sec-WebSocket-Version header',
        { 'Sec-WebSocket-Version': '13, 8' }
      );
      return;
    }

    if (!this.shouldHandle(req)) {
      writeHttpError(socket, 400);
      return;
    }

    let protocols = new Set();
    const protocolHeader = headers['sec-websocket-protocol'];

    if (protocolHeader !== undefined) {
      try {
        protocols = subprotocol.parse(protocolHeader);
      } catch {
        rejectOrReport(
          this,
          req,
          socket,
          400,
          'Invalid Sec-WebSocket-Protocol header'
        );
        return;
      }
    }

    const extensions = {};
    const extensionsHeader = headers['sec-websocket-extensions'];

    if (this.options.perMessageDeflate && extensionsHeader !== undefined) {
      const name = PerMessageDeflate.extensionName;
      const perMessageDeflate = new PerMessageDeflate({
        ...this.options.perMessageDeflate,
        isServer: true,
        maxPayload: this.options.maxPayload
      });

      try {
        const offers = extension.parse(extensionsHeader);

        if (offers[name]) {
          perMessageDeflate.accept(offers[name]);
          extensions[name] = perMessageDeflate;
        }
      } catch {
        rejectOrReport(
          this,
          req,
          socket,
          400,
          'Invalid or unacceptable Sec-WebSocket-Extensions header'
        );
        return;
      }
    }

    const verifyClient = this.options.verifyClient;

    if (!verifyClient) {
      this.completeUpgrade(extensions, key, protocols, req, socket, head, cb);
      return;
    }

    const info = {
      //
      // Version 8 clients send `Sec-WebSocket-Origin` instead of `Origin`.
      //
      origin: headers[version === 8 ? 'sec-websocket-origin' : 'origin'],
      secure: Boolean(req.socket.authorized || req.socket.encrypted),
      req
    };

    //
    // A hook that declares two parameters answers through the callback.
    //
    if (verifyClient.length === 2) {
      verifyClient(info, (verified, code, message, extraHeaders) => {
        if (!verified) {
          writeHttpError(socket, code || 401, message, extraHeaders);
          return;
        }

        this.completeUpgrade(extensions, key, protocols, req, socket, head, cb);
      });
      return;
    }

    if (!verifyClient(info)) {
      writeHttpError(socket, 401);
      return;
    }

    this.completeUpgrade(extensions, key, protocols, req, socket, head, cb);
  }

  /**
   * Upgrade the connection to WebSocket.
   *
   * @param {Object} extensions The accepted extensions
   * @param {String} key The value of the `Sec-WebSocket-Key` header
   * @param {Set} protocols The subprotocols
   * @param {http.IncomingMessage} req The request object
   * @param {Duplex} socket The network socket between the server and client
   * @param {Buffer} head The first packet of the upgraded stream
   * @param {Function} cb Callback
   * @throws {Error} If called more than once with the same socket
   * @private
   */
  completeUpgrade(extensions, key, protocols, req, socket, head, cb) {
    //
    // The client may have half-closed (or the user destroyed) the socket while
    // an asynchronous `verifyClient` was running: nothing left to upgrade.
    //
    if (!socket.readable || !socket.writable) {
      socket.destroy();
      return;
    }

    if (socket[kWebSocket]) {
      throw new Error(
        'server.handleUpgrade() was called more than once with the same ' +
          'socket, possibly due to a misconfiguration'
      );
    }

    if (this._state !== RUNNING) {
      writeHttpError(socket, 503);
      return;
    }

    const options = this.options;
    const ws = new options.WebSocket(null, undefined, options);
    const lines = [
      'HTTP/1.1 101 Switching Protocols',
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Accept: ${acceptKey(key)}`
    ];

    if (protocols.size) {
      //
      // Without a hook the first protocol the client offered wins. A falsy
      // choice means no `Sec-WebSocket-Protocol` header at all.
      //
      const protocol = options.handleProtocols
        ? options.handleProtocols(protocols, req)
        : protocols.values().next().value;

      if (protocol) {
        lines.push(`Sec-WebSocket-Protocol: ${protocol}`);
        ws._protocol = protocol;
      }
    }

    const perMessageDeflate = extensions[PerMessageDeflate.extensionName];

    if (perMessageDeflate) {
      const value = extension.format({
        [PerMessageDeflate.extensionName]: [perMessageDeflate.params]
      });

      lines.push(`Sec-WebSocket-Extensions: ${value}`);
      ws._extensions = extensions;
    }

    //
    // Listeners may edit `lines` in place before it is written.
    //
    this.emit('headers', lines, req);

    const response = lines.concat('\r\n').join('\r\n');

    //
    // On the native transport Rust writes the 101 response, before any frame
    // sent from a `'connection'` listener.
    //
    const transport = resolveTransport(options.transport);
    const adopt = transport === 'native' && canAdopt(socket);

    if (!adopt) socket.write(response);
    socket.removeListener('error', socketOnError);

    ws.setSocket(socket, head, {
      allowSynchronousEvents: options.allowSynchronousEvents,
      maxBufferedChunks: options.maxBufferedChunks,
      maxFragments: options.maxFragments,
      maxPayload: options.maxPayload,
      skipUTF8Validation: options.skipUTF8Validation,
      transport,
      preamble: adopt ? response : undefined
    });

    //
    // ws adds a `'close'` listener per client instead: its closure, listener
    // table and (for the count below) `once()` wrapper cost about 0.4 KiB per
    // open connection.
    //
    const counted = countsConnection(this, ws);

    if (this.clients) this.clients.add(ws);
    if (counted) this._nativeConnections++;
    if (this.clients || counted) ws._forget = this._forgetClosed;

    cb(ws, req);
  }
}

module.exports = WebSocketServer;

/**
 * The request listener of the internal HTTP server: plain HTTP requests get
 * `426 Upgrade Required`.
 *
 * @param {http.IncomingMessage} req The request
 * @param {http.ServerResponse} res The response
 * @private
 */
function answerUpgradeRequired(req, res) {
  const body = http.STATUS_CODES[426];

  res.writeHead(426, {
    'Content-Length': body.length,
    'Content-Type': 'text/plain'
  });
  res.end(body);
}

/**
 * Forwards the `'listening'` and `'error'` events of the HTTP server to the
 * WebSocket server and handles its `'upgrade'` requests.
 *
 * @param {WebSocketServer} wss The WebSocket server
 * @return {Function} A function that removes the added listeners
 * @private
 */
function forwardServerEvents(wss) {
  const server = wss._server;
  const emitConnection = (ws, req) => wss.emit('connection', ws, req);
  const listeners = {
    listening: () => wss.emit('listening'),
    error: (err) => wss.emit('error', err),
    upgrade: (req, socket, head) => {
      wss.handleUpgrade(req, socket, head, emitConnection);
    }
  };
  const events = Object.keys(listeners);

  for (const event of events) server.on(event, listeners[event]);

  return () => {
    for (const event of events) server.removeListener(event, listeners[event]);
  };
}

/**
 * Whether a server counts a connection itself: one Rust took over from the
 * server's own HTTP server, whose `close()` no longer waits for it.
 *
 * @param {WebSocketServer} server The WebSocket server
 * @param {WebSocket} ws The connection
 * @return {Boolean}
 * @private
 */
function countsConnection(server, ws) {
  return (
    ws._socket instanceof NativeSocket &&
    !server.options.noServer &&
    !server.options.server
  );
}

/**
 * Forgets a closed client (called by the client as it emits `'close'`, before
 * its listeners, where ws's own listener runs): removes it from
 * `server.clients`, counts it out, and emits the server's `'close'` if the
 * closed server was waiting for it.
 *
 * @param {WebSocketServer} server The WebSocket server
 * @param {WebSocket} ws The closed client
 * @private
 */
function forgetClosed(server, ws) {
  if (server.clients) server.clients.delete(ws);
  if (countsConnection(server, ws)) server._nativeConnections--;

  if (
    server._shouldEmitClose &&
    server._nativeConnections === 0 &&
    (!server.clients || server.clients.size === 0)
  ) {
    server._shouldEmitClose = false;
    process.nextTick(emitClose, server);
  }
}

/**
 * Marks a server as closed and emits its `'close'` event.
 *
 * @param {WebSocketServer} server The WebSocket server
 * @private
 */
function emitClose(server) {
  server._state = CLOSED;
  server.emit('close');
}

/**
 * The `'error'` listener of a socket during the handshake.
 *
 * @private
 */
function socketOnError() {
  this.destroy();
}

/**
 * Writes an HTTP error response and closes the socket.
 *
 * @param {Duplex} socket The socket of the upgrade request
 * @param {Number} code The HTTP response status code
 * @param {String} [message] The HTTP response body
 * @param {Object} [headers] Additional HTTP response headers
 * @private
 */
function writeHttpError(socket, code, message, headers) {
  const reason = http.STATUS_CODES[code];
  const body = message || reason;
  const fields = Object.assign(
    {
      Connection: 'close',
      'Content-Type': 'text/html',
      'Content-Length': Buffer.byteLength(body)
    },
    headers
  );
  let response = `HTTP/1.1 ${code} ${reason}\r\n`;

  for (const name of Object.keys(fields)) {
    response += `${name}: ${fields[name]}\r\n`;
  }

  //
  // A socket the user already ended or destroyed is a user error; `end()`
  // then fails with an `'error'` that `socketOnError()` turns into a
  // `destroy()`. On success the socket is destroyed once everything is
  // flushed.
  //
  socket.once('finish', socket.destroy);
  socket.end(`${response}\r\n${body}`);
}

/**
 * Emits `'wsClientError'` if someone listens to it (the listener then owns the
 * socket), otherwise answers with an HTTP error.
 *
 * @param {WebSocketServer} server The WebSocket server
 * @param {http.IncomingMessage} req The request object
 * @param {Duplex} socket The socket of the upgrade request
 * @param {Number} code The HTTP response status code
 * @param {String} message The HTTP response body and error message
 * @param {Object} [headers] Additional HTTP response headers
 * @private
 */
function rejectOrReport(server, req, socket, code, message, headers) {
  if (server.listenerCount('wsClientError') === 0) {
    writeHttpError(socket, code, message, headers);
    return;
  }

  const err = new Error(message);

  Error.captureStackTrace(err, rejectOrReport);
  server.emit('wsClientError', err, socket, req);
}

'use strict';

//
// The HTTP server of `new WebSocketServer({ port, nativeHttp: true })`: Rust
// listens, accepts and reads each request head; plain requests get ws's
// `426 Upgrade Required` (malformed ones `400`, oversized ones `431`) without
// reaching JS, and each upgrade request comes here as an `'upgrade'` event
// with an `http.IncomingMessage` and a `PendingSocket`, as from a Node
// `http.Server`. No `net.Socket` is made for a connection.
//

const dns = require('dns');
const EventEmitter = require('events');
const http = require('http');
const net = require('net');
const util = require('util');

const native = require('./native');
const nativeTransport = require('./native-socket');

// `net.Server`'s default.
const DEFAULT_BACKLOG = 511;

/**
 * A stand-in for the `http.Server` a `port` server creates: `listen()`,
 * `address()`, `close()`, and the `'listening'`, `'upgrade'`, `'error'` and
 * `'close'` events ws uses.
 *
 * @extends EventEmitter
 */
class NativeHttpServer extends EventEmitter {
  constructor() {
    super();

    this._id = 0;
    this._address = null;
    this._closed = false;
    this._refed = true;
  }

  /**
   * @type {Boolean}
   */
  get listening() {
    return this._id !== 0;
  }

  /**
   * Starts listening, as `server.listen(port, host, backlog, callback)`.
   *
   * @param {(Number|String)} port The port (0 picks one)
   * @param {String} [host] The address or host name (all addresses if unset)
   * @param {Number} [backlog=511] The length of the queue of pending
   *     connections
   * @param {Function} [callback] A listener of `'listening'`
   * @return {NativeHttpServer} this
   * @public
   */
  listen(port, host, backlog, callback) {
    if (this._id !== 0) {
      const err = new Error('Listen method has been called more than once');

      err.code = 'ERR_SERVER_ALREADY_LISTEN';
      throw err;
    }

    const number = validatePort(port);

    if (callback) this.once('listening', callback);
    if (backlog === null || backlog === undefined) backlog = DEFAULT_BACKLOG;

    if (host === null || host === undefined) {
      //
      // As Node: every IPv6 and IPv4 address, or every IPv4 address where
      // there is no IPv6.
      //
      this._bind('::', number, backlog, '0.0.0.0');
    } else if (net.isIP(host)) {
      this._bind(host, number, backlog);
    } else {
      dns.lookup(host, (err, address) => {
        if (err) this.emit('error', err);
        else this._bind(address, number, backlog);
      });
    }

    return this;
  }

  /**
   * Binds an address; on failure tries `fallback`, if any, then emits
   * `'error'`.
   *
   * @param {String} address The IP address
   * @param {Number} port The port
   * @param {Number} backlog The backlog
   * @param {String} [fallback] The address to try if `address` fails
   * @private
   */
  _bind(address, port, backlog, fallback) {
    if (this._closed) return;

    nativeTransport.init();

    const info = native.listenerOpen(address, port, backlog);

    if (info.errno !== 0) {
      if (fallback !== undefined) {
        this._bind(fallback, port, backlog);
        return;
      }

      process.nextTick(() => this.emit('error', listenError(info)));
      return;
    }

    this._id = info.id;
    this._address = {
      address: info.address,
      family: info.family,
      port: info.port
    };
    nativeTransport.listeners.set(this._id, this);

    //
    // A listening server holds the event loop, as a Node server does (unless
    // `unref()`).
    //
    if (this._refed) nativeTransport.adjustRefs(1);

    const id = this._id;

    //
    // Not if `close()` came first, as Node checks its handle.
    //
    process.nextTick(() => {
      if (this._id === id) this.emit('listening');
    });
  }

  /**
   * Returns the bound address, the address family name and port, or `null`
   * when not listening.
   *
   * @return {(Object|null)}
   * @public
   */
  address() {
    return this._address;
  }

  /**
   * Stops listening, as `server.close([callback])`: the listening socket is
   * closed at once; connections upgraded already stay open.
   *
   * @param {Function} [callback] Called on `'close'`, with an error if the
   *     server was not listening
   * @return {NativeHttpServer} this
   * @public
   */
  close(callback) {
    const wasListening = this._id !== 0;

    if (callback) {
      this.once('close', () => {
        if (wasListening) callback();
        else callback(notRunning());
      });
    }

    this._closed = true;

    if (wasListening) {
      native.listenerClose(this._id);
      nativeTransport.listeners.delete(this._id);
      if (this._refed) nativeTransport.adjustRefs(-1);
      this._id = 0;
      this._address = null;
    }

    process.nextTick(() => this.emit('close'));
    return this;
  }

  /**
   * Keeps the event loop alive while listening (the default), as
   * `server.ref()`.
   *
   * @return {NativeHttpServer} this
   * @public
   */
  ref() {
    if (!this._refed) {
      this._refed = true;
      if (this._id !== 0) nativeTransport.adjustRefs(1);
    }
    return this;
  }

  /**
   * Lets the process exit while listening, as `server.unref()`.
   *
   * @return {NativeHttpServer} this
   * @public
   */
  unref() {
    if (this._refed) {
      this._refed = false;
      if (this._id !== 0) nativeTransport.adjustRefs(-1);
    }
    return this;
  }

  /**
   * Emits `'upgrade'` for a request Rust read.
   *
   * @param {String} text The request's NUL-separated fields (see
   *     `src/runtime/listener.rs`)
   * @param {Buffer} head What the client sent past the request head
   * @private
   */
  _onRequest(text, head) {
    const fields = text.split('\0');
    const socket = new nativeTransport.PendingSocket(Number(fields[0]), {
      remoteAddress: fields[4],
      remotePort: Number(fields[5]),
      remoteFamily: fields[6],
      localAddress: fields[7],
      localPort: Number(fields[8])
    });

    if (this.listenerCount('upgrade') === 0) {
      socket.destroy();
      return;
    }

    const req = new http.IncomingMessage(socket);
    const version = fields[3];

    req.method = fields[1];
    req.url = fields[2];
    req.httpVersion = version;
    req.httpVersionMajor = 1;
    req.httpVersionMinor = version === '1.0' ? 0 : 1;
    req.upgrade = true;

    //
    // Node's own way of filling `headers` and `rawHeaders` from the header
    // lines (duplicates joined or dropped as for a Node server's requests).
    // The fields end with a NUL: the last item is empty.
    //
    const lines = fields.slice(9, fields.length - 1);

    req._addHeaderLines(lines, lines.length);
    req.complete = true;
    this.emit('upgrade', req, socket, head);
  }
}

/**
 * Checks a port as `server.listen()` does.
 *
 * @param {*} port The port
 * @return {Number} The port as a number
 * @throws {RangeError} If it is not an integer in [0, 65535]
 * @private
 */
function validatePort(port) {
  const number =
    typeof port === 'number' || (typeof port === 'string' && port.trim() !== '')
      ? Number(port)
      : NaN;

  if (!Number.isInteger(number) || number < 0 || number > 65535) {
    const err = new RangeError(
      `options.port should be >= 0 and < 65536. Received ${util.inspect(port)}.`
    );

    err.code = 'ERR_SOCKET_BAD_PORT';
    throw err;
  }

  return number;
}

/**
 * The error of a failed `listen()`, shaped as Node's.
 *
 * @param {Object} info What `listenerOpen()` returned
 * @return {Error}
 * @private
 */
function listenError(info) {
  const errno = -info.errno;
  const code = util.getSystemErrorName(errno);
  const entry = util.getSystemErrorMap().get(errno);
  const description = entry ? entry[1] : code;
  //
  // As Node's `uvExceptionWithHostPort()`: no port when it is 0.
  //
  const where = info.port > 0 ? `${info.address}:${info.port}` : info.address;
  const err = new Error(`listen ${code}: ${description} ${where}`);

  err.code = code;
  err.errno = errno;
  err.syscall = 'listen';
  err.address = info.address;
  if (info.port > 0) err.port = info.port;
  return err;
}

/**
 * The error `server.close()` reports when the server was not listening.
 *
 * @return {Error}
 * @private
 */
function notRunning() {
  const err = new Error('Server is not running.');

  err.code = 'ERR_SERVER_NOT_RUNNING';
  return err;
}

module.exports = NativeHttpServer;

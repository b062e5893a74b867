'use strict';

const EventEmitter = require('events');
const http = require('http');
const https = require('https');
const net = require('net');
const querystring = require('querystring');
const tls = require('tls');
const { createHash, randomBytes } = require('crypto');
const { URL } = require('url');

const EventTable = require('./event-table');
const PerMessageDeflate = require('./permessage-deflate');
const Receiver = require('./receiver');
const Sender = require('./sender');
const nativeTransport = require('./native-socket');
const { isBlob } = require('./validation');
const { toBuffer } = require('./buffer-util');
const { format, parse } = require('./extension');
const {
  EventTarget: { addEventListener, removeEventListener }
} = require('./event-target');
const {
  BINARY_TYPES,
  CLOSE_TIMEOUT,
  EMPTY_BUFFER,
  GUID,
  kForOnEventAttribute,
  kListener,
  kStatusCode,
  kWebSocket,
  NOOP
} = require('./constants');

const kAborted = Symbol('kAborted');
const PROTOCOL_VERSIONS = [8, 13];
const READY_STATES = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'];
const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

//
// RFC 6455 §4.1: each subprotocol is a token (RFC 7230 §3.2.6 `tchar`s).
//
const subprotocolRegex = /^[!#$%&'*+\-.0-9A-Z^_`|a-z~]+$/;

const NOT_ESTABLISHED =
  'WebSocket was closed before the connection was established';

/**
 * Class representing a WebSocket.
 *
 * @extends EventEmitter
 */
class WebSocket extends EventEmitter {
  /**
   * Create a new `WebSocket`.
   *
   * @param {(String|URL)} address The URL to which to connect
   * @param {(String|String[])} [protocols] The subprotocols
   * @param {Object} [options] Connection options
   */
  constructor(address, protocols, options) {
    super();

    this._events = new EventTable();
    this._binaryType = BINARY_TYPES[0];
    this._closeCode = 1006;
    this._closeFrameReceived = false;
    this._closeFrameSent = false;
    this._closeMessage = EMPTY_BUFFER;
    this._closeTimer = null;
    this._errorEmitted = false;
    this._extensions = {};
    this._forget = null;
    this._paused = false;
    this._protocol = '';
    this._readyState = CONNECTING;
    this._receiver = null;
    this._sender = null;
    this._socket = null;

    //
    // `address` is `null` when the server creates the instance; it then calls
    // `setSocket()` once the opening handshake is complete.
    //
    if (address === null) {
      this._autoPong = options.autoPong;
      this._closeTimeout = options.closeTimeout;
      this._isServer = true;
      return;
    }

    this._bufferedAmount = 0;
    this._isServer = false;
    this._redirects = 0;

    if (protocols === undefined) {
      protocols = [];
    } else if (!Array.isArray(protocols)) {
      //
      // An object as second argument is the options object.
      //
      if (typeof protocols === 'object' && protocols !== null) {
        options = protocols;
        protocols = [];
      } else {
        protocols = [protocols];
      }
    }

    initAsClient(this, address, protocols, options);
  }

  /**
   * For historical reasons, the custom "nodebuffer" type is used by the default
   * instead of "blob".
   *
   * @type {String}
   */
  get binaryType() {
    return this._binaryType;
  }

  set binaryType(type) {
    if (!BINARY_TYPES.includes(type)) return;

    this._binaryType = type;

    //
    // The type can change while messages are being received.
    //
    if (this._receiver) this._receiver._binaryType = type;
  }

  /**
   * @type {Number}
   */
  get bufferedAmount() {
    if (this._socket === null) return this._bufferedAmount;

    return this._socket._writableState.length + this._sender._bufferedBytes;
  }

  /**
   * @type {String}
   */
  get extensions() {
    return Object.keys(this._extensions).join();
  }

  /**
   * @type {Boolean}
   */
  get isPaused() {
    return this._paused;
  }

  //
  // Placeholders that fix the position of the event handler attributes among
  // the prototype's keys, as in ws; they are replaced by the accessors
  // defined below the class.
  //

  /**
   * @type {Function}
   */
  get onclose() {
    return null;
  }

  /**
   * @type {Function}
   */
  get onerror() {
    return null;
  }

  /**
   * @type {Function}
   */
  get onopen() {
    return null;
  }

  /**
   * @type {Function}
   */
  get onmessage() {
    return null;
  }

  /**
   * @type {String}
   */
  get protocol() {
    return this._protocol;
  }

  /**
   * @type {Number}
   */
  get readyState() {
    return this._readyState;
  }

  /**
   * @type {String}
   */
  get url() {
    return this._url;
  }

  /**
   * Set up the socket and the internal resources.
   *
   * @param {Duplex} socket The network socket between the server and client
   * @param {Buffer} head The first packet of the upgraded stream
   * @param {Object} options Options object
   * @param {Boolean} [options.allowSynchronousEvents=false] Specifies whether
   *     any of the `'message'`, `'ping'`, and `'pong'` events can be emitted
   *     multiple times in the same tick
   * @param {Function} [options.generateMask] The function used to generate the
   *     masking key
   * @param {Number} [options.maxBufferedChunks=0] The maximum number of
   *     buffered data chunks
   * @param {Number} [options.maxFragments=0] The maximum number of message
   *     fragments
   * @param {Number} [options.maxPayload=0] The maximum allowed message size
   * @param {Boolean} [options.skipUTF8Validation=false] Specifies whether or
   *     not to skip UTF-8 validation for text and close messages
   * @private
   */
  setSocket(socket, head, options) {
    if (
      options.transport === 'native' &&
      nativeTransport.canAdopt(socket) &&
      setNativeSocket(this, socket, head, options)
    ) {
      return;
    }

    //
    // The server leaves the 101 response to the native transport; it was not
    // adopted, so Node writes it.
    //
    if (options.preamble !== undefined) socket.write(options.preamble);

    const receiver = new Receiver({
      allowSynchronousEvents: options.allowSynchronousEvents,
      binaryType: this.binaryType,
      extensions: this._extensions,
      isServer: this._isServer,
      maxBufferedChunks: options.maxBufferedChunks,
      maxFragments: options.maxFragments,
      maxPayload: options.maxPayload,
      skipUTF8Validation: options.skipUTF8Validation
    });
    const sender = new Sender(socket, this._extensions, options.generateMask);

    attachCodec(this, receiver, sender, socket, receiverOnPing);

    //
    // A generic `Duplex` (e.g. an HTTP/2 stream) may lack these methods.
    //
    if (typeof socket.setTimeout === 'function') socket.setTimeout(0);
    if (typeof socket.setNoDelay === 'function') socket.setNoDelay();

    if (head.length > 0) socket.unshift(head);

    socket.on('close', socketOnClose);
    socket.on('data', socketOnData);
    socket.on('end', socketOnEnd);
    socket.on('error', socketOnError);

    this._readyState = OPEN;
    this.emit('open');
  }

  /**
   * Emit the `'close'` event.
   *
   * @private
   */
  emitClose() {
    if (this._socket !== null) {
      const perMessageDeflate =
        this._extensions[PerMessageDeflate.extensionName];

      if (perMessageDeflate) perMessageDeflate.cleanup();
      this._receiver.removeAllListeners();
    }

    this._readyState = CLOSED;
    if (this._forget !== null) {
      this._forget(this);
      this._forget = null;
    }

    this.emit('close', this._closeCode, this._closeMessage);
  }

  /**
   * Start a closing handshake.
   *
   * The connection ends (`socket.end()`) once a close frame has been both
   * sent and received, or sent after a protocol error; the close timer
   * destroys the socket if that does not happen in time.
   *
   * @param {Number} [code] Status code explaining why the connection is closing
   * @param {(String|Buffer)} [data] The reason why the connection is
   *     closing
   * @public
   */
  close(code, data) {
    switch (this._readyState) {
      case CLOSED:
        return;
      case CONNECTING:
        abortHandshake(this, this._req, NOT_ESTABLISHED);
        return;
      case CLOSING:
        if (this._closeFrameSent && closeFrameAnswered(this)) {
          this._socket.end();
        }
        return;
    }

    //
    // `Sender#close()` validates `code` and `data` and throws synchronously,
    // so the state changes only once the close frame is on its way.
    //
    this._sender.close(code, data, !this._isServer, (err) => {
      //
      // A write error is handled by the socket `'error'` listener; here we only
      // care whether the close frame went out.
      //
      if (err) return;

      this._closeFrameSent = true;
      if (closeFrameAnswered(this)) this._socket.end();
    });

    this._readyState = CLOSING;
    setCloseTimer(this);
  }

  /**
   * Pause the socket.
   *
   * @public
   */
  pause() {
    if (this._readyState === CONNECTING || this._readyState === CLOSED) return;

    this._paused = true;
    this._socket.pause();
  }

  /**
   * Send a ping.
   *
   * @param {*} [data] The data to send
   * @param {Boolean} [mask] Indicates whether or not to mask `data`
   * @param {Function} [cb] Callback which is executed when the ping is sent
   * @public
   */
  ping(data, mask, cb) {
    sendControl(this, 'ping', data, mask, cb);
  }

  /**
   * Send a pong.
   *
   * @param {*} [data] The data to send
   * @param {Boolean} [mask] Indicates whether or not to mask `data`
   * @param {Function} [cb] Callback which is executed when the pong is sent
   * @public
   */
  pong(data, mask, cb) {
    sendControl(this, 'pong', data, mask, cb);
  }

  /**
   * Resume the socket.
   *
   * @public
   */
  resume() {
    if (this._readyState === CONNECTING || this._readyState === CLOSED) return;

    this._paused = false;

    //
    // If the receiver is applying backpressure, its `'drain'` listener resumes
    // the socket instead.
    //
    if (!this._receiver._writableState.needDrain) this._socket.resume();
  }

  /**
   * Send a data message.
   *
   * @param {*} data The message to send
   * @param {Object} [options] Options object
   * @param {Boolean} [options.binary] Specifies whether `data` is binary or
   *     text
   * @param {Boolean} [options.compress] Specifies whether or not to compress
   *     `data`
   * @param {Boolean} [options.fin=true] Specifies whether the fragment is the
   *     last one
   * @param {Boolean} [options.mask] Specifies whether or not to mask `data`
   * @param {Function} [cb] Callback which is executed when data is written out
   * @public
   */
  send(data, options, cb) {
    assertNotConnecting(this);

    if (typeof options === 'function') {
      cb = options;
      options = {};
    }

    if (typeof data === 'number') data = data.toString();

    if (this._readyState !== OPEN) {
      sendAfterClose(this, data, cb);
      return;
    }

    const opts = {
      binary: typeof data !== 'string',
      mask: !this._isServer,
      compress: true,
      fin: true,
      ...options
    };

    if (!this._extensions[PerMessageDeflate.extensionName]) {
      opts.compress = false;
    }

    this._sender.send(data || EMPTY_BUFFER, opts, cb);
  }

  /**
   * Forcibly close the connection.
   *
   * @public
   */
  terminate() {
    if (this._readyState === CLOSED) return;
    if (this._readyState === CONNECTING) {
      abortHandshake(this, this._req, NOT_ESTABLISHED);
      return;
    }

    if (this._socket) {
      this._readyState = CLOSING;
      this._socket.destroy();
    }
  }
}

//
// The ready-state constants live, enumerable and read-only, on both the class
// and its prototype (as in the WHATWG `WebSocket` interface).
//
READY_STATES.forEach((name, value) => {
  const descriptor = { enumerable: true, value };

  Object.defineProperty(WebSocket, name, descriptor);
  Object.defineProperty(WebSocket.prototype, name, descriptor);
});

[
  'binaryType',
  'bufferedAmount',
  'extensions',
  'isPaused',
  'protocol',
  'readyState',
  'url'
].forEach((property) => {
  Object.defineProperty(WebSocket.prototype, property, { enumerable: true });
});

//
// The `onopen`, `onerror`, `onclose`, and `onmessage` event handler attributes.
// The handler is a listener added through `addEventListener()` and flagged
// with `kForOnEventAttribute`, so that it is found, replaced, and removed
// independently of the other listeners. See
// https://html.spec.whatwg.org/multipage/comms.html#the-websocket-interface
//
['open', 'error', 'close', 'message'].forEach((type) => {
  Object.defineProperty(WebSocket.prototype, `on${type}`, {
    configurable: true,
    enumerable: true,
    get() {
      const wrapper = findAttributeListener(this, type);

      return wrapper ? wrapper[kListener] : null;
    },
    set(handler) {
      const wrapper = findAttributeListener(this, type);

      if (wrapper) this.removeListener(type, wrapper);
      if (typeof handler !== 'function') return;

      this.addEventListener(type, handler, { [kForOnEventAttribute]: true });
    }
  });
});

WebSocket.prototype.addEventListener = addEventListener;
WebSocket.prototype.removeEventListener = removeEventListener;

module.exports = WebSocket;

/**
 * Find the listener that implements an event handler attribute.
 *
 * @param {WebSocket} websocket The WebSocket instance
 * @param {String} type The event type
 * @return {(Function|undefined)} The listener, if any
 * @private
 */
function findAttributeListener(websocket, type) {
  return websocket
    .listeners(type)
    .find((listener) => listener[kForOnEventAttribute]);
}

/**
 * Throw if the opening handshake is still in progress.
 *
 * @param {WebSocket} websocket The WebSocket instance
 * @throws {Error} If the `readyState` is `CONNECTING`
 * @private
 */
function assertNotConnecting(websocket) {
  if (websocket._readyState === CONNECTING) {
    throw new Error('WebSocket is not open: readyState 0 (CONNECTING)');
  }
}

/**
 * Tell whether the connection can end after our close frame: the peer's close
 * frame has arrived, or the receiver failed and nothing more will be read.
 *
 * @param {WebSocket} websocket The WebSocket instance
 * @return {Boolean}
 * @private
 */
function closeFrameAnswered(websocket) {
  return (
    websocket._closeFrameReceived ||
    websocket._receiver._writableState.errorEmitted
  );
}

/**
 * Implement `ping()` and `pong()`.
 *
 * @param {WebSocket} websocket The WebSocket instance
 * @param {String} method `'ping'` or `'pong'`
 * @param {*} [data] The data to send
 * @param {Boolean} [mask] Indicates whether or not to mask `data`
 * @param {Function} [cb] Callback
 * @private
 */
function sendControl(websocket, method, data, mask, cb) {
  assertNotConnecting(websocket);

  if (typeof data === 'function') {
    cb = data;
    data = mask = undefined;
  } else if (typeof mask === 'function') {
    cb = mask;
    mask = undefined;
  }

  if (typeof data === 'number') data = data.toString();

  if (websocket._readyState !== OPEN) {
    sendAfterClose(websocket, data, cb);
    return;
  }

  if (mask === undefined) mask = !websocket._isServer;
  websocket._sender[method](data || EMPTY_BUFFER, mask, cb);
}

/**
 * Initialize a WebSocket client.
 *
 * @param {WebSocket} websocket The client to initialize
 * @param {(String|URL)} address The URL to which to connect
 * @param {Array} protocols The subprotocols
 * @param {Object} [options] Connection options
 * @param {Boolean} [options.allowSynchronousEvents=true] Specifies whether any
 *     of the `'message'`, `'ping'`, and `'pong'` events can be emitted multiple
 *     times in the same tick
 * @param {Boolean} [options.autoPong=true] Specifies whether or not to
 *     automatically send a pong in response to a ping
 * @param {Number} [options.closeTimeout=30000] Duration in milliseconds to wait
 *     for the closing handshake to finish after `websocket.close()` is called
 * @param {Function} [options.finishRequest] A function which can be used to
 *     customize the headers of each http request before it is sent
 * @param {Boolean} [options.followRedirects=false] Whether or not to follow
 *     redirects
 * @param {Function} [options.generateMask] The function used to generate the
 *     masking key
 * @param {Number} [options.handshakeTimeout] Timeout in milliseconds for the
 *     handshake request
 * @param {Number} [options.maxBufferedChunks=1048576] The maximum number of
 *     buffered data chunks
 * @param {Number} [options.maxFragments=131072] The maximum number of message
 *     fragments
 * @param {Number} [options.maxPayload=104857600] The maximum allowed message
 *     size
 * @param {Number} [options.maxRedirects=10] The maximum number of redirects
 *     allowed
 * @param {String} [options.origin] Value of the `Origin` or
 *     `Sec-WebSocket-Origin` header
 * @param {(Boolean|Object)} [options.perMessageDeflate=true] Enable/disable
 *     permessage-deflate
 * @param {Number} [options.protocolVersion=13] Value of the
 *     `Sec-WebSocket-Version` header
 * @param {Boolean} [options.skipUTF8Validation=false] Specifies whether or
 *     not to skip UTF-8 validation for text and close messages
 * @private
 */
function initAsClient(websocket, address, protocols, options) {
  //
  // Everything else is passed to `http.request()` / `https.request()`; the
  // options that make up the request line and target are derived from the
  // URL and cannot be overridden.
  //
  const opts = {
    allowSynchronousEvents: true,
    autoPong: true,
    closeTimeout: CLOSE_TIMEOUT,
    protocolVersion: PROTOCOL_VERSIONS[1],
    maxBufferedChunks: 1024 * 1024,
    maxFragments: 128 * 1024,
    maxPayload: 100 * 1024 * 1024,
    skipUTF8Validation: false,
    perMessageDeflate: true,
    followRedirects: false,
    maxRedirects: 10,
    ...options,
    socketPath: undefined,
    hostname: undefined,
    protocol: undefined,
    timeout: undefined,
    method: 'GET',
    host: undefined,
    path: undefined,
    port: undefined
  };

  websocket._autoPong = opts.autoPong;
  websocket._closeTimeout = opts.closeTimeout;

  if (!PROTOCOL_VERSIONS.includes(opts.protocolVersion)) {
    throw new RangeError(
      `Unsupported protocol version: ${opts.protocolVersion} ` +
        `(supported versions: ${PROTOCOL_VERSIONS.join(', ')})`
    );
  }

  let url;

  if (address instanceof URL) {
    url = address;
  } else {
    try {
      url = new URL(address);
    } catch {
      throw new SyntaxError(`Invalid URL: ${address}`);
    }
  }

  if (url.protocol === 'http:' || url.protocol === 'https:') {
    //
    // Work on a copy: a `URL` passed by the user is not modified.
    //
    url = new URL(url.href);
    url.protocol = url.protocol === 'http:' ? 'ws:' : 'wss:';
  }

  websocket._url = url.href;

  const isSecure = url.protocol === 'wss:';
  const isIpcUrl = url.protocol === 'ws+unix:';
  const urlError = checkUrl(url, isSecure, isIpcUrl);

  if (urlError) {
    const err = new SyntaxError(urlError);

    //
    // A bad `Location` is reported as an error event, not thrown, since it is
    // found asynchronously.
    //
    if (websocket._redirects === 0) throw err;

    emitErrorAndClose(websocket, err);
    return;
  }

  const defaultPort = isSecure ? 443 : 80;
  const key = randomBytes(16).toString('base64');
  const request = isSecure ? https.request : http.request;
  const protocolSet = new Set();
  let perMessageDeflate;

  opts.createConnection =
    opts.createConnection || (isSecure ? tlsConnect : netConnect);
  opts.defaultPort = opts.defaultPort || defaultPort;
  opts.port = url.port || defaultPort;
  opts.host = url.hostname.startsWith('[')
    ? url.hostname.slice(1, -1)
    : url.hostname;
  opts.headers = {
    ...opts.headers,
    'Sec-WebSocket-Version': opts.protocolVersion,
    'Sec-WebSocket-Key': key,
    Connection: 'Upgrade',
    Upgrade: 'websocket'
  };
  opts.path = url.pathname + url.search;
  opts.timeout = opts.handshakeTimeout;

  if (opts.perMessageDeflate) {
    perMessageDeflate = new PerMessageDeflate({
      ...opts.perMessageDeflate,
      isServer: false,
      maxPayload: opts.maxPayload
    });
    opts.headers['Sec-WebSocket-Extensions'] = format({
      [PerMessageDeflate.extensionName]: perMessageDeflate.offer()
    });
  }

  if (protocols.length) {
    for (const protocol of protocols) {
      if (
        typeof protocol !== 'string' ||
        !subprotocolRegex.test(protocol) ||
        protocolSet.has(protocol)
      ) {
        throw new SyntaxError(
          'An invalid or duplicated subprotocol was specified'
        );
      }

      protocolSet.add(protocol);
    }

    opts.headers['Sec-WebSocket-Protocol'] = protocols.join(',');
  }

  if (opts.origin) {
    const name = opts.protocolVersion < 13 ? 'Sec-WebSocket-Origin' : 'Origin';

    opts.headers[name] = opts.origin;
  }

  if (url.username || url.password) {
    //
    // The URL keeps credentials percent-encoded; the header carries them
    // decoded, as `http.request(url)` does.
    //
    const username = querystring.unescape(url.username);
    const password = querystring.unescape(url.password);

    opts.auth = `${username}:${password}`;
  }

  if (isIpcUrl) {
    //
    // `ws+unix:/path/to/socket:/request/path`: the first `:` separates the
    // socket path from the request path.
    //
    const colon = opts.path.indexOf(':');

    if (colon === -1) {
      opts.socketPath = opts.path;
      opts.path = '';
    } else {
      opts.socketPath = opts.path.slice(0, colon);
      opts.path = opts.path.slice(colon + 1);
    }
  }

  let req;

  if (opts.followRedirects) {
    if (websocket._redirects === 0) {
      websocket._originalIpc = isIpcUrl;
      websocket._originalSecure = isSecure;
      websocket._originalHostOrSocketPath = isIpcUrl
        ? opts.socketPath
        : url.host;

      //
      // Copy the user's options, with lower-cased header names, so that
      // headers can be dropped on redirects without touching the user's
      // object.
      //
      const headers = options && options.headers;

      options = { ...options, headers: {} };

      if (headers) {
        for (const [name, value] of Object.entries(headers)) {
          options.headers[name.toLowerCase()] = value;
        }
      }
    } else if (websocket.listenerCount('redirect') === 0) {
      let isSameHost;

      if (isIpcUrl) {
        isSameHost =
          websocket._originalIpc &&
          opts.socketPath === websocket._originalHostOrSocketPath;
      } else {
        isSameHost =
          !websocket._originalIpc &&
          url.host === websocket._originalHostOrSocketPath;
      }

      if (!isSameHost || (websocket._originalSecure && !isSecure)) {
        //
        // As curl (7.77.0) does, credentials are not forwarded to another
        // host (subdomains included) or over a downgraded connection. A
        // `'redirect'` listener takes that decision itself.
        //
        delete opts.headers.authorization;
        delete opts.headers.cookie;

        if (!isSameHost) delete opts.headers.host;

        opts.auth = undefined;
      }
    }

    //
    // As curl does, the first `Authorization` wins: an explicit header takes
    // precedence over the credentials of a URL.
    //
    if (opts.auth && !options.headers.authorization) {
      options.headers.authorization =
        'Basic ' + Buffer.from(opts.auth).toString('base64');
    }

    req = websocket._req = request(opts);

    //
    // No early exit if the user closes the WebSocket from a `'redirect'`
    // listener: they may also have destroyed `req` with an error, and the
    // `'error'` listener added below must still be attached.
    //
    if (websocket._redirects) websocket.emit('redirect', websocket.url, req);
  } else {
    req = websocket._req = request(opts);
  }

  if (opts.timeout) {
    req.on('timeout', () => {
      abortHandshake(websocket, req, 'Opening handshake has timed out');
    });
  }

  req.on('error', (err) => {
    if (req === null || req[kAborted]) return;

    req = websocket._req = null;
    emitErrorAndClose(websocket, err);
  });

  req.on('response', (res) => {
    const location = res.headers.location;
    const statusCode = res.statusCode;

    if (
      location &&
      opts.followRedirects &&
      statusCode >= 300 &&
      statusCode < 400
    ) {
      if (++websocket._redirects > opts.maxRedirects) {
        abortHandshake(websocket, req, 'Maximum redirects exceeded');
        return;
      }

      req.abort();

      let next;

      try {
        next = new URL(location, address);
      } catch {
        emitErrorAndClose(
          websocket,
          new SyntaxError(`Invalid URL: ${location}`)
        );
        return;
      }

      initAsClient(websocket, next, protocols, options);
    } else if (!websocket.emit('unexpected-response', req, res)) {
      abortHandshake(
        websocket,
        req,
        `Unexpected server response: ${statusCode}`
      );
    }
  });

  req.on('upgrade', (res, socket, head) => {
    websocket.emit('upgrade', res);

    //
    // A listener of the `'upgrade'` event may have closed the WebSocket.
    //
    if (websocket._readyState !== CONNECTING) return;

    req = websocket._req = null;

    const failure = checkUpgradeResponse(
      websocket,
      res,
      key,
      protocolSet,
      perMessageDeflate
    );

    if (failure) {
      abortHandshake(websocket, socket, failure);
      return;
    }

    websocket.setSocket(socket, head, {
      allowSynchronousEvents: opts.allowSynchronousEvents,
      generateMask: opts.generateMask,
      maxBufferedChunks: opts.maxBufferedChunks,
      maxFragments: opts.maxFragments,
      maxPayload: opts.maxPayload,
      skipUTF8Validation: opts.skipUTF8Validation,
      transport: nativeTransport.resolveTransport(opts.transport)
    });
  });

  if (opts.finishRequest) opts.finishRequest(req, websocket);
  else req.end();
}

/**
 * Wires a receiver, a sender and a socket to a `WebSocket`.
 *
 * @param {WebSocket} websocket The WebSocket
 * @param {(Receiver|NativeReceiver)} receiver The receiver
 * @param {(Sender|NativeSender)} sender The sender
 * @param {(Duplex|NativeSocket)} socket The socket
 * @param {Function} onPing The receiver's `'ping'` listener
 * @private
 */
function attachCodec(websocket, receiver, sender, socket, onPing) {
  websocket._receiver = receiver;
  websocket._sender = sender;
  websocket._socket = socket;

  //
  // The listeners are shared module-level functions that find their
  // `WebSocket` through this back-pointer, so no closure is allocated per
  // connection.
  //
  receiver[kWebSocket] = websocket;
  sender[kWebSocket] = websocket;
  socket[kWebSocket] = websocket;

  receiver.on('conclude', receiverOnConclude);
  receiver.on('drain', receiverOnDrain);
  receiver.on('error', receiverOnError);
  receiver.on('message', receiverOnMessage);
  receiver.on('ping', onPing);
  receiver.on('pong', receiverOnPong);

  sender.onerror = senderOnError;
}

/**
 * Set up a WebSocket on the native transport: Rust takes over the socket's
 * descriptor, and the receiver and sender stand-ins of `native-socket.js`
 * take the place of `Receiver` and `Sender`, so that the close handshake and
 * event logic of this module stay the same on both transports.
 *
 * @param {WebSocket} websocket The WebSocket instance
 * @param {net.Socket} socket The upgraded socket
 * @param {Buffer} head The first packet of the upgraded stream
 * @param {Object} options The `setSocket()` options
 * @return {Boolean} `false` if the socket could not be adopted
 * @private
 */
function setNativeSocket(websocket, socket, head, options) {
  const native = nativeTransport.adopt(
    socket,
    head,
    options.preamble,
    nativeTransport.transportOptions(
      websocket._isServer,
      websocket._extensions,
      options,
      websocket._autoPong
    )
  );

  if (native === null) return false;

  const receiver = new nativeTransport.NativeReceiver(native, {
    allowSynchronousEvents: options.allowSynchronousEvents,
    binaryType: websocket.binaryType,
    extensions: websocket._extensions,
    isServer: websocket._isServer,
    maxBufferedChunks: options.maxBufferedChunks,
    maxFragments: options.maxFragments,
    maxPayload: options.maxPayload
  });
  const sender = new nativeTransport.NativeSender(
    native,
    websocket._extensions,
    options.generateMask
  );

  //
  // Rust answers pings itself (`autoPong`); only the event is left to emit.
  //
  attachCodec(websocket, receiver, sender, native, nativeReceiverOnPing);

  //
  // Marks the adopted Node socket as upgraded (`completeUpgrade()` checks it).
  //
  socket[kWebSocket] = websocket;

  native.on('close', socketOnClose);
  native.on('end', socketOnEnd);
  native.on('error', socketOnError);

  websocket._readyState = OPEN;
  websocket.emit('open');
  return true;
}

/**
 * Check the scheme and shape of a client URL.
 *
 * @param {URL} url The URL
 * @param {Boolean} isSecure Whether the scheme is `wss:`
 * @param {Boolean} isIpcUrl Whether the scheme is `ws+unix:`
 * @return {(String|undefined)} The error message, if the URL is not usable
 * @private
 */
function checkUrl(url, isSecure, isIpcUrl) {
  if (url.protocol !== 'ws:' && !isSecure && !isIpcUrl) {
    return (
      'The URL\'s protocol must be one of "ws:", "wss:", ' +
      '"http:", "https:", or "ws+unix:"'
    );
  }

  if (isIpcUrl && !url.pathname) return "The URL's pathname is empty";

  //
  // RFC 6455 §3: fragment identifiers MUST NOT be used in WebSocket URIs.
  //
  if (url.hash) return 'The URL contains a fragment identifier';
}

/**
 * Validate the server's `101` response (RFC 6455 §4.1, client requirements
 * 1-6) and apply the negotiated subprotocol and extensions.
 *
 * @param {WebSocket} websocket The WebSocket instance
 * @param {http.IncomingMessage} res The response
 * @param {String} key The `Sec-WebSocket-Key` that was sent
 * @param {Set} protocolSet The subprotocols that were offered
 * @param {(PerMessageDeflate|undefined)} perMessageDeflate The offered
 *     permessage-deflate extension, if any
 * @return {(String|undefined)} The error message, if the response is invalid
 * @private
 */
function checkUpgradeResponse(
  websocket,
  res,
  key,
  protocolSet,
  perMessageDeflate
) {
  const upgrade = res.headers.upgrade;

  if (upgrade === undefined || upgrade.toLowerCase() !== 'websocket') {
    return 'Invalid Upgrade header';
  }

  const digest = createHash('sha1')
    .update(key + GUID)
    .digest('base64');

  if (res.headers['sec-websocket-accept'] !== digest) {
    return 'Invalid Sec-WebSocket-Accept header';
  }

  const serverProtocol = res.headers['sec-websocket-protocol'];

  if (serverProtocol !== undefined) {
    if (!protocolSet.size) {
      return 'Server sent a subprotocol but none was requested';
    }

    if (!protocolSet.has(serverProtocol)) {
      return 'Server sent an invalid subprotocol';
    }
  } else if (protocolSet.size) {
    return 'Server sent no subprotocol';
  }

  if (serverProtocol) websocket._protocol = serverProtocol;

  const header = res.headers['sec-websocket-extensions'];

  if (header === undefined) return;

  if (!perMessageDeflate) {
    return (
      'Server sent a Sec-WebSocket-Extensions header but no extension ' +
      'was requested'
    );
  }

  let extensions;

  try {
    extensions = parse(header);
  } catch {
    return 'Invalid Sec-WebSocket-Extensions header';
  }

  const names = Object.keys(extensions);

  if (names.length !== 1 || names[0] !== PerMessageDeflate.extensionName) {
    return 'Server indicated an extension that was not requested';
  }

  try {
    perMessageDeflate.accept(extensions[PerMessageDeflate.extensionName]);
  } catch {
    return 'Invalid Sec-WebSocket-Extensions header';
  }

  websocket._extensions[PerMessageDeflate.extensionName] = perMessageDeflate;
}

/**
 * Emit the `'error'` and `'close'` events.
 *
 * @param {WebSocket} websocket The WebSocket instance
 * @param {Error} err The error to emit
 * @private
 */
function emitErrorAndClose(websocket, err) {
  websocket._readyState = CLOSING;
  websocket._errorEmitted = true;
  websocket.emit('error', err);
  websocket.emitClose();
}

/**
 * Create a `net.Socket` and initiate a connection.
 *
 * @param {Object} options Connection options
 * @return {net.Socket} The newly created socket used to start the connection
 * @private
 */
function netConnect(options) {
  //
  // For `net.connect()`, `path` is the IPC path, not the request path.
  //
  options.path = options.socketPath;
  return net.connect(options);
}

/**
 * Create a `tls.TLSSocket` and initiate a connection.
 *
 * @param {Object} options Connection options
 * @return {tls.TLSSocket} The newly created socket used to start the connection
 * @private
 */
function tlsConnect(options) {
  options.path = undefined;

  //
  // SNI carries host names only (RFC 6066 §3): no `servername` for an IP
  // address unless the user set one.
  //
  if (!options.servername && options.servername !== '') {
    options.servername = net.isIP(options.host) ? '' : options.host;
  }

  return tls.connect(options);
}

/**
 * Abort the handshake and emit an error.
 *
 * @param {WebSocket} websocket The WebSocket instance
 * @param {(http.ClientRequest|net.Socket|tls.Socket)} stream The request to
 *     abort or the socket to destroy
 * @param {String} message The error message
 * @private
 */
function abortHandshake(websocket, stream, message) {
  websocket._readyState = CLOSING;

  const err = new Error(message);
  Error.captureStackTrace(err, abortHandshake);

  if (typeof stream.setHeader === 'function') {
    //
    // An `http.ClientRequest`: its own `'error'` event is ignored (`kAborted`)
    // and ours is emitted on the next tick.
    //
    stream[kAborted] = true;
    stream.abort();

    //
    // `request.abort()` leaves the socket open if the request has already
    // completed (Node.js >= 14.3.0, ws#1869).
    //
    if (stream.socket && !stream.socket.destroyed) stream.socket.destroy();

    process.nextTick(emitErrorAndClose, websocket, err);
    return;
  }

  //
  // The upgraded socket: emit the error and the close event from the socket's
  // own events.
  //
  stream.destroy(err);
  stream.once('error', websocket.emit.bind(websocket, 'error'));
  stream.once('close', websocket.emitClose.bind(websocket));
}

/**
 * Handle cases where the `ping()`, `pong()`, or `send()` methods are called
 * when the `readyState` attribute is `CLOSING` or `CLOSED`.
 *
 * @param {WebSocket} websocket The WebSocket instance
 * @param {*} [data] The data to send
 * @param {Function} [cb] Callback
 * @private
 */
function sendAfterClose(websocket, data, cb) {
  if (data) {
    const length = isBlob(data) ? data.size : toBuffer(data).length;

    //
    // As in browsers, data sent after closing still counts in
    // `bufferedAmount`. Without a socket (a failed client handshake) there is
    // no sender to account it.
    //
    if (websocket._socket) websocket._sender._bufferedBytes += length;
    else websocket._bufferedAmount += length;
  }

  if (cb) {
    const state = websocket._readyState;
    const err = new Error(
      `WebSocket is not open: readyState ${state} (${READY_STATES[state]})`
    );

    process.nextTick(cb, err);
  }
}

/**
 * The listener of the `Receiver` `'conclude'` event.
 *
 * @param {Number} code The status code
 * @param {Buffer} reason The reason for closing
 * @private
 */
function receiverOnConclude(code, reason) {
  const websocket = this[kWebSocket];

  websocket._closeFrameReceived = true;
  websocket._closeCode = code;

  //
  // `reason` may be a view into a large buffer read from the socket; copy it
  // (unpooled) so that the `WebSocket` does not keep that memory alive.
  //
  if (reason.length === 0) {
    websocket._closeMessage = EMPTY_BUFFER;
  } else {
    websocket._closeMessage = Buffer.allocUnsafeSlow(reason.length);
    websocket._closeMessage.set(reason);
  }

  if (websocket._socket[kWebSocket] === undefined) return;

  //
  // Nothing after the close frame is read, but the socket keeps flowing so
  // that its `'end'` event can be emitted.
  //
  websocket._socket.removeListener('data', socketOnData);
  process.nextTick(resumeStream, websocket._socket);

  if (code === 1005) websocket.close();
  else websocket.close(code, reason);
}

/**
 * The listener of the `Receiver` `'drain'` event.
 *
 * @private
 */
function receiverOnDrain() {
  const websocket = this[kWebSocket];

  if (!websocket.isPaused) websocket._socket.resume();
}

/**
 * The listener of the `Receiver` `'error'` event.
 *
 * @param {(RangeError|Error)} err The emitted error
 * @private
 */
function receiverOnError(err) {
  const websocket = this[kWebSocket];

  if (websocket._socket[kWebSocket] !== undefined) {
    websocket._socket.removeListener('data', socketOnData);

    //
    // Keep the socket flowing so that its `'end'` event can be emitted. On the
    // next tick, as the `'error'` event may be emitted synchronously (ws#1940).
    //
    process.nextTick(resumeStream, websocket._socket);

    websocket.close(err[kStatusCode]);
  }

  if (!websocket._errorEmitted) {
    websocket._errorEmitted = true;
    websocket.emit('error', err);
  }
}

/**
 * The listener of the `Receiver` `'finish'` event.
 *
 * @private
 */
function receiverOnFinish() {
  this[kWebSocket].emitClose();
}

/**
 * The listener of the `Receiver` `'message'` event.
 *
 * @param {(Buffer|ArrayBuffer|Buffer[])} data The message
 * @param {Boolean} isBinary Specifies whether the message is binary or not
 * @private
 */
function receiverOnMessage(data, isBinary) {
  this[kWebSocket].emit('message', data, isBinary);
}

/**
 * The listener of the `Receiver` `'ping'` event.
 *
 * @param {Buffer} data The data included in the ping frame
 * @private
 */
function receiverOnPing(data) {
  const websocket = this[kWebSocket];

  //
  // RFC 6455 §5.5.2: a pong carrying the ping's payload is sent in response.
  //
  if (websocket._autoPong) websocket.pong(data, !this._isServer, NOOP);
  websocket.emit('ping', data);
}

/**
 * The listener of the native receiver's `'ping'` event (the pong was already
 * sent by Rust).
 *
 * @param {Buffer} data The data included in the ping frame
 * @private
 */
function nativeReceiverOnPing(data) {
  this[kWebSocket].emit('ping', data);
}

/**
 * The listener of the `Receiver` `'pong'` event.
 *
 * @param {Buffer} data The data included in the pong frame
 * @private
 */
function receiverOnPong(data) {
  this[kWebSocket].emit('pong', data);
}

/**
 * Resume a readable stream.
 *
 * @param {Readable} stream The readable stream
 * @private
 */
function resumeStream(stream) {
  stream.resume();
}

/**
 * The `Sender` error handler (a compression failure, for example).
 *
 * @param {Error} err The error
 * @private
 */
function senderOnError(err) {
  const websocket = this[kWebSocket];

  if (websocket._readyState === CLOSED) return;
  if (websocket._readyState === OPEN) {
    websocket._readyState = CLOSING;
    setCloseTimer(websocket);
  }

  //
  // `end()` rather than `destroy()` lets the peer finish sending what it has
  // queued. In the `CLOSING` state the close timer is already set (or not
  // needed).
  //
  this._socket.end();

  if (!websocket._errorEmitted) {
    websocket._errorEmitted = true;
    websocket.emit('error', err);
  }
}

/**
 * Set a timer to destroy the underlying raw socket of a WebSocket.
 *
 * @param {WebSocket} websocket The WebSocket instance
 * @private
 */
function setCloseTimer(websocket) {
  const socket = websocket._socket;

  websocket._closeTimer = setTimeout(
    socket.destroy.bind(socket),
    websocket._closeTimeout
  );
}

/**
 * The listener of the socket `'close'` event.
 *
 * @private
 */
function socketOnClose() {
  const websocket = this[kWebSocket];
  const receiver = websocket._receiver;

  this.removeListener('close', socketOnClose);
  this.removeListener('data', socketOnData);
  this.removeListener('end', socketOnEnd);

  websocket._readyState = CLOSING;

  //
  // The socket may close without a close frame or an `'end'` event, e.g. when
  // it was destroyed after an error. Data still buffered in the socket (it is
  // paused; in flowing mode everything has already been written to the
  // receiver) is read as one chunk and parsed before the receiver ends.
  //
  if (
    !this._readableState.endEmitted &&
    !websocket._closeFrameReceived &&
    !receiver._writableState.errorEmitted &&
    this._readableState.length !== 0
  ) {
    receiver.write(this.read(this._readableState.length));
  }

  receiver.end();

  this[kWebSocket] = undefined;

  clearTimeout(websocket._closeTimer);

  if (
    receiver._writableState.finished ||
    receiver._writableState.errorEmitted
  ) {
    websocket.emitClose();
  } else {
    receiver.on('error', receiverOnFinish);
    receiver.on('finish', receiverOnFinish);
  }
}

/**
 * The listener of the socket `'data'` event.
 *
 * @param {Buffer} chunk A chunk of data
 * @private
 */
function socketOnData(chunk) {
  if (!this[kWebSocket]._receiver.write(chunk)) this.pause();
}

/**
 * The listener of the socket `'end'` event.
 *
 * @private
 */
function socketOnEnd() {
  const websocket = this[kWebSocket];

  websocket._readyState = CLOSING;
  websocket._receiver.end();
  this.end();
}

/**
 * The listener of the socket `'error'` event.
 *
 * @private
 */
function socketOnError() {
  const websocket = this[kWebSocket];

  //
  // Later errors (e.g. from `destroy()` racing a write) are swallowed.
  //
  this.removeListener('error', socketOnError);
  this.on('error', NOOP);

  if (websocket) {
    websocket._readyState = CLOSING;
    this.destroy();
  }
}

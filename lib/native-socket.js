'use strict';

//
// The native transport (the default): after the HTTP upgrade, Rust takes over
// the descriptor of a plain TCP or Unix socket and reads, parses, inflates,
// deflates, frames and writes on its own threads. This module adopts the
// socket, drains the batched events Rust queues, and provides the three
// objects a `WebSocket` drives: the `_socket` facade, a receiver stand-in
// (events out) and a sender stand-in (frames in). It also provides the socket
// of an upgrade request to a listener Rust owns (`PendingSocket`, see
// `lib/native-server.js`).
//

const EventEmitter = require('events');
const net = require('net');
const tls = require('tls');

const EventTable = require('./event-table');
const native = require('./native');
const PerMessageDeflate = require('./permessage-deflate');
const Sender = require('./sender');
const { toArrayBuffer, toBuffer } = require('./buffer-util');
const { closeFrameBody, isBlob } = require('./validation');
const { EMPTY_BUFFER, kStatusCode, NOOP } = require('./constants');

// `TransportEvent.kind` values (src/bindings/transport.rs).
const KIND_MESSAGE = 1;
const KIND_PING = 2;
const KIND_PONG = 3;
const KIND_CLOSE = 4;
const KIND_ERROR = 5;
const KIND_WRITTEN = 6;
const KIND_END = 7;
const KIND_FINISH = 8;
const KIND_IO_ERROR = 9;
const KIND_CLOSED = 10;
const KIND_DATA = 11;
const KIND_FRAGMENT = 12;
const KIND_CHUNK = 13;
const KIND_NUDGE = 14;
const KIND_REQUEST = 15;
const KIND_REQUEST_GONE = 16;
const KIND_REQUEST_RESET = 17;
const KIND_PUSHED_CHUNK = 18;

// ws's `Receiver` states that mean "waiting" (`_state`).
const STATE_IDLE = 0;
const STATE_INFLATING = 5;
const STATE_DEFERRED = 6;

// `transportSend()` / `transportWrite()` results.
const SENT_GONE = 0;
const SENT_WRITTEN = 2;

// States of a tracked write.
const WRITE_QUEUED = 0;
const WRITE_COMPRESSED = 1;
const WRITE_DONE = 2;

//
// Small unmasked frames are framed in JS into one staging buffer and handed to
// Rust once per tick (or when another connection writes): one N-API call and
// one `writev` for all the frames a connection sends in a tick.
//
const STAGE_SIZE = 64 * 1024;
const STAGE_MAX_PAYLOAD = 2 * 1024;

// The `highWaterMark` of `write()` and of what a paused socket holds, as a
// `net.Socket`'s.
const HIGH_WATER_MARK = 16 * 1024;

//
// What the read path hands to `push()` for each chunk Rust read (its size is
// in `_chunkSize`): a chunk goes through `push()` as on a `net.Socket`, where
// listeners may watch it.
//
const READ_CHUNK = Symbol('read-chunk');

const sockets = new Map();
const nudged = new Map();
const listeners = new Map();
const pendingSockets = new Map();
const RECORDS_LENGTH = 4 * 1024;

//
// The event queue and abandoned writes of a socket that never held any: most
// connections never do, and an empty array is 32 bytes per connection. Never
// written to: a socket makes its own array before its first push.
//
const NONE = Object.freeze([]);
let records = new Float64Array(RECORDS_LENGTH);
let initialized = false;
let keepAlive = null;
let liveRefs = 0;
let undelivered = null;
let batchErrors = null;
const cursor = { record: 1, offset: 0 };
let stage = null;
let stageUsed = 0;
let stageCount = 0;
let stageOwner = null;

/**
 * Tells whether the native transport is wanted.
 *
 * @param {String} [option] The `transport` option (`'native'` or `'node'`)
 * @return {Boolean}
 * @public
 */
function wantsNative(option) {
  return resolveTransport(option) === 'native';
}

/**
 * Resolves the transport: the option, else `WS_RS_TRANSPORT`, else
 * `'native'`. Only `'node'` selects the Node-socket transport.
 *
 * @param {String} [option] The `transport` option (`'native'` or `'node'`)
 * @return {String} `'native'` or `'node'`
 * @public
 */
function resolveTransport(option) {
  const transport = option !== undefined ? option : process.env.WS_RS_TRANSPORT;

  return transport === 'node' ? 'node' : 'native';
}

/**
 * Tells whether Rust can take over a stream: a plain (not TLS) TCP or Unix
 * `net.Socket` with a descriptor and nothing left to write.
 *
 * @param {Duplex} socket The stream
 * @return {Boolean}
 * @public
 */
function canAdopt(socket) {
  if (socket instanceof PendingSocket) return !socket._answered;

  return (
    socket instanceof net.Socket &&
    !(socket instanceof tls.TLSSocket) &&
    !socket.destroyed &&
    !socket.connecting &&
    socket._handle != null &&
    typeof socket._handle.fd === 'number' &&
    socket._handle.fd >= 0 &&
    socket.writableLength === 0
  );
}

/**
 * Sets up the doorbell on first use.
 *
 * @private
 */
function init() {
  if (initialized) return;

  native.transportInit(onDoorbell);

  //
  // The doorbell is unref'd; this timer holds the event loop while a ref'd
  // connection is open, as a Node socket would (RESEARCH.md §3d).
  //
  keepAlive = setInterval(NOOP, 1 << 30);
  keepAlive.unref();
  initialized = true;
}

/**
 * Counts a ref'd open connection in or out.
 *
 * @param {Number} delta `1` or `-1`
 * @private
 */
function adjustRefs(delta) {
  liveRefs += delta;
  if (liveRefs === 0) keepAlive.unref();
  else if (liveRefs === delta && delta === 1) keepAlive.ref();
}

/**
 * The doorbell: drains every queued event and routes each to its socket.
 *
 * Rust hands a batch over as records in `records` and one Buffer holding their
 * payloads (see `transportDrain()`). An exception thrown by a listener
 * propagates at once (it becomes an uncaught exception, as with the Node
 * transport); the rest of the batch is delivered on the next tick.
 *
 * @private
 */
function onDoorbell() {
  if (undelivered !== null) {
    const events = undelivered;

    undelivered = null;
    for (let i = 0; i < events.length; i++) {
      const event = events[i];

      try {
        route(event.id, event.kind, event.arg, event.data, event.fragments);
      } catch (err) {
        undelivered = events.slice(i + 1);
        process.nextTick(onDoorbell);
        throw err;
      }
    }
  }

  let more = true;

  while (more) {
    const batch = native.transportDrain(records);
    const count = records[0];

    more = records[1] === 1;

    if (count === 0 && records[2] > records.length) {
      //
      // The next message has more fragments than there are records.
      //
      records = new Float64Array(records[2]);
      continue;
    }

    if (count === 0 && records.length > RECORDS_LENGTH) {
      records = new Float64Array(RECORDS_LENGTH);
    }

    batchErrors = null;
    cursor.record = 1;
    cursor.offset = 0;

    try {
      decodeRecords(batch, count, route);
    } catch (err) {
      //
      // Copy what is left out of `records` (the next drain reuses it).
      //
      undelivered = [];
      decodeRecords(batch, count, (id, kind, arg, data, fragments) => {
        undelivered.push({ id, kind, arg, data, fragments });
      });
      process.nextTick(onDoorbell);
      throw err;
    }
  }
}

/**
 * Walks the records of a batch from `cursor`, calling `visit` for each event
 * (a message's fragment records fold into its `fragments`). `cursor` is moved
 * past an event before `visit` sees it, so that the walk can go on after
 * `visit` threw.
 *
 * @param {Buffer} batch The payloads
 * @param {Number} count The number of records
 * @param {Function} visit Called with `(id, kind, arg, data, fragments)`
 * @private
 */
function decodeRecords(batch, count, visit) {
  while (cursor.record <= count) {
    let i = cursor.record;
    const base = i * 4;
    const id = records[base];
    const kind = records[base + 1];
    let arg = records[base + 2];
    const length = records[base + 3];
    const offset = cursor.offset;
    const data =
      length === 0 ? EMPTY_BUFFER : batch.subarray(offset, offset + length);
    let fragments = null;

    if (
      kind === KIND_MESSAGE &&
      i < count &&
      records[base + 5] === KIND_FRAGMENT
    ) {
      let at = offset;

      fragments = [];
      while (i < count && records[(i + 1) * 4 + 1] === KIND_FRAGMENT) {
        i++;
        const size = records[i * 4 + 3];

        fragments.push(batch.subarray(at, at + size));
        at += size;
      }
    } else if (kind === KIND_ERROR || kind === KIND_IO_ERROR) {
      if (batchErrors === null) batchErrors = native.transportTakeErrors();
      arg = batchErrors[arg];
    }

    cursor.record = i + 1;
    cursor.offset = offset + length;
    visit(id, kind, arg, data, fragments);
  }
}

/**
 * Hands an event to its connection: a nudge to the receiver that asked for it
 * (it may outlive its socket), anything else to the socket.
 *
 * @param {Number} id The connection id
 * @param {Number} kind The event kind
 * @param {*} arg Its number (or error record)
 * @param {Buffer} data Its payload
 * @param {(Buffer[]|null)} fragments A message's fragments, when several
 * @private
 */
function route(id, kind, arg, data, fragments) {
  if (kind === KIND_NUDGE) {
    const receiver = nudged.get(id);

    if (receiver !== undefined) {
      nudged.delete(id);
      receiver._nudged();
    }

    return;
  }

  if (kind === KIND_REQUEST_GONE || kind === KIND_REQUEST_RESET) {
    const socket = pendingSockets.get(arg);

    if (socket !== undefined) socket._gone(kind === KIND_REQUEST_RESET);
    return;
  }

  if (kind === KIND_REQUEST) {
    const listener = listeners.get(id);

    if (listener !== undefined) {
      listener._onRequest(data.latin1Slice(0, arg), data.subarray(arg));
    } else {
      //
      // The listener was closed after Rust queued the request: no one is
      // left to answer it, as Node destroys a socket no `'upgrade'` listener
      // takes.
      //
      native.transportReject(requestId(data), EMPTY_BUFFER);
    }

    return;
  }

  const socket = sockets.get(id);

  if (socket !== undefined) socket._onEvent(kind, arg, data, fragments);
}

/**
 * The id of an upgrade request: the first of its NUL-separated fields.
 *
 * @param {Buffer} data The request event's payload
 * @return {Number}
 * @private
 */
function requestId(data) {
  return Number(data.latin1Slice(0, data.indexOf(0)));
}

/**
 * Hands the staged frames to Rust.
 *
 * @param {Boolean} [switching] Another connection is about to write: leave
 *     the writing to the runtime's threads (a broadcast writes to many
 *     connections in one tick)
 * @private
 */
function flushStage(switching) {
  const owner = stageOwner;

  if (owner === null) return;

  const count = stageCount;
  const result = native.transportWrite(
    owner._id,
    stage.subarray(0, stageUsed),
    count,
    switching !== true,
    false
  );

  stageOwner = null;
  stageUsed = 0;
  stageCount = 0;
  owner._staged(result, count);
}

/**
 * Takes over `socket`: Rust duplicates its descriptor, `head` and any data
 * Node already buffered are parsed first, `preamble` (the 101 response) is
 * written before any frame, and the Node socket is destroyed (which closes
 * only Node's descriptor).
 *
 * @param {net.Socket} socket The upgraded socket (`canAdopt()` is true)
 * @param {Buffer} head The first packet of the upgraded stream
 * @param {(String|undefined)} preamble Bytes to write first
 * @param {Object} options The transport options (`transportAdopt()`)
 * @return {(NativeSocket|null)} The facade, or `null` if adoption failed
 * @public
 */
function adopt(socket, head, preamble, options) {
  init();

  if (socket instanceof PendingSocket) {
    socket._settle();
    return attach(
      native.transportAccept(
        socket._id,
        head,
        preamble === undefined ? null : Buffer.from(preamble),
        options
      ),
      socket
    );
  }

  socket.pause();

  //
  // Reading the addresses now makes Node cache them, so `req.socket` keeps
  // them after the socket is destroyed.
  //
  const info = {
    localAddress: socket.localAddress,
    localPort: socket.localPort,
    remoteAddress: socket.remoteAddress,
    remoteFamily: socket.remoteFamily,
    remotePort: socket.remotePort
  };
  const chunks = head.length > 0 ? [head] : [];
  let chunk;

  while ((chunk = socket.read()) !== null) chunks.push(chunk);

  const unix = socket._handle.constructor.name === 'Pipe';
  let id;

  try {
    id = native.transportAdopt(
      socket._handle.fd,
      unix,
      chunks.length === 1 ? chunks[0] : Buffer.concat(chunks),
      preamble === undefined ? null : Buffer.from(preamble),
      options
    );
  } catch {
    if (chunks.length > 0) socket.unshift(Buffer.concat(chunks));
    socket.resume();
    return null;
  }

  //
  // The Node socket lets go of its descriptor on the next tick (reading is
  // stopped already): until then it still looks upgraded to a second
  // `handleUpgrade()` call with the same socket, which must throw as in ws.
  //
  if (socket._handle && typeof socket._handle.readStop === 'function') {
    socket._handle.readStop();
  }
  process.nextTick(destroyAdopted, socket);
  return attach(id, info);
}

/**
 * Makes the facade of connection `id`, which Rust just took over.
 *
 * @param {Number} id The connection id
 * @param {Object} info The addresses of the connection
 * @return {NativeSocket}
 * @private
 */
function attach(id, info) {
  process.nextTick(uncork, id);

  const facade = new NativeSocket(id, info);

  sockets.set(id, facade);
  adjustRefs(1);

  //
  // Rust parsed `head` already: deliver its events on the next tick, as ws
  // parses it, rather than on the next doorbell.
  //
  process.nextTick(onDoorbell);
  return facade;
}

/**
 * Lets Rust write what was queued in the tick of the adoption, in one go.
 *
 * @param {Number} id The connection id
 * @private
 */
function uncork(id) {
  native.transportUncork(id);
}

/**
 * Destroys a Node socket whose descriptor Rust duplicated.
 *
 * @param {net.Socket} socket The socket
 * @private
 */
function destroyAdopted(socket) {
  socket.destroy();
}

/**
 * The `transportAdopt()` options of a connection.
 *
 * @param {Boolean} isServer Server role
 * @param {Object} extensions The negotiated extensions
 * @param {Object} options The `setSocket()` options
 * @param {Boolean} autoPong Answer pings automatically
 * @return {Object}
 * @public
 */
function transportOptions(isServer, extensions, options, autoPong) {
  const result = {
    isServer,
    maxPayload: options.maxPayload,
    maxFragments: options.maxFragments,
    maxBufferedChunks: options.maxBufferedChunks,
    skipUtf8Validation: !!options.skipUTF8Validation,
    autoPong: autoPong !== false
  };
  const perMessageDeflate = extensions[PerMessageDeflate.extensionName];

  if (perMessageDeflate) {
    result.deflate = perMessageDeflate.deflateOptions();
    result.inflate = perMessageDeflate.inflateOptions();
  }

  return result;
}

/**
 * Builds the error a closed connection gives to pending write callbacks: ws's
 * for a message still to compress, else the one of a destroyed stream.
 *
 * @param {Boolean} [compress] Whether the write was to be compressed
 * @return {Error}
 * @private
 */
function destroyedError(compress) {
  if (compress) {
    return new Error('The socket was closed while data was being compressed');
  }

  const err = new Error('Cannot call write after a stream was destroyed');

  err.code = 'ERR_STREAM_DESTROYED';
  return err;
}

//
// The events a `WebSocket` and the server listen to on the stand-ins.
//
const SOCKET_EVENTS = ['close', 'data', 'end', 'error', 'finish'];
const RECEIVER_EVENTS = [
  'conclude',
  'drain',
  'error',
  'message',
  'ping',
  'pong'
];

/**
 * A stand-in for a connected, open `net.Socket`: its fields.
 *
 * A base class rather than a helper that sets them, because V8 sizes an
 * instance by the assignments in its constructors: fields set by a helper
 * spill into a separate property array, one more allocation per connection.
 *
 * @extends EventEmitter
 * @private
 */
class OpenSocket extends EventEmitter {
  /**
   * @param {Object} info The addresses of the connection
   */
  constructor(info) {
    super();

    this.connecting = false;
    this.destroyed = false;
    this.readable = true;
    this.writable = true;
    this.localAddress = info.localAddress;
    this.localPort = info.localPort;
    this.remoteAddress = info.remoteAddress;
    this.remoteFamily = info.remoteFamily;
    this.remotePort = info.remotePort;
  }
}

/**
 * The socket of an upgrade request to a listener Rust owns, until the request
 * is answered: by the upgrade (`adopt()` takes it over), or by the HTTP
 * response written to it before `end()` or `destroy()`. Nothing is read from
 * it in the meantime.
 *
 * @extends OpenSocket
 */
class PendingSocket extends OpenSocket {
  /**
   * @param {Number} id The request id
   * @param {Object} info The addresses of the connection
   */
  constructor(id, info) {
    super(info);

    this._id = id;
    this._answered = false;
    this._response = [];
    pendingSockets.set(id, this);
  }

  /**
   * @type {Number}
   */
  get writableLength() {
    return 0;
  }

  /**
   * Returns the local address, as `net.Socket#address()` does.
   *
   * @return {Object}
   * @public
   */
  address() {
    return NativeSocket.prototype.address.call(this);
  }

  /**
   * Queues bytes of the response; they are written when the socket is ended
   * or destroyed.
   *
   * @param {(Buffer|String)} chunk The bytes
   * @param {String} [encoding] The encoding of a string
   * @param {Function} [cb] Called once queued
   * @return {Boolean} `true`
   * @public
   */
  write(chunk, encoding, cb) {
    if (typeof encoding === 'function') {
      cb = encoding;
      encoding = undefined;
    }

    if (!this.writable) {
      const err = new Error('write after end');

      err.code = 'ERR_STREAM_WRITE_AFTER_END';
      process.nextTick(() => {
        if (cb) cb(err);
        this.emit('error', err);
      });
      return false;
    }

    this._response.push(
      typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk
    );
    if (cb) process.nextTick(cb);
    return true;
  }

  /**
   * Writes the response queued (and `chunk`) and closes the connection.
   *
   * @param {(Buffer|String)} [chunk] The last bytes
   * @param {String} [encoding] The encoding of a string
   * @param {Function} [cb] A listener of `'finish'`
   * @return {PendingSocket} this
   * @public
   */
  end(chunk, encoding, cb) {
    if (typeof chunk === 'function') {
      cb = chunk;
      chunk = undefined;
    } else if (typeof encoding === 'function') {
      cb = encoding;
      encoding = undefined;
    }

    if (chunk !== undefined && chunk !== null) this.write(chunk, encoding);
    if (!this.writable) return this;

    this.writable = false;
    if (cb) this.once('finish', cb);
    this._answer();
    process.nextTick(() => this.emit('finish'));
    return this;
  }

  /**
   * Closes the connection, after the response written so far.
   *
   * @param {Error} [err] An error to emit
   * @return {PendingSocket} this
   * @public
   */
  destroy(err) {
    if (this.destroyed) return this;

    this.destroyed = true;
    this.readable = false;
    this.writable = false;
    this._answer();
    process.nextTick(() => {
      if (err) this.emit('error', err);
      this.emit('close', false);
    });
    return this;
  }

  /**
   * The request is answered (accepted, refused, or its client left): Rust
   * says no more about it.
   *
   * @private
   */
  _settle() {
    pendingSockets.delete(this._id);
    this._answered = true;
  }

  /**
   * Hands the response to Rust, which writes it and closes the connection.
   *
   * @private
   */
  _answer() {
    if (this._answered) return;

    const response = this._response;

    this._settle();
    this._response = null;
    native.transportReject(
      this._id,
      response.length === 1 ? response[0] : Buffer.concat(response)
    );
  }

  /**
   * The client went away before the request was answered (Rust dropped the
   * connection): the socket closes, as a `net.Socket` whose peer left.
   *
   * @param {Boolean} reset The client reset the connection
   * @private
   */
  _gone(reset) {
    this._settle();
    this._response = null;
    this.destroyed = true;
    this.readable = false;
    this.writable = false;
    process.nextTick(() => {
      //
      // As a `net.Socket` whose read fails. ws listens for errors while it
      // decides; without a listener the reset is not worth a crash.
      //
      const hadError = reset && this.listenerCount('error') > 0;

      if (hadError) {
        this.emit('error', ioError({ code: 'ECONNRESET', syscall: 'read' }));
      }

      this.emit('close', hadError);
    });
  }

  /**
   * No-op: the timeout of a request's head is Rust's.
   *
   * @return {PendingSocket} this
   * @public
   */
  setTimeout() {
    return this;
  }

  /**
   * No-op: Rust sets `TCP_NODELAY` on the upgraded connection.
   *
   * @return {PendingSocket} this
   * @public
   */
  setNoDelay() {
    return this;
  }

  /**
   * No-op.
   *
   * @return {PendingSocket} this
   * @public
   */
  setKeepAlive() {
    return this;
  }
}

/**
 * The `_socket` of a `WebSocket` on the native transport: a stand-in for the
 * `net.Socket` Rust took over. Writes, `end()`, `destroy()`, `pause()` and
 * `resume()` act on the adopted connection; `'end'`, `'finish'`, `'error'`
 * and `'close'` follow the connection as a socket's would.
 *
 * @extends OpenSocket
 */
class NativeSocket extends OpenSocket {
  /**
   * @param {Number} id The connection id
   * @param {Object} info The addresses read from the adopted socket
   */
  constructor(id, info) {
    super(info);

    this._events = new EventTable(SOCKET_EVENTS);
    this._id = id;
    this._eventQueue = NONE;
    this._chunkSize = 0;
    this._midChunk = false;
    this._closing = false;
    this._paused = false;
    this._refed = true;
    this._closed = false;
    this._pending = [];
    this._abandoned = NONE;
    this._receiver = null;
    this._readableState = {
      ended: false,
      endEmitted: false,
      flowing: true,
      length: 0
    };
    this._writableState = {
      ending: false,
      ended: false,
      finished: false,
      length: 0,
      needDrain: false
    };

    //
    // Rust copies the chunks it reads only while someone listens to
    // `'data'`.
    //
    this._tapped = false;
    this.on('newListener', onNewListener);
    this.on('removeListener', onRemoveListener);
  }

  /**
   * @type {Number}
   */
  get bufferSize() {
    return this._writableState.length;
  }

  /**
   * @type {Number}
   */
  get writableLength() {
    return this._writableState.length;
  }

  /**
   * @type {Boolean}
   */
  get readableEnded() {
    return this._readableState.endEmitted;
  }

  /**
   * @type {Boolean}
   */
  get writableFinished() {
    return this._writableState.finished;
  }

  /**
   * Returns the local address, as `net.Socket#address()` does.
   *
   * @return {Object}
   * @public
   */
  address() {
    return {
      address: this.localAddress,
      family: this.remoteFamily,
      port: this.localPort
    };
  }

  /**
   * Closes the connection at once.
   *
   * @param {Error} [err] An error to emit
   * @return {NativeSocket} this
   * @public
   */
  destroy(err) {
    if (this._close(false) && err) {
      process.nextTick(() => this.emit('error', err));
    }

    return this;
  }

  /**
   * Closes the connection at once with a TCP RST.
   *
   * @return {NativeSocket} this
   * @public
   */
  resetAndDestroy() {
    this._close(true);
    return this;
  }

  /**
   * Closes the connection at once: writes not reported written yet fail
   * (what Rust still has goes out if the kernel takes it without waiting).
   *
   * @param {Boolean} reset Close with a TCP RST
   * @return {Boolean} `false` if it was closed already
   * @private
   */
  _close(reset) {
    if (this.destroyed) return false;

    this._abandonWrites();
    this.destroyed = true;
    this.readable = false;
    this.writable = false;
    if (stageOwner === this) flushStage();
    if (reset) native.transportReset(this._id);
    else native.transportDestroy(this._id);
    return true;
  }

  /**
   * Hands bytes to the parser as if they had been read from the connection.
   *
   * @param {(Buffer|null)} chunk The bytes (`null` is ignored)
   * @return {Boolean} Whether more may be pushed
   * @public
   */
  push(chunk) {
    if (chunk === READ_CHUNK) return this._onRead(this._chunkSize);
    if (chunk === null || chunk === undefined || this.destroyed) return false;

    return native.transportInject(
      this._id,
      typeof chunk === 'string' ? Buffer.from(chunk) : toBuffer(chunk)
    );
  }

  /**
   * Ends our side once everything queued is written.
   *
   * @param {Function} [cb] Called on `'finish'`
   * @return {NativeSocket} this
   * @public
   */
  end(cb) {
    if (typeof cb === 'function') this.once('finish', cb);
    if (this._writableState.ending || this.destroyed) return this;

    this._writableState.ending = true;
    this._writableState.ended = true;
    this.writable = false;
    if (stageOwner === this) flushStage();

    const dropped = native.transportEnd(this._id);

    if (dropped > 0) this._dropWrites(dropped);
    return this;
  }

  /**
   * Fails the last `count` writes, which Rust dropped (messages it had not
   * compressed yet and what was queued behind them), with ws's error.
   *
   * @param {Number} count The number of writes
   * @private
   */
  _dropWrites(count) {
    const dropped = this._pending.splice(this._pending.length - count * 3);
    const err = destroyedError(true);

    for (let i = 0; i < dropped.length; i += 3) {
      this._writableState.length -= dropped[i].length;
      if (dropped[i + 1]) process.nextTick(dropped[i + 1], err);
    }
  }

  /**
   * @return {Boolean} Whether reading is paused
   * @public
   */
  isPaused() {
    return this._paused;
  }

  /**
   * Stops emitting what is read. As with a `net.Socket`, the connection is
   * still read until about a high water mark's worth is held (Rust counts).
   *
   * @return {NativeSocket} this
   * @public
   */
  pause() {
    if (!this._paused) {
      this._paused = true;
      this._readableState.flowing = false;
      native.transportSetPaused(this._id, true);
      this.emit('pause');
    }
    return this;
  }

  /**
   * Takes what a paused socket holds (ws reads it when the socket closes),
   * for the receiver's `write()`. Unlike a `net.Socket`, the result is not
   * the bytes but the events Rust parsed from them.
   *
   * @return {(HeldEvents|null)} The held chunks' events, or `null`
   * @public
   */
  read() {
    if (this._readableState.length === 0) return null;

    const queue = this._eventQueue;
    const events = [];
    const kept = [];

    for (let i = 0; i < queue.length; i += 4) {
      const kind = queue[i];

      if (kind <= KIND_ERROR || kind === KIND_CHUNK) {
        events.push(kind, queue[i + 1], queue[i + 2], queue[i + 3]);
      } else if (kind === KIND_DATA) {
        this.emit('data', queue[i + 2]);
      } else {
        kept.push(kind, queue[i + 1], queue[i + 2], queue[i + 3]);
      }
    }

    this._eventQueue = kept;
    this._readableState.length = 0;
    return new HeldEvents(events);
  }

  /**
   * Restarts reading.
   *
   * @return {NativeSocket} this
   * @public
   */
  resume() {
    if (this._paused) {
      this._paused = false;
      this._readableState.flowing = true;
      native.transportSetPaused(this._id, false);
      process.nextTick(emitResume, this);
      if (this._eventQueue.length > 0) process.nextTick(flushSocket, this);
    }
    return this;
  }

  /**
   * Lets this connection hold the event loop (the default).
   *
   * @return {NativeSocket} this
   * @public
   */
  ref() {
    if (!this._refed) {
      this._refed = true;
      if (!this._closed) adjustRefs(1);
    }
    return this;
  }

  /**
   * Lets the process exit while this connection is open.
   *
   * @return {NativeSocket} this
   * @public
   */
  unref() {
    if (this._refed) {
      this._refed = false;
      if (!this._closed) adjustRefs(-1);
    }
    return this;
  }

  /**
   * No-op: Rust sets `TCP_NODELAY` on adoption, as ws does.
   *
   * @return {NativeSocket} this
   * @public
   */
  setNoDelay() {
    return this;
  }

  /**
   * No-op: a WebSocket connection has no idle timeout (ws sets 0).
   *
   * @return {NativeSocket} this
   * @public
   */
  setTimeout() {
    return this;
  }

  /**
   * No-op for now.
   *
   * @return {NativeSocket} this
   * @public
   */
  setKeepAlive() {
    return this;
  }

  /**
   * Writes raw bytes on the connection.
   *
   * @param {(Buffer|String)} chunk The bytes
   * @param {(String|Function)} [encoding] The encoding of a string
   * @param {Function} [cb] Called once the bytes are in the kernel
   * @return {Boolean} Whether the caller may keep writing
   * @public
   */
  write(chunk, encoding, cb) {
    if (typeof encoding === 'function') {
      cb = encoding;
      encoding = undefined;
    }

    const data =
      typeof chunk === 'string'
        ? Buffer.from(chunk, encoding)
        : toBuffer(chunk);

    if (this._writableState.ending || this.destroyed) {
      if (cb) process.nextTick(cb, destroyedError());
      return false;
    }

    if (stageOwner === this) flushStage();

    //
    // As a `Writable`: the answer counts this write, even if the kernel takes
    // it at once (then `'drain'` follows on the next tick).
    //
    const ok = this._writableState.length + data.length < HIGH_WATER_MARK;

    if (!ok) this._writableState.needDrain = true;
    this._track(data, cb, native.transportWrite(this._id, data, 1, true, true));
    if (!ok && this._pending.length === 0) {
      process.nextTick(settleSocket, this);
    }

    return ok;
  }

  /**
   * Queues a frame.
   *
   * @param {Buffer} data The payload
   * @param {Number} opcode The opcode
   * @param {Boolean} fin The FIN bit
   * @param {Boolean} rsv1 The RSV1 bit
   * @param {Boolean} compress Whether to deflate the payload
   * @param {Boolean} mask Whether to mask the payload
   * @param {(Buffer|null)} maskKey A masking key, or `null` for a random one
   * @param {Function} [cb] Called once the frame is in the kernel
   * @private
   */
  _sendFrame(data, opcode, fin, rsv1, compress, mask, maskKey, cb) {
    if (this._writableState.ending || this.destroyed) {
      if (cb) process.nextTick(cb, destroyedError(compress));
      return;
    }

    const length = data.length;

    if (!compress && !mask && length <= STAGE_MAX_PAYLOAD) {
      if (stageOwner !== this || stageUsed + length + 4 > STAGE_SIZE) {
        flushStage(stageOwner !== this);
        if (stage === null) stage = Buffer.allocUnsafeSlow(STAGE_SIZE);
        if (stageOwner === null) process.nextTick(flushStage);
        stageOwner = this;
      }

      stage[stageUsed++] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
      if (length < 126) {
        stage[stageUsed++] = length;
      } else {
        stage[stageUsed++] = 126;
        stage[stageUsed++] = length >>> 8;
        stage[stageUsed++] = length & 0xff;
      }
      data.copy(stage, stageUsed);
      stageUsed += length;
      stageCount++;
      this._writableState.length += length;
      this._pending.push(data, cb, WRITE_QUEUED);
      return;
    }

    if (stageOwner === this) flushStage();

    const result = native.transportSend(
      this._id,
      data,
      opcode,
      fin,
      rsv1,
      compress,
      mask,
      maskKey
    );

    this._track(data, cb, result, compress);
  }

  /**
   * Accounts for the frames just handed over from the staging buffer: the
   * last `count` tracked writes.
   *
   * @param {Number} result What Rust did with them
   * @param {Number} count How many writes they are
   * @private
   */
  _staged(result, count) {
    //
    // Gone: they fail with the rest when the closed event arrives. Queued: a
    // written event counts them.
    //
    if (result !== SENT_WRITTEN) return;

    const pending = this._pending;

    for (let i = pending.length - count * 3; i < pending.length; i += 3) {
      pending[i + 2] = WRITE_DONE;
    }

    if (pending[2] === WRITE_DONE) process.nextTick(settleSocket, this);
  }

  /**
   * On `destroy()`, the writes not reported written yet fail (when the
   * connection closes), whether or not Rust still gets them out: as with ws,
   * where a message still being compressed fails.
   *
   * @private
   */
  _abandonWrites() {
    this._abandoned = this._pending;
    this._pending = [];
  }

  /**
   * Accounts a write handed to Rust until it is written. The data is kept
   * until then: Rust may queue it without a copy.
   *
   * @param {Buffer} data Its data
   * @param {Function} [cb] Its callback
   * @param {Number} result What Rust did with it (`transportSend()`)
   * @param {Boolean} [compress] Whether Rust deflates it
   * @private
   */
  _track(data, cb, result, compress) {
    if (result === SENT_GONE) {
      if (cb) process.nextTick(cb, destroyedError(compress));
      return;
    }

    if (result === SENT_WRITTEN && this._pending.length === 0) {
      if (cb) process.nextTick(cb, null);
      return;
    }

    //
    // Written at once but behind writes whose written event is still on its
    // way: it completes right after them, in order.
    //
    this._writableState.length += data.length;
    this._pending.push(
      data,
      cb,
      result === SENT_WRITTEN
        ? WRITE_DONE
        : compress
          ? WRITE_COMPRESSED
          : WRITE_QUEUED
    );
  }

  /**
   * Handles an event of the connection, in order. What is read waits while
   * the socket is paused, as a paused `net.Socket` emits no `'data'` and no
   * `'end'`; the write side's events and `'close'` do not.
   *
   * @param {Number} kind The event kind
   * @param {*} arg Its number (or error)
   * @param {Buffer} data Its payload
   * @param {(Buffer[]|null)} fragments A message's fragments, when several
   * @private
   */
  _onEvent(kind, arg, data, fragments) {
    switch (kind) {
      case KIND_WRITTEN:
        this._written(arg);
        return;
      case KIND_CHUNK:
        this._chunkSize = arg;
        this.push(READ_CHUNK);
        return;
      case KIND_PUSHED_CHUNK:
        //
        // Bytes that came through `push()` (or the upgrade's head, which ws
        // unshifts) do not go through it again.
        //
        this._onRead(arg);
        return;
      case KIND_CLOSED:
        this._closing = true;
      // falls through
      case KIND_FINISH:
      case KIND_IO_ERROR:
        this._dispatch(kind, arg, data, fragments);
        return;
    }

    this._take(kind, arg, data, fragments);
  }

  /**
   * A chunk was read: its events came before it. While paused, it is held
   * (`_readableState.length` counts it) until `resume()` or `read()`.
   *
   * @param {Number} size Its size in bytes
   * @return {Boolean} Whether the socket holds less than its high water mark
   * @private
   */
  _onRead(size) {
    this._take(KIND_CHUNK, size, EMPTY_BUFFER, null);
    return this._readableState.length < HIGH_WATER_MARK;
  }

  /**
   * Dispatches a read-side event, or queues it behind those waiting.
   *
   * @param {Number} kind The event kind
   * @param {*} arg Its number (or error)
   * @param {Buffer} data Its payload
   * @param {(Buffer[]|null)} fragments A message's fragments, when several
   * @private
   */
  _take(kind, arg, data, fragments) {
    let queue = this._eventQueue;

    if (queue.length === 0 && this._flowing(kind)) {
      this._dispatch(kind, arg, data, fragments);
      return;
    }

    if (queue === NONE) queue = this._eventQueue = [];
    queue.push(kind, arg, data, fragments);
    if (kind === KIND_CHUNK) this._readableState.length += arg;
    this._flush();
  }

  /**
   * Tells whether an event may be dispatched now: when not paused, or when
   * it is the rest of a chunk the receiver has begun (ws's receiver handles a
   * chunk written to it whole, whatever its socket does meanwhile).
   *
   * @param {Number} kind The event kind
   * @return {Boolean}
   * @private
   */
  _flowing(kind) {
    return (
      !this._paused ||
      (this._midChunk && (kind <= KIND_ERROR || kind === KIND_CHUNK))
    );
  }

  /**
   * Dispatches the queued events that may go (see `_flowing()`).
   *
   * @private
   */
  _flush() {
    const queue = this._eventQueue;

    while (queue.length > 0 && this._flowing(queue[0])) {
      const [kind, arg, data, fragments] = queue.splice(0, 4);

      if (kind === KIND_CHUNK) this._readableState.length -= arg;
      this._dispatch(kind, arg, data, fragments);
    }
  }

  /**
   * Completes `count` queued writes, and the writes done at once right behind
   * them, calling their callbacks in order.
   *
   * @param {Number} count The number of queued writes
   * @private
   */
  _written(count) {
    const pending = this._pending;
    let end = 0;

    while (
      end < pending.length &&
      (count > 0 || pending[end + 2] === WRITE_DONE)
    ) {
      if (pending[end + 2] !== WRITE_DONE) count--;
      end += 3;
    }

    const done = pending.splice(0, end);

    for (let i = 0; i < done.length; i += 3) {
      this._writableState.length -= done[i].length;
      const cb = done[i + 1];

      if (cb) cb(null);
    }

    if (this._writableState.needDrain && this._writableState.length === 0) {
      this._writableState.needDrain = false;
      this.emit('drain');
    }
  }

  /**
   * Dispatches one event.
   *
   * @param {Number} kind The event kind
   * @param {*} arg Its number (or error)
   * @param {Buffer} data Its payload
   * @param {(Buffer[]|null)} fragments A message's fragments, when several
   * @private
   */
  _dispatch(kind, arg, data, fragments) {
    switch (kind) {
      case KIND_CLOSED:
        //
        // After `destroy()`, Node emits `'close'` from the close phase of
        // the event loop, after promise jobs and immediates: so do we, even
        // if Rust was quicker.
        //
        if (this.destroyed) setImmediate(onClosed, this);
        else this._onClosed();
        return;
      case KIND_FINISH:
        //
        // As on a `net.Socket`, `destroy()` before the shutdown was reported
        // means no `'finish'`.
        //
        if (this.destroyed) return;
        this._writableState.finished = true;
        this.emit('finish');
        return;
      case KIND_IO_ERROR:
        if (this.destroyed) return;
        this.emit('error', ioError(arg));
        return;
      case KIND_DATA:
        //
        // Like a destroyed `net.Socket`, emit no `'data'` after `destroy()`.
        //
        if (!this.destroyed) this.emit('data', data);
        return;
      case KIND_END:
        if (this.destroyed) return;

        this._readableState.ended = true;
        this._readableState.endEmitted = true;
        this.readable = false;
        this.emit('end');
        return;
    }

    //
    // What was read before `destroy()` is still parsed and emitted, as ws
    // hands a closing socket's buffered data to its receiver. A chunk that
    // fills the receiver pauses the socket until the receiver drains, as ws's
    // `'data'` listener does.
    //
    //
    // Kinds 1-5 (message to error) and chunks are the receiver's.
    //
    this._midChunk = kind !== KIND_CHUNK;
    if (
      this._receiver !== null &&
      !this._receiver._push(kind, arg, data, fragments) &&
      !this._closing
    ) {
      this.pause();
    }
  }

  /**
   * The connection is closed: fail pending writes and emit `'close'`.
   *
   * @private
   */
  _onClosed() {
    this._closed = true;
    this.destroyed = true;
    this.readable = false;
    this.writable = false;
    sockets.delete(this._id);
    if (this._refed) adjustRefs(-1);

    const pending = this._abandoned.concat(this._pending);

    this._abandoned = NONE;
    this._pending = [];
    this._writableState.length = 0;

    for (let i = 0; i < pending.length; i += 3) {
      const cb = pending[i + 1];

      if (!cb) continue;
      if (pending[i + 2] === WRITE_DONE) cb(null);
      else cb(destroyedError(pending[i + 2] === WRITE_COMPRESSED));
    }

    this.emit('close', false);
  }
}

/**
 * Turns on the copies of read chunks when a `'data'` listener is added.
 *
 * @param {String} name The event name
 * @private
 */
function onNewListener(name) {
  if (name === 'data' && !this._tapped && !this._closed) {
    this._tapped = true;
    native.transportTap(this._id, true);
  }
}

/**
 * Turns them off when the last `'data'` listener is removed.
 *
 * @param {String} name The event name
 * @private
 */
function onRemoveListener(name) {
  if (
    name === 'data' &&
    this._tapped &&
    !this._closed &&
    this.listenerCount('data') === 0
  ) {
    this._tapped = false;
    native.transportTap(this._id, false);
  }
}

/**
 * Emits `'close'` on a facade.
 *
 * @param {NativeSocket} socket The facade
 * @private
 */
function onClosed(socket) {
  socket._onClosed();
}

/**
 * Emits `'resume'`, on the tick after `resume()` as a `Readable` does.
 *
 * @param {NativeSocket} socket The facade
 * @private
 */
function emitResume(socket) {
  socket.emit('resume');
}

/**
 * Completes the writes done at once that lead the queue.
 *
 * @param {NativeSocket} socket The facade
 * @private
 */
function settleSocket(socket) {
  socket._written(0);
}

/**
 * Dispatches the events a paused socket held.
 *
 * @param {NativeSocket} socket The facade
 * @private
 */
function flushSocket(socket) {
  socket._flush();
}

/**
 * The events of the chunks a paused socket held, taken by `read()`.
 */
class HeldEvents {
  /**
   * @param {Array} events Flat `[kind, arg, data, fragments]` records
   */
  constructor(events) {
    this.events = events;
  }
}

/**
 * Builds the error of a failed socket call, as Node's (`read ECONNRESET`).
 *
 * @param {Object} record The error record
 * @return {Error}
 * @private
 */
function ioError(record) {
  const err = new Error(`${record.syscall} ${record.code}`);

  err.code = record.code;
  err.syscall = record.syscall;
  return err;
}

/**
 * The `_receiver` of a `WebSocket` on the native transport: emits what Rust
 * parsed with the events and fields of ws's `Receiver`.
 *
 * @extends EventEmitter
 */
class NativeReceiver extends EventEmitter {
  /**
   * @param {NativeSocket} socket The facade
   * @param {Object} options Options object
   * @param {Boolean} [options.allowSynchronousEvents=true] Emit several
   *     events in the same tick
   * @param {String} [options.binaryType=nodebuffer] The type for binary data
   * @param {Object} [options.extensions] The negotiated extensions
   * @param {Boolean} [options.isServer=false] Server role
   * @param {Number} [options.maxBufferedChunks=0] The maximum number of
   *     buffered chunks
   * @param {Number} [options.maxFragments=0] The maximum number of fragments
   * @param {Number} [options.maxPayload=0] The maximum message size
   */
  constructor(socket, options) {
    super();

    this._events = new EventTable(RECEIVER_EVENTS);

    this._socket = socket;
    this._allowSynchronousEvents =
      options.allowSynchronousEvents !== undefined
        ? options.allowSynchronousEvents
        : true;
    this._binaryType = options.binaryType || 'nodebuffer';
    this._extensions = options.extensions || {};
    this._isServer = !!options.isServer;
    this._maxBufferedChunks = options.maxBufferedChunks | 0;
    this._maxFragments = options.maxFragments | 0;
    this._maxPayload = options.maxPayload | 0;
    this._writableState = {
      ended: false,
      errorEmitted: false,
      finished: false,
      length: 0,
      needDrain: false
    };
    this._queue = [];
    this._next = 0;
    this._state = STATE_IDLE;
    this._inflated = null;

    socket._receiver = this;
  }

  /**
   * Takes the events a paused socket held (`NativeSocket#read()`), as ws's
   * receiver takes the bytes a closed socket buffered. Anything else is
   * ignored: Rust parses what is read.
   *
   * @param {*} chunk The held events
   * @return {Boolean} `false` when the chunks not fully handled reach ws's
   *     high water mark
   * @public
   */
  write(chunk) {
    if (chunk instanceof HeldEvents) {
      const events = chunk.events;
      let ok = true;

      for (let i = 0; i < events.length; i += 4) {
        ok = this._push(events[i], events[i + 1], events[i + 2], events[i + 3]);
      }

      return ok;
    }

    return true;
  }

  /**
   * Ends the stand-in: `'finish'` follows once every event already received
   * was emitted, as a `Writable` finishes after its pending writes.
   *
   * @public
   */
  end() {
    if (this._writableState.ended) return;

    this._writableState.ended = true;
    if (this._state === STATE_IDLE && this._next === this._queue.length) {
      process.nextTick(finishReceiver, this);
    }
  }

  /**
   * Takes an event from the socket. Events are emitted in order; a message
   * that came compressed waits one trip through the runtime first (state 5),
   * as ws's waits for zlib's thread pool, and without
   * `allowSynchronousEvents` each message, ping and pong waits for the next
   * turn of the event loop (state 6); later events queue behind them.
   *
   * @param {Number} kind The event kind
   * @param {*} arg Its number (or error record)
   * @param {Buffer} data Its payload
   * @param {(Buffer[]|null)} fragments A message's fragments, when several
   * @return {Boolean} `false` when the chunks not fully handled reach ws's
   *     high water mark (as `Writable#write()` says)
   * @private
   */
  _push(kind, arg, data, fragments) {
    const state = this._writableState;

    if (state.errorEmitted || state.ended) return true;

    let ok = true;

    if (kind === KIND_CHUNK) {
      //
      // The chunk's events came before it: it counts until they are handled,
      // as a chunk written to ws's receiver does.
      //
      state.length += arg;
      ok = state.length < HIGH_WATER_MARK;
      if (!ok) state.needDrain = true;
    }

    if (this._state !== STATE_IDLE || this._next < this._queue.length) {
      this._queue.push(kind, arg, data, fragments);
      return ok;
    }

    //
    // Nothing waits: handle it at once, without queueing it.
    //
    this._handle(kind, arg, data, fragments);
    if (this._state === STATE_IDLE) this._drained();
    return ok;
  }

  /**
   * Handles queued events until one has to wait.
   *
   * @private
   */
  _run() {
    const queue = this._queue;

    while (this._next < queue.length && this._state === STATE_IDLE) {
      const i = this._next;
      const kind = queue[i];
      const arg = queue[i + 1];
      const data = queue[i + 2];
      const fragments = queue[i + 3];

      queue[i + 2] = queue[i + 3] = null;
      this._next += 4;
      this._handle(kind, arg, data, fragments);

      if (this._writableState.errorEmitted) break;
    }

    if (this._state === STATE_IDLE || this._writableState.errorEmitted) {
      queue.length = 0;
      this._next = 0;
      if (this._state === STATE_IDLE) this._drained();
    }
  }

  /**
   * Everything received was handled: `'finish'` follows if the receiver was
   * ended.
   *
   * @private
   */
  _drained() {
    if (this._writableState.ended && !this._writableState.finished) {
      process.nextTick(finishReceiver, this);
    }
  }

  /**
   * Handles one event.
   *
   * @param {Number} kind The event kind
   * @param {*} arg Its number (or error record)
   * @param {Buffer} data Its payload
   * @param {(Buffer[]|null)} fragments A message's fragments, when several
   * @private
   */
  _handle(kind, arg, data, fragments) {
    const state = this._writableState;

    switch (kind) {
      case KIND_CHUNK:
        state.length -= arg;
        if (state.needDrain && state.length === 0) {
          process.nextTick(drainReceiver, this);
        }
        break;
      case KIND_MESSAGE:
        if (arg & 2) {
          this._state = STATE_INFLATING;
          this._inflated = [arg, data, fragments];
          nudged.set(this._socket._id, this);
          native.transportNudge(this._socket._id);
        } else {
          this._message(arg, data, fragments);
        }
        break;
      case KIND_PING:
        this._deferrable('ping', data);
        break;
      case KIND_PONG:
        this._deferrable('pong', data);
        break;
      case KIND_CLOSE:
        this.emit('conclude', arg, arg === 1005 ? EMPTY_BUFFER : data);
        this.end();
        break;
      case KIND_ERROR:
        state.errorEmitted = true;
        this.emit('error', protocolError(arg));
        break;
    }
  }

  /**
   * The runtime trip of a compressed message is over: emit it in the next
   * turn of the event loop (as zlib's callback comes in a turn of its own)
   * and go on.
   *
   * @private
   */
  _nudged() {
    setImmediate(emitInflated, this);
  }

  /**
   * Emits a message in the receiver's binary type.
   *
   * @param {Number} arg The record's flags (bit 0: binary)
   * @param {Buffer} data The whole message
   * @param {(Buffer[]|null)} fragments Its fragments, when several
   * @private
   */
  _message(arg, data, fragments) {
    if ((arg & 1) === 0) {
      this._deferrable('message', data, false);
      return;
    }

    let message;

    if (this._binaryType === 'nodebuffer') {
      message = data;
    } else if (this._binaryType === 'arraybuffer') {
      message = toArrayBuffer(data);
    } else {
      const parts =
        data.length === 0 ? [] : fragments !== null ? fragments : [data];

      message = this._binaryType === 'blob' ? new Blob(parts) : parts;
    }

    this._deferrable('message', message, true);
  }

  /**
   * Emits `'message'`, `'ping'` or `'pong'` now, or (without
   * `allowSynchronousEvents`) in the next turn of the event loop, holding
   * the later events until then.
   *
   * @param {String} name The event name
   * @param {*} data The event data
   * @param {Boolean} [isBinary] The second argument of `'message'`
   * @private
   */
  _deferrable(name, data, isBinary) {
    if (this._allowSynchronousEvents) {
      this._emit(name, data, isBinary);
      return;
    }

    this._state = STATE_DEFERRED;
    setImmediate(() => {
      this._emit(name, data, isBinary);
      this._state = STATE_IDLE;
      this._run();
    });
  }

  /**
   * @param {String} name The event name
   * @param {*} data The event data
   * @param {Boolean} [isBinary] The second argument of `'message'`
   * @private
   */
  _emit(name, data, isBinary) {
    if (name === 'message') this.emit(name, data, isBinary);
    else this.emit(name, data);
  }
}

/**
 * Emits a compressed message once its trip is over, then handles the events
 * behind it.
 *
 * @param {NativeReceiver} receiver The receiver
 * @private
 */
function emitInflated(receiver) {
  const [arg, data, fragments] = receiver._inflated;

  receiver._inflated = null;
  receiver._state = STATE_IDLE;
  receiver._message(arg, data, fragments);
  if (receiver._state === STATE_IDLE) receiver._run();
}

/**
 * Emits a receiver's `'drain'`, on the next tick as a `Writable` does after
 * a write that completed at once (the socket is paused by then).
 *
 * @param {NativeReceiver} receiver The receiver
 * @private
 */
function drainReceiver(receiver) {
  const state = receiver._writableState;

  if (!state.needDrain || state.length !== 0) return;

  state.needDrain = false;
  receiver.emit('drain');
}

/**
 * Emits a receiver's `'finish'`.
 *
 * @param {NativeReceiver} receiver The receiver
 * @private
 */
function finishReceiver(receiver) {
  const state = receiver._writableState;

  if (state.finished || state.errorEmitted) return;

  state.finished = true;
  receiver.emit('finish');
}

/**
 * Builds ws's error object from an error record of Rust.
 *
 * @param {Object} record The record
 * @return {(Error|RangeError)}
 * @private
 */
function protocolError(record) {
  const err = record.rangeError
    ? new RangeError(record.message)
    : new Error(record.message);

  if (typeof record.errno === 'number') err.errno = record.errno;
  err.code = record.code;
  err[kStatusCode] = record.status;
  return err;
}

/**
 * The `_sender` of a `WebSocket` on the native transport: validates and
 * orders what is sent (as ws's `Sender`), Rust deflates, frames and writes.
 */
class NativeSender {
  /**
   * @param {NativeSocket} socket The facade
   * @param {Object} [extensions] The negotiated extensions
   * @param {Function} [generateMask] The function used to generate the
   *     masking key
   */
  constructor(socket, extensions, generateMask) {
    this._socket = socket;
    this._extensions = extensions || {};
    this._generateMask = generateMask;
    this._firstFragment = true;
    this._compress = false;
    this._bufferedBytes = 0;
    this._deflateChecked = false;
    this._queue = [];
    this._busy = false;
    this.onerror = NOOP;
  }

  /**
   * ws's sender state: 1 while a message to compress has not been written
   * yet (Rust deflates it just before writing it), 2 while a blob is read,
   * else 0.
   *
   * @type {Number}
   */
  get _state() {
    const pending = this._socket._pending;

    for (let i = 2; i < pending.length; i += 3) {
      if (pending[i] === WRITE_COMPRESSED) return 1;
    }

    return this._busy ? 2 : 0;
  }

  /**
   * Sends a close frame.
   *
   * @param {Number} [code] The status code
   * @param {(String|Buffer)} [data] The reason
   * @param {Boolean} [mask=false] Whether to mask the frame
   * @param {Function} [cb] Callback
   * @public
   */
  close(code, data, mask, cb) {
    const buf = closeFrameBody(code, data);

    this._enqueue(buf, 0x08, true, false, false, mask, cb);
  }

  /**
   * Sends a ping.
   *
   * @param {*} data The payload
   * @param {Boolean} [mask=false] Whether to mask the frame
   * @param {Function} [cb] Callback
   * @public
   */
  ping(data, mask, cb) {
    this._control(0x09, data, mask, cb);
  }

  /**
   * Sends a pong.
   *
   * @param {*} data The payload
   * @param {Boolean} [mask=false] Whether to mask the frame
   * @param {Function} [cb] Callback
   * @public
   */
  pong(data, mask, cb) {
    this._control(0x0a, data, mask, cb);
  }

  /**
   * Sends a data message or fragment.
   *
   * @param {*} data The payload
   * @param {Object} options Options object
   * @param {Boolean} [options.binary=false] Binary rather than text
   * @param {Boolean} [options.compress=false] Whether to compress
   * @param {Boolean} [options.fin=false] Last fragment
   * @param {Boolean} [options.mask=false] Whether to mask
   * @param {Function} [cb] Callback
   * @public
   */
  send(data, options, cb) {
    const blob = isBlob(data);
    const byteLength = blob
      ? data.size
      : typeof data === 'string'
        ? Buffer.byteLength(data)
        : toBuffer(data).length;
    const [opcode, rsv1] = Sender.prototype._messageFlags.call(
      this,
      byteLength,
      options
    );

    //
    // ws creates its compressor on the first compressed message, so a bad
    // `zlibDeflateOptions` makes that `send()` throw; Rust deflates here, so
    // check the options at the same moment.
    //
    if (rsv1 && !this._deflateChecked) {
      this._extensions[PerMessageDeflate.extensionName].deflateOptions(true);
      this._deflateChecked = true;
    }

    this._enqueue(
      data,
      opcode,
      options.fin,
      rsv1,
      this._compress,
      options.mask,
      cb
    );
  }

  /**
   * Validates and queues a ping or pong.
   *
   * @param {Number} opcode The opcode
   * @param {*} data The payload
   * @param {Boolean} mask Whether to mask
   * @param {Function} [cb] Callback
   * @private
   */
  _control(opcode, data, mask, cb) {
    const byteLength = isBlob(data)
      ? data.size
      : typeof data === 'string'
        ? Buffer.byteLength(data)
        : toBuffer(data).length;

    if (byteLength > 125) {
      throw new RangeError('The data size must not be greater than 125 bytes');
    }

    this._enqueue(data, opcode, true, false, false, mask, cb);
  }

  /**
   * Sends a frame now, or after the blobs ahead of it are read.
   *
   * @private
   */
  _enqueue(data, opcode, fin, rsv1, compress, mask, cb) {
    if (isBlob(data)) {
      this._queue.push([data, opcode, fin, rsv1, compress, mask, cb]);
      this._bufferedBytes += data.size;
      if (!this._busy) this._dequeue();
      return;
    }

    const buf = typeof data === 'string' ? Buffer.from(data) : toBuffer(data);

    if (this._busy) {
      this._bufferedBytes += buf.length;
      this._queue.push([buf, opcode, fin, rsv1, compress, mask, cb]);
      return;
    }

    this._write(buf, opcode, fin, rsv1, compress, mask, cb);
  }

  /**
   * Sends queued frames in order, reading blobs as they come.
   *
   * @private
   */
  _dequeue() {
    while (!this._busy && this._queue.length > 0) {
      const params = this._queue.shift();
      const data = params[0];

      if (!isBlob(data)) {
        this._bufferedBytes -= data.length;
        this._write(...params);
        continue;
      }

      this._busy = true;
      data.arrayBuffer().then(
        (arrayBuffer) => {
          this._bufferedBytes -= data.size;
          this._busy = false;

          if (this._socket.destroyed) {
            //
            // As ws: every queued callback gets the error, on the next tick
            // so that a throwing callback is not caught by the promise.
            //
            const err = new Error(
              'The socket was closed while the blob was being read'
            );
            const callbacks = [params[6]];

            for (const queued of this._queue) callbacks.push(queued[6]);
            this._queue = [];
            process.nextTick(callCallbacks, callbacks, err);
            return;
          }

          params[0] = Buffer.from(arrayBuffer);
          this._write(...params);
          this._dequeue();
        },
        (err) => {
          this._bufferedBytes -= data.size;
          this._busy = false;
          process.nextTick(failBlob, this, err, params[6]);
        }
      );
    }
  }

  /**
   * Hands a frame to Rust.
   *
   * @private
   */
  _write(data, opcode, fin, rsv1, compress, mask, cb) {
    let maskKey = null;

    if (mask && this._generateMask) {
      maskKey = Buffer.alloc(4);
      this._generateMask(maskKey);
    }

    this._socket._sendFrame(
      data,
      opcode,
      fin,
      rsv1,
      compress,
      !!mask,
      maskKey,
      cb
    );
  }
}

/**
 * Calls callbacks with an error.
 *
 * @param {Function[]} callbacks The callbacks (some may be missing)
 * @param {Error} err The error
 * @private
 */
function callCallbacks(callbacks, err) {
  for (const cb of callbacks) {
    if (typeof cb === 'function') cb(err);
  }
}

/**
 * Reports a blob that could not be read, as ws's `Sender` does: the queued
 * callbacks get the error and the sender's `onerror` handler runs.
 *
 * @param {NativeSender} sender The sender
 * @param {Error} err The error
 * @param {Function} [cb] The callback of the failed frame
 * @private
 */
function failBlob(sender, err, cb) {
  if (cb) cb(err);

  const queue = sender._queue;

  sender._queue = [];
  for (const params of queue) {
    if (params[6]) params[6](err);
  }

  sender.onerror(err);
}

module.exports = {
  adjustRefs,
  adopt,
  canAdopt,
  init,
  listeners,
  NativeReceiver,
  NativeSender,
  NativeSocket,
  PendingSocket,
  resolveTransport,
  transportOptions,
  wantsNative
};

'use strict';

const { Duplex } = require('stream');

const kSocket = Symbol('websocket');
const kTerminate = Symbol('terminate-on-destroy');

/**
 * A duplex stream over a `WebSocket`: every message read is a chunk, every
 * chunk written is a message.
 *
 * @extends Duplex
 * @private
 */
class WebSocketDuplex extends Duplex {
  /**
   * Create a `WebSocketDuplex` instance.
   *
   * @param {WebSocket} ws The `WebSocket` to wrap
   * @param {Object} [options] The options for the `Duplex` constructor
   */
  constructor(ws, options) {
    //
    // The stream decides itself when it is destroyed and closed (see
    // `_destroy()`), and writes are always messages made of bytes.
    //
    super({
      ...options,
      autoDestroy: false,
      emitClose: false,
      objectMode: false,
      writableObjectMode: false
    });

    //
    // `Duplex` copies `read`, `write`, `final` and `destroy` options onto the
    // instance; the methods of this class take precedence over them.
    //
    for (const name of ['_read', '_write', '_final', '_destroy']) {
      if (Object.prototype.hasOwnProperty.call(this, name)) delete this[name];
    }

    this[kSocket] = ws;
    this[kTerminate] = true;

    ws.on('message', wsOnMessage.bind(this));
    ws.once('error', wsOnError.bind(this));
    ws.once('close', wsOnClose.bind(this));

    this.on('end', duplexOnEnd);
    this.on('error', duplexOnError);
  }

  /**
   * Resumes the websocket when the consumer asks for more data.
   *
   * @private
   */
  _read() {
    const ws = this[kSocket];

    if (ws.isPaused) ws.resume();
  }

  /**
   * Sends a chunk as a message, once the websocket is open.
   *
   * @param {Buffer} chunk The chunk to send
   * @param {String} encoding Unused: chunks are always buffers
   * @param {Function} callback Called when the message is written
   * @private
   */
  _write(chunk, encoding, callback) {
    const ws = this[kSocket];

    if (ws.readyState === ws.CONNECTING) {
      ws.once('open', () => this._write(chunk, encoding, callback));
      return;
    }

    ws.send(chunk, callback);
  }

  /**
   * Starts the closing handshake when the writable side ends.
   *
   * @param {Function} callback Called when the socket has finished writing
   * @private
   */
  _final(callback) {
    const ws = this[kSocket];

    if (ws.readyState === ws.CONNECTING) {
      ws.once('open', () => this._final(callback));
      return;
    }

    const socket = ws._socket;

    //
    // A client whose handshake failed never gets a socket: its `'error'`
    // event destroys this stream instead.
    //
    if (socket === null) return;

    if (socket._writableState.finished) {
      callback();
      if (this._readableState.endEmitted) this.destroy();
      return;
    }

    //
    // The readable side ends when the websocket emits `'close'`, after this
    // `'finish'`; `duplexOnEnd()` then destroys the stream.
    //
    socket.once('finish', () => callback());
    ws.close();
  }

  /**
   * Destroys the stream: terminates the websocket (unless it failed on its
   * own) and emits `'close'` once the websocket is closed.
   *
   * @param {(Error|null)} err The error, if any
   * @param {Function} callback Called with the final error
   * @private
   */
  _destroy(err, callback) {
    const ws = this[kSocket];

    if (ws.readyState === ws.CLOSED) {
      callback(err);
      process.nextTick(emitClose, this);
      return;
    }

    let reported = false;

    ws.once('error', (error) => {
      reported = true;
      callback(error);
    });

    ws.once('close', () => {
      if (!reported) callback(err);
      process.nextTick(emitClose, this);
    });

    if (this[kTerminate]) ws.terminate();
  }
}

/**
 * Wraps a `WebSocket` in a duplex stream.
 *
 * @param {WebSocket} ws The `WebSocket` to wrap
 * @param {Object} [options] The options for the `Duplex` constructor
 * @return {Duplex} The duplex stream
 * @public
 */
function createWebSocketStream(ws, options) {
  return new WebSocketDuplex(ws, options);
}

module.exports = createWebSocketStream;

/**
 * Emits the `'close'` event on a stream.
 *
 * @param {Duplex} stream The stream
 * @private
 */
function emitClose(stream) {
  stream.emit('close');
}

/**
 * The `'message'` listener of the websocket, bound to the stream. Pauses the
 * websocket when the readable buffer is full.
 *
 * @param {(Buffer|ArrayBuffer|Buffer[])} data The message
 * @param {Boolean} isBinary Specifies whether the message is binary
 * @private
 */
function wsOnMessage(data, isBinary) {
  const chunk =
    !isBinary && this._readableState.objectMode ? data.toString() : data;

  if (!this.push(chunk)) this[kSocket].pause();
}

/**
 * The `'error'` listener of the websocket, bound to the stream.
 *
 * @param {Error} err The error
 * @private
 */
function wsOnError(err) {
  if (this.destroyed) return;

  //
  // Do not terminate the websocket in `_destroy()`: before `'open'` there is
  // no socket to terminate, and after it the websocket is already closing
  // with a close frame that `terminate()` could cut off.
  //
  this[kTerminate] = false;
  this.destroy(err);
}

/**
 * The `'close'` listener of the websocket, bound to the stream. Ends the
 * readable side.
 *
 * @private
 */
function wsOnClose() {
  if (!this.destroyed) this.push(null);
}

/**
 * The `'end'` listener of the stream: destroys it once both sides are done.
 *
 * @private
 */
function duplexOnEnd() {
  if (!this.destroyed && this._writableState.finished) this.destroy();
}

/**
 * The `'error'` listener of the stream: destroys it, and keeps the error
 * unhandled (so it throws) when no one else listens.
 *
 * @param {Error} err The error
 * @private
 */
function duplexOnError(err) {
  this.removeListener('error', duplexOnError);
  this.destroy();
  if (this.listenerCount('error') === 0) this.emit('error', err);
}

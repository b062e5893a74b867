'use strict';

const { Duplex } = require('stream');

/**
 * Wraps a `WebSocket` in a duplex stream: every message read is a chunk, every
 * chunk written is a message.
 *
 * @param {WebSocket} ws The `WebSocket` to wrap
 * @param {Object} [options] The options for the `Duplex` constructor
 * @return {Duplex} The duplex stream
 * @public
 */
function createWebSocketStream(ws, options) {
  //
  // The stream decides itself when it is destroyed and closed (see `destroy`
  // below), and writes are always messages made of bytes.
  //
  const duplex = new Duplex({
    ...options,
    autoDestroy: false,
    emitClose: false,
    objectMode: false,
    writableObjectMode: false
  });

  //
  // Cleared when the websocket failed on its own: before `'open'` there is no
  // socket to terminate, and after it the websocket is already closing with a
  // close frame that `terminate()` could cut off.
  //
  let terminateOnDestroy = true;

  ws.on('message', (data, isBinary) => {
    const chunk =
      !isBinary && duplex._readableState.objectMode ? data.toString() : data;

    if (!duplex.push(chunk)) ws.pause();
  });

  ws.once('error', (err) => {
    if (duplex.destroyed) return;

    terminateOnDestroy = false;
    duplex.destroy(err);
  });

  ws.once('close', () => {
    if (!duplex.destroyed) duplex.push(null);
  });

  //
  // The stream methods are closures, not prototype methods: callers (ws's
  // tests among them) save and call them detached from the stream.
  //
  duplex._read = () => {
    if (ws.isPaused) ws.resume();
  };

  duplex._write = (chunk, encoding, callback) => {
    if (ws.readyState === ws.CONNECTING) {
      ws.once('open', () => duplex._write(chunk, encoding, callback));
      return;
    }

    ws.send(chunk, callback);
  };

  duplex._final = (callback) => {
    if (ws.readyState === ws.CONNECTING) {
      ws.once('open', () => duplex._final(callback));
      return;
    }

    const socket = ws._socket;

    //
    // A client whose handshake failed never gets a socket: its `'error'`
    // event destroys the stream instead.
    //
    if (socket === null) return;

    if (socket._writableState.finished) {
      callback();
      if (duplex._readableState.endEmitted) duplex.destroy();
      return;
    }

    //
    // The readable side ends when the websocket emits `'close'`, after this
    // `'finish'`; `duplexOnEnd()` then destroys the stream.
    //
    socket.once('finish', () => callback());
    ws.close();
  };

  duplex._destroy = (err, callback) => {
    if (ws.readyState === ws.CLOSED) {
      callback(err);
      process.nextTick(emitClose, duplex);
      return;
    }

    let reported = false;

    ws.once('error', (error) => {
      reported = true;
      callback(error);
    });

    ws.once('close', () => {
      if (!reported) callback(err);
      process.nextTick(emitClose, duplex);
    });

    if (terminateOnDestroy) ws.terminate();
  };

  duplex.on('end', duplexOnEnd);
  duplex.on('error', duplexOnError);
  return duplex;
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

'use strict';

const { Writable } = require('stream');

const PerMessageDeflate = require('./permessage-deflate');
const {
  BINARY_TYPES,
  EMPTY_BUFFER,
  kStatusCode,
  kWebSocket
} = require('./constants');
const { toArrayBuffer } = require('./buffer-util');
const { NativeReceiver } = require('./native');

const FastBuffer = Buffer[Symbol.species];

//
// ws's receiver states, as read from `_state`. 0-4 (GET_INFO ... GET_DATA) are
// reported by the Rust parser; the two below are JS-side waits.
//
const GET_INFO = 0;
const INFLATING = 5;
const DEFER_EVENT = 6;

//
// The records of `NativeReceiver#drain()`: `[kind, arg, offset, length]`, kind
// `END` closing the list; kind 6 (error) is the one not named here (see
// src/bindings/receiver.rs). `RECORDS` per call: measured on 200,000 16-byte
// messages, parse + drain took 30 ms with 16 records, 23 with 64, 22 with 128
// and 20 with 512. A connection starts with `MIN_RECORDS` (256 bytes: most
// socket reads carry a few messages) and doubles up to `RECORDS` (4 KiB) each
// time a batch fills the array, so idle connections stay small.
//
const STRIDE = 4;
const MIN_RECORDS = 8;
const RECORDS = 128;
const END = 0;
const MESSAGE = 1;
const PING = 2;
const PONG = 3;
const CLOSE = 4;
const INFLATE = 5;
const FRAGMENT = 7;
const GROW = 8;

/**
 * HyBi Receiver implementation.
 *
 * Parsing, unmasking, validation and limits are done by the Rust core
 * (`NativeReceiver`); this class feeds it the written chunks, drives the
 * permessage-deflate extension when the core asks for it, and turns the core's
 * batches of event records into ws's events, one event at a time.
 *
 * @extends Writable
 */
class Receiver extends Writable {
  /**
   * Creates a Receiver instance.
   *
   * @param {Object} [options] Options object
   * @param {Boolean} [options.allowSynchronousEvents=true] Specifies whether
   *     any of the `'message'`, `'ping'`, and `'pong'` events can be emitted
   *     multiple times in the same tick
   * @param {String} [options.binaryType=nodebuffer] The type for binary data
   * @param {Object} [options.extensions] An object containing the negotiated
   *     extensions
   * @param {Boolean} [options.isServer=false] Specifies whether to operate in
   *     client or server mode
   * @param {Number} [options.maxBufferedChunks=0] The maximum number of
   *     buffered data chunks
   * @param {Number} [options.maxFragments=0] The maximum number of message
   *     fragments
   * @param {Number} [options.maxPayload=0] The maximum allowed message length
   * @param {Boolean} [options.skipUTF8Validation=false] Specifies whether or
   *     not to skip UTF-8 validation for text and close messages
   */
  constructor(options = {}) {
    super();

    this._allowSynchronousEvents =
      options.allowSynchronousEvents !== undefined
        ? options.allowSynchronousEvents
        : true;
    this._binaryType = options.binaryType || BINARY_TYPES[0];
    this._extensions = options.extensions || {};
    this._isServer = !!options.isServer;
    this._maxBufferedChunks = options.maxBufferedChunks | 0;
    this._maxFragments = options.maxFragments | 0;
    this._maxPayload = options.maxPayload | 0;
    this._skipUTF8Validation = !!options.skipUTF8Validation;
    this[kWebSocket] = undefined;

    //
    // Created on the first write, so that the extensions negotiated by then
    // are the ones the parser allows.
    //
    this._native = null;

    //
    // The records of the last `drain()` (`_out`, read from `_pos`) and the
    // Buffer holding their payloads. `_total` is `_totalPayloadLength` as it
    // was when the event being handled was parsed, or -1 when no batch is
    // being handled (the parser's own count is then the right one).
    //
    this._out = null;
    this._pos = 0;
    this._batch = null;
    this._total = -1;

    this._closed = false;
    this._errored = false;
    this._loop = false;
    this._wait = GET_INFO;
  }

  /**
   * The parser state, with ws's numbering: `5` while a fragment is being
   * inflated, `6` while an event is deferred, else the Rust parser's state.
   *
   * @type {Number}
   */
  get _state() {
    if (this._wait !== GET_INFO) return this._wait;

    //
    // While the events of a batch are handled the parser may be further on;
    // each event was parsed at the end of its frame.
    //
    if (this._native === null || this._total !== -1) return GET_INFO;
    return this._native.state;
  }

  /**
   * The total payload length of the frames of the message being received.
   *
   * @type {Number}
   */
  get _totalPayloadLength() {
    if (this._total !== -1) return this._total;
    return this._native === null ? 0 : this._native.totalPayloadLength;
  }

  /**
   * Implements `Writable.prototype._write()`.
   *
   * @param {Buffer} chunk The chunk of data to write
   * @param {String} encoding The character encoding of `chunk`
   * @param {Function} cb Callback
   * @private
   */
  _write(chunk, encoding, cb) {
    //
    // RFC 6455 §5.5.1: nothing is read after a close frame.
    //
    if (this._closed) return cb();

    if (this._native === null) {
      this._native = new NativeReceiver({
        isServer: this._isServer,
        maxPayload: this._maxPayload,
        maxFragments: this._maxFragments,
        maxBufferedChunks: this._maxBufferedChunks,
        skipUtf8Validation: this._skipUTF8Validation,
        perMessageDeflate: !!this._extensions[PerMessageDeflate.extensionName]
      });
      this._out = new Float64Array(MIN_RECORDS * STRIDE);
    }

    const record = this._native.push(chunk);

    if (record !== null) {
      cb(this.createProtocolError(record));
      return;
    }

    this.startLoop(cb);
  }

  /**
   * Handles events of the parser until it needs more data, an inflate
   * result, or the next turn of the event loop.
   *
   * @param {Function} cb Callback
   * @private
   */
  startLoop(cb) {
    this._loop = true;

    do {
      if (!this.handleEvent(false, cb)) break;
    } while (this._loop);

    this._loop = false;

    if (!this._errored && this._wait === GET_INFO && !this._closed) cb();
  }

  /**
   * Handles the next event of the parser: the next record of the current batch,
   * or of a new one.
   *
   * @param {Boolean} inflated Specifies whether the event follows an inflate
   *     result, within the inflate callback
   * @param {Function} cb Callback
   * @return {Boolean} `false` if no event is ready
   * @private
   */
  handleEvent(inflated, cb) {
    let out = this._out;
    let pos = this._pos;

    if (out[pos] === END) {
      if (pos + 2 * STRIDE > out.length && out.length < RECORDS * STRIDE) {
        this._out = out = new Float64Array(out.length * 2);
      }

      let batch = this._native.drain(out);

      if (batch === null && out[0] === GROW) {
        //
        // A message of more fragments than `out` has records for.
        //
        this._out = out = new Float64Array(Math.max(out[1], out.length * 2));
        batch = this._native.drain(out);
      }

      pos = 0;
      this._pos = 0;
      this._batch = batch;

      if (batch === null) {
        this._total = -1;
        return false;
      }
    }

    const kind = out[pos];
    const arg = out[pos + 1];
    const offset = out[pos + 2];
    const length = out[pos + 3];

    pos += STRIDE;

    if (kind === MESSAGE) {
      let first = pos;

      while (out[pos] === FRAGMENT) pos += STRIDE;
      if (first === pos) first = -1;

      this._pos = pos;
      this._total = 0;
      this.dataMessage(arg === 1, offset, length, first, inflated, cb);
    } else if (kind === PING || kind === PONG) {
      this._pos = pos;
      this._total = arg;
      this.emitEvent(
        kind === PING ? 'ping' : 'pong',
        length === 0 ? EMPTY_BUFFER : this.payload(offset, length),
        undefined,
        false,
        cb
      );
    } else {
      //
      // A close, inflate or error record ends its batch: the parser stopped
      // there, so its counts are the right ones.
      //
      this._pos = pos;
      this._total = -1;

      if (kind === CLOSE) {
        this.closeMessage(
          arg,
          arg === 1005 ? EMPTY_BUFFER : this.payload(offset, length),
          cb
        );
      } else if (kind === INFLATE) {
        this.decompress(this.payload(offset, length), arg === 1, cb);
      } else {
        cb(this.createProtocolError(this._native.takeError()));
      }
    }

    return true;
  }

  /**
   * A payload of the current batch, as a view (no copy). The view keeps the
   * whole batch alive; the parser bounds a batch to 64 KiB unless it holds a
   * single larger event, so a small message kept by the user pins no more than
   * ws's payloads do (a view into the socket chunk they came in). A batch is
   * never written again once handed out.
   *
   * @param {Number} offset The offset of the payload in the batch
   * @param {Number} length The length of the payload
   * @return {Buffer} The payload
   * @private
   */
  payload(offset, length) {
    const batch = this._batch;

    return new FastBuffer(batch.buffer, batch.byteOffset + offset, length);
  }

  /**
   * Inflates a compressed fragment and gives the result back to the parser.
   *
   * @param {Buffer} data Compressed data
   * @param {Boolean} fin Specifies whether this is the last fragment
   * @param {Function} cb Callback
   * @private
   */
  decompress(data, fin, cb) {
    const perMessageDeflate = this._extensions[PerMessageDeflate.extensionName];

    this._loop = false;
    this._wait = INFLATING;

    perMessageDeflate.decompress(data, fin, (err, buf) => {
      if (err) {
        this._errored = true;
        cb(err);
        return;
      }

      this._native.pushInflated(buf, fin);

      //
      // As in ws, the message completed by this fragment is handled while the
      // state is still "inflating" (a text message is then emitted without
      // deferral even if `allowSynchronousEvents` is `false`).
      //
      if (fin && this.handleEvent(true, cb)) {
        if (this._errored || this._closed) return;
      }

      if (this._wait === INFLATING) {
        this._wait = GET_INFO;
        this.startLoop(cb);
      }
    });
  }

  /**
   * Handles a data message.
   *
   * @param {Boolean} binary Specifies whether the message is binary
   * @param {Number} offset The offset of the message in the batch
   * @param {Number} length The length of the message
   * @param {Number} first The index in `_out` of its first fragment record, or
   *     -1 if it has one fragment (or none)
   * @param {Boolean} inflated Specifies whether the message was completed by
   *     an inflate result
   * @param {Function} cb Callback
   * @private
   */
  dataMessage(binary, offset, length, first, inflated, cb) {
    //
    // The parser leaves out empty fragments, as ws does: an empty message is
    // then `EMPTY_BUFFER` (or `[]` for the 'fragments' binary type).
    //
    if (!binary) {
      const data = length === 0 ? EMPTY_BUFFER : this.payload(offset, length);

      this.emitEvent('message', data, false, inflated, cb);
      return;
    }

    let data;

    if (length === 0) {
      data = EMPTY_BUFFER;
      if (this._binaryType === 'fragments') data = [];
      else if (this._binaryType === 'arraybuffer') data = toArrayBuffer(data);
      else if (this._binaryType === 'blob') data = new Blob([]);
    } else if (this._binaryType === 'nodebuffer') {
      data = this.payload(offset, length);
    } else if (this._binaryType === 'arraybuffer') {
      //
      // `toArrayBuffer()` copies a view that does not cover its whole buffer.
      //
      data = toArrayBuffer(this.payload(offset, length));
    } else if (this._binaryType === 'blob') {
      data = new Blob([this.payload(offset, length)]);
    } else if (first === -1) {
      data = [this.payload(offset, length)];
    } else {
      const out = this._out;

      data = [];
      for (let i = first; i < this._pos; i += STRIDE) {
        data.push(this.payload(out[i + 2], out[i + 3]));
      }
    }

    this.emitEvent('message', data, true, false, cb);
  }

  /**
   * Handles a close message.
   *
   * @param {Number} code The close code
   * @param {Buffer} reason The close reason
   * @param {Function} cb Callback
   * @private
   */
  closeMessage(code, reason, cb) {
    this._loop = false;
    this._closed = true;

    this.emit('conclude', code, reason);
    this.end();

    //
    // Bytes after the close frame are ignored; the write that carried it
    // completes here.
    //
    if (!this._errored) cb();
  }

  /**
   * Emits a `'message'`, `'ping'`, or `'pong'` event, now or (if
   * `allowSynchronousEvents` is `false`) in the next turn of the event loop.
   *
   * @param {String} name The event name
   * @param {*} data The event data
   * @param {Boolean} [isBinary] The second argument of a `'message'` event
   * @param {Boolean} now Specifies whether to emit the event now regardless
   *     of `allowSynchronousEvents`
   * @param {Function} cb Callback
   * @private
   */
  emitEvent(name, data, isBinary, now, cb) {
    if (this._allowSynchronousEvents || now) {
      if (name === 'message') this.emit(name, data, isBinary);
      else this.emit(name, data);
      return;
    }

    this._loop = false;
    this._wait = DEFER_EVENT;

    setImmediate(() => {
      if (name === 'message') this.emit(name, data, isBinary);
      else this.emit(name, data);

      this._wait = GET_INFO;
      this.startLoop(cb);
    });
  }

  /**
   * Builds an error from a record of the Rust parser.
   *
   * @param {Object} record The error record (`code`, `status`, `message`,
   *     `rangeError`)
   * @return {(Error|RangeError)} The error
   * @private
   */
  createProtocolError(record) {
    //
    // The record's message already carries ws's prefix where ws has one.
    //
    return this.createError(
      record.rangeError ? RangeError : Error,
      record.message,
      false,
      record.status,
      record.code
    );
  }

  /**
   * Builds an error object.
   *
   * @param {function(new:Error|RangeError)} ErrorCtor The error constructor
   * @param {String} message The error message
   * @param {Boolean} prefix Specifies whether or not to add a default prefix to
   *     `message`
   * @param {Number} statusCode The status code
   * @param {String} errorCode The exposed error code
   * @return {(Error|RangeError)} The error
   * @private
   */
  createError(ErrorCtor, message, prefix, statusCode, errorCode) {
    this._loop = false;
    this._errored = true;

    const err = new ErrorCtor(
      prefix ? `Invalid WebSocket frame: ${message}` : message
    );

    Error.captureStackTrace(err, this.createError);
    err.code = errorCode;
    err[kStatusCode] = statusCode;
    return err;
  }
}

module.exports = Receiver;

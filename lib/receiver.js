'use strict';

const { Writable } = require('stream');

const PerMessageDeflate = require('./permessage-deflate');
const {
  BINARY_TYPES,
  EMPTY_BUFFER,
  kStatusCode,
  kWebSocket
} = require('./constants');
const { concat, toArrayBuffer } = require('./buffer-util');
const { NativeReceiver } = require('./native');

//
// ws's receiver states, as read from `_state`. 0-4 (GET_INFO ... GET_DATA) are
// reported by the Rust parser; the two below are JS-side waits.
//
const GET_INFO = 0;
const INFLATING = 5;
const DEFER_EVENT = 6;

/**
 * HyBi Receiver implementation.
 *
 * Parsing, unmasking, validation and limits are done by the Rust core
 * (`NativeReceiver`); this class feeds it the written chunks, drives the
 * permessage-deflate extension when the core asks for it, and turns the core's
 * events into ws's events.
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
    return this._native === null ? GET_INFO : this._native.state;
  }

  /**
   * The total payload length of the frames of the message being received.
   *
   * @type {Number}
   */
  get _totalPayloadLength() {
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
    }

    const record = this._native.push(chunk);

    if (record !== null) {
      cb(this.createProtocolError(record));
      return;
    }

    this.startLoop(cb);
  }

  /**
   * Pulls events from the parser until it needs more data, an inflate
   * result, or the next turn of the event loop.
   *
   * @param {Function} cb Callback
   * @private
   */
  startLoop(cb) {
    this._loop = true;

    do {
      const event = this._native.next();

      if (event === null) break;

      this.handleEvent(event, false, cb);
    } while (this._loop);

    this._loop = false;

    if (!this._errored && this._wait === GET_INFO && !this._closed) cb();
  }

  /**
   * Handles an event of the parser.
   *
   * @param {Object} event The event
   * @param {Boolean} inflated Specifies whether the event follows an inflate
   *     result, within the inflate callback
   * @param {Function} cb Callback
   * @private
   */
  handleEvent(event, inflated, cb) {
    switch (event.kind) {
      case 'message':
        this.dataMessage(event, inflated, cb);
        break;
      case 'ping':
      case 'pong':
        this.controlMessage(event, cb);
        break;
      case 'close':
        this.closeMessage(event, cb);
        break;
      case 'inflate':
        this.decompress(event.data, event.fin, cb);
        break;
      default:
        cb(this.createProtocolError(event.error));
    }
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
      if (fin) {
        const event = this._native.next();

        if (event !== null) {
          this.handleEvent(event, true, cb);
          if (this._errored || this._closed) return;
        }
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
   * @param {Object} event The `message` event of the parser
   * @param {Boolean} inflated Specifies whether the message was completed by
   *     an inflate result
   * @param {Function} cb Callback
   * @private
   */
  dataMessage(event, inflated, cb) {
    //
    // The parser leaves out empty fragments, as ws does: an empty message is
    // then `EMPTY_BUFFER` (or `[]` for the 'fragments' binary type).
    //
    let fragments = event.data;
    let length = 0;

    for (let i = 0; i < fragments.length; i++) length += fragments[i].length;
    if (length === 0) fragments = [];

    if (event.binary) {
      let data;

      if (this._binaryType === 'nodebuffer') {
        data = concat(fragments, length);
      } else if (this._binaryType === 'arraybuffer') {
        data = toArrayBuffer(concat(fragments, length));
      } else if (this._binaryType === 'blob') {
        data = new Blob(fragments);
      } else {
        data = fragments;
      }

      this.emitEvent('message', data, true, false, cb);
    } else {
      this.emitEvent('message', concat(fragments, length), false, inflated, cb);
    }
  }

  /**
   * Handles a ping or pong message.
   *
   * @param {Object} event The `ping` or `pong` event of the parser
   * @param {Function} cb Callback
   * @private
   */
  controlMessage(event, cb) {
    const data = event.data.length === 0 ? EMPTY_BUFFER : event.data;

    this.emitEvent(event.kind, data, undefined, false, cb);
  }

  /**
   * Handles a close message.
   *
   * @param {Object} event The `close` event of the parser
   * @param {Function} cb Callback
   * @private
   */
  closeMessage(event, cb) {
    this._loop = false;
    this._closed = true;

    this.emit(
      'conclude',
      event.code,
      event.code === 1005 ? EMPTY_BUFFER : event.reason
    );
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

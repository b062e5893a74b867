'use strict';

const { inspect } = require('util');
const { constants: zlibConstants } = require('zlib');

const Limiter = require('./limiter');
const { kStatusCode } = require('./constants');
const {
  checkDeflateOptions,
  NativeDeflate,
  NativeInflate,
  releaseFreeMemory
} = require('./native');

const DEFAULT_WINDOW_BITS = 15;

//
// Deflate inputs up to this size are compressed with the synchronous native
// call and the callback is deferred to the next turn of the event loop; larger
// ones go to the libuv thread pool, where they do not block the JS thread.
// Inflate always goes to the pool (only an empty input is done at once), as
// ws's zlib stream does: a small input can expand ~1000 times, and a
// compressed message then takes a pool round trip, which is the timing ws's
// users see (a socket can close, or `terminate()` be called, while the
// receiver is still inflating).
//
const SYNC_DEFLATE_LIMIT = 16 * 1024;
const SYNC_INFLATE_LIMIT = 0;

//
// Passed to an inflate operation's callback when `cleanup()` drops it: the
// caller is gone, so only the concurrency slot has to be released.
//
const kCancelled = Symbol('cancelled');

//
// We limit the concurrency of compression jobs, as ws does, which prevents
// severe memory fragmentation when many jobs use the thread pool at once. See
// https://github.com/nodejs/node/issues/8871#issuecomment-250915913 and
// https://github.com/websockets/ws/issues/1202
//
// Intentionally global: the thread pool it protects is global too.
//
let zlibLimiter;

//
// A codec left unused for a whole sweep period frees its zlib state (about
// 320 KiB for a compressor at the default settings, 40 KiB for a
// decompressor), keeping only its last window of data, which the next message
// uses as its dictionary: an idle connection with permessage-deflate then costs
// little more than one without.
//
const IDLE_SWEEP_MS = 1000;
const activeCodecs = new Set();
let idleSweep = null;

/**
 * A serial queue of operations over one native (de)compressor.
 *
 * The native object keeps the LZ77 window between messages, so operations on
 * it must run one at a time and in order, including the ones sent to the
 * thread pool. The `_level`, `_strategy` and `_chunkSize` fields mirror the
 * ones of Node's zlib streams, that ws exposes as `_deflate` and `_inflate`.
 *
 * @private
 */
class Codec {
  /**
   * Creates a `Codec`.
   *
   * @param {(NativeDeflate|NativeInflate)} native The native (de)compressor
   * @param {Boolean} inflate Specifies whether `native` decompresses
   * @param {Object} [zlibOptions] The zlib options given by the user
   * @param {Function} onFailure Called with the codec and its pending
   *     operations when an operation fails
   */
  constructor(native, inflate, zlibOptions, onFailure) {
    zlibOptions = zlibOptions || {};

    this._native = native;
    this._isInflate = inflate;
    this._onFailure = onFailure;
    this._queue = [];
    this._current = null;
    this._closed = false;
    this._used = false;

    this._chunkSize =
      zlibOptions.chunkSize !== undefined
        ? zlibOptions.chunkSize
        : zlibConstants.Z_DEFAULT_CHUNK;

    if (!inflate) {
      this._level =
        zlibOptions.level !== undefined
          ? zlibOptions.level
          : zlibConstants.Z_DEFAULT_COMPRESSION;
      this._strategy =
        zlibOptions.strategy !== undefined
          ? zlibOptions.strategy
          : zlibConstants.Z_DEFAULT_STRATEGY;
    }
  }

  /**
   * Queues an operation.
   *
   * @param {Buffer} data The input
   * @param {Boolean} fin Specifies whether this is the last fragment of the
   *     message
   * @param {Function} callback Called with `(err, result)`, always
   *     asynchronously
   * @public
   */
  run(data, fin, callback) {
    this._queue.push({ data, fin, callback, cancelled: false });
    this._used = true;
    if (!activeCodecs.has(this)) {
      activeCodecs.add(this);
      if (idleSweep === null) {
        idleSweep = setInterval(sweepIdleCodecs, IDLE_SWEEP_MS);
        idleSweep.unref();
      }
    }
    if (this._current === null) this._next();
  }

  /**
   * Starts the next queued operation.
   *
   * @private
   */
  _next() {
    if (this._closed || this._queue.length === 0) return;

    const op = this._queue.shift();
    const limit = this._isInflate ? SYNC_INFLATE_LIMIT : SYNC_DEFLATE_LIMIT;

    this._current = op;

    if (op.data.length <= limit) {
      let result;
      let error = null;

      try {
        result = this._isInflate
          ? this._native.decompress(op.data, op.fin)
          : this._native.compress(op.data, op.fin);
      } catch (err) {
        error = err;
      }

      //
      // The callback is never called synchronously, as with zlib streams: the
      // receiver and the sender rely on it (and `cleanup()` may still cancel
      // the operation in the meantime).
      //
      setImmediate(settle, this, op, error, result);
      return;
    }

    const promise = this._isInflate
      ? this._native.decompressAsync(op.data, op.fin)
      : this._native.compressAsync(op.data, op.fin);

    promise.then(
      (result) => settle(this, op, null, result),
      (err) => settle(this, op, err)
    );
  }

  /**
   * Stops the queue and returns the operations that did not complete.
   *
   * @return {Object[]} The pending operations, oldest first
   * @public
   */
  close() {
    const pending = this._current
      ? [this._current, ...this._queue]
      : this._queue.slice();

    for (const op of pending) op.cancelled = true;

    this._closed = true;
    this._current = null;
    this._queue = [];
    activeCodecs.delete(this);
    return pending;
  }
}

/**
 * Frees the zlib state of the codecs not used since the last sweep (between
 * messages only: `compact()` refuses a codec in the middle of one), then hands
 * the freed memory back to the OS.
 *
 * @private
 */
function sweepIdleCodecs() {
  let freed = false;

  for (const codec of activeCodecs) {
    if (codec._used || codec._current !== null) {
      codec._used = false;
      continue;
    }

    if (codec._native.compact()) freed = true;
    activeCodecs.delete(codec);
  }

  if (freed) releaseFreeMemory();

  if (activeCodecs.size === 0) {
    clearInterval(idleSweep);
    idleSweep = null;
  }
}

/**
 * Completes an operation of a `Codec`.
 *
 * @param {Codec} codec The codec
 * @param {Object} op The operation
 * @param {(Error|null)} err The native error, if any
 * @param {Buffer} [result] The output
 * @private
 */
function settle(codec, op, err, result) {
  if (op.cancelled) return;

  codec._current = null;

  if (err === null) {
    //
    // The next operation starts before the callback runs, so an exception
    // thrown by the callback cannot stall the queue.
    //
    codec._next();
    op.callback(null, result);
    return;
  }

  //
  // As with a zlib stream that emitted 'error', a failed (de)compressor is not
  // used again: the owner replaces it and takes over the queued operations.
  //
  const pending = codec.close();

  codec._onFailure(codec, pending);
  op.callback(codec._isInflate ? inflateError(err) : err);
}

/**
 * permessage-deflate implementation (RFC 7692), with the compression done by
 * the Rust core.
 */
class PerMessageDeflate {
  /**
   * Creates a PerMessageDeflate instance.
   *
   * @param {Object} [options] Configuration options
   * @param {(Boolean|Number)} [options.clientMaxWindowBits] Advertise support
   *     for, or request, a custom client window size
   * @param {Boolean} [options.clientNoContextTakeover=false] Advertise/
   *     acknowledge disabling of client context takeover
   * @param {Number} [options.concurrencyLimit=10] The number of concurrent
   *     calls to zlib
   * @param {Boolean} [options.isServer=false] Create the instance in either
   *     server or client mode
   * @param {Number} [options.maxPayload=0] The maximum allowed message length
   * @param {(Boolean|Number)} [options.serverMaxWindowBits] Request/confirm the
   *     use of a custom server window size
   * @param {Boolean} [options.serverNoContextTakeover=false] Request/accept
   *     disabling of server context takeover
   * @param {Number} [options.threshold=1024] Size (in bytes) below which
   *     messages should not be compressed if context takeover is disabled
   * @param {Object} [options.zlibDeflateOptions] Options to pass to zlib on
   *     deflate
   * @param {Object} [options.zlibInflateOptions] Options to pass to zlib on
   *     inflate
   */
  constructor(options) {
    this._options = options || {};
    this._threshold =
      this._options.threshold !== undefined ? this._options.threshold : 1024;
    this._maxPayload = this._options.maxPayload | 0;
    this._isServer = !!this._options.isServer;
    this._deflate = null;
    this._inflate = null;

    this.params = null;

    if (!zlibLimiter) {
      zlibLimiter = new Limiter(
        this._options.concurrencyLimit !== undefined
          ? this._options.concurrencyLimit
          : 10
      );
    }
  }

  /**
   * @type {String}
   */
  static get extensionName() {
    return 'permessage-deflate';
  }

  /**
   * Create an extension negotiation offer.
   *
   * @return {Object} Extension parameters
   * @public
   */
  offer() {
    const opts = this._options;
    const params = {};

    if (opts.serverNoContextTakeover) params.server_no_context_takeover = true;
    if (opts.clientNoContextTakeover) params.client_no_context_takeover = true;
    if (opts.serverMaxWindowBits) {
      params.server_max_window_bits = opts.serverMaxWindowBits;
    }

    //
    // RFC 7692 §7.1.2.2: a client that omits `client_max_window_bits` tells
    // the server it cannot handle a smaller window, so ws offers the bare
    // parameter unless the option is explicitly `false`.
    //
    if (opts.clientMaxWindowBits) {
      params.client_max_window_bits = opts.clientMaxWindowBits;
    } else if (opts.clientMaxWindowBits == null) {
      params.client_max_window_bits = true;
    }

    return params;
  }

  /**
   * Accept an extension negotiation offer/response.
   *
   * @param {Array} configurations The extension negotiation offers/reponse
   * @return {Object} Accepted configuration
   * @public
   */
  accept(configurations) {
    configurations = this.normalizeParams(configurations);

    this.params = this._isServer
      ? this.acceptAsServer(configurations)
      : this.acceptAsClient(configurations);

    return this.params;
  }

  /**
   * Releases all resources used by the extension.
   *
   * @public
   */
  cleanup() {
    if (this._inflate) {
      //
      // Pending inflate operations are dropped: their callers (a receiver
      // being torn down) no longer wait for them.
      //
      for (const op of this._inflate.close()) op.callback(kCancelled);
      this._inflate = null;
    }

    if (this._deflate) {
      const pending = this._deflate.close();

      this._deflate = null;

      for (const op of pending) {
        op.callback(
          new Error(
            'The deflate stream was closed while data was being processed'
          )
        );
      }
    }
  }

  /**
   *  Accept an extension negotiation offer.
   *
   * @param {Array} offers The extension negotiation offers
   * @return {Object} Accepted configuration
   * @private
   */
  acceptAsServer(offers) {
    const opts = this._options;
    const accepted = offers.find((params) => isAcceptableOffer(opts, params));

    if (!accepted) {
      throw new Error('None of the extension offers can be accepted');
    }

    if (opts.serverNoContextTakeover) {
      accepted.server_no_context_takeover = true;
    }
    if (opts.clientNoContextTakeover) {
      accepted.client_no_context_takeover = true;
    }
    if (typeof opts.serverMaxWindowBits === 'number') {
      accepted.server_max_window_bits = opts.serverMaxWindowBits;
    }
    if (typeof opts.clientMaxWindowBits === 'number') {
      accepted.client_max_window_bits = opts.clientMaxWindowBits;
    } else if (
      accepted.client_max_window_bits === true ||
      opts.clientMaxWindowBits === false
    ) {
      delete accepted.client_max_window_bits;
    }

    return accepted;
  }

  /**
   * Accept the extension negotiation response.
   *
   * @param {Array} response The extension negotiation response
   * @return {Object} Accepted configuration
   * @private
   */
  acceptAsClient(response) {
    const opts = this._options;
    const params = response[0];

    if (
      opts.clientNoContextTakeover === false &&
      params.client_no_context_takeover
    ) {
      throw new Error('Unexpected parameter "client_no_context_takeover"');
    }

    if (!params.client_max_window_bits) {
      if (typeof opts.clientMaxWindowBits === 'number') {
        params.client_max_window_bits = opts.clientMaxWindowBits;
      }
    } else if (
      opts.clientMaxWindowBits === false ||
      (typeof opts.clientMaxWindowBits === 'number' &&
        params.client_max_window_bits > opts.clientMaxWindowBits)
    ) {
      throw new Error(
        'Unexpected or invalid parameter "client_max_window_bits"'
      );
    }

    return params;
  }

  /**
   * Normalize parameters.
   *
   * @param {Array} configurations The extension negotiation offers/reponse
   * @return {Array} The offers/response with normalized parameters
   * @private
   */
  normalizeParams(configurations) {
    for (const params of configurations) {
      for (const key of Object.keys(params)) {
        const values = params[key];

        if (values.length > 1) {
          throw new Error(`Parameter "${key}" must have only a single value`);
        }

        params[key] = this.normalizeValue(key, values[0]);
      }
    }

    return configurations;
  }

  /**
   * Validates the value of one negotiation parameter (RFC 7692 §7.1).
   *
   * @param {String} key The parameter name
   * @param {(String|Boolean)} value The parameter value (`true` if absent)
   * @return {(Number|Boolean)} The normalized value
   * @private
   */
  normalizeValue(key, value) {
    switch (key) {
      case 'client_max_window_bits':
        //
        // Only an offer (received by a server) may carry the parameter
        // without a value.
        //
        if (value === true) {
          if (this._isServer) return true;
          break;
        }
      // falls through
      case 'server_max_window_bits': {
        const num = +value;

        if (Number.isInteger(num) && num >= 8 && num <= 15) return num;
        break;
      }
      case 'client_no_context_takeover':
      case 'server_no_context_takeover':
        if (value === true) return true;
        break;
      default:
        throw new Error(`Unknown parameter "${key}"`);
    }

    throw new TypeError(`Invalid value for parameter "${key}": ${value}`);
  }

  /**
   * Decompress data. Concurrency limited.
   *
   * @param {Buffer} data Compressed data
   * @param {Boolean} fin Specifies whether or not this is the last fragment
   * @param {Function} callback Callback
   * @public
   */
  decompress(data, fin, callback) {
    zlibLimiter.add((done) => {
      this._decompress(data, fin, (err, result) => {
        done();
        if (err !== kCancelled) callback(err, result);
      });
    });
  }

  /**
   * Compress data. Concurrency limited.
   *
   * @param {(Buffer|String)} data Data to compress
   * @param {Boolean} fin Specifies whether or not this is the last fragment
   * @param {Function} callback Callback
   * @public
   */
  compress(data, fin, callback) {
    zlibLimiter.add((done) => {
      this._compress(data, fin, (err, result) => {
        done();
        callback(err, result);
      });
    });
  }

  /**
   * Decompress data.
   *
   * @param {Buffer} data Compressed data
   * @param {Boolean} fin Specifies whether or not this is the last fragment
   * @param {Function} callback Callback
   * @private
   */
  _decompress(data, fin, callback) {
    if (!this._inflate) {
      const options = this._options.zlibInflateOptions;

      this._inflate = new Codec(
        new NativeInflate(this.inflateOptions()),
        true,
        options,
        (codec, pending) => {
          if (this._inflate === codec) this._inflate = null;
          for (const op of pending) {
            this._decompress(op.data, op.fin, op.callback);
          }
        }
      );
    }

    this._inflate.run(data, fin, callback);
  }

  /**
   * Compress data.
   *
   * @param {(Buffer|String)} data Data to compress
   * @param {Boolean} fin Specifies whether or not this is the last fragment
   * @param {Function} callback Callback
   * @private
   */
  _compress(data, fin, callback) {
    if (!this._deflate) {
      const options = this._options.zlibDeflateOptions || {};

      this._deflate = new Codec(
        new NativeDeflate(this.deflateOptions(true)),
        false,
        options,
        (codec, pending) => {
          if (this._deflate === codec) this._deflate = null;
          for (const op of pending) {
            this._compress(op.data, op.fin, op.callback);
          }
        }
      );
    }

    this._deflate.run(
      typeof data === 'string' ? Buffer.from(data) : data,
      fin,
      callback
    );
  }

  /**
   * Tells whether a message sent with the `compress` option is compressed.
   * Without context takeover, compressing a small message costs more than it
   * saves, so messages below `threshold` bytes are sent as they are (ws
   * #1954); with context takeover every message is compressed.
   *
   * @param {Number} byteLength The length of the message
   * @return {Boolean} `true` if the message is compressed
   * @public
   */
  compresses(byteLength) {
    const endpoint = this._isServer ? 'server' : 'client';

    return (
      !this.params[`${endpoint}_no_context_takeover`] ||
      byteLength >= this._threshold
    );
  }

  /**
   * The options of the compressor of this endpoint, as `NativeDeflate` takes
   * them: the negotiated parameters and `zlibDeflateOptions`.
   *
   * @param {Boolean} [check=false] Specifies whether to throw, as Node's zlib
   *     does, for a `zlibDeflateOptions` value of the wrong type or range
   * @return {Object} The options
   * @public
   */
  deflateOptions(check = false) {
    const endpoint = this._isServer ? 'server' : 'client';
    const zlibOptions = this._options.zlibDeflateOptions || {};
    const options = {
      windowBits: this.windowBits(`${endpoint}_max_window_bits`),
      noContextTakeover: !!this.params[`${endpoint}_no_context_takeover`]
    };

    for (const name of ['level', 'memLevel', 'strategy']) {
      if (zlibOptions[name] === undefined) continue;
      if (check) checkNumberOption(name, zlibOptions[name]);
      options[name] = zlibOptions[name];
    }

    if (check) checkDeflateOptions(options);
    return options;
  }

  /**
   * The options of the decompressor of this endpoint, as `NativeInflate` takes
   * them: the peer's negotiated parameters and `maxPayload`.
   *
   * @return {Object} The options
   * @public
   */
  inflateOptions() {
    const endpoint = this._isServer ? 'client' : 'server';

    return {
      windowBits: this.windowBits(`${endpoint}_max_window_bits`),
      noContextTakeover: !!this.params[`${endpoint}_no_context_takeover`],
      maxPayload: this._maxPayload
    };
  }

  /**
   * Returns the window size to use for a negotiated parameter.
   *
   * @param {String} key The parameter name
   * @return {Number} The base-2 logarithm of the window size
   * @private
   */
  windowBits(key) {
    return typeof this.params[key] === 'number'
      ? this.params[key]
      : DEFAULT_WINDOW_BITS;
  }
}

module.exports = PerMessageDeflate;

/**
 * Checks whether a server can accept an offer given its own configuration.
 *
 * @param {Object} opts The configuration options
 * @param {Object} params The normalized offer
 * @return {Boolean} `true` if the offer is acceptable
 * @private
 */
function isAcceptableOffer(opts, params) {
  if (
    opts.serverNoContextTakeover === false &&
    params.server_no_context_takeover
  ) {
    return false;
  }

  if (
    params.server_max_window_bits &&
    (opts.serverMaxWindowBits === false ||
      (typeof opts.serverMaxWindowBits === 'number' &&
        opts.serverMaxWindowBits > params.server_max_window_bits))
  ) {
    return false;
  }

  //
  // A client that does not offer `client_max_window_bits` cannot use a
  // smaller window than the default (RFC 7692 §7.1.2.2).
  //
  return !(
    typeof opts.clientMaxWindowBits === 'number' &&
    !params.client_max_window_bits
  );
}

/**
 * Shapes a native inflate failure as ws does.
 *
 * @param {Error} err The error thrown by the native decompressor
 * @return {(Error|RangeError)} The error for the caller
 * @private
 */
function inflateError(err) {
  if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
    const error = new RangeError('Max payload size exceeded');

    error.code = 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH';
    error[kStatusCode] = 1009;
    return error;
  }

  //
  // A corrupt stream: the error looks like the one of Node's zlib (`errno`
  // and `code`), and the connection is closed with 1007 (RFC 6455 §7.4.1).
  //
  const error = new Error(err.message);
  const errno = zlibConstants[err.code];

  if (typeof errno === 'number') error.errno = errno;
  error.code = err.code;
  error[kStatusCode] = 1007;
  return error;
}

/**
 * Throws the `TypeError` Node's zlib throws for a zlib option that is not a
 * number (the native side checks the range).
 *
 * @param {String} name The option name
 * @param {*} value The option value
 * @throws {TypeError} If `value` is not a number
 * @private
 */
function checkNumberOption(name, value) {
  if (typeof value === 'number') return;

  let received;

  if (value === null) {
    received = 'null';
  } else if (typeof value === 'function') {
    received = `function ${value.name}`;
  } else if (typeof value === 'object') {
    received =
      value.constructor && value.constructor.name
        ? `an instance of ${value.constructor.name}`
        : inspect(value, { depth: -1 });
  } else {
    const shown =
      typeof value === 'string' && value.length > 28
        ? `${value.slice(0, 25)}...`
        : value;
    received = `type ${typeof value} (${inspect(shown, { colors: false })})`;
  }

  const err = new TypeError(
    `The "options.${name}" property must be of type number. Received ${received}`
  );
  err.code = 'ERR_INVALID_ARG_TYPE';
  throw err;
}

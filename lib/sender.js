/* eslint no-unused-vars: ["error", { "varsIgnorePattern": "^Duplex" }] */

'use strict';

const { Duplex } = require('stream');
const { randomFillSync } = require('crypto');

const PerMessageDeflate = require('./permessage-deflate');
const { EMPTY_BUFFER, kWebSocket, NOOP } = require('./constants');
const { closeFrameBody, isBlob } = require('./validation');
const { mask: applyMask, toBuffer } = require('./buffer-util');
const { encodeFrame } = require('./native');

const kByteLength = Symbol('kByteLength');

//
// The payload size from which `encodeFrame()` (one napi call that allocates
// the frame and masks the payload into it) beats a JS allocation plus
// `mask()`; measured on Node 20.
//
const NATIVE_FRAME_MIN = 128 * 1024;

//
// The masking key of frames built without a `maskBuffer`. RFC 6455 §5.3 wants
// unpredictable keys, so they are drawn from a pool of random bytes refilled
// 8 KiB at a time (one `randomFillSync()` per 2048 frames).
//
const maskBuffer = Buffer.alloc(4);
const RANDOM_POOL_SIZE = 8 * 1024;
let randomPool;
let randomPoolPointer = RANDOM_POOL_SIZE;

// The values of `Sender#_state`, as in ws.
const DEFAULT = 0;
const DEFLATING = 1;
const GET_BLOB_DATA = 2;

/**
 * HyBi Sender implementation.
 */
class Sender {
  /**
   * Creates a Sender instance.
   *
   * @param {Duplex} socket The connection socket
   * @param {Object} [extensions] An object containing the negotiated extensions
   * @param {Function} [generateMask] The function used to generate the masking
   *     key
   */
  constructor(socket, extensions, generateMask) {
    this._extensions = extensions || {};

    if (generateMask) {
      this._generateMask = generateMask;
      this._maskBuffer = Buffer.alloc(4);
    }

    this._socket = socket;

    this._firstFragment = true;
    this._compress = false;

    this._bufferedBytes = 0;
    this._queue = [];
    this._state = DEFAULT;
    this.onerror = NOOP;
    this[kWebSocket] = undefined;
  }

  /**
   * Frames a piece of data according to the HyBi WebSocket protocol.
   *
   * @param {(Buffer|String)} data The data to frame
   * @param {Object} options Options object
   * @param {Boolean} [options.fin=false] Specifies whether or not to set the
   *     FIN bit
   * @param {Function} [options.generateMask] The function used to generate the
   *     masking key
   * @param {Boolean} [options.mask=false] Specifies whether or not to mask
   *     `data`
   * @param {Buffer} [options.maskBuffer] The buffer used to store the masking
   *     key
   * @param {Number} options.opcode The opcode
   * @param {Boolean} [options.readOnly=false] Specifies whether `data` can be
   *     modified
   * @param {Boolean} [options.rsv1=false] Specifies whether or not to set the
   *     RSV1 bit
   * @return {(Buffer|String)[]} The framed data
   * @public
   */
  static frame(data, options) {
    let mask;
    let skipMasking = false;

    if (options.mask) {
      mask = options.maskBuffer || maskBuffer;

      if (options.generateMask) options.generateMask(mask);
      else fillMask(mask);

      //
      // An all-zero key leaves the payload unchanged (RFC 6455 §5.3), so the
      // payload is neither copied nor masked.
      //
      skipMasking = (mask[0] | mask[1] | mask[2] | mask[3]) === 0;
    }

    const masked = !!options.mask && !skipMasking;
    let dataLength;

    if (typeof data === 'string') {
      //
      // A string that does not need masking is written as is: the socket
      // encodes it, and its byte length was computed by the caller.
      //
      if (!masked && options[kByteLength] !== undefined) {
        dataLength = options[kByteLength];
      } else {
        data = Buffer.from(data);
        dataLength = data.length;
      }
    } else {
      dataLength = data.length;

      //
      // Data that must not be modified is masked while it is copied after the
      // header. Large payloads are framed by the Rust core in one pass; below
      // `NATIVE_FRAME_MIN` creating the buffer across napi costs more than the
      // copy, so the header is written here and `mask()` does the copy.
      //
      if (masked && options.readOnly) {
        if (dataLength >= NATIVE_FRAME_MIN) {
          return [
            encodeFrame(
              data,
              options.opcode,
              !!options.fin,
              !!options.rsv1,
              mask
            )
          ];
        }

        const frame = frameHeader(dataLength, options, mask, dataLength);

        applyMask(data, mask, frame, frame.length - dataLength, dataLength);
        return [frame];
      }
    }

    const header = frameHeader(dataLength, options, mask, 0);

    if (masked) applyMask(data, mask, data, 0, dataLength);
    return [header, data];
  }

  /**
   * Sends a close message to the other peer.
   *
   * @param {Number} [code] The status code component of the body
   * @param {(String|Buffer)} [data] The message component of the body
   * @param {Boolean} [mask=false] Specifies whether or not to mask the message
   * @param {Function} [cb] Callback
   * @public
   */
  close(code, data, mask, cb) {
    const buf = closeFrameBody(code, data);

    const options = this.frameOptions(0x08, buf.length, true, mask, false);

    if (this._state !== DEFAULT) {
      this.enqueue([this.dispatch, buf, false, options, cb]);
    } else {
      this.sendFrame(Sender.frame(buf, options), cb);
    }
  }

  /**
   * Sends a ping message to the other peer.
   *
   * @param {*} data The message to send
   * @param {Boolean} [mask=false] Specifies whether or not to mask `data`
   * @param {Function} [cb] Callback
   * @public
   */
  ping(data, mask, cb) {
    this.sendControl(0x09, data, mask, cb);
  }

  /**
   * Sends a pong message to the other peer.
   *
   * @param {*} data The message to send
   * @param {Boolean} [mask=false] Specifies whether or not to mask `data`
   * @param {Function} [cb] Callback
   * @public
   */
  pong(data, mask, cb) {
    this.sendControl(0x0a, data, mask, cb);
  }

  /**
   * Sends a ping or a pong message.
   *
   * @param {Number} opcode The opcode (`0x09` or `0x0a`)
   * @param {*} data The message to send
   * @param {Boolean} [mask=false] Specifies whether or not to mask `data`
   * @param {Function} [cb] Callback
   * @private
   */
  sendControl(opcode, data, mask, cb) {
    const payload = toPayload(data);

    // RFC 6455 §5.5: a control frame payload is at most 125 bytes.
    if (payload.byteLength > 125) {
      throw new RangeError('The data size must not be greater than 125 bytes');
    }

    const options = this.frameOptions(
      opcode,
      payload.byteLength,
      true,
      mask,
      payload.readOnly
    );

    if (payload.isBlob) {
      if (this._state !== DEFAULT) {
        this.enqueue([this.getBlobData, payload.data, false, options, cb]);
      } else {
        this.getBlobData(payload.data, false, options, cb);
      }
    } else if (this._state !== DEFAULT) {
      this.enqueue([this.dispatch, payload.data, false, options, cb]);
    } else {
      this.sendFrame(Sender.frame(payload.data, options), cb);
    }
  }

  /**
   * The opcode and RSV1 bit of the next data frame, keeping track of the
   * message it belongs to: the first fragment decides compression for the
   * whole message (RFC 7692 §6.1: RSV1 is set on the first frame only) and
   * later fragments are continuation frames. Shared with the native
   * transport's sender, which has the same `_firstFragment`, `_compress` and
   * `_extensions` fields.
   *
   * @param {Number} byteLength The length of the fragment
   * @param {Object} options The `send()` options (`binary`, `compress`, `fin`)
   * @return {Array} `[opcode, rsv1]`
   * @private
   */
  _messageFlags(byteLength, options) {
    let opcode = 0;
    let rsv1 = false;

    if (this._firstFragment) {
      const perMessageDeflate =
        this._extensions[PerMessageDeflate.extensionName];

      opcode = options.binary ? 2 : 1;
      rsv1 =
        !!options.compress &&
        !!perMessageDeflate &&
        perMessageDeflate.compresses(byteLength);
      this._firstFragment = false;
      this._compress = rsv1;
    }

    if (options.fin) this._firstFragment = true;
    return [opcode, rsv1];
  }

  /**
   * Sends a data message to the other peer.
   *
   * @param {*} data The message to send
   * @param {Object} options Options object
   * @param {Boolean} [options.binary=false] Specifies whether `data` is binary
   *     or text
   * @param {Boolean} [options.compress=false] Specifies whether or not to
   *     compress `data`
   * @param {Boolean} [options.fin=false] Specifies whether the fragment is the
   *     last one
   * @param {Boolean} [options.mask=false] Specifies whether or not to mask
   *     `data`
   * @param {Function} [cb] Callback
   * @public
   */
  send(data, options, cb) {
    const payload = toPayload(data);
    const [opcode, rsv1] = this._messageFlags(payload.byteLength, options);

    const opts = this.frameOptions(
      opcode,
      payload.byteLength,
      options.fin,
      options.mask,
      payload.readOnly
    );

    opts.rsv1 = rsv1;

    if (payload.isBlob) {
      if (this._state !== DEFAULT) {
        this.enqueue([
          this.getBlobData,
          payload.data,
          this._compress,
          opts,
          cb
        ]);
      } else {
        this.getBlobData(payload.data, this._compress, opts, cb);
      }
    } else if (this._state !== DEFAULT) {
      this.enqueue([this.dispatch, payload.data, this._compress, opts, cb]);
    } else {
      this.dispatch(payload.data, this._compress, opts, cb);
    }
  }

  /**
   * Builds the options object given to `Sender.frame()`.
   *
   * @param {Number} opcode The opcode
   * @param {Number} byteLength The length of the payload in bytes
   * @param {Boolean} fin Specifies whether or not to set the FIN bit
   * @param {Boolean} mask Specifies whether or not to mask the payload
   * @param {Boolean} readOnly Specifies whether the payload can be modified
   * @return {Object} The options
   * @private
   */
  frameOptions(opcode, byteLength, fin, mask, readOnly) {
    return {
      [kByteLength]: byteLength,
      fin,
      generateMask: this._generateMask,
      mask,
      maskBuffer: this._maskBuffer,
      opcode,
      readOnly,
      rsv1: false
    };
  }

  /**
   * Gets the contents of a blob as binary data.
   *
   * @param {Blob} blob The blob
   * @param {Boolean} [compress=false] Specifies whether or not to compress
   *     the data
   * @param {Object} options Options object
   * @param {Boolean} [options.fin=false] Specifies whether or not to set the
   *     FIN bit
   * @param {Function} [options.generateMask] The function used to generate the
   *     masking key
   * @param {Boolean} [options.mask=false] Specifies whether or not to mask
   *     `data`
   * @param {Buffer} [options.maskBuffer] The buffer used to store the masking
   *     key
   * @param {Number} options.opcode The opcode
   * @param {Boolean} [options.readOnly=false] Specifies whether `data` can be
   *     modified
   * @param {Boolean} [options.rsv1=false] Specifies whether or not to set the
   *     RSV1 bit
   * @param {Function} [cb] Callback
   * @private
   */
  getBlobData(blob, compress, options, cb) {
    this._bufferedBytes += options[kByteLength];
    this._state = GET_BLOB_DATA;

    blob
      .arrayBuffer()
      .then((arrayBuffer) => {
        if (this._socket.destroyed) {
          //
          // The callbacks run in a later tick so that an exception thrown by
          // one of them is not turned into a rejection of this promise.
          //
          process.nextTick(
            callCallbacks,
            this,
            new Error('The socket was closed while the blob was being read'),
            cb
          );
          return;
        }

        this._bufferedBytes -= options[kByteLength];

        const data = toBuffer(arrayBuffer);

        if (compress) {
          this.dispatch(data, compress, options, cb);
          return;
        }

        this._state = DEFAULT;
        this.sendFrame(Sender.frame(data, options), cb);
        this.dequeue();
      })
      .catch((err) => {
        // In a later tick, for the same reason as above.
        process.nextTick(onError, this, err, cb);
      });
  }

  /**
   * Dispatches a message.
   *
   * @param {(Buffer|String)} data The message to send
   * @param {Boolean} [compress=false] Specifies whether or not to compress
   *     `data`
   * @param {Object} options Options object
   * @param {Boolean} [options.fin=false] Specifies whether or not to set the
   *     FIN bit
   * @param {Function} [options.generateMask] The function used to generate the
   *     masking key
   * @param {Boolean} [options.mask=false] Specifies whether or not to mask
   *     `data`
   * @param {Buffer} [options.maskBuffer] The buffer used to store the masking
   *     key
   * @param {Number} options.opcode The opcode
   * @param {Boolean} [options.readOnly=false] Specifies whether `data` can be
   *     modified
   * @param {Boolean} [options.rsv1=false] Specifies whether or not to set the
   *     RSV1 bit
   * @param {Function} [cb] Callback
   * @private
   */
  dispatch(data, compress, options, cb) {
    if (!compress) {
      this.sendFrame(Sender.frame(data, options), cb);
      return;
    }

    const perMessageDeflate = this._extensions[PerMessageDeflate.extensionName];

    this._bufferedBytes += options[kByteLength];
    this._state = DEFLATING;

    perMessageDeflate.compress(data, options.fin, (_, buf) => {
      if (this._socket.destroyed) {
        callCallbacks(
          this,
          new Error('The socket was closed while data was being compressed'),
          cb
        );
        return;
      }

      this._bufferedBytes -= options[kByteLength];
      this._state = DEFAULT;

      // The compressed data is a fresh buffer: it can be masked in place.
      options.readOnly = false;
      this.sendFrame(Sender.frame(buf, options), cb);
      this.dequeue();
    });
  }

  /**
   * Executes queued send operations.
   *
   * @private
   */
  dequeue() {
    while (this._state === DEFAULT && this._queue.length) {
      const [fn, data, compress, options, cb] = this._queue.shift();

      this._bufferedBytes -= options[kByteLength];
      fn.call(this, data, compress, options, cb);
    }
  }

  /**
   * Enqueues a send operation.
   *
   * @param {Array} params Send operation parameters.
   * @private
   */
  enqueue(params) {
    this._bufferedBytes += params[3][kByteLength];
    this._queue.push(params);
  }

  /**
   * Sends a frame.
   *
   * @param {(Buffer | String)[]} list The frame to send
   * @param {Function} [cb] Callback
   * @private
   */
  sendFrame(list, cb) {
    if (list.length === 1) {
      this._socket.write(list[0], cb);
      return;
    }

    //
    // The header and the payload are written separately, so the payload is
    // never copied; corking makes them leave in one system call.
    //
    this._socket.cork();
    this._socket.write(list[0]);
    this._socket.write(list[1], cb);
    this._socket.uncork();
  }
}

module.exports = Sender;

/**
 * Normalizes the data of a message.
 *
 * @param {*} data The data given by the user
 * @return {Object} `{ data, byteLength, readOnly, isBlob }`, where `data` is a
 *     string, a `Blob` or a `Buffer`
 * @private
 */
function toPayload(data) {
  if (typeof data === 'string') {
    return {
      data,
      byteLength: Buffer.byteLength(data),
      readOnly: false,
      isBlob: false
    };
  }

  if (isBlob(data)) {
    return { data, byteLength: data.size, readOnly: false, isBlob: true };
  }

  const buf = toBuffer(data);

  return {
    data: buf,
    byteLength: buf.length,
    readOnly: toBuffer.readOnly,
    isBlob: false
  };
}

/**
 * Fills a masking key with bytes from the random pool.
 *
 * @param {Buffer} mask The 4-byte buffer to fill
 * @private
 */
function fillMask(mask) {
  if (randomPoolPointer === RANDOM_POOL_SIZE) {
    //
    // Allocated on first use: a server never masks, so it never needs it.
    //
    if (randomPool === undefined) randomPool = Buffer.alloc(RANDOM_POOL_SIZE);

    randomFillSync(randomPool, 0, RANDOM_POOL_SIZE);
    randomPoolPointer = 0;
  }

  mask[0] = randomPool[randomPoolPointer++];
  mask[1] = randomPool[randomPoolPointer++];
  mask[2] = randomPool[randomPoolPointer++];
  mask[3] = randomPool[randomPoolPointer++];
}

/**
 * Builds a frame header (RFC 6455 §5.2), optionally followed by room for the
 * payload.
 *
 * The header is built in JS: it is a few bytes, and a native call would cost
 * more than writing them.
 *
 * @param {Number} length The payload length in bytes
 * @param {Object} options The options of `Sender.frame()`
 * @param {Buffer} [mask] The masking key, if the frame is masked
 * @param {Number} room The number of bytes to allocate after the header
 * @return {Buffer} The header
 * @private
 */
function frameHeader(length, options, mask, room) {
  let size = mask === undefined ? 2 : 6;
  let lengthCode = length;

  // RFC 6455 §5.2: 7-bit length, or 126 + 16-bit, or 127 + 64-bit.
  if (length >= 65536) {
    size += 8;
    lengthCode = 127;
  } else if (length > 125) {
    size += 2;
    lengthCode = 126;
  }

  const header = Buffer.allocUnsafe(size + room);

  header[0] = options.fin ? options.opcode | 0x80 : options.opcode;
  if (options.rsv1) header[0] |= 0x40;
  header[1] = lengthCode;

  if (lengthCode === 126) {
    header.writeUInt16BE(length, 2);
  } else if (lengthCode === 127) {
    header[2] = header[3] = 0;
    header.writeUIntBE(length, 4, 6);
  }

  if (mask !== undefined) {
    header[1] |= 0x80;
    header[size - 4] = mask[0];
    header[size - 3] = mask[1];
    header[size - 2] = mask[2];
    header[size - 1] = mask[3];
  }

  return header;
}

/**
 * Calls queued callbacks with an error.
 *
 * @param {Sender} sender The `Sender` instance
 * @param {Error} err The error to call the callbacks with
 * @param {Function} [cb] The first callback
 * @private
 */
function callCallbacks(sender, err, cb) {
  if (typeof cb === 'function') cb(err);

  for (const params of sender._queue) {
    const callback = params[params.length - 1];

    if (typeof callback === 'function') callback(err);
  }
}

/**
 * Handles a `Sender` error.
 *
 * @param {Sender} sender The `Sender` instance
 * @param {Error} err The error
 * @param {Function} [cb] The first pending callback
 * @private
 */
function onError(sender, err, cb) {
  callCallbacks(sender, err, cb);
  sender.onerror(err);
}

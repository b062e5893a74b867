'use strict';

//
// Values shared by the ws-rs modules. The names, values and symbol descriptions
// are the ones ws exports from `lib/constants.js`, because code written for ws
// (and ws's own tests) imports them from there.
//

const hasBlob = typeof Blob !== 'undefined';

/**
 * The accepted values of `binaryType`, in ws's order (the first one is the
 * default). `'blob'` exists only where the runtime has a global `Blob`.
 */
const BINARY_TYPES = hasBlob
  ? ['nodebuffer', 'arraybuffer', 'fragments', 'blob']
  : ['nodebuffer', 'arraybuffer', 'fragments'];

module.exports = {
  BINARY_TYPES,
  CLOSE_TIMEOUT: 30000,
  EMPTY_BUFFER: Buffer.alloc(0),
  GUID: '258EAFA5-E914-47DA-95CA-C5AB0DC85B11',
  hasBlob,
  kForOnEventAttribute: Symbol('kIsForOnEventAttribute'),
  kListener: Symbol('kListener'),
  kStatusCode: Symbol('status-code'),
  kWebSocket: Symbol('websocket'),
  NOOP: () => {}
};

'use strict';

//
// Parse throughput of our `Receiver` (lib/receiver.js over the Rust parser) against
// npm ws's `Receiver`, in the same process: masked frames (as a server receives them),
// text and binary, 16 B, 1 KiB and 64 KiB messages, written in 64 KiB chunks (the
// size of a socket read). Bounded: a fixed number of bytes per case, best of a few
// rounds.
//
// Usage: node bench/receiver.bench.js
//

const crypto = require('crypto');
const path = require('path');

const Receiver = require('../lib/receiver');
//
// ws's package `exports` hide `ws/lib/*`: load the file by path.
//
const WsReceiver = require(
  path.join(path.dirname(require.resolve('ws/package.json')), 'lib/receiver.js')
);

const CHUNK = 64 * 1024;
const ROUNDS = 5;

const CASES = [
  { size: 16, count: 200000 },
  { size: 1024, count: 40000 },
  { size: 64 * 1024, count: 600 }
];

/**
 * Builds `count` masked frames of `size`-byte payloads, cut in `CHUNK`-byte chunks.
 *
 * @param {Number} size The payload size
 * @param {Number} count The number of frames
 * @param {Boolean} binary Specifies whether the frames are binary (else text)
 * @return {Buffer[]} The chunks
 */
function makeChunks(size, count, binary) {
  const payload = Buffer.alloc(size, 'a');
  const header = size < 126 ? 2 : size < 65536 ? 4 : 10;
  const frameLength = header + 4 + size;
  const all = Buffer.alloc(frameLength * count);
  const mask = crypto.randomBytes(4);

  for (let i = 0, offset = 0; i < count; i++, offset += frameLength) {
    all[offset] = 0x80 | (binary ? 2 : 1);
    if (size < 126) {
      all[offset + 1] = 0x80 | size;
    } else if (size < 65536) {
      all[offset + 1] = 0x80 | 126;
      all.writeUInt16BE(size, offset + 2);
    } else {
      all[offset + 1] = 0x80 | 127;
      all.writeUInt32BE(0, offset + 2);
      all.writeUInt32BE(size, offset + 6);
    }
    mask.copy(all, offset + header);
    for (let j = 0; j < size; j++) {
      all[offset + header + 4 + j] = payload[j] ^ mask[j & 3];
    }
  }

  const chunks = [];

  for (let offset = 0; offset < all.length; offset += CHUNK) {
    chunks.push(all.subarray(offset, offset + CHUNK));
  }

  return chunks;
}

/**
 * Times one parse of `chunks` by a new receiver of class `Ctor`.
 *
 * @param {Function} Ctor The receiver class
 * @param {Buffer[]} chunks The chunks
 * @param {Number} count The number of messages expected
 * @return {Number} The time in milliseconds
 */
function run(Ctor, chunks, count) {
  //
  // ws unmasks in place: every run gets its own copy of the masked bytes.
  //
  const copies = chunks.map((chunk) => Buffer.from(chunk));
  const receiver = new Ctor({ isServer: true });
  let received = 0;

  receiver.on('message', () => received++);
  receiver.on('error', (err) => {
    throw err;
  });

  const start = process.hrtime.bigint();

  for (const chunk of copies) receiver.write(chunk);

  const ms = Number(process.hrtime.bigint() - start) / 1e6;

  if (received !== count) {
    throw new Error(`expected ${count} messages, got ${received}`);
  }

  return ms;
}

/**
 * Runs the benchmark and prints one line per case.
 */
function main() {
  console.log(
    'case                    ws-rs (ms)  ws (ms)   ws-rs MB/s   ws MB/s   ws-rs/ws speed'
  );

  for (const { size, count } of CASES) {
    for (const binary of [false, true]) {
      const chunks = makeChunks(size, count, binary);
      let ours = Infinity;
      let theirs = Infinity;

      for (let i = 0; i < ROUNDS; i++) {
        theirs = Math.min(theirs, run(WsReceiver, chunks, count));
        ours = Math.min(ours, run(Receiver, chunks, count));
      }

      const mb = (size * count) / 1e6;
      const label = `${count} x ${size} B ${binary ? 'binary' : 'text'}`;

      console.log(
        `${label.padEnd(24)}${ours.toFixed(1).padStart(10)}` +
          `${theirs.toFixed(1).padStart(9)}` +
          `${(mb / (ours / 1000)).toFixed(0).padStart(13)}` +
          `${(mb / (theirs / 1000)).toFixed(0).padStart(10)}` +
          `${(theirs / ours).toFixed(2).padStart(12)}x`
      );
    }
  }
}

main();

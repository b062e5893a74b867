'use strict';

//
// Microbenchmarks of the per-frame byte work: masking (copying into an output buffer,
// as ws's Sender does), unmasking in place (as its Receiver does) and UTF-8
// validation, at 16 B, 1 KiB, 64 KiB, 1 MiB and 16 MiB. ws-rs's native functions run in
// the same process as their incumbents: the C `bufferutil` and `utf-8-validate`, Node's
// own `buffer.isUtf8` (simdutf), ws's JS fallback loops, and a memcpy baseline
// (`Buffer#copy`) that bounds what any masking can reach.
//
// The implementations of a case run in alternating batches for a fixed time and each
// reports its median batch, so the whole run stays under a minute. Usage: node bench/mask-utf8.bench.js [budget ms per case]
//

const os = require('os');
const path = require('path');
const { isUtf8 } = require('buffer');

const root = path.join(__dirname, '..');
const native = require('../lib/native');
const cBufferUtil = require(path.join(root, 'node_modules', 'bufferutil'));
const cIsValidUTF8 = require(path.join(root, 'node_modules', 'utf-8-validate'));

const BUDGET_MS = Number(process.argv[2]) || 120;
const SIZES = [16, 1024, 64 * 1024, 1024 * 1024, 16 * 1024 * 1024];

/**
 * ws's JS fallback for `mask` (lib/buffer-util.js).
 *
 * @param {Buffer} source The buffer to mask
 * @param {Buffer} mask The mask to use
 * @param {Buffer} output The buffer where to store the result
 * @param {Number} offset The offset at which to start writing
 * @param {Number} length The number of bytes to mask
 * @private
 */
function jsMask(source, mask, output, offset, length) {
  for (let i = 0; i < length; i++) {
    output[offset + i] = source[i] ^ mask[i & 3];
  }
}

/**
 * ws's JS fallback for `unmask` (lib/buffer-util.js).
 *
 * @param {Buffer} buffer The buffer to unmask
 * @param {Buffer} mask The mask to use
 * @private
 */
function jsUnmask(buffer, mask) {
  for (let i = 0; i < buffer.length; i++) {
    buffer[i] ^= mask[i & 3];
  }
}

/**
 * Formats a byte count.
 *
 * @param {Number} size The byte count
 * @return {String}
 * @private
 */
function formatSize(size) {
  if (size >= 1024 * 1024) return `${size / (1024 * 1024)} MiB`;
  if (size >= 1024) return `${size / 1024} KiB`;
  return `${size} B`;
}

/**
 * Formats an operation rate.
 *
 * @param {Number} rate Operations per second
 * @return {String}
 * @private
 */
function formatRate(rate) {
  if (rate >= 1e6) return `${(rate / 1e6).toFixed(2)}M`;
  if (rate >= 1e3) return `${(rate / 1e3).toFixed(1)}k`;
  return rate.toFixed(1);
}

/**
 * Finds how many calls of `fn` take about 5 ms (after warming it up).
 *
 * @param {Function} fn The operation
 * @return {Number} The batch size
 * @private
 */
function calibrate(fn) {
  let iterations = 1;

  for (;;) {
    const start = process.hrtime.bigint();

    for (let i = 0; i < iterations; i++) fn();

    const ns = Number(process.hrtime.bigint() - start);

    if (ns >= 5e6 || iterations >= 1 << 24) return iterations;
    iterations *= ns < 5e5 ? 8 : 2;
  }
}

/**
 * Runs one timed batch of `fn`.
 *
 * @param {Function} fn The operation
 * @param {Number} iterations The batch size
 * @return {Number} Operations per second
 * @private
 */
function batch(fn, iterations) {
  const start = process.hrtime.bigint();

  for (let i = 0; i < iterations; i++) fn();

  return iterations / (Number(process.hrtime.bigint() - start) / 1e9);
}

/**
 * Measures competing implementations of one operation. Batches of each run in
 * turn (A B C A B C ...) for about `BUDGET_MS` per implementation, so that load
 * from other processes hits all of them alike; each gets its median batch rate.
 *
 * @param {Function[]} fns The implementations
 * @return {Number[]} Operations per second, in the same order
 * @private
 */
function measure(fns) {
  const sizes = fns.map(calibrate);
  const rates = fns.map(() => []);
  const deadline = Date.now() + BUDGET_MS * fns.length;

  do {
    for (let i = 0; i < fns.length; i++) {
      rates[i].push(batch(fns[i], sizes[i]));
    }
  } while (Date.now() < deadline || rates[0].length < 3);

  return rates.map((list) => {
    list.sort((a, b) => a - b);
    return list[list.length >> 1];
  });
}

/**
 * Prints one table: a row per implementation and size, with the ratio to ws-rs.
 *
 * @param {String} title The table title
 * @param {Object[]} rows `{ size, name, rate }`
 * @private
 */
function printTable(title, rows) {
  console.log(`\n${title}`);
  console.log(
    `${'size'.padEnd(8)} ${'implementation'.padEnd(22)} ${'ops/s'.padStart(9)} ` +
      `${'GB/s'.padStart(7)} ${'vs ws-rs'.padStart(9)}`
  );

  for (const { size, name, rate, reference } of rows) {
    const gbps = (rate * size) / 1e9;

    console.log(
      `${formatSize(size).padEnd(8)} ${name.padEnd(22)} ` +
        `${formatRate(rate).padStart(9)} ${gbps.toFixed(2).padStart(7)} ` +
        `${(rate / reference).toFixed(2).padStart(8)}x`
    );
  }
}

/**
 * Runs every implementation of one operation at every size.
 *
 * @param {String} title The table title
 * @param {Function} setup `(size) => ({ [name]: fn })`, ws-rs first
 * @private
 */
function runCase(title, setup) {
  const rows = [];

  for (const size of SIZES) {
    const cases = Object.entries(setup(size));
    const rates = measure(cases.map(([, fn]) => fn));

    for (let i = 0; i < cases.length; i++) {
      rows.push({
        size,
        name: cases[i][0],
        rate: rates[i],
        reference: rates[0]
      });
    }
  }

  printTable(title, rows);
}

/**
 * Valid UTF-8 of exactly `size` bytes: ASCII, or text with 2-, 3- and 4-byte
 * characters.
 *
 * @param {Number} size The byte count
 * @param {Boolean} ascii Whether to use ASCII only
 * @return {Buffer}
 * @private
 */
function utf8Text(size, ascii) {
  const unit = Buffer.from(
    ascii
      ? '{"type":"message","text":"hello world","id":1234567890} '
      : 'κόσμε ascii € text 𐍈 more ascii text, '
  );
  const buf = Buffer.alloc(size, 0x20);

  for (let at = 0; at + unit.length <= size; at += unit.length) {
    unit.copy(buf, at);
  }

  return buf;
}

function main() {
  const started = Date.now();
  const key = Buffer.from([0x6d, 0xb6, 0xb2, 0x80]);

  console.log(
    `mask/unmask/isValidUTF8: Node ${process.version}, ${os.cpus()[0].model}, ` +
      `ws-rs ${require('../package.json').version}, ` +
      `bufferutil ${require(path.join(root, 'node_modules/bufferutil/package.json')).version}, ` +
      `utf-8-validate ${require(path.join(root, 'node_modules/utf-8-validate/package.json')).version}; ` +
      `median of ${BUDGET_MS} ms per case`
  );

  runCase('mask(source, mask, output, 0, length): copy and mask', (size) => {
    const source = Buffer.alloc(size, 0x61);
    const output = Buffer.alloc(size);

    return {
      'ws-rs': () => native.mask(source, key, output, 0, size),
      'bufferutil (C)': () => cBufferUtil.mask(source, key, output, 0, size),
      'ws JS loop': () => jsMask(source, key, output, 0, size),
      'memcpy (Buffer#copy)': () => source.copy(output)
    };
  });

  runCase('unmask(buffer, mask): in place', (size) => {
    const buffer = Buffer.alloc(size, 0x61);

    return {
      'ws-rs': () => native.unmask(buffer, key),
      'bufferutil (C)': () => cBufferUtil.unmask(buffer, key),
      'ws JS loop': () => jsUnmask(buffer, key)
    };
  });

  for (const ascii of [true, false]) {
    runCase(
      `isValidUTF8(buf): valid ${ascii ? 'ASCII (JSON)' : 'mixed 1-4 byte text'}`,
      (size) => {
        const buf = utf8Text(size, ascii);

        return {
          'ws-rs': () => native.isValidUTF8(buf),
          'utf-8-validate (C)': () => cIsValidUTF8(buf),
          'buffer.isUtf8 (Node)': () => isUtf8(buf)
        };
      }
    );
  }

  console.log(`\ndone in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main();

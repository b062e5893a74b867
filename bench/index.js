'use strict';

//
// Runs every `bench/*.bench.js` in its own Node process, one after the other (a fresh
// process per file keeps one benchmark's JIT state and heap out of the next), and
// exits non-zero if any of them fails.
//
// Usage: npm run bench [-- <name filter>]
//   e.g. `npm run bench -- mask` runs only the files whose name contains "mask".
//

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

function main() {
  const filter = process.argv[2] || '';
  const files = fs
    .readdirSync(__dirname)
    .filter((name) => name.endsWith('.bench.js') && name.includes(filter))
    .sort();

  console.log(
    `ws-rs benchmarks: Node ${process.version}, ${os.platform()} ${os.arch()}, ` +
      `${os.cpus().length} x ${os.cpus()[0].model}`
  );

  let failed = 0;

  for (const name of files) {
    console.log(`\n=== ${name}`);

    const started = Date.now();
    const result = spawnSync(process.execPath, [path.join(__dirname, name)], {
      stdio: 'inherit'
    });
    const seconds = ((Date.now() - started) / 1000).toFixed(1);

    if (result.status !== 0) {
      failed++;
      console.log(`=== ${name} failed (${result.status ?? result.signal})`);
    } else {
      console.log(`=== ${name}: ${seconds} s`);
    }
  }

  if (files.length === 0)
    console.log(`no bench/*.bench.js matches "${filter}"`);
  process.exitCode = failed ? 1 : 0;
}

main();

'use strict';

//
// Runs the mocha suite of a ws checkout against ws-rs without editing a test: the checkout's
// `test/` is copied into a temporary folder beside a ws-shaped view of this package
// (`index.js`, `package.json` and `lib/*.js` that re-export ws-rs), then mocha runs there.
//
// Usage: npm run test:ws-suite -- <path to a ws checkout> [extra mocha arguments]
//

const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');

/**
 * Writes a module that re-exports `target`.
 *
 * @param {String} file The module to write
 * @param {String} target The absolute path of the module to re-export
 * @private
 */
function writeReexport(file, target) {
  fs.writeFileSync(
    file,
    `'use strict';\n\nmodule.exports = require(${JSON.stringify(target)});\n`
  );
}

/**
 * Builds the ws-shaped view and returns its folder.
 *
 * @param {String} checkout The ws checkout
 * @return {String} The folder holding `index.js`, `lib/` and `test/`
 * @private
 */
function layOut(checkout) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ws-suite-'));
  fs.cpSync(path.join(checkout, 'test'), path.join(dir, 'test'), {
    recursive: true
  });
  writeReexport(path.join(dir, 'index.js'), path.join(root, 'index.js'));
  fs.copyFileSync(
    path.join(checkout, 'package.json'),
    path.join(dir, 'package.json')
  );
  fs.mkdirSync(path.join(dir, 'lib'));
  for (const name of fs.readdirSync(path.join(checkout, 'lib'))) {
    if (!name.endsWith('.js')) continue;
    const ours = path.join(root, 'lib', name);
    if (!fs.existsSync(ours)) {
      console.warn(`ws-suite: ws has lib/${name}, ws-rs does not`);
      continue;
    }
    writeReexport(path.join(dir, 'lib', name), ours);
  }
  return dir;
}

function main() {
  const [checkout, ...mochaArgs] = process.argv.slice(2);
  if (!checkout || !fs.existsSync(path.join(checkout, 'test'))) {
    console.error('usage: npm run test:ws-suite -- <ws checkout> [mocha args]');
    process.exit(2);
  }
  const dir = layOut(path.resolve(checkout));
  const files = fs
    .readdirSync(path.join(dir, 'test'))
    .filter((name) => name.endsWith('.test.js'))
    .map((name) => path.join('test', name));
  const mocha = require.resolve('mocha/bin/mocha.js', { paths: [root] });
  const args = [
    mocha,
    '--throw-deprecation',
    '--no-config',
    ...(mochaArgs.length ? mochaArgs : files)
  ];
  const result = spawnSync(process.execPath, args, {
    cwd: dir,
    stdio: 'inherit'
  });
  fs.rmSync(dir, { recursive: true, force: true });
  process.exit(result.status === null ? 1 : result.status);
}

main();

'use strict';

const path = require('path');
const { execFileSync } = require('child_process');

/**
 * Runs `code` in a child Node process, in the repository root, with `env`
 * added, and returns its stdout.
 *
 * @param {String} code The script
 * @param {Object} env Extra environment variables
 * @return {String} The trimmed stdout
 * @public
 */
function runChild(code, env) {
  return execFileSync(process.execPath, ['-e', code], {
    cwd: path.join(__dirname, '..', '..'),
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 10000
  }).trim();
}

module.exports = { runChild };

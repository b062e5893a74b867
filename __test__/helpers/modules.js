'use strict';

//
// The two implementations the interop tests pair up: the module under test (ws-rs, this
// package) and the reference (npm `ws`, installed as a dev dependency).
//
// `WS_RS_UNDER_TEST=<module path or name>` replaces the module under test, e.g.
// `WS_RS_UNDER_TEST=ws npx mocha __test__/interop.test.js` runs every test with npm ws on
// both sides, which is how the expectations of these tests are checked against ws itself.
//

const path = require('path');

const root = path.resolve(__dirname, '..', '..');
const underTestPath = process.env.WS_RS_UNDER_TEST
  ? resolveModule(process.env.WS_RS_UNDER_TEST)
  : root;

/**
 * Resolves a module given on the command line: paths are taken from the working
 * directory, bare names from this package.
 *
 * @param {String} name A path or a package name
 * @return {String} The path to pass to `require()`
 * @private
 */
function resolveModule(name) {
  if (name.startsWith('.') || path.isAbsolute(name)) return path.resolve(name);
  return require.resolve(name, { paths: [root] });
}

/**
 * Loads the module under test. It is loaded on demand (from a `before()` hook), so that a
 * module that does not load yet fails these suites and not the whole mocha run.
 *
 * @return {Function} The `WebSocket` class exported by the module under test
 * @public
 */
function loadUnderTest() {
  return require(underTestPath);
}

/**
 * Loads npm `ws`, the reference implementation.
 *
 * @return {Function} npm ws's `WebSocket` class
 * @public
 */
function loadReference() {
  return require(require.resolve('ws', { paths: [root] }));
}

module.exports = {
  loadReference,
  loadUnderTest,
  underTestName: process.env.WS_RS_UNDER_TEST
    ? `${process.env.WS_RS_UNDER_TEST} (WS_RS_UNDER_TEST)`
    : 'ws-rs',
  underTestPath
};
